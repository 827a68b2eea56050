import pytest
import torch
from mmengine.registry import DefaultScope

from mmbinary.layers import BinaryConv2d
from mmbinary.models import BinaryResNet


def expected_params(style, stage_blocks, width=64, stem=64, in_channels=3):
    """Parameter count written out from the architecture description (not from the model).

    Each binary unit: 3x3 conv + BN (2c) + activation (PReLU: c, Maxout: 2c); a unit that
    changes shape adds a real AvgPool -> 1x1 conv -> BN shortcut.
    """
    act = {'bireal': 1, 'adabin': 2}[style]
    total = in_channels * stem * 49 + 2 * stem + act * stem  # stem conv, BN, activation
    c_in = stem
    for i, blocks in enumerate(stage_blocks):
        c = width * 2**i
        units = blocks * (2 if style == 'adabin' else 1)
        for u in range(units):
            total += c_in * c * 9 + 2 * c + act * c
            if u == 0 and (c_in != c or i > 0):
                total += c_in * c + 2 * c
            c_in = c
    return total


@pytest.mark.parametrize(
    'style,depth,blocks',
    [
        ('bireal', 18, (4, 4, 4, 4)),
        ('bireal', 34, (6, 8, 12, 6)),
        ('adabin', 18, (2, 2, 2, 2)),
        ('adabin', 34, (3, 4, 6, 3)),
    ],
)
def test_parameter_count_matches_the_architecture(style, depth, blocks):
    model = BinaryResNet(depth=depth, block_style=style)
    assert sum(p.numel() for p in model.parameters()) == expected_params(style, blocks)
    binary = [m for m in model.modules() if isinstance(m, BinaryConv2d)]
    assert len(binary) == sum(blocks) * (2 if style == 'adabin' else 1)


def test_bireal18_published_size():
    # Bi-Real-18's backbone, as in BBC's code: 11.18 M parameters without the 512x1000 FC
    assert sum(p.numel() for p in BinaryResNet(depth=18).parameters()) == 11_180_416


@pytest.mark.parametrize('style', ['bireal', 'adabin'])
def test_output_shapes_and_small_widths(style):
    model = BinaryResNet(depth=18, block_style=style, out_indices=(0, 1, 2, 3))
    outs = model(torch.rand(1, 3, 64, 64))
    assert [tuple(o.shape) for o in outs] == [
        (1, 64, 16, 16),
        (1, 128, 8, 8),
        (1, 256, 4, 4),
        (1, 512, 2, 2),
    ]
    small = BinaryResNet(depth=18, block_style=style, stem_channels=16, base_channels=16)
    assert small(torch.rand(2, 3, 128, 96))[0].shape == (2, 128, 4, 3)


def test_conv_cfg_chooses_binarizers_and_shares_one_mlp():
    cfg = dict(type='BinaryConv2d', weight_binarizer='MLPBinarizer', center_weight=True)
    a = BinaryResNet(depth=18, conv_cfg=cfg)
    b = BinaryResNet(depth=18, conv_cfg=cfg)
    convs = [m for m in a.modules() if isinstance(m, BinaryConv2d)]
    assert len({id(c.weight_binarizer.mlp) for c in convs}) == 1
    assert convs[0].weight_binarizer.mlp is not b.layer1[0].unit.conv.weight_binarizer.mlp
    assert sum(p.numel() for p in a.parameters()) == 11_180_416 + 300


def test_frozen_stages_and_norm_eval():
    model = BinaryResNet(depth=18, frozen_stages=1, norm_eval=True)
    model.train()
    assert not any(p.requires_grad for p in model.stem.parameters())
    assert not any(p.requires_grad for p in model.layer1.parameters())
    assert all(p.requires_grad for p in model.layer2.parameters())
    assert not model.stem[1].training and not model.layer1[0].unit.norm.training
    assert not model.layer3[0].unit.norm.training  # norm_eval: every BN in eval mode
    assert model.layer3[0].unit.conv.training


@pytest.mark.parametrize('scope', ['mmpose', 'mmpretrain'])
def test_built_from_task_scopes(scope):
    registry = __import__(f'{scope}.registry', fromlist=['MODELS']).MODELS
    with DefaultScope.overwrite_default_scope(scope):
        model = registry.build(dict(type='BinaryResNet', depth=18, block_style='adabin'))
    assert isinstance(model, BinaryResNet)


def test_bad_arguments_name_the_value():
    with pytest.raises(ValueError, match=r'invalid depth 50 .*allowed: \[18, 34\]'):
        BinaryResNet(depth=50)
    with pytest.raises(ValueError, match=r"invalid block_style 'xnor'.*allowed: \['adabin'"):
        BinaryResNet(block_style='xnor')
    with pytest.raises(ValueError, match=r'out_indices \(4,\) out of range for 4 stages'):
        BinaryResNet(out_indices=(4,))
    with pytest.raises(ValueError, match='strides'):
        BinaryResNet(strides=(1, 2, 2))
    with pytest.raises(ValueError, match=r'strides \(1, 0, 2, 2\): every stride must be an int'):
        BinaryResNet(strides=(1, 0, 2, 2))

    class BadShortcut(BinaryResNet):
        shortcut = 'B'

    with pytest.raises(
        ValueError, match=r"shortcut must be one of \['option_a', 'real'\], got 'B'"
    ):
        BadShortcut()
