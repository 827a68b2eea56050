"""ctypes binding of the native 1-bit convolution (``csrc/mmb_bconv.h``).

:func:`bconv2d` runs one binary layer on numpy arrays: the packed weights of format v1
(:mod:`mmbinary.deploy.packing`), the folded per-channel factors and the fused epilogue
(residual add, PReLU / RPReLU / Maxout, or the sign output of self-binarizing nets).
:class:`~mmbinary.ops.torch_ops.NativeBinaryConv` wraps a
:class:`~mmbinary.deploy.converter.DeployedBinaryConv` (conv, transposed conv or linear) and
keeps its weights prepared for the chosen ISA path.

ISA paths: ``'amx'`` (the ±1 products as int8 tiles), ``'avx512'`` (VPOPCNTDQ), ``'avx2'``,
``'neon'``, ``'portable'``, chosen by CPUID; the environment variable ``MMBINARY_BCONV_ISA``
(``auto|amx|avx512|avx2|neon|portable``) or the ``isa``
argument forces one, and a path the CPU lacks raises :class:`NativeKernelError` naming it and
what the CPU has.
"""

import ctypes
import os
import threading
from typing import Optional, Sequence, Tuple

import numpy as np

ISAS = ('portable', 'avx2', 'avx512', 'neon', 'amx')  # the enum of mmb_bconv.h, in order
ABI_VERSION = 2  # MMB_BCONV_ABI_VERSION of csrc/mmb_bconv.h


class NativeKernelError(RuntimeError):
    """The native kernel refused a call (bad shape, an ISA path the CPU lacks, ...)."""


_f = ctypes.POINTER(ctypes.c_float)


class Params(ctypes.Structure):
    """Mirror of ``mmb_bconv_params`` (same field order)."""

    _fields_ = [
        (name, ctypes.c_int)
        for name in [
            'n',
            'in_c',
            'in_h',
            'in_w',
            'out_c',
            'out_h',
            'out_w',
            'kh',
            'kw',
            'stride_h',
            'stride_w',
            'dil_h',
            'dil_w',
            'pad_top',
            'pad_left',
            'pad_bottom',
            'pad_right',
            'in_dil_h',
            'in_dil_w',
            'groups',
        ]
    ] + [
        ('threshold', ctypes.c_float),
        ('weight', ctypes.POINTER(ctypes.c_uint64)),
        ('scale', _f),
        ('bias', _f),
        ('window_scale', _f),
        ('mask_scale', _f),
        ('mask_window_scale', _f),
        ('residual', _f),
        ('prelu', _f),
        ('threads', ctypes.c_int),
        ('prepacked', ctypes.POINTER(ctypes.c_uint64)),
        ('pre_shift', _f),
        ('post_shift', _f),
        ('sign_threshold', ctypes.POINTER(ctypes.c_int32)),
        ('pos_slope', _f),
        ('nhwc', ctypes.c_int),
        ('run', ctypes.c_void_p),  # NULL here: the kernel's own pool
        ('run_ctx', ctypes.c_void_p),
        ('x_bits', ctypes.POINTER(ctypes.c_uint64)),
        ('y_bits', ctypes.POINTER(ctypes.c_uint64)),
        ('y_bits_threshold', ctypes.c_float),
        ('residual_upsample', ctypes.c_int),
    ]


_lock = threading.Lock()
_lib = None
_reason = None


