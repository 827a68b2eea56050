"""SBPN's heatmap head: SimpleBaseline's upsampling head, real or binary by config.

SBPN ("simple binary pose network", BBC, He et al., TCSVT 2023) is a binary ResNet backbone with
a SimpleBaseline head; the paper does not publish its design, so this head is our
reconstruction, with every choice a config switch:

* three x2 upsampling stages of 256 channels, then a 1x1 conv to K heatmaps (Xiao et al. 2018);
* ``upsample_mode='deconv'``: 4x4 stride-2 transposed conv -> BN -> act per stage;
  ``upsample_mode='upsample_conv'``: x2 upsampling -> 3x3 conv -> BN -> act;
* each stage's conv is real (``deconv_cfg`` / ``conv_cfg`` = ``None``) or binary, e.g.
  ``deconv_cfg=dict(type='BinaryConvTranspose2d', ...)`` or ``conv_cfg=dict(type='BinaryConv2d')``;
* a binary stage gets a Bi-Real shortcut by default: ``y = act(BN(layer(x)) + shortcut(x))`` with
  ``shortcut(x) = up2(x)``, or ``up2(BN(conv1x1(x)))`` (real) when the channels change;
* the final 1x1 layer stays real (``final_layer``, as :class:`HeatmapHead`);
* learned binarizers (BBC's MLP) are shared by every binary layer of the model, head and
  backbone alike (one :func:`~mmbinary.scope.build_scope` per model).

With the defaults (real deconvs, no shortcut) the head *is* MMPose's ``HeatmapHead``, parameter
names included. Loss, decoding, flip test and prediction are inherited from it.
"""

import copy
from typing import Optional, Sequence

from mmcv.cnn import build_conv_layer, build_upsample_layer
from mmengine.model import BaseModule
from mmpose.models.heads import HeatmapHead
from torch import nn

from mmbinary.binarizers.base import check_choice
from mmbinary.registry import MODELS
from mmbinary.scope import build_scope

from ..utils import build_act

# kernel size -> (padding, output_padding) of a stride-2 transposed conv that doubles the size
DECONV_PADDING = {4: (1, 0), 3: (1, 1), 2: (0, 0)}


class UpsampleUnit(BaseModule):
    """One x2 stage: ``act(BN(layer(x)) [+ shortcut(x)])``.

    Args:
        in_channels (int), out_channels (int), kernel_size (int): of the stage's conv.
        upsample_mode (str): ``'deconv'`` or ``'upsample_conv'``.
        layer_cfg (dict, optional): conv config (``None`` = real ``deconv`` / ``Conv2d``).
        act_cfg (dict): activation config.
        shortcut (bool): add the Bi-Real shortcut.
        upsample_cfg (dict): ``nn.Upsample`` arguments (besides ``scale_factor=2``) used by
            ``'upsample_conv'`` and by the shortcut.
    """

    def __init__(
        self,
        in_channels,
        out_channels,
        kernel_size,
        upsample_mode,
        layer_cfg,
        act_cfg,
        shortcut,
        upsample_cfg,
    ):
        super().__init__()
        if upsample_mode == 'deconv':
            if kernel_size not in DECONV_PADDING:
                raise ValueError(
                    f'SBPNHead: deconv kernel size must be one of {sorted(DECONV_PADDING)}, '
                    f'got {kernel_size!r}'
                )
            padding, output_padding = DECONV_PADDING[kernel_size]
            self.upsample = None
            self.conv = build_upsample_layer(
                dict(copy.deepcopy(layer_cfg) if layer_cfg else dict(type='deconv')),
                in_channels=in_channels,
                out_channels=out_channels,
                kernel_size=kernel_size,
                stride=2,
                padding=padding,
                output_padding=output_padding,
                bias=False,
            )
        else:
            if not isinstance(kernel_size, int) or kernel_size % 2 == 0:
                raise ValueError(
                    f'SBPNHead: upsample_conv kernel size must be an odd int, got {kernel_size!r}'
                )
            self.upsample = nn.Upsample(scale_factor=2, **upsample_cfg)
            self.conv = build_conv_layer(
                copy.deepcopy(layer_cfg),
                in_channels,
                out_channels,
                kernel_size,
                padding=kernel_size // 2,
                bias=False,
            )
        self.norm = nn.BatchNorm2d(out_channels)
        self.act = build_act(act_cfg, out_channels)
        self.shortcut = None
        if shortcut:
            layers = []
            if in_channels != out_channels:
                layers += [
                    nn.Conv2d(in_channels, out_channels, 1, bias=False),
                    nn.BatchNorm2d(out_channels),
                ]
            layers.append(nn.Upsample(scale_factor=2, **upsample_cfg))
            self.shortcut = nn.Sequential(*layers)

    def forward(self, x):
        y = self.norm(self.conv(x if self.upsample is None else self.upsample(x)))
        if self.shortcut is not None:
            y = y + self.shortcut(x)
        return self.act(y)


