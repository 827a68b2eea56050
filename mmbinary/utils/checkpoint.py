"""Checkpoints: safe loading, atomic writing and a strict model / checkpoint match.

* :func:`safe_torch_load` loads with ``weights_only=True`` and, for the duration of the call only
  (``torch.serialization.safe_globals``), an allow-list of the numpy and mmengine types that
  mmengine checkpoints hold. A file that needs anything else fails with
  :class:`UnsafeCheckpointError` naming the type and the opt-in for a trusted file
  (``MMBINARY_TRUST_CHECKPOINTS=1``).
* :class:`AtomicLocalBackend` is mmengine's ``LocalBackend`` whose ``put`` / ``put_text`` write
  to a temporary file in the same folder and rename it, so a killed process never leaves a
  truncated file under a checkpoint's name.
* :func:`check_state_dict` / :func:`load_checkpoint_strict` refuse a checkpoint whose keys or
  shapes do not match the model, naming the first missing / unexpected / mismatched keys.

:mod:`mmbinary.compat` installs the first two into mmengine on ``import mmbinary``.
"""

import importlib
import os
import os.path as osp
import re
import tempfile
from collections import OrderedDict

import numpy as np
import torch
from mmengine.fileio import LocalBackend
from mmengine.logging import HistoryBuffer, print_log

TRUST_ENV = 'MMBINARY_TRUST_CHECKPOINTS'


class UnsafeCheckpointError(RuntimeError):
    """A checkpoint needs a type outside the allow-list of :func:`safe_torch_load`."""


class CheckpointMismatchError(RuntimeError):
    """The checkpoint's keys or shapes do not match the model's."""


def _numpy_globals():
    major = int(np.__version__.split('.')[0])
    multiarray = importlib.import_module(
        'numpy._core.multiarray' if major >= 2 else 'numpy.core.multiarray'
    )
    found = [np.ndarray, np.dtype]
    for name in ('scalar', '_reconstruct'):  # under both names: files of numpy 1 and numpy 2
        found += [
            (getattr(multiarray, name), f'numpy.{m}.multiarray.{name}') for m in ('core', '_core')
        ]
    dtypes = getattr(np, 'dtypes', None)  # numpy >= 1.25 pickles dtypes by their class
    if dtypes is not None:
        found += [getattr(dtypes, n) for n in dir(dtypes) if n.endswith('DType') and n[0].isupper()]
    return found


def _history_buffer_getattr(obj, name):
    """``getattr`` restricted to what a pickled :class:`HistoryBuffer` needs.

    A ``HistoryBuffer`` pickles its statistics as ``getattr(HistoryBuffer, 'mean')`` and so on;
    a general ``getattr`` would let a crafted file reach any attribute of any allowed object.
    """
    allowed = {'min', 'max', 'mean', 'current', *HistoryBuffer._statistics_methods}
    if obj is HistoryBuffer and name in allowed:
        return getattr(obj, name)
    raise UnsafeCheckpointError(
        f'checkpoint calls getattr({obj!r}, {name!r}); only getattr(HistoryBuffer, '
        f'<statistic>) is allowed. Set {TRUST_ENV}=1 to load a file you trust.'
    )


def safe_globals():
    """The allow-list of :func:`safe_torch_load`, for ``torch.serialization.safe_globals``."""
    return [
        *_numpy_globals(),
        HistoryBuffer,
        (_history_buffer_getattr, '__builtin__.getattr'),  # pickle protocol 2 name
        (_history_buffer_getattr, 'builtins.getattr'),
    ]


def trusted():
    """Whether the user opted in to full unpickling (``MMBINARY_TRUST_CHECKPOINTS=1``)."""
    return os.environ.get(TRUST_ENV, '0').lower() in ('1', 'true', 'yes')


def safe_torch_load(file, map_location=None):
    """``torch.load`` with ``weights_only=True`` and mmengine's checkpoint types allowed.

    Args:
        file (str | file-like): The checkpoint.
        map_location: As for :func:`torch.load`.

    Returns:
        The loaded object.

    Raises:
        UnsafeCheckpointError: The file needs a type outside the allow-list. Loading it anyway
            (with ``weights_only=False``, which runs any code the file holds) needs
            ``MMBINARY_TRUST_CHECKPOINTS=1``; do that only for a file you trust.

    Example:
        >>> import io, torch
        >>> from mmbinary.utils import safe_torch_load
        >>> buf = io.BytesIO(); torch.save({'w': torch.ones(2)}, buf); _ = buf.seek(0)
        >>> safe_torch_load(buf)['w']
        tensor([1., 1.])
    """
    if trusted():
        return torch.load(file, map_location=map_location, weights_only=False)
    try:
        with torch.serialization.safe_globals(safe_globals()):
            return torch.load(file, map_location=map_location, weights_only=True)
    except torch.serialization.pickle.UnpicklingError as e:
        found = re.search(r'GLOBAL (\S+)|unrecognized function (.+?)(?: which|$)', str(e))
        what = next((g for g in found.groups() if g), None) if found else None
        lines = [ln for ln in str(e).splitlines() if 'GLOBAL' in ln or 'unrecognized' in ln]
        reason = lines[0].strip() if lines else str(e).splitlines()[0]
        name = file if isinstance(file, (str, os.PathLike)) else 'the checkpoint'
        raise UnsafeCheckpointError(
            f"{name} needs {what or 'a type'} to load, which is outside mmbinary's allow-list "
            '(tensors, numpy arrays and scalars, mmengine HistoryBuffer): loading it would run '
            f'code from the file. If you trust the file, set {TRUST_ENV}=1. ({reason})'
        ) from None


