"""Chained packed bits: a layer writes its output's bits in the epilogue (``y_bits``) and the
next layer reads them instead of floats (``x_bits``), on every ISA path (each one forced).

The bits are checked against :func:`pack_bits_nhwc` of the float output, which is itself checked
against a per-bit loop; a layer fed with bits must give the float input's result bit for bit.
"""

import ctypes

import numpy as np
import pytest

from mmbinary import ops
from mmbinary.deploy.packing import pack_code
from mmbinary.ops import ISAS, NativeKernelError, bconv2d, pack_bits_nhwc
from mmbinary.ops.bconv import _Layer, library

from .test_bconv import _code, _input, _require

if not ops.native_available():
    pytest.fail(f'the native kernel must build on this machine: {ops.native_unavailable_reason()}')

# (in_c, out_c, kernel, stride, padding, dilation, input_dilation); groups 1
FORMS = [
    (64, 64, 3, 1, 1, 1, 1),  # a Bi-Real layer (the amx path fuses its epilogue)
    (37, 70, 3, 2, 1, 1, 1),  # partial words in and out, stride 2
    (130, 20, 1, 1, 0, 1, 1),  # three input words
    (66, 12, 4, 1, 2, 1, 2),  # a stride-2 transposed conv's direct form (sub-pixel phases)
    (20, 9, 5, 1, 3, 1, 3),  # stride 3: nine phases
    (128, 200, 3, 1, 2, 2, 1),  # dilation 2, four output words, the last partial
]


def _epilogue(name, cout, rng):
    scale, bias = rng.standard_normal(cout), rng.standard_normal(cout)
    if name == 'integer':
        return np.ones(cout), np.zeros(cout), {}
    if name == 'adabin':
        terms = ('window_scale', 'mask_scale', 'mask_window_scale')
        return scale, bias, {n: rng.standard_normal(cout) for n in terms}
    if name == 'bireal':
        names = ('prelu', 'pre_shift', 'post_shift', 'pos_slope')
        return scale, bias, {n: rng.standard_normal(cout) for n in names}
    return scale, bias, dict(sign_output=True)


def _geometry(form, isa):
    cin, cout, k, stride, pad, dil, in_dil = form
    return dict(
        stride=(stride, stride),
        padding=(pad, pad, pad, pad),
        dilation=(dil, dil),
        input_dilation=(in_dil, in_dil),
        isa=isa,
        layout='NHWC',
    )


