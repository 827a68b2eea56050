"""Converter: an eval-mode model -> its inference form, every 1-bit factor folded into constants.

Every binary layer (both operands binarized) becomes a :class:`DeployedBinaryConv`, whose weights
are the constant {-1, +1} code and whose real factors are folded per output channel. With the
weight ``W[o] = a[o] B[o] + c[o]`` (``B`` the code; ``c = 0`` for every sign binarizer, AdaBin's
``beta_w`` otherwise) and the input ``X = p S + q`` with ``S = sign(x - t)`` (sign(0) = +1;
``p = 1, q = t = 0`` for every sign binarizer, AdaBin's ``alpha_a``, ``beta_a`` otherwise), the
layer output is, with ``*`` the layer's operator (conv, transposed conv or linear) and zero
padding of ``X`` (the training semantics: a padded tap is 0, neither +1 nor ``q``)::

    Y = a p (B * S) + c p (1 * S) + a q (B * M) + c q (1 * M) + bias

``B * S`` is the XNOR-popcount term; ``1 * S`` is the sum of the input window (one popcount per
output position, shared by the output channels of a group); ``M`` is the mask of non-padded
taps (all ones before padding), so the two ``M`` terms are constants of the position (the
identity of AdaBin, ../docs/deploy.md). A BatchNorm that reads only the layer's output is folded
into the four per-channel factors and the bias (``k = gamma / sqrt(var + eps)``,
``bias' = k (bias - mean) + beta``). A layer with one operand binarized becomes a plain real
layer (weights folded, or an explicit input sign in front).
"""

import copy
import warnings
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from mmbinary.binarizers import AdaBinActivation, BaseBinarizer
from mmbinary.layers import BinaryConv2d, BinaryConvTranspose2d, BinaryLayerMixin, BinaryLinear

KINDS = ('conv2d', 'conv_transpose2d', 'linear')
TERMS = ('scale', 'bias', 'window_scale', 'mask_scale', 'mask_window_scale')


class DeployError(ValueError):
    """A model (or one of its layers) that cannot be exported, with the reason."""


def sign_pm1(x: torch.Tensor, threshold) -> torch.Tensor:
    """``+1 where x >= threshold else -1`` (mmbinary's sign(0) = +1), in the dtype of ``x``.

    Written as a select between two constants so that a back end can prove its output is +/-1.
    """
    return torch.where(x >= threshold, 1.0, -1.0).to(x.dtype)


class InputSign(nn.Module):
    """``p sign(x - t) + q``: an explicit input binarization in front of a real layer."""

    def __init__(self, threshold: float, gain: float = 1.0, offset: float = 0.0):
        super().__init__()
        self.threshold, self.gain, self.offset = float(threshold), float(gain), float(offset)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = sign_pm1(x, self.threshold)
        if self.gain != 1.0:
            s = s * self.gain
        return s + self.offset if self.offset != 0.0 else s


