import re

import pytest
import torch
from mmpose.models.backbones import HRNet
from torch import nn

from mmbinary.binarizers import MLPBinarizer
from mmbinary.layers import BinaryConv2d
from mmbinary.models import BHRNet, BiRealBasicBlock, BiRealBottleneck

pytestmark = pytest.mark.usefixtures('mmpose_scope')


def hrnet_extra(widths=(32, 64, 128, 256), modules=(1, 4, 3), blocks=4):
    """MMPose's HRNet-W32 ``extra`` (or a narrower / shallower one)."""
    w = widths
    return dict(
        stage1=dict(
            num_modules=1, num_branches=1, block='BOTTLENECK', num_blocks=(blocks,),
            num_channels=(64,)),
        stage2=dict(
            num_modules=modules[0], num_branches=2, block='BASIC', num_blocks=(blocks,) * 2,
            num_channels=w[:2]),
        stage3=dict(
            num_modules=modules[1], num_branches=3, block='BASIC', num_blocks=(blocks,) * 3,
            num_channels=w[:3]),
        stage4=dict(
            num_modules=modules[2], num_branches=4, block='BASIC', num_blocks=(blocks,) * 4,
            num_channels=w),
    )  # fmt: skip


SMALL = hrnet_extra(widths=(8, 16, 32, 64), modules=(1, 1, 1), blocks=1)

# Where each part's convs live in MMPose's HRNet (parameter-name patterns).
PATTERNS = {
    'residual_3x3': r'^(layer1\.\d+\.conv2|stage\d\.\d+\.branches\.\d+\.\d+\.conv[12])$',
    'stem': r'^conv[12]$',
    'transition': r'^transition\d\.',
    'fusion': r'^stage\d\.\d+\.fuse_layers\.',
    'bottleneck_1x1': r'^layer1\.\d+\.conv[13]$',
    'downsample': r'\.downsample\.',
}


def conv_names(model, cls):
    return {n for n, m in model.named_modules() if type(m) is cls}


def expected_residual_3x3(extra):
    """Binary 3x3 convs counted from the ``extra`` dict alone: one per bottleneck (stage 1),
    two per BASIC block in every branch of every module of stages 2-4."""
    s1 = extra['stage1']['num_blocks'][0]
    rest = sum(
        extra[s]['num_modules'] * sum(extra[s]['num_blocks']) * 2
        for s in ('stage2', 'stage3', 'stage4')
    )
    return s1 + rest


def test_w32_binary_convs_are_exactly_the_residual_3x3():
    extra = hrnet_extra()
    assert expected_residual_3x3(extra) == 4 + 16 + 96 + 96
    model = BHRNet(extra)
    binary = conv_names(model, BinaryConv2d)
    assert len(binary) == 212
    assert all(re.match(PATTERNS['residual_3x3'], n) for n in binary)
    # every conv of MMPose's HRNet is either one of those, or real here
    reference = conv_names(HRNet(extra), nn.Conv2d)
    assert binary <= reference
    assert conv_names(model, nn.Conv2d) == reference - binary
    real = reference - binary
    for part in ('stem', 'transition', 'fusion', 'bottleneck_1x1', 'downsample'):
        assert any(re.search(PATTERNS[part], n) for n in real), part


def test_w32_forward_shape_and_parameter_names():
    extra = hrnet_extra()
    model = BHRNet(extra).eval()
    with torch.no_grad():
        (out,) = model(torch.rand(1, 3, 256, 192))
    assert out.shape == (1, 32, 64, 48)
    # HRNet's parameters keep their names and shapes (an FP32 HRNet checkpoint loads into it)
    ours = {k: v.shape for k, v in model.state_dict().items()}
    for key, value in HRNet(extra).state_dict().items():
        assert ours[key] == value.shape, key


@pytest.mark.parametrize(
    'parts', [('stem',), ('transition',), ('fusion',), ('bottleneck_1x1',), BHRNet.PARTS]
)
def test_each_part_binarizable_by_config(parts):
    model = BHRNet(SMALL, binary_parts=parts)
    reference = conv_names(HRNet(SMALL), nn.Conv2d)
    patterns = [PATTERNS['residual_3x3']] + [PATTERNS[p] for p in parts]
    expected = {n for n in reference if any(re.search(p, n) for p in patterns)}
    assert conv_names(model, BinaryConv2d) == expected
    assert conv_names(model, nn.Conv2d) == reference - expected
    with torch.no_grad():
        (out,) = model.eval()(torch.rand(1, 3, 64, 64))
    assert out.shape == (1, 8, 16, 16)


