"""The frozen real-valued teacher of distillation, shared by the classifiers and pose estimators.

One way of loading and hiding a teacher for :class:`~mmbinary.models.KDImageClassifier`
(mmpretrain) and :class:`~mmbinary.models.HeatmapDistillEstimator` (MMPose):

* :func:`check_teacher` loads the teacher's config and checks that the checkpoint file exists,
  before anything is built (a wrong path fails before any training);
* :func:`check_same_normalisation`: the teacher sees the student's normalised input, so both
  must normalise alike;
* :func:`build_frozen_teacher` builds the teacher with its task's registry in a build scope of
  its own (:mod:`mmbinary.scope`: it never shares a learned binarizer with the student), loads
  the checkpoint strictly, freezes it and sets eval mode;
* :class:`FrozenTeacherMixin` holds it *outside* the module tree: the teacher is in none of
  ``state_dict()``, ``parameters()``, ``modules()``, ``train()`` or ``init_weights()``, so
  checkpoints, optimizers, EMA and parameter counts see the student only; ``.to()`` /
  ``.cuda()`` / ``.half()`` move and cast it with the student.
"""

import copy
import os.path as osp
from typing import Callable, Optional, Union

from mmengine.config import Config, ConfigDict
from mmengine.runner.checkpoint import load_checkpoint
from torch import nn

from mmbinary.scope import build_scope

NORMALISATION_KEYS = ('mean', 'std', 'to_rgb', 'bgr_to_rgb')


def load_teacher_config(teacher_config: Union[str, dict, Config]) -> Config:
    """A teacher config from a file path, an ``'mmpose::...'`` / ``'mmpretrain::...'`` path, a
    dict or a :class:`Config`."""
    if isinstance(teacher_config, (Config, ConfigDict, dict)):
        return Config(copy.deepcopy(dict(teacher_config)))
    if not isinstance(teacher_config, str):
        raise TypeError(
            'teacher_config must be a config path, an "mmpose::..." / "mmpretrain::..." path or '
            f'a dict, got {teacher_config!r}'
        )
    if '::' in teacher_config:
        from mmengine.hub import get_config

        return get_config(teacher_config)
    if not osp.isfile(teacher_config):
        raise FileNotFoundError(f'teacher_config {teacher_config!r} is not a file')
    return Config.fromfile(teacher_config)


def check_teacher(owner: str, teacher_config, teacher_checkpoint, without: str) -> Config:
    """The teacher's config, once its ``model`` and its checkpoint file are known to exist.

    Args:
        owner (str): the class that needs the teacher (named in the errors).
        teacher_config: see :func:`load_teacher_config`.
        teacher_checkpoint (str): the teacher's checkpoint file.
        without (str): what to do instead, named in the error (e.g. ``'train the plain
            ImageClassifier without distillation'``).

    Raises:
        FileNotFoundError: the config or the checkpoint is not a file.
        KeyError: the config has no ``model``.
    """
    if teacher_config is None:
        raise ValueError(f'{owner} needs teacher_config (the teacher model config file)')
    cfg = load_teacher_config(teacher_config)
    if 'model' not in cfg:
        raise KeyError(f'{owner}: teacher_config {teacher_config!r} has no "model"')
    if not isinstance(teacher_checkpoint, str) or not osp.isfile(teacher_checkpoint):
        raise FileNotFoundError(
            f'{owner}: teacher_checkpoint {teacher_checkpoint!r} is not a file. Give the '
            f'checkpoint of the teacher {teacher_config!r} (e.g. from the model zoo, downloaded '
            f'beforehand), or {without}.'
        )
    return cfg


def _as_list(value):
    if isinstance(value, (list, tuple)):
        return [float(v) for v in value]
    return [value]


def check_same_normalisation(owner: str, teacher_cfg: Config, data_preprocessor: Optional[dict]):
    """Raise a ``ValueError`` unless teacher and student normalise their input alike.

    The teacher's ``data_preprocessor`` is looked for in its ``model`` and then at the top level
    of its config (mmpretrain configs keep it there; the runner merges it into ``model``). A key
    that either side leaves unset is not compared.
    """
    teacher_pre = (
        teacher_cfg.model.get('data_preprocessor') or teacher_cfg.get('data_preprocessor') or {}
    )
    student_pre = data_preprocessor if isinstance(data_preprocessor, dict) else {}
    for key in NORMALISATION_KEYS:
        t, s = teacher_pre.get(key), student_pre.get(key)
        if t is not None and s is not None and _as_list(t) != _as_list(s):
            raise ValueError(
                f'{owner}: the teacher normalises its input with {key}={t!r}, the student with '
                f"{s!r}; the teacher sees the student's normalised input, so they must agree"
            )


def build_frozen_teacher(
    registry, model_cfg: dict, checkpoint: str, check: Optional[Callable] = None
) -> nn.Module:
    """Build ``model_cfg`` with ``registry`` (own build scope), load ``checkpoint``, freeze.

    ``check(teacher)``, if given, runs before the checkpoint is loaded (a teacher of the wrong
    kind fails with its own message, not with a list of mismatched keys). The checkpoint is
    loaded strictly; the teacher has ``requires_grad=False`` everywhere, is in eval mode and is
    marked initialised (``init_weights()`` keeps the loaded weights).
    """
    with build_scope(isolated=True):  # a teacher never shares the student's binarizers
        teacher = registry.build(model_cfg)
    if check is not None:
        check(teacher)
    load_checkpoint(teacher, checkpoint, map_location='cpu', strict=True)
    teacher.requires_grad_(False)
    teacher.eval()
    teacher._is_init = True
    return teacher


class FrozenTeacherMixin:
    """Holds a frozen teacher outside the module tree (see the module docstring).

    The model calls :meth:`_hold_teacher` once it is built; :attr:`teacher` returns it.
    """

    def _hold_teacher(self, teacher: nn.Module):
        # A list hides the teacher from nn.Module: no state_dict, parameters(), train(), init.
        self._teacher = [teacher]

    @property
    def teacher(self) -> nn.Module:
        """The frozen teacher (eval mode, no gradients; not a submodule)."""
        return self._teacher[0]

    def _apply(self, fn, *args, **kwargs):
        """``.to()``, ``.cuda()``, ``.half()``, ... move and cast the teacher too."""
        super()._apply(fn, *args, **kwargs)
        if '_teacher' in self.__dict__:  # not yet while the student is being built
            self.teacher._apply(fn, *args, **kwargs)
        return self
