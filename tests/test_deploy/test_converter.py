"""The converter against the PyTorch eval layers, and the packed layout against conv2d(sign, sign).

Every binary conv form: channels that are not multiples of 8 / 32 / 64, stride 2, dilation 2,
groups, padding 0 / 1 / 2, kernels 1 / 3 / 5, batch > 1, transposed convs, linear; every
binarizer family, AdaBin's affine sets in both forms, BatchNorm folded.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mmbinary.binarizers import binary_sign
from mmbinary.deploy import (
    DeployedBinaryConv,
    DeployError,
    convert_model,
    deploy_binary_layer,
    pack_bits,
    pack_code,
    unpack_bits,
    xnor_popcount_conv2d,
)
from mmbinary.layers import BinaryConv2d, BinaryConvTranspose2d, BinaryLinear

# (cin, cout, kernel, stride, padding, dilation, groups)
CONV_FORMS = [
    (3, 5, 3, 1, 1, 1, 1),
    (13, 7, 1, 1, 0, 1, 1),
    (37, 70, 3, 2, 1, 1, 1),
    (65, 9, 3, 1, 2, 2, 1),
    (12, 6, 5, 2, 2, 1, 3),
    (33, 31, 5, 1, 0, 1, 1),
    (64, 16, 3, 1, 1, 1, 2),
]
# (cin, cout, kernel, stride, padding, output_padding, groups)
DECONV_FORMS = [
    (11, 6, 4, 2, 1, 0, 1),
    (9, 5, 3, 2, 1, 1, 1),
    (8, 6, 4, 2, 1, 0, 2),
    (7, 3, 3, 1, 0, 0, 1),
]

BINARIZERS = {
    'ste': dict(weight_binarizer='STE', input_binarizer='ApproxSign', weight_scale='mean_abs'),
    'bbc_mlp': dict(
        weight_binarizer=dict(type='MLPBinarizer', shared=False),
        input_binarizer='ApproxSign',
        center_weight=True,
    ),
    'bbc_classifier': dict(
        weight_binarizer=dict(type='ClassifierBinarizer', shared=False), input_binarizer='STE'
    ),
    'adabin_code': dict(
        weight_binarizer='AdaBinWeight',
        input_binarizer=dict(type='AdaBinActivation', form='official_code', alpha=0.7, beta=0.3),
        weight_scale='none',
    ),
    'adabin_paper': dict(
        weight_binarizer='AdaBinWeight',
        input_binarizer=dict(type='AdaBinActivation', form='paper', alpha=1.3, beta=-0.2),
        weight_scale='learnable',
    ),
    'self_binarizing': dict(
        weight_binarizer='SelfBinarizingTanh',
        input_binarizer='SelfBinarizingTanh',
        weight_scale='none',
    ),
    'ede': dict(weight_binarizer='EDE', input_binarizer='SwishSign', weight_scale='mean_abs'),
}


def _input(shape, seed, threshold=0.0):
    """Gaussian input with exact zeros and exact threshold values (sign(0) = +1 is exercised)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=g)
    flat = x.view(-1)
    flat[::7] = 0.0
    flat[3::11] = threshold
    return x


def _bn(channels, seed):
    g = torch.Generator().manual_seed(seed)
    bn = nn.BatchNorm2d(channels)
    bn.running_mean.copy_(torch.randn(channels, generator=g))
    bn.running_var.copy_(torch.rand(channels, generator=g) + 0.5)
    bn.weight.data.copy_(torch.randn(channels, generator=g))
    bn.bias.data.copy_(torch.randn(channels, generator=g))
    return bn.eval()


