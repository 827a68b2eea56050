import pytest
import torch
import torch.nn.functional as F
from mmengine.structures import InstanceData, PixelData
from mmpose.models.heads import HeatmapHead
from mmpose.structures import PoseDataSample
from torch import nn

from mmbinary.layers import BinaryConv2d, BinaryConvTranspose2d
from mmbinary.models import SBPNHead

pytestmark = pytest.mark.usefixtures('mmpose_scope')

BBC = dict(weight_binarizer='MLPBinarizer', center_weight=True)


def test_default_head_is_mmposes_simplebaseline_head():
    torch.manual_seed(0)
    ours, theirs = SBPNHead(64, 17), HeatmapHead(64, 17)
    assert ours.state_dict().keys() == theirs.state_dict().keys()
    ours.load_state_dict(theirs.state_dict())
    feats = (torch.randn(2, 64, 8, 6),)
    ours.eval(), theirs.eval()
    with torch.no_grad():
        assert torch.equal(ours(feats), theirs(feats))
        assert ours(feats).shape == (2, 17, 64, 48)
    assert not any(isinstance(m, (BinaryConv2d, BinaryConvTranspose2d)) for m in ours.modules())


def test_binary_deconv_head():
    head = SBPNHead(
        512,
        17,
        deconv_cfg=dict(type='BinaryConvTranspose2d', **BBC),
        act_cfg=dict(type='PReLU'),
    )
    deconvs = [m for m in head.modules() if isinstance(m, BinaryConvTranspose2d)]
    assert len(deconvs) == 3 and all(d.kernel_size == (4, 4) for d in deconvs)
    assert type(head.final_layer) is nn.Conv2d and head.final_layer.kernel_size == (1, 1)
    # a Bi-Real shortcut per stage, projected (real 1x1 conv) only where 512 -> 256
    units = list(head.deconv_layers)
    assert [type(u.shortcut[0]) for u in units] == [nn.Conv2d, nn.Upsample, nn.Upsample]
    # one MLP shared by the head's binary layers
    assert len({id(d.weight_binarizer.mlp) for d in deconvs}) == 1
    assert head((torch.randn(1, 512, 8, 6),)).shape == (1, 17, 64, 48)


def test_binary_upsample_conv_head_and_final_layer_binarizable():
    head = SBPNHead(
        256,
        17,
        upsample_mode='upsample_conv',
        deconv_kernel_sizes=(3, 3, 3),
        conv_cfg=dict(type='BinaryConv2d', **BBC),
        final_layer=dict(type='BinaryConv2d', kernel_size=1),
    )
    convs = [m for m in head.deconv_layers.modules() if isinstance(m, BinaryConv2d)]
    assert len(convs) == 3 and all(c.kernel_size == (3, 3) for c in convs)
    assert isinstance(head.final_layer, BinaryConv2d)
    assert head((torch.randn(2, 256, 8, 6),)).shape == (2, 17, 64, 48)


def test_stage_formula_with_shortcut():
    """act(BN(layer(x)) + up2(x)); with BN zeroed, exactly PReLU(nearest-upsampled x)."""
    torch.manual_seed(0)
    head = SBPNHead(
        8,
        3,
        deconv_out_channels=(8,),
        deconv_kernel_sizes=(4,),
        deconv_cfg=dict(type='BinaryConvTranspose2d'),
        act_cfg=dict(type='PReLU'),
    ).eval()
    unit = head.deconv_layers[0]
    x = torch.randn(2, 8, 4, 3)
    with torch.no_grad():
        expected = unit.act(unit.norm(unit.conv(x)) + F.interpolate(x, scale_factor=2))
        assert torch.equal(unit(x), expected)
        nn.init.zeros_(unit.norm.weight)
        nn.init.zeros_(unit.norm.bias)
        up = x.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)
        slope = unit.act.weight.view(1, -1, 1, 1)
        assert torch.allclose(unit(x), torch.where(up >= 0, up, slope * up))


def test_shortcut_switch_and_real_stages_with_prelu():
    head = SBPNHead(16, 4, deconv_cfg=dict(type='BinaryConvTranspose2d'), shortcut=False)
    assert all(u.shortcut is None for u in head.deconv_layers)
    real = SBPNHead(16, 4, act_cfg=dict(type='PReLU'))  # real deconvs, no shortcut
    units = list(real.deconv_layers)
    assert all(isinstance(u.conv, nn.ConvTranspose2d) for u in units)
    assert not any(isinstance(u.conv, BinaryConvTranspose2d) or u.shortcut for u in units)


def test_loss_trains_the_binary_head_and_its_binarizer():
    head = SBPNHead(
        16,
        4,
        deconv_out_channels=(8, 8),
        deconv_kernel_sizes=(4, 4),
        deconv_cfg=dict(type='BinaryConvTranspose2d', **BBC),
        act_cfg=dict(type='PReLU'),
    )
    samples = []
    for _ in range(2):
        s = PoseDataSample()
        s.gt_fields = PixelData(heatmaps=torch.rand(4, 16, 12))
        s.gt_instance_labels = InstanceData(keypoint_weights=torch.ones(1, 4))
        samples.append(s)
    losses = head.loss((torch.randn(2, 16, 4, 3),), samples)
    assert set(losses) == {'loss_kpt', 'acc_pose'}
    losses['loss_kpt'].backward()
    mlp = head.deconv_layers[0].conv.weight_binarizer.mlp
    assert mlp.fc1.grad is not None and mlp.fc1.grad.abs().sum() > 0
    assert head.deconv_layers[0].conv.weight.grad.abs().sum() > 0


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"upsample_mode.*'deconv'.*got 'pixelshuffle'"):
        SBPNHead(16, 4, upsample_mode='pixelshuffle')
    with pytest.raises(ValueError, match='deconv kernel size.*got 5'):
        SBPNHead(16, 4, deconv_kernel_sizes=(5, 4, 4), deconv_cfg=dict(type='BinaryConv2d'))
    with pytest.raises(ValueError, match='odd int, got 4'):
        SBPNHead(16, 4, upsample_mode='upsample_conv', conv_cfg=dict(type='BinaryConv2d'))
    with pytest.raises(ValueError, match='at least one stage'):
        SBPNHead(16, 4, deconv_out_channels=())
