from .hooks import BinarizerScheduleHook, FlipRatioHook
from .optimizers import BinaryOptimWrapperConstructor, ParamGroupScheduler

__all__ = [
    'BinarizerScheduleHook',
    'BinaryOptimWrapperConstructor',
    'FlipRatioHook',
    'ParamGroupScheduler',
]
