import copy

import numpy as np
import pytest
import torch
from mmengine.optim import OptimWrapper
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from mmbinary.models.classifiers import (
    KDImageClassifier,
    soft_target_cross_entropy,
    student_classifier_config,
)

PRE = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)
TINY_RESNET = dict(type='ResNet', depth=18, stem_channels=8, base_channels=8)
# The teacher's config file: a real mmpretrain ResNet-18 from mmpretrain's own base config,
# narrowed to 8 base channels and 10 classes, with data_preprocessor at the top level as in
# mmpretrain's dataset configs.
TEACHER_CONFIG = """
_base_ = ['mmpretrain::_base_/models/resnet18.py']
model = dict(
    backbone=dict(stem_channels=8, base_channels=8),
    head=dict(num_classes={num_classes}, in_channels=64, topk=(1,)),
)
data_preprocessor = dict(
    num_classes={num_classes},
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True,
)
"""
STUDENT = dict(
    type='KDImageClassifier',
    data_preprocessor=PRE,
    backbone=dict(type='BinaryResNet', depth=18, stem_channels=8, base_channels=8),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=10, in_channels=64),
    soft_weight=0.9,
    hard_weight=0.1,
    temperature=1.0,
)


def np_log_softmax(x):
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


def hand_soft_ce(s, t, temp):
    """T^2 * mean_n sum_c -softmax(t/T) log_softmax(s/T), in float64."""
    p_t = np.exp(np_log_softmax(t.astype(np.float64) / temp))
    return temp**2 * np.mean(-(p_t * np_log_softmax(s.astype(np.float64) / temp)).sum(-1))


def hand_ce(s, labels):
    return np.mean(-np_log_softmax(s.astype(np.float64))[np.arange(len(labels)), labels])


@pytest.fixture(scope='module')
def teacher(tmp_path_factory):
    """``(config path, checkpoint path, saved state)`` of a tiny real ResNet-18 teacher."""
    root = tmp_path_factory.mktemp('teacher')
    config = root / 'teacher_resnet18.py'
    config.write_text(TEACHER_CONFIG.format(num_classes=10))
    torch.manual_seed(0)
    model = MODELS.build(
        dict(
            type='ImageClassifier',
            backbone=TINY_RESNET,
            neck=dict(type='GlobalAveragePooling'),
            head=dict(type='LinearClsHead', num_classes=10, in_channels=64),
        )
    )
    with torch.no_grad():  # logits of order 1, so that the soft targets are far from uniform
        model.head.fc.weight.normal_(0, 1.0)
    checkpoint = root / 'teacher.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, checkpoint)
    return str(config), str(checkpoint), model.state_dict()


def build(teacher, **overrides):
    config, checkpoint, _ = teacher
    cfg = copy.deepcopy(STUDENT)
    cfg.update(teacher_config=config, teacher_checkpoint=checkpoint)
    cfg.update(overrides)
    return MODELS.build(cfg)


def samples(labels):
    return [DataSample().set_gt_label(int(label)) for label in labels]


@pytest.mark.parametrize('temp', [1.0, 2.5])
def test_soft_target_cross_entropy_against_hand_computation(temp):
    torch.manual_seed(0)
    s = torch.randn(5, 7, dtype=torch.float64, requires_grad=True)
    t = torch.randn(5, 7, dtype=torch.float64) * 3
    loss = soft_target_cross_entropy(s, t, temp)
    assert loss.item() == pytest.approx(hand_soft_ce(s.detach().numpy(), t.numpy(), temp), 1e-12)
    # d/ds of T^2 * CE(s/T, p_t) = T * (softmax(s/T) - p_t) / N
    loss.backward()
    p_s = torch.softmax(s.detach() / temp, -1)
    p_t = torch.softmax(t / temp, -1)
    torch.testing.assert_close(s.grad, temp * (p_s - p_t) / 5)
    # the teacher's logits never receive a gradient
    t.requires_grad_(True)
    soft_target_cross_entropy(s, t, temp).backward()
    assert t.grad is None


def test_built_from_mmpretrain_registry_with_a_frozen_hidden_teacher(teacher):
    config, checkpoint, saved = teacher
    model = build(teacher)
    assert isinstance(model, KDImageClassifier)
    assert type(model.teacher).__name__ == 'ImageClassifier'
    for key, value in model.teacher.state_dict().items():
        assert torch.equal(value, saved[key]), key
    model.train()
    assert model.training and not model.teacher.training
    assert not any(p.requires_grad for p in model.teacher.parameters())
    # not a submodule: absent from the state dict, parameters and modules of the student
    teacher_params = {id(p) for p in model.teacher.parameters()}
    assert not teacher_params & {id(p) for p in model.parameters()}
    assert model.teacher not in list(model.modules())
    plain = MODELS.build(student_classifier_config(dict(STUDENT, teacher_config=config)))
    assert type(plain).__name__ == 'ImageClassifier'
    assert list(model.state_dict()) == list(plain.state_dict())
    model.init_weights()  # must not touch the loaded teacher
    assert torch.equal(model.teacher.head.fc.weight, saved['head.fc.weight'])
    # .to() moves / casts the teacher with the student
    model.to(torch.float64)
    assert model.teacher.head.fc.weight.dtype == torch.float64


