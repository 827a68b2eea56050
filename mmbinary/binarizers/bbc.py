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

MLP initialisation, ``init`` (a switch of every MLP variant):

* ``'official_code'``: the authors' code sets none, so it is PyTorch's ``nn.Linear`` default
  (Kaiming-uniform with ``a = sqrt(5)``): the first layer U(-1, 1) (fan-in 1), the second
  U(-1/sqrt(hidden), 1/sqrt(hidden)) = U(-0.1, 0.1) [official code]. The initial surrogate slope
  ``s'(0) = sum_k sum_j fc2_kj fc1_j`` is then a zero-mean draw (std ``sqrt(200 / 900)`` =
  0.47 in theory; measured +0.00 +/- 0.44 over 200 draws, negative in 52 % of them: the
  estimator may start *anti*-correlated with sign);
* ``'positive_slope'`` (default) [reconstruction]: the first layer U(0.5, 2), the second
  ``(1 + 0.1 N(0, 1)) / hidden`` (negated for logit 0 of the classifier variant), so that the
  surrogate starts as a smooth, increasing, clipped-STE-like function (``s'(0)`` measured
  +2.51 +/- 0.09).

``tools/benchmarks/binarizer_study.py --init-slopes 200`` measures the ``s'(0)`` distribution
of both, and its study trains both (``BBC-MLP`` and ``BBC-MLP-official-init``).

Sharing: binarizers built with ``shared=True`` for one model (inside one
:func:`~mmbinary.scope.build_scope`: every registry build and every mmbinary backbone / head
opens one, see :mod:`mmbinary.scope`) with the same ``share_key`` hold the *same* module, so
``model.parameters()`` counts it once and ``copy.deepcopy(model)`` keeps the sharing inside the
copy; two models never share. Outside any scope (a lone layer) each binarizer gets its own
module, with a warning.

References:
    He, Zhang, Wu, Zhou. "Binarizing by Classification: Is soft function really necessary?"
    IEEE TCSVT 2023, arXiv 2205.07433.
