"""tools/test.py refuses a checkpoint of another model (row 2 of issue 10); --non-strict is loud."""

import importlib.util
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner.checkpoint import save_checkpoint

from mmbinary.utils import CheckpointMismatchError

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
POSE = osp.join(ROOT, 'configs/coco_tiny/td-hm_sbpn-bireal18_1xb4-60e_coco-tiny-256x192.py')
DIGITS = osp.join(ROOT, 'configs/digits/resnet18-bbc_1xb128-12e_digits-32px.py')


def _tool():
    spec = importlib.util.spec_from_file_location(
        'mmbinary_test_tool', osp.join(ROOT, 'tools/test.py')
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _checkpoint(config, scope, path):
    init_default_scope(scope)
    from mmengine.registry import MODELS

    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(config).model)
    save_checkpoint(dict(state_dict=model.state_dict(), meta=dict(epoch=1)), str(path))
    return model


def test_checkpoint_of_another_model_is_refused(tmp_path, coco_tiny, monkeypatch):
    monkeypatch.setenv('MMBINARY_COCO_TINY', coco_tiny + '/')
    ckpt = tmp_path / 'digits.pth'
    _checkpoint(DIGITS, 'mmpretrain', ckpt)
    argv = [POSE, str(ckpt), '--work-dir', str(tmp_path / 'w')]
    with pytest.raises(CheckpointMismatchError) as info:
        _tool().main(argv)
    message = str(info.value)
    assert f'checkpoint {ckpt} does not match the model TopdownPoseEstimator' in message
    assert 'missing keys (first: head.' in message or 'missing keys (first: backbone.' in message
    assert 'unexpected keys (first: ' in message and 'shape mismatches (first: backbone.' in message
    assert '--non-strict' in message


def test_non_strict_evaluates_loudly(tmp_path, coco_tiny, monkeypatch, capsys):
    monkeypatch.setenv('MMBINARY_COCO_TINY', coco_tiny + '/')
    ckpt = tmp_path / 'digits.pth'
    _checkpoint(DIGITS, 'mmpretrain', ckpt)
    argv = [POSE, str(ckpt), '--work-dir', str(tmp_path / 'w'), '--non-strict']
    metrics = _tool().main(argv)
    assert 'coco/AP' in metrics
    assert 'NON-STRICT LOADING' in capsys.readouterr().out


def test_matching_checkpoint_is_loaded_exactly(tmp_path, coco_tiny, monkeypatch):
    monkeypatch.setenv('MMBINARY_COCO_TINY', coco_tiny + '/')
    ckpt = tmp_path / 'pose.pth'
    saved = _checkpoint(POSE, 'mmpose', ckpt).state_dict()
    tool = _tool()
    loaded = {}

    def spy(runner):  # what the evaluation would see
        loaded.update(runner.model.state_dict())
        return {'coco/AP': 0.0}

    monkeypatch.setattr(tool.Runner, 'test', spy)
    tool.main([POSE, str(ckpt), '--work-dir', str(tmp_path / 'w')])
    assert loaded.keys() == saved.keys()
    assert all(torch.equal(loaded[k], saved[k]) for k in saved)
