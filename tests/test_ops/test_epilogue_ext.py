"""The native kernel's RPReLU / Maxout epilogue and sign output, on every ISA path (each forced).

RPReLU / Maxout: ``NativeBinaryConv`` with ``prelu`` / ``pre_shift`` / ``post_shift`` (or
``prelu`` / ``pos_slope``) equals :class:`~mmbinary.layers.activation.RPReLU` (or ``Maxout``)
applied to ``DeployedBinaryConv(x) + residual`` within float rounding. Sign output: exactly the
integer comparison of ``B*S`` with :func:`~mmbinary.ops.bconv.sign_thresholds`, and
``where(deployed(x) >= 0, 1, -1)`` of the float reference except at (near-)ties of the float
value.
"""

import numpy as np
import pytest
import torch

from mmbinary import ops
from mmbinary.binarizers.self_binarizing import fold_binary_bn
from mmbinary.deploy.converter import DeployedBinaryConv
from mmbinary.deploy.packing import pack_code
from mmbinary.layers.activation import Maxout, RPReLU
from mmbinary.ops import ISAS, NativeKernelError, bconv2d
from mmbinary.ops.bconv import sign_thresholds
from mmbinary.ops.torch_ops import NativeBinaryConv

if not ops.native_available():
    pytest.fail(f'the native kernel must build on this machine: {ops.native_unavailable_reason()}')

# (kind, code shape, groups, geometry)
FORMS = [
    ('conv2d', (37, 70, 3, 3), 1, dict(stride=2, padding=1)),
    ('conv2d', (12, 2, 3, 3), 3, dict(padding=2, dilation=2)),
    ('conv2d', (21, 13, 1, 1), 1, {}),
    ('conv_transpose2d', (11, 6, 4, 4), 1, dict(stride=2, padding=1)),
    ('linear', (9, 65), 1, {}),
]
IDS = ['conv_s2', 'conv_g3_d2', 'conv_1x1', 'deconv_s2', 'linear']


def _require(isa):
    """Skip nothing: a path this CPU lacks must fail with the clear error instead."""
    if not ops.cpu_supports(isa):
        with pytest.raises(NativeKernelError, match=f"'{isa}'.*lacks"):
            ops.select_isa(isa)
        return False
    return True


def _layer(kind, shape, groups, geometry, seed, scale=None, bias=None):
    g = torch.Generator().manual_seed(seed)
    code = torch.where(torch.rand(shape, generator=g) < 0.5, 1.0, -1.0)
    out = shape[1] * groups if kind == 'conv_transpose2d' else shape[0]
    scale = torch.randn(out, generator=g) if scale is None else scale
    bias = torch.randn(out, generator=g) if bias is None else bias
    return DeployedBinaryConv(kind, code, 0.0, groups=groups, scale=scale, bias=bias, **geometry)


def _x(kind, shape, groups, seed):
    cin = shape[1] * groups if kind == 'conv2d' else shape[1] if kind == 'linear' else shape[0]
    x = torch.randn(
        (2, cin) if kind == 'linear' else (2, cin, 7, 6),
        generator=torch.Generator().manual_seed(seed),
    )
    x.view(-1)[::7] = 0.0  # sign(0) = +1
    return x


@pytest.mark.parametrize('isa', ISAS)
@pytest.mark.parametrize('form', FORMS, ids=IDS)
def test_rprelu_epilogue_matches_the_module(form, isa):
    if not _require(isa):
        return
    kind, shape, groups, geometry = form
    layer = _layer(kind, shape, groups, geometry, seed=1).eval()
    x = _x(kind, shape, groups, 2)
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        y = layer(x)
        act = RPReLU(y.shape[1])
        act.shift_in.copy_(torch.randn(y.shape[1], generator=g))
        act.shift_out.copy_(torch.randn(y.shape[1], generator=g))
        act.prelu.weight.copy_(torch.rand(y.shape[1], generator=g) - 0.5)
        residual = torch.randn(y.shape, generator=g)
        ref = act(y + residual)
        native = NativeBinaryConv(
            layer,
            isa=isa,
            prelu=act.prelu.weight,
            pre_shift=act.shift_in,
            post_shift=act.shift_out,
        )
        got = native(x, residual)
        # the autograd / other-dtype fallback composes the same formula
        unfused = native._reference(x, residual)
    assert got.shape == ref.shape
    tol = 1e-6 * float(ref.abs().max())
    np.testing.assert_allclose(got.numpy(), ref.numpy(), rtol=1e-5, atol=tol)
    np.testing.assert_allclose(unfused.numpy(), ref.numpy(), rtol=1e-5, atol=tol)
    # the shifts really act (a kernel ignoring them is off by ~1)
    without = NativeBinaryConv(layer, isa=isa, prelu=act.prelu.weight)(x, residual)
    assert float((without - ref).abs().max()) > 0.1


