"""tools/deploy/export.py: the bad-input behaviour of issue 9 and the one-line summary."""

import json
import os
import os.path as osp
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config

from mmbinary.deploy import DeployedModel
from mmbinary.deploy.exporter import build_model
from mmbinary.deploy.utils import require

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(ROOT, 'tools', 'deploy'))
import export as export_tool  # noqa: E402

CLS = osp.join(ROOT, 'configs/digits/resnet20-bbc_1xb128-12e_digits-8px.py')
OTHER = osp.join(ROOT, 'configs/digits/resnet20-adabin_1xb128-12e_digits-8px.py')


def _save(config, path, options=None):
    cfg = Config.fromfile(config)
    if options:
        cfg.merge_from_dict(options)
    torch.save(dict(state_dict=build_model(cfg).state_dict()), path)
    return str(path)


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    return _save(CLS, tmp_path_factory.mktemp('ckpt') / 'bbc.pth')


def _fail(argv, capsys):
    with pytest.raises(SystemExit) as e:
        export_tool.main(argv)
    return str(e.value.code)


def test_export_writes_a_complete_folder_with_a_summary(checkpoint, tmp_path, capsys):
    out = tmp_path / 'packed'
    export_tool.main([CLS, checkpoint, '--backend', 'packed', '--out', str(out)])
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith('converting')
    assert lines[-1].startswith('wrote packed (f32) export of') and str(out) in lines[-1]
    assert sorted(os.listdir(out)) == ['config.py', 'deploy.json', 'model.bin', 'model.json']
    assert os.listdir(tmp_path) == ['packed']  # no temporary folder left
    model = DeployedModel(str(out))
    assert (model.backend, model.precision, model.input_shape) == ('packed', 'f32', [1, 3, 8, 8])
    assert model(np.zeros((3, 3, 8, 8), np.float32)).shape == (3, 10)
    with pytest.raises(ValueError, match=r'input must be \[N, 3, 8, 8\].*got \[1, 3, 9, 8\]'):
        model(np.zeros((1, 3, 9, 8), np.float32))
    manifest = json.loads((out / 'model.json').read_text())
    manifest['version'] = 2
    (out / 'model.json').write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match='not a mmbinary-packed v1 file'):
        DeployedModel(str(out))


def test_existing_out_refused_unless_force(checkpoint, tmp_path, capsys):
    out = tmp_path / 'out'
    out.mkdir()
    (out / 'keep.txt').write_text('x')
    msg = _fail([CLS, checkpoint, '--backend', 'packed', '--out', str(out)], capsys)
    assert 'exists' in msg and '--force' in msg and (out / 'keep.txt').exists()
    export_tool.main([CLS, checkpoint, '--backend', 'packed', '--out', str(out), '--force'])
    assert not (out / 'keep.txt').exists() and (out / 'deploy.json').exists()


def test_checkpoint_of_another_config_names_the_keys(tmp_path, capsys):
    wrong = _save(OTHER, tmp_path / 'adabin.pth')
    out = tmp_path / 'old'
    out.mkdir()
    (out / 'keep.txt').write_text('x')
    msg = _fail([CLS, wrong, '--backend', 'packed', '--out', str(out), '--force'], capsys)
    assert 'is not a checkpoint of this config' in msg
    assert 'missing keys' in msg and 'unexpected keys' in msg and 'input_binarizer.alpha' in msg
    assert '--non-strict' not in msg  # the exporter has no such option
    assert (out / 'keep.txt').exists()  # a failed export leaves the old folder untouched
    assert sorted(os.listdir(tmp_path)) == ['adabin.pth', 'old']
    msg = _fail(
        [CLS, str(tmp_path / 'nope.pth'), '--backend', 'packed', '--out', str(tmp_path / 'x')],
        capsys,
    )
    assert 'checkpoint not found' in msg


def test_non_binary_config_says_nothing_to_export(tmp_path, capsys):
    real = osp.join(ROOT, 'configs/digits/resnet18_1xb128-10e_digits-8px.py')
    ckpt = _save(real, tmp_path / 'real.pth')
    msg = _fail([real, ckpt, '--backend', 'packed', '--out', str(tmp_path / 'x')], capsys)
    assert 'nothing 1-bit to export' in msg
    assert not (tmp_path / 'x').exists()


def test_unsupported_binarizer_names_the_module_path(tmp_path, capsys):
    cfg = Config.fromfile(CLS)
    options = dict(
        model=dict(
            backbone=dict(
                conv_cfg=dict(input_binarizer=dict(type='ClassifierBinarizer', shared=False))
            )
        )
    )
    cfg.merge_from_dict(options)
    config = str(tmp_path / 'odd.py')
    cfg.dump(config)
    ckpt = _save(config, tmp_path / 'odd.pth')
    msg = _fail([config, ckpt, '--backend', 'packed', '--out', str(tmp_path / 'x')], capsys)
    assert msg.startswith('error: model.backbone.') and 'ClassifierBinarizer' in msg


def test_missing_backend_package_names_the_pip_install(checkpoint, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, 'openvino', None)  # import openvino -> ImportError
    msg = _fail([CLS, checkpoint, '--backend', 'openvino', '--out', str(tmp_path / 'x')], capsys)
    assert "needs the package 'openvino'" in msg and 'pip install openvino==' in msg
    with pytest.raises(ImportError, match='pip install onnxruntime=='):
        monkeypatch.setitem(sys.modules, 'onnxruntime', None)
        require('onnxruntime')


def test_precision_needs_openvino(checkpoint, tmp_path, capsys):
    msg = _fail(
        [CLS, checkpoint, '--backend', 'onnx', '--precision', 'bf16', '--out', str(tmp_path / 'x')],
        capsys,
    )
    assert '--precision bf16 needs --backend openvino' in msg


def test_package_imports_without_the_backends():
    import subprocess

    code = (
        'import sys\n'
        "for name in ('openvino', 'nncf', 'onnx', 'onnxruntime'):\n"
        '    sys.modules[name] = None\n'
        'import mmbinary.deploy, mmbinary.apis\n'
        "print('imported')\n"
    )
    env = dict(os.environ, PYTHONPATH=ROOT)
    out = subprocess.run(
        [sys.executable, '-c', code], capture_output=True, text=True, env=env, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith('imported')
