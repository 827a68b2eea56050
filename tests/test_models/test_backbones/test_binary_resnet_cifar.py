"""BinaryResNetCifar: He et al.'s CIFAR ResNet-(6n+2), option-A shortcuts, AdaBin-style blocks."""

import pytest
import torch
from mmengine.registry import DefaultScope
from torch import nn

from mmbinary.layers import BinaryConv2d, Maxout
from mmbinary.models.backbones import BinaryResNetCifar
from mmbinary.models.utils import ShortcutA

ADABIN_CONV = dict(
    type='BinaryConv2d',
    weight_binarizer='AdaBinWeight',
    input_binarizer=dict(type='AdaBinActivation', form='official_code'),
    weight_scale='none',
)
BBC_CONV = dict(
    type='BinaryConv2d',
    weight_binarizer='MLPBinarizer',
    input_binarizer='ApproxSign',
    center_weight=True,
)


@pytest.fixture(autouse=True)
def mmpretrain_scope():
    """Build in mmpretrain's scope, whatever default scope an earlier test left (e.g. mmpose)."""
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        yield


def n_params(module):
    return sum(p.numel() for p in module.parameters())


def test_resnet20_parameter_count_by_hand():
    """ResNet-20, 16-32-64, Maxout (2 parameters per channel), option-A shortcuts (none).

    stem:    3*16*9 conv + 2*16 BN + 2*16 Maxout                          =     496
    stage 1: 6 units x (16*16*9 + 2*16 + 2*16)           = 6 * 2,368      =  14,208
    stage 2: (16*32*9 + 64 + 64) + 5 x (32*32*9 + 64 + 64) = 4,736 + 46,720 =  51,456
    stage 3: (32*64*9 + 128 + 128) + 5 x (64*64*9 + 128 + 128)
                                                       = 18,688 + 185,600 = 204,288
    total                                                                 = 270,448
    """
    model = BinaryResNetCifar(depth=20)  # default conv: STE / ApproxSign, no parameters
    assert n_params(model) == 496 + 14_208 + 51_456 + 204_288 == 270_448
    # Cross-check with the published size of the real ResNet-20 (He et al., 0.27 M; 269,722
    # with the 64 x 10 FC and ReLU): remove the Maxout parameters (2 per channel after the stem
    # and after each of the 18 units), add the FC.
    maxout = sum(n_params(m) for m in model.modules() if isinstance(m, Maxout))
    assert maxout == 2 * (16 + 6 * 16 + 6 * 32 + 6 * 64)
    assert n_params(model) - maxout + 64 * 10 + 10 == 269_722
    assert len([m for m in model.modules() if isinstance(m, BinaryConv2d)]) == 18
    assert not [m for m in model.modules() if type(m) is nn.Conv2d and m.kernel_size == (1, 1)]


@pytest.mark.parametrize('depth,n', [(20, 3), (32, 5), (44, 7), (56, 9), (110, 18)])
def test_parameter_count_formula_for_every_depth(depth, n):
    # PReLU: 1 parameter per channel; units per stage: 2 n
    def stage(c_in, c, units):
        return (c_in * c * 9 + 3 * c) + (units - 1) * (c * c * 9 + 3 * c)

    expected = 3 * 16 * 9 + 3 * 16 + stage(16, 16, 2 * n) + stage(16, 32, 2 * n)
    expected += stage(32, 64, 2 * n)
    model = BinaryResNetCifar(depth=depth, act_cfg=dict(type='PReLU'))
    assert n_params(model) == expected
    assert len([m for m in model.modules() if isinstance(m, BinaryConv2d)]) == 6 * n


def test_binarizer_parameters_are_added():
    base = n_params(BinaryResNetCifar(depth=20))
    # AdaBin: a scalar alpha and beta per binary conv for the activations, no weight parameters
    assert n_params(BinaryResNetCifar(depth=20, conv_cfg=ADABIN_CONV)) == base + 18 * 2
    # BBC: one MLP (1 x 100 + 100 x 2) shared by the whole network
    assert n_params(BinaryResNetCifar(depth=20, conv_cfg=BBC_CONV)) == base + 300


def test_output_shapes():
    model = BinaryResNetCifar(depth=20, out_indices=(0, 1, 2))
    outs = model(torch.rand(2, 3, 32, 32))
    assert [tuple(o.shape) for o in outs] == [(2, 16, 32, 32), (2, 32, 16, 16), (2, 64, 8, 8)]
    assert model.out_channels == [16, 32, 64]
    # default: the last stage only; odd and tiny inputs (the digits are 8x8)
    assert [tuple(o.shape) for o in BinaryResNetCifar()(torch.rand(1, 3, 8, 8))] == [(1, 64, 2, 2)]
    assert BinaryResNetCifar()(torch.rand(1, 3, 9, 7))[0].shape == (1, 64, 3, 2)
    narrow = BinaryResNetCifar(
        stem_channels=8, base_channels=8, strides=(1, 1, 2), out_indices=(-1,)
    )
    assert narrow(torch.rand(1, 3, 8, 8))[0].shape == (1, 32, 4, 4)


