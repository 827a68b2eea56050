from . import classifiers, pose  # noqa: F401  (registers the classifiers and pose models)
from .backbones import BinaryResNet

__all__ = ['BinaryResNet']
