"""The full-scale recipes of ``configs/{bbc,adabin,self_binarizing,latent_weight}``.

Fast CPU checks without ImageNet, CIFAR-10 or any download. For every config: it loads with
``Config.fromfile`` and holds the recipe's values (the table ``RECIPES`` below, written from the
papers' abstracts and the official code, as the configs' comments cite them); its model builds
with mmpretrain's registry (a distillation config with a real teacher checkpoint written to a
temporary directory from the teacher's own mmpretrain config) and runs in eval and in training
mode; its optimizer wrapper, built by mmengine's ``build_optim_wrapper``, has the recipe's param
groups, and its schedules, built as mmengine's runner builds them, give the recipe's learning
rate in every epoch; its binarizer schedule hook sets EDE's ``t`` / tanh's ``nu`` on the right
modules. The lighting transform is checked against the official code's, the two-step AdaBin
checkpoints and the distilled students against the configs that test them, and each folder's
``metafile.yml`` and ``README.md`` against the configs.
"""

import copy
import glob
import math
import os.path as osp
import re
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import yaml
from mmengine.config import Config
from mmengine.logging import MessageHub, MMLogger
from mmengine.optim import build_optim_wrapper
from mmengine.registry import HOOKS, PARAM_SCHEDULERS, DefaultScope

import mmbinary  # noqa: F401  (registers mmbinary's types)
from mmbinary.binarizers.base import BaseBinarizer
from mmbinary.engine.optimizers import binarizer_parameters
from mmbinary.layers.binary_conv import BinaryLayerMixin
from mmbinary.models.classifiers import student_classifier_config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = osp.join(ROOT, 'configs')
FOLDERS = ('bbc', 'adabin', 'self_binarizing', 'latent_weight')

IN1K_TEACHER = 'mmpretrain::resnet/resnet34_8xb32_in1k.py'
CIFAR_TEACHER = 'mmpretrain::resnet/resnet18_8xb16_cifar10.py'
BBC_MILESTONES = (70, 90, 100, 110)
BBC_CIFAR_MILESTONES = (233, 300, 333, 367)  # BBC's 70 / 90 / 100 / 110 of 120, scaled to 400
SCHEDULE = 'BinarizerScheduleHook'
EDE_HOOK = dict(type=SCHEDULE, param='t', start=1e-3, end=10, mode='log', types=['EDE'])
NU_HOOK = dict(
    type=SCHEDULE, param='nu', start=1, end=1000, mode='log', types=['SelfBinarizingTanh']
)


def recipe(folder, data, gpus, per_gpu, epochs, optimizer, schedule, backbone, binarizers, **kw):
    """One row of RECIPES; see the module docstring."""
    row = dict(
        folder=folder,
        data=data,
        gpus=gpus,
        per_gpu=per_gpu,
        epochs=epochs,
        optimizer=optimizer,
        schedule=schedule,
        backbone=backbone,
        binarizers=binarizers,
        classifier='ImageClassifier',
        kd=None,
        binarizer_group=None,
        hooks=[],
        lighting=False,
        decay='all',
    )
    row.update(kw)
    return row


BBC_ADAM = dict(type='Adam', lr=2.5e-3, weight_decay=0)
ADABIN_SGD = dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-5)
CIFAR_SGD = dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4)
REACTNET_ADAM = dict(type='Adam', lr=2.5e-3, weight_decay=1e-5)
MLP = ('MLPBinarizer', 'ApproxSign', 'mean_abs', True)
LINEAR = ('LinearBinarizer', 'ApproxSign', 'mean_abs', True)
ADABIN = ('AdaBinWeight', 'AdaBinActivation', 'none', False)
BBC_KD = (IN1K_TEACHER, 0.9, 0.1)


def bbc(depth, binarizers=MLP, kd=None):
    return recipe(
        'bbc',
        'in1k',
        8,
        32,
        120,
        BBC_ADAM,
        ('bbc', BBC_MILESTONES),
        ('BinaryResNet', depth, 'bireal'),
        binarizers,
        classifier='KDImageClassifier' if kd else 'ImageClassifier',
        kd=kd,
        binarizer_group=binarizers[0],
        lighting=True,
    )


