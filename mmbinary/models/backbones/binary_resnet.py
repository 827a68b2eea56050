"""Binary ResNets: Bi-Real style (BBC's code) and AdaBin style, for mmpretrain and MMPose.

Both keep the stem, the downsampling shortcuts and the classifier real-valued and give every
binary 3x3 convolution its own real shortcut:

* ``block_style='bireal'`` [official code of BBC]: one binary conv per block,
  ``y = act(BN(BinaryConv(x)) + shortcut(x))`` with PReLU; blocks per stage ``[4, 4, 4, 4]``
  (depth 18) and ``[6, 8, 12, 6]`` (depth 34). The sign of the input is the conv's input
  binarizer.
* ``block_style='adabin'`` [official code of AdaBin]: a BasicBlock of two binary convs, each
  with its own shortcut and a Maxout after each addition; ``[2, 2, 2, 2]`` / ``[3, 4, 6, 3]``.
  The block is :class:`BiRealBasicBlock`, the same block as BHRNet's ``BASIC`` one.

Stem: 7x7 stride-2 conv -> BN -> PReLU (bireal) or Maxout (adabin) -> 3x3 stride-2 max-pool.
Downsampling shortcut: AvgPool(2) -> 1x1 conv -> BN (real). The CIFAR variant
(:class:`~mmbinary.models.backbones.BinaryResNetCifar`) changes the stem and uses the
parameter-free option-A shortcut instead.
"""

import copy

import torch.nn as nn
import torch.utils.checkpoint as cp
from mmcv.cnn import build_conv_layer, build_norm_layer
from mmpose.models.backbones.resnet import BasicBlock
from mmpretrain.models.backbones.base_backbone import BaseBackbone
from torch.nn.modules.batchnorm import _BatchNorm

from mmbinary.binarizers.base import check_choice
from mmbinary.registry import MODELS
from mmbinary.scope import build_scope

from ..utils import SHORTCUTS, build_act

DEFAULT_BINARY_CONV = dict(type='BinaryConv2d')
DEFAULT_ACT = dict(type='PReLU')


class BinaryConvUnit(nn.Module):
    """``act(BN(conv3x3(x)) + shortcut(x))``: one binary conv with its own shortcut.

    Args:
        in_channels (int), out_channels (int), stride (int): of the 3x3 conv.
        conv_cfg (dict): config of the (binary) conv.
        norm_cfg (dict): norm config.
        act_cfg (dict): activation after the addition.
        shortcut (nn.Module, optional): how the unit joins its input when its shape changes
            (see :mod:`mmbinary.models.utils.shortcut`); ``None`` adds the input itself.
    """

    def __init__(
        self, in_channels, out_channels, stride, conv_cfg, norm_cfg, act_cfg, shortcut=None
    ):
        super().__init__()
        self.conv = build_conv_layer(
            conv_cfg, in_channels, out_channels, 3, stride=stride, padding=1, bias=False
        )
        self.norm = build_norm_layer(norm_cfg, out_channels)[1]
        self.shortcut = shortcut
        self.act = build_act(act_cfg, out_channels)

    def forward(self, x):
        identity = x if self.shortcut is None else self.shortcut(x)
        return self.act(self.norm(self.conv(x)) + identity)


class BiRealBlock(nn.Module):
    """Bi-Real block of BBC's code: a single :class:`BinaryConvUnit`.

    Args:
        in_channels (int), out_channels (int), stride (int): of the binary conv.
        downsample (nn.Module, optional): the unit's shortcut where the shape changes.
        with_cp (bool): gradient checkpointing. Default False.
        binary_conv_cfg, norm_cfg, act_cfg (dict): of the unit.
    """

    def __init__(
        self,
        in_channels,
        out_channels,
        stride=1,
        downsample=None,
        with_cp=False,
        binary_conv_cfg=None,
        norm_cfg=None,
        act_cfg=None,
    ):
        super().__init__()
        self.with_cp = with_cp
        self.unit = BinaryConvUnit(
            in_channels,
            out_channels,
            stride,
            copy.deepcopy(binary_conv_cfg or DEFAULT_BINARY_CONV),
            norm_cfg or dict(type='BN'),
            act_cfg or DEFAULT_ACT,
            shortcut=downsample,
        )

    def forward(self, x):
        if self.with_cp and x.requires_grad:
            return cp.checkpoint(self.unit, x, use_reentrant=False)
        return self.unit(x)


