"""Binarizing by Classification (BBC; He, Zhang, Wu, Zhou; TCSVT 2023, arXiv 2205.07433).

Binarization is read as a binary classification of every scalar; a tiny MLP is the classifier's
*gradient estimator*. From the authors' released code [official code]:

* MLP ``m``: Linear(1 -> 100, no bias) -> tanh -> Linear(100 -> 2, no bias), applied element-wise.
* Forward ``sign(x)``: the MLP does not change the value.
* Backward through the surrogate ``s(x) = sum_k hardtanh(m_k(x))``::

      dL/dx     = g * sum_k 1[|m_k(x)| < 1] * m_k'(x)
      dL/dtheta = sum_x g * sum_k 1[|m_k(x)| < 1] * dm_k/dtheta

  so the MLP is trained by the task loss.
* **One MLP shared by every binary layer of the network** (default), or one per layer.
* The layer feeds the weight centred per output channel (``BinaryConv2d(center_weight=True)``)
  and scales by the detached mean ``|w_c|`` (``weight_scale='mean_abs'``).

Variants:

* :class:`LinearBinarizer`, the paper's "simple linear function": forward ``sign(x)``, backward
  ``dL/dx = g * (a_0 + a_1)``, an STE with a learned gain (the authors' 2-logit code path with a
  single linear layer) [official code, derived].
* :class:`ClassifierBinarizer`, the literal classifier in the code (unused by the authors):
  forward ``+1`` if ``m_1(x) >= m_0(x)`` else ``-1``; backward copies ``g`` to both logits,
  ``dL/dx = g * (m_0'(x) + m_1'(x))`` [official code].

MLP initialisation is not given by any source we have [reconstruction]: the first layer's weights
are drawn from U(0.5, 2) and the second layer's from ``(1 + 0.1 N(0, 1)) / hidden`` (and its
negation for logit 0 of the classifier variant), so that at initialisation the surrogate is a
smooth, increasing, clipped-STE-like function with ``s'(0) > 0``.

Sharing: binarizers built with ``shared=True`` inside one :func:`binarizer_sharing_scope` and
with the same ``share_key`` hold the *same* MLP module, so ``model.parameters()`` counts it once
and ``copy.deepcopy(model)`` keeps the sharing inside the copy. mmbinary's backbones open a scope
while they build, so two models in one process never share. Layers built outside any scope (e.g.
an MMPose ResNet binarized through ``conv_cfg``) use a process-wide pool that holds only **weak
references**: they share with every live layer built the same way, and a new MLP is created once
the previous model has been garbage-collected.
"""

import contextlib
import weakref

import torch
from torch import nn

from mmbinary.registry import BINARIZERS

from .base import BaseBinarizer, binary_sign, check_positive

_CHUNK = 1 << 11  # elements per chunk in the MLP backward (2048 x hidden floats stay in L2)
_SCOPES = []
_DEFAULT_POOL = weakref.WeakValueDictionary()


@contextlib.contextmanager
def binarizer_sharing_scope():
    """Within this context, shared learned binarizers get MLPs private to the context."""
    _SCOPES.append({})
    try:
        yield
    finally:
        _SCOPES.pop()


def _get_shared(key, factory, owner, hidden_channels):
    pool = _SCOPES[-1] if _SCOPES else _DEFAULT_POOL
    module = pool.get(key)
    if module is None:
        module = factory()
        pool[key] = module
    elif module.hidden_channels != hidden_channels:
        raise ValueError(
            f'{owner}: hidden_channels={hidden_channels} differs from the shared MLP '
            f'{key[1]!r} already built with {module.hidden_channels}; use another share_key'
        )
    return module


