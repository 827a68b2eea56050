"""PyTorch side of the native 1-bit conv: the ``mmbinary::binary_conv2d`` op and
:class:`NativeBinaryConv`, a drop-in for :class:`~mmbinary.deploy.converter.DeployedBinaryConv`.

The op is a :func:`torch.library.custom_op` calling the ctypes binding (:mod:`.bconv`) with a
fake implementation for shapes (``torch.compile`` / ``torch.export``). Its weight is the packed
format v1 as ``int64 [O, kh, kw, words]`` (the ``uint64`` words reinterpreted); a transposed conv
is given as its direct kernel with ``input_dilation`` = its stride (see
:func:`direct_geometry`).
"""

from collections import OrderedDict
from typing import List, Optional

import numpy as np
import torch
from torch import nn

from . import bconv

_CACHE_SIZE = 256
_layers: 'OrderedDict[tuple, bconv._Layer]' = OrderedDict()


def _key(t: Optional[torch.Tensor]):
    return None if t is None else (t.data_ptr(), t._version, tuple(t.shape))


def _np(t: Optional[torch.Tensor]) -> Optional[np.ndarray]:
    return None if t is None else t.detach().contiguous().numpy()


@torch.library.custom_op('mmbinary::binary_conv2d', mutates_args=())
def binary_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    scale: torch.Tensor,
    bias: torch.Tensor,
    window_scale: Optional[torch.Tensor],
    mask_scale: Optional[torch.Tensor],
    mask_window_scale: Optional[torch.Tensor],
    residual: Optional[torch.Tensor],
    prelu: Optional[torch.Tensor],
    channels: int,
    stride: List[int],
    padding: List[int],
    dilation: List[int],
    groups: int,
    input_dilation: List[int],
    threshold: float,
    threads: int,
    isa: str,
) -> torch.Tensor:
    """``epilogue(scale * (B*S) + ... + bias)`` of one binary conv on the native kernel.

    ``padding`` is ``[top, left, bottom, right]``; ``isa`` ``''`` picks the path by
    ``MMBINARY_BCONV_ISA`` / CPUID. The prepared weights of a layer are cached by tensor identity
    and version.
    """
    if x.dtype != torch.float32 or x.device.type != 'cpu':
        raise ValueError(
            f'mmbinary::binary_conv2d runs float32 CPU tensors, got {x.dtype} on {x.device}'
        )
    tensors = (weight, scale, bias, window_scale, mask_scale, mask_window_scale, prelu)
    key = (
        tuple(_key(t) for t in tensors),
        tuple(x.shape[1:]),
        channels,
        tuple(stride),
        tuple(padding),
        tuple(dilation),
        groups,
        tuple(input_dilation),
        float(threshold),
    )
    layer = _layers.get(key)
    if layer is None:
        w = _np(weight).view(np.uint64)
        layer = bconv._Layer(
            w,
            channels,
            tuple(x.shape),
            _np(scale),
            _np(bias),
            tuple(stride),
            tuple(padding),
            tuple(dilation),
            groups,
            tuple(input_dilation),
            threshold,
            _np(window_scale),
            _np(mask_scale),
            _np(mask_window_scale),
            _np(prelu),
        )
        _layers[key] = layer
        if len(_layers) > _CACHE_SIZE:
            _layers.popitem(last=False)
    else:
        _layers.move_to_end(key)
    y = layer.run(x.detach().numpy(), isa or None, threads, _np(residual))
    return torch.from_numpy(y)


@binary_conv2d.register_fake
def _(
    x,
    weight,
    scale,
    bias,
    window_scale,
    mask_scale,
    mask_window_scale,
    residual,
    prelu,
    channels,
    stride,
    padding,
    dilation,
    groups,
    input_dilation,
    threshold,
    threads,
    isa,
):
    kh, kw = weight.shape[1], weight.shape[2]
    ho = bconv.out_size(
        x.shape[2], kh, stride[0], padding[0], padding[2], dilation[0], input_dilation[0]
    )
    wo = bconv.out_size(
        x.shape[3], kw, stride[1], padding[1], padding[3], dilation[1], input_dilation[1]
    )
    return x.new_empty((x.shape[0], weight.shape[0], ho, wo))


