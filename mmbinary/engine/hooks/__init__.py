from .binarizer_schedule_hook import BinarizerScheduleHook
from .flip_ratio_hook import FlipRatioHook
from .keypoint_count_check_hook import KeypointCountCheckHook
from .non_finite_check_hook import NonFiniteCheckHook, NonFiniteLossError
from .validate_before_train_hook import ValidateBeforeTrainHook

__all__ = [
    'BinarizerScheduleHook',
    'FlipRatioHook',
    'KeypointCountCheckHook',
    'NonFiniteCheckHook',
    'NonFiniteLossError',
    'ValidateBeforeTrainHook',
]
