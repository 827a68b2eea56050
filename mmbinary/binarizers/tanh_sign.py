"""The tanh soft function (a baseline of the BBC paper) [paper].

Forward ``sign(x)``; backward ``nu (1 - tanh(nu x)^2)``, the derivative of ``tanh(nu x)``.
For the self-binarizing network, whose *forward* is ``tanh(nu x)`` during training, see
:class:`mmbinary.binarizers.SelfBinarizingTanh`.
"""

import torch

from mmbinary.registry import BINARIZERS

from .base import SurrogateBinarizer, check_positive


@BINARIZERS.register_module()
class TanhSign(SurrogateBinarizer):
    """Forward ``sign(x)``; backward ``nu (1 - tanh^2(nu x))``.

    Args:
        nu (float): sharpness, > 0. Default 1. A plain attribute that a schedule may set.
    """

    def __init__(self, nu: float = 1.0):
        super().__init__()
        self.nu = nu

    @property
    def nu(self) -> float:
        return self._nu

    @nu.setter
    def nu(self, value: float):
        self._nu = float(check_positive(type(self).__name__, 'nu', value))

    def surrogate(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.nu * x)

    def extra_repr(self) -> str:
        return f'nu={self.nu:g}'
