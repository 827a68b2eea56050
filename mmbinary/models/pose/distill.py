"""Heatmap distillation from a frozen real-valued teacher (for binary top-down pose models).

BBC trains its binary ImageNet networks with knowledge distillation from a real ResNet-34
[official code]; for pose, no source gives the recipe, so this is our reconstruction
(``../shared/notes/papers.md``), every part a config switch::

    L = L_kpt(student, ground truth) + w * D(student heatmaps, teacher heatmaps)

``L_kpt`` is the student head's own loss (its ``loss_weight`` weighs it); ``D`` is
:class:`HeatmapDistillLoss`, MSE or KL between spatial softmaxes, weighted by its ``loss_weight``
``w``. The teacher is any MMPose top-down heatmap model given by a config and a checkpoint; it
sees the same (student-normalised) input, is frozen, always in eval mode, and is kept out of the
student's checkpoints, so a checkpoint trained with distillation loads into the plain student
config (:func:`student_config`) for testing, inference and deployment.
"""

import contextlib
import copy
import os.path as osp
from typing import Optional, Union

import torch
import torch.nn.functional as F
from mmengine.config import Config, ConfigDict
from mmengine.runner.checkpoint import load_checkpoint
from mmpose.models.heads import HeatmapHead
from mmpose.models.pose_estimators import TopdownPoseEstimator
from mmpose.registry import MODELS as MMPOSE_MODELS
from torch import Tensor, nn

from mmbinary.binarizers.base import check_choice, check_positive
from mmbinary.registry import MODELS

TEACHER_PREFIX = 'teacher.'
DISTILL_KEYS = ('teacher_config', 'teacher_checkpoint', 'distill_loss')


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


def load_teacher_config(teacher_config: Union[str, dict, Config]) -> Config:
    """A teacher config from a file path, ``'mmpose::...'`` path, dict or :class:`Config`."""
    if isinstance(teacher_config, (Config, ConfigDict, dict)):
        return Config(copy.deepcopy(dict(teacher_config)))
    if not isinstance(teacher_config, str):
        raise TypeError(
            'teacher_config must be a config path, an "mmpose::..." path or a dict, got '
            f'{teacher_config!r}'
        )
    if '::' in teacher_config:
        from mmengine.hub import get_config

        return get_config(teacher_config)
    if not osp.isfile(teacher_config):
        raise FileNotFoundError(f'teacher_config {teacher_config!r} is not a file')
    return Config.fromfile(teacher_config)


def student_config(model_cfg: dict) -> dict:
    """The plain :class:`TopdownPoseEstimator` config of a distillation model config.

    Use it to test, run or count a student trained with distillation without its teacher (the
    checkpoints hold no teacher weights).
    """
    cfg = copy.deepcopy(model_cfg)
    if cfg.get('type') in ('HeatmapDistillEstimator', 'mmbinary.HeatmapDistillEstimator'):
        cfg['type'] = 'TopdownPoseEstimator'
        for key in DISTILL_KEYS:
            cfg.pop(key, None)
    return cfg


@contextlib.contextmanager
def _reuse_forward(head: nn.Module, output: Tensor):
    """Within the context, ``head.forward(...)`` returns ``output`` (computed once)."""
    head.forward = lambda *args, **kwargs: output
    try:
        yield
    finally:
        del head.forward


@MODELS.register_module()
class HeatmapDistillEstimator(TopdownPoseEstimator):
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
        teacher_cfg = load_teacher_config(teacher_config)
        if 'model' not in teacher_cfg:
            raise KeyError(f'teacher_config {teacher_config!r} has no "model"')
        if not isinstance(teacher_checkpoint, str) or not osp.isfile(teacher_checkpoint):
            raise FileNotFoundError(
                f'{type(self).__name__}: teacher_checkpoint {teacher_checkpoint!r} is not a file. '
                f'Give the checkpoint of the teacher {teacher_config!r} (e.g. from the MMPose '
                'model zoo, downloaded beforehand), or train without distillation.'
            )
        _check_same_normalisation(teacher_cfg.model, data_preprocessor)
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
        self.teacher = MMPOSE_MODELS.build(teacher_cfg.model)
        if not isinstance(getattr(self.teacher, 'head', None), HeatmapHead):
            raise TypeError(f'the teacher {teacher_config!r} has no heatmap head')
        if self.teacher.head.out_channels != self.head.out_channels:
            raise ValueError(
                f'the teacher predicts {self.teacher.head.out_channels} heatmaps, the student '
                f'{self.head.out_channels}: they must have the same keypoints'
            )
        load_checkpoint(self.teacher, teacher_checkpoint, map_location='cpu', strict=True)
        self.teacher.requires_grad_(False)
        self.teacher.eval()
        self.teacher._is_init = True  # init_weights() must not overwrite the loaded weights
        self.teacher_checkpoint = teacher_checkpoint
        self.distill_loss = MODELS.build(
            distill_loss or dict(type='HeatmapDistillLoss', mode='mse', loss_weight=1.0)
        )
        # Keep the teacher out of the student's checkpoints (and accept checkpoints without it).
        self._register_state_dict_hook(_drop_teacher_state)
        self.register_load_state_dict_post_hook(_ignore_missing_teacher)

    def train(self, mode: bool = True):
        super().train(mode)
        self.teacher.eval()
        return self

    @torch.no_grad()
    def teacher_heatmaps(self, inputs: Tensor) -> Tensor:
        """The frozen teacher's heatmaps for (already normalised) ``inputs``."""
        return self.teacher._forward(inputs)

    def loss(self, inputs: Tensor, data_samples) -> dict:
        """Student head losses (``loss_kpt``, ``acc_pose``) plus ``loss_distill``."""
        feats = self.extract_feat(inputs)
        heatmaps = self.head.forward(feats)
        with _reuse_forward(self.head, heatmaps):  # the head's loss reuses these heatmaps
            losses = self.head.loss(feats, data_samples, train_cfg=self.train_cfg)
        losses['loss_distill'] = self.distill_loss(heatmaps, self.teacher_heatmaps(inputs))
        return losses


def _check_same_normalisation(teacher_model: dict, data_preprocessor: Optional[dict]):
    teacher_pre = teacher_model.get('data_preprocessor') or {}
    student_pre = data_preprocessor or {}
    for key in ('mean', 'std', 'bgr_to_rgb'):
        t, s = teacher_pre.get(key), student_pre.get(key)
        if t is not None and s is not None and list(_as_list(t)) != list(_as_list(s)):
            raise ValueError(
                f'the teacher normalises its input with {key}={t!r}, the student with {s!r}; '
                "the teacher sees the student's normalised input, so they must agree"
            )


def _as_list(value):
    return value if isinstance(value, (list, tuple)) else [value]


def _drop_teacher_state(module, state_dict, prefix, local_metadata):
    for key in [k for k in state_dict if k.startswith(prefix + TEACHER_PREFIX)]:
        del state_dict[key]
    return state_dict


def _ignore_missing_teacher(module, incompatible_keys):
    missing = incompatible_keys.missing_keys
    missing[:] = [k for k in missing if not k.startswith(TEACHER_PREFIX)]