def direct_geometry(m) -> dict:
    """The direct-conv arguments of a :class:`DeployedBinaryConv` (docs/deploy.md sec. 3).

    A transposed conv runs its flipped kernel with stride 1 on the input dilated by its
    stride, padded by ``dilation (k - 1) - padding`` (plus ``output_padding`` at the end).
    """
    if m.kind == 'linear':
        return dict(stride=[1, 1], padding=[0, 0, 0, 0], dilation=[1, 1], input_dilation=[1, 1])
    if m.kind == 'conv2d':
        ph, pw = m.padding
        return dict(
            stride=list(m.stride),
            padding=[ph, pw, ph, pw],
            dilation=list(m.dilation),
            input_dilation=[1, 1],
        )
    kh, kw = m.code.shape[2:]
    (dh, dw), (ph, pw), (oh, ow) = m.dilation, m.padding, m.output_padding
    top, left = dh * (kh - 1) - ph, dw * (kw - 1) - pw
    return dict(
        stride=[1, 1],
        padding=[top, left, top + oh, left + ow],
        dilation=[dh, dw],
        input_dilation=list(m.stride),
    )


class NativeBinaryConv(nn.Module):
    """A :class:`DeployedBinaryConv` run by the native kernel (same buffers, same formula).

    Args:
        layer: the deployed layer (its code is packed here once).
        threads (int): worker threads of the kernel.
        isa (str, optional): force an ISA path (default: ``MMBINARY_BCONV_ISA`` / CPUID).
        prelu (Tensor, optional): PReLU slopes ``[O]`` fused after the layer.
    """

    def __init__(self, layer, threads: int = 1, isa: Optional[str] = None, prelu=None):
        super().__init__()
        from mmbinary.deploy.packing import pack_code

        self.kind, self.groups, self.threshold = layer.kind, layer.groups, layer.threshold
        self.threads, self.isa = int(threads), isa or ''
        packed, self.channels = pack_code(layer.kind, layer.code, layer.groups)
        self.register_buffer('weight', torch.from_numpy(packed.view(np.int64).copy()))
        for name in ('scale', 'bias', 'window_scale', 'mask_scale', 'mask_window_scale'):
            value = getattr(layer, name)
            if value is None:
                setattr(self, name, None)
            else:
                self.register_buffer(name, value.detach().float().contiguous().clone())
        self.prelu = None if prelu is None else prelu.detach().float().contiguous()
        self.geometry = direct_geometry(layer)
        self.reference = layer

    def forward(self, x: torch.Tensor, residual: Optional[torch.Tensor] = None) -> torch.Tensor:
        if x.dtype != torch.float32 or x.device.type != 'cpu' or x.requires_grad:
            return self._reference(x, residual)
        lead = None
        if self.kind == 'linear':
            lead = x.shape[:-1]
            x = x.reshape(-1, x.shape[-1], 1, 1)
            if residual is not None:
                residual = residual.reshape(-1, residual.shape[-1], 1, 1)
        y = binary_conv2d(
            x.contiguous(),
            self.weight,
            self.scale,
            self.bias,
            self.window_scale,
            self.mask_scale,
            self.mask_window_scale,
            None if residual is None else residual.contiguous(),
            self.prelu,
            self.channels,
            groups=self.groups,
            threshold=self.threshold,
            threads=self.threads,
            isa=self.isa,
            **self.geometry,
        )
        return y if lead is None else y.reshape(*lead, y.shape[1])

    def _reference(self, x, residual):
        """The PyTorch composition (autograd, other dtypes / devices)."""
        y = self.reference(x)
        if residual is not None:
            y = y + residual
        if self.prelu is not None:
            slope = self.prelu.to(y).view((1, -1) + (1,) * (y.dim() - 2))
            y = torch.where(y >= 0, y, slope * y)
        return y

    def extra_repr(self) -> str:
        return (
            f'{self.kind}, weight={tuple(self.weight.shape)}, channels={self.channels}, '
            f'groups={self.groups}, {self.geometry}, isa={self.isa or "auto"}, '
            f'threads={self.threads}'
        )
