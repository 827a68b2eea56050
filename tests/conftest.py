import os.path as osp
import sys

import pytest
import torch
from mmengine.registry import DefaultScope

# mmbinary first: it applies the compat fixes (mmcv-lite's missing mmcv._ext) that importing
# mmpose.models at the top of the test modules needs.
import mmbinary  # noqa: F401, I001

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
SHARED_DATA = osp.join(osp.dirname(ROOT), 'shared', 'data')


def pytest_configure(config):
    # One intra-op thread: on a busy 2-core machine two threads make the binary networks' steps
    # 20-30x slower (measured here: an SBPN-18 step at 256x192, batch 4, takes 0.5 s on an idle
    # machine and 17 s with two threads at load 6), one thread stays within 2x of the idle time.
    torch.set_num_threads(1)


def _restore_default_scope():
    saved = DefaultScope._instance_dict.copy()
    yield
    DefaultScope._instance_dict = saved


# A runner, ``init_default_scope`` or a tool's ``main`` sets MMEngine's global default scope
# (``mmpose`` or ``mmpretrain``) and keeps it; without these resets, a later test that builds from
# the other scope passes or fails depending on the order the tests run in. Every module, and every
# test, leaves the default scope as it found it (the module-level reset covers module fixtures,
# which are set up before a test's own reset takes its snapshot).
isolated_default_scope = pytest.fixture(autouse=True)(_restore_default_scope)
isolated_module_default_scope = pytest.fixture(autouse=True, scope='module')(_restore_default_scope)


@pytest.fixture(scope='session')
def shared_data():
    """``../shared/data`` beside the clone (real COCO images, a video); CI always has it.

    A fresh clone without it skips the tests that need it, saying why.
    """
    if not osp.isdir(SHARED_DATA):
        pytest.skip(f'needs the real test data at {SHARED_DATA} (see README: Test data)')
    return SHARED_DATA


@pytest.fixture(scope='session')
def coco_tiny(shared_data):
    return osp.join(shared_data, 'coco_tiny')


@pytest.fixture(scope='session')
def coco_tiny_sbpn18(coco_tiny, tmp_path_factory):
    """A binary SBPN-18 overfitted on the real coco_tiny images through ``tools/train.py``.

    Trained once per test session (60 epochs, about 100 s on one thread) and shared by every
    test that needs a trained pose model (the overfit curve, the inferencer, deploy, the demo).
    Returns ``dict(config=..., checkpoint=..., curve=[(epoch, AP), ...], seconds=...)``.
    """
    sys.path.insert(0, osp.join(ROOT, 'tools', 'benchmarks'))
    import overfit_coco_tiny

    work_dir = str(tmp_path_factory.mktemp('coco_tiny_sbpn18'))
    saved = DefaultScope._instance_dict.copy()  # a session fixture runs before the resets
    try:
        curve, seconds, checkpoint = overfit_coco_tiny.overfit(
            'sbpn18', epochs=60, interval=30, data_root=coco_tiny, work_dir=work_dir
        )
    finally:
        DefaultScope._instance_dict = saved
    print(f'coco_tiny SBPN-18 AP curve {curve} in {seconds:.0f} s')
    config = osp.join(ROOT, 'configs/coco_tiny/td-hm_sbpn-bireal18_1xb4-60e_coco-tiny-256x192.py')
    return dict(config=config, checkpoint=checkpoint, curve=curve, seconds=seconds)


@pytest.fixture(scope='module')
def mmpose_scope():
    """Build as MMPose's runner does: default scope ``mmpose`` (data preprocessors, codecs).

    Used by the pose tests: ``pytestmark = pytest.mark.usefixtures('mmpose_scope')``.
    """
    with DefaultScope.overwrite_default_scope('mmpose'):
        yield
