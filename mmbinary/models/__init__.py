"""mmbinary's models, by component as in MMPose / mmpretrain."""

from .backbones import (
    BHRNet,
    BinaryConvUnit,
    BinaryResNet,
    BinaryResNetCifar,
    BiRealBasicBlock,
    BiRealBlock,
    BiRealBottleneck,
)
from .classifiers import (
    KDImageClassifier,
    LatentWeightClassifier,
    bypass_binarizers,
    frozen_norm_statistics,
    plain_classifier_config,
    soft_target_cross_entropy,
    student_classifier_config,
)
from .heads import SBPNHead, UpsampleUnit
from .losses import HeatmapDistillLoss
from .pose_estimators import HeatmapDistillEstimator, student_config
from .utils import load_teacher_config

__all__ = [
    'BHRNet',
    'BiRealBasicBlock',
    'BiRealBlock',
    'BiRealBottleneck',
    'BinaryConvUnit',
    'BinaryResNet',
    'BinaryResNetCifar',
    'HeatmapDistillEstimator',
    'HeatmapDistillLoss',
    'KDImageClassifier',
    'LatentWeightClassifier',
    'SBPNHead',
    'UpsampleUnit',
    'bypass_binarizers',
    'frozen_norm_statistics',
    'load_teacher_config',
    'plain_classifier_config',
    'soft_target_cross_entropy',
    'student_classifier_config',
    'student_config',
]
