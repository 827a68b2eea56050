"""Build, cache and load the OpenVINO extension library of the ``MMBinaryConv`` op.

The library (``CMakeLists.txt`` and ``mmb_ov_op.cpp`` in this folder) compiles the native 1-bit
kernel core (``mmbinary/ops/csrc``: ``mmb_bconv.h`` and its sources) with the OpenVINO
development files that the ``openvino`` wheel ships (``openvino/cmake``, ``openvino/include``).
It is built on first use with CMake + Ninja into a cache folder keyed by a hash of every source,
the OpenVINO version and the compiler, so a change of any of them rebuilds it; the build runs in
a temporary folder and the library is moved into place atomically.

Cache folder: :func:`cache_root` ``/<hash>/`` (``mmbinary/ops/_build/openvino_ext`` unless
``MMBINARY_OPS_BUILD_DIR`` is set). ``MMBINARY_BCONV_CSRC`` points the build at another kernel
core folder.

The op picks its instruction set once per process (``mmb_select_isa``): the best one the CPU
has, or the one forced by ``MMBINARY_BCONV_ISA``; with ``auto`` on an AMX CPU each node then
times ``avx512`` against ``amx`` on its first calls and keeps the faster (:func:`kernel_isa`).
Threads: the kernel runs as tasks of the inference's own TBB arena (``INFERENCE_NUM_THREADS``;
OpenVINO's TBB is found beside its CMake config), so it does not compete with OpenVINO's
threads; ``MMBINARY_BCONV_THREADS`` or :func:`set_threads` caps them for the process (without
TBB they are the kernel's own pool, default 1).

Example:
    >>> from mmbinary.ops import openvino_ext  # doctest: +SKIP
    >>> core = openvino.Core()  # doctest: +SKIP
    >>> openvino_ext.add_to(core)  # doctest: +SKIP
    >>> openvino_ext.kernel_isa()  # doctest: +SKIP
    'avx512'
"""

import ctypes
import hashlib
import os
import os.path as osp
import shutil
import subprocess
import tempfile
from typing import Dict, List, Optional, Tuple

from ..bconv import ABI_VERSION

OP_TYPE, OP_VERSION = 'MMBinaryConv', 'mmbinary'
LIBRARY = 'libmmbinary_openvino_ext.so'
HERE = osp.dirname(osp.abspath(__file__))
_OWN_SOURCES = ('CMakeLists.txt', 'mmb_ov_op.cpp')
_CORE_SUFFIXES = ('.h', '.hpp', '.c', '.cc', '.cpp', '.inc', '.txt')
_loaded: Dict[str, str] = {}  # core folder -> library path, per process


class NativeKernelUnavailable(RuntimeError):
    """The extension library cannot be built or loaded here; the message says why."""


def core_dir() -> str:
    """The kernel core sources: ``$MMBINARY_BCONV_CSRC`` or ``mmbinary/ops/csrc``."""
    return osp.abspath(os.environ.get('MMBINARY_BCONV_CSRC') or osp.join(HERE, '..', 'csrc'))


def cache_root() -> str:
    """The build cache: ``$MMBINARY_OPS_BUILD_DIR/openvino_ext``.

    Default ``mmbinary/ops/_build/openvino_ext`` (gitignored; the kernel core's own builds sit
    beside it), or ``~/.cache/mmbinary/openvino_ext`` where the package folder is read-only.
    """
    base = os.environ.get('MMBINARY_OPS_BUILD_DIR')
    if not base:
        base = osp.join(HERE, '..', '_build')
        probe = base if osp.isdir(base) else osp.dirname(base)
        if not os.access(probe, os.W_OK):
            base = osp.join(osp.expanduser('~'), '.cache', 'mmbinary')
    return osp.abspath(osp.join(base, 'openvino_ext'))


def _openvino_cmake_dir() -> str:
    try:
        import openvino
    except ImportError as e:
        raise NativeKernelUnavailable(
            'the native binary kernel needs the openvino package: pip install openvino'
        ) from e
    path = osp.join(osp.dirname(openvino.__file__), 'cmake')
    if not osp.isfile(osp.join(path, 'OpenVINOConfig.cmake')):
        raise NativeKernelUnavailable(
            f'the openvino package has no development files ({path}/OpenVINOConfig.cmake is '
            'missing); install the openvino wheel from PyPI, which ships them'
        )
    return path


def _source_files(csrc: str) -> List[str]:
    if not osp.isfile(osp.join(csrc, 'mmb_bconv.h')):
        raise NativeKernelUnavailable(
            f'the native kernel core is missing: {csrc} has no mmb_bconv.h '
            '(set MMBINARY_BCONV_CSRC to the folder of the kernel sources)'
        )
    core = sorted(osp.join(csrc, f) for f in os.listdir(csrc) if f.endswith(_CORE_SUFFIXES))
    return [osp.join(HERE, f) for f in _OWN_SOURCES] + core


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise NativeKernelUnavailable(
            f'building the native binary kernel needs {name!r} on PATH (g++ / cmake / ninja; '
            'on Debian / Ubuntu: apt-get install g++ cmake ninja-build)'
        )
    return path


def source_hash(csrc: Optional[str] = None) -> str:
    """Hash of the sources, the OpenVINO version and the compiler: the cache key."""
    import openvino

    csrc = csrc or core_dir()
    h = hashlib.sha256()
    for path in _source_files(csrc):
        h.update(osp.basename(path).encode() + b'\0')
        with open(path, 'rb') as f:
            h.update(f.read() + b'\0')
    h.update(openvino.__version__.encode())
    cxx = os.environ.get('CXX') or _tool('c++')
    h.update(subprocess.run([cxx, '--version'], capture_output=True).stdout)
    return h.hexdigest()[:16]


