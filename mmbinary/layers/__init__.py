from .activation import LearnableBias, Maxout, RPReLU
from .binary_conv import BinaryConv2d, BinaryConvTranspose2d, BinaryLayerMixin, BinaryLinear

__all__ = [
    'BinaryConv2d',
    'BinaryConvTranspose2d',
    'BinaryLayerMixin',
    'BinaryLinear',
    'LearnableBias',
    'Maxout',
    'RPReLU',
]
