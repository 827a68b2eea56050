import copy

import numpy as np
import pytest
import torch
from mmengine.optim import OptimWrapper
from mmengine.structures import InstanceData, PixelData
from mmpose.registry import MODELS
from mmpose.structures import PoseDataSample

from mmbinary.models import HeatmapDistillLoss, student_config

pytestmark = pytest.mark.usefixtures('mmpose_scope')

PRE = dict(
    type='PoseDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
)
TEACHER = dict(
    type='TopdownPoseEstimator',
    data_preprocessor=PRE,
    backbone=dict(type='ResNet', depth=18),
    head=dict(type='HeatmapHead', in_channels=512, out_channels=4, deconv_out_channels=(8, 8, 8)),
)
STUDENT = dict(
    type='HeatmapDistillEstimator',
    data_preprocessor=PRE,
    backbone=dict(type='BinaryResNet', depth=18, stem_channels=8, base_channels=8),
    head=dict(type='SBPNHead', in_channels=64, out_channels=4, deconv_out_channels=(8, 8, 8)),
    teacher_config=dict(model=TEACHER),
    distill_loss=dict(type='HeatmapDistillLoss', mode='kl', loss_weight=0.5, temperature=2.0),
)


def np_softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def hand_mse(s, t, w):
    return w * np.mean((s.astype(np.float64) - t) ** 2)


def hand_kl(s, t, w, temp):
    n, k = s.shape[:2]
    p_s = np_softmax(s.reshape(n, k, -1).astype(np.float64) / temp)
    p_t = np_softmax(t.reshape(n, k, -1).astype(np.float64) / temp)
    return w * temp**2 * np.mean(np.sum(p_t * (np.log(p_t) - np.log(p_s)), -1))


@pytest.fixture(scope='module')
def teacher_checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    teacher = MODELS.build(TEACHER)
    with torch.no_grad():  # heatmaps of order 1, so that the KL is far from rounding noise
        teacher.head.final_layer.weight.mul_(50)
    path = tmp_path_factory.mktemp('teacher') / 'teacher.pth'
    torch.save(dict(state_dict=teacher.state_dict(), meta=dict()), path)
    return str(path)


def build_student(checkpoint, **overrides):
    cfg = copy.deepcopy(STUDENT)
    cfg.update(teacher_checkpoint=checkpoint, **overrides)
    return MODELS.build(cfg)


def samples(n, k=4, size=(16, 16)):
    out = []
    for _ in range(n):
        s = PoseDataSample()
        s.gt_fields = PixelData(heatmaps=torch.rand(k, *size))
        s.gt_instance_labels = InstanceData(keypoint_weights=torch.ones(1, k))
        out.append(s)
    return out


def test_mse_and_kl_against_hand_computation():
    torch.manual_seed(0)
    s, t = torch.randn(2, 3, 4, 5), torch.randn(2, 3, 4, 5)
    mse = HeatmapDistillLoss('mse', loss_weight=0.7)(s, t)
    assert mse.item() == pytest.approx(hand_mse(s.numpy(), t.numpy(), 0.7), rel=1e-6)
    kl = HeatmapDistillLoss('kl', loss_weight=0.3, temperature=2.5)(s, t)
    assert kl.item() == pytest.approx(hand_kl(s.numpy(), t.numpy(), 0.3, 2.5), rel=1e-5)
    assert HeatmapDistillLoss('kl')(t, t).item() == pytest.approx(0.0, abs=1e-7)


