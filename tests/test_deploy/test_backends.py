"""Back ends against PyTorch: OpenVINO's 1-bit convs exact on every conv form; whole models
(random init with random BatchNorm statistics) exported and reloaded through DeployedModel.

Measured bound (f32 real part, float summation order only): max |export - PyTorch| /
max |PyTorch| <= 2e-6 on every model here; the tests allow 1e-4.
"""

import os.path as osp

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from torch import nn

from mmbinary.binarizers import binary_sign
from mmbinary.deploy import DeployedModel, InferenceNet, deploy_binary_layer, export_model
from mmbinary.deploy.exporter import build_model, calibration_inputs
from mmbinary.layers import BinaryConv2d, BinaryConvTranspose2d

from .test_converter import CONV_FORMS, DECONV_FORMS, _input

ov_backend = pytest.importorskip('mmbinary.deploy.backends.openvino')
pytest.importorskip('openvino')
ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
REL_TOL = 1e-4


class _Integer(nn.Module):
    """The integer part alone: conv(sign(x), code) with scale 1 and bias 0."""

    def __init__(self, layer):
        super().__init__()
        self.deployed = deploy_binary_layer('layer', layer)
        self.deployed.scale.fill_(1.0)
        self.deployed.bias.zero_()

    def forward(self, x):
        return self.deployed(x)


@pytest.mark.parametrize('exact_int8', [False, True])
@pytest.mark.parametrize('form', CONV_FORMS)
def test_openvino_binary_conv_is_exact(form, exact_int8, tmp_path):
    cin, cout, k, stride, padding, dilation, groups = form
    torch.manual_seed(cin)
    conv = BinaryConv2d(cin, cout, k, stride, padding, dilation, groups).eval()
    x = _input((1, cin, 13, 11), cout)
    net = _Integer(conv).eval()
    written = ov_backend.export(net, x, str(tmp_path), exact_int8=exact_int8)
    assert written['binary_convs'] == (1 if groups == 1 else 0)  # no groups in BinaryConvolution
    got = ov_backend.OpenVINORunner(str(tmp_path / 'model.xml'), threads=1)(x.numpy())
    ref = F.conv2d(binary_sign(x), conv.weight_code(), None, stride, padding, dilation, groups)
    np.testing.assert_array_equal(got, ref.numpy())


@pytest.mark.parametrize('form', DECONV_FORMS)
def test_openvino_binary_transposed_conv_is_exact(form, tmp_path):
    cin, cout, k, stride, padding, output_padding, groups = form
    torch.manual_seed(cin)
    deconv = BinaryConvTranspose2d(cin, cout, k, stride, padding, output_padding, groups).eval()
    x = _input((1, cin, 6, 5), cout)
    net = _Integer(deconv).eval()
    ov_backend.export(net, x, str(tmp_path))
    got = ov_backend.OpenVINORunner(str(tmp_path / 'model.xml'), threads=1)(x.numpy())
    ref = F.conv_transpose2d(
        binary_sign(x), deconv.weight_code(), None, stride, padding, output_padding, groups
    )
    np.testing.assert_array_equal(got, ref.numpy())


