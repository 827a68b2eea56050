"""Knowledge distillation from a frozen real-valued teacher, for mmpretrain image classifiers.

BBC trains its binary ResNets with distillation from a real ResNet-34 [official code of BBC]::

    L = soft_weight * T^2 * CE_soft(student / T, softmax(teacher / T)) + hard_weight * CE(label)

with ``CE_soft(z, p) = mean_n sum_c -p[n, c] * log_softmax(z)[n, c]`` (the soft-target cross
entropy of the authors' code, not the KL divergence: the two differ by the teacher's entropy, a
constant for the student, so the gradients are the same). BBC uses ``0.9 / 0.1`` with ``T = 1``.
The ``T^2`` factor (Hinton et al., 2015) keeps the soft term's gradient scale independent of
``T``; it is 1 at ``T = 1``, the BBC setting.

The teacher is any mmpretrain classifier given by a config file and a checkpoint. It sees the
same (student-normalised) input, is frozen, always in eval mode, and is *not a submodule* of the
student (:class:`~mmbinary.models.utils.FrozenTeacherMixin`): checkpoints hold the student only
(they load into the plain :class:`ImageClassifier` config), optimizers, EMA and ``init_cfg``
never see it, and parameter counts are the student's. ``model.to(...)`` / ``.cuda()`` move it
with the student.
"""

from typing import List, Optional, Union

import torch
import torch.nn.functional as F
from mmpretrain.models.classifiers import ImageClassifier
from mmpretrain.models.heads import ClsHead
from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS
from mmpretrain.structures import DataSample
from torch import Tensor

from mmbinary.binarizers.base import check_positive
from mmbinary.registry import MODELS

from ..utils import (
    FrozenTeacherMixin,
    build_frozen_teacher,
    check_same_normalisation,
    check_teacher,
    unwrap_model_config,
)

KD_KEYS = ('teacher_config', 'teacher_checkpoint', 'soft_weight', 'hard_weight', 'temperature')


def soft_target_cross_entropy(
    student_logits: Tensor, teacher_logits: Tensor, temperature: float = 1.0
) -> Tensor:
    """``T^2 * mean_n sum_c -softmax(t / T)[n, c] * log_softmax(s / T)[n, c]``.

    The teacher's logits are detached. ``T^2`` is 1 at ``T = 1`` (BBC).
    """
    t = float(temperature)
    target = F.softmax(teacher_logits.detach() / t, dim=-1)
    loss = -(target * F.log_softmax(student_logits / t, dim=-1)).sum(-1).mean()
    return loss * (t * t)


def student_classifier_config(model_cfg: dict) -> dict:
    """The plain :class:`ImageClassifier` config of a :class:`KDImageClassifier` config.

    A checkpoint trained with distillation holds the student only; this config tests, runs or
    exports it without a teacher.
    """
    return unwrap_model_config(model_cfg, 'KDImageClassifier', 'ImageClassifier', KD_KEYS)