class BiRealBasicBlock(BasicBlock):
    """MMPose's ``BasicBlock`` with two binary 3x3 convs, each with its own shortcut.

    ``y1 = act1(BN1(conv1(x)) + shortcut(x))``, ``y = act2(BN2(conv2(y1)) + y1)``; ``shortcut``
    is ``downsample`` (real) or the identity. AdaBin's BasicBlock [official code of AdaBin] and
    BHRNet's ``BASIC`` block.

    Args:
        binary_conv_cfg (dict): config of the two 3x3 convs. Default ``dict(type='BinaryConv2d')``.
        act_cfg (dict): activation after each addition. Default ``dict(type='PReLU')``.
        Other arguments: as :class:`mmpose.models.backbones.resnet.BasicBlock` (``conv_cfg`` is
        accepted for interface compatibility; this block has no other conv).
    """

    def __init__(
        self,
        in_channels,
        out_channels,
        expansion=1,
        stride=1,
        dilation=1,
        downsample=None,
        style='pytorch',
        with_cp=False,
        conv_cfg=None,
        norm_cfg=None,
        binary_conv_cfg=None,
        act_cfg=None,
        init_cfg=None,
    ):
        super().__init__(
            in_channels,
            out_channels,
            expansion=expansion,
            stride=stride,
            dilation=dilation,
            downsample=downsample,
            style=style,
            with_cp=with_cp,
            conv_cfg=copy.deepcopy(binary_conv_cfg or DEFAULT_BINARY_CONV),
            norm_cfg=norm_cfg or dict(type='BN'),
            init_cfg=init_cfg,
        )
        if downsample is None and (stride != 1 or in_channels != out_channels):
            raise ValueError(
                f'{type(self).__name__}: a downsample module is needed for stride={stride}, '
                f'{in_channels} -> {out_channels} channels'
            )
        del self.relu  # replaced by one activation per binary conv
        act_cfg = act_cfg or DEFAULT_ACT
        self.act1 = build_act(act_cfg, self.mid_channels)
        self.act2 = build_act(act_cfg, out_channels)

    def _inner_forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.act1(self.norm1(self.conv1(x)) + identity)
        return self.act2(self.norm2(self.conv2(out)) + out)

    def forward(self, x):
        if self.with_cp and x.requires_grad:
            return cp.checkpoint(self._inner_forward, x, use_reentrant=False)
        return self._inner_forward(x)


