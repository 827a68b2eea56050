"""Export a trained config + checkpoint to a back end, and load an export (:class:`DeployedModel`).

An export is a folder::

    deploy.json   format, version, back end, precision, input shape, task, converted layers
    config.py     the model's config (the graph of the packed file; preprocessing and codec
                  for :func:`mmbinary.apis.init_deployed_pose_model`)
    model.*       the back end's files (model.xml / .bin, model.onnx, model.json / .bin)

It is written to a temporary folder beside ``out`` and renamed when complete, so a failed export
leaves nothing half-written.
"""

import json
import os
import os.path as osp
import shutil
import tempfile
import time
from typing import Callable, List, Optional, Sequence

import numpy as np
import torch
from torch import nn

from ..version import __version__
from .converter import DeployError, convert_model

BACKENDS = ('openvino', 'onnx', 'packed')
BINARY_KERNELS = ('openvino', 'native', 'auto')  # OpenVINO: BinaryConvolution, MMBinaryConv, faster
EXPORT_FORMAT, EXPORT_VERSION = 'mmbinary-deploy', 1


class InferenceNet(nn.Module):
    """The inference path of an MMPose / mmpretrain model: preprocessed image -> heatmaps / logits.

    ``head(extract_feat(x))``: the data preprocessor, the codec decoding and the losses stay out.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model.head(self.model.extract_feat(x))
        return out[0] if isinstance(out, (tuple, list)) else out


def _scope(cfg) -> str:
    return cfg.get('default_scope', None) or 'mmpose'


def task_of(cfg) -> str:
    """``'pose'`` for an MMPose config, ``'classification'`` for an mmpretrain one."""
    return 'pose' if _scope(cfg) == 'mmpose' else 'classification'


def build_model(cfg) -> nn.Module:
    """Build the config's model in eval mode, without pretrained weights."""
    from mmengine.registry import DefaultScope

    if task_of(cfg) == 'pose':
        from mmpose.registry import MODELS
    else:
        from mmpretrain.registry import MODELS
    model_cfg = cfg.model.copy()
    model_cfg.setdefault('train_cfg', None)
    with DefaultScope.overwrite_default_scope(_scope(cfg)):
        model = MODELS.build(model_cfg)
    return model.eval()


def load_checkpoint_strict(model: nn.Module, checkpoint: str):
    """Load ``checkpoint`` into ``model`` safely; every key and shape must match.

    Loaded with :func:`mmbinary.utils.safe_torch_load` (``weights_only``) and compared with
    :func:`mmbinary.utils.check_state_dict`, which names the first missing / unexpected /
    mismatched keys.
    """
    from mmbinary.utils import check_state_dict, safe_torch_load

    if not osp.isfile(checkpoint):
        raise FileNotFoundError(f'checkpoint not found: {checkpoint}')
    state = safe_torch_load(checkpoint, map_location='cpu')
    state = state.get('state_dict', state) if isinstance(state, dict) else state
    if not isinstance(state, dict):
        raise DeployError(f'{checkpoint} holds {type(state).__name__}, not a state dict')
    state = {k[len('module.') :] if k.startswith('module.') else k: v for k, v in state.items()}
    _, message = check_state_dict(model, state)
    if message:
        raise DeployError(f'{checkpoint} is not a checkpoint of this config: {message}')
    model.load_state_dict(state)


def default_input_shape(cfg) -> List[int]:
    """``[1, 3, H, W]`` from the codec (pose) or the dataset's ``img_size`` (classification)."""
    codec = cfg.get('codec', None)
    if codec is not None and 'input_size' in codec:
        w, h = codec['input_size']
        return [1, 3, int(h), int(w)]
    dataset = cfg.get('test_dataloader', {}).get('dataset', {})
    if 'img_size' in dataset:
        size = dataset['img_size']
        h, w = (size, size) if isinstance(size, int) else size
        return [1, 3, int(h), int(w)]
    raise DeployError('cannot tell the input size from the config: give --input-shape H W')


def calibration_inputs(cfg, model: nn.Module, num: int) -> List[np.ndarray]:
    """``num`` preprocessed inputs of the config's test set (for NNCF calibration)."""
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import DefaultScope

    if task_of(cfg) == 'pose':
        from mmpose.registry import DATASETS
    else:
        from mmpretrain.registry import DATASETS
    with DefaultScope.overwrite_default_scope(_scope(cfg)):
        dataset = DATASETS.build(cfg.test_dataloader.dataset)
        out = []
        for i in range(min(num, len(dataset))):
            batch = model.data_preprocessor(pseudo_collate([dataset[i]]), False)
            out.append(batch['inputs'].numpy())
    return out