def bbc_cifar(binarizers=MLP, kd=None):
    return recipe(
        'bbc',
        'cifar10',
        1,
        128,
        400,
        BBC_ADAM,
        ('bbc', BBC_CIFAR_MILESTONES),
        ('BinaryResNetCifar', 20, None),
        binarizers,
        classifier='KDImageClassifier' if kd else 'ImageClassifier',
        kd=kd,
        binarizer_group=binarizers[0],
    )


def adabin(depth):
    return recipe(
        'adabin',
        'in1k',
        8,
        32,
        120,
        ADABIN_SGD,
        ('cosine',),
        ('BinaryResNet', depth, 'adabin'),
        ADABIN,
        hooks=[EDE_HOOK],
    )


def two_step(step):
    weights = None if step == 1 else 'AdaBinWeight'
    return recipe(
        'adabin',
        'in1k',
        8,
        64,
        128,
        dict(REACTNET_ADAM, weight_decay=1e-5 if step == 1 else 0),
        ('linear',),
        ('BinaryResNet', 18, 'adabin'),
        (weights,) + ADABIN[1:],
        classifier='KDImageClassifier',
        kd=(IN1K_TEACHER, 1.0, 0.0),
        hooks=[] if step == 1 else [EDE_HOOK],
        lighting=True,
        decay='4d' if step == 1 else 'none',
    )


def bireal_family(folder, depth, binarizers, **kw):
    return recipe(
        folder,
        'in1k',
        8,
        32,
        120,
        BBC_ADAM,
        ('linear',),
        ('BinaryResNet', depth, 'bireal'),
        binarizers,
        lighting=True,
        **kw,
    )


RECIPES = {
    'bbc/resnet18-bbc_8xb32-120e_in1k': bbc(18),
    'bbc/resnet18-bbc_kd-res34-8xb32-120e_in1k': bbc(18, kd=BBC_KD),
    'bbc/resnet34-bbc_8xb32-120e_in1k': bbc(34),
    'bbc/resnet34-bbc_kd-res34-8xb32-120e_in1k': bbc(34, kd=BBC_KD),
    'bbc/resnet18-bbc-linear_8xb32-120e_in1k': bbc(18, LINEAR),
    'bbc/resnet18-bbc-linear_kd-res34-8xb32-120e_in1k': bbc(18, LINEAR, kd=BBC_KD),
    'bbc/resnet20-bbc_1xb128-400e_cifar10': bbc_cifar(),
    'bbc/resnet20-bbc-linear_1xb128-400e_cifar10': bbc_cifar(LINEAR),
    'bbc/resnet20-bbc_kd-res18-1xb128-400e_cifar10': bbc_cifar(kd=(CIFAR_TEACHER, 0.9, 0.1)),
    'adabin/resnet18-adabin_8xb32-120e_in1k': adabin(18),
    'adabin/resnet34-adabin_8xb32-120e_in1k': adabin(34),
    'adabin/resnet18-adabin-step1_kd-res34-8xb64-128e_in1k': two_step(1),
    'adabin/resnet18-adabin-step2_kd-res34-8xb64-128e_in1k': two_step(2),
    'adabin/resnet20-adabin_1xb128-400e_cifar10': recipe(
        'adabin',
        'cifar10',
        1,
        128,
        400,
        CIFAR_SGD,
        ('cosine',),
        ('BinaryResNetCifar', 20, None),
        ADABIN,
        hooks=[EDE_HOOK],
    ),
    'self_binarizing/resnet18-self-binarizing_8xb32-120e_in1k': bireal_family(
        'self_binarizing',
        18,
        ('SelfBinarizingTanh', 'SelfBinarizingTanh', 'none', False),
        hooks=[NU_HOOK],
    ),
    'latent_weight/resnet18-latent-weight_8xb32-120e_in1k': bireal_family(
        'latent_weight',
        18,
        ('STE', 'ApproxSign', 'mean_abs', False),
        classifier='LatentWeightClassifier',
    ),
    'latent_weight/resnet34-latent-weight_8xb32-120e_in1k': bireal_family(
        'latent_weight',
        34,
        ('STE', 'ApproxSign', 'mean_abs', False),
        classifier='LatentWeightClassifier',
    ),
}
NAMES = sorted(RECIPES)
KD_NAMES = [n for n in NAMES if RECIPES[n]['kd']]
BINARY_CONVS = {
    ('BinaryResNet', 18): 16,
    ('BinaryResNet', 34): 32,
    ('BinaryResNetCifar', 20): 18,
}
# the official Lighting (MetaPruning / ReActNet, used by BBC's trainimagenet.py), RGB rows
OFFICIAL_EIGVAL = np.array([0.2175, 0.0188, 0.0045])
OFFICIAL_EIGVEC_RGB = np.array(
    [[-0.5675, 0.7192, 0.4009], [-0.5808, -0.0045, -0.8140], [-0.5836, -0.6948, 0.4203]]
)


