from .activation import LearnableBias, Maxout, RPReLU
from .binary_conv import BinaryConv2d, BinaryConvTranspose2d, BinaryLayerMixin, BinaryLinear
from .drop_in import binary_conv_except_stem

__all__ = [
    'BinaryConv2d',
    'BinaryConvTranspose2d',
    'BinaryLayerMixin',
    'BinaryLinear',
    'LearnableBias',
    'Maxout',
    'RPReLU',
    'binary_conv_except_stem',
]
