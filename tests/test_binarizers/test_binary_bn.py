import pytest
import torch
from torch import nn

from mmbinary.binarizers import binary_sign, fold_binary_bn


def _bn(gamma, beta, mean, var):
    bn = nn.BatchNorm1d(len(gamma)).double().eval()
    with torch.no_grad():
        bn.weight.copy_(torch.tensor(gamma))
        bn.bias.copy_(torch.tensor(beta))
        bn.running_mean.copy_(torch.tensor(mean))
        bn.running_var.copy_(torch.tensor(var))
    return bn


def test_threshold_equals_sign_of_bn_for_positive_negative_and_zero_gamma():
    bn = _bn([1.5, -0.7, 0.0, 0.0], [0.3, 0.2, -0.4, 0.0], [0.5, -1.0, 2.0, 0.0], [2.0, 0.5, 1, 1])
    torch.manual_seed(0)
    x = torch.randn(5000, 4, dtype=torch.float64) * 3
    assert torch.equal(fold_binary_bn(bn)(x), binary_sign(bn(x)))


def test_tie_maps_to_plus_one_on_both_sides():
    # beta = 0: at x == mu the exact BN output is 0 and sign(0) = +1, whatever the sign of gamma
    # (BatchNorm's own float evaluation leaves a 4e-16 residue there, so compare by hand).
    bn = _bn([2.0, -2.0], [0.0, 0.0], [3.0, 3.0], [1.0, 1.0])
    x = torch.tensor([[3.0, 3.0], [2.0, 2.0], [4.0, 4.0]], dtype=torch.float64)
    # z = gamma (x - 3) / s: column 0 -> [0, -, +], column 1 -> [0, +, -]
    expected = torch.tensor([[1.0, 1.0], [-1.0, 1.0], [1.0, -1.0]], dtype=torch.float64)
    assert torch.equal(fold_binary_bn(bn)(x), expected)


def test_integer_threshold_for_popcount_inputs():
    # tau = mu - beta s / gamma = -0.45 for gamma = 1 and +0.45 for gamma = -1
    bn = _bn([1.0, -1.0], [0.45, 0.45], [0.0, 0.0], [1.0 - 1e-5, 1.0 - 1e-5])
    folded = fold_binary_bn(bn, integer=True)
    assert folded.tau.tolist() == [0.0, 0.0]  # ceil(-0.45) for x >= tau, floor(0.45) for x <= tau
    assert folded.direction.tolist() == [1.0, -1.0]
    x = torch.arange(-9, 10, dtype=torch.float64).repeat(2, 1).t()
    assert torch.equal(folded(x), binary_sign(bn(x)))


def test_fold_conv_shaped_inputs_and_missing_stats():
    bn = nn.BatchNorm2d(3).eval()
    with torch.no_grad():
        bn.weight.copy_(torch.tensor([1.0, -2.0, 0.5]))
        bn.running_mean.copy_(torch.tensor([0.1, 0.2, -0.3]))
    x = torch.randn(2, 3, 4, 4)
    assert torch.equal(fold_binary_bn(bn)(x), binary_sign(bn(x)))
    with pytest.raises(ValueError, match='no running statistics'):
        fold_binary_bn(nn.BatchNorm2d(3, track_running_stats=False))
