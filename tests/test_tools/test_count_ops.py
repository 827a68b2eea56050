import importlib.util
import os.path as osp

import pytest
import torch
from mmengine.analysis import FlopAnalyzer
from torch import nn

from mmbinary.binarizers import SurrogateBinarizer
from mmbinary.layers import BinaryConv2d, BinaryConvTranspose2d
from mmbinary.scope import build_scope

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SPEC = importlib.util.spec_from_file_location(
    'count_ops', osp.join(ROOT, 'tools', 'analysis', 'count_ops.py')
)
count_ops_tool = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(count_ops_tool)


class Tiny(nn.Module):
    """Every kind of layer the counter distinguishes, on a 1 x 3 x 8 x 8 input."""

    def __init__(self):
        super().__init__()
        with build_scope():  # one BBC MLP shared by conv1 and conv2
            self.real = nn.Conv2d(3, 8, 3, padding=1, bias=False)
            self.bn = nn.BatchNorm2d(8)
            self.conv1 = BinaryConv2d(
                8, 16, 3, stride=2, padding=1, bias=False, weight_binarizer='MLPBinarizer'
            )
            self.conv2 = BinaryConv2d(
                16, 16, 3, padding=1, weight_binarizer='MLPBinarizer',
                input_binarizer='AdaBinActivation', weight_scale='none',
            )  # fmt: skip
            self.weight_only = BinaryConv2d(
                16, 8, 1, bias=False, weight_binarizer='AdaBinWeight', input_binarizer=None,
                weight_scale='none',
            )  # fmt: skip
            self.deconv = BinaryConvTranspose2d(8, 4, 4, stride=2, padding=1, bias=False)
        self.fc = nn.Linear(4 * 8 * 8, 10)

    def forward(self, x):
        x = self.conv2(self.conv1(self.bn(self.real(x))))
        return self.fc(self.deconv(self.weight_only(x)).flatten(1))


def test_hand_count():
    result = count_ops_tool.count_ops(Tiny(), (1, 3, 8, 8))
    # MACs, by hand:
    #   real         8x8x8 outputs x 3*3*3            = 13824  FLOPs
    #   conv1       16x4x4 outputs x 8*3*3            = 18432  BOPs
    #   conv2       16x4x4 outputs x 16*3*3           = 36864  BOPs
    #   weight_only  8x4x4 outputs x 16 (input real)  =  2048  FLOPs
    #   deconv       8x4x4 inputs x 4*4*4             =  8192  BOPs
    #   fc          10 outputs x 256                  =  2560  FLOPs
    assert result['flops'] == 13824 + 2048 + 2560
    assert result['bops'] == 18432 + 36864 + 8192
    assert result['ops'] == pytest.approx(63488 / 64 + 18432)
    # 1-bit: the binarized weights 16*8*9 + 16*16*9 + 8*16 + 8*4*16
    assert result['params_1bit'] == 1152 + 2304 + 128 + 512
    # 32-bit: real conv 216, BN 16, conv2 bias 16, AdaBin activation alpha/beta 2, fc 2570,
    # and deployed weight constants: mean |w| of conv1 (16) and deconv (4 output channels),
    # AdaBin alpha/beta of weight_only (2 x 8)
    assert result['params_32bit'] == 216 + 16 + 16 + 2 + 2570 + 16 + 4 + 16
    # training-only: the shared MLP (100 + 2*100), counted once
    assert result['params_training_only'] == 300
    kinds = {layer['name']: layer['binary'] for layer in result['layers']}
    assert kinds == {
        'real': False, 'conv1': True, 'conv2': True, 'weight_only': False, 'deconv': True,
        'fc': False,
    }  # fmt: skip


class GainSign(SurrogateBinarizer):
    """A binarizer unknown to the counter: sign forward, a learned gain in the backward."""

    def __init__(self):
        super().__init__()
        self.gain = nn.Parameter(torch.ones(3))

    def surrogate(self, x):
        return self.gain.sum() * x


class AffineSign(GainSign):
    training_only_params = False  # its parameters would change the inference value


class TwoBitSign(SurrogateBinarizer):
    precision = 2

    def surrogate(self, x):
        return x


@pytest.mark.parametrize(
    'input_binarizer, training_only, real, bops',
    [(GainSign, 3, 4, True), (AffineSign, 0, 4 + 3, True), (TwoBitSign, 0, 4, False)],
)
def test_the_counter_reads_what_each_binarizer_declares(input_binarizer, training_only, real, bops):
    conv = BinaryConv2d(4, 4, 3, padding=1, bias=False, input_binarizer=input_binarizer())
    result = count_ops_tool.count_ops(conv, (1, 4, 5, 5))
    macs = 4 * 5 * 5 * 4 * 9
    assert result['params_training_only'] == training_only
    assert result['params_32bit'] == real  # mean |w| per channel (+ the gains at inference)
    assert (result['bops'], result['flops']) == ((macs, 0) if bops else (0, macs))
    two_bit_weights = BinaryConv2d(4, 4, 3, weight_binarizer=TwoBitSign())
    assert count_ops_tool.count_ops(two_bit_weights, (1, 4, 5, 5))['params_1bit'] == 0


