"""Two-process training on CPU (torchrun, gloo) through tools/dist_train.sh, BBC and pose.

Both ranks must end with identical parameters (the shared BBC MLP included, trained in its own
optimizer group) and identical BN buffers (averaged over the ranks after every epoch by the
configs' ``SyncBuffersHook``, see ``mmbinary/utils/dist.py``), and the checkpoint must equal a
re-run's with the same seed.
"""

import os
import os.path as osp
import socket
import subprocess
import sys

import pytest
import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

BBC = """
_base_ = [{base!r}]
custom_imports = dict(imports=['mmbinary', 'tests.test_tools.rank_state_hook'])
train_dataloader = dict(batch_size=8, dataset=dict(indices=32))  # 2 iterations per epoch
train_cfg = dict(max_epochs=2, val_interval=100)
default_hooks = dict(checkpoint=dict(interval=2), logger=dict(interval=1))
custom_hooks = {hooks!r}
"""
POSE = """
_base_ = [{base!r}]
custom_imports = dict(imports=['mmbinary', 'tests.test_tools.rank_state_hook'])
data_root = {data_root!r}
train_dataloader = dict(batch_size=2, dataset=dict(data_root=data_root, indices=8))
val_dataloader = dict(dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'test_coco.json')
test_evaluator = val_evaluator
train_cfg = dict(max_epochs=1, val_interval=100)
default_hooks = dict(checkpoint=dict(interval=1), logger=dict(interval=1))
custom_hooks = {hooks!r}
"""


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _dist_train(config, work_dir, script='dist_train.sh', checkpoint=()):
    env = dict(os.environ, PYTHON=sys.executable, PORT=str(_free_port()), OMP_NUM_THREADS='1')
    env['PYTHONPATH'] = ROOT + os.pathsep + env.get('PYTHONPATH', '')
    cmd = ['bash', osp.join(ROOT, 'tools', script), str(config), *checkpoint, '2']
    cmd += ['--work-dir', str(work_dir)]
    proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    return proc.stdout + proc.stderr


def _states(work_dir):
    return [torch.load(osp.join(work_dir, f'rank{r}.pth'), weights_only=True) for r in (0, 1)]


def _assert_identical(a, b):
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, different[:5]


def _hooks(base, drop=()):
    """The config's own custom_hooks (minus ``drop``) and the rank-state dump."""
    from mmengine.config import Config

    hooks = [h.to_dict() for h in Config.fromfile(base).custom_hooks if h['type'] not in drop]
    assert {'SyncBuffersHook', 'NonFiniteCheckHook'} <= {h['type'] for h in hooks}
    return hooks + [dict(type='DumpRankStateHook')]


def _run_twice_and_compare(tmp_path, text, checkpoint):
    config = tmp_path / 'cfg.py'
    config.write_text(text)
    log = _dist_train(config, tmp_path / 'a')
    assert 'Distributed training: True' in log, log[-3000:]
    rank0, rank1 = _states(tmp_path / 'a')
    _assert_identical(rank0, rank1)  # parameters and BN buffers
    _dist_train(config, tmp_path / 'b')
    a = torch.load(tmp_path / 'a' / checkpoint, weights_only=False)
    b = torch.load(tmp_path / 'b' / checkpoint, weights_only=False)
    _assert_identical(a['state_dict'], b['state_dict'])  # same seed, same checkpoint
    _assert_identical(a['state_dict'], rank0)
    return a, rank0


def test_two_process_cpu_training_bbc_shared_mlp(tmp_path):
    base = osp.join(ROOT, 'configs/digits/resnet18-bbc_1xb128-12e_digits-32px.py')
    ckpt, rank0 = _run_twice_and_compare(
        tmp_path, BBC.format(base=base, hooks=_hooks(base)), 'epoch_2.pth'
    )
    mlp = [k for k in rank0 if 'binarizer' in k and 'mlp' in k.lower()]
    assert mlp, 'no shared MLP weights in the state dict'
    groups = ckpt['optimizer']['param_groups']
    binarizer = [g for g in groups if g.get('name') == 'binarizer']
    assert len(binarizer) == 1 and binarizer[0]['initial_lr'] == 1e-3  # the MLP's own group
    moments = [ckpt['optimizer']['state'][i]['exp_avg'] for i in binarizer[0]['params']]
    assert all(m.abs().sum() > 0 for m in moments)  # ... and it received gradients
    # tools/test.py under torchrun on CPU: strict loading into the DDP-wrapped model, gloo
    # collection of the results
    ckpt = str(tmp_path / 'a' / 'epoch_2.pth')
    log = _dist_train(tmp_path / 'cfg.py', tmp_path / 't', 'dist_test.sh', checkpoint=[ckpt])
    assert 'Epoch(test) [1/1]    accuracy/top1:' in log


def test_two_process_cpu_training_pose(tmp_path, coco_tiny):
    base = osp.join(ROOT, 'configs/coco_tiny/td-hm_sbpn-bireal18_1xb4-60e_coco-tiny-256x192.py')
    hooks = _hooks(base, drop=('ValidateBeforeTrainHook',))
    text = POSE.format(base=base, data_root=coco_tiny + '/', hooks=hooks)
    _, rank0 = _run_twice_and_compare(tmp_path, text, 'epoch_1.pth')
    assert any(k.endswith('running_mean') for k in rank0)


@pytest.mark.parametrize('script', ['dist_train.sh', 'dist_test.sh', 'slurm_train.sh'])
def test_launch_scripts_use_the_python_variable(script):
    with open(osp.join(ROOT, 'tools', script)) as f:
        text = f.read()
    assert '"${PYTHON:-python}"' in text
    assert '\npython ' not in text and ' python -u' not in text
