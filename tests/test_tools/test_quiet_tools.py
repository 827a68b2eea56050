"""A tool run prints none of the known noise (row 10 of issue 10), and real warnings still show."""

import os
import os.path as osp
import subprocess
import sys
import warnings

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
NOISE = [
    'pkg_resources is deprecated',
    '"FileClient" will be deprecated',
    '"HardDiskBackend" is the alias',
    'The metainfo config file',
    'Failed to search registry with scope',
]


def test_pose_training_run_prints_no_known_noise(tmp_path, coco_tiny):
    config = osp.join(ROOT, 'configs/coco_tiny/td-hm_sbpn-bireal18_1xb4-60e_coco-tiny-256x192.py')
    cmd = [sys.executable, osp.join(ROOT, 'tools', 'train.py'), config, '--no-validate']
    cmd += ['--work-dir', str(tmp_path / 'w'), '--cfg-options', 'train_cfg.max_epochs=1']
    cmd += ['train_dataloader.dataset.indices=4']
    env = dict(os.environ, MMBINARY_COCO_TINY=coco_tiny + '/', OMP_NUM_THREADS='1')
    proc = subprocess.run(cmd, cwd=str(tmp_path), env=env, capture_output=True, text=True)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert 'Checkpoints will be saved' in out and 'Epoch(train)' in out  # it did log
    assert [n for n in NOISE if n in out] == []


def test_filters_are_precise():
    import mmbinary  # noqa: F401  (installs the filters)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        from mmbinary import compat

        compat.patch_known_noise()  # the filters, inside this recording context
        warnings.warn('pkg_resources is deprecated as an API. See ...', UserWarning, stacklevel=1)
        warnings.warn('pkg_resources is in use', UserWarning, stacklevel=1)
        warnings.warn('a real deprecation', DeprecationWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ['pkg_resources is in use', 'a real deprecation']
    from mmengine.logging import MMLogger

    logger = MMLogger.get_instance('quiet_test')
    record = logger.makeRecord(
        'x', 30, __file__, 1, '"FileClient" will be deprecated in future', (), None
    )
    assert not all(f.filter(record) for f in logger.filters)
    record = logger.makeRecord('x', 30, __file__, 1, 'FileClient is fine', (), None)
    assert all(f.filter(record) for f in logger.filters)
