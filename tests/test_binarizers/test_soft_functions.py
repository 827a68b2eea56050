"""Forward values and pseudo-gradients of the soft-function family.

Gradients are checked against hand-computed values (piecewise estimators) or against central
finite differences of the closed-form surrogate written independently here (smooth ones).
"""

import math

import pytest
import torch

from mmbinary.binarizers import (
    EDE,
    STE,
    ApproxSign,
    ClippedSTE,
    SelfBinarizingTanh,
    SwishSign,
    TanhSign,
    binary_sign,
)

POINTS = torch.tensor([-2.0, -1.0, -0.75, -0.25, 0.0, 0.25, 0.75, 1.0, 2.0], dtype=torch.float64)


def grad_of(binarizer, x):
    x = x.clone().requires_grad_(True)
    y = binarizer(x)
    y.sum().backward()
    return y.detach(), x.grad


def finite_difference(f, x, h=1e-6):
    return (f(x + h) - f(x - h)) / (2 * h)


def test_binary_sign_maps_zero_to_plus_one():
    x = torch.tensor([-3.0, -0.0, 0.0, 1e-30, -1e-30, 5.0])
    assert binary_sign(x).tolist() == [-1.0, 1.0, 1.0, 1.0, -1.0, 1.0]
    assert binary_sign(x).dtype == x.dtype


@pytest.mark.parametrize(
    'binarizer', [STE(), ClippedSTE(), ApproxSign(), EDE(t=2.0), SwishSign(), TanhSign(nu=3.0)]
)
def test_forward_is_exactly_sign(binarizer):
    x = torch.randn(1000, dtype=torch.float64)
    x[0] = 0.0
    y, _ = grad_of(binarizer, x)
    assert torch.equal(y, binary_sign(x))


def test_ste_gradient_is_identity():
    _, g = grad_of(STE(), POINTS)
    assert g.tolist() == [1.0] * len(POINTS)


def test_clipped_ste_gradient_by_hand():
    _, g = grad_of(ClippedSTE(), POINTS)
    # 1 on |x| <= 1 (BinaryNet's hardtanh), 0 outside
    assert g.tolist() == [0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0]


def test_approx_sign_gradient_by_hand():
    _, g = grad_of(ApproxSign(), POINTS)
    # 2 + 2x on [-1, 0), 2 - 2x on [0, 1), 0 elsewhere (Bi-Real)
    expected = [0.0, 0.0, 0.5, 1.5, 2.0, 1.5, 0.5, 0.0, 0.0]
    assert g.tolist() == pytest.approx(expected)


@pytest.mark.parametrize('t,k', [(0.1, None), (1.0, None), (5.0, 2.0)])
def test_ede_gradient_matches_finite_differences(t, k):
    ede = EDE(t=t, k=k)
    k_eff = max(1 / t, 1.0) if k is None else k
    assert ede.k == pytest.approx(k_eff)
    _, g = grad_of(ede, POINTS)
    fd = finite_difference(lambda x: k_eff * torch.tanh(t * x), POINTS)
    assert torch.allclose(g, fd, atol=1e-6)


def test_ede_k_follows_t_when_unset():
    ede = EDE(t=0.01)
    assert ede.k == pytest.approx(100.0)
    ede.t = 10.0
    assert ede.k == 1.0


def test_swish_sign_gradient_matches_finite_differences_and_closed_form():
    beta = 5.0
    _, g = grad_of(SwishSign(beta=beta), POINTS)

    def ss(x):  # BNN+ SwishSign, written independently
        return 2 * torch.sigmoid(beta * x) * (1 + beta * x * (1 - torch.sigmoid(beta * x))) - 1

    assert torch.allclose(g, finite_difference(ss, POINTS), atol=1e-5)
    closed = [
        beta * (2 - beta * x * math.tanh(beta * x / 2)) / (1 + math.cosh(beta * x))
        for x in POINTS.tolist()
    ]
    assert g.tolist() == pytest.approx(closed, abs=1e-9)


def test_tanh_sign_gradient_matches_finite_differences():
    _, g = grad_of(TanhSign(nu=3.0), POINTS)
    fd = finite_difference(lambda x: torch.tanh(3.0 * x), POINTS)
    assert torch.allclose(g, fd, atol=1e-6)


def test_self_binarizing_tanh_train_is_tanh_and_eval_is_sign():
    m = SelfBinarizingTanh(nu=2.0)
    y, g = grad_of(m, POINTS)
    assert torch.allclose(y, torch.tanh(2.0 * POINTS))
    assert torch.allclose(g, finite_difference(lambda x: torch.tanh(2.0 * x), POINTS), atol=1e-6)
    m.eval()
    assert torch.equal(m(POINTS), binary_sign(POINTS))
    m.nu = 1000.0
    m.train()
    assert torch.equal(m(POINTS[POINTS.abs() > 0.1]), binary_sign(POINTS[POINTS.abs() > 0.1]))


@pytest.mark.parametrize(
    'factory,name,allowed',
    [
        (lambda: EDE(t=0.0), 't', '> 0'),
        (lambda: EDE(t=1.0, k=-1.0), 'k', '> 0'),
        (lambda: SwishSign(beta=-5), 'beta', '> 0'),
        (lambda: TanhSign(nu=0), 'nu', '> 0'),
        (lambda: SelfBinarizingTanh(nu=-1), 'nu', '> 0'),
    ],
)
def test_invalid_values_name_the_parameter(factory, name, allowed):
    with pytest.raises(ValueError, match=f'{name} must be {allowed}'):
        factory()


def test_scheduled_attribute_is_validated_too():
    ede = EDE()
    with pytest.raises(ValueError, match='t must be > 0, got -3'):
        ede.t = -3