def build(csrc: Optional[str] = None, force: bool = False, log=None) -> str:
    """The path of the extension library, built into the cache if it is not there yet.

    Args:
        csrc (str, optional): the kernel core folder (default :func:`core_dir`).
        force (bool): rebuild even if the cached library exists.
        log (callable, optional): progress messages.

    Raises:
        NativeKernelUnavailable: no compiler / CMake / Ninja, no OpenVINO development files, no
            kernel core, or the build failed (its log tail is in the message).
    """
    csrc = osp.abspath(csrc or core_dir())
    ov_cmake = _openvino_cmake_dir()
    cmake, ninja = _tool('cmake'), _tool('ninja')
    key = source_hash(csrc)
    target_dir = osp.join(cache_root(), key)
    target = osp.join(target_dir, LIBRARY)
    if osp.isfile(target) and not force:
        return target
    os.makedirs(target_dir, exist_ok=True)
    if log:
        log(f'building the MMBinaryConv OpenVINO extension into {target_dir} ...')
    work = tempfile.mkdtemp(prefix='.build.', dir=target_dir)
    try:
        steps = [
            [
                cmake,
                '-S',
                HERE,
                '-B',
                work,
                '-G',
                'Ninja',
                f'-DCMAKE_MAKE_PROGRAM={ninja}',
                '-DCMAKE_BUILD_TYPE=Release',
                f'-DMMB_CSRC_DIR={csrc}',
                f'-DOpenVINO_DIR={ov_cmake}',
            ],
            [cmake, '--build', work],
        ]
        for cmd in steps:
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode != 0:
                tail = '\n'.join((done.stdout + done.stderr).strip().splitlines()[-25:])
                raise NativeKernelUnavailable(
                    f'building the MMBinaryConv OpenVINO extension failed ({" ".join(cmd[:2])} '
                    f'exited {done.returncode}):\n{tail}'
                )
        staged = osp.join(target_dir, f'.{LIBRARY}.{os.getpid()}')
        shutil.copy2(osp.join(work, LIBRARY), staged)
        os.replace(staged, target)  # atomic: a concurrent reader sees the old or the new file
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def library_path(log=None) -> str:
    """The extension library of this process (built once, then cached)."""
    csrc = core_dir()
    if csrc not in _loaded:
        path = build(csrc, log=log)
        _check_library(path)
        _loaded[csrc] = path
    return _loaded[csrc]


def _check_library(path: str):
    lib = ctypes.CDLL(path)
    lib.mmbinary_ov_ext_abi_version.restype = ctypes.c_int
    version = lib.mmbinary_ov_ext_abi_version()
    if version != ABI_VERSION:
        raise NativeKernelUnavailable(
            f'{path}: kernel ABI version {version}, this loader supports version {ABI_VERSION}'
        )


def kernel_isa() -> str:
    """The instruction set the op runs (``'avx512'``, ``'avx2'``, ``'portable'``, ...).

    ``'avx512+amx'``: ``MMBINARY_BCONV_ISA`` is ``auto`` (or unset) on a CPU with AMX, so each
    node times the ``avx512`` and ``amx`` paths on its first calls and keeps the faster one (the
    same results bit for bit; :func:`timed_counts`). ``MMBINARY_BCONV_TIMED=0`` turns that off
    (``'avx512'`` everywhere), and a forced path runs everywhere.

    Raises:
        NativeKernelUnavailable: the ISA forced by ``MMBINARY_BCONV_ISA`` is not valid or not on
            this CPU (the message names it and what the CPU has).
    """
    lib = ctypes.CDLL(library_path())
    lib.mmbinary_ov_ext_isa.restype = ctypes.c_char_p
    lib.mmbinary_ov_ext_isa.argtypes = [ctypes.POINTER(ctypes.c_int)]
    ok = ctypes.c_int(0)
    text = lib.mmbinary_ov_ext_isa(ctypes.byref(ok)).decode()
    if not ok.value:
        raise NativeKernelUnavailable(text)
    return text


def timed_counts() -> Tuple[int, int]:
    """The timed choices made so far in this process (:func:`kernel_isa`): ``(nodes that kept
    the base path, nodes that took the timed one)``; a node settles after 10 calls."""
    lib = ctypes.CDLL(library_path())
    counts = (ctypes.c_int * 2)()
    lib.mmbinary_ov_ext_timed_counts(counts)
    return counts[0], counts[1]


def set_threads(threads: int):
    """Cap the kernel threads of every ``MMBinaryConv`` of this process (default
    ``$MMBINARY_BCONV_THREADS``, else no cap: the inference's threads; 0 removes the cap)."""
    lib = ctypes.CDLL(library_path())
    lib.mmbinary_ov_ext_set_threads.argtypes = [ctypes.c_int]
    lib.mmbinary_ov_ext_set_threads(int(threads))


def available(log=None):
    """``(True, '')`` if the extension builds and loads here, else ``(False, reason)``."""
    try:
        library_path(log=log)
    except (NativeKernelUnavailable, OSError) as e:
        return False, str(e)
    return True, ''


def add_to(core) -> str:
    """Load the extension into an ``openvino.Core`` (builds it on first use); returns its path."""
    path = library_path()
    core.add_extension(path)
    return path


def node_factory():
    """An ``openvino`` ``NodeFactory`` that creates ``MMBinaryConv`` nodes."""
    from openvino.utils.node_factory import NodeFactory

    factory = NodeFactory()
    factory.add_extension(library_path())
    return factory
