from .binary_resnet import BinaryResNet
from .binary_resnet_cifar import BinaryResNetCifar

__all__ = ['BinaryResNet', 'BinaryResNetCifar']
