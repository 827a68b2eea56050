"""BBC learned binarizers: values, gradients (by hand / by autograd of the plain surrogate),
MLP training signal and sharing semantics."""

import copy

import pytest
import torch
from torch import nn

from mmbinary.binarizers import (
    ClassifierBinarizer,
    LinearBinarizer,
    MLPBinarizer,
    binary_sign,
)
from mmbinary.binarizers import bbc as bbc_module
from mmbinary.binarizers.base import SurrogateBinarizer
from mmbinary.binarizers.bbc import ElementwiseMLP
from mmbinary.layers import BinaryConv2d
from mmbinary.scope import build_scope


def naive_mlp_surrogate(x, fc1, fc2):
    """``sum_k hardtanh(m_k(x))`` written independently, differentiated by autograd."""
    hidden = torch.tanh(x[..., None] * fc1[None, :])
    logits = hidden @ fc2.t()
    return torch.nn.functional.hardtanh(logits).sum(-1)


@pytest.fixture
def mlp_binarizer():
    torch.manual_seed(0)
    with build_scope():
        return MLPBinarizer(hidden_channels=7, shared=False).double()


def test_mlp_forward_is_sign(mlp_binarizer):
    x = torch.randn(200, dtype=torch.float64)
    x[3] = 0.0
    assert torch.equal(mlp_binarizer(x), binary_sign(x))


@pytest.mark.parametrize('chunk', [5, 1 << 16])
def test_chunked_backward_equals_autograd_of_the_surrogate(mlp_binarizer, monkeypatch, chunk):
    monkeypatch.setattr(bbc_module, '_CHUNK', chunk)
    x = torch.randn(3, 4, 5, dtype=torch.float64) * 1.5
    g = torch.randn_like(x)
    xa = x.clone().requires_grad_(True)
    (mlp_binarizer(xa) * g).sum().backward()
    fc1, fc2 = mlp_binarizer.mlp.fc1, mlp_binarizer.mlp.fc2
    got = (xa.grad.clone(), fc1.grad.clone(), fc2.grad.clone())

    fc1_ref = fc1.detach().clone().requires_grad_(True)
    fc2_ref = fc2.detach().clone().requires_grad_(True)
    xr = x.clone().requires_grad_(True)
    (naive_mlp_surrogate(xr, fc1_ref, fc2_ref) * g).sum().backward()
    for a, b in zip(got, (xr.grad, fc1_ref.grad, fc2_ref.grad)):
        assert torch.allclose(a, b, atol=1e-12)

    # the generic SurrogateBinarizer path on the module's own surrogate gives the same
    mlp_binarizer.zero_grad()
    xs = x.clone().requires_grad_(True)
    (SurrogateBinarizer.forward(mlp_binarizer, xs) * g).sum().backward()
    for a, b in zip(got, (xs.grad, fc1.grad, fc2.grad)):
        assert torch.allclose(a, b, atol=1e-12)


def test_mlp_gradient_matches_finite_differences_away_from_the_clip(mlp_binarizer):
    fc1, fc2 = mlp_binarizer.mlp.fc1.detach(), mlp_binarizer.mlp.fc2.detach()
    x = torch.linspace(-2, 2, 41, dtype=torch.float64)
    logits = torch.tanh(x[:, None] * fc1) @ fc2.t()
    keep = ((logits.abs() - 1).abs() > 1e-3).all(-1)  # the hardtanh kink is not differentiable
    x = x[keep]
    xa = x.clone().requires_grad_(True)
    mlp_binarizer(xa).sum().backward()
    h = 1e-6

    def s(v):  # by hand: mask by |m_k| < 1, sum the logits inside the mask
        m = torch.tanh(v[:, None] * fc1) @ fc2.t()
        return (m.clamp(-1, 1)).sum(-1)

    fd = (s(x + h) - s(x - h)) / (2 * h)
    assert torch.allclose(xa.grad, fd, atol=1e-6)


