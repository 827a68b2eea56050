import pytest
import torch
from mmengine.registry import MODELS as ROOT_MODELS
from mmengine.registry import DefaultScope

from mmbinary.layers import LearnableBias, Maxout, RPReLU


def _fd_check(module, x, h=1e-6):
    x = x.clone().requires_grad_(True)
    module(x).sum().backward()
    fd = torch.empty_like(x)
    flat = x.detach().flatten()
    for i in range(flat.numel()):
        plus, minus = flat.clone(), flat.clone()
        plus[i] += h
        minus[i] -= h
        fd.view(-1)[i] = (module(plus.view_as(x)).sum() - module(minus.view_as(x)).sum()).item() / (
            2 * h
        )
    assert torch.allclose(x.grad, fd, atol=1e-6)


def test_maxout_values_by_hand_and_init():
    m = Maxout(2)
    assert m.pos_scale.tolist() == [1.0, 1.0] and m.neg_scale.tolist() == [0.25, 0.25]
    with torch.no_grad():
        m.pos_scale.copy_(torch.tensor([2.0, 0.5]))
        m.neg_scale.copy_(torch.tensor([0.1, 3.0]))
    x = torch.tensor([[[4.0, -2.0]], [[-1.0, 6.0]]]).permute(1, 0, 2)  # (1, 2, 2)
    # channel 0: [2*4, -0.1*2]; channel 1: [-3*1, 0.5*6]
    assert torch.allclose(m(x), torch.tensor([[[8.0, -0.2], [-3.0, 3.0]]]))


def test_rprelu_values_by_hand():
    m = RPReLU(1)
    with torch.no_grad():
        m.shift_in.fill_(1.0)
        m.shift_out.fill_(0.5)
    x = torch.tensor([[[3.0, 0.0]]])
    # PReLU(x - 1) + 0.5 with slope 0.25: [2 + 0.5, -0.25 + 0.5]
    assert m(x).tolist() == [[[2.5, 0.25]]]


def test_learnable_bias_values():
    m = LearnableBias(3)
    with torch.no_grad():
        m.bias.copy_(torch.tensor([1.0, -2.0, 0.5]))
    assert m(torch.zeros(1, 3, 2, 2))[0, :, 0, 0].tolist() == [1.0, -2.0, 0.5]


@pytest.mark.parametrize('cls', [Maxout, RPReLU, LearnableBias])
def test_gradients_match_finite_differences(cls):
    torch.manual_seed(0)
    m = cls(3).double()
    for p in m.parameters():
        torch.nn.init.uniform_(p, -0.5, 1.5)
    x = torch.randn(2, 3, 2, 2, dtype=torch.float64)
    x[x.abs() < 0.05] += 0.2  # stay away from the kink of ReLU / PReLU
    _fd_check(m, x)


@pytest.mark.parametrize('scope', ['mmpose', 'mmpretrain'])
@pytest.mark.parametrize('name', ['Maxout', 'RPReLU', 'LearnableBias'])
def test_build_from_config_and_state_dict(scope, name):
    with DefaultScope.overwrite_default_scope(scope):
        a = ROOT_MODELS.build(dict(type=name, num_channels=4))
        b = ROOT_MODELS.build(dict(type=name, num_channels=4))
    for p in a.parameters():
        torch.nn.init.normal_(p)
    b.load_state_dict(a.state_dict())
    x = torch.randn(2, 4, 3, 3)
    assert torch.equal(a(x), b(x))


def test_bad_channels():
    with pytest.raises(ValueError, match='num_channels must be > 0'):
        Maxout(0)
    with pytest.raises(TypeError, match='num_channels must be an int'):
        RPReLU(2.5)
