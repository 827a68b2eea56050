"""Distance between a student's and a teacher's heatmaps, for heatmap distillation."""

import torch.nn.functional as F
from torch import Tensor, nn

from mmbinary.binarizers.base import check_choice, check_positive
from mmbinary.registry import MODELS


@MODELS.register_module()
class HeatmapDistillLoss(nn.Module):
    """Distance between student and teacher heatmaps (both ``(N, K, H, W)``).

    * ``mode='mse'``: ``w * mean_{n,k,h,w} (s - t)^2`` (the form of MMPose's KeypointMSELoss,
      without target weights: the teacher is defined for every keypoint);
    * ``mode='kl'``: ``w * T^2 * mean_{n,k} KL(p_t || p_s)`` with the spatial softmaxes
      ``p = softmax(heatmap / T)`` over the ``H * W`` pixels of each keypoint (Hinton's
      temperature-scaled KD, applied per heatmap) [reconstruction].

    Args:
        mode (str): ``'mse'`` (default) or ``'kl'``.
        loss_weight (float): ``w``, >= 0. Default 1.
        temperature (float): ``T`` for ``'kl'``, > 0. Default 1.
    """

    MODES = ('mse', 'kl')

    def __init__(self, mode: str = 'mse', loss_weight: float = 1.0, temperature: float = 1.0):
        super().__init__()
        owner = type(self).__name__
        self.mode = check_choice(owner, 'mode', mode, self.MODES)
        self.loss_weight = float(check_positive(owner, 'loss_weight', loss_weight, strict=False))
        self.temperature = float(check_positive(owner, 'temperature', temperature))

    def forward(self, student: Tensor, teacher: Tensor) -> Tensor:
        if student.shape != teacher.shape:
            raise ValueError(
                f'{type(self).__name__}: student heatmaps {tuple(student.shape)} and teacher '
                f'heatmaps {tuple(teacher.shape)} differ; the teacher must use the same codec '
                '(keypoints and heatmap size)'
            )
        teacher = teacher.detach()
        if self.mode == 'mse':
            return F.mse_loss(student, teacher) * self.loss_weight
        t = self.temperature
        log_p_s = F.log_softmax(student.flatten(2) / t, dim=-1)
        log_p_t = F.log_softmax(teacher.flatten(2) / t, dim=-1)
        kl = (log_p_t.exp() * (log_p_t - log_p_s)).sum(-1)  # (N, K)
        return kl.mean() * (t * t) * self.loss_weight

    def extra_repr(self) -> str:
        return f'mode={self.mode!r}, loss_weight={self.loss_weight}, T={self.temperature}'