class AtomicLocalBackend(LocalBackend):
    """mmengine's local file backend with atomic ``put`` / ``put_text``.

    The bytes go to a temporary file (``.NAME.XXXX.tmp``) in the target's folder, are flushed and
    fsync'ed, and the file is renamed to its name (``os.replace``, atomic on POSIX). A process
    killed mid-write leaves at most a ``.tmp`` file, never a truncated file under the final name.

    Example:
        >>> import os, tempfile
        >>> from mmbinary.utils import AtomicLocalBackend
        >>> d = tempfile.mkdtemp()
        >>> AtomicLocalBackend().put(b'abc', os.path.join(d, 'epoch_1.pth'))
        >>> os.listdir(d)
        ['epoch_1.pth']
    """

    def put(self, obj, filepath):
        folder = osp.dirname(osp.abspath(filepath))
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f'.{osp.basename(filepath)}.', suffix='.tmp', dir=folder)
        try:
            with os.fdopen(fd, 'wb') as f:
                f.write(obj)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, filepath)
        except BaseException:
            if osp.exists(tmp):
                os.remove(tmp)
            raise

    def put_text(self, obj, filepath, encoding='utf-8'):
        self.put(obj.encode(encoding), filepath)


def _state_dict_of(checkpoint):
    state = checkpoint.get('state_dict', checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise CheckpointMismatchError(
            f'the checkpoint holds {type(checkpoint).__name__}, not a state dict'
        )
    return OrderedDict((re.sub(r'^module\.', '', k), v) for k, v in state.items())


def check_state_dict(model, state_dict, first=5):
    """Compare a state dict with ``model.state_dict()``.

    Args:
        model (nn.Module): The model.
        state_dict (dict): Its candidate weights (a ``module.`` prefix is stripped).
        first (int): How many keys of each kind the message names. Defaults to 5.

    Returns:
        tuple[dict, str]: ``dict(missing=[...], unexpected=[...], mismatched=[(key, ckpt_shape,
        model_shape), ...])`` and a one-paragraph description ('' when everything matches).

    Example:
        >>> import torch.nn as nn
        >>> from mmbinary.utils import check_state_dict
        >>> report, msg = check_state_dict(nn.Linear(2, 3), nn.Linear(2, 4).state_dict())
        >>> [m[0] for m in report['mismatched']]
        ['weight', 'bias']
    """
    state_dict = OrderedDict((re.sub(r'^module\.', '', k), v) for k, v in state_dict.items())
    own = model.state_dict()
    report = dict(
        missing=[k for k in own if k not in state_dict],
        unexpected=[k for k in state_dict if k not in own],
        mismatched=[
            (k, tuple(v.shape), tuple(own[k].shape))
            for k, v in state_dict.items()
            if k in own and torch.is_tensor(v) and tuple(v.shape) != tuple(own[k].shape)
        ],
    )
    parts = []
    for kind in ('missing', 'unexpected'):
        if report[kind]:
            parts.append(
                f'{len(report[kind])} {kind} keys (first: {", ".join(report[kind][:first])})'
            )
    if report['mismatched']:
        shown = ', '.join(
            f'{k}: checkpoint {list(c)} vs model {list(m)}'
            for k, c, m in report['mismatched'][:first]
        )
        parts.append(f'{len(report["mismatched"])} shape mismatches (first: {shown})')
    return report, '; '.join(parts)


def load_checkpoint_strict(model, filename, strict=True, map_location='cpu', logger='current'):
    """Load ``filename`` into ``model``, refusing a checkpoint that does not match it.

    Used by ``tools/test.py``; the deploy exporter calls it too.

    Args:
        model (nn.Module): The model (unwrap DDP first).
        filename (str): The checkpoint, loaded by :func:`safe_torch_load`.
        strict (bool): Raise on any missing / unexpected / mismatched key. With False the
            matching tensors are loaded and a loud warning lists the rest. Defaults to True.
        map_location: As for :func:`torch.load`. Defaults to ``'cpu'``.
        logger: Where the non-strict warning goes. Defaults to mmengine's current logger.

    Returns:
        dict: The loaded checkpoint.

    Raises:
        CheckpointMismatchError: ``strict`` and the checkpoint does not match.
    """
    checkpoint = safe_torch_load(filename, map_location=map_location)
    state = _state_dict_of(checkpoint)
    report, message = check_state_dict(model, state)
    if message and strict:
        raise CheckpointMismatchError(
            f'checkpoint {filename} does not match the model {type(model).__name__}: {message}. '
            'Is it the checkpoint of this config? Pass --non-strict to load the matching '
            'tensors only and evaluate anyway.'
        )
    if message:
        n_match = len(state) - len(report['unexpected']) - len(report['mismatched'])
        print_log(
            f'NON-STRICT LOADING of {filename}: the results are NOT those of this checkpoint: '
            f'{message}; only the {n_match} matching keys are loaded',
            logger=logger,
            level=30,
        )
        skip = {k for k, _, _ in report['mismatched']}
        state = OrderedDict((k, v) for k, v in state.items() if k not in skip)
    model.load_state_dict(state, strict=not message)
    return checkpoint