@MODELS.register_module()
class BinaryResNet(BaseBackbone):
    """Binary ResNet backbone (Bi-Real or AdaBin blocks).

    Args:
        depth (int): 18 or 34.
        block_style (str): ``'bireal'`` (default) or ``'adabin'``.
        in_channels (int): input channels. Default 3.
        stem_channels (int): stem output channels. Default 64.
        base_channels (int): width of stage 1; stage ``i`` has ``base_channels * 2**i``.
            Default 64.
        strides (Sequence[int]): stride of the first block of each stage. Default (1, 2, 2, 2).
        out_indices (Sequence[int]): stages whose outputs are returned. Default (3,).
        frozen_stages (int): stages to freeze (stem included when >= 0); -1 freezes nothing.
        norm_eval (bool): keep BN layers in eval mode while training. Default False.
        conv_cfg (dict): config of every binary 3x3 conv, e.g.
            ``dict(type='BinaryConv2d', weight_binarizer='MLPBinarizer', center_weight=True)``.
            Default ``dict(type='BinaryConv2d')``.
        norm_cfg (dict): norm config. Default ``dict(type='BN')``.
        act_cfg (dict, optional): activation after each addition and in the stem; default
            ``PReLU`` for bireal, ``Maxout`` for adabin.
        with_cp (bool): gradient checkpointing per block. Default False.
        init_cfg (dict | list, optional): initialisation config.

    Example:
        >>> import torch
        >>> from mmbinary.models import BinaryResNet
        >>> model = BinaryResNet(depth=18, out_indices=(0, 1, 2, 3))
        >>> for out in model(torch.rand(1, 3, 224, 224)):
        ...     print(tuple(out.shape))
        (1, 64, 56, 56)
        (1, 128, 28, 28)
        (1, 256, 14, 14)
        (1, 512, 7, 7)
    """

    arch_settings = {
        'bireal': {18: (BiRealBlock, (4, 4, 4, 4)), 34: (BiRealBlock, (6, 8, 12, 6))},
        'adabin': {18: (BiRealBasicBlock, (2, 2, 2, 2)), 34: (BiRealBasicBlock, (3, 4, 6, 3))},
    }
    default_act = {'bireal': dict(type='PReLU'), 'adabin': dict(type='Maxout')}
    shortcut = 'real'  # of the blocks whose shape changes: a key of SHORTCUTS

    def __init__(
        self,
        depth=18,
        block_style='bireal',
        in_channels=3,
        stem_channels=64,
        base_channels=64,
        strides=(1, 2, 2, 2),
        out_indices=(3,),
        frozen_stages=-1,
        norm_eval=False,
        conv_cfg=None,
        norm_cfg=None,
        act_cfg=None,
        with_cp=False,
        init_cfg=None,
    ):
        if init_cfg is None:
            init_cfg = [
                dict(type='Kaiming', layer=['Conv2d']),
                dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm']),
            ]
        super().__init__(init_cfg=init_cfg)
        self.block, stage_blocks = self._check_arch(depth, block_style)
        num_stages = len(stage_blocks)
        self.strides = self._check_strides(strides, num_stages)
        self.out_indices = self._check_out_indices(out_indices, num_stages)
        if frozen_stages > num_stages:
            raise ValueError(f'frozen_stages {frozen_stages} > {num_stages} stages')
        self.depth, self.block_style = depth, block_style
        self.stage_blocks = stage_blocks
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.with_cp = with_cp
        self.conv_cfg = conv_cfg if conv_cfg is not None else dict(DEFAULT_BINARY_CONV)
        self.norm_cfg = norm_cfg if norm_cfg is not None else dict(type='BN')
        self.act_cfg = act_cfg if act_cfg is not None else self.default_act[block_style]

        with build_scope():  # built directly: one shared learned binarizer (BBC MLP) per network
            self._make_stem_layer(in_channels, stem_channels)
            self.res_layers = []
            channels = stem_channels
            for i, (num_blocks, stride) in enumerate(zip(stage_blocks, self.strides)):
                out_channels = base_channels * 2**i
                res_layer = self.make_res_layer(num_blocks, channels, out_channels, stride)
                channels = out_channels
                name = f'layer{i + 1}'
                self.add_module(name, res_layer)
                self.res_layers.append(name)
        self.out_channels = [base_channels * 2**i for i in range(num_stages)]
        self._freeze_stages()

    def _check_arch(self, depth, block_style):
        """The block class and blocks per stage of ``(depth, block_style)``; or a ValueError."""
        name = type(self).__name__
        check_choice(name, 'shortcut', self.shortcut, sorted(SHORTCUTS))
        if block_style not in self.arch_settings:
            raise ValueError(
                f'invalid block_style {block_style!r} for {name}; '
                f'allowed: {sorted(self.arch_settings)}'
            )
        if depth not in self.arch_settings[block_style]:
            raise ValueError(
                f'invalid depth {depth!r} for {name} ({block_style}); '
                f'allowed: {sorted(self.arch_settings[block_style])}'
            )
        return self.arch_settings[block_style][depth]

    @staticmethod
    def _check_strides(strides, num_stages):
        strides = tuple(strides)
        if len(strides) != num_stages:
            raise ValueError(
                f'strides {strides} must give one stride per stage ({num_stages} stages)'
            )
        for stride in strides:
            if isinstance(stride, bool) or not isinstance(stride, int) or stride < 1:
                raise ValueError(f'strides {strides}: every stride must be an int >= 1')
        return strides

    @staticmethod
    def _check_out_indices(out_indices, num_stages):
        out_indices = tuple(out_indices)
        for index in out_indices:
            if not -num_stages <= index < num_stages:
                raise ValueError(f'out_indices {out_indices} out of range for {num_stages} stages')
        return tuple(i % num_stages for i in out_indices)

    def make_res_layer(self, num_blocks, in_channels, out_channels, stride):
        """One stage: ``num_blocks`` blocks, the first with ``stride`` and the shortcut."""
        blocks = []
        for j in range(num_blocks):
            block_stride = stride if j == 0 else 1
            blocks.append(
                self.block(
                    in_channels,
                    out_channels,
                    stride=block_stride,
                    downsample=SHORTCUTS[self.shortcut](
                        in_channels, out_channels, block_stride, self.norm_cfg
                    ),
                    with_cp=self.with_cp,
                    binary_conv_cfg=self.conv_cfg,
                    norm_cfg=self.norm_cfg,
                    act_cfg=self.act_cfg,
                )
            )
            in_channels = out_channels
        return nn.Sequential(*blocks)

    def _make_stem_layer(self, in_channels, stem_channels):
        """Real stem: 7x7 stride-2 conv -> BN -> act, then a 3x3 stride-2 max-pool."""
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, stem_channels, 7, stride=2, padding=3, bias=False),
            build_norm_layer(self.norm_cfg, stem_channels)[1],
            build_act(self.act_cfg, stem_channels),
        )
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)

    def _freeze_stages(self):
        if self.frozen_stages < 0:
            return
        modules = [self.stem] + [
            getattr(self, f'layer{i}') for i in range(1, self.frozen_stages + 1)
        ]
        for module in modules:
            module.eval()
            for p in module.parameters():
                p.requires_grad = False

    def forward(self, x):
        x = self.maxpool(self.stem(x))
        outs = []
        for i, name in enumerate(self.res_layers):
            x = getattr(self, name)(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def train(self, mode=True):
        """As mmpretrain's ``ResNet.train``: frozen stages stay frozen, ``norm_eval`` BNs eval."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self