def config_path(name):
    return osp.join(CONFIGS, f'{name}.py')


def load(name):
    return Config.fromfile(config_path(name))


def without_scope(cfg):
    """A plain copy of a config value without the ``_scope_`` tags of ``'pkg::'`` bases."""
    if isinstance(cfg, dict):
        return {k: without_scope(v) for k, v in cfg.items() if k != '_scope_'}
    if isinstance(cfg, (list, tuple)):
        return [without_scope(v) for v in cfg]
    return cfg


def as_list(value):
    return list(value) if isinstance(value, (list, tuple)) else [value]


@pytest.fixture(scope='module', autouse=True)
def quiet_mmengine():
    """mmpretrain's default scope, as the configs; mmengine's per-parameter init log off."""
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel('WARNING')
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        yield
    logger.setLevel(level)


@pytest.fixture(scope='module')
def teacher_checkpoints(tmp_path_factory):
    """{teacher config: checkpoint} written from each teacher's own (untrained) model."""
    from mmengine.hub import get_config
    from mmpretrain.registry import MODELS

    directory = tmp_path_factory.mktemp('teachers')
    checkpoints = {}
    for i, teacher in enumerate(sorted({RECIPES[n]['kd'][0] for n in KD_NAMES})):
        model = MODELS.build(get_config(teacher).model)
        path = str(directory / f'teacher{i}.pth')
        torch.save({'state_dict': model.state_dict()}, path)
        checkpoints[teacher] = path
    return checkpoints


def build_model(name, teacher_checkpoints=None, student_only=False):
    """The config's model as the runner builds it (data preprocessor merged into the model)."""
    from mmpretrain.registry import MODELS

    cfg = load(name)
    model_cfg = copy.deepcopy(cfg.model)
    if student_only:
        model_cfg = Config(dict(model=student_classifier_config(model_cfg))).model
    elif 'teacher_config' in model_cfg:
        model_cfg.teacher_checkpoint = teacher_checkpoints[model_cfg.teacher_config]
    model_cfg.setdefault('data_preprocessor', cfg.get('data_preprocessor'))
    model = MODELS.build(model_cfg)
    model.init_weights()
    return cfg, model


def test_every_config_has_a_recipe():
    found = sorted(
        f'{folder}/{osp.splitext(osp.basename(p))[0]}'
        for folder in FOLDERS
        for p in glob.glob(osp.join(CONFIGS, folder, '*.py'))
    )
    assert found == NAMES


# ---------------------------------------------------------------------------------------------
# The recipe values in the configs


