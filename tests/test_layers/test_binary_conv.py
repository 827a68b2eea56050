"""Binary layers against independent computations with F.conv2d / F.linear on +-1 tensors."""

import pytest
import torch
import torch.nn.functional as F
from mmcv.cnn import build_conv_layer

from mmbinary.binarizers import binary_sign
from mmbinary.layers import BinaryConv2d, BinaryConvTranspose2d, BinaryLinear
from mmbinary.scope import build_scope


def reference_scale(w):
    return w.abs().mean(dim=tuple(range(1, w.dim())), keepdim=True)


@pytest.mark.parametrize(
    'kwargs',
    [
        dict(kernel_size=3, padding=1),
        dict(kernel_size=1),
        dict(kernel_size=5, stride=2, padding=2),
        dict(kernel_size=3, dilation=2, padding=2),
        dict(kernel_size=3, groups=4, padding=1, bias=False),
        dict(kernel_size=(3, 1), stride=(2, 1), padding=(1, 0)),
    ],
)
def test_binary_conv_matches_conv_of_signs(kwargs):
    torch.manual_seed(0)
    conv = BinaryConv2d(8, 12, **kwargs).double()
    x = torch.randn(2, 8, 9, 9, dtype=torch.float64)
    w = conv.weight.detach()
    expected = F.conv2d(
        binary_sign(x),
        binary_sign(w) * reference_scale(w),
        conv.bias,
        conv.stride,
        conv.padding,
        conv.dilation,
        conv.groups,
    )
    assert torch.allclose(conv(x), expected, atol=1e-12)


def test_eval_weight_is_exactly_plus_minus_alpha_per_channel():
    conv = BinaryConv2d(4, 6, 3).eval()
    w = conv.binary_weight()
    for o in range(6):
        alpha = conv.weight[o].abs().mean()
        assert set(w[o].unique().tolist()) <= {alpha.item(), -alpha.item()}


def test_eval_weight_is_exactly_the_adabin_set():
    conv = BinaryConv2d(4, 6, 3, weight_binarizer='AdaBinWeight', weight_scale='none').eval()
    w = conv.binary_weight().detach()
    for o in range(6):
        beta = conv.weight[o].mean()
        alpha = conv.weight[o].std(unbiased=False) + 1e-8
        values = torch.stack([beta - alpha, beta + alpha])
        assert all(torch.isclose(v, values, atol=1e-7).any() for v in w[o].flatten())
        assert len(w[o].unique()) == 2


def test_centred_weight_and_learnable_scale():
    torch.manual_seed(0)
    conv = BinaryConv2d(3, 2, 3, center_weight=True, weight_scale='learnable', bias=False)
    w = conv.weight.detach()
    assert torch.allclose(conv.scale, reference_scale(w).flatten())
    with torch.no_grad():
        conv.scale.copy_(torch.tensor([2.0, 3.0]))
    w_c = w - w.mean(dim=(1, 2, 3), keepdim=True)
    expected = binary_sign(w_c) * torch.tensor([2.0, 3.0]).view(2, 1, 1, 1)
    assert torch.equal(conv.binary_weight().detach(), expected)
    conv(torch.randn(1, 3, 5, 5)).sum().backward()
    assert conv.scale.grad is not None and conv.scale.grad.abs().sum() > 0


def test_full_precision_operands_stay_real():
    torch.manual_seed(0)
    conv = BinaryConv2d(3, 4, 3, weight_binarizer=None, input_binarizer=None)
    x = torch.randn(1, 3, 6, 6)
    assert torch.allclose(conv(x), F.conv2d(x, conv.weight, conv.bias))
    real_in = BinaryConv2d(3, 4, 3, input_binarizer=None, weight_scale='none')
    assert torch.allclose(real_in(x), F.conv2d(x, binary_sign(real_in.weight), real_in.bias))


def test_binary_linear_and_transposed_conv():
    torch.manual_seed(0)
    lin = BinaryLinear(6, 3).double()
    x = torch.randn(4, 6, dtype=torch.float64)
    w = lin.weight.detach()
    expected = F.linear(binary_sign(x), binary_sign(w) * reference_scale(w), lin.bias)
    assert torch.allclose(lin(x), expected)

    deconv = BinaryConvTranspose2d(4, 5, 4, stride=2, padding=1, bias=False).double()
    x = torch.randn(1, 4, 3, 3, dtype=torch.float64)
    w = deconv.weight.detach()  # (in, out, kh, kw): output channels on dim 1
    alpha = w.abs().mean(dim=(0, 2, 3), keepdim=True)
    expected = F.conv_transpose2d(binary_sign(x), binary_sign(w) * alpha, stride=2, padding=1)
    assert torch.allclose(deconv(x), expected)
    assert deconv(x).shape == (1, 5, 6, 6)


def test_gradients_flow_to_weights_and_inputs():
    conv = BinaryConv2d(3, 4, 3, padding=1)
    x = torch.randn(2, 3, 5, 5, requires_grad=True)
    conv(x).square().sum().backward()
    assert x.grad.abs().sum() > 0 and conv.weight.grad.abs().sum() > 0


def test_extra_repr_names_the_binarizers():
    with build_scope():
        conv = BinaryConv2d(3, 4, 3, weight_binarizer='MLPBinarizer', input_binarizer=None)
    text = conv.extra_repr()
    assert 'weight_binarizer=MLPBinarizer' in text
    assert 'input_binarizer=None (full precision)' in text
    assert 'weight_scale=mean_abs' in text


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"weight_scale must be one of \['none', 'mean_abs'"):
        BinaryConv2d(3, 4, 3, weight_scale='max')
    with pytest.raises(KeyError, match='unknown binarizer type .*Sgn.*available'):
        build_conv_layer(dict(type='BinaryConv2d', input_binarizer='Sgn'), 3, 4, 3)


def test_state_dict_round_trip_with_binarizer_parameters():
    torch.manual_seed(0)
    cfg = dict(input_binarizer='AdaBinActivation', weight_scale='learnable')
    a, b = BinaryConv2d(3, 4, 3, **cfg), BinaryConv2d(3, 4, 3, **cfg)
    with torch.no_grad():
        a.input_binarizer.alpha.fill_(1.5)
    b.load_state_dict(a.state_dict())
    x = torch.randn(1, 3, 5, 5)
    assert torch.equal(a(x), b(x))
