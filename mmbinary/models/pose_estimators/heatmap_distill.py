"""Heatmap distillation from a frozen real-valued teacher (for binary top-down pose models).

BBC trains its binary ImageNet networks with knowledge distillation from a real ResNet-34
[official code of BBC]; for pose, no source gives the recipe (the paper reports distilled pose
networks without their loss), so this is our reconstruction, every part a config switch::

    L = L_kpt(student, ground truth) + w * D(student heatmaps, teacher heatmaps)

``L_kpt`` is the student head's own loss (its ``loss_weight`` weighs it); ``D`` is
:class:`HeatmapDistillLoss`, MSE or KL between spatial softmaxes, weighted by its ``loss_weight``
``w``. The teacher is any MMPose top-down heatmap model given by a config and a checkpoint; it
sees the same (student-normalised) input, is frozen, always in eval mode, and is not a submodule
(:class:`~mmbinary.models.utils.FrozenTeacherMixin`): checkpoints hold the student only, so a
checkpoint trained with distillation loads into the plain student config (:func:`student_config`)
for testing, inference and deployment.
"""

import contextlib
from typing import Optional, Union

import torch
from mmpose.models.heads import HeatmapHead
from mmpose.models.pose_estimators import TopdownPoseEstimator
from mmpose.registry import MODELS as MMPOSE_MODELS
from torch import Tensor, nn

from mmbinary.registry import MODELS

from ..utils import (
    FrozenTeacherMixin,
    build_frozen_teacher,
    check_same_normalisation,
    check_teacher,
    unwrap_model_config,
)

DISTILL_KEYS = ('teacher_config', 'teacher_checkpoint', 'distill_loss')


def student_config(model_cfg: dict) -> dict:
    """The plain :class:`TopdownPoseEstimator` config of a distillation model config.

    Use it to test, run or count a student trained with distillation without its teacher (the
    checkpoints hold no teacher weights).
    """
    return unwrap_model_config(
        model_cfg, 'HeatmapDistillEstimator', 'TopdownPoseEstimator', DISTILL_KEYS
    )


@contextlib.contextmanager
def _reuse_forward(head: nn.Module, output: Tensor):
    """Within the context, ``head.forward(...)`` returns ``output`` (computed once)."""
    head.forward = lambda *args, **kwargs: output
    try:
        yield
    finally:
        del head.forward


@MODELS.register_module()
class HeatmapDistillEstimator(FrozenTeacherMixin, TopdownPoseEstimator):
    """:class:`TopdownPoseEstimator` trained with heatmap distillation from a frozen teacher.

    ``loss = head.loss(student) + distill_loss(student heatmaps, teacher heatmaps)``; prediction
    and testing use the student only.

    Args:
        teacher_config (str | dict): the teacher's MMPose config: a file, an ``'mmpose::...'``
            path (e.g. ``'mmpose::body_2d_keypoint/topdown_heatmap/coco/'
            'td-hm_res50_8xb64-210e_coco-256x192.py'``) or a dict with ``model``.
        teacher_checkpoint (str): the teacher's checkpoint (a local file, loaded strictly at
            construction; a missing file is an error before any training).
        distill_loss (dict): config of the distillation loss. Default
            ``dict(type='HeatmapDistillLoss', mode='mse', loss_weight=1.0)``.
        Other arguments: as :class:`TopdownPoseEstimator`.

    Raises:
        FileNotFoundError: ``teacher_config`` or ``teacher_checkpoint`` does not exist.
        ValueError: the teacher and student differ in keypoints or input normalisation.
    """

    def __init__(
        self,
        backbone: dict,
        teacher_config: Union[str, dict],
        teacher_checkpoint: str,
        distill_loss: Optional[dict] = None,
        neck: Optional[dict] = None,
        head: Optional[dict] = None,
        train_cfg: Optional[dict] = None,
        test_cfg: Optional[dict] = None,
        data_preprocessor: Optional[dict] = None,
        init_cfg: Optional[dict] = None,
        metainfo: Optional[dict] = None,
    ):
        # Check the teacher first: a wrong path must fail before anything is built or trained.
        owner = type(self).__name__
        teacher_cfg = check_teacher(
            owner, teacher_config, teacher_checkpoint, 'train without distillation'
        )
        check_same_normalisation(owner, teacher_cfg, data_preprocessor)
        super().__init__(
            backbone=backbone,
            neck=neck,
            head=head,
            train_cfg=train_cfg,
            test_cfg=test_cfg,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg,
            metainfo=metainfo,
        )
        if not isinstance(self.head, HeatmapHead):
            raise TypeError(
                f'{type(self).__name__} needs a heatmap head (HeatmapHead or a subclass), got '
                f'{type(self.head).__name__}'
            )

        def same_keypoints(teacher):
            if not isinstance(getattr(teacher, 'head', None), HeatmapHead):
                raise TypeError(f'{owner}: the teacher {teacher_config!r} has no heatmap head')
            if teacher.head.out_channels != self.head.out_channels:
                raise ValueError(
                    f'{owner}: the teacher predicts {teacher.head.out_channels} heatmaps, the '
                    f'student {self.head.out_channels}: they must have the same keypoints'
                )

        self._hold_teacher(
            build_frozen_teacher(
                MMPOSE_MODELS, teacher_cfg.model, teacher_checkpoint, check=same_keypoints
            )
        )
        self.teacher_config = teacher_config
        self.teacher_checkpoint = teacher_checkpoint
        self.distill_loss = MODELS.build(
            distill_loss or dict(type='HeatmapDistillLoss', mode='mse', loss_weight=1.0)
        )

    @torch.no_grad()
    def teacher_heatmaps(self, inputs: Tensor) -> Tensor:
        """The frozen teacher's heatmaps for (already normalised) ``inputs``."""
        self.teacher.eval()
        return self.teacher._forward(inputs)

    def loss(self, inputs: Tensor, data_samples) -> dict:
        """Student head losses (``loss_kpt``, ``acc_pose``) plus ``loss_distill``."""
        feats = self.extract_feat(inputs)
        heatmaps = self.head.forward(feats)
        with _reuse_forward(self.head, heatmaps):  # the head's loss reuses these heatmaps
            losses = self.head.loss(feats, data_samples, train_cfg=self.train_cfg)
        losses['loss_distill'] = self.distill_loss(heatmaps, self.teacher_heatmaps(inputs))
        return losses
