"""Drop-in binarization of MMPose's official SimpleBaseline-R50 config through conv_cfg."""

import copy
import os.path as osp
import tempfile

import pytest
import torch
from mmcv.cnn import build_conv_layer
from mmengine.config import Config
from mmengine.hub import get_config
from mmengine.runner import Runner
from mmpose.registry import MODELS
from torch import nn

from mmbinary.binarizers import MLPBinarizer
from mmbinary.layers import BinaryConv2d
from mmbinary.scope import build_scope

pytestmark = pytest.mark.usefixtures('mmpose_scope')

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DROP_IN = osp.join(ROOT, 'configs', 'drop_in', 'td-hm_res50-binary_8xb64-210e_coco-256x192.py')
OFFICIAL = 'mmpose::body_2d_keypoint/topdown_heatmap/coco/td-hm_res50_8xb64-210e_coco-256x192.py'


def convs(module, cls):
    return {n for n, m in module.named_modules() if type(m) is cls}


def test_the_rule_the_first_conv_is_real_the_rest_binary():
    cfg = dict(type='BinaryConv2dExceptStem', weight_binarizer='EDE')
    with build_scope():
        stem = build_conv_layer(cfg, 3, 64, 7, stride=2, padding=3, bias=False)
        body = build_conv_layer(cfg, 64, 64, 3, padding=1, bias=False)
        one = build_conv_layer(cfg, 64, 256, kernel_size=1, bias=False)
        inner_rgb = build_conv_layer(cfg, 3, 8, 3)  # 3 input channels, not the first: binary
    assert type(stem) is nn.Conv2d and stem.stride == (2, 2) and stem.bias is None
    assert isinstance(body, BinaryConv2d) and type(body.weight_binarizer).__name__ == 'EDE'
    assert isinstance(one, BinaryConv2d) and isinstance(inner_rgb, BinaryConv2d)
    keep = dict(cfg, keep_real_1x1=True)
    with build_scope():
        assert type(build_conv_layer(keep, 1, 8, 3)) is nn.Conv2d  # a grey stem: real
        assert type(build_conv_layer(keep, 64, 256, kernel_size=1)) is nn.Conv2d
        assert isinstance(build_conv_layer(keep, 64, 64, 3), BinaryConv2d)
    with pytest.raises(RuntimeError, match='inside `with mmbinary.scope.build_scope'):
        build_conv_layer(cfg, 3, 64, 7)


def test_an_inner_three_channel_conv_of_a_resnet_is_binary():
    backbone = MODELS.build(
        dict(
            type='ResNet',
            depth=18,
            stem_channels=3,
            base_channels=3,
            conv_cfg=dict(type='BinaryConv2dExceptStem'),
        )
    )
    assert backbone.layer1[0].conv1.in_channels == 3
    assert isinstance(backbone.layer1[0].conv1, BinaryConv2d)  # was kept real by "3 channels"
    assert convs(backbone, nn.Conv2d) == {'conv1'}


def mlp_model():
    cfg = Config.fromfile(DROP_IN)
    cfg.model.backbone.depth = 18
    cfg.model.head.in_channels = 512
    cfg.model.backbone.conv_cfg.update(weight_binarizer='MLPBinarizer', center_weight=True)
    return cfg, MODELS.build(cfg.model)


def mlps(model):
    return {m.mlp for m in model.modules() if isinstance(m, MLPBinarizer)}


def test_one_mlp_per_model_built_by_conv_cfg_never_across_two_models():
    cfg, first = mlp_model()
    _, second = mlp_model()
    (mlp,) = mlps(first)  # one MLP shared by every binary conv of the model
    (other,) = mlps(second)
    assert mlp is not other
    assert sum(isinstance(m, MLPBinarizer) for m in first.modules()) == 19  # ResNet-18
    with torch.no_grad():
        mlp.fc1.add_(1.0)  # writing one model's MLP leaves the other's alone
    assert not torch.equal(mlp.fc1, other.fc1)
    copied = copy.deepcopy(first)
    (copied_mlp,) = mlps(copied)  # the copy shares within itself, not with the original
    assert copied_mlp is not mlp and torch.equal(copied_mlp.fc1, mlp.fc1)
    # a model built by MMEngine's Runner gets its own MLP too
    cfg.work_dir = tempfile.mkdtemp()
    cfg.train_dataloader = cfg.train_cfg = cfg.optim_wrapper = cfg.param_scheduler = None
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    cfg.test_dataloader = cfg.test_cfg = cfg.test_evaluator = None
    runner = Runner.from_cfg(cfg)
    (runner_mlp,) = mlps(runner.model)
    assert runner_mlp is not mlp and runner_mlp is not other


def test_official_config_binarized_except_stem_and_head():
    cfg = Config.fromfile(DROP_IN)
    assert cfg.model.backbone.type == 'ResNet' and cfg.model.backbone.depth == 50
    model = MODELS.build(cfg.model)
    reference = MODELS.build(get_config(OFFICIAL).model)
    all_convs = convs(reference.backbone, nn.Conv2d)
    assert len(all_convs) == 53  # ResNet-50: stem + 16 bottlenecks x 3 + 4 downsamples
    assert convs(model.backbone, nn.Conv2d) == {'conv1'}  # the backbone's first conv: real
    assert convs(model.backbone, BinaryConv2d) == all_convs - {'conv1'}
    assert not any(isinstance(m, BinaryConv2d) for m in model.head.modules())
    assert type(model.head.final_layer) is nn.Conv2d

    cfg.model.backbone.conv_cfg.keep_real_1x1 = True
    model = MODELS.build(cfg.model)
    binary = convs(model.backbone, BinaryConv2d)
    assert len(binary) == 16 and all(n.endswith('conv2') for n in binary)


def test_two_training_iterations_with_mmengines_runner(coco_tiny, tmp_path):
    cfg = Config.fromfile(DROP_IN)
    cfg.work_dir = str(tmp_path)
    cfg.train_dataloader.update(batch_size=2, num_workers=0, persistent_workers=False)
    cfg.train_dataloader.dataset.update(
        data_root=coco_tiny, ann_file='test_coco.json', data_prefix=dict(img=''), indices=4
    )
    cfg.train_cfg = dict(by_epoch=True, max_epochs=1, val_interval=100)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.test_cfg = cfg.test_dataloader = cfg.test_evaluator = None
    cfg.default_hooks.checkpoint = None
    cfg.default_hooks.logger.interval = 1
    cfg.visualizer.vis_backends = [dict(type='LocalVisBackend')]
    runner = Runner.from_cfg(cfg)
    binary = runner.model.backbone.layer1[0].conv2
    assert isinstance(binary, BinaryConv2d)
    before = binary.weight.detach().clone()
    runner.train()
    assert runner.iter == 2
    assert not torch.equal(before, binary.weight)  # the latent weights were trained
    scalars = runner.message_hub.log_scalars
    assert torch.isfinite(torch.tensor(scalars['train/loss'].current()))
    assert pytest.approx(scalars['train/loss'].current()) == scalars['train/loss_kpt'].current()