@MODELS.register_module()
class SBPNHead(HeatmapHead):
    """SimpleBaseline heatmap head with real or binary upsampling stages [reconstruction].

    Args:
        in_channels (int): channels of the backbone's last feature map.
        out_channels (int): number of keypoints K.
        deconv_out_channels (Sequence[int]): channels of each x2 stage. Default (256, 256, 256).
        deconv_kernel_sizes (Sequence[int]): kernel of each stage's conv: 4, 3 or 2 for
            ``'deconv'``, odd for ``'upsample_conv'``. Default (4, 4, 4).
        upsample_mode (str): ``'deconv'`` (default) or ``'upsample_conv'``.
        deconv_cfg (dict, optional): transposed-conv config for ``'deconv'``; ``None`` = real,
            ``dict(type='BinaryConvTranspose2d', weight_binarizer=..., ...)`` = binary.
        conv_cfg (dict, optional): conv config for ``'upsample_conv'``; ``None`` = real,
            ``dict(type='BinaryConv2d', ...)`` = binary.
        act_cfg (dict): activation of each stage. Default ``dict(type='ReLU')`` (SimpleBaseline);
            binary heads usually take ``dict(type='PReLU')``.
        shortcut (bool, optional): Bi-Real shortcut around each stage; ``None`` (default) = only
            when the stage's conv is binary (its config is not ``None``).
        upsample_cfg (dict): ``nn.Upsample`` arguments besides ``scale_factor``.
            Default ``dict(mode='nearest')``.
        final_layer (dict): the final conv (real 1x1 by default), as :class:`HeatmapHead`.
        loss, decoder, init_cfg: as :class:`HeatmapHead`.

    Example:
        >>> import torch
        >>> from mmbinary.models import SBPNHead
        >>> head = SBPNHead(512, 17, deconv_cfg=dict(type='BinaryConvTranspose2d'),
        ...                 act_cfg=dict(type='PReLU'))
        >>> head((torch.rand(1, 512, 8, 6),)).shape
        torch.Size([1, 17, 64, 48])
    """

    MODES = ('deconv', 'upsample_conv')

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        deconv_out_channels: Sequence[int] = (256, 256, 256),
        deconv_kernel_sizes: Sequence[int] = (4, 4, 4),
        upsample_mode: str = 'deconv',
        deconv_cfg: Optional[dict] = None,
        conv_cfg: Optional[dict] = None,
        act_cfg: Optional[dict] = None,
        shortcut: Optional[bool] = None,
        upsample_cfg: Optional[dict] = None,
        final_layer: dict = dict(kernel_size=1),  # noqa: B006 (as HeatmapHead)
        loss: dict = dict(type='KeypointMSELoss', use_target_weight=True),  # noqa: B006
        decoder: Optional[dict] = None,
        init_cfg: Optional[dict] = None,
    ):
        check_choice(type(self).__name__, 'upsample_mode', upsample_mode, self.MODES)
        if not deconv_out_channels:
            raise ValueError(
                f'{type(self).__name__}: deconv_out_channels must name at least one stage, '
                f'got {deconv_out_channels!r}'
            )
        # Read by _make_deconv_layers, which HeatmapHead.__init__ calls (plain attributes may
        # be set before nn.Module.__init__).
        self.upsample_mode = upsample_mode
        self.layer_cfg = deconv_cfg if upsample_mode == 'deconv' else conv_cfg
        self.act_cfg = copy.deepcopy(act_cfg) if act_cfg else dict(type='ReLU')
        self.shortcut = (self.layer_cfg is not None) if shortcut is None else bool(shortcut)
        self.upsample_cfg = copy.deepcopy(upsample_cfg) if upsample_cfg else dict(mode='nearest')
        with build_scope():  # built directly: its binary layers share one learned binarizer
            super().__init__(
                in_channels,
                out_channels,
                deconv_out_channels=deconv_out_channels,
                deconv_kernel_sizes=deconv_kernel_sizes,
                final_layer=final_layer,
                loss=loss,
                decoder=decoder,
                init_cfg=init_cfg,
            )

    @property
    def is_simple_baseline(self) -> bool:
        """True when the stages are exactly MMPose's ``HeatmapHead`` (real deconv + BN + ReLU)."""
        return (
            self.upsample_mode == 'deconv'
            and self.layer_cfg is None
            and not self.shortcut
            and self.act_cfg == dict(type='ReLU')
        )

    def _make_deconv_layers(self, in_channels, layer_out_channels, layer_kernel_sizes):
        if self.is_simple_baseline:
            return super()._make_deconv_layers(in_channels, layer_out_channels, layer_kernel_sizes)
        layers = []
        for out_channels, kernel_size in zip(layer_out_channels, layer_kernel_sizes):
            layers.append(
                UpsampleUnit(
                    in_channels,
                    out_channels,
                    kernel_size,
                    self.upsample_mode,
                    self.layer_cfg,
                    self.act_cfg,
                    self.shortcut,
                    self.upsample_cfg,
                )
            )
            in_channels = out_channels
        return nn.Sequential(*layers)
