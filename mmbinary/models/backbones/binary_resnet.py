"""Binary ResNets: Bi-Real style (BBC's code) and AdaBin style, for mmpretrain and MMPose.

Both keep the stem, the downsampling shortcuts and the classifier real-valued and give every
binary 3x3 convolution its own real shortcut:

* ``block_style='bireal'`` [official code of BBC]: one binary conv per block,
  ``y = act(BN(BinaryConv(x)) + shortcut(x))`` with PReLU; blocks per stage ``[4, 4, 4, 4]``
  (depth 18) and ``[6, 8, 12, 6]`` (depth 34). The sign of the input is the conv's input
  binarizer.
* ``block_style='adabin'`` [official code of AdaBin]: a BasicBlock of two binary convs, each
  with its own shortcut and a Maxout after each addition; ``[2, 2, 2, 2]`` / ``[3, 4, 6, 3]``.

Stem: 7x7 stride-2 conv -> BN -> PReLU (bireal) or Maxout (adabin) -> 3x3 stride-2 max-pool.
Downsampling shortcut: AvgPool(2) -> 1x1 conv -> BN (real). The CIFAR variant
(:class:`~mmbinary.models.backbones.BinaryResNetCifar`) changes the stem and uses the
parameter-free option-A shortcut instead.
"""

import copy

import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint as cp
from mmcv.cnn import build_activation_layer, build_conv_layer, build_norm_layer
from mmengine.model import BaseModule
from torch.nn.modules.batchnorm import _BatchNorm

from mmbinary.scope import build_scope
from mmbinary.registry import MODELS

CHANNEL_ARG = {'PReLU': 'num_parameters', 'Maxout': 'num_channels', 'RPReLU': 'num_channels'}


def build_act(act_cfg: dict, channels: int) -> nn.Module:
    """Build an activation; per-channel ones (PReLU, Maxout, RPReLU) get ``channels``."""
    cfg = copy.deepcopy(act_cfg)
    arg = CHANNEL_ARG.get(cfg['type'].split('.')[-1])
    if arg is not None:
        cfg.setdefault(arg, channels)
    return build_activation_layer(cfg)


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


class BinaryConvUnit(BaseModule):
    """``act(BN(conv3x3(x)) + shortcut(x))``: one binary conv with its own shortcut.

    ``shortcut`` is how a unit whose shape changes joins its input: ``'real'`` (AvgPool -> 1x1
    conv -> BN) or ``'option_a'`` (:class:`ShortcutA`); a unit whose shape does not change adds
    its input.
    """

    def __init__(
        self, in_channels, out_channels, stride, conv_cfg, norm_cfg, act_cfg, shortcut='real'
    ):
        super().__init__()
        if shortcut not in SHORTCUTS:
            raise ValueError(f'invalid shortcut {shortcut!r}; allowed: {sorted(SHORTCUTS)}')
        self.conv = build_conv_layer(
            conv_cfg, in_channels, out_channels, 3, stride=stride, padding=1, bias=False
        )
        self.norm = build_norm_layer(norm_cfg, out_channels)[1]
        self.shortcut = SHORTCUTS[shortcut](in_channels, out_channels, stride, norm_cfg)
        self.act = build_act(act_cfg, out_channels)

    def forward(self, x):
        identity = x if self.shortcut is None else self.shortcut(x)
        return self.act(self.norm(self.conv(x)) + identity)


class BiRealBlock(BaseModule):
    """Bi-Real block: a single :class:`BinaryConvUnit`."""

    def __init__(self, in_channels, out_channels, stride=1, with_cp=False, **unit_cfg):
        super().__init__()
        self.with_cp = with_cp
        self.unit = BinaryConvUnit(in_channels, out_channels, stride, **unit_cfg)

    def forward(self, x):
        if self.with_cp and x.requires_grad:
            return cp.checkpoint(self.unit, x, use_reentrant=False)
        return self.unit(x)


class AdaBinBlock(BaseModule):
    """AdaBin BasicBlock: two :class:`BinaryConvUnit` (each with its own shortcut)."""

    def __init__(self, in_channels, out_channels, stride=1, with_cp=False, **unit_cfg):
        super().__init__()
        self.with_cp = with_cp
        self.unit1 = BinaryConvUnit(in_channels, out_channels, stride, **unit_cfg)
        self.unit2 = BinaryConvUnit(out_channels, out_channels, 1, **unit_cfg)

    def _forward(self, x):
        return self.unit2(self.unit1(x))

    def forward(self, x):
        if self.with_cp and x.requires_grad:
            return cp.checkpoint(self._forward, x, use_reentrant=False)
        return self._forward(x)


@MODELS.register_module()
class BinaryResNet(BaseModule):
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
        'adabin': {18: (AdaBinBlock, (2, 2, 2, 2)), 34: (AdaBinBlock, (3, 4, 6, 3))},
    }
    default_act = {'bireal': dict(type='PReLU'), 'adabin': dict(type='Maxout')}
    shortcut = 'real'  # of the units whose shape changes; see BinaryConvUnit

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
        name = type(self).__name__
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
        block, stage_blocks = self.arch_settings[block_style][depth]
        num_stages = len(stage_blocks)
        strides = tuple(strides)
        if len(strides) != num_stages:
            raise ValueError(
                f'strides {strides} must give one stride per stage ({num_stages} stages)'
            )
        for stride in strides:
            if isinstance(stride, bool) or not isinstance(stride, int) or stride < 1:
                raise ValueError(f'strides {strides}: every stride must be an int >= 1')
        out_indices = tuple(out_indices)
        for index in out_indices:
            if not -num_stages <= index < num_stages:
                raise ValueError(f'out_indices {out_indices} out of range for {num_stages} stages')
        if frozen_stages > num_stages:
            raise ValueError(f'frozen_stages {frozen_stages} > {num_stages} stages')
        self.depth, self.block_style = depth, block_style
        self.out_indices = tuple(i % num_stages for i in out_indices)
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.conv_cfg = conv_cfg if conv_cfg is not None else dict(type='BinaryConv2d')
        self.norm_cfg = norm_cfg if norm_cfg is not None else dict(type='BN')
        self.act_cfg = act_cfg if act_cfg is not None else self.default_act[block_style]

        with build_scope():  # one shared learned binarizer (BBC MLP) per network
            self._make_stem_layer(in_channels, stem_channels)
            unit_cfg = dict(
                conv_cfg=self.conv_cfg,
                norm_cfg=self.norm_cfg,
                act_cfg=self.act_cfg,
                shortcut=self.shortcut,
            )
            self.res_layers = []
            channels = stem_channels
            for i, (num_blocks, stride) in enumerate(zip(stage_blocks, strides)):
                out_channels = base_channels * 2**i
                blocks = []
                for j in range(num_blocks):
                    blocks.append(
                        block(
                            channels,
                            out_channels,
                            stride if j == 0 else 1,
                            with_cp=with_cp,
                            **unit_cfg,
                        )
                    )
                    channels = out_channels
                name = f'layer{i + 1}'
                self.add_module(name, nn.Sequential(*blocks))
                self.res_layers.append(name)
        self.out_channels = [base_channels * 2**i for i in range(num_stages)]
        self._freeze_stages()

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
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self
