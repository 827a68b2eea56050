"""Whole exported models on the native kernel: a ``packed`` export of a randomly initialised
binary model (random BatchNorm statistics) run by :class:`DeployedModel` with the native 1-bit
kernel equals the PyTorch reference loader, on every ISA path."""

import json
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from torch import nn

from mmbinary import ops
from mmbinary.deploy import DeployedModel, export_model
from mmbinary.deploy.exporter import build_model
from mmbinary.ops.torch_ops import NativeBinaryConv

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
MODELS = {
    # AdaBin: the window / mask terms and a non-zero threshold in every binary layer
    'adabin_resnet20': ('configs/digits/resnet20-adabin_1xb128-12e_digits-8px.py', None),
    # binary SBPN head: binary transposed convs (4x4, stride 2)
    'sbpn18_binary_head': (
        'configs/sbpn/td-hm_sbpn-bireal18-bbc-binhead_8xb64-210e_coco-256x192.py',
        (64, 48),
    ),
}


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


@pytest.fixture(scope='module', params=sorted(MODELS))
def exported(request, tmp_path_factory):
    path, shape = MODELS[request.param]
    cfg = Config.fromfile(osp.join(ROOT, path))
    torch.manual_seed(0)
    model = build_model(cfg)
    _randomize_bn(model)
    tmp = tmp_path_factory.mktemp(request.param)
    checkpoint = str(tmp / 'random.pth')
    torch.save(dict(state_dict=model.state_dict()), checkpoint)
    out = str(tmp / 'export')
    export_model(cfg, checkpoint, 'packed', out, input_shape=shape, log=lambda s: None)
    return out


def test_native_model_equals_reference_on_every_isa(exported):
    reference = DeployedModel(exported, threads=1, kernel='reference')
    native = DeployedModel(exported, threads=1)
    best = ops.select_isa()
    assert reference.kernel == 'reference'
    assert native.kernel == f'native-{best}' and f'kernel=native-{best}' in repr(native)
    layers = [m for m in native._net.modules() if isinstance(m, NativeBinaryConv)]
    assert len(layers) == native.meta['backend_binary_convs'] > 0
    fused = [m for m in layers if m.prelu is not None]
    if 'sbpn' in exported:  # Bi-Real units: shortcut add + PReLU in the kernel's epilogue
        assert len(fused) >= 16 and f'{len(fused)} with the shortcut add' in native.kernel_note
    calls = []
    for m in layers:
        m.register_forward_hook(lambda *_: calls.append(1))
    x = np.random.default_rng(0).standard_normal((2, *reference.input_shape[1:]), np.float32)
    ref = reference(x)
    scale = np.abs(ref).max()
    for isa in ops.ISAS:
        if not ops.cpu_supports(isa):
            continue
        for m in layers:
            m.isa = isa
        calls.clear()
        got = native(x)
        assert len(calls) == 2 * len(layers)  # every binary layer ran natively, per sample
        assert got.shape == ref.shape
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5 * scale)


def test_kernel_choice_and_fallback(exported, monkeypatch):
    with pytest.raises(ValueError, match="kernel must be one of.*got 'fast'"):
        DeployedModel(exported, kernel='fast')
    monkeypatch.setattr(ops, 'native_available', lambda: False)
    monkeypatch.setattr(ops, 'native_unavailable_reason', lambda: 'no compiler (test)')
    model = DeployedModel(exported)
    assert model.kernel == 'reference' and model.kernel_note == 'no compiler (test)'
    with pytest.raises(RuntimeError, match='kernel=native: no compiler \\(test\\)'):
        DeployedModel(exported, kernel='native')


def test_packed_file_of_another_version_is_refused(exported, tmp_path):
    import shutil

    copy = str(tmp_path / 'copy')
    shutil.copytree(exported, copy)
    manifest = osp.join(copy, 'model.json')
    with open(manifest) as f:
        content = json.load(f)
    content['version'] = 2
    with open(manifest, 'w') as f:
        json.dump(content, f)
    with pytest.raises(ValueError, match=r'not a mmbinary-packed v1 file .*version=2'):
        DeployedModel(copy)