@pytest.mark.parametrize('name', NAMES)
def test_recipe_values(name):
    spec, cfg = RECIPES[name], load(name)
    assert cfg.custom_imports == dict(imports=['mmbinary'], allow_failed_imports=False)
    assert cfg.default_scope == 'mmpretrain'

    # model: classifier, backbone, binarizers, classes
    model = cfg.model
    assert model.type == spec['classifier']
    kind, depth, style = spec['backbone']
    assert (model.backbone.type, model.backbone.depth) == (kind, depth)
    if style is not None:
        assert model.backbone.block_style == style
    conv = model.backbone.conv_cfg
    weights, inputs, scale, centred = spec['binarizers']
    assert conv.type == 'BinaryConv2d'
    assert (conv.weight_binarizer or {}).get('type') == weights
    assert conv.input_binarizer.type == inputs
    assert conv.weight_scale == scale
    assert conv.get('center_weight', False) == centred
    if weights == 'MLPBinarizer':
        assert conv.weight_binarizer.hidden_channels == 100
        assert conv.weight_binarizer.shared is True
    if inputs == 'AdaBinActivation':
        assert conv.input_binarizer.form == 'official_code'
    classes = 1000 if spec['data'] == 'in1k' else 10
    assert model.head.num_classes == classes
    if spec['folder'] == 'adabin':  # AdaBin's head: average pooling -> BatchNorm1d -> FC
        assert [n.type for n in model.neck] == ['GlobalAveragePooling', 'ClsBatchNormNeck']
        assert model.neck[1].affine is True
    if spec['kd'] is not None:
        teacher, soft, hard = spec['kd']
        assert model.teacher_config == teacher
        assert (model.soft_weight, model.hard_weight, model.temperature) == (soft, hard, 1.0)
        assert model.teacher_checkpoint.startswith('checkpoints/')  # a user-provided file
    if spec['classifier'] == 'LatentWeightClassifier':
        assert (model.latent_loss_weight, model.mimic_loss_weight) == (1.0, 1.0)

    # optimizer (the binarizer group is checked on the built wrapper below)
    optimizer = cfg.optim_wrapper.optimizer
    for key, value in spec['optimizer'].items():
        assert optimizer[key] == value, key

    # epochs and batch: the name, the dataloader and auto_scale_lr agree with the recipe
    gpus, per_gpu, epochs = spec['gpus'], spec['per_gpu'], spec['epochs']
    assert f'{gpus}xb{per_gpu}-{epochs}e_' in name
    assert cfg.train_cfg.by_epoch is True
    assert cfg.train_cfg.max_epochs == epochs
    assert cfg.train_cfg.val_interval == 1
    assert cfg.train_dataloader.batch_size == per_gpu
    assert cfg.auto_scale_lr.base_batch_size == gpus * per_gpu
    if spec['data'] == 'in1k':
        assert gpus * per_gpu == (512 if 'step' in name else 256)

    # hooks (EDE's t: 1e-3 -> 10, tanh's nu: 1 -> 1000, both per epoch)
    # (the reliability hooks every config has are checked in tests/test_configs)
    reliability = ('SyncBuffersHook', 'NonFiniteCheckHook')
    hooks = [h for h in cfg.get('custom_hooks', []) if h['type'] not in reliability]
    assert without_scope(hooks) == spec['hooks']
    if 'step2' in name:
        step1 = name.split('/')[1].replace('step2', 'step1')
        assert cfg.load_from == f'work_dirs/{step1}/epoch_128.pth'
    else:
        assert cfg.get('load_from') is None


@pytest.mark.parametrize('name', NAMES)
def test_data_pipeline(name):
    spec, cfg = RECIPES[name], load(name)
    train, val = cfg.train_dataloader, cfg.val_dataloader
    steps = [t.type for t in train.dataset.pipeline]
    if spec['data'] == 'in1k':
        assert (train.dataset.type, train.dataset.data_root) == ('ImageNet', 'data/imagenet')
        assert (train.dataset.split, val.dataset.split) == ('train', 'val')
        lighting = ['Lighting'] if spec['lighting'] else []
        assert steps == [
            'LoadImageFromFile',
            'RandomResizedCrop',
            *lighting,
            'RandomFlip',
            'PackInputs',
        ]
        crop = train.dataset.pipeline[1]
        assert crop.scale == 224
        assert tuple(crop.crop_ratio_range) == (0.08, 1.0)
        assert crop.backend == 'pillow'  # torchvision's PIL resizing, as the official code
        if spec['lighting']:
            light = train.dataset.pipeline[2]
            assert light.alphastd == 0.1
            assert light.eigval == [0.2175, 0.0188, 0.0045]
        flip = train.dataset.pipeline[-2]
        assert (flip.prob, flip.direction) == (0.5, 'horizontal')
        assert [t.type for t in val.dataset.pipeline] == [
            'LoadImageFromFile',
            'ResizeEdge',
            'CenterCrop',
            'PackInputs',
        ]
        assert (val.dataset.pipeline[1].scale, val.dataset.pipeline[2].crop_size) == (256, 224)
        assert cfg.data_preprocessor.to_rgb is True
    else:
        for loader in (train, val, cfg.test_dataloader):
            assert loader.dataset.type == 'CIFAR10'
            assert loader.dataset.data_root.rstrip('/') == 'data/cifar10'
            assert loader.dataset.download is False  # the user provides the data
        assert steps == ['RandomCrop', 'RandomFlip', 'PackInputs']
        assert (train.dataset.pipeline[0].crop_size, train.dataset.pipeline[0].padding) == (32, 4)
    if name == 'adabin/resnet20-adabin_1xb128-400e_cifar10':  # the official code's choices
        assert train.drop_last is True
        assert cfg.data_preprocessor.mean == [123.675, 116.28, 103.53]


