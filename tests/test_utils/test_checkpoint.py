"""Checkpoints are loaded safely, written atomically, and refused when they do not match."""

import os
import os.path as osp
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch
from mmengine.fileio import get_file_backend
from mmengine.logging import HistoryBuffer, MessageHub
from mmengine.runner.checkpoint import _load_checkpoint, save_checkpoint
from torch import nn

from mmbinary.utils import (
    AtomicLocalBackend,
    CheckpointMismatchError,
    UnsafeCheckpointError,
    check_state_dict,
    load_checkpoint_strict,
    safe_torch_load,
)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


class WritesAFile:
    """Unpickling this calls ``open(path, 'w')``: the file exists only if the pickle ran code."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, 'w'))


class ReachesGetattr:
    """Unpickling this calls ``getattr(HistoryBuffer, '__init__')`` (not a statistic)."""

    def __reduce__(self):
        return (getattr, (HistoryBuffer, '__init__'))


def _mmengine_checkpoint(path):
    hub = MessageHub.get_instance('test_checkpoint')
    hub.update_scalar('train/loss', 0.5)
    hub.update_info('last_ckpt', 'epoch_1.pth')
    meta = dict(epoch=np.int64(3), seed=np.int32(7), hist=np.arange(3), dtype=np.dtype('float32'))
    save_checkpoint(
        dict(meta=meta, state_dict=nn.Linear(2, 3).state_dict(), message_hub=hub.state_dict()),
        str(path),
    )


def test_mmengine_checkpoint_loads_with_weights_only(tmp_path):
    path = tmp_path / 'epoch_1.pth'
    _mmengine_checkpoint(path)
    ckpt = _load_checkpoint(str(path), map_location='cpu')  # mmengine's loader, as the runner
    assert int(ckpt['meta']['epoch']) == 3 and ckpt['meta']['hist'].tolist() == [0, 1, 2]
    buffer = ckpt['message_hub']['log_scalars']['train/loss']
    assert isinstance(buffer, HistoryBuffer) and buffer.mean() == 0.5
    assert ckpt['state_dict']['weight'].shape == (3, 2)


def test_crafted_pickle_does_not_run_and_names_the_type_and_opt_in(tmp_path):
    marker = tmp_path / 'executed'
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'payload': WritesAFile(str(marker))}, path)
    with pytest.raises(
        UnsafeCheckpointError, match=r'needs io\.open to load.*MMBINARY_TRUST_CHECKPOINTS'
    ):
        _load_checkpoint(str(path), map_location='cpu')
    assert not marker.exists()
    torch.save({'payload': ReachesGetattr()}, path)
    with pytest.raises(UnsafeCheckpointError, match=r"getattr\(.*'__init__'\)"):
        safe_torch_load(str(path))


def test_trusted_opt_in_loads_with_full_unpickling(tmp_path, monkeypatch):
    marker = tmp_path / 'executed'
    path = tmp_path / 'evil.pth'
    torch.save({'payload': WritesAFile(str(marker))}, path)
    monkeypatch.setenv('MMBINARY_TRUST_CHECKPOINTS', '1')
    safe_torch_load(str(path))
    assert marker.exists()  # the opt-in really is "I trust this file"


def test_local_backend_is_atomic(tmp_path):
    backend = get_file_backend(str(tmp_path / 'x.pth'))
    assert isinstance(backend, AtomicLocalBackend)
    backend.put(b'abc', str(tmp_path / 'a' / 'x.pth'))
    backend.put_text('epoch_1.pth', str(tmp_path / 'last_checkpoint'))
    assert (tmp_path / 'a' / 'x.pth').read_bytes() == b'abc'
    assert sorted(os.listdir(tmp_path)) == ['a', 'last_checkpoint']


def test_failed_write_leaves_no_file(tmp_path, monkeypatch):
    def fail(fd):
        raise OSError('disk full')

    monkeypatch.setattr(os, 'fsync', fail)
    with pytest.raises(OSError, match='disk full'):
        AtomicLocalBackend().put(b'abc', str(tmp_path / 'x.pth'))
    assert os.listdir(tmp_path) == []


SAVER = textwrap.dedent(
    """
    import sys, torch
    sys.path.insert(0, {root!r})
    import mmbinary  # noqa: F401  (installs the atomic backend, as in every tool)
    from mmengine.runner.checkpoint import save_checkpoint

    state = dict(state_dict=dict(w=torch.randn(48 * 2 ** 20)))  # 192 MB of float32
    save_checkpoint(state, sys.argv[1] + '/epoch_1.pth')
    print('saved', flush=True)
    while True:
        save_checkpoint(state, sys.argv[1] + '/epoch_2.pth')
    """
)


def test_kill_mid_save_leaves_only_complete_checkpoints(tmp_path):
    script = tmp_path / 'saver.py'
    script.write_text(SAVER.format(root=ROOT))
    out = tmp_path / 'ckpts'
    out.mkdir()
    proc = subprocess.Popen([sys.executable, str(script), str(out)], stdout=subprocess.PIPE)
    try:
        assert proc.stdout.readline().strip() == b'saved'
        deadline = time.time() + 120
        while time.time() < deadline:  # wait until the second file is being written
            writing = [e for e in os.scandir(out) if e.name != 'epoch_1.pth' and e.stat().st_size]
            if writing:
                break
            time.sleep(0.001)
        assert writing, 'the second save never started'
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    for entry in os.scandir(out):  # every file under a checkpoint's name is complete
        if entry.name.endswith('.pth'):
            assert safe_torch_load(entry.path)['state_dict']['w'].numel() == 48 * 2**20
    assert osp.exists(out / 'epoch_1.pth')


def test_check_state_dict_names_first_keys_and_counts():
    model = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 4))
    other = nn.Sequential(nn.Linear(2, 5), nn.Linear(5, 4), nn.Linear(4, 1)).state_dict()
    del other['0.bias']
    report, message = check_state_dict(model, {'module.' + k: v for k, v in other.items()})
    assert report['missing'] == ['0.bias']
    assert report['unexpected'] == ['2.weight', '2.bias']
    assert [k for k, _, _ in report['mismatched']] == ['0.weight', '1.weight']
    assert message == (
        '1 missing keys (first: 0.bias); 2 unexpected keys (first: 2.weight, 2.bias); '
        '2 shape mismatches (first: 0.weight: checkpoint [5, 2] vs model [3, 2], '
        '1.weight: checkpoint [4, 5] vs model [4, 3])'
    )
    assert check_state_dict(model, model.state_dict()) == (
        dict(missing=[], unexpected=[], mismatched=[]),
        '',
    )


def test_load_checkpoint_strict_refuses_then_non_strict_loads_matching(tmp_path):
    path = tmp_path / 'other.pth'
    source = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 5))
    torch.save({'state_dict': source.state_dict()}, path)
    model = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 4))
    with pytest.raises(CheckpointMismatchError, match=r'2 shape mismatches.*--non-strict'):
        load_checkpoint_strict(model, str(path))
    load_checkpoint_strict(model, str(path), strict=False)
    assert torch.equal(model[0].weight, source[0].weight)  # the matching tensors are loaded
    assert not torch.equal(model[1].bias[:4], source[1].bias[:4])  # the others are not
