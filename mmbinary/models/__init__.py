from .backbones import BinaryResNet

__all__ = ['BinaryResNet']
