from .approx_sign import ApproxSign
from .base import BaseBinarizer, SurrogateBinarizer, binary_sign
from .builder import available_binarizers, build_binarizer
from .ste import STE, ClippedSTE

__all__ = [
    'ApproxSign',
    'BaseBinarizer',
    'ClippedSTE',
    'STE',
    'SurrogateBinarizer',
    'available_binarizers',
    'binary_sign',
    'build_binarizer',
]
