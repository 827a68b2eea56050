import fcntl
import glob
import hashlib
import json
import os
import os.path as osp
import shutil
import sys
import tempfile

import pytest
import torch
from mmengine.registry import DefaultScope

# mmbinary first: it applies the compat fixes (mmcv-lite's missing mmcv._ext) that importing
# mmpose.models at the top of the test modules needs.
import mmbinary  # noqa: F401, I001
from mmbinary.utils import restore_mmengine_globals, snapshot_mmengine_globals  # noqa: I001

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
SHARED_DATA = osp.join(osp.dirname(ROOT), 'shared', 'data')
TEST_CACHE = osp.join(ROOT, '.cache', 'tests')


def pytest_configure(config):
    # One intra-op thread: on a busy 2-core machine two threads make the binary networks' steps
    # 20-30x slower (measured here: an SBPN-18 step at 256x192, batch 4, takes 0.5 s on an idle
    # machine and 17 s with two threads at load 6), one thread stays within 2x of the idle time.
    torch.set_num_threads(1)


def _restore_mmengine_globals():
    saved = snapshot_mmengine_globals()
    yield
    restore_mmengine_globals(saved)


# A runner, ``init_default_scope`` or a tool's ``main`` sets MMEngine's global default scope
# (``mmpose`` or ``mmpretrain``) and registers its visualizer and message hub by name; without
# these resets, a later test that builds from the other scope passes or fails depending on the
# order the tests run in, and a later runner logs into an earlier run's ``vis_data`` (MMPose's
# configs all name their visualizer ``'visualizer'``). Every module, and every test, leaves
# MMEngine's named instances as it found them (the module-level reset covers module fixtures,
# which are set up before a test's own reset takes its snapshot).
isolated_globals = pytest.fixture(autouse=True)(_restore_mmengine_globals)
isolated_module_globals = pytest.fixture(autouse=True, scope='module')(_restore_mmengine_globals)


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


def _sources_key(*extra_files) -> str:
    """A hash of everything a training run depends on here: mmbinary, the configs, the tools."""
    digest = hashlib.sha1()
    files = sorted(
        glob.glob(osp.join(ROOT, 'mmbinary', '**', '*.py'), recursive=True)
        + glob.glob(osp.join(ROOT, 'configs', '**', '*.py'), recursive=True)
        + glob.glob(osp.join(ROOT, 'tools', '**', '*.py'), recursive=True)
        + list(extra_files)
    )
    for path in files:
        digest.update(osp.relpath(path, ROOT).encode())
        with open(path, 'rb') as f:
            digest.update(f.read())
    return digest.hexdigest()[:16]


@pytest.fixture(scope='session')
def coco_tiny_sbpn18(coco_tiny):
    """A binary SBPN-18 overfitted on the real coco_tiny images through ``tools/train.py``.

    Trained once (60 epochs, about 100 s on one thread) and shared by every test that needs a
    trained pose model (the overfit curve, the inferencer, deploy, the demo). ``make test`` runs
    two pytest processes (and pytest-xdist workers): the run is kept in ``.cache/tests/``, keyed
    by a hash of mmbinary, the configs, the tools and the data, so the second process reuses the
    training the first one did (a file lock keeps two workers from training at once). Returns
    ``dict(config=..., checkpoint=..., curve=[(epoch, AP), ...], seconds=...)``.
    """
    config = osp.join(ROOT, 'configs/coco_tiny/td-hm_sbpn-bireal18_1xb4-60e_coco-tiny-256x192.py')
    data = sorted(glob.glob(osp.join(coco_tiny, '*.json')))
    cache = osp.join(TEST_CACHE, f'coco_tiny_sbpn18-{_sources_key(*data)}')
    os.makedirs(TEST_CACHE, exist_ok=True)
    with open(osp.join(TEST_CACHE, 'coco_tiny_sbpn18.lock'), 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not osp.isfile(osp.join(cache, 'result.json')):
            sys.path.insert(0, osp.join(ROOT, 'tools', 'benchmarks'))
            import overfit_coco_tiny

            work_dir = tempfile.mkdtemp(dir=TEST_CACHE, prefix='.training-')
            try:  # overfit() leaves MMEngine's globals as it found them (runs before the resets)
                curve, seconds, checkpoint = overfit_coco_tiny.overfit(
                    'sbpn18', epochs=60, interval=30, data_root=coco_tiny, work_dir=work_dir
                )
            except BaseException:
                shutil.rmtree(work_dir, ignore_errors=True)
                raise
            result = dict(curve=curve, seconds=seconds, checkpoint=osp.basename(checkpoint))
            with open(osp.join(work_dir, 'result.json'), 'w') as f:
                json.dump(result, f)
            os.replace(work_dir, cache)  # complete or absent, never half-written
            print(f'coco_tiny SBPN-18 AP curve {curve} in {seconds:.0f} s')
        with open(osp.join(cache, 'result.json')) as f:
            result = json.load(f)
    return dict(
        config=config,
        checkpoint=osp.join(cache, result['checkpoint']),
        curve=[tuple(point) for point in result['curve']],
        seconds=result['seconds'],
    )


def pytest_collection_modifyitems(config, items):
    """pytest-xdist (``-n 2 --dist loadgroup``): tests that share a module-scoped fixture of their
    own module stay on one worker (it is set up once), every module with a test of the trained
    SBPN-18 goes to one worker (it trains once, then the others reuse it), and every other test
    is distributed on its own."""

    def module(item):
        return getattr(item.module, '__name__', item.nodeid.split('::')[0])

    def shared_fixtures(item):
        own = item.nodeid.split('::')[0]
        return sorted(
            name
            for name, defs in item._fixtureinfo.name2fixturedefs.items()
            if defs and defs[-1].scope in ('module', 'class') and defs[-1].baseid == own
        )

    trained = {module(item) for item in items if 'coco_tiny_sbpn18' in item.fixturenames}
    for item in items:
        if module(item) in trained:
            item.add_marker(pytest.mark.xdist_group('coco_tiny_sbpn18'))
        elif shared_fixtures(item):
            item.add_marker(
                pytest.mark.xdist_group(f'{module(item)}:{",".join(shared_fixtures(item))}')
            )


@pytest.fixture(scope='module')
def mmpose_scope():
    """Build as MMPose's runner does: default scope ``mmpose`` (data preprocessors, codecs).

    Used by the pose tests: ``pytestmark = pytest.mark.usefixtures('mmpose_scope')``.
    """
    with DefaultScope.overwrite_default_scope('mmpose'):
        yield