class DeployedBinaryConv(nn.Module):
    """A binary conv / transposed conv / linear in inference form (formula in the module doc).

    Buffers: ``code`` (+/-1, the layout of the original weight), ``scale`` = ``a p``, ``bias``,
    and only where non-zero ``window_scale`` = ``c p``, ``mask_scale`` = ``a q``,
    ``mask_window_scale`` = ``c q`` (all per output channel, BatchNorm folded in);
    ``threshold`` = ``t`` of the input sign. Nothing is re-binarized per call.

    Args:
        kind (str): ``'conv2d'``, ``'conv_transpose2d'`` or ``'linear'``.
        code (Tensor): the {-1, +1} weight code.
        threshold (float): the input sign's threshold ``t``.
        scale, bias (Tensor): per output channel.
        window_scale, mask_scale, mask_window_scale (Tensor, optional): per output channel.
        stride, padding, dilation, groups, output_padding: the layer's own.
    """

    def __init__(
        self,
        kind: str,
        code: torch.Tensor,
        threshold: float,
        scale: torch.Tensor,
        bias: torch.Tensor,
        window_scale: Optional[torch.Tensor] = None,
        mask_scale: Optional[torch.Tensor] = None,
        mask_window_scale: Optional[torch.Tensor] = None,
        stride=1,
        padding=0,
        dilation=1,
        groups: int = 1,
        output_padding=0,
    ):
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f'DeployedBinaryConv: kind must be one of {list(KINDS)}, got {kind!r}')
        self.kind, self.threshold, self.groups = kind, float(threshold), int(groups)
        self.stride, self.padding = _pair(stride), _pair(padding)
        self.dilation, self.output_padding = _pair(dilation), _pair(output_padding)
        self.register_buffer('code', code.float().contiguous())
        ones = torch.ones(self._ones_shape())
        optional = dict(
            scale=scale,
            bias=bias,
            window_scale=window_scale,
            mask_scale=mask_scale,
            mask_window_scale=mask_window_scale,
        )
        present = any(optional[n] is not None for n in TERMS[2:])
        optional['ones'] = ones if present else None
        for name, value in optional.items():
            # an absent term is a plain None attribute, not a None buffer: torch.export
            # mis-indexes the buffers when a None buffer sits between two tensors
            if value is None:
                setattr(self, name, None)
            else:
                self.register_buffer(name, value.float().contiguous())

    @property
    def out_channels(self) -> int:
        return self.scale.numel()

    def _ones_shape(self):
        if self.kind == 'linear':
            return (1, self.code.shape[1])
        if self.kind == 'conv2d':  # one output per group: the window sum of that group's inputs
            return (self.groups,) + tuple(self.code.shape[1:])
        return (self.code.shape[0], 1) + tuple(self.code.shape[2:])  # transposed: [Cin, 1, kh, kw]

    def op(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """The layer's operator (no bias) applied to ``x`` with ``weight``."""
        if self.kind == 'linear':
            return F.linear(x, weight)
        if self.kind == 'conv2d':
            return F.conv2d(x, weight, None, self.stride, self.padding, self.dilation, self.groups)
        return F.conv_transpose2d(
            x,
            weight,
            None,
            self.stride,
            self.padding,
            self.output_padding,
            self.groups,
            self.dilation,
        )

    def xnor_popcount(self, s: torch.Tensor) -> torch.Tensor:
        """``B * S`` on a +/-1 input: the integer part that a 1-bit kernel computes."""
        return self.op(s, self.code)

    def _window_sum(self, s: torch.Tensor) -> torch.Tensor:
        """``1 * s`` per group, repeated over the group's output channels."""
        w = self.op(s, self.ones.to(s.dtype))
        if self.kind == 'linear':
            return w
        groups = w.shape[1]
        n, _, h, wd = w.shape
        per_group = self.out_channels // groups
        return w.view(n, groups, 1, h, wd).expand(n, groups, per_group, h, wd).reshape(n, -1, h, wd)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = sign_pm1(x, self.threshold)
        y = self.xnor_popcount(s) * self._view(self.scale, y_dim=x.dim())
        if self.window_scale is not None:
            y = y + self._window_sum(s) * self._view(self.window_scale, x.dim())
        if self.mask_scale is not None or self.mask_window_scale is not None:
            m = torch.ones_like(s)
            if self.mask_scale is not None:
                y = y + self.op(m, self.code) * self._view(self.mask_scale, x.dim())
            if self.mask_window_scale is not None:
                y = y + self._window_sum(m) * self._view(self.mask_window_scale, x.dim())
        return y + self._view(self.bias, x.dim())

    @staticmethod
    def _view(v: torch.Tensor, y_dim: int) -> torch.Tensor:
        return v.view((1, -1) + (1,) * (y_dim - 2))

    def extra_repr(self) -> str:
        terms = [
            n
            for n in ('window_scale', 'mask_scale', 'mask_window_scale')
            if getattr(self, n) is not None
        ]
        return (
            f'{self.kind}, code={tuple(self.code.shape)}, threshold={self.threshold:g}, '
            f'stride={self.stride}, padding={self.padding}, dilation={self.dilation}, '
            f'groups={self.groups}, extra_terms={terms}'
        )


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (int(v), int(v))


def _kind(layer: nn.Module) -> str:
    if isinstance(layer, BinaryConv2d):
        return 'conv2d'
    if isinstance(layer, BinaryConvTranspose2d):
        return 'conv_transpose2d'
    if isinstance(layer, BinaryLinear):
        return 'linear'
    raise DeployError(f'{type(layer).__name__} is a binary layer the converter does not know')


def _input_affine(path: str, binarizer: BaseBinarizer) -> Tuple[float, float, float]:
    """``(t, p, q)`` with the eval-mode input binarization = ``p sign(x - t) + q``."""
    if binarizer.sign_forward:
        return 0.0, 1.0, 0.0
    if isinstance(binarizer, AdaBinActivation):
        alpha, beta = float(binarizer.alpha), float(binarizer.beta)
        if not alpha > 0:
            raise DeployError(
                f'{path}: AdaBinActivation alpha must be > 0 to export (sign((a - beta) / alpha) '
                f'= sign(a - beta)), got {alpha}'
            )
        offset = alpha * beta if binarizer.form == 'official_code' else beta
        return beta, alpha, offset
    raise DeployError(
        f'{path}: input binarizer {type(binarizer).__name__} is not a sign in eval mode '
        '(sign_forward=False) and has no folding rule; export supports sign binarizers and '
        'AdaBinActivation'
    )


@torch.no_grad()
def _weight_affine(path: str, layer: BinaryLayerMixin):
    """Per output channel ``(a, c)`` with ``binary_weight() = a code + c``, out-first layout."""
    code = layer._out_first(layer.weight_code()).double()
    eff = layer._out_first(layer.binary_weight()).double()
    flat_code, flat_eff = code.flatten(1), eff.flatten(1)
    pos, neg = flat_code > 0, flat_code < 0
    mean_pos = (flat_eff * pos).sum(1) / pos.sum(1).clamp(min=1)
    mean_neg = (flat_eff * neg).sum(1) / neg.sum(1).clamp(min=1)
    has_pos, has_neg = pos.any(1), neg.any(1)
    a = torch.where(
        has_pos & has_neg, (mean_pos - mean_neg) / 2, torch.where(has_pos, mean_pos, -mean_neg)
    )
    c = torch.where(has_pos & has_neg, (mean_pos + mean_neg) / 2, torch.zeros_like(a))
    err = (a[:, None] * flat_code + c[:, None] - flat_eff).abs().max()
    if err > 1e-5 * max(float(flat_eff.abs().max()), 1e-12):
        raise DeployError(
            f'{path}: the binary weight is not a per-output-channel affine map of its code '
            f'(residual {float(err):.3g}); {type(layer.weight_binarizer).__name__} cannot be '
            'exported as 1-bit weights'
        )
    return code, a, c


def _bn_affine(bn: nn.modules.batchnorm._BatchNorm):
    std = torch.sqrt(bn.running_var.double() + bn.eps)
    gamma = bn.weight.double() if bn.affine else torch.ones_like(std)
    beta = bn.bias.double() if bn.affine else torch.zeros_like(std)
    k = gamma / std
    return k, beta - k * bn.running_mean.double()


@torch.no_grad()
def deploy_binary_layer(
    path: str, layer: BinaryLayerMixin, bn: Optional[nn.modules.batchnorm._BatchNorm] = None
) -> nn.Module:
    """The inference form of one binary layer (eval mode), with ``bn`` folded in if given.

    Args:
        path (str): the layer's module path, for error messages.
        layer: a :class:`BinaryConv2d`, :class:`BinaryConvTranspose2d` or :class:`BinaryLinear`.
        bn: a BatchNorm reading only this layer's output, or ``None``.

    Returns:
        :class:`DeployedBinaryConv` if both operands are binary; a real layer (folded weights,
        possibly behind an :class:`InputSign`) if only one is.

    Example:
        >>> import torch
        >>> from mmbinary.layers import BinaryConv2d
        >>> conv = BinaryConv2d(8, 4, 3, padding=1).eval()
        >>> deployed = deploy_binary_layer('conv', conv)
        >>> x = torch.randn(1, 8, 5, 5)
        >>> bool(torch.allclose(deployed(x), conv(x), atol=1e-5))
        True
    """
    kind = _kind(layer)
    if bn is not None and bn.running_mean is None:
        raise DeployError(f'{path}: the BatchNorm after it has no running statistics to fold')
    if layer.weight_binarizer is None or layer.input_binarizer is None:
        return _real_form(path, layer, kind)
    code, a, c = _weight_affine(path, layer)
    t, p, q = _input_affine(path, layer.input_binarizer)
    if kind == 'conv_transpose2d' and layer.groups > 1:
        # the mixin's "output channel" of a transposed weight [Cin, O/g, kh, kw] is its dim 1,
        # the same index in every group: output channel o uses factor o mod O/g
        a, c = a.repeat(layer.groups), c.repeat(layer.groups)
    out = a.numel()
    bias = layer.bias.double() if layer.bias is not None else torch.zeros(out, dtype=torch.float64)
    k = torch.ones_like(bias)
    if bn is not None:
        k, shift = _bn_affine(bn)
        bias = k * bias + shift
    terms = dict(
        scale=k * a * p,
        window_scale=k * c * p if bool((c != 0).any()) else None,
        mask_scale=k * a * q if q != 0 else None,
        mask_window_scale=k * c * q if q != 0 and bool((c != 0).any()) else None,
    )
    return DeployedBinaryConv(
        kind,
        layer._out_first(code),
        t,
        bias=bias,
        stride=getattr(layer, 'stride', 1),
        padding=getattr(layer, 'padding', 0),
        dilation=getattr(layer, 'dilation', 1),
        groups=getattr(layer, 'groups', 1),
        output_padding=getattr(layer, 'output_padding', 0),
        **terms,
    )


def _real_form(path: str, layer: BinaryLayerMixin, kind: str) -> nn.Module:
    base = {'conv2d': nn.Conv2d, 'conv_transpose2d': nn.ConvTranspose2d, 'linear': nn.Linear}[kind]
    real = copy.deepcopy(layer)
    real.__class__ = base  # the same arguments and parameters, the plain forward
    real.weight = nn.Parameter(layer.binary_weight().detach().clone(), requires_grad=False)
    for name in ('weight_binarizer', 'input_binarizer', 'scale'):
        delattr(real, name)
    if layer.input_binarizer is None:
        return real
    t, p, q = _input_affine(path, layer.input_binarizer)
    return nn.Sequential(InputSign(t, p, q), real)


def find_bn_after(
    net: nn.Module, example: torch.Tensor, layers: Dict[str, nn.Module]
) -> Dict[str, str]:
    """Map each binary layer path to the BatchNorm path that alone reads its output.

    Uses :func:`torch.export.export` (non-strict) to see the data flow; returns ``{}`` with a
    warning if the network cannot be traced (nothing is folded then, the result stays exact).
    """
    try:
        with torch.no_grad():
            graph = torch.export.export(net, (example,), strict=False).graph
    except Exception as e:  # any trace failure: keep the BatchNorms as separate ops
        warnings.warn(
            f'BatchNorm folding skipped: torch.export failed ({type(e).__name__}: {e})',
            stacklevel=2,
        )
        return {}
    bn_modules = {
        n for n, m in net.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
    }

    def module_of(node):
        stack = node.meta.get('nn_module_stack') or {}
        return list(stack.values())[-1][0] if stack else None

    calls: Dict[str, List] = {}
    for node in graph.nodes:
        if node.op == 'call_function' and 'batch_norm' in str(node.target):
            calls.setdefault(_strip(module_of(node)), []).append(node)
    pairs = {}
    for node in graph.nodes:
        if node.op != 'call_function' or not any(k in str(node.target) for k in ('conv', 'linear')):
            continue
        path = _strip(module_of(node))
        if path not in layers or len(node.users) != 1:
            continue
        (user,) = node.users
        bn_path = _strip(module_of(user)) if 'batch_norm' in str(user.target) else None
        if bn_path in bn_modules and len(calls.get(bn_path, [])) == 1 and user.args[0] is node:
            pairs[path] = bn_path
    return pairs


def _strip(path: Optional[str]) -> Optional[str]:
    """torch.export names modules from the root as ``L['self'].a.b`` or ``a.b``: keep ``a.b``."""
    if path is None:
        return None
    for prefix in ("L['self'].", 'self.'):
        if path.startswith(prefix):
            path = path[len(prefix) :]
    return path


def convert_model(
    net: nn.Module,
    example: torch.Tensor,
    fold_bn: bool = True,
    bn_pairs: Optional[Dict[str, str]] = None,
) -> Tuple[nn.Module, Dict[str, dict]]:
    """Convert an eval network (tensor in, tensor out) into its inference form.

    Args:
        net: the inference path of a model, e.g. :class:`mmbinary.deploy.InferenceNet`.
        example: an input of the static shape the export is for (used to trace the data flow).
        fold_bn: fold a BatchNorm that alone reads a binary layer's output into the layer.
        bn_pairs: ``{layer path: BatchNorm path}`` to fold, instead of tracing (to rebuild an
            export's structure).

    Returns:
        ``(deployed, report)``: a converted copy of ``net`` (``net`` is untouched) and, per
        converted layer path, ``dict(kind=..., binary=bool, bn=path or None)``.

    Raises:
        DeployError: no 1-bit layer in ``net``, or a layer that cannot be exported (its path and
            the reason are in the message).
    """
    net = copy.deepcopy(net).eval()
    layers = {n: m for n, m in net.named_modules() if isinstance(m, BinaryLayerMixin)}
    inside = {f'{n}.' for n in layers}
    for name, module in net.named_modules():
        if isinstance(module, BaseBinarizer) and not any(name.startswith(p) for p in inside):
            raise DeployError(
                f'{name}: a {type(module).__name__} outside a binary layer; the converter exports '
                'binarizers only inside BinaryConv2d / BinaryConvTranspose2d / BinaryLinear'
            )
        if isinstance(module, BinaryLayerMixin) and not isinstance(
            module, (BinaryConv2d, BinaryConvTranspose2d, BinaryLinear)
        ):
            raise DeployError(f'{name}: {type(module).__name__} is a binary layer of unknown form')
    binary = {
        n: m
        for n, m in layers.items()
        if m.weight_binarizer is not None and m.input_binarizer is not None
    }
    if not binary:
        raise DeployError(
            'nothing 1-bit to export: the model has no layer with both weights and inputs '
            'binarized (BinaryConv2d / BinaryConvTranspose2d / BinaryLinear)'
        )
    if bn_pairs is not None:
        pairs = dict(bn_pairs)
    else:
        pairs = find_bn_after(net, example, binary) if fold_bn else {}
    report = {}
    for path, layer in layers.items():
        bn_path = pairs.get(path)
        bn = net.get_submodule(bn_path) if bn_path else None
        _set_submodule(net, path, deploy_binary_layer(path, layer, bn))
        if bn_path:
            _set_submodule(net, bn_path, nn.Identity())
        report[path] = dict(kind=_kind(layer), binary=path in binary, bn=bn_path)
    return net, report


def _set_submodule(root: nn.Module, path: str, module: nn.Module):
    parent, _, name = path.rpartition('.')
    setattr(root.get_submodule(parent) if parent else root, name, module)
