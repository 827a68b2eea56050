"""ApproxSign, the piecewise-quadratic estimator of Bi-Real Net (Liu et al., ECCV 2018).

Forward ``sign(x)``. Backward ``2 + 2x`` on ``[-1, 0)``, ``2 - 2x`` on ``[0, 1)``, ``0``
elsewhere: the derivative of ``F(x) = -1 (x < -1); 2x + x^2 (-1 <= x < 0);
2x - x^2 (0 <= x < 1); 1 (x >= 1)``.
"""

import torch

from mmbinary.registry import BINARIZERS

from .base import SurrogateBinarizer


@BINARIZERS.register_module()
class ApproxSign(SurrogateBinarizer):
    """Forward ``sign(x)``; backward ``max(0, 2 - 2|x|)`` (Bi-Real's ApproxSign).

    References:
        Liu, Wu, Luo, Yang, Liu, Cheng. "Bi-Real Net: Enhancing the Performance of 1-bit CNNs
        With Improved Representational Capability and Advanced Training Algorithm."
        ECCV 2018, arXiv 1808.00278.
    """

    def surrogate(self, x: torch.Tensor) -> torch.Tensor:
        c = torch.clamp(x, -1.0, 1.0)
        return 2 * c - c * c.abs()
