"""AdaBin: adaptive binary sets (Tu, Chen, Ren, Wang; ECCV 2022, arXiv 2208.08084).

Each layer binarizes to ``{beta - alpha, beta + alpha}`` instead of ``{-1, +1}`` [official code]:

* weights, per output channel (dim 0), by *equalization*: ``beta = mean(w)``,
  ``alpha = std(w)`` (population std; neither detached), ``w_b = alpha sign((w - beta)/alpha)
  + beta``; the backward of the sign is IR-Net's EDE (``t``, ``k`` scheduled per epoch);
* activations, per layer, by *gradient*: learnable scalars ``alpha`` (init 1) and ``beta``
  (init 0), ``u = (a - beta) / alpha``, ``s = sign(u)`` with ApproxSign's backward. The code
  outputs ``alpha (s + beta)`` (``form='official_code'``, the published numbers); the first
  author states the intended form is ``alpha s + beta`` (``form='paper'``). The two differ by
  exactly ``beta (alpha - 1)``.
"""

from typing import Optional

import torch
from torch import nn

from mmbinary.registry import BINARIZERS

from .approx_sign import ApproxSign
from .base import BaseBinarizer, binary_sign, check_choice, check_positive
from .ede import EDE


@BINARIZERS.register_module()
class AdaBinWeight(BaseBinarizer):
    """Per-output-channel ``alpha sign((w - beta) / alpha) + beta`` with EDE backward.

    Args:
        t (float): initial EDE sharpness, scheduled by ``BinarizerScheduleHook``. Default 1.
        k (float, optional): EDE gain; ``None`` = ``max(1/t, 1)``.
        eps (float): added to ``alpha`` so a constant channel does not divide by zero.
            Default 1e-8 [reconstruction: the official code adds none].

    ``t`` / ``k`` are forwarded to the inner :class:`EDE` (``self.sign``), so a schedule that
    targets ``EDE`` modules reaches AdaBin weights too.

    References:
        Tu, Chen, Ren, Wang. "AdaBin: Improving Binary Neural Networks with Adaptive Binary
        Sets." ECCV 2022, arXiv 2208.08084.
    """

    sign_forward = False
    weight_constants = 2  # alpha, beta per output channel

    def __init__(self, t: float = 1.0, k: Optional[float] = None, eps: float = 1e-8):
        super().__init__()
        self.sign = EDE(t=t, k=k)
        self.eps = float(check_positive(type(self).__name__, 'eps', eps, strict=False))

    def _centre_and_spread(self, w: torch.Tensor):
        dims = tuple(range(1, w.dim()))
        beta = w.mean(dim=dims, keepdim=True)
        alpha = w.std(dim=dims, keepdim=True, unbiased=False) + self.eps
        return beta, alpha

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        beta, alpha = self._centre_and_spread(w)
        return alpha * self.sign((w - beta) / alpha) + beta

    @torch.no_grad()
    def code(self, w: torch.Tensor) -> torch.Tensor:
        """``sign(w - beta)``: +1 for ``beta + alpha``, -1 for ``beta - alpha``."""
        beta, _ = self._centre_and_spread(w)
        return binary_sign(w - beta)


@BINARIZERS.register_module()
class AdaBinActivation(BaseBinarizer):
    """Learnable ``{beta - alpha, beta + alpha}`` activations with ApproxSign backward.

    Args:
        form (str): ``'official_code'`` (default): ``alpha (s + beta)``; ``'paper'``:
            ``alpha s + beta``; where ``s = sign((a - beta) / alpha)``.
        alpha (float): initial alpha, > 0. Default 1.
        beta (float): initial beta. Default 0.

    References:
        Tu, Chen, Ren, Wang. "AdaBin: Improving Binary Neural Networks with Adaptive Binary
        Sets." ECCV 2022, arXiv 2208.08084.
    """

    sign_forward = False
    training_only_params = False

    FORMS = ('official_code', 'paper')

    def __init__(self, form: str = 'official_code', alpha: float = 1.0, beta: float = 0.0):
        super().__init__()
        self.form = check_choice(type(self).__name__, 'form', form, self.FORMS)
        check_positive(type(self).__name__, 'alpha', alpha)
        self.alpha = nn.Parameter(torch.tensor(float(alpha)))
        self.beta = nn.Parameter(torch.tensor(float(beta)))
        self.sign = ApproxSign()

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        s = self.sign((a - self.beta) / self.alpha)
        if self.form == 'official_code':
            return self.alpha * (s + self.beta)
        return self.alpha * s + self.beta

    def extra_repr(self) -> str:
        return f'form={self.form!r}'
