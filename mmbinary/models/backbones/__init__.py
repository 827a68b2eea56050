from .bhrnet import BHRNet, BiRealBottleneck
from .binary_resnet import BinaryConvUnit, BinaryResNet, BiRealBasicBlock, BiRealBlock
from .binary_resnet_cifar import BinaryResNetCifar

__all__ = [
    'BHRNet',
    'BiRealBasicBlock',
    'BiRealBlock',
    'BiRealBottleneck',
    'BinaryConvUnit',
    'BinaryResNet',
    'BinaryResNetCifar',
]
