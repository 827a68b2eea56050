"""The tiny variants of the recipes (``configs/digits``) learn real handwritten digits on CPU.

Each run goes through ``tools/train.py`` and then ``tools/test.py`` (their ``main``, in this
process), as ``configs/digits/README.md`` runs them: scikit-learn's digits (1,437 train / 360
held-out real images, no download), seed 0, one thread. Chance is 0.1. Held-out accuracy measured
on this 2-core CPU with the README's commands (the same numbers in this process), and the floor
each test asserts:

================================================  ========  ========
config (``configs/digits/``)                      measured  asserted
================================================  ========  ========
resnet34_1xb128-10e_digits-32px (real teacher)      0.972    >= 0.90
resnet18-bbc_1xb128-12e_digits-32px                 0.933    >= 0.80
resnet18-bbc_kd-res34-1xb128-12e_digits-32px        0.917    >= 0.80
resnet18-bbc-linear_1xb128-12e_digits-32px          0.892    >= 0.75
resnet18-adabin_1xb128-12e_digits-32px              0.950    >= 0.85
resnet18-self-binarizing_1xb128-12e_digits-32px     0.597    >= 0.40
resnet18-latent-weight_1xb128-12e_digits-32px       0.883    >= 0.75
resnet20-adabin_1xb128-12e_digits-8px               0.947    >= 0.80
resnet20-bbc_1xb128-12e_digits-8px                  0.950    >= 0.80
================================================  ========  ========

The self-binarizing floor is lower: that method's true tanh gradient vanishes as nu grows and its
accuracy varies with the seed (0.60 / 0.56 / 0.52 for seeds 0 / 1 / 2). The other tiny variants
(ResNet-34s, AdaBin's two steps, BBC-linear ResNet-20, the ResNet-20 distillation) are measured in
the README and here built and run for one training step. A structural test checks that every
recipe of ``configs/{bbc,adabin,self_binarizing,latent_weight}`` has a tiny variant with the same
model, binarizers, optimizer, param groups, schedules (scaled to the tiny epochs) and hooks.

This file takes 189 s on one thread here (measured with the 40 tests).
"""

import copy
import glob
import importlib.util
import json
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.hub import get_config
from mmengine.registry import DefaultScope
from mmpretrain.registry import DATASETS, MODELS

import mmbinary  # noqa: F401  (registers mmbinary's models and datasets in mmpretrain's scope)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DIGITS = osp.join(ROOT, 'configs', 'digits')
TEACHER34 = 'resnet34_1xb128-10e_digits-32px'
TEACHER18 = 'resnet18_1xb128-10e_digits-8px'

# tiny variant -> full-scale recipe (configs/<folder>/<name>.py) it scales down
FULL_RECIPES = {
    'resnet18-bbc_1xb128-12e_digits-32px': 'bbc/resnet18-bbc_8xb32-120e_in1k',
    'resnet18-bbc-linear_1xb128-12e_digits-32px': 'bbc/resnet18-bbc-linear_8xb32-120e_in1k',
    'resnet18-bbc_kd-res34-1xb128-12e_digits-32px': 'bbc/resnet18-bbc_kd-res34-8xb32-120e_in1k',
    'resnet18-bbc-linear_kd-res34-1xb128-12e_digits-32px': (
        'bbc/resnet18-bbc-linear_kd-res34-8xb32-120e_in1k'
    ),
    'resnet34-bbc_1xb128-24e_digits-32px': 'bbc/resnet34-bbc_8xb32-120e_in1k',
    'resnet34-bbc_kd-res34-1xb128-24e_digits-32px': 'bbc/resnet34-bbc_kd-res34-8xb32-120e_in1k',
    'resnet20-bbc_1xb128-12e_digits-8px': 'bbc/resnet20-bbc_1xb128-400e_cifar10',
    'resnet20-bbc-linear_1xb128-12e_digits-8px': 'bbc/resnet20-bbc-linear_1xb128-400e_cifar10',
    'resnet20-bbc_kd-res18-1xb128-12e_digits-8px': 'bbc/resnet20-bbc_kd-res18-1xb128-400e_cifar10',
    'resnet18-adabin_1xb128-12e_digits-32px': 'adabin/resnet18-adabin_8xb32-120e_in1k',
    'resnet18-adabin-step1_kd-res34-1xb128-12e_digits-32px': (
        'adabin/resnet18-adabin-step1_kd-res34-8xb64-128e_in1k'
    ),
    'resnet18-adabin-step2_kd-res34-1xb128-12e_digits-32px': (
        'adabin/resnet18-adabin-step2_kd-res34-8xb64-128e_in1k'
    ),
    'resnet34-adabin_1xb128-24e_digits-32px': 'adabin/resnet34-adabin_8xb32-120e_in1k',
    'resnet20-adabin_1xb128-12e_digits-8px': 'adabin/resnet20-adabin_1xb128-400e_cifar10',
    'resnet18-self-binarizing_1xb128-12e_digits-32px': (
        'self_binarizing/resnet18-self-binarizing_8xb32-120e_in1k'
    ),
    'resnet18-latent-weight_1xb128-12e_digits-32px': (
        'latent_weight/resnet18-latent-weight_8xb32-120e_in1k'
    ),
    'resnet34-latent-weight_1xb128-24e_digits-32px': (
        'latent_weight/resnet34-latent-weight_8xb32-120e_in1k'
    ),
}
# the real teachers of the tiny distillation variants -> the mmpretrain teacher they scale down
TEACHERS = {
    TEACHER34: 'mmpretrain::resnet/resnet34_8xb32_in1k.py',
    TEACHER18: 'mmpretrain::resnet/resnet18_8xb16_cifar10.py',
}
# documented deviations of a tiny variant's optimizer: {tiny: {key: (full, tiny)}}
OPTIMIZER_CHANGES = {'resnet18-self-binarizing_1xb128-12e_digits-32px': {'lr': (2.5e-3, 1e-2)}}


