from .hooks import (
    BinarizerScheduleHook,
    FlipRatioHook,
    KeypointCountCheckHook,
    ValidateBeforeTrainHook,
)
from .optimizers import BinaryOptimWrapperConstructor, ParamGroupScheduler

__all__ = [
    'BinarizerScheduleHook',
    'BinaryOptimWrapperConstructor',
    'FlipRatioHook',
    'KeypointCountCheckHook',
    'ParamGroupScheduler',
    'ValidateBeforeTrainHook',
]
