import os.path as osp

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
SHARED_DATA = osp.join(osp.dirname(ROOT), 'shared', 'data')


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
