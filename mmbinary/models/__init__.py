from . import pose  # noqa: F401  (registers the pose models)
from .backbones import BinaryResNet

__all__ = ['BinaryResNet']
