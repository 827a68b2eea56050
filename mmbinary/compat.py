"""Compatibility fixes for the OpenMMLab stack on current PyTorch, applied on ``import mmbinary``.

Each fix is applied only where it is needed:

* **mmcv-lite has no compiled ops.** ``import mmpose.models`` imports ``mmcv.ops`` (for one head),
  which loads ``mmcv._ext``. When that extension is missing, a stand-in module is registered whose
  functions raise a clear :class:`RuntimeError` naming the op when called. None of the models of
  mmbinary need compiled ops. When full mmcv is installed, nothing is changed.
* **Safe checkpoint loading.** torch >= 2.6 loads with ``weights_only=True``, which rejects the
  numpy and mmengine objects of mmengine checkpoints; mmengine 0.10.7 does not say otherwise. The
  local-file loader of mmengine's ``CheckpointLoader`` is re-registered to load with
  :func:`mmbinary.utils.safe_torch_load`: ``weights_only=True`` with an allow-list of exactly
  those types, scoped to the call. Anything else fails with a message naming the type and the
  opt-in for a trusted file (``MMBINARY_TRUST_CHECKPOINTS=1``).
* **Atomic writes.** mmengine's local file backend writes in place, so ``kill -9`` during a save
  leaves a truncated checkpoint under its final name. It is replaced by
  :class:`mmbinary.utils.AtomicLocalBackend` (temporary file in the same folder, then rename).
* **Clear data errors.** A COCO-style annotation file that is not JSON and an image that exists
  but does not decode raise errors naming the file and what is wrong with it (mmpose says
  ``Expecting value: line 1 column 1`` and "Please check whether the file exists").
* **Known noise, silenced precisely.** Warnings that every run printed and that no user can act
  on are filtered by their exact message (never by category or module alone):
  setuptools' ``pkg_resources is deprecated`` (the lock pins setuptools < 81 on purpose), mmpose's
  "metainfo config file ... does not exist. A matched config file ... will be used" (the packaged
  copy is the right file), mmengine's ``"FileClient" will be deprecated`` and ``"HardDiskBackend"
  is the alias`` (raised by mmengine's own ``CheckpointHook``, not by anything a user wrote).
"""

import importlib.machinery
import importlib.util
import logging
import os
import os.path as osp
import re
import sys
import types
import warnings

import torch

_EXT_NAME = 'mmcv._ext'


def _missing_op(name):
    if name.startswith('__'):  # dunder look-ups (``__file__`` by inspect, ...) are not ops
        raise AttributeError(name)

    def op(*args, **kwargs):
        raise RuntimeError(
            f'mmcv op "{name}" needs the compiled extension {_EXT_NAME}, which mmcv-lite does not '
            'ship. Install full mmcv 2.1.0 (`mim install mmcv==2.1.0`, or build it with '
            'MMCV_WITH_OPS=1) to use it. mmbinary models do not need it.'
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


def patch_checkpoint_loading():
    """Load local checkpoints with ``weights_only=True`` and mmengine's types allowed."""
    if not hasattr(torch.serialization, 'safe_globals'):  # torch < 2.5: mmengine's default
        return False
    from mmengine.runner.checkpoint import CheckpointLoader

    from mmbinary.utils.checkpoint import safe_torch_load

    @CheckpointLoader.register_scheme(prefixes='', force=True)
    def load_from_local(filename, map_location):
        filename = osp.expanduser(filename)
        if not osp.isfile(filename):
            raise FileNotFoundError(f'{filename} can not be found.')
        return safe_torch_load(filename, map_location=map_location)

    return True


def patch_atomic_saving():
    """Make mmengine's local file backend write atomically (temporary file, then rename)."""
    from mmengine.fileio import io as fileio
    from mmengine.fileio.backends import register_backend

    from mmbinary.utils.checkpoint import AtomicLocalBackend

    register_backend('local', AtomicLocalBackend, force=True, prefixes='')
    for key in [k for k in fileio.backend_instances if k.startswith(':')]:
        del fileio.backend_instances[key]  # instances cached before the patch
    return True


def _annotation_error(ann_file, error):
    size = osp.getsize(ann_file) if osp.isfile(ann_file) else 0
    return ValueError(
        f'annotation file {ann_file} ({size} bytes) is not a valid COCO JSON file: {error}'
    )


def patch_data_errors():
    """Name the file and the problem for unreadable annotations and undecodable images."""
    if importlib.util.find_spec('mmpose') is None:
        return False
    import json

    from mmpose.datasets.datasets.base import BaseCocoStyleDataset
    from mmpose.datasets.transforms import LoadImage

    if getattr(LoadImage.transform, 'mmbinary_patched', False):
        return True
    load_annotations, transform = BaseCocoStyleDataset._load_annotations, LoadImage.transform

    def _load_annotations(self):
        try:
            return load_annotations(self)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise _annotation_error(self.ann_file, e) from e

    def load_image(self, results):
        try:
            return transform(self, results)
        except Exception as e:
            path = results.get('img_path')
            if path is None or not osp.isfile(path) or not os.access(path, os.R_OK):
                raise  # missing or unreadable: mmpose's message names the file
            raise OSError(
                f'image {path} exists ({osp.getsize(path)} bytes) but could not be decoded: '
                'the file is corrupt or not an image'
            ) from e

    _load_annotations.mmbinary_patched = load_image.mmbinary_patched = True
    BaseCocoStyleDataset._load_annotations = _load_annotations
    LoadImage.transform = load_image
    return True


_NOISY_WARNINGS = (  # (message regex, category)
    (r'pkg_resources is deprecated as an API', UserWarning),
    (
        r'The metainfo config file "configs/_base_/datasets/\S+" does not exist\. A matched',
        UserWarning,
    ),
)
_NOISY_LOGS = re.compile(
    r'"FileClient" will be deprecated in future|"HardDiskBackend" is the alias of "LocalBackend"'
)


class KnownNoiseFilter(logging.Filter):
    """Drops the mmengine log records of :data:`_NOISY_LOGS` (exact messages), nothing else."""

    def filter(self, record):
        return not _NOISY_LOGS.search(record.getMessage())


def patch_known_noise():
    """Silence the known warnings by their exact message; add the log filter to every MMLogger."""
    for message, category in _NOISY_WARNINGS:
        warnings.filterwarnings('ignore', message=message, category=category)
    from mmengine.logging import MMLogger

    if getattr(MMLogger.__init__, 'mmbinary_patched', False):
        return True
    init = MMLogger.__init__

    def __init__(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self.addFilter(KnownNoiseFilter())

    __init__.mmbinary_patched = True
    MMLogger.__init__ = __init__
    for logger in MMLogger._instance_dict.values():  # loggers created before the patch
        logger.addFilter(KnownNoiseFilter())
    return True


def apply():
    """Apply every fix that this environment needs; return the names of those applied."""
    applied = []
    if patch_known_noise():
        applied.append('known noise silenced')
    if patch_mmcv_ext():
        applied.append('mmcv._ext stand-in')
    if patch_checkpoint_loading():
        applied.append('safe checkpoint loading')
    if patch_atomic_saving():
        applied.append('atomic checkpoint writes')
    if patch_data_errors():
        applied.append('clear data errors')
    return applied
