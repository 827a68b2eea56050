"""PyTorch side of the native 1-bit conv: the ``mmbinary::binary_conv2d`` op and
:class:`NativeBinaryConv`, a drop-in for :class:`~mmbinary.deploy.converter.DeployedBinaryConv`.

The op is a :func:`torch.library.custom_op` calling the ctypes binding (:mod:`.bconv`) with a
fake implementation for shapes (``torch.compile`` / ``torch.export``); on a torch older than 2.4
(no ``custom_op``) ``binary_conv2d`` is the same function without the registration. Its weight
is the packed format v1 as ``int64 [O, kh, kw, words]`` (the ``uint64`` words reinterpreted); a
transposed conv is given as its direct kernel with ``input_dilation`` = its stride (see
:func:`direct_geometry`).
"""

from collections import OrderedDict
from typing import List, Optional, Tuple

import numpy as np
import torch
from torch import nn

from . import bconv

_CACHE_SIZE = 1024  # prepared layers (weights in the ISA layout + tables), LRU
_layers: 'OrderedDict[tuple, bconv._Layer]' = OrderedDict()


def _key(t: Optional[torch.Tensor]):
    return None if t is None else (t.data_ptr(), t._version, tuple(t.shape))


def _np(t: Optional[torch.Tensor]) -> Optional[np.ndarray]:
    return None if t is None else t.detach().contiguous().numpy()


def _binary_conv2d(
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
    pre_shift: Optional[torch.Tensor] = None,
    post_shift: Optional[torch.Tensor] = None,
    sign_output: bool = False,
    pos_slope: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """``epilogue(scale * (B*S) + ... + bias)`` of one binary conv on the native kernel.

    ``padding`` is ``[top, left, bottom, right]``; ``isa`` ``''`` picks the path by
    ``MMBINARY_BCONV_ISA`` / CPUID; ``pre_shift`` / ``post_shift`` are RPReLU's shifts,
    ``pos_slope`` Maxout's ``g+`` (with ``prelu`` = ``g-``) and ``sign_output`` writes the
    exact ``+1 / -1`` sign (:func:`.bconv.bconv2d`). The prepared weights of a layer are cached
    by tensor identity and version.
    """
    if x.dtype != torch.float32 or x.device.type != 'cpu':
        raise ValueError(
            f'mmbinary::binary_conv2d runs float32 CPU tensors, got {x.dtype} on {x.device}'
        )
    tensors = (
        weight,
        scale,
        bias,
        window_scale,
        mask_scale,
        mask_window_scale,
        prelu,
        pre_shift,
        post_shift,
        pos_slope,
    )
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
        bool(sign_output),
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
            _np(pre_shift),
            _np(post_shift),
            bool(sign_output),
            _np(pos_slope),
        )
        _layers[key] = layer
        if len(_layers) > _CACHE_SIZE:
            _layers.popitem(last=False)
    else:
        _layers.move_to_end(key)
    y = layer.run(x.detach().numpy(), isa or None, threads, _np(residual))
    return torch.from_numpy(y)


def _binary_conv2d_fake(
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
    pre_shift=None,
    post_shift=None,
    sign_output=False,
    pos_slope=None,
):
    kh, kw = weight.shape[1], weight.shape[2]
    ho = bconv.out_size(
        x.shape[2], kh, stride[0], padding[0], padding[2], dilation[0], input_dilation[0]
    )
    wo = bconv.out_size(
        x.shape[3], kw, stride[1], padding[1], padding[3], dilation[1], input_dilation[1]
    )
    return x.new_empty((x.shape[0], weight.shape[0], ho, wo))


if hasattr(torch.library, 'custom_op'):  # torch >= 2.4
    binary_conv2d = torch.library.custom_op('mmbinary::binary_conv2d', mutates_args=())(
        _binary_conv2d
    )
    binary_conv2d.register_fake(_binary_conv2d_fake)