def test_real_layers_match_mmengines_flop_counter():
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=False),
        nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=2, bias=False),
        nn.ConvTranspose2d(8, 4, 4, stride=2, padding=1, bias=False),
        nn.Flatten(),
        nn.Linear(4 * 16 * 16, 10),
    )
    x = torch.zeros(1, 3, 16, 16)
    result = count_ops_tool.count_ops(model, tuple(x.shape))
    assert result['bops'] == 0
    assert result['flops'] == FlopAnalyzer(model, (x,)).total()
    assert result['params_32bit'] == sum(p.numel() for p in model.parameters())


def test_cli_on_a_distillation_config_counts_the_student(capsys):
    config = osp.join(
        ROOT, 'configs', 'sbpn', 'td-hm_sbpn-bireal18-bbc_kd-res50-8xb64-210e_coco-256x192.py'
    )
    result = count_ops_tool.main([config, '--input-shape', '128', '96', '--format', 'markdown'])
    assert result['input_shape'] == [1, 3, 128, 96]
    assert result['bops'] > 0 and result['flops'] > 0
    # the teacher (no checkpoint here) is not built; the student is SBPN-18: 1-bit weights are
    # exactly the binary 3x3 convs of Bi-Real-18 (16 convs: 4 per stage)
    widths = [64, 128, 256, 512]
    expected = sum(
        (widths[max(s - 1, 0)] if b == 0 else w) * w * 9
        for s, w in enumerate(widths)
        for b in range(4)
    )
    assert result['params_1bit'] == expected
    assert capsys.readouterr().out.strip().startswith('| td-hm_sbpn-bireal18-bbc_kd-res50')


def test_training_only_parts_of_classifier_configs_are_not_counted(tmp_path):
    """KD teacher and latent-weight path are training-only: the counts are the plain student's."""

    def counts(path):
        result = count_ops_tool.main([str(path), '--input-shape', '32', '32', '--format', 'json'])
        return {k: result[k] for k in ('params_1bit', 'params_32bit', 'flops', 'bops')}

    plain = counts(osp.join(ROOT, 'configs', 'bbc', 'resnet18-bbc_8xb32-120e_in1k.py'))
    # the teacher's checkpoint does not exist here: building the teacher would fail
    assert counts(osp.join(ROOT, 'configs', 'bbc', 'resnet18-bbc_kd-res34-8xb32-120e_in1k.py')) == (
        plain
    )
    # with an auxiliary latent head (a second 512 -> 1000 FC), training-only as well
    latent = osp.join(ROOT, 'configs', 'latent_weight', 'resnet18-latent-weight_8xb32-120e_in1k.py')
    config = tmp_path / 'latent_head.py'
    config.write_text(
        f'_base_ = [{latent!r}]\n'
        'model = dict(latent_head=dict(\n'
        "    _delete_=True, type='LinearClsHead', num_classes=1000, in_channels=512))\n"
    )
    assert counts(config) == plain


@pytest.mark.parametrize(
    'folder,config',
    [
        ('sbpn', 'td-hm_sbpn-bireal18-bbc-binhead_8xb64-210e_coco-256x192'),
        ('bhrnet', 'td-hm_bhrnet-w32-bbc_8xb64-210e_coco-256x192'),
    ],
)
def test_metafile_and_readme_numbers_are_the_tools(folder, config):
    import yaml

    path = osp.join(ROOT, 'configs', folder, f'{config}.py')
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # see docs/pose_models.md: much faster on a busy 2-core machine
    try:
        result = count_ops_tool.main([path, '--format', 'markdown'])
    finally:
        torch.set_num_threads(threads)
    with open(osp.join(ROOT, 'configs', folder, 'metafile.yml')) as f:
        (meta,) = [m['Metadata'] for m in yaml.safe_load(f)['Models'] if m['Name'] == config]
    assert meta['Params 1-bit (M)'] == round(result['params_1bit'] / 1e6, 2)
    assert meta['Params 32-bit (M)'] == round(result['params_32bit'] / 1e6, 2)
    for key, name in (('flops', 'FLOPs'), ('bops', 'BOPs'), ('ops', 'OPs')):
        assert meta[f'{name} (G)'] == round(result[key] / 1e9, 3)
    with open(osp.join(ROOT, 'configs', folder, 'README.md')) as f:
        readme = f.read()
    row = count_ops_tool.format_result(result, 'markdown').split('|', 2)[2]
    assert row.strip() in readme


def test_cli_deployed_size_of_a_binary_resnet(capsys):
    """``--deployed-size``: the 1-bit part shrinks ~32x (bits + packing + per-channel factors),
    the real part is the same bytes in FP32 and in the export, INT8 is ~4x on both parts."""
    config = osp.join(ROOT, 'configs', 'bbc', 'resnet18-bbc_8xb32-120e_in1k.py')
    result = count_ops_tool.main([config, '--deployed-size', '--input-shape', '64', '64'])
    sizes = result['sizes']
    one_bit = result['params_1bit']
    assert sizes['fp32']['binary'] > 4 * one_bit  # the weights plus the BatchNorms folded in
    assert one_bit / 8 < sizes['deployed']['binary'] < 1.1 * one_bit / 8
    assert sizes['deployed']['real'] == sizes['fp32']['real']
    assert sizes['int8']['binary'] < sizes['fp32']['binary'] / 3.5
    assert sizes['deployed_int8_real']['real'] == sizes['int8']['real']
    assert 'deployed, real part f32' in capsys.readouterr().out