def config_path(name):
    return osp.join(DIGITS, f'{name}.py')


def load_tool(name):
    spec = importlib.util.spec_from_file_location(
        f'mmbinary_tools_{name}', osp.join(ROOT, 'tools', f'{name}.py')
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def student_config(name):
    """The plain classifier config that tests a distilled checkpoint (student only)."""
    for kd in ('_kd-res34-', '_kd-res18-'):
        name = name.replace(kd, '_')
    return name


def train_and_test(name, work_root, cfg_options=()):
    """``tools/train.py`` then ``tools/test.py``; returns (held-out accuracy, ckpt, scalars)."""
    work_dir = osp.join(work_root, name)
    argv = [config_path(name), '--work-dir', work_dir]
    if cfg_options:
        argv += ['--cfg-options', *cfg_options]
    load_tool('train').main(argv)
    epochs = Config.fromfile(config_path(name)).train_cfg.max_epochs
    checkpoint = osp.join(work_dir, f'epoch_{epochs}.pth')
    out = osp.join(work_dir, 'test_metrics.json')
    load_tool('test').main(
        [
            config_path(student_config(name)),
            checkpoint,
            '--work-dir',
            osp.join(work_dir, 'test'),
            '--out',
            out,
        ]
    )
    with open(out) as f:
        accuracy = json.load(f)['accuracy/top1'] / 100
    return accuracy, checkpoint, training_scalars(work_dir)


def training_scalars(work_dir):
    """The training log records of the run in ``work_dir`` (``vis_data/scalars.json``)."""
    (path,) = glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))
    with open(path) as f:
        records = [json.loads(line) for line in f]
    return [r for r in records if 'loss' in r]


@pytest.fixture(autouse=True)
def mmpretrain_scope():
    """Build in mmpretrain's scope, whatever default scope an earlier test left (e.g. mmpose)."""
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        yield


@pytest.fixture(scope='module')
def work_root(tmp_path_factory):
    return str(tmp_path_factory.mktemp('digits_recipes'))


@pytest.fixture(scope='module')
def teacher34(work_root):
    return train_and_test(TEACHER34, work_root)


# ---------------------------------------------------------------------------------------------
# Training on real digits through the tools


@pytest.mark.parametrize(
    'name,floor',
    [
        ('resnet18-bbc_1xb128-12e_digits-32px', 0.80),  # measured 0.933
        ('resnet18-bbc-linear_1xb128-12e_digits-32px', 0.75),  # measured 0.892
        ('resnet18-adabin_1xb128-12e_digits-32px', 0.85),  # measured 0.950
        ('resnet18-self-binarizing_1xb128-12e_digits-32px', 0.40),  # measured 0.597
        ('resnet18-latent-weight_1xb128-12e_digits-32px', 0.75),  # measured 0.883
        ('resnet20-adabin_1xb128-12e_digits-8px', 0.80),  # measured 0.947
        ('resnet20-bbc_1xb128-12e_digits-8px', 0.80),  # measured 0.950
    ],
)
def test_tiny_recipe_learns_real_digits(name, floor, tmp_path):
    accuracy, _, scalars = train_and_test(name, str(tmp_path))
    print(f'{name}: held-out accuracy {accuracy:.3f}')
    assert accuracy >= floor
    first, last = scalars[0], scalars[-1]
    assert last['loss'] < first['loss']
    cfg = Config.fromfile(config_path(name))
    epochs = cfg.train_cfg.max_epochs
    for hook in cfg.get('custom_hooks', []):  # EDE's t / tanh's nu reached their last epoch
        if hook['type'] == 'BinarizerScheduleHook':
            expected = hook['start'] * (hook['end'] / hook['start']) ** ((epochs - 1) / epochs)
            assert last[f'binarizer_{hook["param"]}'] == pytest.approx(expected, rel=1e-4)
    if cfg.model.type == 'LatentWeightClassifier':
        assert {'loss_latent', 'loss_mimic'} <= set(last)


