"""``pip install`` of mmbinary into an existing MMPose environment changes nothing that was there.

A second, throw-away virtual environment is built the way a cluster user's MMPose environment
looks: an older torch (2.1.2, the oldest mmbinary claims; PyPI's Linux wheel, a CUDA 12.1 build,
run on the CPU), its torchvision, ``opencv-python``, mmengine 0.10.4, an ``mmcv`` distribution
that is not ``mmcv-lite`` and mmpose 1.3.0 installed ``--no-deps``. Then the clone is installed
with a plain ``pip install`` (not editable, with dependencies, from the package registry), and the
test checks that every distribution of that environment is untouched (same version, same file
hashes and modification times), that no second flavour of mmcv or OpenCV appeared, and that the
installed mmbinary builds a binary SBPN-18 that runs a forward pass and one training iteration on
the real coco_tiny images through MMPose's ``Runner`` (``existing_env_smoke.py``).

The ``mmcv`` there is a **stand-in**: the mmcv-lite 2.1.0 wheel repackaged under the distribution
name ``mmcv`` (same Python files, no compiled ops), because building full mmcv takes 11-12 min on
2 cores. To pip it is exactly what a full ``mmcv==2.1.0`` is: a distribution named ``mmcv`` that
a requirement on ``mmcv-lite`` would install over.

Downloads go to a wheelhouse kept between runs (``$MMBINARY_WHEELHOUSE``, default
``~/.cache/mmbinary/wheelhouse``: about 2.7 GB, mostly torch 2.1.2 and its CUDA libraries); the
environment itself is deleted at the end. The README section "Install into an existing MMPose
environment" lists the same commands.
"""

import base64
import hashlib
import json
import os
import os.path as osp
import shutil
import subprocess
import sys
import time
import zipfile

import pytest

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SMOKE = osp.join(osp.dirname(osp.abspath(__file__)), 'existing_env_smoke.py')

# The user's environment before mmbinary: the oldest versions mmbinary claims (setup.py,
# requirements/mminstall.txt) and an OpenCV older than the lock file's.
CLUSTER_ENV = (
    'torch==2.1.2',
    'torchvision==0.16.2',
    'numpy==1.26.4',
    'opencv-python==4.9.0.80',
    'mmengine==0.10.4',
)
MMCV = '2.1.0'
MMPOSE = 'mmpose==1.3.0'
# Distributions whose versions and files must survive `pip install <clone>` unchanged.
UNTOUCHED = ('torch', 'torchvision', 'numpy', 'opencv-python', 'mmcv', 'mmengine', 'mmpose')
SECOND_FLAVOURS = ('mmcv-lite', 'mmengine-lite', 'opencv-python-headless', 'opencv-contrib-python')

# Run by the second environment's Python: {distribution: {version, files: {path: [sha256,
# size, mtime_ns]}}} for the distributions named on the command line.
FINGERPRINT = """
import hashlib, json, sys
from importlib import metadata
out = {}
for name in sys.argv[1:]:
    dist = metadata.distribution(name)
    files = {}
    for entry in dist.files or ():
        path = entry.locate()
        if path.is_file():
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            stat = path.stat()
            files[str(entry)] = [digest, stat.st_size, stat.st_mtime_ns]
    out[name] = dict(version=dist.version, files=files)
print(json.dumps(out))
"""
LIST = """
import json
from importlib import metadata
print(json.dumps(sorted(d.metadata['Name'].lower() for d in metadata.distributions())))
"""


def mmcv_stand_in(lite_wheel, out_dir):
    """Repackage the mmcv-lite wheel as the distribution ``mmcv`` (the full mmcv's name).

    Args:
        lite_wheel (str): Path of ``mmcv_lite-2.1.0-py2.py3-none-any.whl``.
        out_dir (str): Folder for ``mmcv-2.1.0-py2.py3-none-any.whl``.

    Returns:
        str: Path of the new wheel (its RECORD rewritten with the new hashes).
    """
    old, new = f'mmcv_lite-{MMCV}.dist-info/', f'mmcv-{MMCV}.dist-info/'
    out = osp.join(out_dir, f'mmcv-{MMCV}-py2.py3-none-any.whl')
    records = []
    with zipfile.ZipFile(lite_wheel) as src, zipfile.ZipFile(out + '.tmp', 'w') as dst:
        for info in src.infolist():
            if info.filename == old + 'RECORD':
                continue
            data = src.read(info.filename)
            name = info.filename
            if name.startswith(old):
                name = new + name[len(old) :]
                if name == new + 'METADATA':
                    data = data.replace(b'Name: mmcv-lite\n', b'Name: mmcv\n', 1)
                    assert b'Name: mmcv\n' in data
            dst.writestr(name, data, zipfile.ZIP_DEFLATED)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=')
            records.append(f'{name},sha256={digest.decode()},{len(data)}')
        dst.writestr(new + 'RECORD', '\n'.join([*records, new + 'RECORD,,']) + '\n')
    os.replace(out + '.tmp', out)
    return out