def test_mlp_gradient_is_positive_at_zero_at_init():
    torch.manual_seed(1)
    with build_scope():
        m = MLPBinarizer()
    x = torch.zeros(1, requires_grad=True)
    m(x).sum().backward()
    assert x.grad.item() > 0.5
    assert x.grad.item() == pytest.approx(m.mlp.slope_at_zero().item(), rel=1e-6)


def _linear_default(out_features, in_features):
    return nn.Linear(in_features, out_features, bias=False).weight.detach()


def test_official_code_init_is_pytorchs_linear_default():
    torch.manual_seed(3)
    mlp = ElementwiseMLP(100, init='official_code')
    torch.manual_seed(3)  # the authors' MLP: two nn.Linear(bias=False), default init
    fc1, fc2 = _linear_default(100, 1), _linear_default(2, 100)
    assert torch.equal(mlp.fc1.detach(), fc1.flatten())
    assert torch.equal(mlp.fc2.detach(), fc2)
    assert mlp.fc1.abs().max() <= 1 and mlp.fc2.abs().max() <= 0.1


def test_slope_at_zero_of_both_inits():
    """``s'(0)`` of each init, from the surrogate's autograd derivative, over 200 draws."""
    slopes = {}
    for init in ('official_code', 'positive_slope'):
        torch.manual_seed(0)
        values = []
        for _ in range(200):
            b = MLPBinarizer(init=init, shared=False).double()
            x = torch.zeros(1, dtype=torch.float64, requires_grad=True)
            b.surrogate(x).sum().backward()
            values.append(x.grad.item())
        slopes[init] = torch.tensor(values)
    official, positive = slopes['official_code'], slopes['positive_slope']
    # zero mean, std sqrt(2 * 100 * (1/3) * (0.01/3)) = 0.471 in theory
    assert abs(official.mean()) < 0.15 and 0.38 < official.std() < 0.56
    assert 0.3 < (official < 0).float().mean() < 0.7
    # 2 * 100 * E[fc1] E[fc2] = 2 * 1.25 = 2.5
    assert abs(positive.mean() - 2.5) < 0.05 and (positive > 2).all()


def test_bad_init_names_the_choices():
    with pytest.raises(ValueError, match="init must be one of.*'official_code'.*got 'paper'"):
        MLPBinarizer(init='paper', shared=False)


def test_mlp_is_trained_by_the_task_loss():
    torch.manual_seed(0)
    with build_scope():
        conv = BinaryConv2d(4, 4, 3, weight_binarizer='MLPBinarizer', center_weight=True)
    conv(torch.randn(2, 4, 5, 5)).square().sum().backward()
    assert conv.weight_binarizer.mlp.fc1.grad.abs().sum() > 0
    assert conv.weight_binarizer.mlp.fc2.grad.abs().sum() > 0


def _net(n_layers, **cfg):
    return nn.Sequential(
        *[
            BinaryConv2d(8, 8, 3, bias=False, weight_binarizer=dict(type='MLPBinarizer', **cfg))
            for _ in range(n_layers)
        ]
    )


def test_shared_mlp_counted_once_and_per_layer_counted_per_layer():
    conv_params = 3 * 8 * 8 * 9
    mlp_params = 100 + 2 * 100
    with build_scope():
        shared = _net(3)
    with build_scope():
        per_layer = _net(3, shared=False)
    assert sum(p.numel() for p in shared.parameters()) == conv_params + mlp_params
    assert sum(p.numel() for p in per_layer.parameters()) == conv_params + 3 * mlp_params
    assert shared[0].weight_binarizer.mlp is shared[2].weight_binarizer.mlp


def test_scopes_do_not_share_and_deepcopy_keeps_sharing():
    with build_scope():
        a = _net(2)
    with build_scope():
        b = _net(2)
    assert a[0].weight_binarizer.mlp is not b[0].weight_binarizer.mlp
    c = copy.deepcopy(a)
    assert c[0].weight_binarizer.mlp is c[1].weight_binarizer.mlp
    assert c[0].weight_binarizer.mlp is not a[0].weight_binarizer.mlp


