"""BHRNet: an HRNet whose residual 3x3 convolutions are binary, Bi-Real style [reconstruction].

BBC (He et al., TCSVT 2023) reports binary HRNets ("BHRNet") on COCO but publishes no
architecture; this is our reconstruction, switchable by config:

* MMPose's :class:`~mmpose.models.backbones.HRNet` structure and arguments, unchanged;
* every 3x3 convolution of a residual block is binary (``binary_conv_cfg``) and has **its own**
  real shortcut and activation (PReLU by default), as in Bi-Real Net::

      BASIC:       y1 = act1(BN1(bconv3x3(x)) + shortcut(x));   y = act2(BN2(bconv3x3(y1)) + y1)
      BOTTLENECK:  h  = act1(BN1(conv1x1(x)))
                   h  = act2(BN2(bconv3x3(h)) + h)
                   y  = act3(BN3(conv1x1(h)) + shortcut(x))

  where ``shortcut`` is MMPose's real downsample (1x1 conv + BN) when the channels change and the
  identity otherwise;
* the stem, the transitions, the multi-resolution fusion and the bottlenecks' 1x1 convolutions
  stay real by default; each is binarized by naming it in ``binary_parts``. The final 1x1 layer
  belongs to the head (:class:`~mmpose.models.heads.HeatmapHead`): binarize it with
  ``final_layer=dict(type='BinaryConv2d', kernel_size=1)``.

BHRNet subclasses HRNet and only swaps its blocks and, on request, the convolutions of the
named parts; checkpoints of the real parts keep HRNet's parameter names.
"""

import copy

import torch.nn as nn
import torch.utils.checkpoint as cp
from mmcv.cnn import build_conv_layer
from mmpose.models.backbones import HRNet
from mmpose.models.backbones.resnet import Bottleneck, get_expansion

from mmbinary.binarizers.base import check_choice
from mmbinary.registry import MODELS
from mmbinary.scope import build_scope

from ..utils import build_act, real_shortcut
from .binary_resnet import DEFAULT_ACT, DEFAULT_BINARY_CONV, BiRealBasicBlock


class BiRealBottleneck(Bottleneck):
    """MMPose's ``Bottleneck`` whose 3x3 conv is binary with its own shortcut.

    ``h = act1(BN1(conv1(x)))``, ``h = act2(BN2(conv2(h)) + s(h))``,
    ``y = act3(BN3(conv3(h)) + shortcut(x))``; ``conv1`` / ``conv3`` (1x1) use ``conv_cfg``
    (real by default), ``conv2`` uses ``binary_conv_cfg``; ``s`` is the identity, or a real
    AvgPool -> 1x1 conv -> BN when ``conv2`` is strided.

    Args:
        binary_conv_cfg (dict): config of the 3x3 conv. Default ``dict(type='BinaryConv2d')``.
        act_cfg (dict): activation after each conv. Default ``dict(type='PReLU')``.
        Other arguments: as :class:`mmpose.models.backbones.resnet.Bottleneck`.
    """

    def __init__(
        self,
        in_channels,
        out_channels,
        expansion=4,
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
            conv_cfg=conv_cfg,
            norm_cfg=norm_cfg or dict(type='BN'),
            init_cfg=init_cfg,
        )
        if downsample is None and (stride != 1 or in_channels != out_channels):
            raise ValueError(
                f'{type(self).__name__}: a downsample module is needed for stride={stride}, '
                f'{in_channels} -> {out_channels} channels'
            )
        self.conv2 = build_conv_layer(
            copy.deepcopy(binary_conv_cfg or DEFAULT_BINARY_CONV),
            self.mid_channels,
            self.mid_channels,
            kernel_size=3,
            stride=self.conv2_stride,
            padding=dilation,
            dilation=dilation,
            bias=False,
        )
        self.conv2_shortcut = real_shortcut(
            self.mid_channels, self.mid_channels, self.conv2_stride, self.norm_cfg
        )
        del self.relu
        act_cfg = act_cfg or DEFAULT_ACT
        self.act1 = build_act(act_cfg, self.mid_channels)
        self.act2 = build_act(act_cfg, self.mid_channels)
        self.act3 = build_act(act_cfg, out_channels)

    def _inner_forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.act1(self.norm1(self.conv1(x)))
        short = out if self.conv2_shortcut is None else self.conv2_shortcut(out)
        out = self.act2(self.norm2(self.conv2(out)) + short)
        return self.act3(self.norm3(self.conv3(out)) + identity)

    def forward(self, x):
        if self.with_cp and x.requires_grad:
            return cp.checkpoint(self._inner_forward, x, use_reentrant=False)
        return self._inner_forward(x)