def _randomize_bn(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.running_mean is not None:
            c = m.num_features
            m.running_mean.copy_(torch.randn(c, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(c, generator=g) + 0.5)
            if m.affine:
                m.weight.data.copy_(1 + 0.2 * torch.randn(c, generator=g))
                m.bias.data.copy_(0.1 * torch.randn(c, generator=g))


def _checkpoint(cfg, tmp_path, seed=0):
    torch.manual_seed(seed)
    model = build_model(cfg)
    _randomize_bn(model, seed)
    path = str(tmp_path / 'random.pth')
    torch.save(dict(state_dict=model.state_dict()), path)
    return model, path


POSE_MODELS = {
    'sbpn18': ('configs/coco_tiny/td-hm_sbpn-bireal18_1xb4-60e_coco-tiny-256x192.py', {}),
    'sbpn18_binary_head': (
        'configs/sbpn/td-hm_sbpn-bireal18-bbc-binhead_8xb64-210e_coco-256x192.py',
        {},
    ),
    'bhrnet_w32_tiny': (  # one module of one block per stage: the structure, not the depth
        'configs/coco_tiny/td-hm_bhrnet-w32_1xb4-60e_coco-tiny-256x192.py',
        dict(
            model=dict(
                backbone=dict(
                    extra=dict(
                        stage1=dict(num_blocks=(1,)),
                        stage2=dict(num_blocks=(1, 1)),
                        stage3=dict(num_modules=1, num_blocks=(1, 1, 1)),
                        stage4=dict(num_modules=1, num_blocks=(1, 1, 1, 1)),
                    )
                )
            )
        ),
    ),
    'drop_in_resnet18': (
        'configs/drop_in/td-hm_res50-binary_8xb64-210e_coco-256x192.py',
        dict(model=dict(backbone=dict(depth=18), head=dict(in_channels=512))),
    ),
}


@pytest.mark.parametrize('name', sorted(POSE_MODELS))
def test_pose_model_openvino_matches_pytorch(name, tmp_path):
    path, options = POSE_MODELS[name]
    cfg = Config.fromfile(osp.join(ROOT, path))
    cfg.merge_from_dict(options)
    model, checkpoint = _checkpoint(cfg, tmp_path)
    out = str(tmp_path / 'export')
    meta = export_model(cfg, checkpoint, 'openvino', out, input_shape=(128, 96), log=lambda s: None)
    assert meta['backend_binary_convs'] > 0
    deployed = DeployedModel(out, threads=1)
    x = torch.randn(2, 3, 128, 96, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref = InferenceNet(model)(x).numpy()
    got = deployed(x.numpy())
    assert got.shape == ref.shape
    assert np.abs(got - ref).max() <= REL_TOL * np.abs(ref).max()


CLS_MODELS = {
    'adabin_resnet20': 'configs/digits/resnet20-adabin_1xb128-12e_digits-8px.py',
    'bbc_resnet20': 'configs/digits/resnet20-bbc_1xb128-12e_digits-8px.py',
    'self_binarizing_resnet18': 'configs/digits/resnet18-self-binarizing_1xb128-12e_digits-32px.py',
}


@pytest.mark.parametrize(
    'name,backend',
    [(name, 'openvino') for name in sorted(CLS_MODELS)]
    + [('adabin_resnet20', 'onnx'), ('adabin_resnet20', 'packed')],
)
def test_classifier_matches_pytorch_on_digits(name, backend, tmp_path):
    if backend == 'onnx':
        pytest.importorskip('onnxruntime')
    cfg = Config.fromfile(osp.join(ROOT, CLS_MODELS[name]))
    model, checkpoint = _checkpoint(cfg, tmp_path, seed=2)
    out = str(tmp_path / 'export')
    export_model(cfg, checkpoint, backend, out, log=lambda s: None)
    deployed = DeployedModel(out, threads=1)
    x = np.concatenate(calibration_inputs(cfg, model, 24))  # real digits, preprocessed
    with torch.no_grad():
        ref = InferenceNet(model)(torch.from_numpy(x)).numpy()
    got = deployed(x)
    err = np.abs(got - ref).max()
    assert err <= REL_TOL * np.abs(ref).max()
    top2 = np.sort(ref, axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 2 * err  # a tie within the error may flip legitimately
    assert clear.sum() >= len(x) // 2
    np.testing.assert_array_equal(got.argmax(1)[clear], ref.argmax(1)[clear])


def test_runner_node_times_need_perf_count(tmp_path):
    conv = BinaryConv2d(8, 8, 3, 1, 1).eval()
    x = _input((1, 8, 9, 7), 8)
    ov_backend.export(_Integer(conv).eval(), x, str(tmp_path))
    xml = str(tmp_path / 'model.xml')
    plain = ov_backend.OpenVINORunner(xml, threads=1)
    plain(x.numpy())
    with pytest.raises(RuntimeError, match='perf_count=True'):
        plain.node_times()
    profiled = ov_backend.OpenVINORunner(xml, threads=1, perf_count=True)
    profiled(x.numpy())
    times = profiled.node_times()
    kinds = {kind for _, kind, _, _ in times}
    assert 'BinaryConvolution' in kinds, kinds  # the exported 1-bit conv, as OpenVINO runs it
    assert all(us >= 0 for *_, us in times) and sum(us for *_, us in times) > 0


class _FakeShape:
    def __init__(self, dims):
        self.dims = dims

    def to_shape(self):
        return self.dims


class _FakeNative:
    """An MMBinaryConv node as _binary_macs reads it: attributes and the output shape."""

    def __init__(self, out_shape, **attrs):
        self.out_shape, self.attrs = out_shape, attrs

    def get_attributes(self):
        return self.attrs

    def get_output_partial_shape(self, index):
        return _FakeShape(self.out_shape)


@pytest.mark.parametrize(
    'out_shape, attrs, macs',
    [
        # 3x3 conv, 64 -> 64 channels at 64x48 (NHWC): 3072 pixels x 64 outputs x 64 x 9
        (
            [1, 64, 48, 64],
            dict(in_channels=64, groups=1, kernel=[3, 3], input_dilations=[1, 1]),
            3072 * 64 * 64 * 9,
        ),
        # grouped: 8 inputs per output
        (
            [1, 16, 5, 5],
            dict(in_channels=32, groups=4, kernel=[3, 3], input_dilations=[1, 1]),
            16 * 25 * 8 * 9,
        ),
        # 4x4 stride-2 transposed conv, direct form: 2 x 2 of its 16 taps meet an input pixel
        (
            [1, 64, 48, 256],
            dict(in_channels=256, groups=1, kernel=[4, 4], input_dilations=[2, 2]),
            64 * 48 * 256 * 256 * 4,
        ),
    ],
)
def test_binary_macs_of_a_native_node(out_shape, attrs, macs):
    assert ov_backend._binary_macs(_FakeNative(out_shape, **attrs)) == macs


def _pool_conv_model(hw=(8, 6), kernel=2, stride=2, pads=(0, 0), conv_kernel=1, readers=1):
    """x -> AvgPool -> Convolution (and, with readers=2, a second reader of the pool)."""
    import openvino as ov

    opset = ov.opset13
    rng = np.random.default_rng(0)
    x = opset.parameter([1, 4, *hw], ov.Type.f32)
    pool = opset.avg_pool(x, [stride] * 2, list(pads), list(pads), [kernel] * 2, False)
    w = rng.standard_normal((5, 4, conv_kernel, conv_kernel)).astype(np.float32)
    conv = opset.convolution(pool, opset.constant(w), [1, 1], [0, 0], [0, 0], [1, 1])
    outs = [conv] + ([opset.relu(pool)] if readers == 2 else [])
    return ov.Model(outs, [x])


def _run(model, x):
    import openvino as ov

    compiled = ov.Core().compile_model(model, 'CPU', {'INFERENCE_PRECISION_HINT': 'f32'})
    return compiled(x)[0]


def test_pooled_shortcut_folds_into_one_strided_conv():
    """AvgPool 2x2 / 2 + 1x1 conv -> one 2x2 stride-2 conv of w / 4: no pool left, the same
    output (float rounding)."""
    model = _pool_conv_model()
    x = np.random.default_rng(1).standard_normal((1, 4, 8, 6)).astype(np.float32)
    before = _run(model, x)
    assert ov_backend.fold_pooled_shortcuts(model) == 1
    types = [op.get_type_name() for op in model.get_ordered_ops()]
    assert 'AvgPool' not in types
    (conv,) = [op for op in model.get_ordered_ops() if op.get_type_name() == 'Convolution']
    assert list(conv.get_attributes()['strides']) == [2, 2]
    assert list(conv.input_value(1).get_partial_shape().to_shape()) == [5, 4, 2, 2]
    after = _run(model, x)
    assert after.shape == before.shape == (1, 5, 4, 3)
    np.testing.assert_allclose(after, before, rtol=1e-5, atol=1e-5)
    # by hand: the mean of each 2x2 window, then the 1x1 conv
    w = ov_backend._constant(conv.input_value(1))[:, :, 0, 0] * 4
    mean = x.reshape(1, 4, 4, 2, 3, 2).mean(axis=(3, 5))
    np.testing.assert_allclose(after, np.einsum('oc,nchw->nohw', w, mean), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    'kwargs',
    [
        dict(hw=(7, 6)),  # a partial window at the border
        dict(pads=(1, 1)),  # padded windows
        dict(kernel=3, stride=2),  # overlapping windows
        dict(conv_kernel=3, hw=(12, 12)),  # not a 1x1 conv
        dict(readers=2),  # the pooled tensor is read elsewhere too
    ],
)
def test_pooled_shortcut_left_alone_where_not_equivalent(kwargs):
    model = _pool_conv_model(**kwargs)
    assert ov_backend.fold_pooled_shortcuts(model) == 0
    assert 'AvgPool' in [op.get_type_name() for op in model.get_ordered_ops()]