def test_loss_is_weighted_soft_and_hard_cross_entropy(teacher):
    torch.manual_seed(1)
    model = build(teacher, soft_weight=0.7, hard_weight=0.3, temperature=2.0)
    with torch.no_grad():
        model.head.fc.weight.normal_(0, 1.0)
    model.train()
    inputs, labels = torch.randn(4, 3, 32, 32), np.array([0, 3, 9, 3])
    losses = model.loss(inputs, samples(labels))
    assert set(losses) == {'loss_soft', 'loss_hard'}
    with torch.no_grad():  # train-mode BN: the same batch gives the same logits again
        student = model(inputs, mode='tensor').numpy()
        teacher_logits = model.teacher(inputs, mode='tensor').numpy()
    assert student.shape == teacher_logits.shape == (4, 10)
    expected_soft = 0.7 * hand_soft_ce(student, teacher_logits, 2.0)
    assert losses['loss_soft'].item() == pytest.approx(expected_soft, rel=1e-5)
    assert losses['loss_hard'].item() == pytest.approx(0.3 * hand_ce(student, labels), rel=1e-5)

    sum(losses.values()).backward()
    assert all(p.grad is None for p in model.teacher.parameters())
    assert model.backbone.layer1[0].unit.conv.weight.grad.abs().sum() > 0


def test_train_step_and_student_only_checkpoint(teacher):
    model = build(teacher)
    optim = OptimWrapper(torch.optim.Adam(model.parameters(), lr=1e-3))
    data = dict(
        inputs=[torch.randint(0, 255, (3, 32, 32), dtype=torch.uint8) for _ in range(4)],
        data_samples=samples([1, 2, 3, 4]),
    )
    teacher_before = copy.deepcopy(model.teacher.state_dict())
    conv_before = model.backbone.layer1[0].unit.conv.weight.detach().clone()
    log = model.train_step(data, optim)
    assert {'loss', 'loss_soft', 'loss_hard'} <= set(log)
    assert torch.isclose(log['loss'], log['loss_soft'] + log['loss_hard'])
    assert not torch.equal(conv_before, model.backbone.layer1[0].unit.conv.weight)
    for key, value in model.teacher.state_dict().items():
        assert torch.equal(value, teacher_before[key]), key

    # the checkpoint is the student alone; inference is exactly the plain student's
    plain = MODELS.build(student_classifier_config(STUDENT))
    plain.load_state_dict(model.state_dict(), strict=True)
    model.eval(), plain.eval()
    inputs = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(inputs, mode='tensor'), plain(inputs, mode='tensor'))
        pred, plain_pred = model.predict(inputs), plain.predict(inputs)
    assert torch.equal(pred[0].pred_score, plain_pred[0].pred_score)


def test_missing_files_are_clear_errors_at_construction(teacher, tmp_path):
    config, _, _ = teacher
    missing = str(tmp_path / 'no_such_teacher.pth')
    with pytest.raises(FileNotFoundError, match=r'teacher_checkpoint .*no_such_teacher\.pth'):
        build(teacher, teacher_checkpoint=missing)
    with pytest.raises(FileNotFoundError, match=r'teacher_config .*no_config\.py'):
        build(teacher, teacher_config=str(tmp_path / 'no_config.py'))


def test_teacher_class_count_must_match(teacher, tmp_path):
    _, checkpoint, _ = teacher
    config = tmp_path / 'teacher_1000.py'
    config.write_text(TEACHER_CONFIG.format(num_classes=1000))
    with pytest.raises(ValueError, match='predicts 1000 classes, the student 10'):
        build(teacher, teacher_config=str(config))
    with pytest.raises(ValueError, match='predicts 10 classes, the student 7'):
        build(teacher, head=dict(STUDENT['head'], num_classes=7))


@pytest.mark.parametrize(
    'overrides,message',
    [
        (dict(soft_weight=-0.1), 'soft_weight must be >= 0, got -0.1'),
        (dict(hard_weight=-1), 'hard_weight must be >= 0, got -1'),
        (dict(soft_weight=0, hard_weight=0), 'both 0'),
        (dict(temperature=0), 'temperature must be > 0, got 0'),
        (dict(data_preprocessor=dict(PRE, mean=[0, 0, 0])), 'mean'),
        (dict(data_preprocessor=dict(PRE, to_rgb=False)), 'to_rgb'),
    ],
)
def test_bad_values_are_clear_errors(teacher, overrides, message):
    with pytest.raises(ValueError, match=message):
        build(teacher, **overrides)
