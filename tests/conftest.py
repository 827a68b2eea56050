import os.path as osp

import pytest
import torch
from mmengine.registry import DefaultScope

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