@pytest.mark.parametrize('mode', ['mse', 'kl'])
def test_gradient_against_finite_differences(mode):
    loss = HeatmapDistillLoss(mode, loss_weight=0.5, temperature=1.5)
    s = torch.randn(2, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    t = torch.randn(2, 2, 3, 3, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda x: loss(x, t), (s,))


def test_loss_bad_values():
    with pytest.raises(ValueError, match=r"mode.*'mse', 'kl'.*got 'l1'"):
        HeatmapDistillLoss('l1')
    with pytest.raises(ValueError, match='temperature must be > 0, got 0'):
        HeatmapDistillLoss('kl', temperature=0)
    with pytest.raises(ValueError, match=r'\(1, 2, 4, 4\).*\(1, 2, 8, 8\)'):
        HeatmapDistillLoss()(torch.zeros(1, 2, 4, 4), torch.zeros(1, 2, 8, 8))


def test_estimator_loss_is_keypoint_loss_plus_hand_distillation(teacher_checkpoint):
    torch.manual_seed(1)
    model = build_student(teacher_checkpoint)
    model.train()
    assert not model.teacher.training
    assert not any(p.requires_grad for p in model.teacher.parameters())
    saved = torch.load(teacher_checkpoint, weights_only=False)['state_dict']
    for key, value in model.teacher.state_dict().items():
        assert torch.equal(value, saved[key]), key
    model.init_weights()  # must not touch the loaded teacher
    assert torch.equal(model.teacher.backbone.conv1.weight, saved['backbone.conv1.weight'])

    model.eval()  # BN with running stats: the separate forwards below give the same values
    with torch.no_grad():
        model.head.final_layer.weight.mul_(50)
    inputs, data = torch.randn(2, 3, 64, 64), samples(2)
    losses = model.loss(inputs, data)
    assert set(losses) == {'loss_kpt', 'acc_pose', 'loss_distill'}
    with torch.no_grad():
        student = model.head.forward(model.extract_feat(inputs))
        teacher = model.teacher._forward(inputs)
        kpt = model.head.loss(model.extract_feat(inputs), data)['loss_kpt']
    assert student.shape == teacher.shape == (2, 4, 16, 16)
    expected = hand_kl(student.numpy(), teacher.numpy(), 0.5, 2.0)
    assert losses['loss_distill'].item() == pytest.approx(expected, rel=1e-4)
    assert losses['loss_kpt'].item() == pytest.approx(kpt.item(), rel=1e-6)

    (losses['loss_kpt'] + losses['loss_distill']).backward()
    assert all(p.grad is None for p in model.teacher.parameters())
    assert model.backbone.stem[0].weight.grad.abs().sum() > 0


def test_train_step_and_student_only_checkpoints(teacher_checkpoint):
    model = build_student(teacher_checkpoint, distill_loss=dict(type='HeatmapDistillLoss'))
    optim = OptimWrapper(torch.optim.Adam([p for p in model.parameters() if p.requires_grad]))
    data = dict(inputs=[torch.randint(0, 255, (3, 64, 64), dtype=torch.uint8)] * 2)
    data['data_samples'] = samples(2)
    before = model.backbone.stem[0].weight.detach().clone()
    log = model.train_step(data, optim)
    assert {'loss', 'loss_kpt', 'loss_distill'} <= set(log)
    assert torch.isclose(log['loss'], log['loss_kpt'] + log['loss_distill'])
    assert not torch.equal(before, model.backbone.stem[0].weight)

    state = model.state_dict()
    assert state and not any(k.startswith('teacher.') for k in state)
    plain = MODELS.build(student_config(dict(STUDENT, teacher_checkpoint=teacher_checkpoint)))
    assert type(plain).__name__ == 'TopdownPoseEstimator'
    plain.load_state_dict(state, strict=True)  # the student alone, nothing missing
    model.load_state_dict(state, strict=True)  # and back into the distiller


def test_missing_checkpoint_is_a_clear_error_at_construction(tmp_path):
    missing = str(tmp_path / 'no_such_teacher.pth')
    with pytest.raises(FileNotFoundError, match=r'teacher_checkpoint .*no_such_teacher\.pth'):
        build_student(missing)
    with pytest.raises(FileNotFoundError, match='teacher_config'):
        build_student(missing, teacher_config=str(tmp_path / 'no_config.py'))


def test_teacher_must_match_keypoints_and_normalisation(teacher_checkpoint):
    with pytest.raises(ValueError, match='teacher predicts 4 heatmaps, the student 5'):
        build_student(teacher_checkpoint, head=dict(STUDENT['head'], out_channels=5))
    other = dict(PRE, mean=[0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match='mean'):
        build_student(teacher_checkpoint, data_preprocessor=other)
