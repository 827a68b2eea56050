"""The shared frozen-teacher helpers: own build scope, check before loading, hidden, moved."""

import pytest
import torch
from mmengine.config import Config
from torch import nn

from mmbinary.models.utils import (
    FrozenTeacherMixin,
    build_frozen_teacher,
    check_same_normalisation,
)
from mmbinary.registry import MODELS
from mmbinary.scope import build_scope

CONV = dict(
    type='BinaryConv2d',
    in_channels=2,
    out_channels=2,
    kernel_size=3,
    weight_binarizer='MLPBinarizer',
)


class Student(FrozenTeacherMixin, nn.Module):
    def __init__(self, checkpoint, check=None):
        super().__init__()
        self.conv = MODELS.build(CONV)
        self._hold_teacher(build_frozen_teacher(MODELS, CONV, checkpoint, check=check))


@pytest.fixture
def checkpoint(tmp_path):
    with build_scope():
        teacher = MODELS.build(CONV)
    path = tmp_path / 'teacher.pth'
    torch.save(dict(state_dict=teacher.state_dict()), path)
    return str(path), teacher


def test_teacher_is_loaded_frozen_hidden_and_never_shares_the_students_mlp(checkpoint):
    path, saved = checkpoint
    with build_scope():  # as a registry build of the student opens one
        student = Student(path)
    teacher = student.teacher
    assert torch.equal(teacher.weight, saved.weight)
    assert not teacher.training and not any(p.requires_grad for p in teacher.parameters())
    assert teacher.weight_binarizer.mlp is not student.conv.weight_binarizer.mlp
    assert teacher not in list(student.modules())
    assert set(student.state_dict()) == {f'conv.{k}' for k in student.conv.state_dict()}
    student.double()  # moved and cast with the student
    assert teacher.weight.dtype == torch.float64


def test_the_check_runs_before_the_checkpoint_is_loaded(checkpoint):
    path, saved = checkpoint
    seen = []

    def refuse(teacher):
        seen.append(torch.equal(teacher.weight, saved.weight))
        raise ValueError('wrong teacher')

    with pytest.raises(ValueError, match='wrong teacher'):
        Student(path, check=refuse)
    assert seen == [False]  # built, not yet loaded


def test_normalisation_must_agree():
    teacher = Config(dict(model=dict(data_preprocessor=dict(mean=[1, 2, 3]))))
    check_same_normalisation('X', teacher, dict(mean=[1.0, 2.0, 3.0], std=[1, 1, 1]))
    with pytest.raises(ValueError, match=r'X: the teacher normalises its input with mean='):
        check_same_normalisation('X', teacher, dict(mean=[0, 0, 0]))
    top_level = Config(dict(model=dict(), data_preprocessor=dict(to_rgb=True)))
    with pytest.raises(ValueError, match='to_rgb=True'):
        check_same_normalisation('X', top_level, dict(to_rgb=False))
