"""Every recipe of configs/sbpn, configs/bhrnet and configs/drop_in builds and keeps MMPose's
COCO recipe; distillation recipes fail clearly without their teacher checkpoint."""

import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmpose.registry import MODELS
from torch import nn

from mmbinary.binarizers import MLPBinarizer
from mmbinary.layers import BinaryConv2d, BinaryConvTranspose2d
from mmbinary.models import load_teacher_config, student_config

pytestmark = pytest.mark.usefixtures('mmpose_scope')

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(
    glob.glob(osp.join(ROOT, 'configs', 'sbpn', '*.py'))
    + glob.glob(osp.join(ROOT, 'configs', 'bhrnet', '*.py'))
    + glob.glob(osp.join(ROOT, 'configs', 'drop_in', '*.py'))
)
KD = [c for c in CONFIGS if '_kd-' in c]
BINARY = (BinaryConv2d, BinaryConvTranspose2d)


def name(path):
    return osp.basename(path)[:-3]


def plain(cfg_dict):
    """A config dict without the ``_scope_`` key that ``mmpose::`` bases add."""
    return {k: v for k, v in cfg_dict.items() if k != '_scope_'}


def load(path):
    cfg = Config.fromfile(path)
    return cfg, MODELS.build(student_config(cfg.model))


def test_every_variant_is_there():
    names = {name(c) for c in CONFIGS}
    for depth in (18, 34):
        for style in (f'bireal{depth}-bbc', f'adabin{depth}'):
            for head in ('', '-binhead'):
                base = f'td-hm_sbpn-{style}{head}'
                assert f'{base}_8xb64-210e_coco-256x192' in names
                assert f'{base}_kd-res50-8xb64-210e_coco-256x192' in names
    for width, batch in (('w32', '8xb64'), ('w48', '8xb32')):
        for style in ('bbc', 'adabin'):
            base = f'td-hm_bhrnet-{width}-{style}'
            assert f'{base}_{batch}-210e_coco-256x192' in names
            assert f'{base}_kd-hrnet-{width}-{batch}-210e_coco-256x192' in names
    assert len(CONFIGS) == 16 + 1 + 8 + 1  # + the upsample-conv head + the drop-in


@pytest.mark.parametrize('path', CONFIGS, ids=name)
def test_config_builds_with_mmposes_coco_recipe(path):
    cfg, model = load(path)
    assert 'mmbinary' in cfg.custom_imports.imports
    assert cfg.default_scope == 'mmpose'
    assert cfg.train_cfg.max_epochs == 210
    optimizer = cfg.optim_wrapper.optimizer
    assert (optimizer.type, optimizer.lr, optimizer.get('weight_decay', 0)) == ('Adam', 5e-4, 0)
    warmup, steps = cfg.param_scheduler
    assert (warmup.type, warmup.end, warmup.by_epoch) == ('LinearLR', 500, False)
    assert (steps.type, steps.milestones, steps.gamma) == ('MultiStepLR', [170, 200], 0.1)
    codec = plain(cfg.codec)
    assert codec == dict(type='MSRAHeatmap', input_size=(192, 256), heatmap_size=(48, 64), sigma=2)
    assert cfg.train_dataloader.dataset.data_root == 'data/coco/'
    assert plain(cfg.model.head.decoder) == codec
    init = cfg.model.backbone.get('init_cfg')
    assert init is None or 'Pretrained' not in str(init)  # nothing to download

    binary = [n for n, m in model.named_modules() if isinstance(m, BINARY)]
    assert binary and all(n.startswith(('backbone.', 'head.deconv_layers.')) for n in binary)
    assert type(model.head.final_layer) is nn.Conv2d  # the final 1x1 conv stays real
    if '-binhead' in path:
        assert sum(n.startswith('head.') for n in binary) == 3
    elif 'sbpn' in path:
        assert not any(n.startswith('head.') for n in binary)


