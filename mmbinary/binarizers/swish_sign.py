"""SwishSign of BNN+ (Darabi et al., 2018) [paper].

Forward ``sign(x)``; backward the derivative of
``SS_beta(x) = 2 sigma(beta x) (1 + beta x (1 - sigma(beta x))) - 1``, that is
``beta (2 - beta x tanh(beta x / 2)) / (1 + cosh(beta x))``.
"""

import torch

from mmbinary.registry import BINARIZERS

from .base import SurrogateBinarizer, check_positive


@BINARIZERS.register_module()
class SwishSign(SurrogateBinarizer):
    """Forward ``sign(x)``; backward ``d/dx [2 sigma(bx)(1 + bx(1 - sigma(bx))) - 1]``.

    Args:
        beta (float): sharpness, > 0. Default 5 (as compared in the BBC paper).

    References:
        Darabi, Belbahri, Courbariaux, Nia. "BNN+: Improved Binary Network Training."
        arXiv 1812.11800.
    """

    def __init__(self, beta: float = 5.0):
        super().__init__()
        self.beta = float(check_positive(type(self).__name__, 'beta', beta))

    def surrogate(self, x: torch.Tensor) -> torch.Tensor:
        bx = self.beta * x
        sig = torch.sigmoid(bx)
        return 2 * sig * (1 + bx * (1 - sig)) - 1

    def extra_repr(self) -> str:
        return f'beta={self.beta:g}'