@pytest.mark.parametrize('isa', ISAS)
@pytest.mark.parametrize('form', FORMS, ids=IDS)
def test_maxout_epilogue_matches_the_module(form, isa):
    if not _require(isa):
        return
    kind, shape, groups, geometry = form
    layer = _layer(kind, shape, groups, geometry, seed=15).eval()
    x = _x(kind, shape, groups, 16)
    g = torch.Generator().manual_seed(17)
    with torch.no_grad():
        y = layer(x)
        act = Maxout(y.shape[1])
        act.pos_scale.copy_(torch.randn(y.shape[1], generator=g))
        act.neg_scale.copy_(torch.randn(y.shape[1], generator=g))
        residual = torch.randn(y.shape, generator=g)
        ref = act(y + residual)
        native = NativeBinaryConv(layer, isa=isa, prelu=act.neg_scale, pos_slope=act.pos_scale)
        got = native(x, residual)
        unfused = native._reference(x, residual)
    tol = 1e-6 * float(ref.abs().max())
    np.testing.assert_allclose(got.numpy(), ref.numpy(), rtol=1e-5, atol=tol)
    np.testing.assert_allclose(unfused.numpy(), ref.numpy(), rtol=1e-5, atol=tol)
    without = NativeBinaryConv(layer, isa=isa, prelu=act.neg_scale)(x, residual)
    assert float((without - ref).abs().max()) > 0.1  # g+ really acts


@pytest.mark.parametrize('isa', ISAS)
def test_shifts_without_prelu_are_a_plain_shift(isa):
    if not _require(isa):
        return
    layer = _layer('conv2d', (8, 16, 3, 3), 1, dict(padding=1), seed=4).eval()
    x = _x('conv2d', (8, 16, 3, 3), 1, 5)
    pre, post = torch.randn(8), torch.randn(8)
    with torch.no_grad():
        ref = layer(x) - pre.view(1, -1, 1, 1) + post.view(1, -1, 1, 1)
        got = NativeBinaryConv(layer, isa=isa, pre_shift=pre, post_shift=post)(x)
    np.testing.assert_allclose(got.numpy(), ref.numpy(), rtol=1e-5, atol=1e-5)


def _integer(kind, shape, groups, geometry, seed, x):
    """``B*S`` by the PyTorch reference (integers, exact in float32 at these sizes)."""
    m = _layer(kind, shape, groups, geometry, seed).eval()
    m.scale.fill_(1.0)
    m.bias.zero_()
    with torch.no_grad():
        return m(x).double()


def _tie_factors(bs, seed):
    """Scales of both signs and one 0; three channels with exact ties (``s * BS + b == 0`` at a
    ``B*S`` value that occurs: scale ``+-2^-2``, integer bias)."""
    g = torch.Generator().manual_seed(seed)
    out = bs.shape[1]
    scale = torch.randn(out, generator=g)
    bias = torch.randn(out, generator=g) * 5
    scale[0] = 0.0
    bias[0] = -0.5
    for o in range(1, min(out, 4)):
        scale[o] = (-1.0) ** o * 0.25
        bias[o] = -scale[o] * float(bs[-1, o].reshape(-1)[0])
    return scale, bias


@pytest.mark.parametrize('isa', ISAS)
@pytest.mark.parametrize('form', FORMS, ids=IDS)
def test_sign_output_is_the_integer_threshold(form, isa):
    if not _require(isa):
        return
    kind, shape, groups, geometry = form
    x = _x(kind, shape, groups, 6)
    bs = _integer(kind, shape, groups, geometry, 7, x)
    scale, bias = _tie_factors(bs, 8)
    layer = _layer(kind, shape, groups, geometry, 7, scale=scale, bias=bias).eval()
    with torch.no_grad():
        got = NativeBinaryConv(layer, isa=isa, sign_output=True)(x).double()
        value = layer(x).double()
    view = (1, -1) + (1,) * (bs.dim() - 2)
    thr = torch.from_numpy(sign_thresholds(scale.numpy(), bias.numpy())).double().view(view)
    s, b = scale.double().view(view), bias.double().view(view)
    want = torch.where(s > 0, bs >= thr, bs <= thr)
    want = torch.where(s == 0, b >= 0, want)
    want = torch.where(want, 1.0, -1.0)
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    # the float reference's sign, except where its value is a tie within float rounding
    ref = torch.where(value >= 0, 1.0, -1.0)
    tie = value.abs() <= 1e-5 * (s.abs() * bs.abs() + b.abs())
    assert bool((got == ref)[~tie].all())
    assert int(((bs * s + b) == 0).sum()) > 0  # exact ties exercised: +1 there (sign(0) = +1)
    assert bool((got[(bs * s + b) == 0] == 1).all())


