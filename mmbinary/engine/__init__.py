from .hooks import BinarizerScheduleHook, FlipRatioHook, KeypointCountCheckHook
from .optimizers import BinaryOptimWrapperConstructor, ParamGroupScheduler

__all__ = [
    'BinarizerScheduleHook',
    'BinaryOptimWrapperConstructor',
    'FlipRatioHook',
    'KeypointCountCheckHook',
    'ParamGroupScheduler',
]