@pytest.mark.parametrize('act', ['PReLU', 'RPReLU', 'Maxout', 'ReLU'])
def test_fused_bireal_unit_equals_unfused(act):
    from mmbinary.deploy import convert_model
    from mmbinary.deploy.converter import DeployedBinaryConv, _set_submodule
    from mmbinary.layers.activation import Maxout, RPReLU
    from mmbinary.models.backbones.binary_resnet import BinaryConvUnit
    from mmbinary.ops.torch_ops import fuse_blocks

    torch.manual_seed(0)
    net = nn.Sequential(
        BinaryConvUnit(24, 24, 1, dict(type='BinaryConv2d'), dict(type='BN'), dict(type=act)),
        BinaryConvUnit(24, 24, 1, dict(type='BinaryConv2d'), dict(type='BN'), dict(type=act)),
    ).eval()
    _randomize_bn(net)
    for m in net.modules():
        if isinstance(m, nn.PReLU):
            m.weight.data.uniform_(-0.5, 0.5)
        if isinstance(m, RPReLU):
            m.shift_in.data.uniform_(-1, 1)
            m.shift_out.data.uniform_(-1, 1)
        if isinstance(m, Maxout):
            m.pos_scale.data.uniform_(0.5, 1.5)
            m.neg_scale.data.uniform_(-0.5, 0.5)
    x = torch.randn(2, 24, 9, 7)
    deployed, _ = convert_model(net, x)
    with torch.no_grad():
        ref = deployed(x)
    for path, m in list(deployed.named_modules()):
        if isinstance(m, DeployedBinaryConv):
            _set_submodule(deployed, path, NativeBinaryConv(m))
    assert fuse_blocks(deployed) == 2
    convs = [m for m in deployed.modules() if isinstance(m, NativeBinaryConv)]
    assert all((m.prelu is not None) == (act != 'ReLU') for m in convs)
    assert all((m.post_shift is not None) == (act == 'RPReLU') for m in convs)
    assert all((m.pos_slope is not None) == (act == 'Maxout') for m in convs)
    with torch.no_grad():
        got = deployed(x)
    np.testing.assert_allclose(got.numpy(), ref.numpy(), rtol=1e-5, atol=1e-5)


def test_fused_bireal_block_with_rprelu_equals_unfused():
    from mmbinary.deploy import convert_model
    from mmbinary.deploy.converter import DeployedBinaryConv, _set_submodule
    from mmbinary.layers.activation import RPReLU
    from mmbinary.models.backbones.binary_resnet import BiRealBasicBlock
    from mmbinary.ops.torch_ops import fuse_blocks

    torch.manual_seed(1)
    net = nn.Sequential(BiRealBasicBlock(16, 16, act_cfg=dict(type='RPReLU'))).eval()
    _randomize_bn(net)
    for m in net.modules():
        if isinstance(m, RPReLU):
            m.shift_in.data.uniform_(-1, 1)
            m.shift_out.data.uniform_(-1, 1)
            m.prelu.weight.data.uniform_(-0.5, 0.5)
    x = torch.randn(2, 16, 8, 6)
    deployed, _ = convert_model(net, x)
    with torch.no_grad():
        ref = deployed(x)
    for path, m in list(deployed.named_modules()):
        if isinstance(m, DeployedBinaryConv):
            _set_submodule(deployed, path, NativeBinaryConv(m))
    assert fuse_blocks(deployed) == 2
    convs = [m for m in deployed.modules() if isinstance(m, NativeBinaryConv)]
    assert len(convs) == 2 and all(m.pre_shift is not None for m in convs)
    with torch.no_grad():
        got = deployed(x)
    np.testing.assert_allclose(got.numpy(), ref.numpy(), rtol=1e-5, atol=1e-5)