class Steps:
    """Runs the commands of the test one by one, printing each with its duration."""

    def __init__(self, log):
        self.log = log
        self.seconds = {}

    def __call__(self, name, cmd, **kwargs):
        start = time.monotonic()
        print(f'[second env] {name}: {" ".join(cmd)}', flush=True)
        with open(self.log, 'a') as log:
            log.write(f'\n$ {" ".join(cmd)}\n')
            log.flush()
            result = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=log, text=True, **kwargs)
            log.write(result.stdout)
        self.seconds[name] = time.monotonic() - start
        print(f'[second env] {name}: {self.seconds[name]:.0f} s', flush=True)
        if result.returncode:
            with open(self.log) as log:
                tail = log.read()[-4000:]
            pytest.fail(f'{name} failed (exit {result.returncode}); end of {self.log}:\n{tail}')
        return result.stdout


def _copy_clone(dst):
    """The clone's files without build output, so that ``pip install`` leaves the clone clean."""
    ignore = shutil.ignore_patterns(
        '.git', '.venv', 'work_dirs', 'data', 'build', '*.egg-info', '__pycache__', '.*_cache'
    )
    shutil.copytree(ROOT, dst, ignore=ignore)
    return dst


def test_pip_install_into_existing_mmpose_environment(coco_tiny, tmp_path):
    wheelhouse = os.environ.get(
        'MMBINARY_WHEELHOUSE', osp.join(osp.expanduser('~'), '.cache', 'mmbinary', 'wheelhouse')
    )
    os.makedirs(wheelhouse, exist_ok=True)
    venv = str(tmp_path / 'cluster-env')
    python, pip = osp.join(venv, 'bin', 'python'), [osp.join(venv, 'bin', 'python'), '-m', 'pip']
    pip += ['--disable-pip-version-check', '-q']
    env = {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'VIRTUAL_ENV')}
    env['OMP_NUM_THREADS'] = '1'
    steps = Steps(str(tmp_path / 'second-env.log'))
    start = time.monotonic()
    try:
        steps('venv', [sys.executable, '-m', 'venv', venv], env=env)
        # Downloaded once per wheelhouse: the stamp names exactly what was downloaded.
        wanted = [*CLUSTER_ENV, f'mmcv-lite=={MMCV}']
        stamp = osp.join(wheelhouse, '.downloaded-' + '-'.join([*wanted, MMPOSE]))
        if not osp.isfile(stamp):
            steps('download', [*pip, 'download', '-d', wheelhouse, *wanted], env=env)
            mmpose = [*pip, 'download', '--no-deps', '-d', wheelhouse, MMPOSE]
            steps('download mmpose', mmpose, env=env)
            open(stamp, 'w').close()
        mmcv_stand_in(osp.join(wheelhouse, f'mmcv_lite-{MMCV}-py2.py3-none-any.whl'), str(tmp_path))
        # --no-compile: Python writes the .pyc files it needs on import, not all of torch's
        local = ['--no-index', '--find-links', wheelhouse, '--find-links', str(tmp_path)]
        local.append('--no-compile')
        steps('cluster env', [*pip, 'install', *local, *CLUSTER_ENV, f'mmcv=={MMCV}'], env=env)
        steps('mmpose --no-deps', [*pip, 'install', *local, '--no-deps', MMPOSE], env=env)
        before = json.loads(steps('fingerprint', [python, '-c', FINGERPRINT, *UNTOUCHED], env=env))
        listed_before = set(json.loads(steps('list', [python, '-c', LIST], env=env)))
        assert 'mmcv' in listed_before and 'mmcv-lite' not in listed_before
        assert before['torch']['version'] == '2.1.2'

        clone = _copy_clone(str(tmp_path / 'mmbinary'))
        steps('pip install <clone>', [*pip, 'install', clone], env=env)

        after = json.loads(steps('fingerprint', [python, '-c', FINGERPRINT, *UNTOUCHED], env=env))
        listed_after = set(json.loads(steps('list', [python, '-c', LIST], env=env)))
        assert 'mmbinary' in listed_after - listed_before
        assert not listed_after & set(SECOND_FLAVOURS), listed_after & set(SECOND_FLAVOURS)
        for name in UNTOUCHED:
            assert after[name]['version'] == before[name]['version'], name
            changed = {
                path
                for path in set(before[name]['files']) | set(after[name]['files'])
                if before[name]['files'].get(path) != after[name]['files'].get(path)
            }
            assert not changed, f'{name}: {len(changed)} files changed, e.g. {sorted(changed)[:3]}'
        assert len(before['torch']['files']) > 1000  # the fingerprint really covers torch

        work_dir = str(tmp_path / 'work_dir')
        out = steps(
            'import + forward + train', [python, '-I', SMOKE, ROOT, coco_tiny, work_dir], env=env
        )
    finally:
        shutil.rmtree(venv, ignore_errors=True)
    result = json.loads(out.strip().splitlines()[-1])
    print(f'[second env] total {time.monotonic() - start:.0f} s; {result}')
    assert result['mmbinary_file'].startswith(venv)  # the installed copy, not the clone
    assert result['torch'].startswith('2.1.2')
    assert result['binary_convs'] >= 16  # SBPN-18: every 3x3 conv of the residual stages
    assert result['heatmaps'] == [4, 17, 64, 48] and result['heatmaps_finite']
    assert result['iterations'] == 1
    assert 0 < result['loss'] < float('inf')
    assert result['parameters_changed'] > 0.9 * result['parameters']
