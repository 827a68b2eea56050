"""The build cache of the native library: built once, rebuilt only when a source changes, and
a clear reason (not an import error) where no compiler exists."""

import ctypes
import os
import os.path as osp
import shutil
import subprocess
import sys

import pytest

from mmbinary.ops import build
from mmbinary.ops.bconv import ABI_VERSION

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def test_cache_reuses_and_rebuilds_on_source_change(tmp_path, monkeypatch, capsys):
    csrc = str(tmp_path / 'csrc')
    shutil.copytree(build.CSRC, csrc)
    monkeypatch.setenv('MMBINARY_OPS_BUILD_DIR', str(tmp_path / 'cache'))
    first = build.build(csrc)
    assert 'building the native 1-bit conv library' in capsys.readouterr().err
    assert first.startswith(str(tmp_path / 'cache')) and osp.isfile(first)
    assert ctypes.CDLL(first).mmb_abi_version() == ABI_VERSION
    stamp = os.stat(first).st_mtime_ns
    assert build.build(csrc) == first  # cached: no rebuild, no message
    assert os.stat(first).st_mtime_ns == stamp and capsys.readouterr().err == ''
    assert os.listdir(osp.dirname(first)) == [build.LIB_NAME]  # no temporary left behind
    with open(osp.join(csrc, 'mmb_bconv.cpp'), 'a') as f:
        f.write('\n// changed\n')
    second = build.build(csrc)
    assert second != first and osp.isfile(second)
    assert 'building' in capsys.readouterr().err
    assert osp.isfile(first)  # the old library stays (a running process may have it loaded)


def test_failed_build_reports_the_compiler_output(tmp_path, monkeypatch):
    csrc = str(tmp_path / 'csrc')
    shutil.copytree(build.CSRC, csrc)
    monkeypatch.setenv('MMBINARY_OPS_BUILD_DIR', str(tmp_path / 'cache'))
    with open(osp.join(csrc, 'mmb_bconv.cpp'), 'a') as f:
        f.write('\nthis is not C++;\n')
    with pytest.raises(build.BuildError, match='the build failed.*mmb_bconv.cpp'):
        build.build(csrc, quiet=True)
    assert not any(osp.isfile(osp.join(r, build.LIB_NAME)) for r, _, _ in os.walk(tmp_path))


def test_no_compiler_package_still_imports(tmp_path):
    env = dict(
        os.environ,
        PATH=str(tmp_path),  # no g++ / c++ on it
        CXX='',
        MMBINARY_OPS_BUILD_DIR=str(tmp_path / 'cache'),
        PYTHONPATH=ROOT,
    )
    code = 'import mmbinary.ops as o; print(o.native_available(), o.native_unavailable_reason())'
    out = subprocess.run([sys.executable, '-c', code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith('False mmbinary native 1-bit conv: no C++ compiler found')


def test_build_root_falls_back_to_the_user_cache(monkeypatch, tmp_path):
    monkeypatch.delenv('MMBINARY_OPS_BUILD_DIR', raising=False)
    assert build.build_root() == osp.join(osp.dirname(build.CSRC), '_build')  # a clone: writable
    monkeypatch.setattr(os, 'access', lambda path, mode: False)  # a read-only site-packages
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path))
    assert build.build_root() == str(tmp_path / 'mmbinary' / 'ops')
