import importlib
import importlib.util
import sys

import pytest
import torch

import mmbinary
from mmbinary import compat


def _full_mmcv_installed():
    module = sys.modules.get('mmcv._ext')
    return module is not None and not getattr(module, 'is_mmbinary_stand_in', False)


@pytest.mark.skipif(_full_mmcv_installed(), reason='full mmcv installed: no stand-in to test')
def test_mmcv_ext_stand_in_lets_mmpose_import_and_raises_clearly():
    import mmpose.models  # noqa: F401  (imports mmcv.ops, which loads mmcv._ext)

    ext = sys.modules['mmcv._ext']
    assert ext.is_mmbinary_stand_in
    assert ext.__spec__ is not None and ext.__spec__.loader is None
    with pytest.raises(RuntimeError, match='nms.*full mmcv'):
        ext.nms(torch.zeros(1, 4), torch.zeros(1), 0.5)
    with pytest.raises(AttributeError):
        ext.__file__  # noqa: B018  (inspect.getmodule looks this up on every module)


def test_stand_in_not_installed_when_extension_exists(monkeypatch):
    monkeypatch.setattr(compat, '_mmcv_ext_available', lambda: True)
    assert compat.patch_mmcv_ext() is False


def test_mmengine_checkpoint_with_numpy_metadata_loads(tmp_path):
    import numpy as np
    from mmengine.runner.checkpoint import _load_checkpoint

    path = tmp_path / 'ckpt.pth'
    meta = {'epoch': np.int64(3), 'hist': np.arange(3), 'dtype': np.dtype('float32')}
    torch.save({'state_dict': {'w': torch.ones(2)}, 'meta': meta}, path)
    ckpt = _load_checkpoint(str(path), map_location='cpu')
    assert int(ckpt['meta']['epoch']) == 3
    assert ckpt['meta']['hist'].tolist() == [0, 1, 2]
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        _load_checkpoint(str(tmp_path / 'missing.pth'), map_location='cpu')


def test_apply_is_idempotent():
    before = sys.modules.get('mmcv._ext')
    compat.apply()
    assert sys.modules.get('mmcv._ext') is before
    assert importlib.import_module('mmbinary') is mmbinary
