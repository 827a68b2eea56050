"""The tanh soft function (a baseline of the BBC paper) [paper].

Forward ``sign(x)``; backward ``nu (1 - tanh(nu x)^2)``, the derivative of ``tanh(nu x)``.
For the self-binarizing network, whose *forward* is ``tanh(nu x)`` during training, see
:class:`mmbinary.binarizers.SelfBinarizingTanh`.
"""

import torch

from mmbinary.registry import BINARIZERS

from .base import PositiveFloat, SurrogateBinarizer


@BINARIZERS.register_module()
class TanhSign(SurrogateBinarizer):
    """Forward ``sign(x)``; backward ``nu (1 - tanh^2(nu x))``.

    Args:
        nu (float): sharpness, > 0. Default 1. A plain attribute that a schedule may set.

    References:
        He, Zhang, Wu, Zhou. "Binarizing by Classification: Is soft function really
        necessary?" IEEE TCSVT 2023, arXiv 2205.07433 (the tanh baseline it compares).
    """

    nu = PositiveFloat()

    def __init__(self, nu: float = 1.0):
        super().__init__()
        self.nu = nu

    def surrogate(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.nu * x)

    def extra_repr(self) -> str:
        return f'nu={self.nu:g}'
