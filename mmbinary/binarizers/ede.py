"""EDE, the Error Decay Estimator of IR-Net (Qin et al., CVPR 2020) [paper; AdaBin official code].

Forward ``sign(x)``; backward ``k * t * (1 - tanh(t x)^2)``, the derivative of ``k tanh(t x)``.
``t`` grows during training (from a near-identity estimator to a near-sign one) and
``k = max(1 / t, 1)``; :class:`mmbinary.engine.BinarizerScheduleHook` sets both every epoch.
"""

from typing import Optional

import torch

from mmbinary.registry import BINARIZERS

from .base import PositiveFloat, SurrogateBinarizer, check_positive


@BINARIZERS.register_module()
class EDE(SurrogateBinarizer):
    """Forward ``sign(x)``; backward ``k t (1 - tanh^2(t x))``.

    Args:
        t (float): sharpness, > 0. Default 1.
        k (float, optional): gain, > 0. ``None`` (default) uses IR-Net's rule ``max(1/t, 1)``,
            re-evaluated whenever ``t`` changes.

    ``t`` and ``k`` are plain float attributes (not buffers): a schedule sets them each epoch and
    they are not saved in checkpoints.

    References:
        Qin et al. "Forward and Backward Information Retention for
        Accurate Binary Neural Networks." CVPR 2020, arXiv 1909.10788.
    """

    t = PositiveFloat()

    def __init__(self, t: float = 1.0, k: Optional[float] = None):
        super().__init__()
        self.t = t
        self.k = k

    @property
    def k(self) -> float:
        return max(1.0 / self.t, 1.0) if self._k is None else self._k

    @k.setter
    def k(self, value: Optional[float]):
        self._k = None if value is None else float(check_positive(type(self).__name__, 'k', value))

    def surrogate(self, x: torch.Tensor) -> torch.Tensor:
        return self.k * torch.tanh(self.t * x)

    def extra_repr(self) -> str:
        return f't={self.t:g}, k={self.k:g}'