def test_binary_conv_cfg_and_act_cfg_reach_every_binary_conv():
    cfg = dict(type='BinaryConv2d', weight_binarizer='MLPBinarizer', center_weight=True)
    model = BHRNet(SMALL, binary_conv_cfg=cfg, act_cfg=dict(type='Maxout'), binary_parts=['stem'])
    convs = [m for m in model.modules() if isinstance(m, BinaryConv2d)]
    assert all(isinstance(c.weight_binarizer, MLPBinarizer) and c.center_weight for c in convs)
    # one MLP shared by the whole network (stem included), not by two networks
    assert len({id(c.weight_binarizer.mlp) for c in convs}) == 1
    other = BHRNet(SMALL, binary_conv_cfg=cfg)
    assert other.layer1[0].conv2.weight_binarizer.mlp is not convs[0].weight_binarizer.mlp
    blocks = [m for m in model.modules() if isinstance(m, (BiRealBasicBlock, BiRealBottleneck))]
    assert blocks and all(type(b.act1).__name__ == 'Maxout' for b in blocks)


def test_basic_block_has_a_shortcut_per_binary_conv():
    torch.manual_seed(0)
    down = nn.Sequential(nn.Conv2d(4, 8, 1, bias=False), nn.BatchNorm2d(8))
    block = BiRealBasicBlock(4, 8, downsample=down).eval()
    x = torch.randn(2, 4, 6, 6)
    with torch.no_grad():
        y1 = block.act1(block.norm1(block.conv1(x)) + down(x))
        expected = block.act2(block.norm2(block.conv2(y1)) + y1)
        assert torch.equal(block(x), expected)
        # zero the second conv's BN: the block reduces to act2(y1), not to the first unit alone
        nn.init.zeros_(block.norm2.weight)
        nn.init.zeros_(block.norm2.bias)
        assert torch.allclose(block(x), block.act2(y1))
    assert isinstance(block.conv1, BinaryConv2d) and isinstance(block.conv2, BinaryConv2d)


def test_bottleneck_binary_3x3_with_its_own_shortcut():
    torch.manual_seed(0)
    down = nn.Sequential(nn.Conv2d(8, 16, 1, bias=False), nn.BatchNorm2d(16))
    block = BiRealBottleneck(8, 16, downsample=down).eval()
    assert type(block.conv1) is nn.Conv2d and type(block.conv3) is nn.Conv2d
    assert isinstance(block.conv2, BinaryConv2d)
    x = torch.randn(2, 8, 5, 5)
    with torch.no_grad():
        h = block.act1(block.norm1(block.conv1(x)))
        h = block.act2(block.norm2(block.conv2(h)) + h)
        expected = block.act3(block.norm3(block.conv3(h)) + down(x))
        assert torch.equal(block(x), expected)


def test_hrnet_arguments_frozen_stages_norm_eval_zero_init_with_cp():
    model = BHRNet(SMALL, frozen_stages=1, binary_parts=('stem',), norm_eval=True)
    model.train()
    assert not any(p.requires_grad for p in model.conv1.parameters())
    assert not any(p.requires_grad for p in model.layer1.parameters())
    assert all(p.requires_grad for p in model.stage2.parameters())
    assert not model.norm1.training and not model.stage3[0].branches[0][0].norm1.training

    model = BHRNet(SMALL, zero_init_residual=True)
    model.init_weights()
    assert torch.all(model.stage2[0].branches[0][0].norm2.weight == 0)
    assert torch.all(model.layer1[0].norm3.weight == 0)

    torch.manual_seed(0)
    plain = BHRNet(SMALL)
    cp = BHRNet(SMALL, with_cp=True)
    cp.load_state_dict(plain.state_dict())
    x = torch.rand(2, 3, 64, 64, requires_grad=True)
    assert torch.allclose(plain(x)[0], cp(x)[0])


def test_bad_arguments_name_the_value_and_the_choices():
    with pytest.raises(ValueError, match=r"binary_parts.*'stem'.*got 'head'"):
        BHRNet(SMALL, binary_parts=('head',))
    bad = dict(SMALL, stage2=dict(SMALL['stage2'], block='BASIC2'))
    with pytest.raises(ValueError, match=r"extra.stage2.block.*got 'BASIC2'"):
        BHRNet(bad)
    with pytest.raises(KeyError, match='stage4'):
        BHRNet({k: v for k, v in SMALL.items() if k != 'stage4'})
