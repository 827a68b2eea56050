"""Native operators: the 1-bit (XNOR-popcount) convolution.

``mmbinary.ops.csrc`` holds the C++ core (C ABI ``mmb_bconv.h``, no PyTorch / OpenVINO headers);
:mod:`mmbinary.ops.build` compiles and caches it; :mod:`mmbinary.ops.bconv` is the ctypes
binding. The package imports without a compiler: :func:`native_available` is then ``False`` and
:func:`native_unavailable_reason` says why.
"""

from .bconv import (
    ISAS,
    NativeKernelError,
    bconv2d,
    cpu_supports,
    native_available,
    native_unavailable_reason,
    pack_bits_nhwc,
    select_isa,
    supported_isas,
)

__all__ = [
    'ISAS',
    'NativeKernelError',
    'bconv2d',
    'cpu_supports',
    'native_available',
    'native_unavailable_reason',
    'pack_bits_nhwc',
    'select_isa',
    'supported_isas',
]
