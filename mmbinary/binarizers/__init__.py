"""Binarizers: one method per module, all registered in :data:`mmbinary.registry.BINARIZERS`."""

from mmbinary.scope import build_scope as binarizer_sharing_scope  # its name before mmbinary.scope

from .adabin import AdaBinActivation, AdaBinWeight
from .approx_sign import ApproxSign
from .base import BaseBinarizer, SurrogateBinarizer, binary_sign
from .bbc import ClassifierBinarizer, LinearBinarizer, MLPBinarizer
from .builder import available_binarizers, build_binarizer
from .ede import EDE
from .self_binarizing import BinaryBNThreshold, SelfBinarizingTanh, fold_binary_bn
from .ste import STE, ClippedSTE
from .swish_sign import SwishSign
from .tanh_sign import TanhSign

__all__ = [
    'EDE',
    'STE',
    'AdaBinActivation',
    'AdaBinWeight',
    'ApproxSign',
    'BaseBinarizer',
    'BinaryBNThreshold',
    'ClassifierBinarizer',
    'ClippedSTE',
    'LinearBinarizer',
    'MLPBinarizer',
    'SelfBinarizingTanh',
    'SurrogateBinarizer',
    'SwishSign',
    'TanhSign',
    'available_binarizers',
    'binarizer_sharing_scope',
    'binary_sign',
    'build_binarizer',
    'fold_binary_bn',
]