"""

import logging
import math

import torch
from mmengine.logging import print_log
from torch import nn

from mmbinary.registry import BINARIZERS
from mmbinary.scope import current_scope

from .base import SurrogateBinarizer, binary_sign, check_choice, check_positive

_CHUNK = 1 << 11  # elements per chunk in the MLP backward (2048 x hidden floats stay in L2)
MLP_INITS = ('positive_slope', 'official_code')
_warned_unscoped = set()


def shared_module(owner: str, share_key: str, signature: tuple, factory):
    """The module that ``owner`` binarizers with ``share_key`` share within the current model.

    Built by ``factory()`` the first time in the current :func:`~mmbinary.scope.build_scope`;
    outside any scope, a new module (and a warning, once per ``owner``). ``signature`` (the
    module's hyper-parameters) must be the same for every binarizer that shares it.
    """
    scope = current_scope()
    if scope is None:
        if owner not in _warned_unscoped:
            _warned_unscoped.add(owner)
            print_log(
                f'{owner}(shared=True) built outside any model build scope: it gets a module of '
                'its own. Build the model with a registry (MODELS.build, a Runner) or inside '
                '`with mmbinary.scope.build_scope():` to share one module across its layers.',
                logger='current',
                level=logging.WARNING,
            )
        return factory()
    key = (owner, share_key)
    if key not in scope.shared:
        scope.shared[key] = (signature, factory())
    built_with, module = scope.shared[key]
    if built_with != signature:
        raise ValueError(
            f'{owner}: {signature} differs from the shared module {share_key!r} already built '
            f'in this model with {built_with}; use another share_key'
        )
    return module


class ElementwiseMLP(nn.Module):
    """``m(x)``: Linear(1 -> hidden, no bias) -> tanh -> Linear(hidden -> 2, no bias).

    ``fc1`` has shape (hidden,), ``fc2`` shape (2, hidden).

    Args:
        hidden_channels (int): hidden width.
        init (str): ``'positive_slope'`` or ``'official_code'`` (see the module docstring).
        antisymmetric (bool): with ``'positive_slope'``, negate logit 0 at init (used by the
            classifier variant so that argmax starts as sign).
    """

    def __init__(
        self, hidden_channels: int = 100, init: str = 'positive_slope', antisymmetric: bool = False
    ):
        super().__init__()
        self.hidden_channels = hidden_channels
        self.init = check_choice(type(self).__name__, 'init', init, MLP_INITS)
        if init == 'official_code':  # nn.Linear's reset_parameters, weights (out, in)
            fc1 = torch.empty(hidden_channels, 1)
            fc2 = torch.empty(2, hidden_channels)
            nn.init.kaiming_uniform_(fc1, a=math.sqrt(5))
            nn.init.kaiming_uniform_(fc2, a=math.sqrt(5))
            fc1 = fc1.flatten()
        else:
            fc1 = torch.empty(hidden_channels).uniform_(0.5, 2.0)
            fc2 = (1 + 0.1 * torch.randn(2, hidden_channels)) / hidden_channels
            if antisymmetric:
                fc2[0] = -fc2[1]
        self.fc1 = nn.Parameter(fc1)
        self.fc2 = nn.Parameter(fc2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of shape ``x.shape + (2,)``."""
        return torch.tanh(x.unsqueeze(-1) * self.fc1) @ self.fc2.t()

    @torch.no_grad()
    def slope_at_zero(self) -> torch.Tensor:
        """``s'(0) = sum_k m_k'(0) = sum_kj fc2_kj fc1_j`` (``m(0) = 0``, inside the clip)."""
        return (self.fc2 * self.fc1).sum()

    def extra_repr(self) -> str:
        return f'1 -> {self.hidden_channels} -> 2, tanh, no bias, init={self.init!r}'


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


class _SharedMixin:
    """``shared`` / ``share_key`` of the BBC binarizers: one module per model or per layer."""

    def _shared_or_own(self, shared, share_key, signature, factory):
        self.shared = bool(shared)
        self.share_key = share_key
        if self.shared:
            return shared_module(type(self).__name__, share_key, signature, factory)
        return factory()

    def extra_repr(self) -> str:
        return f'shared (key={self.share_key!r})' if self.shared else 'per layer'


class _MLPMixin(_SharedMixin):
    def _init_mlp(self, hidden_channels, init, shared, share_key, antisymmetric=False):
        owner = type(self).__name__
        self.hidden_channels = int(check_positive(owner, 'hidden_channels', hidden_channels))
        check_choice(owner, 'init', init, MLP_INITS)
        self.mlp = self._shared_or_own(
            shared,
            share_key,
            dict(hidden_channels=self.hidden_channels, init=init),
            lambda: ElementwiseMLP(self.hidden_channels, init, antisymmetric),
        )

    def extra_repr(self) -> str:
        return f'hidden_channels={self.hidden_channels}, {super().extra_repr()}'


@BINARIZERS.register_module()
class MLPBinarizer(_MLPMixin, SurrogateBinarizer):
    """BBC: forward ``sign(x)``; backward through ``s(x) = sum_k hardtanh(m_k(x))``, m an MLP.

    ``dL/dx = g sum_k 1[|m_k(x)| < 1] m_k'(x)``; the MLP's parameters get the same path's
    gradient, so the task loss trains it. :meth:`forward` is the chunked backward of
    :class:`_MLPSign`; it equals :class:`SurrogateBinarizer`'s generic path on
    :meth:`surrogate` (what the tests check it against).

    Args:
        hidden_channels (int): MLP width, > 0. Default 100 (authors' code).
        init (str): ``'positive_slope'`` (default) [reconstruction] or ``'official_code'``
            (PyTorch's default of the authors' code); see :mod:`mmbinary.binarizers.bbc`.
        shared (bool): one MLP for the whole model (default, authors' code) or one per layer.
        share_key (str): layers of one model with the same key share one MLP.

    Example:
        >>> import torch
        >>> from mmbinary.binarizers import MLPBinarizer
        >>> from mmbinary.scope import build_scope
        >>> with build_scope():
        ...     a, b = MLPBinarizer(init='official_code'), MLPBinarizer(init='official_code')
        >>> a.mlp is b.mlp, a(torch.tensor([-0.3, 0.0, 2.0])).tolist()
        (True, [-1.0, 1.0, 1.0])

    References:
        He, Zhang, Wu, Zhou. "Binarizing by Classification: Is soft function really
        necessary?" IEEE TCSVT 2023, arXiv 2205.07433.
    """

    def __init__(
        self,
        hidden_channels: int = 100,
        init: str = 'positive_slope',
        shared: bool = True,
        share_key: str = 'bbc',
    ):
        super().__init__()
        self._init_mlp(hidden_channels, init, shared, share_key)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _MLPSign.apply(x, self.mlp.fc1, self.mlp.fc2)

    def surrogate(self, x: torch.Tensor) -> torch.Tensor:
        """``s(x) = sum_k hardtanh(m_k(x))`` (the reference of the chunked backward)."""
        return torch.clamp(self.mlp(x), -1.0, 1.0).sum(-1)


@BINARIZERS.register_module()
class ClassifierBinarizer(_MLPMixin, SurrogateBinarizer):
    """BBC's literal 2-logit classifier: forward ``argmax`` -> +/-1, gradient to both logits.

    Forward ``+1`` where ``m_1(x) >= m_0(x)``, else ``-1`` (:meth:`code`); backward
    ``dL/dx = g (m_0'(x) + m_1'(x))``, the derivative of :meth:`surrogate`. With
    ``init='positive_slope'`` logit 0 starts as the negation of logit 1, so the forward starts
    equal to ``sign(x)`` [reconstruction]; with ``'official_code'`` it starts as a random
    decision. Training may move the boundary. Arguments as :class:`MLPBinarizer`.

    References:
        He, Zhang, Wu, Zhou. "Binarizing by Classification: Is soft function really
        necessary?" IEEE TCSVT 2023, arXiv 2205.07433.
    """

    sign_forward = False
    training_only_params = False

    def __init__(
        self,
        hidden_channels: int = 100,
        init: str = 'positive_slope',
        shared: bool = True,
        share_key: str = 'bbc_classifier',
    ):
        super().__init__()
        self._init_mlp(hidden_channels, init, shared, share_key, antisymmetric=True)

    def surrogate(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(x).sum(-1)

    @torch.no_grad()
    def code(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.mlp(x)
        return binary_sign(logits[..., 1] - logits[..., 0])


@BINARIZERS.register_module()
class LinearBinarizer(_SharedMixin, SurrogateBinarizer):
    """BBC's "simple linear function": forward ``sign(x)``; backward ``g (a_0 + a_1)``.

    The surrogate is one Linear(1 -> 2, no bias), ``s(x) = (a_0 + a_1) x``, with gains
    ``a = (a_0, a_1)`` (init 0.5 each, so training starts from the plain STE
    [reconstruction]); the gains receive ``dL/da_k = sum g x``.

    Args:
        shared (bool): one pair of gains for the whole model (default) or per layer.
        share_key (str): layers of one model with the same key share the gains.

    References:
        He, Zhang, Wu, Zhou. "Binarizing by Classification: Is soft function really
        necessary?" IEEE TCSVT 2023, arXiv 2205.07433.
    """

    def __init__(self, shared: bool = True, share_key: str = 'bbc_linear'):
        super().__init__()

        def gains():
            module = nn.Linear(1, 2, bias=False)
            nn.init.constant_(module.weight, 0.5)
            return module

        self.linear = self._shared_or_own(shared, share_key, {}, gains)

    def surrogate(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x.unsqueeze(-1)).sum(-1)