@pytest.mark.parametrize('binarizer', sorted(BINARIZERS))
@pytest.mark.parametrize('form', CONV_FORMS)
def test_conv_folding_matches_eval_layer(binarizer, form):
    cin, cout, k, stride, padding, dilation, groups = form
    torch.manual_seed(hash((binarizer, form)) % 1000)
    conv = BinaryConv2d(
        cin, cout, k, stride, padding, dilation, groups, bias=True, **BINARIZERS[binarizer]
    ).eval()
    bn = _bn(cout, 1)
    ib = conv.input_binarizer
    x = _input((3, cin, 11, 10), 2, float(getattr(ib, 'beta', 0.0)))
    deployed = deploy_binary_layer('conv', conv, bn)
    assert isinstance(deployed, DeployedBinaryConv)
    with torch.no_grad():
        expected = bn(conv(x)).double()
        got = deployed(x).double()
        # the integer part is exactly conv2d(sign(x - t), sign code)
        s = binary_sign(x - deployed.threshold)
        ref = F.conv2d(
            s.double(), conv.weight_code().double(), None, stride, padding, dilation, groups
        )
    assert torch.equal(deployed.xnor_popcount(s).double(), ref)
    scale = expected.abs().max().item()
    assert (got - expected).abs().max().item() <= 2e-5 * max(scale, 1.0)
    assert (deployed.window_scale is not None) == binarizer.startswith('adabin')
    assert (deployed.mask_scale is not None) == binarizer.startswith('adabin')


@pytest.mark.parametrize('binarizer', ['ste', 'adabin_code', 'adabin_paper', 'bbc_mlp'])
@pytest.mark.parametrize('form', DECONV_FORMS)
def test_transposed_conv_folding_matches_eval_layer(binarizer, form):
    cin, cout, k, stride, padding, output_padding, groups = form
    torch.manual_seed(3)
    deconv = BinaryConvTranspose2d(
        cin, cout, k, stride, padding, output_padding, groups, bias=False, **BINARIZERS[binarizer]
    ).eval()
    bn = _bn(cout, 4)
    x = _input((2, cin, 6, 5), 5, float(getattr(deconv.input_binarizer, 'beta', 0.0)))
    deployed = deploy_binary_layer('deconv', deconv, bn)
    with torch.no_grad():
        expected = bn(deconv(x)).double()
        got = deployed(x).double()
    assert got.shape == expected.shape
    assert (got - expected).abs().max().item() <= 2e-5 * max(expected.abs().max().item(), 1.0)


@pytest.mark.parametrize('binarizer', ['ste', 'adabin_code', 'bbc_classifier'])
def test_linear_folding_matches_eval_layer(binarizer):
    torch.manual_seed(6)
    fc = BinaryLinear(70, 9, **BINARIZERS[binarizer]).eval()
    x = _input((4, 70), 7, float(getattr(fc.input_binarizer, 'beta', 0.0)))
    deployed = deploy_binary_layer('fc', fc)
    with torch.no_grad():
        torch.testing.assert_close(deployed(x), fc(x), rtol=1e-5, atol=1e-5)


def test_one_operand_binary_becomes_a_real_layer():
    torch.manual_seed(8)
    weights_only = BinaryConv2d(5, 4, 3, padding=1, input_binarizer=None).eval()
    inputs_only = BinaryConv2d(5, 4, 3, padding=1, weight_binarizer=None).eval()
    x = _input((2, 5, 7, 7), 9)
    for layer in (weights_only, inputs_only):
        real = deploy_binary_layer('conv', layer)
        assert not any(isinstance(m, DeployedBinaryConv) for m in real.modules())
        with torch.no_grad():
            torch.testing.assert_close(real(x), layer(x))


def test_pack_bits_layout():
    code = np.array([1, -1, 1, 1] + [-1] * 60 + [1], dtype=np.float32)
    packed = pack_bits(code)
    assert packed.dtype == np.uint64 and packed.tolist() == [13, 1]  # bit j = channel 64 w + j
    assert packed.view(np.uint32).tolist() == [13, 0, 1, 0]  # the same bytes as 32-bit words
    g = np.random.default_rng(0)
    for channels in (1, 7, 8, 31, 32, 33, 64, 65, 200):
        c = np.where(g.random((3, 2, channels)) < 0.5, -1.0, 1.0).astype(np.float32)
        np.testing.assert_array_equal(unpack_bits(pack_bits(c), channels), c)