def _load():
    global _lib, _reason
    from . import build as _build

    with _lock:
        if _lib is not None or _reason is not None:
            return _lib
        try:
            path = _build.build()
            lib = ctypes.CDLL(path)
        except (_build.BuildError, OSError) as e:
            _reason = str(e)
            return None
        lib.mmb_abi_version.restype = ctypes.c_int
        if lib.mmb_abi_version() != ABI_VERSION:
            _reason = (
                f'{path}: native library ABI version {lib.mmb_abi_version()}, this package '
                f'needs {ABI_VERSION}; rebuild with python -m mmbinary.ops.build --force'
            )
            return None
        lib.mmb_isa_name.restype = ctypes.c_char_p
        lib.mmb_cpu_supports.argtypes = [ctypes.c_int]
        lib.mmb_select_isa.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int]
        p = ctypes.POINTER(Params)
        lib.mmb_bconv2d_f32.argtypes = [
            p,
            ctypes.c_int,
            ctypes.c_void_p,
            ctypes.c_void_p,
            ctypes.c_char_p,
            ctypes.c_int,
        ]
        lib.mmb_bconv_prepack_words.argtypes = [p, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.mmb_bconv_prepack_words.restype = ctypes.c_longlong
        lib.mmb_bconv_prepack.argtypes = [
            p,
            ctypes.c_int,
            ctypes.POINTER(ctypes.c_uint64),
            ctypes.c_char_p,
            ctypes.c_int,
        ]
        _lib = lib
        return lib


def native_available() -> bool:
    """Whether the native library is built (or buildable now) and loads."""
    return _load() is not None


def native_unavailable_reason() -> Optional[str]:
    """``None`` if :func:`native_available`, else the one reason why not."""
    _load()
    return _reason


def library():
    lib = _load()
    if lib is None:
        raise NativeKernelError(_reason)
    return lib


def cpu_supports(isa: str) -> bool:
    """Whether this CPU runs the ISA path ``isa`` (CPUID, OS state, MMBINARY_BCONV_HIDE_ISA)."""
    if isa not in ISAS:
        raise ValueError(f'isa must be one of {list(ISAS)}, got {isa!r}')
    return bool(library().mmb_cpu_supports(ISAS.index(isa)))


def supported_isas() -> Tuple[str, ...]:
    """The ISA paths this CPU runs, newest first (``auto`` picks the first but ``'amx'``,
    which runs only when forced)."""
    return tuple(i for i in reversed(ISAS) if cpu_supports(i))


# The arithmetic limit of each x86 path on one core, in binary MACs per cycle, and its basis
# (the benchmarks print a layer's speed against it at the measured clock)
MAC_PER_CYCLE = {'amx': 1024, 'avx512': 512 * 2 / 3, 'avx2': 256 * 2 / 3}
LIMIT_BASIS = {
    'amx': 'one 16x16x64 int8 tile multiply (TDPBSSD) per 16 cycles',
    'avx512': 'one xor + popcount + add per 512 MACs (512-bit vectors), 2 vector ports',
    'avx2': 'one xor + popcount + add per 256 MACs (256-bit vectors), 2 vector ports',
}


def clock_hz() -> float:
    """This core's clock now, measured: a timed chain of dependent register adds (1 per cycle),
    the highest of 9 short probes after a warm-up (being descheduled only lowers a probe)."""
    lib = library()
    lib.mmb_clock_probe.restype = ctypes.c_double
    lib.mmb_clock_probe.argtypes = [ctypes.c_longlong]
    lib.mmb_clock_probe(10_000_000)  # warm-up (frequency ramp)
    return float(max(lib.mmb_clock_probe(5_000_000) for _ in range(9)))


_selected = {}


def select_isa(isa: Optional[str] = None) -> str:
    """The ISA path to run: ``isa`` if given, else ``$MMBINARY_BCONV_ISA``, else the best one.

    Raises:
        NativeKernelError: the requested path is unknown or the CPU lacks it.
    """
    key = (isa, os.environ.get('MMBINARY_BCONV_ISA'), os.environ.get('MMBINARY_BCONV_HIDE_ISA'))
    if key not in _selected:
        err = ctypes.create_string_buffer(512)
        forced = None if isa is None else isa.encode()
        idx = library().mmb_select_isa(forced, err, len(err))
        if idx < 0:
            raise NativeKernelError(err.value.decode())
        _selected[key] = ISAS[idx]
    return _selected[key]


def _ptr(a: Optional[np.ndarray], ctype=ctypes.c_float):
    return None if a is None else a.ctypes.data_as(ctypes.POINTER(ctype))


def _f32(a, n: Optional[int] = None, name: str = '') -> Optional[np.ndarray]:
    if a is None:
        return None
    a = np.ascontiguousarray(np.asarray(a, dtype=np.float32))
    if n is not None and a.size != n:
        raise ValueError(f'{name} must have {n} values (one per output channel), got {a.size}')
    return a


def sign_thresholds(scale, bias) -> np.ndarray:
    """``int32 [O]`` thresholds of the sign output: ``sign(scale * (B*S) + bias)`` exactly.

    ``scale > 0``: ``+1`` iff ``B*S >= ceil(-bias / scale)``; ``scale < 0``: ``+1`` iff
    ``B*S <= floor(-bias / scale)`` (:func:`~mmbinary.binarizers.fold_binary_bn` with
    ``integer=True`` on the folded factors, in float64); ``scale == 0``: unused (the kernel
    writes ``sign(bias)``). Clamped to the int32 range.
    """
    s = np.asarray(scale, dtype=np.float64).reshape(-1)
    b = np.asarray(bias, dtype=np.float64).reshape(-1)
    if s.shape != b.shape:
        raise ValueError(f'scale and bias must have the same length, got {s.size} and {b.size}')
    safe = np.where(s == 0, 1.0, s)
    tau = -b / safe
    thr = np.where(s > 0, np.ceil(tau), np.floor(tau))
    thr = np.where(s == 0, 0.0, thr)
    info = np.iinfo(np.int32)
    return np.clip(thr, info.min, info.max).astype(np.int32)


def out_size(size: int, k: int, stride: int, pad0: int, pad1: int, dil: int, in_dil: int) -> int:
    """Output length of the direct conv on the (input-dilated) padded input."""
    return ((size - 1) * in_dil + 1 + pad0 + pad1 - dil * (k - 1) - 1) // stride + 1


class _Layer:
    """The ``Params`` of one layer shape + its arrays, kept alive while the struct is used."""

    def __init__(
        self,
        weight,
        channels,
        in_shape,
        scale,
        bias,
        stride=(1, 1),
        padding=(0, 0, 0, 0),
        dilation=(1, 1),
        groups=1,
        input_dilation=(1, 1),
        threshold=0.0,
        window_scale=None,
        mask_scale=None,
        mask_window_scale=None,
        prelu=None,
        pre_shift=None,
        post_shift=None,
        sign_output=False,
        pos_slope=None,
        nhwc=False,
    ):
        weight = np.ascontiguousarray(weight, dtype=np.uint64)
        if weight.ndim != 4:
            raise ValueError(f'weight must be uint64 [O, kh, kw, words], got shape {weight.shape}')
        o, kh, kw, words = weight.shape
        if words != -(-channels // 64):
            raise ValueError(
                f'weight has {words} words per tap, {channels} channels per group need '
                f'{-(-channels // 64)}'
            )
        n, c, h, w = in_shape
        if c != channels * groups:
            where = ' (NHWC: the last axis)' if nhwc else ''
            raise ValueError(
                f'input has {c} channels{where}, the weight expects {channels} x {groups} groups'
            )
        pt, pl, pb, pr = padding
        ho = out_size(h, kh, stride[0], pt, pb, dilation[0], input_dilation[0])
        wo = out_size(w, kw, stride[1], pl, pr, dilation[1], input_dilation[1])
        self.out_shape = (n, o, ho, wo)
        self.arrays = dict(
            weight=weight,
            scale=_f32(scale, o, 'scale'),
            bias=_f32(bias, o, 'bias'),
            window_scale=_f32(window_scale, o, 'window_scale'),
            mask_scale=_f32(mask_scale, o, 'mask_scale'),
            mask_window_scale=_f32(mask_window_scale, o, 'mask_window_scale'),
            prelu=_f32(prelu, o, 'prelu'),
            pre_shift=_f32(pre_shift, o, 'pre_shift'),
            post_shift=_f32(post_shift, o, 'post_shift'),
            pos_slope=_f32(pos_slope, o, 'pos_slope'),
        )
        if sign_output:
            self.arrays['sign_threshold'] = sign_thresholds(
                self.arrays['scale'], self.arrays['bias']
            )
        p = Params(
            n=n,
            in_c=c,
            in_h=h,
            in_w=w,
            out_c=o,
            out_h=ho,
            out_w=wo,
            kh=kh,
            kw=kw,
            stride_h=stride[0],
            stride_w=stride[1],
            dil_h=dilation[0],
            dil_w=dilation[1],
            pad_top=pt,
            pad_left=pl,
            pad_bottom=pb,
            pad_right=pr,
            in_dil_h=input_dilation[0],
            in_dil_w=input_dilation[1],
            groups=groups,
            threshold=float(threshold),
            nhwc=int(bool(nhwc)),
        )
        self.nhwc = bool(nhwc)
        p.weight = _ptr(weight, ctypes.c_uint64)
        for name, a in self.arrays.items():
            if name == 'sign_threshold':
                p.sign_threshold = _ptr(a, ctypes.c_int32)
            elif name != 'weight':
                setattr(p, name, _ptr(a))
        self.params = p
        self.prepacked = {}
        self._err = threading.local()

    def prepack(self, isa: int) -> np.ndarray:
        if isa not in self.prepacked:
            lib, err = library(), ctypes.create_string_buffer(512)
            words = lib.mmb_bconv_prepack_words(ctypes.byref(self.params), isa, err, len(err))
            if words < 0:
                raise NativeKernelError(err.value.decode())
            buf = np.zeros(max(int(words), 1), dtype=np.uint64)
            if lib.mmb_bconv_prepack(
                ctypes.byref(self.params), isa, _ptr(buf, ctypes.c_uint64), err, len(err)
            ):
                raise NativeKernelError(err.value.decode())
            self.prepacked[isa] = (buf, _ptr(buf, ctypes.c_uint64))
        return self.prepacked[isa]

    def run(
        self,
        x: np.ndarray,
        isa: str,
        threads: int = 1,
        residual=None,
        y_bits_threshold: Optional[float] = None,
        residual_upsample: int = 1,
    ):
        # a copy per call: ctypes releases the GIL, so two threads may run this layer at once
        p = Params.from_buffer_copy(self.params)
        bits_in = isinstance(x, np.ndarray) and x.dtype == np.uint64
        if (bits_in or y_bits_threshold is not None) and (not self.nhwc or p.groups != 1):
            raise ValueError(
                'packed bits in or out need layout NHWC and groups=1, got '
                f'layout {"NHWC" if self.nhwc else "NCHW"} and groups={p.groups}'
            )
        if bits_in:
            x = np.ascontiguousarray(x)
            chw = (p.in_h, p.in_w, -(-p.in_c // 64))
        else:
            x = np.ascontiguousarray(x, dtype=np.float32)
            chw = (p.in_h, p.in_w, p.in_c) if self.nhwc else (p.in_c, p.in_h, p.in_w)
        if x.ndim != 4 or x.shape[1:] != chw:
            dims = ', '.join(str(d) for d in chw)
            what = 'packed bits uint64' if bits_in else 'NHWC' if self.nhwc else 'NCHW'
            raise ValueError(f'input must be {what} [N, {dims}], got {list(x.shape)}')
        n = p.n = x.shape[0]
        _, o, ho, wo = self.out_shape
        out_shape = (n, ho, wo, o) if self.nhwc else (n, o, ho, wo)
        bits = None
        if bits_in:
            p.x_bits = _ptr(x, ctypes.c_uint64)
        if y_bits_threshold is not None:
            bits = np.empty((n, ho, wo, -(-o // 64)), dtype=np.uint64)
            p.y_bits = _ptr(bits, ctypes.c_uint64)
            p.y_bits_threshold = float(y_bits_threshold)
        if residual is None and residual_upsample not in (0, 1):
            raise ValueError(f'residual_upsample={residual_upsample} needs a residual, got None')
        if residual is not None:
            residual = np.ascontiguousarray(residual, dtype=np.float32)
            up = max(int(residual_upsample), 1)
            want = out_shape
            if up > 1:  # checked by the kernel: NHWC, a power of two dividing the output size
                want = (n, ho // up, wo // up, o) if self.nhwc else (n, o, ho // up, wo // up)
            if residual.shape != want:
                raise ValueError(f'residual must be {list(want)}, got {list(residual.shape)}')
            p.residual_upsample = int(residual_upsample)
        idx = ISAS.index(select_isa(isa))
        p.prepacked = self.prepack(idx)[1]
        p.residual = None if residual is None else _ptr(residual)
        p.threads = int(threads)
        y = np.empty(out_shape, dtype=np.float32)
        err = getattr(self._err, 'buf', None)
        if err is None:
            err = self._err.buf = ctypes.create_string_buffer(512)
        x_data = None if bits_in else x.ctypes.data
        rc = _lib.mmb_bconv2d_f32(p, idx, x_data, y.ctypes.data, err, 512)
        if rc:
            raise NativeKernelError(err.value.decode())
        return y if bits is None else (y, bits)


def pack_bits_nhwc(x: np.ndarray, threshold: float = 0.0) -> np.ndarray:
    """The packed bits of an NHWC tensor, as the kernel reads and writes them.

    ``uint64 [N, H, W, ceil(C / 64)]``: bit ``c % 64`` of word ``c // 64`` is
    ``x[..., c] >= threshold``, bits past ``C`` are 0 (the ``x_bits`` / ``y_bits`` of
    ``mmb_bconv_params``).
    """
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 4:
        raise ValueError(f'x must be NHWC [N, H, W, C], got shape {list(x.shape)}')
    c = x.shape[3]
    words = -(-c // 64)
    bits = np.zeros(x.shape[:3] + (words * 64,), dtype=np.uint8)
    bits[..., :c] = x >= threshold
    packed = np.packbits(bits.reshape(x.shape[:3] + (words, 8, 8)), axis=-1, bitorder='little')
    return np.ascontiguousarray(packed.reshape(x.shape[:3] + (words * 8,))).view('<u8')


def bconv2d(
    x: np.ndarray,
    weight: np.ndarray,
    channels: int,
    scale: Sequence[float],
    bias: Sequence[float],
    stride=(1, 1),
    padding=(0, 0, 0, 0),
    dilation=(1, 1),
    groups: int = 1,
    input_dilation=(1, 1),
    threshold: float = 0.0,
    window_scale=None,
    mask_scale=None,
    mask_window_scale=None,
    residual: Optional[np.ndarray] = None,
    prelu=None,
    threads: int = 1,
    isa: Optional[str] = None,
    pre_shift=None,
    post_shift=None,
    sign_output: bool = False,
    pos_slope=None,
    layout: str = 'NCHW',
    y_bits_threshold: Optional[float] = None,
    residual_upsample: int = 1,
):
    """One binary conv on the native kernel (the direct-conv form of the packed format).

    Args:
        x: real input ``float32 [N, C, H, W]`` (``[N, H, W, C]`` with ``layout='NHWC'``); its
            bits are ``x >= threshold``. With ``layout='NHWC'`` and ``groups=1`` it may instead
            be the input's packed bits, ``uint64 [N, H, W, ceil(C / 64)]``
            (:func:`pack_bits_nhwc`, or another call's ``y_bits``); ``threshold`` is then
            not used.
        weight: ``uint64 [O, kh, kw, words]`` (packed format v1, a transposed conv as its
            direct kernel).
        channels: input channels per group.
        scale, bias: ``[O]``.
        stride, dilation, input_dilation: ``(h, w)``; ``input_dilation`` is a transposed conv's
            stride (the zeros it inserts are skipped like padding).
        padding: ``(top, left, bottom, right)``: zero padding of the +/-1 input.
        groups: conv groups.
        window_scale, mask_scale, mask_window_scale: AdaBin's terms ``[O]`` or ``None``.
        residual: ``[N, O, Ho, Wo]`` added after scale / bias, or ``None``.
        prelu: ``[O]`` PReLU slopes applied after the residual, or ``None``.
        threads: worker threads.
        isa: ISA path (default: ``$MMBINARY_BCONV_ISA`` or the best one).
        pre_shift, post_shift: RPReLU's shifts ``[O]`` or ``None``:
            ``y = PReLU(y - pre_shift) + post_shift`` (slope 1 without ``prelu``).
        pos_slope: ``[O]`` slopes for ``y >= 0`` of that PReLU step, or ``None`` (1): with
            ``prelu`` = ``g-`` and ``pos_slope`` = ``g+`` it is AdaBin's Maxout.
        sign_output: write ``+1 / -1``, the sign of ``scale * (B*S) + bias`` as the exact
            integer threshold of :func:`sign_thresholds` (self-binarizing nets); only with
            ``scale`` and ``bias`` (no AdaBin terms, residual, PReLU, shifts or ``pos_slope``).
        layout: ``'NCHW'`` or ``'NHWC'``, of ``x``, ``residual`` and the output.
        residual_upsample: ``s`` = 2, 4, ... (``layout='NHWC'``): ``residual`` is
            ``[N, Ho / s, Wo / s, O]`` and is added nearest-upsampled by ``s``
            (``nn.Upsample(scale_factor=s)``), without writing the upsampled tensor.
        y_bits_threshold: also return the output's packed bits, ``y >= y_bits_threshold``
            (``layout='NHWC'``, ``groups=1``): the next binary layer's input, packed in the
            epilogue.

    Returns:
        ``float32 [N, O, Ho, Wo]`` (``[N, Ho, Wo, O]`` with ``layout='NHWC'``); with
        ``y_bits_threshold``, ``(y, bits)``, ``bits`` as :func:`pack_bits_nhwc` of ``y``.
    """
    if layout not in ('NCHW', 'NHWC'):
        raise ValueError(f"layout must be 'NCHW' or 'NHWC', got {layout!r}")
    shape = np.shape(x)
    if layout == 'NHWC' and len(shape) == 4:
        c = channels * groups if getattr(x, 'dtype', None) == np.uint64 else shape[3]
        shape = (shape[0], c, shape[1], shape[2])
    layer = _Layer(
        weight,
        channels,
        shape,
        scale,
        bias,
        stride,
        padding,
        dilation,
        groups,
        input_dilation,
        threshold,
        window_scale,
        mask_scale,
        mask_window_scale,
        prelu,
        pre_shift,
        post_shift,
        sign_output,
        pos_slope,
        nhwc=layout == 'NHWC',
    )
    return layer.run(x, isa, threads, residual, y_bits_threshold, residual_upsample)
