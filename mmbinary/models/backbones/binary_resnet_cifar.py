"""Binary CIFAR ResNet (ResNet-20 of AdaBin's CIFAR-10 recipe), for mmpretrain.

He et al.'s CIFAR ResNet-(6n+2): a real 3x3 stem of 16 channels, three stages of 16-32-64
channels with ``n`` BasicBlocks each (n = 3 for ResNet-20), and the *option-A* shortcut where the
shape changes: strided subsampling ``x[:, :, ::s, ::s]`` and zero padding of the new channels,
parameter-free.

Binary blocks follow AdaBin's block convention [official code of AdaBin, ImageNet; the CIFAR
model is not described in our sources, so applying it to ResNet-20 is a reconstruction]: a
BasicBlock of two binary 3x3 convs, *each with its own shortcut* (Bi-Real style), the activation
(Maxout for AdaBin, or PReLU, by ``act_cfg``) after each addition::

    y = act(BN(BinaryConv(x)) + shortcut_A(x));  out = act(BN(BinaryConv(y)) + y)

The stem is conv3x3 -> BN -> act [reconstruction: same activation as the blocks]. The binary
convs and their binarizers come from ``conv_cfg``; the classifier (pooling, optional
BatchNorm1d, FC) is the neck and head of the mmpretrain config.
"""

import torch.nn as nn
from mmcv.cnn import build_norm_layer

from mmbinary.registry import MODELS

from ..utils import build_act
from .binary_resnet import BinaryResNet, BiRealBasicBlock


@MODELS.register_module()
class BinaryResNetCifar(BinaryResNet):
    """Binary CIFAR ResNet-(6n+2) with option-A shortcuts (AdaBin's CIFAR-10 ResNet-20).

    :class:`BinaryResNet` with a CIFAR stem (3x3 stride-1 conv -> BN -> act, no max-pool), three
    stages and the parameter-free option-A shortcut; the arguments and behaviour are those of
    :class:`BinaryResNet` (``block_style='adabin'`` only).

    Args:
        depth (int): 20, 32, 44, 56 or 110 (3, 5, 7, 9 or 18 blocks per stage). Default 20.
        in_channels (int): input channels. Default 3.
        stem_channels (int): output channels of the real 3x3 stem. Default 16.
        base_channels (int): width of stage 1; stage ``i`` has ``base_channels * 2**i``.
            At least ``stem_channels`` (zero padding only adds channels). Default 16.
        strides (Sequence[int]): stride of the first block of each stage. Default (1, 2, 2).
        out_indices (Sequence[int]): stages whose outputs are returned. Default (2,).
        act_cfg (dict, optional): activation of the stem and after each addition; default
            ``Maxout`` (AdaBin), ``dict(type='PReLU')`` for Bi-Real / BBC.
        **kwargs: ``block_style``, ``frozen_stages``, ``norm_eval``, ``conv_cfg`` (every binary
            3x3 conv, e.g. ``dict(type='BinaryConv2d', weight_binarizer='AdaBinWeight',
            input_binarizer='AdaBinActivation', weight_scale='none')``), ``norm_cfg``,
            ``with_cp``, ``init_cfg``: as :class:`BinaryResNet`.

    Example:
        >>> import torch
        >>> from mmbinary.models.backbones import BinaryResNetCifar
        >>> model = BinaryResNetCifar(depth=20, out_indices=(0, 1, 2))
        >>> for out in model(torch.rand(1, 3, 32, 32)):
        ...     print(tuple(out.shape))
        (1, 16, 32, 32)
        (1, 32, 16, 16)
        (1, 64, 8, 8)
    """

    arch_settings = {
        'adabin': {
            depth: (BiRealBasicBlock, ((depth - 2) // 6,) * 3) for depth in (20, 32, 44, 56, 110)
        }
    }
    shortcut = 'option_a'

    def __init__(
        self,
        depth=20,
        block_style='adabin',
        in_channels=3,
        stem_channels=16,
        base_channels=16,
        strides=(1, 2, 2),
        out_indices=(2,),
        **kwargs,
    ):
        if base_channels < stem_channels:
            raise ValueError(
                f'base_channels ({base_channels}) < stem_channels ({stem_channels}): the '
                'option-A shortcut can only add channels'
            )
        super().__init__(
            depth=depth,
            block_style=block_style,
            in_channels=in_channels,
            stem_channels=stem_channels,
            base_channels=base_channels,
            strides=strides,
            out_indices=out_indices,
            **kwargs,
        )

    def _make_stem_layer(self, in_channels, stem_channels):
        """Real stem: 3x3 stride-1 conv -> BN -> act [reconstruction: act as in the blocks]."""
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, stem_channels, 3, stride=1, padding=1, bias=False),
            build_norm_layer(self.norm_cfg, stem_channels)[1],
            build_act(self.act_cfg, stem_channels),
        )
        self.maxpool = nn.Identity()  # none at CIFAR resolution