def test_pack_bits_nhwc_against_a_bit_loop():
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 70)).astype(np.float32)
    x[0, 0, 0, 5] = 0.25  # exactly the threshold: bit set
    bits = pack_bits_nhwc(x, 0.25)
    assert bits.shape == (2, 3, 4, 2) and bits.dtype == np.uint64
    for idx in np.ndindex(x.shape[:3]):
        words = [0, 0]
        for c in range(70):
            if x[idx + (c,)] >= 0.25:
                words[c // 64] |= 1 << (c % 64)
        assert [int(w) for w in bits[idx]] == words
    assert int(bits[0, 0, 0, 0]) >> 5 & 1 == 1
    with pytest.raises(ValueError, match=r'x must be NHWC \[N, H, W, C\], got shape \[3, 4\]'):
        pack_bits_nhwc(np.zeros((3, 4)))


@pytest.mark.parametrize('isa', ISAS)
@pytest.mark.parametrize('epilogue', ['integer', 'adabin', 'bireal', 'sign'])
@pytest.mark.parametrize('form', FORMS)
def test_y_bits_are_the_packing_of_y(form, epilogue, isa):
    """The output's bits come with y, which stays the same floats; threshold hits exercised."""
    if not _require(isa):
        return
    cin, cout = form[:2]
    rng = np.random.default_rng(cin * cout)
    x = _input((2, cin, 7, 6), cin).numpy().transpose(0, 2, 3, 1).copy()
    packed, channels = pack_code('conv2d', _code((cout, cin, form[2], form[2]), cout), 1)
    scale, bias, kwargs = _epilogue(epilogue, cout, rng)
    kwargs.update(_geometry(form, isa))
    ref = bconv2d(x, packed, channels, scale, bias, **kwargs)
    if epilogue == 'bireal':
        kwargs['residual'] = rng.standard_normal(ref.shape).astype(np.float32)
        ref = bconv2d(x, packed, channels, scale, bias, **kwargs)
    for t in (0.0, float(np.sort(ref, axis=None)[ref.size // 2])):  # one of y's: y == t hit
        y, bits = bconv2d(x, packed, channels, scale, bias, y_bits_threshold=t, **kwargs)
        np.testing.assert_array_equal(y, ref)
        np.testing.assert_array_equal(bits, pack_bits_nhwc(ref, t))
    y, bits = bconv2d(x, packed, channels, scale, bias, y_bits_threshold=t, threads=3, **kwargs)
    np.testing.assert_array_equal(bits, pack_bits_nhwc(ref, t))


@pytest.mark.parametrize('isa', ISAS)
@pytest.mark.parametrize('form', FORMS)
def test_x_bits_input_equals_the_float_input(form, isa):
    """Bits in give the float input's result bit for bit; bits past in_c are ignored."""
    if not _require(isa):
        return
    cin, cout = form[:2]
    rng = np.random.default_rng(cin + cout)
    x = _input((2, cin, 7, 6), cin, threshold=0.3).numpy().transpose(0, 2, 3, 1).copy()
    packed, channels = pack_code('conv2d', _code((cout, cin, form[2], form[2]), cout), 1)
    scale, bias, kwargs = _epilogue('adabin', cout, rng)
    kwargs.update(_geometry(form, isa))
    ref = bconv2d(x, packed, channels, scale, bias, threshold=0.3, **kwargs)
    bits = pack_bits_nhwc(x, 0.3)
    if cin % 64:  # garbage past the last channel: not an input
        bits[..., -1] |= np.uint64(~((1 << (cin % 64)) - 1) & (2**64 - 1))
    got = bconv2d(bits, packed, channels, scale, bias, threshold=123.0, **kwargs)
    np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize('isa', ISAS)
def test_a_chain_of_bireal_blocks_in_bits_equals_the_float_chain(isa):
    """conv -> BN -> + shortcut -> RPReLU twice: floats in between, or bits."""
    if not _require(isa):
        return
    rng = np.random.default_rng(7)
    x = rng.standard_normal((1, 12, 10, 96)).astype(np.float32)
    layers = []
    for i in range(3):
        packed, channels = pack_code('conv2d', _code((96, 96, 3, 3), 50 + i), 1)
        names = ('prelu', 'pre_shift', 'post_shift')
        extra = {n: rng.standard_normal(96) * 0.1 for n in names}
        layers.append((packed, channels, rng.standard_normal(96), rng.standard_normal(96), extra))
    thresholds = [0.0, 0.1, -0.2]
    geometry = dict(padding=(1, 1, 1, 1), isa=isa, layout='NHWC')
    floats = x
    for (packed, channels, s, b, extra), t in zip(layers, thresholds):
        floats = bconv2d(
            floats, packed, channels, s, b, threshold=t, residual=floats, **geometry, **extra
        )
    y, bits = x, pack_bits_nhwc(x, thresholds[0])
    for i, (packed, channels, s, b, extra) in enumerate(layers):
        nxt = thresholds[i + 1] if i + 1 < len(layers) else 0.0
        y, bits = bconv2d(
            bits, packed, channels, s, b, residual=y, y_bits_threshold=nxt, **geometry, **extra
        )
    np.testing.assert_array_equal(y, floats)


def test_bits_need_nhwc_and_one_group():
    packed, channels = pack_code('conv2d', _code((4, 4, 3, 3), 0), 2)
    x = np.zeros((1, 5, 5, 8), np.float32)
    with pytest.raises(
        ValueError, match='need layout NHWC and groups=1, got layout NHWC and groups=2'
    ):
        bconv2d(
            x,
            packed,
            channels,
            np.ones(4),
            np.zeros(4),
            groups=2,
            layout='NHWC',
            y_bits_threshold=0.0,
        )
    packed, channels = pack_code('conv2d', _code((4, 8, 3, 3), 0), 1)
    with pytest.raises(
        ValueError,
        match=r'input must be packed bits uint64 \[N, 5, 5, 1\], '
        r'got \[1, 5, 5, 8\]',
    ):
        bconv2d(x.astype(np.uint64), packed, channels, np.ones(4), np.zeros(4), layout='NHWC')
    # the C check, for callers of the library itself: NCHW with bits
    layer = _Layer(packed, channels, (1, 8, 5, 5), np.ones(4), np.zeros(4))
    p = layer.params
    bits = np.zeros((1, 5, 5, 1), np.uint64)
    p.x_bits = bits.ctypes.data_as(ctypes.POINTER(ctypes.c_uint64))
    y, err = np.empty((1, 4, 3, 3), np.float32), ctypes.create_string_buffer(512)
    assert library().mmb_bconv2d_f32(p, 0, None, y.ctypes.data, err, 512) == -1
    assert err.value.decode() == (
        'mmb_bconv: x_bits (packed bits) needs nhwc=1 and groups=1, got nhwc=0 groups=1'
    )
    p.x_bits = None
    assert library().mmb_bconv2d_f32(p, 0, None, y.ctypes.data, err, 512) == -1
    assert err.value.decode() == 'mmb_bconv: x (or x_bits) and y must not be NULL'


@pytest.mark.parametrize('isa', ISAS)
@pytest.mark.parametrize('up', [2, 4])
@pytest.mark.parametrize('transposed', [False, True])
def test_upsampled_residual_equals_the_upsampled_tensor(transposed, up, isa):
    """residual_upsample=s reads the small residual at (y / s, x / s): the same floats as adding
    nn.Upsample(scale_factor=s) of it (the Bi-Real shortcut of a binary deconv)."""
    if not _require(isa):
        return
    rng = np.random.default_rng(up)
    cin, cout = 40, 72
    if transposed:  # a 4x4 stride-2 transposed conv (sub-pixel phases): 6x4 -> 12x8
        form, hw = (cin, cout, 4, 1, 2, 1, 2), (6, 4)
    else:  # a 3x3 conv
        form, hw = (cin, cout, 3, 1, 1, 1, 1), (8, 12)
    x = rng.standard_normal((2, *hw, cin)).astype(np.float32)
    packed, channels = pack_code('conv2d', _code((cout, cin, form[2], form[2]), 3), 1)
    scale, bias, kwargs = _epilogue('bireal', cout, rng)
    kwargs.update(_geometry(form, isa))
    shape = bconv2d(x, packed, channels, scale, bias, **kwargs).shape
    assert shape[1] % up == 0 and shape[2] % up == 0, shape
    small = rng.standard_normal((2, shape[1] // up, shape[2] // up, cout)).astype(np.float32)
    big = small.repeat(up, axis=1).repeat(up, axis=2)  # nearest upsampling
    ref = bconv2d(x, packed, channels, scale, bias, residual=big, **kwargs)
    got = bconv2d(x, packed, channels, scale, bias, residual=small, residual_upsample=up, **kwargs)
    np.testing.assert_array_equal(got, ref)


def test_upsampled_residual_bad_values_are_named():
    packed, channels = pack_code('conv2d', _code((4, 8, 3, 3), 0), 1)
    x = np.zeros((1, 8, 8, 8), np.float32)
    small = np.zeros((1, 4, 4, 4), np.float32)
    ones, zeros = np.ones(4), np.zeros(4)
    with pytest.raises(ValueError, match=r'residual must be \[1, 4, 4, 4\], got \[1, 8, 8, 4\]'):
        bconv2d(
            x,
            packed,
            channels,
            ones,
            zeros,
            padding=(1, 1, 1, 1),
            layout='NHWC',
            residual=np.zeros((1, 8, 8, 4), np.float32),
            residual_upsample=2,
        )
    with pytest.raises(
        NativeKernelError, match='residual_upsample must be 0, 1 or a power of two, got 3'
    ):
        bconv2d(
            x[:, :6, :6],
            packed,
            channels,
            ones,
            zeros,
            padding=(1, 1, 1, 1),
            layout='NHWC',
            residual=np.zeros((1, 2, 2, 4), np.float32),
            residual_upsample=3,
        )
    with pytest.raises(ValueError, match='residual_upsample=2 needs a residual, got None'):
        bconv2d(x, packed, channels, ones, zeros, layout='NHWC', residual_upsample=2)
    nchw = x.transpose(0, 3, 1, 2).copy()
    with pytest.raises(NativeKernelError, match='residual_upsample 2 needs nhwc=1'):
        bconv2d(
            nchw,
            packed,
            channels,
            ones,
            zeros,
            padding=(1, 1, 1, 1),
            residual=small.transpose(0, 3, 1, 2).copy(),
            residual_upsample=2,
        )


# the epilogue's optional steps (the NHWC epilogue has a branch-free body for each of the first
# five sets, with and without bits; the others take its general body)
STEP_SETS = {
    'none': (),
    'residual': ('residual',),
    'residual+prelu': ('residual', 'prelu'),
    'residual+rprelu': ('residual', 'pre_shift', 'prelu', 'post_shift'),
    'residual+maxout': ('residual', 'prelu', 'pos_slope'),
    'prelu': ('prelu',),
    'residual+pre_shift': ('residual', 'pre_shift'),
}


@pytest.mark.parametrize('isa', ISAS)
@pytest.mark.parametrize('bits', [False, True])
@pytest.mark.parametrize('steps', list(STEP_SETS))
@pytest.mark.parametrize('form', [FORMS[0], FORMS[1]], ids=['bireal64', 'partial-words'])
def test_each_epilogue_step_set_in_nhwc_equals_nchw(form, steps, bits, isa):
    """NHWC (one body per step set) against NCHW (the general epilogue) bit for bit, and the
    bits against the packing of y."""
    if not _require(isa):
        return
    cin, cout, k, stride, pad, _, _ = form
    rng = np.random.default_rng(len(steps) + 10 * bits)
    x = _input((2, cin, 9, 7), cin).numpy()
    packed, channels = pack_code('conv2d', _code((cout, cin, k, k), cout), 1)
    scale, bias = rng.standard_normal(cout), rng.standard_normal(cout)
    kwargs = {n: rng.standard_normal(cout) for n in STEP_SETS[steps] if n != 'residual'}
    geometry = dict(stride=(stride, stride), padding=(pad,) * 4, isa=isa)
    ref = bconv2d(x, packed, channels, scale, bias, **geometry, **kwargs)
    nhwc = dict(kwargs)
    if 'residual' in STEP_SETS[steps]:
        residual = rng.standard_normal(ref.shape).astype(np.float32)
        ref = bconv2d(x, packed, channels, scale, bias, residual=residual, **geometry, **kwargs)
        nhwc['residual'] = residual.transpose(0, 2, 3, 1).copy()
    if bits:
        nhwc['y_bits_threshold'] = float(np.median(ref))  # about half the bits set
    got = bconv2d(
        x.transpose(0, 2, 3, 1).copy(),
        packed,
        channels,
        scale,
        bias,
        layout='NHWC',
        **geometry,
        **nhwc,
    )
    y = got[0] if bits else got
    np.testing.assert_array_equal(y, ref.transpose(0, 2, 3, 1))
    if bits:
        np.testing.assert_array_equal(got[1], pack_bits_nhwc(y, nhwc['y_bits_threshold']))