@pytest.mark.parametrize('isa', ISAS)
def test_sign_output_equals_folded_binary_bn(isa):
    """``sign(BN(B*S))`` of a self-binarizing layer: fold_binary_bn(integer=True) on ``B*S``."""
    if not _require(isa):
        return
    shape, geometry = (24, 40, 3, 3), dict(padding=1)
    x = _x('conv2d', shape, 1, 9)
    bs = _integer('conv2d', shape, 1, geometry, 10, x)
    g = torch.Generator().manual_seed(11)
    bn = torch.nn.BatchNorm2d(24).eval()
    bn.running_mean.copy_(torch.randn(24, generator=g) * 8)
    bn.running_var.copy_(torch.rand(24, generator=g) * 50 + 1)
    bn.weight.data.copy_(torch.randn(24, generator=g))
    bn.bias.data.copy_(torch.randn(24, generator=g))
    want = fold_binary_bn(bn, integer=True)(bs.float())
    k = bn.weight.detach().double() / torch.sqrt(bn.running_var.double() + bn.eps)
    scale = k.float()
    bias = (bn.bias.detach().double() - k * bn.running_mean.double()).float()
    layer = _layer('conv2d', shape, 1, geometry, 10, scale=scale, bias=bias).eval()
    with torch.no_grad():
        got = NativeBinaryConv(layer, isa=isa, sign_output=True)(x)
    tau = fold_binary_bn(bn).tau.double().view(1, -1, 1, 1)  # unrounded threshold
    near = (bs - tau).abs() < 1e-4 * (1 + tau.abs())  # float32 factors may flip those
    assert bool((got == want)[~near].all())
    assert float((got != want).float().mean()) < 1e-3


@pytest.mark.parametrize('isa', ISAS)
def test_chain_of_sign_layers_is_exact(isa):
    """Two self-binarizing layers: the first one's +-1 output feeds the second bit-exactly."""
    if not _require(isa):
        return
    x = _x('conv2d', (16, 16, 3, 3), 1, 12)
    one = _layer('conv2d', (16, 16, 3, 3), 1, dict(padding=1), 13).eval()
    two = _layer('conv2d', (8, 16, 3, 3), 1, dict(stride=2, padding=1), 14).eval()
    with torch.no_grad():
        mid = NativeBinaryConv(one, isa=isa, sign_output=True)(x)
        got = NativeBinaryConv(two, isa=isa, sign_output=True)(mid)
        bs1 = _integer('conv2d', (16, 16, 3, 3), 1, dict(padding=1), 13, x)
        t1 = sign_thresholds(one.scale.numpy(), one.bias.numpy())
        s1 = one.scale.double().view(1, -1, 1, 1)
        t1 = torch.from_numpy(t1).double().view(1, -1, 1, 1)
        want_mid = torch.where(torch.where(s1 > 0, bs1 >= t1, bs1 <= t1), 1.0, -1.0)
        np.testing.assert_array_equal(mid.numpy(), want_mid.float().numpy())
        bs2 = _integer('conv2d', (8, 16, 3, 3), 1, dict(stride=2, padding=1), 14, want_mid.float())
    s2 = two.scale.double().view(1, -1, 1, 1)
    t2 = torch.from_numpy(sign_thresholds(two.scale.numpy(), two.bias.numpy())).double()
    t2 = t2.view(1, -1, 1, 1)
    want = torch.where(torch.where(s2 > 0, bs2 >= t2, bs2 <= t2), 1.0, -1.0)
    np.testing.assert_array_equal(got.numpy(), want.float().numpy())


@pytest.mark.parametrize('field', ['prelu', 'pre_shift', 'pos_slope', 'residual', 'window_scale'])
def test_sign_output_refuses_other_epilogue_terms(field):
    code = torch.where(torch.rand(4, 8, 3, 3) < 0.5, 1.0, -1.0)
    packed, channels = pack_code('conv2d', code, 1)
    x = np.random.default_rng(0).standard_normal((1, 8, 5, 5)).astype(np.float32)
    extra = {field: np.ones((1, 4, 5, 5) if field == 'residual' else 4, np.float32)}
    with pytest.raises(NativeKernelError, match=f'sign_threshold .*got {field} set'):
        bconv2d(
            x,
            packed,
            channels,
            np.ones(4),
            np.zeros(4),
            padding=(1, 1, 1, 1),
            sign_output=True,
            **extra,
        )


def test_sign_thresholds_derivation():
    # s * BS + b >= 0: s > 0 -> BS >= ceil(-b / s); s < 0 -> BS <= floor(-b / s); s = 0 unused
    thr = sign_thresholds([0.5, 0.5, -0.5, -2.0, 0.0, 1e-30], [1.25, -1.0, 1.25, -3.0, 1.0, -1.0])
    np.testing.assert_array_equal(thr, [-2, 2, 2, -2, 0, np.iinfo(np.int32).max])
    with pytest.raises(ValueError, match='same length, got 2 and 1'):
        sign_thresholds([1.0, 2.0], [0.0])