def test_option_a_shortcut_values_by_hand():
    x = torch.arange(2 * 4 * 4, dtype=torch.float32).view(1, 2, 4, 4)
    y = ShortcutA(2, 6, stride=2)(x)
    assert y.shape == (1, 6, 2, 2)
    # (6 - 2) // 2 = 2 zero channels before the input's, 2 after; every other row and column
    assert torch.equal(y[0, 0], torch.zeros(2, 2)) and torch.equal(y[0, 1], torch.zeros(2, 2))
    assert torch.equal(y[0, 2], torch.tensor([[0.0, 2.0], [8.0, 10.0]]))
    assert torch.equal(y[0, 3], torch.tensor([[16.0, 18.0], [24.0, 26.0]]))
    assert torch.equal(y[0, 4], torch.zeros(2, 2)) and torch.equal(y[0, 5], torch.zeros(2, 2))
    # an odd number of new channels: the extra one goes after
    z = ShortcutA(1, 4, stride=1)(torch.ones(1, 1, 3, 3))
    assert [float(c.sum()) for c in z[0]] == [0.0, 9.0, 0.0, 0.0]
    assert not list(ShortcutA(16, 32, 2).parameters())
    with pytest.raises(ValueError, match=r'out_channels \(8\) < in_channels \(16\)'):
        ShortcutA(16, 8, 1)


def test_block_adds_the_option_a_shortcut_then_its_own_input():
    model = BinaryResNetCifar(depth=20).eval()
    block = model.layer2[0]  # 16 -> 32 channels, stride 2
    assert isinstance(block.downsample, ShortcutA) and model.layer2[1].downsample is None
    x = torch.randn(1, 16, 8, 8)
    with torch.no_grad():
        shortcut = block.downsample(x)
        # 8 zero channels, the 16 input channels subsampled, 8 zero channels
        assert torch.equal(shortcut[:, :8], torch.zeros(1, 8, 4, 4))
        assert torch.equal(shortcut[:, 8:24], x[:, :, ::2, ::2])
        assert torch.equal(shortcut[:, 24:], torch.zeros(1, 8, 4, 4))
        # the first unit adds the shortcut, the second its own input
        y = block.act1(block.norm1(block.conv1(x)) + shortcut)
        assert torch.allclose(block(x), block.act2(block.norm2(block.conv2(y)) + y))


def test_binary_convs_use_the_configured_binarizers():
    model = BinaryResNetCifar(depth=20, conv_cfg=BBC_CONV, act_cfg=dict(type='PReLU'))
    convs = [m for m in model.modules() if isinstance(m, BinaryConv2d)]
    assert len({id(c.weight_binarizer.mlp) for c in convs}) == 1  # one MLP per network
    other = BinaryResNetCifar(depth=20, conv_cfg=BBC_CONV)
    assert other.layer1[0].conv1.weight_binarizer.mlp is not convs[0].weight_binarizer.mlp
    assert isinstance(model.stem[2], nn.PReLU) and isinstance(model.stem[0], nn.Conv2d)
    assert not isinstance(model.stem[0], BinaryConv2d)  # the stem is real


def test_frozen_stages_and_norm_eval():
    model = BinaryResNetCifar(depth=20, frozen_stages=1, norm_eval=True)
    model.train()
    assert not any(p.requires_grad for p in model.stem.parameters())
    assert not any(p.requires_grad for p in model.layer1.parameters())
    assert all(p.requires_grad for p in model.layer2.parameters())
    assert not model.layer3[0].norm1.training


def test_gradient_checkpointing_gives_the_same_gradients():
    torch.manual_seed(0)
    plain = BinaryResNetCifar(depth=20)
    checkpointed = BinaryResNetCifar(depth=20, with_cp=True)
    checkpointed.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 8, 8)
    for model in (plain, checkpointed):
        model.train()
        model(x)[0].sum().backward()
    for a, b in zip(plain.parameters(), checkpointed.parameters()):
        assert torch.allclose(a.grad, b.grad, atol=1e-5)


def test_registered_for_mmpretrain_configs():
    from mmpretrain.registry import MODELS

    model = MODELS.build(
        dict(
            type='ImageClassifier',
            backbone=dict(type='BinaryResNetCifar', depth=20, conv_cfg=ADABIN_CONV),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(type='LinearClsHead', num_classes=10, in_channels=64),
        )
    )
    assert model(torch.rand(2, 3, 8, 8)).shape == (2, 10)


@pytest.mark.parametrize(
    'kwargs,named',
    [
        (dict(depth=18), 'depth 18'),
        (dict(depth='20'), "depth '20'"),
        (dict(strides=(1, 2)), 'strides (1, 2)'),
        (dict(strides=(1, 2, 2, 2)), 'strides (1, 2, 2, 2)'),
        (dict(strides=(1, 0, 2)), 'strides (1, 0, 2)'),
        (dict(strides=(1, 2.0, 2)), 'strides (1, 2.0, 2)'),
        (dict(out_indices=(3,)), 'out_indices (3,)'),
        (dict(frozen_stages=4), 'frozen_stages 4'),
        (dict(stem_channels=32, base_channels=16), 'base_channels (16) < stem_channels (32)'),
    ],
)
def test_bad_arguments_name_the_value(kwargs, named):
    with pytest.raises(ValueError) as error:
        BinaryResNetCifar(**kwargs)
    assert named in str(error.value)
