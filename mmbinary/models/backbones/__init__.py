from .binary_resnet import BinaryResNet

__all__ = ['BinaryResNet']
