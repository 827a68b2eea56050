"""The native 1-bit conv (mmbinary.ops) against PyTorch, on every ISA path (each one forced).

Integer part: bit-exact against ``conv2d(sign(x), code)`` in float64; fused epilogue against
``DeployedBinaryConv.forward`` (+ residual, PReLU) within float rounding. A path this CPU lacks
(real, or hidden through MMBINARY_BCONV_HIDE_ISA) must raise the clear error.
"""

import ctypes

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mmbinary import ops
from mmbinary.deploy.converter import DeployedBinaryConv
from mmbinary.deploy.packing import pack_code
from mmbinary.ops import ISAS, NativeKernelError, bconv2d
from mmbinary.ops.bconv import _Layer, library
from mmbinary.ops.torch_ops import NativeBinaryConv, direct_geometry

PHASED_MAGIC = 0x3250484D4D42  # 'BMMHP2': the prepacked header of the sub-pixel form

if not ops.native_available():  # the one message says why (no compiler here, ...)
    pytest.fail(f'the native kernel must build on this machine: {ops.native_unavailable_reason()}')

# (cin, cout, kernel, stride, (top, left, bottom, right), dilation, groups, (H, W))
CONV_FORMS = [
    (3, 5, 3, 1, (1, 1, 1, 1), 1, 1, (7, 6)),
    (13, 7, 1, 1, (0, 0, 0, 0), 1, 1, (5, 9)),
    (63, 70, 3, 2, (1, 1, 1, 1), 1, 1, (9, 8)),
    (65, 9, 3, 1, (2, 2, 2, 2), 2, 1, (10, 11)),
    (130, 17, 5, 1, (2, 2, 2, 2), 1, 1, (8, 7)),
    (12, 6, 5, 2, (2, 2, 2, 2), 1, 3, (9, 10)),
    (64, 16, 3, 1, (1, 1, 1, 1), 1, 2, (6, 13)),
    (33, 31, 3, 1, (0, 2, 1, 0), 1, 1, (7, 9)),  # asymmetric padding
    (128, 40, 3, 2, (1, 0, 2, 1), 2, 1, (12, 11)),
    (70, 21, 3, 1, (1, 1, 1, 1), 1, 1, (3, 20)),  # 21 channels: partial lanes, wide rows
]
# (cin, cout, kernel, stride, padding, output_padding, groups)
DECONV_FORMS = [
    (11, 6, 4, 2, 1, 0, 1),
    (9, 5, 3, 2, 1, 1, 1),
    (8, 6, 4, 2, 1, 0, 2),
    (7, 3, 3, 1, 0, 0, 1),
    (66, 12, 4, 2, 1, 0, 1),
    (16, 8, 2, 2, 0, 0, 1),
    (9, 4, 5, 3, 2, 1, 1),
    (10, 5, 1, 2, 0, 1, 1),  # a phase without taps: the dilated-input form instead
]


