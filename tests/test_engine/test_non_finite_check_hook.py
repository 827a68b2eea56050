"""NonFiniteCheckHook: a NaN stops training with one clear error; no non-finite weights saved."""

import ast
import glob
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.hooks import Hook

from mmbinary.engine import NonFiniteCheckHook, NonFiniteLossError
from tests.test_engine.conftest import ToyDataset

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


class NaNAtDataset(ToyDataset):
    """ToyDataset whose samples ``bad`` are NaN: with batch 4, sample 9 spoils iteration 3."""

    def __init__(self, bad=(9,)):
        super().__init__()
        for i in bad:
            self.x[i] = float('nan')


def _finite(module):
    return all(bool(torch.isfinite(t).all()) for t in module.state_dict().values())


def _make(make_runner, dataset, max_epochs=2, **hook):
    runner = make_runner(
        max_epochs=max_epochs,
        custom_hooks=[dict(type='NonFiniteCheckHook', **hook)],
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1)),
    )
    runner._train_dataloader['dataset'] = dataset
    return runner


def test_nan_loss_stops_with_one_clear_error_and_weights_stay_finite(make_runner, tmp_path):
    # 16 samples, batch 4, no shuffle: sample 9 is in iteration 3, before the first checkpoint.
    runner = _make(make_runner, NaNAtDataset(bad=(9,)), max_epochs=3)
    with pytest.raises(NonFiniteLossError) as info:
        runner.train()
    message = str(info.value)
    assert 'iteration 3 (epoch 1)' in message
    assert 'loss=nan' in message
    assert 'Last good checkpoint: none saved yet' in message
    assert _finite(runner.model)  # the bad step was not applied
    assert not glob.glob(str(tmp_path / '*.pth'))


def test_last_good_checkpoint_is_named_and_every_saved_checkpoint_is_finite(make_runner, tmp_path):
    class NaNInEpoch2(ToyDataset):
        def __getitem__(self, i):
            item = super().__getitem__(i)
            if NaNInEpoch2.epoch == 2 and i == 5:
                item = dict(inputs=item['inputs'] * float('nan'), labels=item['labels'])
            return item

    NaNInEpoch2.epoch = 1

    class EpochMark(Hook):
        def before_train_epoch(self, runner):
            NaNInEpoch2.epoch = runner.epoch + 1

    runner = _make(make_runner, NaNInEpoch2(), max_epochs=3)
    runner.register_hook(EpochMark(), 'LOW')
    with pytest.raises(NonFiniteLossError, match=r'iteration 6 \(epoch 2\).*epoch_1\.pth'):
        runner.train()
    saved = sorted(glob.glob(str(tmp_path / '*.pth')))
    assert [osp.basename(p) for p in saved] == ['epoch_1.pth']
    state = torch.load(saved[0], weights_only=False)['state_dict']
    assert all(bool(torch.isfinite(v).all()) for v in state.values() if v.is_floating_point())


def test_max_skips_skips_and_counts_without_touching_the_weights(make_runner):
    runner = _make(make_runner, NaNAtDataset(bad=(9,)), max_epochs=1, max_skips=2)
    seen = {}

    class Spy(Hook):  # the weights before and after the bad iteration 3
        def before_train_iter(self, runner, batch_idx, data_batch=None):
            if batch_idx == 2:
                seen['before'] = {k: v.clone() for k, v in runner.model.state_dict().items()}

        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
            if batch_idx == 2:
                seen['after'] = {k: v.clone() for k, v in runner.model.state_dict().items()}

    runner.register_hook(Spy(), 'LOWEST')
    runner.train()
    hook = next(h for h in runner.hooks if type(h) is NonFiniteCheckHook)
    assert hook.skipped == 1
    assert _finite(runner.model)
    params = dict(runner.model.named_parameters())
    for key in params:  # a skipped step leaves every parameter exactly as it was
        assert torch.equal(seen['before'][key], seen['after'][key]), key


def test_refuses_to_save_a_checkpoint_with_non_finite_weights(make_runner):
    runner = _make(make_runner, ToyDataset(), max_epochs=1)
    runner.train()
    with torch.no_grad():
        next(runner.model.parameters())[0] = float('inf')
    with pytest.raises(NonFiniteLossError, match='refusing to save.*1 tensors are not finite'):
        runner.save_checkpoint(runner.work_dir, 'bad.pth')
    assert not osp.exists(osp.join(runner.work_dir, 'bad.pth'))


def test_bad_max_skips_is_rejected():
    with pytest.raises(ValueError, match=r'max_skips must be an int >= 0, got -1'):
        NonFiniteCheckHook(max_skips=-1)


def _custom_hooks_source(path):
    """The ``custom_hooks`` a config ends up with: its own assignment or its first base's.

    Parsed statically (``Config.fromfile`` of all configs takes a minute); bases outside the
    repository (``mmpose::`` / ``mmpretrain::``) give None.
    """
    with open(path) as f:
        tree = ast.parse(f.read())
    bases = []
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            if node.targets[0].id == 'custom_hooks':
                return ast.unparse(node.value)
            if node.targets[0].id == '_base_':
                bases = [e.value for e in node.value.elts]
    local = [b for b in bases if '::' not in b]
    return _custom_hooks_source(osp.join(osp.dirname(path), local[0])) if local else None


def test_every_mmbinary_config_has_the_hook():
    paths = sorted(glob.glob(osp.join(ROOT, 'configs', '*', '*.py')))
    assert len(paths) > 50
    missing = [
        osp.relpath(p, ROOT)
        for p in paths
        if "dict(type='NonFiniteCheckHook')" not in (_custom_hooks_source(p) or '')
    ]
    assert not missing


def test_config_hook_check_agrees_with_mmengine():
    from mmengine.config import Config

    path = osp.join(ROOT, 'configs/coco_tiny/td-hm_bhrnet-w32_1xb4-60e_coco-tiny-256x192.py')
    hooks = [h['type'] for h in Config.fromfile(path).custom_hooks]
    assert 'NonFiniteCheckHook' in hooks and 'NonFiniteCheckHook' in _custom_hooks_source(path)


def test_train_tool_exits_non_zero_on_nan(tmp_path):
    """Row 1 of issue 10: lr=1e10 on the digits BBC config ran to the end with NaN weights."""
    work = tmp_path / 'work'
    cmd = [
        sys.executable,
        osp.join(ROOT, 'tools', 'train.py'),
        osp.join(ROOT, 'configs/digits/resnet18-bbc_1xb128-12e_digits-32px.py'),
        '--work-dir', str(work),
        '--cfg-options', 'optim_wrapper.optimizer.lr=1e10', 'train_cfg.max_epochs=2',
        'train_dataloader.batch_size=16', 'train_dataloader.dataset.indices=64',
        'default_hooks.checkpoint.interval=1', 'train_cfg.val_interval=100',
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=str(tmp_path), timeout=300)
    assert proc.returncode == 3, proc.stderr[-3000:]
    assert 'non-finite loss or gradient at iteration' in proc.stdout + proc.stderr
    for path in glob.glob(str(work / '*.pth')):
        state = torch.load(path, weights_only=False)['state_dict']
        assert all(bool(torch.isfinite(v).all()) for v in state.values() if v.is_floating_point())