def test_real_teacher_learns_real_digits(teacher34):
    accuracy, checkpoint, _ = teacher34
    assert accuracy >= 0.90  # measured 0.972
    assert osp.isfile(checkpoint)


def test_distilled_bbc_student_learns_real_digits(teacher34, work_root):
    """BBC's recipe: 0.9 soft-target CE from the trained real ResNet-34 + 0.1 CE."""
    _, teacher_checkpoint, _ = teacher34
    name = 'resnet18-bbc_kd-res34-1xb128-12e_digits-32px'
    accuracy, checkpoint, scalars = train_and_test(
        name, work_root, [f'model.teacher_checkpoint={teacher_checkpoint}']
    )
    print(f'{name}: held-out accuracy {accuracy:.3f}')
    assert accuracy >= 0.80  # measured 0.917
    assert {'loss_soft', 'loss_hard'} <= set(scalars[-1])
    # the checkpoint holds the student only: it loads strictly into the plain config's model
    state = torch.load(checkpoint, map_location='cpu', weights_only=False)['state_dict']
    assert not any(key.startswith('teacher') or '_teacher' in key for key in state)


# ---------------------------------------------------------------------------------------------
# Every recipe has a tiny variant with the same logic


def recipe_names():
    names = []
    for folder in ('bbc', 'adabin', 'self_binarizing', 'latent_weight'):
        for path in sorted(glob.glob(osp.join(ROOT, 'configs', folder, '*.py'))):
            names.append(f'{folder}/{osp.splitext(osp.basename(path))[0]}')
    return names


def test_every_recipe_has_a_tiny_variant():
    assert sorted(recipe_names()) == sorted(FULL_RECIPES.values())
    tiny = {osp.splitext(osp.basename(p))[0] for p in glob.glob(osp.join(DIGITS, '*.py'))}
    assert tiny == set(FULL_RECIPES) | set(TEACHERS)


def without_scope(cfg):
    """A plain copy of a config dict without the ``_scope_`` tags of ``'pkg::'`` bases."""
    if isinstance(cfg, dict):
        return {k: without_scope(v) for k, v in cfg.items() if k != '_scope_'}
    if isinstance(cfg, (list, tuple)):
        return type(cfg)(without_scope(v) for v in cfg)
    return cfg


def comparable_model(model):
    """The model config without what a tiny variant may change (widths, classes, teacher)."""
    model = without_scope(model)
    for key in ('teacher_config', 'teacher_checkpoint', 'data_preprocessor'):
        model.pop(key, None)
    for key in ('stem_channels', 'base_channels'):
        model['backbone'].pop(key, None)
    for key in ('num_classes', 'in_channels', 'topk'):
        model['head'].pop(key, None)
    necks = model.get('neck')
    for neck in necks if isinstance(necks, list) else [necks]:
        if isinstance(neck, dict):
            neck.pop('input_features', None)
    return model


def comparable_scheduler(scheduler, epochs, tiny_epochs):
    """A scheduler config with its epoch counts scaled to a run of ``tiny_epochs``."""
    scheduler = without_scope(scheduler)
    inner = scheduler.get('scheduler', scheduler)
    if 'milestones' in inner:
        inner['milestones'] = [round(m * tiny_epochs / epochs) for m in inner['milestones']]
    if inner.get('type') == 'LinearLR':  # decay to 0: lr * (1 - e / epochs) in epoch e
        assert inner['end_factor'] == pytest.approx(1 / epochs)
        inner.pop('end_factor')
    return scheduler