else:  # an older torch (mmbinary supports 2.1): the same function, called directly
    binary_conv2d = _binary_conv2d


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

    A strided transposed conv is passed in its direct form (input dilated by the stride); the
    kernel runs it as ``stride²`` sub-pixel direct convs (``mmb_bconv.h``), ``stride²`` times
    less work than the direct form.

    Args:
        layer: the deployed layer (its code is packed here once).
        threads (int): worker threads of the kernel.
        isa (str, optional): force an ISA path (default: ``MMBINARY_BCONV_ISA`` / CPUID).
        prelu (Tensor, optional): PReLU slopes ``[O]`` fused after the layer (and residual).
        pre_shift, post_shift (Tensor, optional): RPReLU's shifts ``[O]``:
            ``y = PReLU(y - pre_shift) + post_shift``.
        pos_slope (Tensor, optional): slopes ``[O]`` for ``y >= 0`` of the PReLU step (default
            1): with ``prelu`` = ``g-`` it is AdaBin's Maxout.
        sign_output (bool): write ``+1 / -1``, the sign of the layer's output as the exact
            integer threshold of ``B*S`` (self-binarizing nets; only without AdaBin terms,
            residual, PReLU, shifts or ``pos_slope``). Default False.
    """

    fuses_epilogue = True  # fuse_blocks may fuse the shortcut add and the activation

    def __init__(
        self,
        layer,
        threads: int = 1,
        isa: Optional[str] = None,
        prelu=None,
        pre_shift=None,
        post_shift=None,
        sign_output: bool = False,
        pos_slope=None,
    ):
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
        self.pre_shift = None if pre_shift is None else pre_shift.detach().float().contiguous()
        self.post_shift = None if post_shift is None else post_shift.detach().float().contiguous()
        self.sign_output = bool(sign_output)
        self.pos_slope = None if pos_slope is None else pos_slope.detach().float().contiguous()
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
        residual = None if residual is None else residual.contiguous()
        y = self._call(x.contiguous(), self.weight, residual, self.geometry)
        return y if lead is None else y.reshape(*lead, y.shape[1])

    def _call(self, x, weight, residual, geometry):
        """One native call with this layer's epilogue."""
        return binary_conv2d(
            x,
            weight,
            self.scale,
            self.bias,
            self.window_scale,
            self.mask_scale,
            self.mask_window_scale,
            residual,
            self.prelu,
            self.channels,
            groups=self.groups,
            threshold=self.threshold,
            threads=self.threads,
            isa=self.isa,
            pre_shift=self.pre_shift,
            post_shift=self.post_shift,
            sign_output=self.sign_output,
            pos_slope=self.pos_slope,
            **geometry,
        )

    def _reference(self, x, residual):
        """The PyTorch composition (autograd, other dtypes / devices)."""
        y = self.reference(x)
        if residual is not None:
            y = y + residual
        shape = (1, -1) + (1,) * (y.dim() - 2)
        if self.pre_shift is not None:
            y = y - self.pre_shift.to(y).view(shape)
        if self.prelu is not None or self.pos_slope is not None:
            neg = y if self.prelu is None else self.prelu.to(y).view(shape) * y
            pos = y if self.pos_slope is None else self.pos_slope.to(y).view(shape) * y
            y = torch.where(y >= 0, pos, neg)
        if self.post_shift is not None:
            y = y + self.post_shift.to(y).view(shape)
        if self.sign_output:
            y = torch.where(y >= 0, 1.0, -1.0).to(y)
        return y

    def extra_repr(self) -> str:
        return (
            f'{self.kind}, weight={tuple(self.weight.shape)}, channels={self.channels}, '
            f'groups={self.groups}, {self.geometry}, isa={self.isa or "auto"}, '
            f'threads={self.threads}'
        )


def _prelu_slopes(act: nn.Module, channels: int) -> Optional[torch.Tensor]:
    """``[channels]`` slopes if ``act`` is exactly ``nn.PReLU``, else ``None``."""
    if type(act) is not nn.PReLU:
        return None
    w = act.weight.detach().float().reshape(-1)
    if w.numel() not in (1, channels):
        return None
    return w.expand(channels).contiguous()


