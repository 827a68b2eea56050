"""mmpretrain classifiers for binary networks: distillation and latent-weight supervision."""

from .kd_classifier import KDImageClassifier, soft_target_cross_entropy, student_classifier_config
from .latent_weight import (
    LatentWeightClassifier,
    bypass_binarizers,
    frozen_norm_statistics,
    plain_classifier_config,
)

__all__ = [
    'KDImageClassifier',
    'LatentWeightClassifier',
    'bypass_binarizers',
    'frozen_norm_statistics',
    'plain_classifier_config',
    'soft_target_cross_entropy',
    'student_classifier_config',
]