class _BoundBlock:
    """A block class with extra constructor arguments bound.

    HRNet builds its blocks as ``block(in, out, stride=..., downsample=..., ...)`` and reads
    ``block.expansion``; this stands in for the class and adds ``binary_conv_cfg`` / ``act_cfg``.
    """

    def __init__(self, block, **kwargs):
        self.block = block
        self.kwargs = kwargs
        self.expansion = get_expansion(block)
        self.__name__ = block.__name__

    def __call__(self, *args, **kwargs):
        return self.block(*args, **copy.deepcopy(self.kwargs), **kwargs)


def _binary_copy(conv: nn.Conv2d, cfg: dict) -> nn.Module:
    """A conv built from ``cfg`` with the geometry of ``conv``."""
    return build_conv_layer(
        copy.deepcopy(cfg),
        conv.in_channels,
        conv.out_channels,
        conv.kernel_size,
        stride=conv.stride,
        padding=conv.padding,
        dilation=conv.dilation,
        groups=conv.groups,
        bias=conv.bias is not None,
    )


def _binarize_convs(module: nn.Module, cfg: dict):
    """Replace every plain ``nn.Conv2d`` under ``module`` by a conv built from ``cfg``."""
    for name, child in module.named_children():
        if type(child) is nn.Conv2d:
            setattr(module, name, _binary_copy(child, cfg))
        else:
            _binarize_convs(child, cfg)


def _binarize_attrs(owner: nn.Module, names, cfg: dict):
    """Replace the plain ``nn.Conv2d`` attributes ``names`` of ``owner``."""
    for name in names:
        conv = getattr(owner, name)
        if type(conv) is nn.Conv2d:
            setattr(owner, name, _binary_copy(conv, cfg))