@pytest.mark.parametrize('name', [n for n in NAMES if RECIPES[n]['lighting']])
def test_lighting_reproduces_the_official_code(name):
    """The config's Lighting on mmpretrain's BGR uint8 image = the official one on the RGB one."""
    from mmpretrain.registry import TRANSFORMS

    cfg = load(name)
    (light,) = [t for t in cfg.train_dataloader.dataset.pipeline if t.type == 'Lighting']
    transform = TRANSFORMS.build(light)
    rng = np.random.RandomState(0)
    image_bgr = rng.randint(0, 256, (16, 16, 3)).astype(np.uint8)
    image_bgr[0, 0] = 0
    image_bgr[0, 1] = 255
    changes = set()
    for seed in range(20):
        np.random.seed(seed)
        ours = transform(dict(img=image_bgr.copy()))['img']
        np.random.seed(seed)
        rnd = (np.random.randn(3) * 0.1).astype('float32')
        increment = OFFICIAL_EIGVEC_RGB @ (rnd * OFFICIAL_EIGVAL)
        rgb = image_bgr[..., ::-1].astype(np.float64)
        official = np.clip(rgb + increment, 0, 255).astype(np.uint8)[..., ::-1]
        assert ours.dtype == np.uint8
        np.testing.assert_array_equal(ours, official)
        changes |= set(np.unique(ours.astype(int) - image_bgr.astype(int)).tolist())
    assert changes == {-1, 0}  # at most one grey level, never a wrap-around


# ---------------------------------------------------------------------------------------------
# Models, optimizers, schedules and hooks as the runner builds them


@pytest.mark.parametrize('name', NAMES)
def test_model_builds_and_runs(name, teacher_checkpoints):
    from mmpretrain.structures import DataSample

    spec = RECIPES[name]
    cfg, model = build_model(name, teacher_checkpoints)
    classes = 1000 if spec['data'] == 'in1k' else 10
    size = 64 if spec['data'] == 'in1k' else 32
    torch.manual_seed(0)
    model.eval()
    with torch.no_grad():
        logits = model(torch.rand(1, 3, size, size), mode='tensor')
    assert logits.shape == (1, classes)
    assert torch.isfinite(logits).all()
    # one training-mode loss on a batch of two: the recipe's loss terms
    model.train()
    samples = [DataSample().set_gt_label(1), DataSample().set_gt_label(2)]
    losses = model(torch.rand(2, 3, size, size), samples, mode='loss')
    expected = {
        'ImageClassifier': {'loss'},
        'LatentWeightClassifier': {'loss', 'loss_latent', 'loss_mimic'},
        'KDImageClassifier': {'loss_soft', 'loss_hard'},
    }[spec['classifier']]
    if spec['kd'] is not None and spec['kd'][2] == 0:  # ReActNet's distribution loss only
        expected = {'loss_soft'}
    assert {k for k in losses if k.startswith('loss')} == expected
    assert all(torch.isfinite(v) for v in losses.values())
    # the binary convs are those of the recipe, with its binarizers
    convs = [m for m in model.modules() if isinstance(m, BinaryLayerMixin)]
    assert len(convs) == BINARY_CONVS[spec['backbone'][:2]]
    weights, inputs, _, _ = spec['binarizers']
    for conv in convs:
        assert type(conv.weight_binarizer).__name__ == (weights or 'NoneType')
        assert type(conv.input_binarizer).__name__ == inputs
    if spec['kd'] is not None:  # the teacher holds the given checkpoint and is not a submodule
        state = torch.load(teacher_checkpoints[spec['kd'][0]], map_location='cpu')['state_dict']
        teacher = model.teacher.state_dict()
        assert all(torch.equal(teacher[k], v) for k, v in state.items())
        assert not any('teacher' in k for k in model.state_dict())


def lr_in_epoch(spec, epoch, group):
    """The recipe's learning rate of ``group`` ('net' or 'binarizer') in epoch ``epoch``."""
    epochs, base = spec['epochs'], spec['optimizer']['lr']
    kind = spec['schedule'][0]
    if kind == 'bbc' and group == 'binarizer':
        return 1e-3 * 0.1 ** sum(epoch >= m for m in spec['schedule'][1])
    if kind in ('bbc', 'linear'):  # linear decay to 0: lr * (1 - e / epochs)
        return base * (1 - epoch / epochs)
    assert kind == 'cosine'
    return base * (1 + math.cos(math.pi * epoch / epochs)) / 2