@MODELS.register_module()
class KDImageClassifier(FrozenTeacherMixin, ImageClassifier):
    """:class:`ImageClassifier` trained by distillation from a frozen real-valued teacher.

    ``loss`` returns ``loss_soft`` (``soft_weight * T^2 * CE_soft``, see the module docstring)
    and ``loss_hard`` (``hard_weight`` times the student head's own loss: ``CE(label)`` with the
    default ``CrossEntropyLoss``; label smoothing, Mixup targets and the head's ``loss_weight``
    apply), plus the head's training accuracy if ``cal_acc``. Prediction (``'tensor'`` and
    ``'predict'`` modes) is exactly the student's; the teacher is used by ``loss`` only.

    Args:
        backbone, neck, head, pretrained, train_cfg, data_preprocessor, init_cfg: as
            :class:`ImageClassifier` (the student). The head must be a single-label
            classification head with ``num_classes`` (``LinearClsHead`` and other ``ClsHead``
            subclasses).
        teacher_config (str): the teacher's mmpretrain config file (it may inherit from
            ``'mmpretrain::...'`` bases), an ``'mmpretrain::...'`` config, or a dict with
            ``model``. Its ``model`` is built with mmpretrain's registry.
        teacher_checkpoint (str): the teacher's checkpoint file, loaded strictly at construction.
        soft_weight (float): weight of the soft-target term, >= 0. Default 0.9 (BBC).
        hard_weight (float): weight of the label term, >= 0. Default 0.1 (BBC).
        temperature (float): ``T`` > 0. Default 1 (BBC).

    Raises:
        ValueError: a negative weight, both weights zero, ``temperature <= 0``, a teacher whose
            number of classes differs from the student's, or teacher and student input
            normalisations that differ.
        FileNotFoundError: ``teacher_config`` or ``teacher_checkpoint`` is not a file.
        TypeError: a student or teacher head without ``num_classes``.

    All checks run at construction, before any training.

    Example:
        >>> model = dict(
        ...     type='KDImageClassifier',
        ...     backbone=dict(type='BinaryResNet', depth=18),
        ...     neck=dict(type='GlobalAveragePooling'),
        ...     head=dict(type='LinearClsHead', num_classes=1000, in_channels=512),
        ...     teacher_config='configs/teachers/resnet34_8xb32_in1k.py',
        ...     teacher_checkpoint='checkpoints/resnet34_8xb32_in1k.pth')
    """

    def __init__(
        self,
        backbone: dict,
        neck: Optional[dict] = None,
        head: Optional[dict] = None,
        teacher_config: Union[str, dict, None] = None,
        teacher_checkpoint: Optional[str] = None,
        soft_weight: float = 0.9,
        hard_weight: float = 0.1,
        temperature: float = 1.0,
        pretrained: Optional[str] = None,
        train_cfg: Optional[dict] = None,
        data_preprocessor: Optional[dict] = None,
        init_cfg: Optional[dict] = None,
    ):
        # Every check that needs no model first: a wrong value fails before anything is built.
        owner = type(self).__name__
        self.soft_weight = float(check_positive(owner, 'soft_weight', soft_weight, strict=False))
        self.hard_weight = float(check_positive(owner, 'hard_weight', hard_weight, strict=False))
        if self.soft_weight == 0 and self.hard_weight == 0:
            raise ValueError(f'{owner}: soft_weight and hard_weight are both 0; nothing to learn')
        self.temperature = float(check_positive(owner, 'temperature', temperature))
        teacher_cfg = check_teacher(
            owner,
            teacher_config,
            teacher_checkpoint,
            'train the plain ImageClassifier without distillation',
        )
        check_same_normalisation(owner, teacher_cfg, data_preprocessor)
        super().__init__(
            backbone=backbone,
            neck=neck,
            head=head,
            pretrained=pretrained,
            train_cfg=train_cfg,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg,
        )
        if not isinstance(self.head, ClsHead):
            raise TypeError(
                f'{owner} needs a single-label classification head (ClsHead or a subclass such '
                f'as LinearClsHead), got {type(self.head).__name__}'
            )
        student_classes = _num_classes(self.head, 'student')

        def same_classes(teacher):
            teacher_classes = _num_classes(getattr(teacher, 'head', None), 'teacher')
            if teacher_classes != student_classes:
                raise ValueError(
                    f'{owner}: the teacher {teacher_config!r} predicts {teacher_classes} '
                    f'classes, the student {student_classes}; they must classify the same classes'
                )

        self._hold_teacher(
            build_frozen_teacher(
                MMPRETRAIN_MODELS, teacher_cfg.model, teacher_checkpoint, check=same_classes
            )
        )
        self.teacher_config = teacher_config
        self.teacher_checkpoint = teacher_checkpoint

    @torch.no_grad()
    def teacher_logits(self, inputs: Tensor) -> Tensor:
        """The teacher's logits for (already normalised) ``inputs``."""
        self.teacher.eval()
        return self.teacher(inputs, mode='tensor')

    def loss(self, inputs: Tensor, data_samples: List[DataSample]) -> dict:
        """``loss_soft`` and ``loss_hard`` (and the head's accuracy if it computes one)."""
        logits = self.head(self.extract_feat(inputs))
        losses = {}
        if self.soft_weight > 0:
            teacher_logits = self.teacher_logits(inputs)
            if teacher_logits.shape != logits.shape:
                raise ValueError(
                    f'teacher logits {tuple(teacher_logits.shape)} and student logits '
                    f'{tuple(logits.shape)} differ'
                )
            soft = soft_target_cross_entropy(logits, teacher_logits, self.temperature)
            losses['loss_soft'] = soft * self.soft_weight
        head_losses = self.head._get_loss(logits, data_samples)
        hard = head_losses.pop('loss')
        if self.hard_weight > 0:
            losses['loss_hard'] = hard * self.hard_weight
        losses.update(head_losses)  # accuracy_top-k when the head has cal_acc=True
        return losses

    def extra_repr(self) -> str:
        return (
            f'teacher_config={self.teacher_config!r}, '
            f'teacher_checkpoint={self.teacher_checkpoint!r}, soft_weight={self.soft_weight}, '
            f'hard_weight={self.hard_weight}, temperature={self.temperature}'
        )


def _num_classes(head, who: str) -> int:
    num_classes = getattr(head, 'num_classes', None)
    if not isinstance(num_classes, int):
        raise TypeError(
            f'KDImageClassifier: the {who} head {type(head).__name__} has no num_classes; '
            'distillation needs classification heads such as LinearClsHead'
        )
    return num_classes