def _input(shape, seed, threshold=0.0):
    """Gaussian input with exact zeros and exact threshold values (sign(0) = +1 is exercised)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=g)
    flat = x.view(-1)
    flat[::7] = 0.0
    flat[3::11] = threshold
    return x


def _code(shape, seed):
    g = torch.Generator().manual_seed(seed + 1000)
    return torch.where(torch.rand(shape, generator=g) < 0.5, 1.0, -1.0)


def _sign(x, t=0.0):
    return torch.where(x >= t, 1.0, -1.0).double()


def _require(isa):
    """Skip nothing: a path this CPU lacks must fail with the clear error instead."""
    if not ops.cpu_supports(isa):
        with pytest.raises(NativeKernelError, match=f"'{isa}'.*lacks"):
            ops.select_isa(isa)
        return False
    return True


@pytest.mark.parametrize('isa', ISAS)
@pytest.mark.parametrize('form', CONV_FORMS)
def test_conv_integer_part_is_exact(form, isa):
    if not _require(isa):
        return
    cin, cout, k, stride, pad, dil, groups, (h, w) = form
    x = _input((2, cin, h, w), cin, threshold=0.25)
    code = _code((cout, cin // groups, k, k), cin)
    top, left, bottom, right = pad
    ref = F.conv2d(
        F.pad(_sign(x, 0.25), (left, right, top, bottom)),
        code.double(),
        None,
        stride,
        0,
        dil,
        groups,
    )
    packed, channels = pack_code('conv2d', code, groups)
    got = bconv2d(
        x.numpy(),
        packed,
        channels,
        np.ones(cout),
        np.zeros(cout),
        (stride, stride),
        pad,
        (dil, dil),
        groups,
        threshold=0.25,
        isa=isa,
    )
    assert got.shape == tuple(ref.shape)
    np.testing.assert_array_equal(got, ref.numpy())


@pytest.mark.parametrize('layout', ['NCHW', 'NHWC'])
@pytest.mark.parametrize(
    'cin,cout,k',
    [
        (300, 530, 3),  # 1.5 MB of int8 tiles, 45 steps: expanded on the way, per tile pair
        (512, 520, 3),  # 2.4 MB
        (250, 100, 3),  # 252 KB: once per call (NHWC: the fused epilogue loop; NCHW on the way)
        (1270, 200, 1),  # 260 KB, a short reduction (20 steps): a channel pair at a time
    ],
)
def test_amx_layer_with_large_weights_is_exact(cin, cout, k, layout):
    """The amx path expands its 1-bit weights to int8 tiles per call in three ways, by their
    size and the reduction's length: exact in each, with a partial last input word (300 =
    4 x 64 + 44, 250, 1270) and partial channel tiles."""
    if not _require('amx'):
        return
    x = _input((1, cin, 5, 4), cin)
    code = _code((cout, cin, k, k), cout)
    pad = k // 2
    ref = F.conv2d(F.pad(_sign(x), (pad,) * 4), code.double())
    packed, channels = pack_code('conv2d', code, 1)
    nhwc = layout == 'NHWC'
    got = bconv2d(
        x.numpy().transpose(0, 2, 3, 1).copy() if nhwc else x.numpy(),
        packed,
        channels,
        np.ones(cout),
        np.zeros(cout),
        padding=(pad,) * 4,
        isa='amx',
        layout=layout,
    )
    np.testing.assert_array_equal(got.transpose(0, 3, 1, 2) if nhwc else got, ref.numpy())


@pytest.mark.parametrize('isa', ISAS)
def test_isa_forced_through_the_environment(isa, monkeypatch):
    monkeypatch.setenv('MMBINARY_BCONV_ISA', isa)
    if not _require(isa):
        return
    assert ops.select_isa() == isa
    x = _input((1, 65, 6, 7), 1)
    code = _code((9, 65, 3, 3), 1)
    packed, channels = pack_code('conv2d', code, 1)
    got = bconv2d(x.numpy(), packed, channels, np.ones(9), np.zeros(9), padding=(1, 1, 1, 1))
    ref = F.conv2d(_sign(x), code.double(), None, 1, 1)
    np.testing.assert_array_equal(got, ref.numpy())


def _deployed(kind, code, groups=1, terms=(), seed=0, **geometry):
    out = code.shape[1] * groups if kind == 'conv_transpose2d' else code.shape[0]
    g = torch.Generator().manual_seed(seed)
    factors = {n: torch.randn(out, generator=g) for n in ('scale', 'bias', *terms)}
    return DeployedBinaryConv(kind, code, 0.0, groups=groups, **factors, **geometry).eval()


def _integer_layer(kind, code, groups=1, **geometry):
    m = _deployed(kind, code, groups, **geometry)
    m.scale.fill_(1.0)
    m.bias.zero_()
    return m


@pytest.mark.parametrize('isa', ISAS)
@pytest.mark.parametrize('form', DECONV_FORMS)
def test_transposed_conv_integer_part_is_exact(form, isa):
    if not _require(isa):
        return
    cin, cout, k, stride, padding, output_padding, groups = form
    x = _input((2, cin, 6, 5), cin)
    code = _code((cin, cout // groups, k, k), cin)
    layer = _integer_layer(
        'conv_transpose2d',
        code,
        groups,
        stride=stride,
        padding=padding,
        output_padding=output_padding,
    )
    ref = F.conv_transpose2d(_sign(x), code.double(), None, stride, padding, output_padding, groups)
    native = NativeBinaryConv(layer, isa=isa)
    with torch.no_grad():
        got = native(x)
    np.testing.assert_array_equal(got.numpy(), ref.numpy())
    # stride > 1 with taps in every phase: the kernel runs stride² sub-pixel convs, whose
    # prepacked form starts with its own header word (mmb_bconv.cpp, kPhasedMagic)
    packed, channels = pack_code('conv_transpose2d', code, groups)
    direct = _Layer(
        packed,
        channels,
        x.shape,
        np.ones(cout),
        np.zeros(cout),
        groups=groups,
        **direct_geometry(layer),
    )
    blob = direct.prepack(ISAS.index(isa))[0]
    assert (blob[0] == PHASED_MAGIC) == (stride > 1 and k >= stride)


@pytest.mark.parametrize('isa', ISAS)
@pytest.mark.parametrize('cin,cout', [(3, 5), (65, 10), (200, 33)])
def test_linear_integer_part_is_exact(cin, cout, isa):
    if not _require(isa):
        return
    x = _input((3, cin), cin)
    code = _code((cout, cin), cin)
    got = NativeBinaryConv(_integer_layer('linear', code), isa=isa)(x)
    np.testing.assert_array_equal(got.numpy(), F.linear(_sign(x), code.double()).numpy())


EPILOGUE_FORMS = [
    ('conv2d', (37, 70, 3, 3), 1, dict(stride=2, padding=1)),
    ('conv2d', (12, 2, 3, 3), 3, dict(padding=2, dilation=2)),
    ('conv_transpose2d', (11, 6, 4, 4), 1, dict(stride=2, padding=1)),
    ('linear', (9, 65), 1, {}),
]


@pytest.mark.parametrize('isa', ISAS)
@pytest.mark.parametrize('fused', [False, True])
@pytest.mark.parametrize('terms', [(), ('window_scale', 'mask_scale', 'mask_window_scale')])
@pytest.mark.parametrize('form', EPILOGUE_FORMS, ids=lambda f: f[0] if isinstance(f, str) else None)
def test_fused_epilogue_matches_pytorch(form, terms, fused, isa):
    if not _require(isa):
        return
    kind, shape, groups, geometry = form
    code = _code(shape, shape[0])
    layer = _deployed(kind, code, groups, terms, seed=shape[1], **geometry)
    cin = shape[1] * groups if kind == 'conv2d' else shape[1] if kind == 'linear' else shape[0]
    x = _input((2, cin) if kind == 'linear' else (2, cin, 7, 6), 3)
    with torch.no_grad():
        ref = layer(x)
        residual = prelu = None
        if fused:
            g = torch.Generator().manual_seed(5)
            residual = torch.randn(ref.shape, generator=g)
            prelu = torch.rand(ref.shape[1], generator=g) - 0.5
            ref = ref + residual
            ref = torch.where(ref >= 0, ref, prelu.view((1, -1) + (1,) * (ref.dim() - 2)) * ref)
        got = NativeBinaryConv(layer, isa=isa, prelu=prelu)(x, residual)
    assert got.shape == ref.shape
    scale = float(ref.abs().max())
    np.testing.assert_allclose(got.numpy(), ref.numpy(), rtol=1e-5, atol=1e-6 * scale)


@pytest.mark.parametrize('threads', [2, 3])
def test_threads_give_the_same_result(threads):
    x = _input((2, 64, 9, 8), 2)
    code = _code((48, 64, 3, 3), 2)
    packed, channels = pack_code('conv2d', code, 1)
    args = (x.numpy(), packed, channels, np.linspace(-1, 1, 48), np.arange(48.0))
    one = bconv2d(*args, padding=(1, 1, 1, 1), threads=1)
    np.testing.assert_array_equal(bconv2d(*args, padding=(1, 1, 1, 1), threads=threads), one)


def test_custom_op_registered_with_fake_shapes():
    from torch._subclasses.fake_tensor import FakeTensorMode

    layer = _deployed('conv2d', _code((8, 16, 3, 3), 0), stride=2, padding=1)
    native = NativeBinaryConv(layer)
    with FakeTensorMode(allow_non_fake_inputs=True):
        y = torch.ops.mmbinary.binary_conv2d(
            torch.empty(2, 16, 9, 7),
            native.weight,
            native.scale,
            native.bias,
            None,
            None,
            None,
            None,
            None,
            native.channels,
            [2, 2],
            [1, 1, 1, 1],
            [1, 1],
            1,
            [1, 1],
            0.0,
            1,
            '',
        )
        assert tuple(y.shape) == (2, 8, 5, 4)
    x = _input((2, 16, 9, 7), 0)
    torch.library.opcheck(
        torch.ops.mmbinary.binary_conv2d.default,
        (
            x,
            native.weight,
            native.scale,
            native.bias,
            None,
            None,
            None,
            None,
            None,
            native.channels,
            [2, 2],
            [1, 1, 1, 1],
            [1, 1],
            1,
            [1, 1],
            0.0,
            1,
            '',
        ),
        test_utils=('test_schema', 'test_faketensor'),
    )


@pytest.mark.parametrize('isa', ['amx', 'avx512', 'avx2'])
def test_cpu_lacking_a_path_is_a_clear_error(isa, monkeypatch):
    monkeypatch.setenv('MMBINARY_BCONV_HIDE_ISA', 'avx512,avx2')  # amx needs the avx512 path
    assert not ops.cpu_supports(isa)
    assert ops.supported_isas() == ('portable',)
    with pytest.raises(NativeKernelError, match=f"'{isa}'.*lacks.*it has: portable"):
        ops.select_isa(isa)
    monkeypatch.setenv('MMBINARY_BCONV_ISA', isa)
    with pytest.raises(NativeKernelError, match=f"'{isa}' requested \\(MMBINARY_BCONV_ISA\\)"):
        ops.select_isa()
    # the C entry point itself refuses the path too (not only the Python selection)
    layer = _Layer(np.zeros((4, 1, 1, 1), np.uint64), 8, (1, 8, 2, 2), np.ones(4), np.zeros(4))
    x, y = np.zeros((1, 8, 2, 2), np.float32), np.zeros((1, 4, 2, 2), np.float32)
    err = ctypes.create_string_buffer(512)
    rc = library().mmb_bconv2d_f32(
        layer.params, ISAS.index(isa), x.ctypes.data, y.ctypes.data, err, 512
    )
    assert rc == -1 and f"'{isa}' needs" in err.value.decode()
    monkeypatch.setenv('MMBINARY_BCONV_ISA', 'portable')
    assert ops.select_isa() == 'portable'


def test_bad_arguments_name_the_value():
    with pytest.raises(NativeKernelError, match="unknown ISA path 'sse9'.*allowed: auto"):
        ops.select_isa('sse9')
    packed, channels = pack_code('conv2d', _code((4, 70, 3, 3), 0), 1)
    x = np.zeros((1, 70, 5, 5), np.float32)
    with pytest.raises(ValueError, match='1 words per tap, 70 channels per group need 2'):
        bconv2d(x, packed[..., :1], 70, np.ones(4), np.zeros(4))
    with pytest.raises(ValueError, match='input has 70 channels, the weight expects 65 x 1'):
        bconv2d(x, packed, 65, np.ones(4), np.zeros(4))
    with pytest.raises(ValueError, match='scale must have 4 values'):
        bconv2d(x, packed, channels, np.ones(3), np.zeros(4))
    with pytest.raises(NativeKernelError, match='smaller than the dilated kernel'):
        bconv2d(x[:, :, :2], packed, channels, np.ones(4), np.zeros(4))
    layer = _Layer(packed, channels, x.shape, np.ones(4), np.zeros(4))
    layer.params.out_h = 7
    err = ctypes.create_string_buffer(512)
    y = np.zeros((1, 4, 7, 3), np.float32)
    assert library().mmb_bconv2d_f32(layer.params, 0, x.ctypes.data, y.ctypes.data, err, 512) == -1
    assert 'out_h x out_w must be 3x3 for this shape, got 7x3' in err.value.decode()


def test_prepacked_for_another_shape_is_refused():
    packed, channels = pack_code('conv2d', _code((4, 8, 3, 3), 0), 1)
    small = _Layer(packed, channels, (1, 8, 5, 5), np.ones(4), np.zeros(4))
    large = _Layer(packed, channels, (1, 8, 6, 6), np.ones(4), np.zeros(4))
    large.params.prepacked = small.prepack(0)[1]
    x, y = np.zeros((1, 8, 6, 6), np.float32), np.zeros((1, 4, 4, 4), np.float32)
    err = ctypes.create_string_buffer(512)
    assert library().mmb_bconv2d_f32(large.params, 0, x.ctypes.data, y.ctypes.data, err, 512) == -1
    assert 'prepacked was made for another layer shape' in err.value.decode()


def test_one_layer_from_two_python_threads():
    from concurrent.futures import ThreadPoolExecutor

    packed, channels = pack_code('conv2d', _code((16, 32, 3, 3), 4), 1)
    layer = _Layer(
        packed, channels, (1, 32, 12, 10), np.ones(16), np.zeros(16), padding=(1, 1, 1, 1)
    )
    x = _input((1, 32, 12, 10), 4).numpy()
    residuals = [np.full((1, 16, 12, 10), float(i), np.float32) for i in range(8)]
    plain = layer.run(x, None)
    with ThreadPoolExecutor(2) as pool:  # ctypes releases the GIL: the calls overlap
        outs = list(pool.map(lambda r: layer.run(x, None, 1, r), residuals * 4))
    for r, y in zip(residuals * 4, outs):
        np.testing.assert_array_equal(y, plain + r)


NHWC_FORMS = [  # (in_c, out_c, kernel, stride, padding, dilation, input_dilation, groups)
    (64, 64, 3, 1, 1, 1, 1, 1),
    (37, 70, 3, 2, 1, 1, 1, 1),
    (130, 20, 1, 1, 0, 1, 1, 1),
    (12, 6, 3, 1, 2, 2, 1, 3),
    (66, 12, 4, 1, 2, 1, 2, 1),  # a stride-2 transposed conv's direct form (sub-pixel phases)
    (9, 5, 3, 1, 1, 1, 2, 1),
    (20, 9, 5, 1, 3, 1, 3, 1),  # stride 3: nine phases
]


@pytest.mark.parametrize('isa', ISAS)
@pytest.mark.parametrize('epilogue', ['integer', 'adabin', 'bireal', 'sign'])
@pytest.mark.parametrize('form', NHWC_FORMS)
def test_nhwc_layout_equals_nchw(form, epilogue, isa):
    """NHWC input / residual / output give the NCHW result bit for bit (same float ops)."""
    if not _require(isa):
        return
    cin, cout, k, stride, pad, dil, in_dil, groups = form
    x = _input((2, cin, 7, 6), cin).numpy()
    code = _code((cout, cin // groups, k, k), cout)
    packed, channels = pack_code('conv2d', code, groups)
    rng = np.random.default_rng(cin)
    kwargs = dict(
        stride=(stride, stride),
        padding=(pad, pad, pad, pad),
        dilation=(dil, dil),
        groups=groups,
        input_dilation=(in_dil, in_dil),
        isa=isa,
    )
    scale, bias = rng.standard_normal(cout), rng.standard_normal(cout)
    if epilogue == 'integer':
        scale, bias = np.ones(cout), np.zeros(cout)
    elif epilogue == 'adabin':
        kwargs.update({n: rng.standard_normal(cout) for n in ('window_scale', 'mask_scale')})
        kwargs.update(mask_window_scale=rng.standard_normal(cout))
    elif epilogue == 'bireal':
        kwargs.update(prelu=rng.standard_normal(cout), pre_shift=rng.standard_normal(cout))
        kwargs.update(post_shift=rng.standard_normal(cout), pos_slope=rng.standard_normal(cout))
    else:
        kwargs.update(sign_output=True)
    ref = bconv2d(x, packed, channels, scale, bias, **kwargs)
    if epilogue == 'bireal':
        residual = rng.standard_normal(ref.shape).astype(np.float32)
        ref = bconv2d(x, packed, channels, scale, bias, residual=residual, **kwargs)
        kwargs['residual'] = residual.transpose(0, 2, 3, 1).copy()
    got = bconv2d(
        x.transpose(0, 2, 3, 1).copy(), packed, channels, scale, bias, layout='NHWC', **kwargs
    )
    np.testing.assert_array_equal(got, ref.transpose(0, 2, 3, 1))
    if epilogue == 'integer':  # and both are the exact conv of the signs, zeros padded / inserted
        signs = _dilate(_sign(torch.from_numpy(x)), in_dil)
        full = F.conv2d(F.pad(signs, (pad,) * 4), code.double(), None, stride, 0, dil, groups)
        np.testing.assert_array_equal(ref, full.numpy())


def _dilate(x, s):
    """``s - 1`` zeros inserted between the pixels (a transposed conv's input dilation)."""
    n, c, h, w = x.shape
    out = torch.zeros(n, c, (h - 1) * s + 1, (w - 1) * s + 1, dtype=x.dtype)
    out[:, :, ::s, ::s] = x
    return out


def test_nhwc_input_of_the_wrong_shape_is_refused():
    packed, channels = pack_code('conv2d', _code((4, 8, 3, 3), 0), 1)
    x = np.zeros((1, 8, 5, 5), np.float32)  # NCHW given where NHWC is declared
    with pytest.raises(ValueError, match=r'input has 5 channels \(NHWC: the last axis\)'):
        bconv2d(x, packed, channels, np.ones(4), np.zeros(4), layout='NHWC')
    with pytest.raises(ValueError, match=r'input has 4 channels \(NHWC: the last axis\)'):
        bconv2d(
            np.zeros((1, 5, 5, 4), np.float32),
            packed,
            channels,
            np.ones(4),
            np.zeros(4),
            layout='NHWC',
        )
    with pytest.raises(ValueError, match="layout must be 'NCHW' or 'NHWC', got 'CHWN'"):
        bconv2d(x, packed, channels, np.ones(4), np.zeros(4), layout='CHWN')
