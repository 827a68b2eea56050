import pytest
import torch

from mmbinary.binarizers import AdaBinActivation, AdaBinWeight, binary_sign


def test_adabin_weight_values_are_the_per_channel_binary_set():
    torch.manual_seed(0)
    w = torch.randn(4, 3, 3, 3, dtype=torch.float64) * 0.1 + torch.arange(4.0).view(4, 1, 1, 1)
    out = AdaBinWeight()(w)
    for o in range(4):
        beta = w[o].mean()
        alpha = w[o].std(unbiased=False)
        expected = alpha * binary_sign(w[o] - beta) + beta
        assert torch.allclose(out[o], expected, atol=1e-12)
        assert len(torch.unique(out[o].round(decimals=12))) == 2


def test_adabin_weight_gradient_by_hand():
    # One channel of two weights: beta = (w0 + w1) / 2, alpha = |w0 - w1| / 2; with upstream g
    # and the EDE derivative d(u) = k t (1 - tanh^2(t u)) at u = +-1, autograd must give the chain
    # rule written out by hand below.
    t = 0.5
    w = torch.tensor([[0.3, -0.1]], dtype=torch.float64, requires_grad=True)
    g = torch.tensor([[2.0, -1.0]], dtype=torch.float64)
    binarizer = AdaBinWeight(t=t, eps=0.0)
    (binarizer(w) * g).sum().backward()

    w0, w1 = 0.3, -0.1
    beta, alpha = (w0 + w1) / 2, abs(w0 - w1) / 2
    u = [(w0 - beta) / alpha, (w1 - beta) / alpha]  # [1, -1]
    k = max(1 / t, 1)
    d = [k * t * (1 - torch.tanh(torch.tensor(t * ui)).item() ** 2) for ui in u]
    s = [1.0, -1.0]
    # y_i = alpha s_i + beta, s_i = sign(u_i) with ds/du = d_i, u_i = (w_i - beta) / alpha
    dbeta_dw = [0.5, 0.5]
    dalpha_dw = [0.5, -0.5]  # alpha = (w0 - w1) / 2 since w0 > w1
    grad = []
    for j in range(2):
        total = 0.0
        for i in range(2):
            du_dwj = ((1.0 if i == j else 0.0) - dbeta_dw[j]) / alpha - (w[0, i].item() - beta) / (
                alpha**2
            ) * dalpha_dw[j]
            dy_dwj = dalpha_dw[j] * s[i] + alpha * d[i] * du_dwj + dbeta_dw[j]
            total += g[0, i].item() * dy_dwj
        grad.append(total)
    assert w.grad[0].tolist() == pytest.approx(grad, abs=1e-12)


def test_adabin_weight_schedules_through_its_inner_ede():
    m = AdaBinWeight(t=1e-3)
    assert m.sign.t == 1e-3 and m.sign.k == pytest.approx(1000.0)
    with pytest.raises(ValueError, match='eps must be >= 0'):
        AdaBinWeight(eps=-1)


@pytest.mark.parametrize('form', ['official_code', 'paper'])
def test_adabin_activation_forward_and_gradients_by_hand(form):
    m = AdaBinActivation(form=form, alpha=2.0, beta=0.5)
    a = torch.tensor([-1.0, 0.5, 1.0, 3.5, 6.0], requires_grad=True)
    y = m(a)
    u = (a.detach() - 0.5) / 2.0  # [-0.75, 0, 0.25, 1.5, 2.75]
    s = binary_sign(u)
    expected = 2.0 * (s + 0.5) if form == 'official_code' else 2.0 * s + 0.5
    assert torch.equal(y.detach(), expected)
    y.sum().backward()
    approx = torch.clamp(2 - 2 * u.abs(), min=0)  # ApproxSign'(u)
    # dy/da = alpha * ApproxSign'(u) / alpha for both forms
    assert a.grad.tolist() == pytest.approx(approx.tolist())
    # dy/dalpha = (s + beta) + alpha ds/du du/dalpha  (official)  or  s + alpha ds/du du/dalpha
    du_dalpha = -(a.detach() - 0.5) / 4.0
    du_dbeta = -1 / 2.0
    base = s + 0.5 if form == 'official_code' else s
    assert m.alpha.grad.item() == pytest.approx(float((base + 2 * approx * du_dalpha).sum()))
    extra = 2.0 if form == 'official_code' else 1.0  # d/dbeta of alpha*beta vs beta
    assert m.beta.grad.item() == pytest.approx(float((extra + 2 * approx * du_dbeta).sum()))


def test_adabin_forms_differ_by_beta_times_alpha_minus_one():
    torch.manual_seed(0)
    a = torch.randn(100)
    official = AdaBinActivation('official_code', alpha=1.7, beta=-0.3)
    paper = AdaBinActivation('paper', alpha=1.7, beta=-0.3)
    diff = official(a) - paper(a)
    assert torch.allclose(diff, torch.full_like(diff, -0.3 * (1.7 - 1)), atol=1e-6)


def test_adabin_activation_bad_form_and_alpha():
    with pytest.raises(ValueError, match=r"form must be one of \['official_code', 'paper'\]"):
        AdaBinActivation(form='mine')
    with pytest.raises(ValueError, match='alpha must be > 0'):
        AdaBinActivation(alpha=0)
