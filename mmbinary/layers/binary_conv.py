"""Binary convolution and linear layers.

A binary layer holds a *weight binarizer* and an *input binarizer*, each chosen by config (or
``None`` to keep that operand real), plus an optional per-output-channel weight scale. The layer
itself knows nothing of any method: adding a binarization method means adding a binarizer.

Effective weight, per output channel ``o``::

    w_c = w - mean(w[o])           if center_weight (BBC: centring is not detached)
    b   = weight_binarizer(w_c)    (sign-valued, or AdaBin's {beta - alpha, beta + alpha})
    w_b = scale[o] * b             scale: 'none' -> 1, 'mean_abs' -> mean |w_c[o]| (detached,
                                   XNOR / BBC), 'learnable' -> a parameter (init mean |w[o]|)

``BinaryConv2d`` is registered in MMEngine's root ``MODELS`` (through :mod:`mmbinary.registry`),
so ``mmcv.cnn.build_conv_layer(dict(type='BinaryConv2d', ...), 64, 64, 3, padding=1)`` works from
the ``mmpose`` and ``mmpretrain`` default scopes and an existing backbone is binarized by its
``conv_cfg``.
"""

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from mmbinary.binarizers.base import check_choice
from mmbinary.binarizers.builder import BinarizerCfg, build_binarizer
from mmbinary.registry import MODELS

WEIGHT_SCALES = ('none', 'mean_abs', 'learnable')
BINARY_ARGS = ('weight_binarizer', 'input_binarizer', 'weight_scale', 'center_weight')


class BinaryLayerMixin:
    """Binarizers, scaling and centring shared by the binary layers, and their one ``__init__``.

    Put first in the bases of a torch layer (``class BinaryConv2d(BinaryLayerMixin,
    nn.Conv2d)``): every positional and other keyword argument goes to the torch layer, the four
    below to the binarization. Binarizers and scales work per output channel on dimension 0. A
    layer whose weight keeps output channels elsewhere (transposed conv: dim 1) sets
    ``_out_dim`` and the weight is transposed around the binarization.

    Args:
        weight_binarizer (dict | str | None): binarizer of the weight; ``None`` keeps it real.
            Default: ``'STE'``.
        input_binarizer (dict | str | None): binarizer of the input; ``None`` keeps it real.
            Default: ``'ApproxSign'`` (Bi-Real).
        weight_scale (str): ``'none'``, ``'mean_abs'`` (default) or ``'learnable'``.
        center_weight (bool): subtract the per-output-channel mean before binarizing (BBC).
    """

    _out_dim = 0

    def __init__(
        self,
        *args,
        weight_binarizer: BinarizerCfg = 'STE',
        input_binarizer: BinarizerCfg = 'ApproxSign',
        weight_scale: Optional[str] = 'mean_abs',
        center_weight: bool = False,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        weight_scale = 'none' if weight_scale is None else weight_scale
        check_choice(type(self).__name__, 'weight_scale', weight_scale, WEIGHT_SCALES)
        self.weight_binarizer = build_binarizer(weight_binarizer)
        self.input_binarizer = build_binarizer(input_binarizer)
        self.weight_scale = weight_scale
        self.center_weight = bool(center_weight)
        if weight_scale == 'learnable':
            with torch.no_grad():
                init = _channel_mean(self._out_first(self.weight).abs()).flatten()
            self.scale = nn.Parameter(init.clone())
        else:
            self.register_parameter('scale', None)

    def _out_first(self, w: torch.Tensor) -> torch.Tensor:
        return w if self._out_dim == 0 else w.transpose(0, self._out_dim)

    def binary_weight(self) -> torch.Tensor:
        """The effective weight of the layer (exactly the binary set in eval mode)."""
        w = self._out_first(self.weight)
        if self.center_weight:
            w = w - _channel_mean(w)
        if self.weight_binarizer is not None:
            b = self.weight_binarizer(w)
            if self.weight_scale == 'mean_abs':
                b = b * _channel_mean(w.abs()).detach()
            elif self.weight_scale == 'learnable':
                b = b * self.scale.view([-1] + [1] * (w.dim() - 1))
            w = b
        return self._out_first(w)

    @torch.no_grad()
    def weight_code(self) -> torch.Tensor:
        """The {-1, +1} code of the binary weight (layout of ``weight``); ``None`` if real."""
        if self.weight_binarizer is None:
            return None
        w = self._out_first(self.weight)
        if self.center_weight:
            w = w - _channel_mean(w)
        return self._out_first(self.weight_binarizer.code(w))

    def binary_input(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.input_binarizer is None else self.input_binarizer(x)

    def extra_repr(self) -> str:
        s = super().extra_repr()
        return (
            f'{s}, weight_binarizer={_name(self.weight_binarizer)}, '
            f'input_binarizer={_name(self.input_binarizer)}, weight_scale={self.weight_scale}, '
            f'center_weight={self.center_weight}'
        )


def _channel_mean(w: torch.Tensor) -> torch.Tensor:
    """Mean over every dimension but dimension 0 (output channels), keeping dims."""
    return w.mean(dim=tuple(range(1, w.dim())), keepdim=True)


def _name(binarizer) -> str:
    return 'None (full precision)' if binarizer is None else type(binarizer).__name__


@MODELS.register_module()
class BinaryConv2d(BinaryLayerMixin, nn.Conv2d):
    """2-D convolution with binarized weights and inputs.

    Takes every argument of :class:`torch.nn.Conv2d` (any kernel, stride, padding, dilation,
    groups), plus ``weight_binarizer``, ``input_binarizer``, ``weight_scale`` and
    ``center_weight`` (see :class:`BinaryLayerMixin`).

    Zero padding pads the *binarized* input with 0, as PyTorch does: a 1-bit engine, where a
    bit can only be +1 or -1, must reproduce it with an explicit pad value.

    Example:
        >>> import torch
        >>> from mmcv.cnn import build_conv_layer
        >>> conv = build_conv_layer(dict(type='BinaryConv2d'), 16, 32, 3, padding=1)
        >>> conv(torch.randn(2, 16, 8, 8)).shape
        torch.Size([2, 32, 8, 8])
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(self.binary_input(x), self.binary_weight(), self.bias)


@MODELS.register_module()
class BinaryConvTranspose2d(BinaryLayerMixin, nn.ConvTranspose2d):
    """Transposed convolution with binarized weights and inputs (for binary upsampling heads).

    Same binarizer arguments as :class:`BinaryConv2d`; output channels are dimension 1 of the
    weight.
    """

    _out_dim = 1

    def forward(self, x: torch.Tensor, output_size=None) -> torch.Tensor:
        output_padding = self._output_padding(
            x, output_size, self.stride, self.padding, self.kernel_size, 2, self.dilation
        )
        return F.conv_transpose2d(
            self.binary_input(x),
            self.binary_weight(),
            self.bias,
            self.stride,
            self.padding,
            output_padding,
            self.groups,
            self.dilation,
        )


@MODELS.register_module()
class BinaryLinear(BinaryLayerMixin, nn.Linear):
    """Linear layer with binarized weights and inputs; arguments as :class:`BinaryConv2d`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(self.binary_input(x), self.binary_weight(), self.bias)
