# mmbinary first: it applies the compat fixes (mmcv-lite's missing mmcv._ext) that importing
# mmpose.models at the top of these test modules needs.
import mmbinary  # noqa: F401, I001
import pytest
import torch
from mmengine.registry import DefaultScope


@pytest.fixture(autouse=True, scope='module')
def mmpose_scope():
    """Build as MMPose's runner does: default scope ``mmpose`` (data preprocessors, codecs)."""
    with DefaultScope.overwrite_default_scope('mmpose'):
        yield


@pytest.fixture(autouse=True, scope='module')
def one_thread():
    """One intra-op thread: on a busy 2-core machine, two threads wait on each other at every
    small op (a BHRNet-W48 forward measured 25 s with 2 threads, 0.7 s with 1)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