@pytest.mark.parametrize('form', CONV_FORMS)
def test_packed_kernel_equals_conv_of_signs(form):
    """The documented packed layout + XNOR-popcount semantics == conv2d(sign(x), sign(w))."""
    cin, cout, k, stride, padding, dilation, groups = form
    g = torch.Generator().manual_seed(cin * 100 + cout)
    w = torch.randn(cout, cin // groups, k, k, generator=g)
    x = _input((2, cin, 9, 8), cin)
    packed, channels = pack_code('conv2d', binary_sign(w), groups)
    assert packed.shape == (cout, k, k, -(-(cin // groups) // 64))
    got = xnor_popcount_conv2d(
        x.numpy(), packed, channels, (stride,) * 2, (padding,) * 2, (dilation,) * 2, groups
    )
    ref = F.conv2d(
        binary_sign(x).double(), binary_sign(w).double(), None, stride, padding, dilation, groups
    )
    np.testing.assert_array_equal(got, ref.numpy().astype(np.int64))


@pytest.mark.parametrize('form', DECONV_FORMS)
def test_packed_transposed_kernel_equals_conv_transpose_of_signs(form):
    cin, cout, k, stride, padding, output_padding, groups = form
    g = torch.Generator().manual_seed(cin)
    w = torch.randn(cin, cout // groups, k, k, generator=g)
    x = _input((2, cin, 5, 6), cout)
    packed, channels = pack_code('conv_transpose2d', binary_sign(w), groups)
    pad = k - 1 - padding
    got = xnor_popcount_conv2d(
        x.numpy(),
        packed,
        channels,
        groups=groups,
        padding=(pad, pad),
        input_dilation=(stride, stride),
        padding_end=(pad + output_padding,) * 2,
    )
    ref = F.conv_transpose2d(
        binary_sign(x).double(),
        binary_sign(w).double(),
        None,
        stride,
        padding,
        output_padding,
        groups,
    )
    np.testing.assert_array_equal(got, ref.numpy().astype(np.int64))


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, padding=1)
        self.conv = BinaryConv2d(16, 16, 3, padding=1)
        self.bn = nn.BatchNorm2d(16)
        self.conv2 = BinaryConv2d(16, 16, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(16)

    def forward(self, x):
        x = self.stem(x)
        x = self.bn(self.conv(x)) + x
        y = self.conv2(x)
        return self.bn2(y) + y  # conv2's output has two readers: bn2 must not be folded


def test_convert_model_folds_only_sole_reader_bn():
    torch.manual_seed(10)
    net = _Net()
    net.bn.load_state_dict(_bn(16, 11).state_dict())
    net.bn2.load_state_dict(_bn(16, 12).state_dict())
    net.eval()
    x = torch.randn(2, 3, 12, 10)
    deployed, report = convert_model(net, x)
    assert report['conv']['bn'] == 'bn' and isinstance(deployed.bn, nn.Identity)
    assert report['conv2']['bn'] is None and isinstance(deployed.bn2, nn.BatchNorm2d)
    with torch.no_grad():
        torch.testing.assert_close(deployed(x), net(x), rtol=1e-4, atol=1e-4)
    assert isinstance(net.conv, BinaryConv2d)  # the input model is untouched


def test_convert_model_bad_input():
    real = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
    with pytest.raises(DeployError, match='nothing 1-bit to export'):
        convert_model(real, torch.randn(1, 3, 8, 8))
    odd = nn.Sequential(
        BinaryConv2d(3, 4, 3, input_binarizer=dict(type='ClassifierBinarizer', shared=False))
    )
    with pytest.raises(DeployError, match=r'^0: input binarizer ClassifierBinarizer'):
        convert_model(odd.eval(), torch.randn(1, 3, 8, 8))
    from mmbinary.binarizers import STE

    stray = nn.Sequential(BinaryConv2d(3, 4, 3), STE())
    with pytest.raises(DeployError, match='^1: a STE outside a binary layer'):
        convert_model(stray.eval(), torch.randn(1, 3, 8, 8))
    bad = BinaryConv2d(3, 4, 3, input_binarizer=dict(type='AdaBinActivation', alpha=1.0)).eval()
    bad.input_binarizer.alpha.data.fill_(-1.0)
    with pytest.raises(DeployError, match='alpha must be > 0'):
        deploy_binary_layer('layer1.conv', bad)
