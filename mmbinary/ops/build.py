"""Build (and cache) the native 1-bit convolution library from ``mmbinary/ops/csrc``.

The library is compiled with the C++ compiler (``$CXX``, else ``g++``, else ``c++``) into a
folder keyed by a hash of the sources, the compiler's version and the flags::

    mmbinary/ops/_build/<hash>/libmmb_bconv.so     (gitignored; MMBINARY_OPS_BUILD_DIR overrides)

It is built on first use (one line on stderr) or by ``python -m mmbinary.ops.build`` (what
``tools/setup_env.sh`` runs), rebuilt only when that hash changes, and written atomically (a
temporary file renamed into place), so two processes never load a half-written library. The
AVX2, AVX-512 and AMX paths are separate translation units with their own ``-m`` flags, chosen at
run time by CPUID, so the library loads on any x86-64; elsewhere only the portable path is
built.
"""

import hashlib
import os
import os.path as osp
import platform
import shutil
import subprocess
import sys
import tempfile
from typing import Dict, List, Optional

CSRC = osp.join(osp.dirname(osp.abspath(__file__)), 'csrc')
LIB_NAME = 'libmmb_bconv.so'
HEADERS = (
    'mmb_bconv.h',
    'mmb_bconv_internal.h',
    'mmb_bconv_avx512_shared.h',
    'mmb_bconv_epilogue_nhwc.h',
)
BASE_FLAGS = ['-O3', '-std=c++17', '-fPIC', '-ffp-contract=off', '-fvisibility=hidden']
AVX512_FLAGS = [
    '-mavx512f',
    '-mavx512dq',
    '-mavx512bw',
    '-mavx512vl',
    '-mavx512vpopcntdq',
    '-mavx2',
    '-mpopcnt',
]
X86_SOURCES = {
    'mmb_bconv.cpp': [],
    'mmb_bconv_avx2.cpp': ['-mavx2', '-mpopcnt'],
    'mmb_bconv_avx512.cpp': AVX512_FLAGS,
    # AMX intrinsics: g++ >= 11 / clang >= 12
    'mmb_bconv_amx.cpp': [*AVX512_FLAGS, '-mamx-tile', '-mamx-int8'],
}


class BuildError(RuntimeError):
    """The native library cannot be built here (no compiler, or the compiler failed)."""


def is_x86() -> bool:
    return platform.machine().lower() in ('x86_64', 'amd64', 'i386', 'i686')


def extra_flags() -> List[str]:
    """``$MMBINARY_OPS_CXXFLAGS`` (e.g. ``-fsanitize=address -g`` to debug), part of the hash."""
    return os.environ.get('MMBINARY_OPS_CXXFLAGS', '').split()


def sources() -> Dict[str, List[str]]:
    """``{source file: its extra flags}`` for this machine (x86: portable + AVX2 + AVX-512;
    AArch64: portable + NEON; elsewhere the portable file only)."""
    if is_x86():
        return dict(X86_SOURCES)
    if platform.machine().lower() in ('aarch64', 'arm64'):
        return {'mmb_bconv.cpp': [], 'mmb_bconv_neon.cpp': []}  # NEON is baseline on AArch64
    return {'mmb_bconv.cpp': []}


def find_compiler() -> Optional[str]:
    for name in (os.environ.get('CXX'), 'g++', 'c++'):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def compiler_version(cxx: str) -> str:
    try:
        out = subprocess.run([cxx, '--version'], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as e:
        raise BuildError(f'cannot run the C++ compiler {cxx}: {e}') from e
    return out.stdout.strip()


def build_root() -> str:
    """``$MMBINARY_OPS_BUILD_DIR``, else ``mmbinary/ops/_build`` if the package folder is
    writable (a clone, an editable install), else ``$XDG_CACHE_HOME/mmbinary/ops`` (default
    ``~/.cache``: a read-only site-packages)."""
    if os.environ.get('MMBINARY_OPS_BUILD_DIR'):
        return os.environ['MMBINARY_OPS_BUILD_DIR']
    package = osp.dirname(CSRC)
    if os.access(package, os.W_OK):
        return osp.join(package, '_build')
    cache = os.environ.get('XDG_CACHE_HOME') or osp.join(osp.expanduser('~'), '.cache')
    return osp.join(cache, 'mmbinary', 'ops')


def source_hash(cxx: str, csrc: str = CSRC) -> str:
    """Hash of every source and header, the compiler's version and the flags."""
    h = hashlib.sha256()
    for name in sorted(sources()) + sorted(HEADERS):
        with open(osp.join(csrc, name), 'rb') as f:
            h.update(name.encode() + b'\0' + f.read() + b'\0')
    h.update(compiler_version(cxx).encode())
    h.update(repr((BASE_FLAGS, extra_flags(), sources())).encode())
    return h.hexdigest()[:16]


def library_path(csrc: str = CSRC) -> str:
    """Where the library of the current sources lives (built or not)."""
    cxx = find_compiler()
    if cxx is None:
        raise BuildError(_no_compiler())
    return osp.join(build_root(), source_hash(cxx, csrc), LIB_NAME)


def _no_compiler() -> str:
    return (
        'mmbinary native 1-bit conv: no C++ compiler found ($CXX, g++ or c++); install g++ '
        '(e.g. apt-get install g++) and run python -m mmbinary.ops.build'
    )


def build(csrc: str = CSRC, force: bool = False, quiet: bool = False) -> str:
    """Build the library if the cached one is missing or stale; return its path.

    Args:
        csrc: the source folder (tests point it at a temporary copy).
        force: rebuild even if the cached library exists.
        quiet: no progress line.

    Raises:
        BuildError: no compiler, or the compiler failed (its output in the message).
    """
    cxx = find_compiler()
    if cxx is None:
        raise BuildError(_no_compiler())
    key = source_hash(cxx, csrc)
    out_dir = osp.join(build_root(), key)
    target = osp.join(out_dir, LIB_NAME)
    if osp.isfile(target) and not force:
        return target
    if not quiet:
        print(f'[mmbinary.ops] building the native 1-bit conv library ({key}) ...', file=sys.stderr)
    os.makedirs(out_dir, exist_ok=True)
    work = tempfile.mkdtemp(prefix='.build.', dir=out_dir)
    try:
        objects = []
        for name, extra in sources().items():
            obj = osp.join(work, name.replace('.cpp', '.o'))
            _run([cxx, *BASE_FLAGS, *extra_flags(), *extra, '-c', osp.join(csrc, name), '-o', obj])
            objects.append(obj)
        tmp_lib = osp.join(work, LIB_NAME)
        _run([cxx, '-shared', *extra_flags(), *objects, '-o', tmp_lib, '-pthread'])
        os.replace(tmp_lib, target)  # atomic: a reader sees the old file or the whole new one
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def _run(cmd: List[str]):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.SubprocessError) as e:
        raise BuildError(f'mmbinary native 1-bit conv: cannot run {cmd[0]}: {e}') from e
    if out.returncode != 0:
        raise BuildError(
            f'mmbinary native 1-bit conv: the build failed ({" ".join(cmd)}):\n'
            f'{out.stderr.strip()[-4000:]}'
        )


def main(argv=None):
    import argparse

    parser = argparse.ArgumentParser(description='Build the native 1-bit conv library.')
    parser.add_argument('--force', action='store_true', help='rebuild even if cached')
    args = parser.parse_args(argv)
    try:
        path = build(force=args.force)
    except BuildError as e:
        print(e, file=sys.stderr)
        return 1
    from . import bconv

    print(f'{path}: ISA paths on this CPU: {", ".join(bconv.supported_isas())}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
