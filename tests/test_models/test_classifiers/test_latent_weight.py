import copy

import pytest
import torch
import torch.nn.functional as F
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from torch import nn

from mmbinary.binarizers import binary_sign
from mmbinary.layers import BinaryConv2d, BinaryLinear
from mmbinary.models.classifiers import (
    LatentWeightClassifier,
    bypass_binarizers,
    frozen_norm_statistics,
    plain_classifier_config,
)

BACKBONE = dict(type='BinaryResNet', depth=18, stem_channels=8, base_channels=8)
MODEL = dict(
    type='LatentWeightClassifier',
    backbone=BACKBONE,
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=10, in_channels=64),
    latent_loss_weight=1.0,
    mimic_loss_weight=1.0,
)
# The same network with real convs: BinaryConv2d without binarizers, same parameter names.
REAL_BACKBONE = dict(
    BACKBONE, conv_cfg=dict(type='BinaryConv2d', weight_binarizer=None, input_binarizer=None)
)


def build(**overrides):
    cfg = copy.deepcopy(MODEL)
    cfg.update(overrides)
    return MODELS.build(cfg)


def same_weights(model, *others):
    for other in others:
        other.load_state_dict(model.state_dict(), strict=True)
    return (model, *others)


def batch(n=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    inputs = torch.randn(n, 3, 32, 32, generator=g)
    labels = torch.randint(0, 10, (n,), generator=g)
    return inputs, [DataSample().set_gt_label(int(y)) for y in labels]


def binary_convs(model):
    return [m for m in model.modules() if isinstance(m, BinaryConv2d)]


def grads(model, loss):
    model.zero_grad()
    loss.backward()
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def test_bypass_binarizers_computes_with_the_latent_weight():
    torch.manual_seed(0)
    conv = BinaryConv2d(4, 6, 3, padding=1, center_weight=True, weight_scale='learnable')
    linear = BinaryLinear(5, 3)
    model = nn.ModuleList([conv, linear])
    x, v = torch.randn(2, 4, 5, 5), torch.randn(2, 5)
    centred = conv.weight - conv.weight.mean((1, 2, 3), keepdim=True)
    binarizers = [(m.weight_binarizer, m.input_binarizer) for m in model]
    with bypass_binarizers(model) as layers:
        assert layers == [conv, linear]
        expected = F.conv2d(x, centred, conv.bias, padding=1)
        torch.testing.assert_close(conv(x), expected, rtol=0, atol=1e-6)
        torch.testing.assert_close(linear(v), F.linear(v, linear.weight, linear.bias))
        # the real path's gradient reaches the very same latent tensor, exactly
        conv(x).sum().backward()
    real_grad = torch.autograd.grad(expected.sum(), conv.weight)[0]
    torch.testing.assert_close(conv.weight.grad, real_grad)
    with bypass_binarizers(model, inputs=False):  # real weights on binary inputs
        out = conv(x)
    torch.testing.assert_close(out, F.conv2d(binary_sign(x), centred, conv.bias, padding=1))
    with pytest.raises(RuntimeError, match='boom'), bypass_binarizers(model):
        raise RuntimeError('boom')
    assert [(m.weight_binarizer, m.input_binarizer) for m in model] == binarizers


def test_frozen_norm_statistics_uses_batch_statistics_and_keeps_the_buffers():
    bn = nn.BatchNorm2d(3).train()
    x = torch.randn(4, 3, 2, 2) * 3 + 1
    before = copy.deepcopy(bn.state_dict())
    with frozen_norm_statistics(bn):
        out = bn(x)
    torch.testing.assert_close(out, F.batch_norm(x, None, None, training=True))
    for key, value in bn.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert bn.track_running_stats
    bn(x)
    assert bn.num_batches_tracked.item() == 1


def test_losses_and_the_real_path_against_an_independent_real_network():
    torch.manual_seed(0)
    model = build(mimic_loss_weight=0.0, latent_loss_weight=0.5).train()
    real = MODELS.build(plain_classifier_config(dict(MODEL, backbone=REAL_BACKBONE))).train()
    plain = MODELS.build(plain_classifier_config(MODEL)).train()
    same_weights(model, real, plain)
    inputs, data = batch()
    losses = model.loss(inputs, data)
    assert set(losses) == {'loss', 'loss_latent'}
    # the binary path's loss is the plain binary classifier's, the real path's the real one's
    assert losses['loss'].item() == pytest.approx(plain.loss(inputs, data)['loss'].item(), 1e-6)
    real_loss = real.loss(inputs, data)['loss']
    assert losses['loss_latent'].item() == pytest.approx(0.5 * real_loss.item(), rel=1e-6)
    # ... and gives the same latent weights the real network's gradients (times the weight)
    latent_grads, real_grads = grads(model, losses['loss_latent']), grads(real, real_loss)
    assert set(latent_grads) == set(real_grads)
    for name, grad in real_grads.items():
        torch.testing.assert_close(latent_grads[name], 0.5 * grad, rtol=1e-4, atol=1e-7)
    for conv in binary_convs(model):  # binarizers are back after the real path
        assert conv.weight_binarizer is not None and conv.input_binarizer is not None


def test_latent_and_mimic_losses_change_the_gradient_of_the_latent_weights():
    torch.manual_seed(0)
    off = build(latent_loss_weight=0.0, mimic_loss_weight=0.0).train()
    on = build().train()
    mimic_only = build(latent_loss_weight=0.0).train()
    same_weights(off, on, mimic_only)
    inputs, data = batch()
    off_losses, on_losses = off.loss(inputs, data), on.loss(inputs, data)
    assert set(off_losses) == {'loss'}
    assert set(on_losses) == {'loss', 'loss_latent', 'loss_mimic'}
    g_off = grads(off, sum(off_losses.values()))
    g_on = grads(on, sum(on_losses.values()))
    g_mimic = grads(mimic_only, sum(mimic_only.loss(inputs, data).values()))
    names = [n for n, m in on.named_modules() if isinstance(m, BinaryConv2d)]
    assert len(names) == 16
    for name in names:
        key = f'{name}.weight'
        assert not torch.allclose(g_on[key], g_off[key]), key
        assert not torch.allclose(g_mimic[key], g_off[key]), key


@pytest.mark.parametrize('detach', [True, False])
def test_mimic_loss_is_mse_to_the_real_features(detach):
    torch.manual_seed(0)
    model = build(latent_loss_weight=0.0, mimic_loss_weight=2.0, detach_latent_features=detach)
    model.train()
    inputs, data = batch()
    mimic = model.loss(inputs, data)['loss_mimic']
    (binary,) = model.backbone(inputs)
    with model.real_path():
        (real,) = model.backbone(inputs)
    expected = 2.0 * F.mse_loss(binary, real.detach() if detach else real)
    assert mimic.item() == pytest.approx(expected.item(), rel=1e-6)
    got, want = grads(model, mimic), grads(model, expected)
    assert set(got) == set(want)
    for name in want:
        torch.testing.assert_close(got[name], want[name], rtol=1e-4, atol=1e-8)


def test_eval_is_the_plain_classifier_and_training_leaves_no_trace():
    torch.manual_seed(0)
    on, off = build(), build(latent_loss_weight=0.0, mimic_loss_weight=0.0)
    plain = MODELS.build(plain_classifier_config(MODEL))
    assert type(plain).__name__ == 'ImageClassifier'
    assert list(on.state_dict()) == list(plain.state_dict())
    same_weights(on, off, plain)
    # a training forward with the real path updates exactly the buffers the binary one does
    inputs, data = batch(seed=1)
    on.train(), off.train()
    on.loss(inputs, data), off.loss(inputs, data)
    off_state = off.state_dict()
    for key, value in on.state_dict().items():
        assert torch.equal(value, off_state[key]), key
    plain.load_state_dict(off_state, strict=True)
    for model in (on, off, plain):
        model.eval()
    assert set(on.loss(inputs, data)) == {'loss'}  # no real path outside training
    with torch.no_grad():
        outs = [m(inputs, mode='tensor') for m in (on, off, plain)]
        preds = [m.predict(inputs)[0].pred_score for m in (on, off, plain)]
    assert torch.equal(outs[0], outs[1]) and torch.equal(outs[0], outs[2])
    assert torch.equal(preds[0], preds[1]) and torch.equal(preds[0], preds[2])


def test_auxiliary_head_trains_but_is_left_out_of_checkpoints():
    torch.manual_seed(0)
    head = dict(type='LinearClsHead', num_classes=10, in_channels=64, cal_acc=True)
    model = build(head=head, latent_head=head, mimic_loss_weight=0.0).train()
    plain = MODELS.build(plain_classifier_config(dict(MODEL, head=head, latent_head=head)))
    assert list(model.state_dict()) == list(plain.state_dict())
    plain.load_state_dict(model.state_dict(), strict=True)
    model.load_state_dict(plain.state_dict(), strict=True)  # missing aux head is accepted
    losses = model.loss(*batch())
    assert set(losses) == {'loss', 'accuracy_top-1', 'loss_latent', 'latent_accuracy_top-1'}
    g = grads(model, losses['loss_latent'])
    assert g['latent_head.fc.weight'].abs().sum() > 0
    assert 'head.fc.weight' not in g  # the real path uses the auxiliary head only
    assert g['backbone.layer1.0.unit.conv.weight'].abs().sum() > 0


def test_bad_values_are_clear_errors():
    with pytest.raises(ValueError, match='latent_loss_weight must be >= 0, got -1'):
        build(latent_loss_weight=-1)
    with pytest.raises(ValueError, match='mimic_loss_weight must be >= 0, got -0.5'):
        build(mimic_loss_weight=-0.5)
    with pytest.raises(ValueError, match=r"with_cp=True\) in 'backbone'"):
        build(backbone=dict(BACKBONE, with_cp=True))
    assert isinstance(build(), LatentWeightClassifier)
