"""Binary pose models for MMPose: BHRNet, the SBPN head, heatmap distillation, drop-in convs."""

from .bhrnet import BHRNet, BiRealBasicBlock, BiRealBottleneck
from .distill import (
    HeatmapDistillEstimator,
    HeatmapDistillLoss,
    load_teacher_config,
    student_config,
)
from .drop_in import binary_conv_except_stem
from .sbpn_head import SBPNHead, UpsampleUnit

__all__ = [
    'BHRNet',
    'BiRealBasicBlock',
    'BiRealBottleneck',
    'HeatmapDistillEstimator',
    'HeatmapDistillLoss',
    'SBPNHead',
    'UpsampleUnit',
    'binary_conv_except_stem',
    'load_teacher_config',
    'student_config',
]
