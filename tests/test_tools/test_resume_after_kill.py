"""``kill -9`` during training, then ``--resume``: the result is bit-exact (BBC and pose).

A reference run trains 2 epochs. A second run is killed with SIGKILL as soon as its epoch-1
checkpoint is recorded in ``last_checkpoint``, then resumed with ``--resume``: its epoch-2
checkpoint (weights, BBC MLP, BN buffers, optimizer state) must equal the reference's exactly.
"""

import os
import os.path as osp
import signal
import subprocess
import sys
import time

import pytest
import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CASES = {
    'bbc': (
        'configs/digits/resnet18-bbc_1xb128-12e_digits-32px.py',
        ['train_dataloader.batch_size=8', 'train_dataloader.dataset.indices=24'],
    ),
    'pose': (
        'configs/coco_tiny/td-hm_sbpn-bireal18_1xb4-60e_coco-tiny-256x192.py',
        ['train_dataloader.dataset.indices=8'],
    ),
}


def _cmd(config, options, work_dir, resume=False):
    cmd = [sys.executable, osp.join(ROOT, 'tools', 'train.py'), osp.join(ROOT, config)]
    cmd += ['--work-dir', str(work_dir), '--no-validate'] + (['--resume'] if resume else [])
    cmd += ['--cfg-options', 'train_cfg.max_epochs=2', 'default_hooks.checkpoint.interval=1']
    return cmd + options


def _run(cmd, env):
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]


def _equal(a, b, where=''):
    if torch.is_tensor(a):
        assert torch.equal(a, b), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            _equal(a[k], b[k], f'{where}.{k}')
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _equal(x, y, f'{where}[{i}]')
    else:
        assert a == b, where


@pytest.mark.parametrize('case', sorted(CASES))
def test_resume_after_kill_is_bit_exact(case, tmp_path, shared_data):
    config, options = CASES[case]
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=ROOT)
    env['MMBINARY_COCO_TINY'] = osp.join(shared_data, 'coco_tiny') + '/'
    _run(_cmd(config, options, tmp_path / 'ref'), env)

    work = tmp_path / 'killed'
    proc = subprocess.Popen(
        _cmd(config, options, work), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    marker = work / 'last_checkpoint'
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None:
        if marker.exists() and marker.read_text().endswith('epoch_1.pth'):
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.01)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, 'the run ended before it could be killed'
    assert not (work / 'epoch_2.pth').exists()
    _run(_cmd(config, options, work, resume=True), env)

    ref = torch.load(tmp_path / 'ref' / 'epoch_2.pth', weights_only=False)
    resumed = torch.load(work / 'epoch_2.pth', weights_only=False)
    _equal(ref['state_dict'], resumed['state_dict'], 'state_dict')
    _equal(ref['optimizer'], resumed['optimizer'], 'optimizer')
    assert ref['meta']['epoch'] == resumed['meta']['epoch'] == 2