def export_model(
    config,
    checkpoint: Optional[str],
    backend: str,
    out: str,
    input_shape: Optional[Sequence[int]] = None,
    precision: str = 'f32',
    exact_int8: bool = False,
    binary_kernel: str = 'openvino',
    force: bool = False,
    calibration_num: int = 20,
    log: Callable[[str], None] = print,
) -> dict:
    """Convert a config + checkpoint and write it to ``out`` with one back end.

    Args:
        config (str | Config): an mmbinary / MMPose / mmpretrain config.
        checkpoint (str | None): its trained checkpoint (keys must match); ``None`` exports the
            randomly initialised model (tests, benchmarks).
        backend (str): ``'openvino'``, ``'onnx'`` or ``'packed'``.
        out (str): the export folder; it must not exist unless ``force``.
        input_shape (H, W): static input size; default from the config.
        precision (str): real-part precision (``'f32'``; OpenVINO also ``'bf16'``, ``'int8'``).
        exact_int8 (bool): OpenVINO: binary convs in the exact-INT8 form.
        binary_kernel (str): OpenVINO: ``'openvino'`` (``BinaryConvolution``), ``'native'``
            (``MMBinaryConv``, mmbinary's own 1-bit kernel; falls back to ``'openvino'`` with a
            message if its extension cannot be built here) or ``'auto'`` (the faster of the two
            on this machine: native on its AVX-512 path; the choice and why are logged).
            ``deploy.json`` records the one written.
        force (bool): replace an existing ``out``.
        calibration_num (int): test-set images for INT8 calibration.
        log (callable): progress messages.

    Returns:
        The ``deploy.json`` contents, plus ``out`` and ``seconds``.
    """
    from mmengine.config import Config

    if backend not in BACKENDS:
        raise ValueError(f'backend must be one of {list(BACKENDS)}, got {backend!r}')
    if binary_kernel not in BINARY_KERNELS:
        raise ValueError(
            f'binary_kernel must be one of {list(BINARY_KERNELS)}, got {binary_kernel!r}'
        )
    if binary_kernel != 'openvino' and backend != 'openvino':
        raise ValueError(f'binary_kernel {binary_kernel!r} needs backend openvino, got {backend!r}')
    out = osp.abspath(out)
    if osp.exists(out) and not force:
        raise FileExistsError(f'{out} exists; pass --force (force=True) to replace it')
    module = _backend_module(backend)  # a missing back-end package fails here, before any work
    start = time.time()
    cfg = config if isinstance(config, Config) else Config.fromfile(config)
    model = build_model(cfg)
    if checkpoint is not None:
        load_checkpoint_strict(model, checkpoint)
    shape = [1, 3, *map(int, input_shape)] if input_shape else default_input_shape(cfg)
    example = torch.zeros(shape)
    log(f'converting {type(model.backbone).__name__} for input {shape} ...')
    net, report = convert_model(InferenceNet(model), example)
    calibration = None
    if precision == 'int8':
        calibration = calibration_inputs(cfg, model, calibration_num)
    parent = osp.dirname(out)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f'.{osp.basename(out)}.', dir=parent)
    try:
        log(f'writing the {backend} export ...')
        extra = dict(binary_kernel=binary_kernel) if backend == 'openvino' else {}
        written = module.export(
            net,
            example,
            tmp,
            precision=precision,
            exact_int8=exact_int8,
            calibration=calibration,
            log=log,
            **extra,
        )
        with torch.no_grad():
            output_shape = list(net(example).shape)
        meta = dict(
            format=EXPORT_FORMAT,
            version=EXPORT_VERSION,
            mmbinary_version=__version__,
            backend=backend,
            precision=precision,
            exact_int8=bool(exact_int8),
            binary_kernel=written.get('binary_kernel', backend),
            input_shape=shape,
            output_shape=output_shape,
            task=task_of(cfg),
            config='config.py',
            checkpoint=None if checkpoint is None else osp.abspath(checkpoint),
            files=['deploy.json', 'config.py', *written['files']],
            binary_layers=sum(r['binary'] for r in report.values()),
            backend_binary_convs=written.get('binary_convs'),
            layers=report,
        )
        cfg.dump(osp.join(tmp, 'config.py'))
        with open(osp.join(tmp, 'deploy.json'), 'w') as f:
            json.dump(meta, f, indent=1)
        if osp.exists(out):
            shutil.rmtree(out)
        os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    meta.update(out=out, seconds=time.time() - start)
    size = sum(osp.getsize(osp.join(out, f)) for f in meta['files'])
    kernel = f', binary kernel {meta["binary_kernel"]}' if backend == 'openvino' else ''
    log(
        f'wrote {backend} ({precision}{kernel}) export of '
        f'{meta["binary_layers"]} binary layers, '
        f'input {shape}, {size / 1e6:.2f} MB to {out} in {meta["seconds"]:.1f} s'
    )
    return meta