def _epilogue_act(act: nn.Module, channels: int) -> Optional[tuple]:
    """``(prelu, pre_shift, post_shift, pos_slope)`` of an ``nn.PReLU``, ``RPReLU`` or
    ``Maxout`` (``g+ ReLU(y) - g- ReLU(-y)``: slopes ``g-`` / ``g+``), else ``None``."""
    from mmbinary.layers.activation import Maxout, RPReLU

    def flat(t):
        return t.detach().float().reshape(-1).contiguous()

    if type(act) is Maxout:
        if act.pos_scale.numel() != channels or act.neg_scale.numel() != channels:
            return None
        return flat(act.neg_scale), None, None, flat(act.pos_scale)
    if type(act) is RPReLU:
        slopes = _prelu_slopes(act.prelu, channels)
        if slopes is None or act.shift_in.numel() != channels:
            return None
        return slopes, flat(act.shift_in), flat(act.shift_out), None
    slopes = _prelu_slopes(act, channels)
    return None if slopes is None else (slopes, None, None, None)


def _fuse(conv, norm, act) -> Optional[tuple]:
    """``(conv, act_after)``: the add and (if PReLU, RPReLU or Maxout) the activation fused.

    ``conv`` is a :class:`NativeBinaryConv` or any module with its epilogue interface
    (``fuses_epilogue = True``, ``kind``, ``scale``, ``sign_output``, the activation attributes
    and ``forward(x, residual)``): the OpenVINO export's marker convs fuse the same way.
    """
    if not getattr(conv, 'fuses_epilogue', False) or not isinstance(norm, nn.Identity):
        return None
    if conv.kind != 'conv2d' or conv.prelu is not None or conv.sign_output:
        return None
    fused = _epilogue_act(act, conv.scale.numel())
    if fused is not None:
        conv.prelu, conv.pre_shift, conv.post_shift, conv.pos_slope = fused
    return conv, (None if fused is not None else act)


def _unfuse(conv) -> None:
    conv.prelu = conv.pre_shift = conv.post_shift = conv.pos_slope = None


def fuse_blocks(net: nn.Module) -> int:
    """Fuse ``act(conv(x) + shortcut)`` of Bi-Real units into their native convs, in place.

    For :class:`~mmbinary.models.backbones.binary_resnet.BinaryConvUnit` and
    :class:`~mmbinary.models.backbones.binary_resnet.BiRealBasicBlock` whose binary conv runs
    natively and whose BatchNorm was folded (``nn.Identity``): the shortcut is added in the
    kernel's epilogue, and an ``nn.PReLU``, ``RPReLU`` or ``Maxout`` activation is applied there
    too (another activation runs after, unchanged). Returns the number of fused convs.
    """
    import types

    from mmbinary.models.backbones.binary_resnet import BinaryConvUnit, BiRealBasicBlock

    fused = 0
    for m in net.modules():
        if isinstance(m, BinaryConvUnit):
            got = _fuse(m.conv, m.norm, m.act)
            if got is None:
                continue

            def unit_forward(self, x, _conv=got[0], _act=got[1]):
                identity = x if self.shortcut is None else self.shortcut(x)
                y = _conv(x, identity)
                return y if _act is None else _act(y)

            m.forward = types.MethodType(unit_forward, m)
            fused += 1
        elif isinstance(m, BiRealBasicBlock):
            one = _fuse(m.conv1, m.norm1, m.act1)
            two = _fuse(m.conv2, m.norm2, m.act2) if one else None
            if one is None or two is None:
                if one is not None:  # undo: keep the block as it was
                    _unfuse(m.conv1)
                continue

            def block_forward(self, x, _one=one, _two=two):
                identity = x if self.downsample is None else self.downsample(x)
                out = _one[0](x, identity)
                out = out if _one[1] is None else _one[1](out)
                y = _two[0](out, out)
                return y if _two[1] is None else _two[1](y)

            m._inner_forward = types.MethodType(block_forward, m)
            fused += 2
    return fused


def to_native(net: nn.Module, threads: int = 1, isa: Optional[str] = None) -> Tuple[int, int]:
    """Run every ``DeployedBinaryConv`` of a converted ``net`` on the native kernel, in place.

    Each one becomes a :class:`NativeBinaryConv`, then :func:`fuse_blocks` fuses the shortcut add
    and PReLU of Bi-Real units. Returns ``(binary layers, fused units)``.
    """
    from mmbinary.deploy.converter import DeployedBinaryConv, _set_submodule

    layers = [(p, m) for p, m in net.named_modules() if isinstance(m, DeployedBinaryConv)]
    for path, m in layers:
        _set_submodule(net, path, NativeBinaryConv(m, threads=threads, isa=isa))
    return len(layers), fuse_blocks(net)
