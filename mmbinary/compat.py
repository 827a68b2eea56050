"""Compatibility fixes for the OpenMMLab stack on current PyTorch, applied on ``import mmbinary``.

Each fix is applied only where it is needed:

* **mmcv-lite has no compiled ops.** ``import mmpose.models`` imports ``mmcv.ops`` (for one head),
  which loads ``mmcv._ext``. When that extension is missing, a stand-in module is registered whose
  functions raise a clear :class:`RuntimeError` naming the op when called. None of the models of
  mmbinary need compiled ops. When full mmcv is installed, nothing is changed.
* **torch >= 2.6 loads with ``weights_only=True`` by default**, which rejects the numpy objects
  that mmengine stores in checkpoint metadata. The local-file loader of mmengine's
  ``CheckpointLoader`` is re-registered to pass ``weights_only=False`` (checkpoints are trusted
  training outputs; do not load checkpoints from untrusted sources).
"""

import importlib.machinery
import importlib.util
import sys
import types

import torch

_EXT_NAME = 'mmcv._ext'


def _missing_op(name):
    if name.startswith('__'):  # dunder look-ups (``__file__`` by inspect, ...) are not ops
        raise AttributeError(name)

    def op(*args, **kwargs):
        raise RuntimeError(
            f'mmcv op "{name}" needs the compiled extension {_EXT_NAME}, which mmcv-lite does not '
            'ship. Install full mmcv 2.1.0 (built from source with MMCV_WITH_OPS=1) to use '
            'it. mmbinary models do not need it.'
        )

    op.__name__ = name
    return op


def _make_ext_stand_in():
    module = types.ModuleType(_EXT_NAME)
    module.__doc__ = 'Stand-in for mmcv._ext (mmcv-lite): every op raises a clear error.'
    # A spec with loader None: ``init_model`` inspects ``__spec__`` of imported modules.
    module.__spec__ = importlib.machinery.ModuleSpec(_EXT_NAME, None)
    module.__getattr__ = _missing_op  # PEP 562: any attribute is an op that raises when called
    module.is_mmbinary_stand_in = True
    return module


def _mmcv_ext_available():
    if _EXT_NAME in sys.modules:
        return True
    try:
        return importlib.util.find_spec(_EXT_NAME) is not None
    except (ImportError, ValueError):
        return False


def patch_mmcv_ext():
    """Register the ``mmcv._ext`` stand-in if mmcv is installed without compiled ops."""
    if importlib.util.find_spec('mmcv') is None or _mmcv_ext_available():
        return False
    sys.modules[_EXT_NAME] = _make_ext_stand_in()
    return True


def _torch_version():
    return tuple(int(p) for p in torch.__version__.split('+')[0].split('.')[:2])


def patch_checkpoint_loading():
    """Let mmengine load its own checkpoints under torch >= 2.6."""
    if _torch_version() < (2, 6):
        return False
    from mmengine.runner.checkpoint import CheckpointLoader

    @CheckpointLoader.register_scheme(prefixes='', force=True)
    def load_from_local(filename, map_location):
        import os.path as osp

        filename = osp.expanduser(filename)
        if not osp.isfile(filename):
            raise FileNotFoundError(f'{filename} can not be found.')
        return torch.load(filename, map_location=map_location, weights_only=False)

    return True


def apply():
    """Apply every fix that this environment needs; return the names of those applied."""
    applied = []
    if patch_mmcv_ext():
        applied.append('mmcv._ext stand-in')
    if patch_checkpoint_loading():
        applied.append('checkpoint weights_only=False')
    return applied