def _backend_module(backend: str):
    from .utils import require

    if backend == 'openvino':
        require('openvino')
        from .backends import openvino as module
    elif backend == 'onnx':
        require('onnx')
        require('onnxruntime')
        from .backends import onnx as module
    else:
        from .backends import packed as module
    return module


def read_export(path: str) -> dict:
    """``deploy.json`` of an export folder, checked for format and version."""
    meta_path = osp.join(path, 'deploy.json')
    if not osp.isfile(meta_path):
        raise FileNotFoundError(f'{path} is not an mmbinary export (no deploy.json)')
    with open(meta_path) as f:
        meta = json.load(f)
    if meta.get('format') != EXPORT_FORMAT or meta.get('version') != EXPORT_VERSION:
        raise ValueError(
            f'{path}: not an {EXPORT_FORMAT} v{EXPORT_VERSION} export '
            f'(format={meta.get("format")!r}, version={meta.get("version")!r})'
        )
    return meta


class DeployedModel:
    """A loaded export: ``model(batch_nchw_float32) -> heatmaps / logits`` as numpy.

    The input is the preprocessed image batch (what the model's data preprocessor returns);
    exports have a static batch of 1, a larger batch runs sample by sample.

    A ``packed`` export runs each binary layer through the native 1-bit kernel
    (:mod:`mmbinary.ops`) where it is available, else through the PyTorch reference
    (``DeployedBinaryConv.forward``); :attr:`kernel` says which (``'native-avx512'``,
    ``'native-avx2'``, ``'native-portable'`` or ``'reference'``, with the reason in
    :attr:`kernel_note`); the other back ends report ``kernel = backend``.

    Args:
        path (str): an export folder written by :func:`export_model` / ``tools/deploy/export.py``.
        threads (int, optional): CPU threads of the runtime (default: the runtime's own); a
            ``native`` binary kernel export runs its kernel on OpenVINO's threads (at most
            as many: a cap set for the process; without ``threads``,
            ``MMBINARY_BCONV_THREADS`` takes precedence).
        kernel (str): packed back end only: ``'auto'`` (native if available), ``'native'``
            (error if not available) or ``'reference'``.

    Attributes:
        binary_kernel (str): what runs the 1-bit convs: ``'openvino'`` (BinaryConvolution),
            ``'native'`` (mmbinary's kernel: MMBinaryConv in OpenVINO, or the PyTorch op for a
            packed export; ``binary_isa`` names its instruction set), or the back end's own
            float form (``'onnx'``, ``'packed'`` reference).
        kernel (str): the same in one word: ``'native-avx512'``, ``'native-avx2'``,
            ``'native-portable'``, ``'reference'`` (packed), or the back end's name.

    Example:
        >>> model = DeployedModel('work_dirs/sbpn18_ov')  # doctest: +SKIP
        >>> model.backend, model.precision, model.threads  # doctest: +SKIP
        ('openvino', 'f32', 1)
    """

    KERNELS = ('auto', 'native', 'reference')

    def __init__(self, path: str, threads: Optional[int] = None, kernel: str = 'auto'):
        if kernel not in self.KERNELS:
            raise ValueError(f'kernel must be one of {list(self.KERNELS)}, got {kernel!r}')
        self.path = osp.abspath(path)
        self.meta = read_export(self.path)
        self.backend, self.precision = self.meta['backend'], self.meta['precision']
        self.input_shape = self.meta['input_shape']
        self.config_path = osp.join(self.path, self.meta['config'])
        self.runtime_precision = 'f32'  # OpenVINO: what the CPU runs for the precision hint
        # the 1-bit kernel that runs: OpenVINO's BinaryConvolution, mmbinary's native one, or
        # the back end's float form (onnx, packed)
        self.binary_kernel = self.meta.get('binary_kernel', self.backend)
        self.binary_isa = None  # native: the instruction set of the kernel
        self.kernel, self.kernel_note = self.backend, None
        if self.backend == 'openvino':
            from .backends.openvino import OpenVINORunner

            native = self.binary_kernel == 'native'
            extensions = [self._native_library()] if native else []
            self._run = OpenVINORunner(
                osp.join(self.path, 'model.xml'), self.precision, threads, extensions
            )
            self.threads = self._run.threads
            if native and (threads or not os.environ.get('MMBINARY_BCONV_THREADS')):
                from mmbinary.ops import openvino_ext

                openvino_ext.set_threads(self.threads)  # the kernel runs on OpenVINO's threads
            if native:
                self.kernel = f'native-{self.binary_isa}'
            self.runtime_precision = self._run.runtime_precision
        elif self.backend == 'onnx':
            from .backends.onnx import ONNXRunner

            self._run = ONNXRunner(osp.join(self.path, 'model.onnx'), threads)
            self.threads = self._run.threads
        elif self.backend == 'packed':
            self._net = self._rebuild_packed()
            self.threads = threads or torch.get_num_threads()  # default: PyTorch's
            self.kernel, self.kernel_note = self._use_native(kernel)
            if self.kernel.startswith('native-'):
                self.binary_kernel, self.binary_isa = 'native', self.kernel[len('native-') :]
            self._run = self._run_packed
        else:
            raise ValueError(f'{path}: unknown back end {self.backend!r}; known: {list(BACKENDS)}')

    def _native_library(self) -> str:
        """The MMBinaryConv extension (built on first use), or an error naming the fix."""
        try:
            from mmbinary.ops import openvino_ext

            path = openvino_ext.library_path()
        except (ImportError, OSError, RuntimeError) as e:
            raise RuntimeError(
                f'{self.path} was exported with --binary-kernel native, but its MMBinaryConv '
                f'extension cannot be loaded here: {e}\nRe-export the model with '
                "--binary-kernel openvino (OpenVINO's BinaryConvolution) to run it on this machine"
            ) from e
        try:
            self.binary_isa = openvino_ext.kernel_isa()
        except openvino_ext.NativeKernelUnavailable as e:  # a forced path the CPU lacks
            raise RuntimeError(
                f'{self.path}: the native binary kernel cannot run: {e} (unset '
                'MMBINARY_BCONV_ISA to let it pick the best path of this CPU)'
            ) from e
        return path

    def _rebuild_packed(self) -> nn.Module:
        from mmengine.config import Config

        from .backends.packed import load_into

        model = build_model(Config.fromfile(self.config_path))
        pairs = {p: r['bn'] for p, r in self.meta['layers'].items() if r['bn']}
        net, _ = convert_model(InferenceNet(model), torch.zeros(self.input_shape), bn_pairs=pairs)
        return load_into(net, self.path)

    def _use_native(self, kernel: str):
        """Swap every ``DeployedBinaryConv`` for a :class:`NativeBinaryConv` if possible."""
        if kernel == 'reference':
            return 'reference', 'kernel=reference requested'
        from mmbinary import ops

        if not ops.native_available():
            if kernel == 'native':
                raise RuntimeError(f'kernel=native: {ops.native_unavailable_reason()}')
            return 'reference', ops.native_unavailable_reason()
        from mmbinary.ops.torch_ops import to_native

        isa = ops.select_isa()
        layers, fused = to_native(self._net, self.threads, isa)
        return f'native-{isa}', (
            f'{layers} binary layers on the native {isa} kernel, {fused} with the shortcut '
            'add (and PReLU / RPReLU / Maxout) fused'
        )

    def _run_packed(self, x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return self._net(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))).numpy()

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        batch = np.asarray(batch, dtype=np.float32)
        expected = tuple(self.input_shape[1:])
        if batch.ndim != 4 or tuple(batch.shape[1:]) != expected:
            raise ValueError(
                f'{self.path}: input must be [N, {", ".join(map(str, expected))}] (the static '
                f'shape of the export), got {list(batch.shape)}'
            )
        return np.concatenate([self._run(batch[i : i + 1]) for i in range(batch.shape[0])])

    def __repr__(self) -> str:
        return (
            f'DeployedModel({self.path!r}, backend={self.backend}, precision={self.precision} '
            f'(runs {self.runtime_precision}), binary_kernel={self.binary_kernel}'
            f'{f" ({self.binary_isa})" if self.binary_isa else ""}, '
            f'threads={self.threads}, kernel={self.kernel}, input={self.input_shape})'
        )
