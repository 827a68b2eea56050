"""The kernel core cross-compiled for AArch64 and run under qemu-aarch64: the portable and NEON
paths exact against the naive loop of tests/test_ops/bconv_fuzz.cpp (random shapes, NCHW and
NHWC, sub-pixel transposed convs, AdaBin terms, sign output, threads, prepared weights).

Needs Debian's ``crossbuild-essential-arm64`` and ``qemu-user`` (``.ci/run`` installs them). On
an AArch64 machine the same fuzz runs natively in test_sanitized.py.
"""

import glob
import os.path as osp
import shutil
import subprocess

import pytest

from mmbinary.ops import build

HERE = osp.dirname(osp.abspath(__file__))
CXX, QEMU = 'aarch64-linux-gnu-g++', 'qemu-aarch64'

pytestmark = pytest.mark.skipif(
    not (shutil.which(CXX) and shutil.which(QEMU)),
    reason=f'{CXX} / {QEMU} not installed (apt-get install crossbuild-essential-arm64 qemu-user)',
)


def test_portable_and_neon_paths_are_exact_on_aarch64(tmp_path):
    exe = str(tmp_path / 'bconv_fuzz_aarch64')
    sources = sorted(glob.glob(osp.join(build.CSRC, '*.cpp')))  # the x86 files compile to nothing
    flags = ['-O2', '-std=c++17', '-ffp-contract=off', '-static', '-pthread', '-Wall', '-Werror']
    flags.append('-DMMB_POISON_GRID')  # input words the packing misses would count as garbage
    subprocess.run(
        [CXX, *flags, f'-I{build.CSRC}', osp.join(HERE, 'bconv_fuzz.cpp'), *sources, '-o', exe],
        check=True,
    )
    out = subprocess.run([QEMU, exe, '300'], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert 'mismatches 0' in out.stdout
    runs = dict(
        line[len('isa ') :].split(': ')
        for line in out.stdout.splitlines()
        if line.startswith('isa ')
    )
    # both AArch64 paths ran (NEON chosen by the dispatcher, portable as the reference path),
    # and no x86 path exists in that build
    assert sorted(runs) == ['neon', 'portable'], out.stdout
    assert runs['neon'] == runs['portable'] and int(runs['neon'].split()[0]) > 100