@pytest.mark.parametrize('name', NAMES)
def test_optimizer_groups_and_lr_schedule(name):
    spec = RECIPES[name]
    cfg, model = build_model(name, student_only=True)
    wrapper = build_optim_wrapper(model, copy.deepcopy(cfg.optim_wrapper))
    optimizer = wrapper.optimizer
    assert type(optimizer).__name__ == spec['optimizer']['type']
    groups = optimizer.param_groups
    # every trainable parameter is optimised exactly once
    ids = [id(p) for g in groups for p in g['params']]
    assert len(ids) == len(set(ids))
    assert set(ids) == {id(p) for p in model.parameters() if p.requires_grad}

    binarizer = [g for g in groups if g.get('name') == 'binarizer']
    others = [g for g in groups if g.get('name') != 'binarizer']
    if spec['binarizer_group']:
        # BBC: the shared MLP (or linear gains) alone in its own group, Adam 1e-3, wd 0
        (group,) = binarizer
        assert (group['lr'], group['weight_decay']) == (1e-3, 0)
        shared = {
            id(p) for m in model.modules() if isinstance(m, BaseBinarizer) for p in m.parameters()
        }
        assert {id(p) for p in group['params']} == shared
        assert {id(p) for p in binarizer_parameters(model)} == shared
        size = sum(p.numel() for p in group['params'])
        assert size == (300 if spec['binarizer_group'] == 'MLPBinarizer' else 2)
    else:
        assert not binarizer
    for group in others:
        assert group['lr'] == spec['optimizer']['lr']
        if 'momentum' in spec['optimizer']:
            assert group['momentum'] == spec['optimizer']['momentum']
        decay = spec['optimizer']['weight_decay']
        for p in group['params']:  # ReActNet's step 1: weight decay on the 4-D conv weights only
            expected = decay if spec['decay'] == 'all' or p.ndim == 4 else 0
            assert group['weight_decay'] == expected

    # the schedules as mmengine's runner builds and steps them (after every epoch)
    epochs = spec['epochs']
    schedulers = []
    for scheduler in as_list(cfg.param_scheduler):
        scheduler = copy.deepcopy(scheduler)
        scheduler.setdefault('end', epochs)  # Runner.build_param_scheduler's default
        assert scheduler.get('by_epoch', True) is True
        schedulers.append(
            PARAM_SCHEDULERS.build(scheduler, default_args=dict(optimizer=wrapper, epoch_length=1))
        )
    for epoch in range(epochs):
        for group in groups:
            which = 'binarizer' if group.get('name') == 'binarizer' else 'net'
            expected = lr_in_epoch(spec, epoch, which)
            assert group['lr'] == pytest.approx(expected, rel=1e-9, abs=1e-15), (epoch, which)
        for scheduler in schedulers:
            scheduler.step()


