"""Straight-through estimators (Hinton's lectures; Bengio et al. 2013; BinaryNet, Courbariaux 2016).

* ``STE``: forward ``sign(x)``, backward identity (``dy/dx = 1``).
* ``ClippedSTE``: forward ``sign(x)``, backward ``1[|x| <= 1]`` (the hardtanh derivative,
  BinaryNet).
"""

import torch

from mmbinary.registry import BINARIZERS

from .base import SurrogateBinarizer


@BINARIZERS.register_module()
class STE(SurrogateBinarizer):
    """Forward ``sign(x)``; backward ``dy/dx = 1``.

    References:
        Bengio, Leonard, Courville. "Estimating or Propagating Gradients Through Stochastic
        Neurons for Conditional Computation." arXiv 1308.3432.
    """

    def surrogate(self, x: torch.Tensor) -> torch.Tensor:
        return x


@BINARIZERS.register_module()
class ClippedSTE(SurrogateBinarizer):
    """Forward ``sign(x)``; backward ``dy/dx = 1`` if ``|x| <= 1`` else 0 (BinaryNet).

    References:
        Courbariaux, Hubara, Soudry, El-Yaniv, Bengio. "Binarized Neural Networks: Training
        Deep Neural Networks with Weights and Activations Constrained to +1 or -1."
        arXiv 1602.02830.
    """

    def surrogate(self, x: torch.Tensor) -> torch.Tensor:
        # x * mask (mask detached) has derivative exactly 1[|x| <= 1], boundaries included;
        # clamp's own backward excludes them.
        return x * (x.abs() <= 1).to(x.dtype)