def test_outside_any_scope_each_layer_has_its_own_mlp_and_a_warning(monkeypatch):
    logged = []
    monkeypatch.setattr(bbc_module, '_warned_unscoped', set())
    monkeypatch.setattr(bbc_module, 'print_log', lambda msg, **kwargs: logged.append(msg))
    first, second = _net(2), _net(1)
    mlps = {id(m.weight_binarizer.mlp) for m in [*first, *second]}
    assert len(mlps) == 3  # no process-wide pool: nothing is shared across models
    assert len(logged) == 1 and 'outside any model build scope' in logged[0]  # once


def test_a_nested_scope_joins_and_an_isolated_one_does_not():
    with build_scope():
        student = _net(1)
        with build_scope():
            head = _net(1)
        with build_scope(isolated=True):
            teacher = _net(1)
    assert student[0].weight_binarizer.mlp is head[0].weight_binarizer.mlp
    assert teacher[0].weight_binarizer.mlp is not student[0].weight_binarizer.mlp


def test_shared_state_dict_round_trip():
    torch.manual_seed(0)
    with build_scope():
        a = _net(2)
    with build_scope():
        b = _net(2)
    b.load_state_dict(a.state_dict())
    x = torch.randn(1, 8, 6, 6)
    assert torch.equal(a(x), b(x))
    assert torch.equal(b[0].weight_binarizer.mlp.fc1, a[1].weight_binarizer.mlp.fc1)


def test_width_mismatch_and_bad_width():
    with build_scope():
        MLPBinarizer(hidden_channels=10)
        with pytest.raises(ValueError, match="'hidden_channels': 20.*differs"):
            MLPBinarizer(hidden_channels=20)
        with pytest.raises(ValueError, match="'init': 'official_code'.*differs"):
            MLPBinarizer(hidden_channels=10, init='official_code')
    with pytest.raises(ValueError, match='hidden_channels must be > 0'):
        MLPBinarizer(hidden_channels=0)


def test_linear_binarizer_is_ste_with_learned_gain():
    with build_scope():
        m = LinearBinarizer(shared=False)
    with torch.no_grad():
        m.linear.weight.copy_(torch.tensor([[0.25], [1.5]]))
    x = torch.tensor([-3.0, -0.5, 0.0, 0.5, 3.0], requires_grad=True)
    g = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0])
    y = m(x)
    assert y.tolist() == [-1.0, -1.0, 1.0, 1.0, 1.0]
    (y * g).sum().backward()
    assert x.grad.tolist() == pytest.approx((g * 1.75).tolist())  # g (a0 + a1)
    # dL/da_k = sum g x for both gains
    expected = float((g * x.detach()).sum())
    assert m.linear.weight.grad.flatten().tolist() == pytest.approx([expected, expected])


def test_classifier_binarizer_argmax_and_gradient_to_both_logits():
    torch.manual_seed(0)
    with build_scope():
        m = ClassifierBinarizer(hidden_channels=5, shared=False).double()
    x = torch.linspace(-2, 2, 9, dtype=torch.float64, requires_grad=True)
    y = m(x)
    assert torch.equal(y, binary_sign(x.detach()))  # antisymmetric init: argmax == sign
    y.sum().backward()
    fc1, fc2 = m.mlp.fc1.detach(), m.mlp.fc2.detach()
    # d/dx (m_0 + m_1) = sum_j (fc2[0, j] + fc2[1, j]) fc1[j] (1 - tanh^2(fc1[j] x))
    by_hand = ((fc2[0] + fc2[1]) * fc1 * (1 - torch.tanh(x.detach()[:, None] * fc1) ** 2)).sum(-1)
    assert torch.allclose(x.grad, by_hand, atol=1e-12)
    with torch.no_grad():
        m.mlp.fc2.copy_(m.mlp.fc2.flip(0))  # swap the logits: the classifier now says -sign
    nonzero = x.detach()[x.detach() != 0]
    assert torch.equal(m(nonzero), -binary_sign(nonzero))
