from .binary_optim_wrapper_constructor import (
    BINARIZER_GROUP,
    BinaryOptimWrapperConstructor,
    binarizer_parameters,
)
from .param_group_scheduler import ParamGroupScheduler

__all__ = [
    'BINARIZER_GROUP',
    'BinaryOptimWrapperConstructor',
    'ParamGroupScheduler',
    'binarizer_parameters',
]