@pytest.mark.parametrize('tiny', sorted(FULL_RECIPES))
def test_tiny_variant_keeps_the_recipe_logic(tiny):
    small = Config.fromfile(config_path(tiny))
    full = Config.fromfile(osp.join(ROOT, 'configs', f'{FULL_RECIPES[tiny]}.py'))
    # model: same classifier, backbone (family, depth, blocks, binarizers, activation), losses
    assert comparable_model(small.model) == comparable_model(full.model)
    assert small.model.head.num_classes == 10
    # optimizer, param groups (the binarizer group), schedules scaled to the tiny run, hooks
    small_optim, full_optim = small.optim_wrapper.to_dict(), full.optim_wrapper.to_dict()
    for key, (full_value, tiny_value) in OPTIMIZER_CHANGES.get(tiny, {}).items():
        assert full_optim['optimizer'].pop(key) == full_value
        assert small_optim['optimizer'].pop(key) == tiny_value
    assert small_optim == full_optim
    schedules, tiny_epochs = [], small.train_cfg.max_epochs
    for cfg in (small, full):
        scheduler = cfg.param_scheduler
        scheduler = scheduler if isinstance(scheduler, list) else [scheduler]
        epochs = cfg.train_cfg.max_epochs
        schedules.append([comparable_scheduler(s, epochs, tiny_epochs) for s in scheduler])
    assert schedules[0] == schedules[1]
    assert small.get('custom_hooks', []) == full.get('custom_hooks', [])
    assert bool(small.get('load_from')) == bool(full.get('load_from'))  # AdaBin's step 2
    # the data: the real digits, held-out split for validation and test
    assert small.train_dataloader.dataset.type == 'DigitsDataset'
    assert small.train_dataloader.dataset.split == 'train'
    assert small.test_dataloader.dataset.split == 'test'
    assert small.val_dataloader.dataset.split == 'test'


@pytest.mark.parametrize('teacher', sorted(TEACHERS))
def test_tiny_teacher_is_the_recipe_teacher_scaled_down(teacher):
    small = Config.fromfile(config_path(teacher))
    full = get_config(TEACHERS[teacher])
    assert comparable_model(small.model) == comparable_model(full.model)  # real ResNet, depth
    assert without_scope(small.optim_wrapper) == without_scope(full.optim_wrapper)
    # the teacher sees the student's normalised input (KDImageClassifier checks it too)
    students = [n for n in FULL_RECIPES if f'_kd-res{teacher[6:8]}-' in n]
    assert students
    for student in students:
        assert Config.fromfile(config_path(student)).data_preprocessor == small.data_preprocessor


# ---------------------------------------------------------------------------------------------
# The variants not trained above build and take one training step


def build_with_data(name, tmp_path):
    """The config's model (initialised) and a batch of 8 training images."""
    cfg = Config.fromfile(config_path(name))
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    if 'teacher_config' in model_cfg:  # an untrained teacher's checkpoint is enough to build
        teacher = MODELS.build(Config.fromfile(model_cfg.teacher_config).model)
        model_cfg.teacher_checkpoint = str(tmp_path / 'teacher.pth')
        torch.save({'state_dict': teacher.state_dict()}, model_cfg.teacher_checkpoint)
    model = MODELS.build(model_cfg)
    model.init_weights()
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    batch = pseudo_collate([dataset[i] for i in range(8)])
    return model, batch


@pytest.mark.parametrize(
    'name',
    [
        'resnet34-bbc_1xb128-24e_digits-32px',
        'resnet34-bbc_kd-res34-1xb128-24e_digits-32px',
        'resnet18-bbc-linear_kd-res34-1xb128-12e_digits-32px',
        'resnet34-adabin_1xb128-24e_digits-32px',
        'resnet18-adabin-step1_kd-res34-1xb128-12e_digits-32px',
        'resnet18-adabin-step2_kd-res34-1xb128-12e_digits-32px',
        'resnet34-latent-weight_1xb128-24e_digits-32px',
        'resnet20-bbc-linear_1xb128-12e_digits-8px',
        'resnet20-bbc_kd-res18-1xb128-12e_digits-8px',
        TEACHER18,
    ],
)
def test_untrained_variants_take_a_training_step(name, tmp_path):
    model, batch = build_with_data(name, tmp_path)
    model.train()
    losses = model(**model.data_preprocessor(batch, True), mode='loss')
    total = sum(v for k, v in losses.items() if k.startswith('loss'))
    assert torch.isfinite(total)
    total.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_adabin_step2_loads_step1_strictly(tmp_path):
    """Two-step AdaBin: step 1's checkpoint has exactly step 2's parameters (``load_from``)."""
    step1, _ = build_with_data('resnet18-adabin-step1_kd-res34-1xb128-12e_digits-32px', tmp_path)
    step2, _ = build_with_data('resnet18-adabin-step2_kd-res34-1xb128-12e_digits-32px', tmp_path)
    step2.load_state_dict(step1.state_dict(), strict=True)
    assert step1.backbone.layer1[0].conv1.weight_binarizer is None
    assert type(step2.backbone.layer1[0].conv1.weight_binarizer).__name__ == 'AdaBinWeight'
