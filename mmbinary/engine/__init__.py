from .hooks import (
    BinarizerScheduleHook,
    FlipRatioHook,
    KeypointCountCheckHook,
    NonFiniteCheckHook,
    NonFiniteLossError,
    ValidateBeforeTrainHook,
)
from .optimizers import BinaryOptimWrapperConstructor, ParamGroupScheduler

__all__ = [
    'BinarizerScheduleHook',
    'BinaryOptimWrapperConstructor',
    'FlipRatioHook',
    'KeypointCountCheckHook',
    'NonFiniteCheckHook',
    'NonFiniteLossError',
    'ParamGroupScheduler',
    'ValidateBeforeTrainHook',
]