@MODELS.register_module()
class BHRNet(HRNet):
    """Binary HRNet (Bi-Real residual units; real stem / transitions / fusion by default).

    Same arguments as MMPose's :class:`~mmpose.models.backbones.HRNet` (``extra`` with
    ``stage1`` .. ``stage4``, ``in_channels``, ``conv_cfg``, ``norm_cfg``, ``norm_eval``,
    ``with_cp``, ``zero_init_residual``, ``frozen_stages``, ``init_cfg``), where ``conv_cfg``
    is the conv of the *real* layers (stem, transitions, fusion, downsample shortcuts,
    bottleneck 1x1), plus:

    Args:
        binary_conv_cfg (dict): config of every binary conv, e.g. BBC's
            ``dict(type='BinaryConv2d', weight_binarizer='MLPBinarizer', center_weight=True)``.
            Default ``dict(type='BinaryConv2d')`` (STE weights, ApproxSign inputs, mean |w|).
        act_cfg (dict): activation after each binary conv's addition (and in the bottlenecks).
            Default ``dict(type='PReLU')`` (Bi-Real); ``dict(type='Maxout')`` for AdaBin.
        binary_parts (Sequence[str]): real-by-default parts to binarize with
            ``binary_conv_cfg``, any of ``'stem'`` (the two stride-2 3x3 convs),
            ``'transition'``, ``'fusion'`` (the fuse layers' 1x1 and strided 3x3 convs) and
            ``'bottleneck_1x1'``. Default ``()``.

    One learned binarizer (BBC MLP) is shared by all binary convs of one model
    (:mod:`mmbinary.scope`).

    Example:
        >>> import torch
        >>> from mmbinary.models import BHRNet
        >>> extra = dict(
        ...     stage1=dict(num_modules=1, num_branches=1, block='BOTTLENECK',
        ...                 num_blocks=(4,), num_channels=(64,)),
        ...     stage2=dict(num_modules=1, num_branches=2, block='BASIC',
        ...                 num_blocks=(4, 4), num_channels=(32, 64)),
        ...     stage3=dict(num_modules=4, num_branches=3, block='BASIC',
        ...                 num_blocks=(4, 4, 4), num_channels=(32, 64, 128)),
        ...     stage4=dict(num_modules=3, num_branches=4, block='BASIC',
        ...                 num_blocks=(4, 4, 4, 4), num_channels=(32, 64, 128, 256)))
        >>> model = BHRNet(extra).eval()
        >>> [tuple(o.shape) for o in model(torch.rand(1, 3, 256, 192))]
        [(1, 32, 64, 48)]
    """

    PARTS = ('stem', 'transition', 'fusion', 'bottleneck_1x1')
    binary_blocks = {'BASIC': BiRealBasicBlock, 'BOTTLENECK': BiRealBottleneck}

    def __init__(
        self,
        extra,
        in_channels=3,
        conv_cfg=None,
        norm_cfg=None,
        norm_eval=False,
        with_cp=False,
        zero_init_residual=False,
        frozen_stages=-1,
        binary_conv_cfg=None,
        act_cfg=None,
        binary_parts=(),
        init_cfg=None,
    ):
        if init_cfg is None:  # HRNet's default
            init_cfg = [
                dict(type='Normal', std=0.001, layer=['Conv2d']),
                dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm']),
            ]
        binary_parts = tuple(binary_parts)
        for part in binary_parts:
            check_choice(type(self).__name__, 'binary_parts', part, self.PARTS)
        for stage in ('stage1', 'stage2', 'stage3', 'stage4'):
            if stage not in extra:
                raise KeyError(f'{type(self).__name__}: extra has no {stage!r}: {extra}')
            check_choice(
                type(self).__name__,
                f'extra.{stage}.block',
                extra[stage]['block'],
                tuple(self.binary_blocks),
            )
        binary_conv_cfg = copy.deepcopy(binary_conv_cfg or DEFAULT_BINARY_CONV)
        act_cfg = copy.deepcopy(act_cfg or DEFAULT_ACT)
        # HRNet reads ``self.blocks_dict`` while it builds: set it (a plain attribute, allowed
        # before nn.Module.__init__) so that every residual block is a Bi-Real one.
        self.blocks_dict = {
            name: _BoundBlock(block, binary_conv_cfg=binary_conv_cfg, act_cfg=act_cfg)
            for name, block in self.binary_blocks.items()
        }
        with build_scope():  # one shared learned binarizer per network
            super().__init__(
                extra,
                in_channels=in_channels,
                conv_cfg=conv_cfg,
                norm_cfg=copy.deepcopy(norm_cfg or dict(type='BN')),
                norm_eval=norm_eval,
                with_cp=with_cp,
                zero_init_residual=zero_init_residual,
                frozen_stages=frozen_stages,
                init_cfg=init_cfg,
            )
            self.binary_conv_cfg = binary_conv_cfg
            self.act_cfg = act_cfg
            self.binary_parts = binary_parts
            for part in binary_parts:
                self._binarize_part(part, binary_conv_cfg)
        self._freeze_stages()  # again: binarized parts are new modules

    def _binarize_part(self, part, cfg):
        if part == 'stem':
            _binarize_attrs(self, ('conv1', 'conv2'), cfg)
        elif part == 'transition':
            for transition in (self.transition1, self.transition2, self.transition3):
                _binarize_convs(transition, cfg)
        elif part == 'fusion':
            for stage in (self.stage2, self.stage3, self.stage4):
                for hr_module in stage:
                    if hr_module.fuse_layers is not None:
                        _binarize_convs(hr_module.fuse_layers, cfg)
        else:  # bottleneck_1x1
            for block in [m for m in self.modules() if isinstance(m, Bottleneck)]:
                _binarize_attrs(block, ('conv1', 'conv3'), cfg)

    def train(self, mode=True):
        """As HRNet's (frozen stages, ``norm_eval``), and returns ``self`` like ``nn.Module``."""
        super().train(mode)
        return self
