"""Shortcuts of the binary residual units where the shape changes, real-valued.

* ``'real'`` (Bi-Real Net, BBC's and AdaBin's code): AvgPool(stride) -> 1x1 conv -> BN;
* ``'option_a'`` (He et al.'s CIFAR ResNets): strided subsampling and zero padding of the new
  channels, parameter-free (:class:`ShortcutA`).

A unit whose shape does not change adds its input (``None``).
"""

import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from torch import nn


def real_shortcut(in_channels, out_channels, stride, norm_cfg):
    """``None`` (identity) or AvgPool(stride) -> 1x1 conv -> BN, all real-valued."""
    if stride == 1 and in_channels == out_channels:
        return None
    layers = []
    if stride != 1:
        layers.append(nn.AvgPool2d(kernel_size=stride, stride=stride, ceil_mode=True))
    layers += [
        nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=False),
        build_norm_layer(norm_cfg, out_channels)[1],
    ]
    return nn.Sequential(*layers)


class ShortcutA(nn.Module):
    """Option-A shortcut of He et al.'s CIFAR ResNets: ``x[:, :, ::stride, ::stride]``,
    zero-padded to ``out_channels``, no parameters.

    The new channels are split evenly before and after the existing ones (``(out - in) // 2``
    before).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        if out_channels < in_channels:
            raise ValueError(
                f'ShortcutA: out_channels ({out_channels}) < in_channels ({in_channels}); '
                'zero padding cannot remove channels'
            )
        self.stride = stride
        self.pad_front = (out_channels - in_channels) // 2
        self.pad_back = out_channels - in_channels - self.pad_front

    def forward(self, x):
        if self.stride != 1:
            x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, self.pad_front, self.pad_back))

    def extra_repr(self) -> str:
        return f'stride={self.stride}, pad=({self.pad_front}, {self.pad_back})'


def option_a_shortcut(in_channels, out_channels, stride, norm_cfg=None):
    """``None`` (identity) or :class:`ShortcutA` (``norm_cfg`` unused: no layers to normalise)."""
    if stride == 1 and in_channels == out_channels:
        return None
    return ShortcutA(in_channels, out_channels, stride)


SHORTCUTS = {'real': real_shortcut, 'option_a': option_a_shortcut}