@pytest.mark.parametrize(
    'config',
    [
        'sbpn/td-hm_sbpn-bireal18-bbc_8xb64-210e_coco-256x192.py',
        'sbpn/td-hm_sbpn-bireal18-bbc-binhead_8xb64-210e_coco-256x192.py',
        'sbpn/td-hm_sbpn-bireal18-bbc-binhead-upconv_8xb64-210e_coco-256x192.py',
        'sbpn/td-hm_sbpn-adabin34-binhead_8xb64-210e_coco-256x192.py',
        'bhrnet/td-hm_bhrnet-w32-bbc_8xb64-210e_coco-256x192.py',
        'bhrnet/td-hm_bhrnet-w48-adabin_8xb32-210e_coco-256x192.py',
    ],
)
def test_heatmaps_are_64x48_for_256x192(config):
    _, model = load(osp.join(ROOT, 'configs', config))
    with torch.no_grad():
        heatmaps = model.eval()(torch.rand(1, 3, 256, 192), None, mode='tensor')
    assert heatmaps.shape == (1, 17, 64, 48)


@pytest.mark.parametrize(
    'config,groups',
    [
        ('sbpn/td-hm_sbpn-bireal18-bbc_8xb64-210e_coco-256x192.py', 1),
        ('sbpn/td-hm_sbpn-bireal18-bbc-binhead_8xb64-210e_coco-256x192.py', 1),
        ('bhrnet/td-hm_bhrnet-w32-bbc_8xb64-210e_coco-256x192.py', 1),
    ],
)
def test_bbc_mlp_has_its_own_param_group(config, groups):
    cfg, model = load(osp.join(ROOT, 'configs', config))
    optimizer = build_optim_wrapper(model, cfg.optim_wrapper).optimizer
    (group,) = [g for g in optimizer.param_groups if g.get('name') == 'binarizer']
    assert group['lr'] == 1e-3 and group['weight_decay'] == 0
    # one MLP (fc1, fc2) per model: a binary head shares the backbone's
    assert len(group['params']) == 2 * groups
    mlps = {m.mlp for m in model.modules() if isinstance(m, MLPBinarizer)}
    assert len(mlps) == groups and all(mlp.init == 'official_code' for mlp in mlps)
    assert {id(p) for p in group['params']} == {id(p) for mlp in mlps for p in mlp.parameters()}


@pytest.mark.parametrize('path', [c for c in CONFIGS if 'adabin' in c], ids=name)
def test_adabin_configs_schedule_the_ede_sharpness(path):
    cfg = Config.fromfile(path)
    (hook,) = [h for h in cfg.custom_hooks if h.type == 'BinarizerScheduleHook']
    assert (hook.param, hook.start, hook.end, hook.types) == ('t', 1e-3, 10, ['EDE'])


@pytest.mark.parametrize('path', KD, ids=name)
def test_distillation_configs_need_their_teacher_checkpoint(path):
    cfg = Config.fromfile(path)
    teacher = load_teacher_config(cfg.model.teacher_config)
    assert plain(teacher.codec) == plain(cfg.codec)  # same keypoints and heatmap size
    assert teacher.model.head.out_channels == cfg.model.head.out_channels == 17
    with pytest.raises(FileNotFoundError, match=osp.basename(cfg.model.teacher_checkpoint)):
        MODELS.build(cfg.model)


def test_sbpn_distillation_config_with_a_teacher_checkpoint(tmp_path):
    kd = 'td-hm_sbpn-bireal18-bbc_kd-res50-8xb64-210e_coco-256x192.py'
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'sbpn', kd))
    teacher = MODELS.build(load_teacher_config(cfg.model.teacher_config).model)
    checkpoint = tmp_path / 'res50.pth'
    torch.save(dict(state_dict=teacher.state_dict()), checkpoint)
    cfg.model.teacher_checkpoint = str(checkpoint)
    model = MODELS.build(cfg.model).eval()
    assert type(model.teacher.backbone).__name__ == 'ResNet'
    assert torch.equal(model.teacher.backbone.conv1.weight, teacher.backbone.conv1.weight)
    with torch.no_grad():
        assert model.teacher_heatmaps(torch.rand(1, 3, 256, 192)).shape == (1, 17, 64, 48)


def test_bhrnet_final_layer_binarizable_by_config():
    cfg = Config.fromfile(
        osp.join(ROOT, 'configs', 'bhrnet', 'td-hm_bhrnet-w32-bbc_8xb64-210e_coco-256x192.py')
    )
    cfg.model.head.final_layer = dict(type='BinaryConv2d', kernel_size=1)
    model = MODELS.build(cfg.model)
    assert isinstance(model.head.final_layer, BinaryConv2d)
    assert model.head.final_layer.in_channels == 32 and model.head.final_layer.out_channels == 17
