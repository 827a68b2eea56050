"""Self-binarizing networks (Lahoud et al., arXiv 1902.00730) [reconstruction].

The paper's abstract: weights and activations pass through a smooth function that is sharpened
during training until it equals sign, so there is no straight-through estimator; batch norm
becomes "a simple comparison". No code or tables are available; this is the standard reading:

* training: ``y = tanh(nu x)`` in the forward pass, with its true gradient
  ``nu (1 - tanh^2(nu x))``; ``nu`` grows over training (geometric 1 -> 1000 by default, set by
  :class:`mmbinary.engine.BinarizerScheduleHook`);
* eval / export: ``y = sign(x)`` exactly.

Binary BN [derived]: with ``z = gamma (x - mu) / sqrt(var + eps) + beta``,
``sign(z) = sign(gamma) sign(x - tau)`` with ``tau = mu - beta sqrt(var + eps) / gamma``.
With ``sign(0) = +1``: for ``gamma > 0`` the output is +1 iff ``x >= tau``; for ``gamma < 0``
iff ``x <= tau``; for ``gamma = 0`` it is the constant ``sign(beta)``. When ``x`` is an integer
(a popcount of binary inputs and weights) the comparisons become ``x >= ceil(tau)`` and
``x <= floor(tau)``: an integer threshold. :func:`fold_binary_bn` builds that comparison.
"""

import torch
from torch import nn

from mmbinary.registry import BINARIZERS

from .base import BaseBinarizer, PositiveFloat, binary_sign, check_positive


@BINARIZERS.register_module()
class SelfBinarizingTanh(BaseBinarizer):
    """Training: ``tanh(nu x)`` (true gradient); eval: ``sign(x)``.

    Args:
        nu (float): sharpness, > 0. Default 1. A plain attribute that a schedule may set.

    References:
        Lahoud, Achanta, Marquez-Neila, Susstrunk. "Self-Binarizing Networks."
        arXiv 1902.00730.
    """

    nu = PositiveFloat()

    def __init__(self, nu: float = 1.0):
        super().__init__()
        self.nu = nu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            return torch.tanh(self.nu * x)
        return binary_sign(x)

    def extra_repr(self) -> str:
        return f'nu={self.nu:g}'


class BinaryBNThreshold(nn.Module):
    """``sign(BN(x))`` as one comparison per channel (see the module docstring).

    Buffers (per channel): ``tau`` (threshold), ``direction`` (+1: ``x >= tau``; -1:
    ``x <= tau``; 0: constant), ``const`` (the constant ``sign(beta)`` where ``direction == 0``).
    """

    def __init__(self, tau: torch.Tensor, direction: torch.Tensor, const: torch.Tensor):
        super().__init__()
        self.register_buffer('tau', tau)
        self.register_buffer('direction', direction)
        self.register_buffer('const', const)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = (1, -1) + (1,) * (x.dim() - 2)
        tau = self.tau.view(shape)
        direction = self.direction.view(shape)
        above = (x >= tau).to(x.dtype) * 2 - 1
        below = (x <= tau).to(x.dtype) * 2 - 1
        out = torch.where(direction > 0, above, below)
        return torch.where(direction == 0, self.const.view(shape).to(x.dtype), out)


def fold_binary_bn(bn: nn.modules.batchnorm._BatchNorm, integer: bool = False) -> BinaryBNThreshold:
    """Fold ``sign(bn(x))`` (eval-mode statistics) into a per-channel threshold comparison.

    Args:
        bn: a BatchNorm layer with running statistics (affine or not).
        integer: the inputs are integers (binary conv outputs): round the thresholds to
            ``ceil(tau)`` (for ``x >= tau``) and ``floor(tau)`` (for ``x <= tau``).
    """
    if bn.running_mean is None or bn.running_var is None:
        raise ValueError('fold_binary_bn: the BatchNorm has no running statistics to fold')
    check_positive('fold_binary_bn', 'bn.eps', bn.eps)
    mean = bn.running_mean.detach().double()
    std = torch.sqrt(bn.running_var.detach().double() + bn.eps)
    if bn.affine:
        gamma, beta = bn.weight.detach().double(), bn.bias.detach().double()
    else:
        gamma, beta = torch.ones_like(mean), torch.zeros_like(mean)
    direction = torch.sign(gamma)
    safe_gamma = torch.where(gamma == 0, torch.ones_like(gamma), gamma)
    tau = mean - beta * std / safe_gamma
    if integer:
        tau = torch.where(direction > 0, torch.ceil(tau), torch.floor(tau))
    tau = torch.where(direction == 0, torch.zeros_like(tau), tau)
    const = binary_sign(beta)
    dtype = bn.running_mean.dtype
    return BinaryBNThreshold(tau.to(dtype), direction.to(dtype), const.to(dtype))