@pytest.mark.parametrize('name', NAMES)
def test_binarizer_schedule_hook(name):
    spec = RECIPES[name]
    cfg, model = build_model(name, student_only=True)
    hooks = [h for h in cfg.get('custom_hooks', []) if h.type == 'BinarizerScheduleHook']
    convs = BINARY_CONVS[spec['backbone'][:2]]
    if not hooks:  # nothing to schedule: no EDE, no tanh
        assert not [m for m in model.modules() if hasattr(m, 't') or hasattr(m, 'nu')]
        return
    (hook_cfg,) = hooks
    hook = HOOKS.build(copy.deepcopy(hook_cfg))
    epochs = spec['epochs']
    runner = SimpleNamespace(
        model=model, epoch=0, max_epochs=epochs, message_hub=MessageHub.get_current_instance()
    )
    hook.before_train(runner)
    param = hook_cfg.param
    # EDE: one per binary conv (AdaBin's weights); tanh: weights and inputs of every binary conv
    assert len(hook._targets) == (convs if param == 't' else 2 * convs)
    for epoch in (0, 1, epochs // 2, epochs - 1):
        runner.epoch = epoch
        hook.before_train_epoch(runner)
        expected = 10 ** (
            math.log10(hook_cfg.start)
            + (math.log10(hook_cfg.end) - math.log10(hook_cfg.start)) * epoch / epochs
        )
        for module in hook._targets:
            assert getattr(module, param) == pytest.approx(expected, rel=1e-9)
            if param == 't':
                assert module.k == pytest.approx(max(1 / expected, 1.0), rel=1e-9)


# ---------------------------------------------------------------------------------------------
# Distillation, two-step training and the configs that test the checkpoints


def test_missing_teacher_checkpoint_fails_before_training(tmp_path):
    from mmpretrain.registry import MODELS

    cfg = load('bbc/resnet18-bbc_kd-res34-8xb32-120e_in1k')
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.teacher_checkpoint = str(tmp_path / 'resnet34.pth')
    with pytest.raises(FileNotFoundError, match='resnet34.pth'):
        MODELS.build(model_cfg)


def test_config_that_tests_a_student():
    """A distilled checkpoint holds the student only: the plain config builds that student."""
    plain_of = {
        n: n.replace('_kd-res34-', '_').replace('_kd-res18-', '_')
        for n in KD_NAMES
        if 'step' not in n
    }
    plain_of['adabin/resnet18-adabin-step2_kd-res34-8xb64-128e_in1k'] = (
        'adabin/resnet18-adabin_8xb32-120e_in1k'
    )
    for kd, plain in plain_of.items():
        student = student_classifier_config(load(kd).model)
        assert without_scope(student) == without_scope(load(plain).model), kd


def test_two_step_checkpoint_loads_into_step_two():
    _, step1 = build_model('adabin/resnet18-adabin-step1_kd-res34-8xb64-128e_in1k', None, True)
    _, step2 = build_model('adabin/resnet18-adabin-step2_kd-res34-8xb64-128e_in1k', None, True)
    convs = [m for m in step1.modules() if isinstance(m, BinaryLayerMixin)]
    assert convs and all(conv.weight_binarizer is None for conv in convs)  # real weights
    result = step2.load_state_dict(step1.state_dict(), strict=True)
    assert not result.missing_keys and not result.unexpected_keys


def test_torchvision_resnet34_loads_as_the_teacher():
    """README: torchvision's ResNet-34 (BBC's and ReActNet's teacher) by renaming its keys."""
    torchvision = pytest.importorskip('torchvision')
    from mmengine.hub import get_config
    from mmpretrain.registry import MODELS

    torch.manual_seed(0)
    source = torchvision.models.resnet34().eval()
    state = {
        ('head.' if k.startswith('fc.') else 'backbone.') + k: v
        for k, v in source.state_dict().items()
    }
    teacher = MODELS.build(get_config(IN1K_TEACHER).model).eval()
    teacher.load_state_dict(state, strict=True)
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(teacher(x, mode='tensor'), source(x))


# ---------------------------------------------------------------------------------------------
# metafile.yml and README.md of each folder


@pytest.mark.parametrize('folder', FOLDERS)
def test_metafile_lists_every_config(folder):
    with open(osp.join(CONFIGS, folder, 'metafile.yml')) as f:
        meta = yaml.safe_load(f)
    collections = {c['Name'] for c in meta['Collections']}
    for collection in meta['Collections']:
        assert osp.isfile(osp.join(ROOT, collection['README']))
    listed = []
    for model in meta['Models']:
        assert osp.isfile(osp.join(ROOT, model['Config'])), model['Config']
        stem = osp.splitext(osp.basename(model['Config']))[0]
        assert model['Name'] == stem
        assert model['Config'] == f'configs/{folder}/{stem}.py'
        assert model['In Collection'] in collections
        assert 'Results' not in model  # nothing trained here; the papers' figures: README
        assert 'Weights' not in model
        listed.append(f'{folder}/{stem}')
    assert sorted(listed) == sorted(n for n in NAMES if n.startswith(f'{folder}/'))


@pytest.mark.parametrize('folder', FOLDERS)
def test_readme_tables(folder):
    with open(osp.join(CONFIGS, folder, 'README.md')) as f:
        text = f.read()
    for name in (n for n in NAMES if n.startswith(f'{folder}/')):
        stem = name.split('/')[1]
        rows = [line for line in text.splitlines() if f'(./{stem}.py)' in line]
        assert rows, f'{stem} has no row in the README table'
        for row in rows:
            assert 'not trained here' in row
    assert 'tools/dist_train.sh' in text and 'tools/test.py' in text
    assert 'reconstruction' in text
    # every figure in a table row with a config link is marked as the paper's
    for line in text.splitlines():
        if line.startswith('|') and '.py)' in line and re.search(r'\d+\.\d %', line):
            assert '(paper)' in line, line
