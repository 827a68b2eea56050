from .binarizer_schedule_hook import BinarizerScheduleHook
from .flip_ratio_hook import FlipRatioHook

__all__ = ['BinarizerScheduleHook', 'FlipRatioHook']