class ElementwiseMLP(nn.Module):
    """``m(x)``: Linear(1 -> hidden, no bias) -> tanh -> Linear(hidden -> 2, no bias).

    ``fc1`` has shape (hidden,), ``fc2`` shape (2, hidden). See the module docstring for the
    initialisation [reconstruction]. ``antisymmetric=True`` negates logit 0 at init (used by
    the classifier variant so that argmax starts as sign).
    """

    def __init__(self, hidden_channels: int = 100, antisymmetric: bool = False):
        super().__init__()
        self.hidden_channels = hidden_channels
        self.fc1 = nn.Parameter(torch.empty(hidden_channels).uniform_(0.5, 2.0))
        fc2 = (1 + 0.1 * torch.randn(2, hidden_channels)) / hidden_channels
        if antisymmetric:
            fc2[0] = -fc2[1]
        self.fc2 = nn.Parameter(fc2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of shape ``x.shape + (2,)``."""
        return torch.tanh(x.unsqueeze(-1) * self.fc1) @ self.fc2.t()

    def extra_repr(self) -> str:
        return f'1 -> {self.hidden_channels} -> 2, tanh, no bias'


class _MLPSign(torch.autograd.Function):
    """Forward ``sign(x)``; backward through ``sum_k hardtanh(m_k(x))``, in chunks.

    With ``h = tanh(x fc1)`` (n x hidden), ``d = 1 - h^2`` and ``G = g * 1[|m| < 1]`` (2 x n),
    the hidden-layer gradient ``(G^T fc2) * d`` has rank 2 in ``G``, so with ``a = fc2 * fc1``

        dx    = sum_k G_k * (sum_j a_kj - (a h^2^T)_k)      dfc2 = G h
        dfc1  = sum_k fc2_k * (sum_n (G_k x)_n - (G_k x) h^2)

    are four matmuls over ``h`` (then ``h^2``, squared in place): no n x hidden gradient
    tensor is formed. Chunks of ``_CHUNK`` elements reuse one buffer that stays in cache (the
    whole network at once would hold ``numel x hidden`` floats: 1.1e9 for a ResNet-18; a fresh
    buffer per chunk costs more in page faults than the arithmetic).
    """

    @staticmethod
    def forward(ctx, x, fc1, fc2):
        ctx.save_for_backward(x, fc1, fc2)
        return binary_sign(x)

    @staticmethod
    def backward(ctx, grad):
        x, fc1, fc2 = ctx.saved_tensors
        xf, gf = x.reshape(-1), grad.reshape(-1).to(x.dtype)
        numel = xf.numel()
        dx = torch.empty_like(xf)
        dfc2 = torch.zeros_like(fc2)
        x_d = torch.zeros_like(fc2)  # sum_n G[k, n] x[n] d[n, j]
        a = fc2 * fc1  # (2, hidden)
        a_sum = a.sum(1, keepdim=True)  # (2, 1)
        buffer = x.new_empty(min(_CHUNK, numel), fc1.numel())
        for start in range(0, numel, _CHUNK):
            xc, gc = xf[start : start + _CHUNK], gf[start : start + _CHUNK]
            h = buffer[: xc.numel()]
            torch.outer(xc, fc1, out=h).tanh_()
            g_logits = (torch.mm(fc2, h.t()).abs_() < 1).to(x.dtype).mul_(gc)  # G, (2, n)
            dfc2.addmm_(g_logits, h)
            h.square_()  # h^2: d = 1 - h^2 is folded into the sums below
            dx[start : start + _CHUNK] = (g_logits * (a_sum - torch.mm(a, h.t()))).sum(0)
            g_x = g_logits.mul_(xc)
            x_d += g_x.sum(1, keepdim=True) - torch.mm(g_x, h)
        dfc1 = (fc2 * x_d).sum(0)
        return dx.view_as(x), dfc1, dfc2


class _SharedMLPMixin:
    def _init_mlp(self, hidden_channels, shared, share_key, antisymmetric=False):
        owner = type(self).__name__
        self.hidden_channels = int(check_positive(owner, 'hidden_channels', hidden_channels))
        self.shared = bool(shared)
        self.share_key = share_key

        def factory():
            return ElementwiseMLP(self.hidden_channels, antisymmetric)

        if self.shared:
            key = (owner, share_key)
            self.mlp = _get_shared(key, factory, owner, self.hidden_channels)
        else:
            self.mlp = factory()

    def extra_repr(self) -> str:
        sharing = f'shared (key={self.share_key!r})' if self.shared else 'per layer'
        return f'hidden_channels={self.hidden_channels}, {sharing}'


@BINARIZERS.register_module()
class MLPBinarizer(_SharedMLPMixin, BaseBinarizer):
    """BBC: forward ``sign(x)``; backward through ``sum_k hardtanh(m_k(x))`` of a learned MLP.

    Args:
        hidden_channels (int): MLP width, > 0. Default 100 (authors' code).
        shared (bool): one MLP for the whole network (default, authors' code) or per layer.
        share_key (str): layers with the same key share one MLP (within a sharing scope).
    """

    def __init__(self, hidden_channels: int = 100, shared: bool = True, share_key: str = 'bbc'):
        super().__init__()
        self._init_mlp(hidden_channels, shared, share_key)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _MLPSign.apply(x, self.mlp.fc1, self.mlp.fc2)

    def surrogate(self, x: torch.Tensor) -> torch.Tensor:
        """``s(x) = sum_k hardtanh(m_k(x))`` (reference form; the backward is chunked)."""
        return torch.clamp(self.mlp(x), -1.0, 1.0).sum(-1)


@BINARIZERS.register_module()
class ClassifierBinarizer(_SharedMLPMixin, BaseBinarizer):
    """BBC's literal 2-logit classifier: forward ``argmax`` -> +/-1, gradient to both logits.

    Forward ``+1`` where ``m_1(x) >= m_0(x)``, else ``-1``; backward
    ``dL/dx = g (m_0'(x) + m_1'(x))``. At initialisation logit 0 is the negation of logit 1, so
    the forward starts equal to ``sign(x)`` [reconstruction]; training may move the boundary.
    Arguments as :class:`MLPBinarizer`.
    """

    sign_forward = False
    training_only_params = False

    def __init__(
        self, hidden_channels: int = 100, shared: bool = True, share_key: str = 'bbc_classifier'
    ):
        super().__init__()
        self._init_mlp(hidden_channels, shared, share_key, antisymmetric=True)

    def surrogate(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(x).sum(-1)

    @torch.no_grad()
    def code(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.mlp(x)
        return binary_sign(logits[..., 1] - logits[..., 0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.mlp(x)
        value = binary_sign(logits[..., 1] - logits[..., 0]).detach()
        if not torch.is_grad_enabled():
            return value
        s = logits.sum(-1)
        return value + (s - s.detach())


@BINARIZERS.register_module()
class LinearBinarizer(BaseBinarizer):
    """BBC's "simple linear function": forward ``sign(x)``; backward ``g (a_0 + a_1)``.

    One Linear(1 -> 2, no bias) with gains ``a = (a_0, a_1)`` (init 0.5 each, so training starts
    from the plain STE); the gains receive ``dL/da_k = sum g x``.

    Args:
        shared (bool): one pair of gains for the whole network (default) or per layer.
        share_key (str): layers with the same key share the gains (within a sharing scope).
    """

    def __init__(self, shared: bool = True, share_key: str = 'bbc_linear'):
        super().__init__()
        self.shared = bool(shared)
        self.share_key = share_key

        def factory():
            module = nn.Linear(1, 2, bias=False)
            nn.init.constant_(module.weight, 0.5)
            module.hidden_channels = 0
            return module

        key = (type(self).__name__, share_key)
        self.linear = _get_shared(key, factory, type(self).__name__, 0) if shared else factory()

    def surrogate(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x.unsqueeze(-1)).sum(-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        value = binary_sign(x).detach()
        if not torch.is_grad_enabled():
            return value
        s = self.surrogate(x)
        return value + (s - s.detach())

    def extra_repr(self) -> str:
        return f'shared (key={self.share_key!r})' if self.shared else 'per layer'
