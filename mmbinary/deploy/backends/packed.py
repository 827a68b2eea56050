"""The packed file: ``model.json`` (layout, version, every layer's parameters) + ``model.bin``.

The format for other engines and for a native 1-bit kernel (docs/deploy.md describes it in
full). Each binary layer stores its code in the packed layout of :mod:`mmbinary.deploy.packing`
and its folded per-channel factors as float32; every other tensor of the converted network is
stored as float32 under its state-dict name; the network's graph is the config (``config.py``
beside it). Every array starts at a 64-byte aligned offset of ``model.bin``, little-endian.

The loader here rebuilds the network in PyTorch (the reference runtime of the format: exact,
not fast).
"""

import json
import os.path as osp
from typing import Dict

import numpy as np
import torch

from ..converter import TERMS, DeployedBinaryConv
from ..packing import FORMAT_NAME, FORMAT_VERSION, WORD_BITS, pack_code, unpack_bits

ALIGN = 64


class _Blob:
    def __init__(self):
        self.chunks, self.size = [], 0

    def add(self, array: np.ndarray) -> dict:
        array = np.ascontiguousarray(array)
        if array.dtype.byteorder == '>':
            array = array.astype(array.dtype.newbyteorder('<'))
        pad = -self.size % ALIGN
        self.chunks.append(b'\0' * pad)
        offset = self.size + pad
        data = array.tobytes()
        self.chunks.append(data)
        self.size = offset + len(data)
        return dict(offset=offset, shape=list(array.shape), dtype=array.dtype.str)


def _read(raw: bytes, entry: dict) -> np.ndarray:
    count = int(np.prod(entry['shape'])) if entry['shape'] else 1
    array = np.frombuffer(raw, dtype=np.dtype(entry['dtype']), count=count, offset=entry['offset'])
    return array.reshape(entry['shape'])


def export(net, example, out_dir: str, precision: str = 'f32', **_) -> Dict[str, object]:
    """Write ``model.json`` + ``model.bin`` of a converted network."""
    if precision != 'f32':
        raise ValueError(f'packed back end: precision must be f32, got {precision!r}')
    blob, layers = _Blob(), []
    binary_names = set()
    for path, m in net.named_modules():
        if not isinstance(m, DeployedBinaryConv):
            continue
        packed, channels = pack_code(m.kind, m.code, m.groups)
        entry = dict(
            path=path,
            kind=m.kind,
            code_shape=list(m.code.shape),
            in_channels_per_group=channels,
            out_channels=m.out_channels,
            groups=m.groups,
            kernel=list(packed.shape[1:3]),
            stride=list(m.stride),
            padding=list(m.padding),
            dilation=list(m.dilation),
            output_padding=list(m.output_padding),
            threshold=m.threshold,
            weight=blob.add(packed),
        )
        for name in TERMS:
            value = getattr(m, name)
            entry[name] = None if value is None else blob.add(value.numpy().astype('<f4'))
        layers.append(entry)
        binary_names.update(f'{path}.{k}' for k in ('code', 'ones', *TERMS))
    tensors = {
        k: blob.add(v.detach().float().numpy().astype('<f4'))
        for k, v in net.state_dict().items()
        if k not in binary_names
    }
    manifest = dict(
        format=FORMAT_NAME,
        version=FORMAT_VERSION,
        byte_order='little',
        bit_order='little',
        word_bits=WORD_BITS,
        alignment=ALIGN,
        input_shape=list(example.shape),
        binary_layers=layers,
        tensors=tensors,
    )
    with open(osp.join(out_dir, 'model.bin'), 'wb') as f:
        f.write(b''.join(blob.chunks))
    with open(osp.join(out_dir, 'model.json'), 'w') as f:
        json.dump(manifest, f, indent=1)
    return dict(files=['model.json', 'model.bin'], binary_convs=len(layers))


def read_manifest(out_dir: str) -> dict:
    """``model.json`` of a packed export, checked for format name and version."""
    with open(osp.join(out_dir, 'model.json')) as f:
        manifest = json.load(f)
    if manifest.get('format') != FORMAT_NAME or manifest.get('version') != FORMAT_VERSION:
        raise ValueError(
            f'{out_dir}: not a {FORMAT_NAME} v{FORMAT_VERSION} file '
            f'(format={manifest.get("format")!r}, version={manifest.get("version")!r})'
        )
    return manifest


def load_into(net: torch.nn.Module, out_dir: str) -> torch.nn.Module:
    """Fill a converted network of the same config with the packed file's contents."""
    from ..converter import _set_submodule

    manifest = read_manifest(out_dir)
    with open(osp.join(out_dir, 'model.bin'), 'rb') as f:
        raw = f.read()
    for e in manifest['binary_layers']:
        bits = unpack_bits(_read(raw, e['weight']), e['in_channels_per_group'])
        kernel = torch.from_numpy(np.ascontiguousarray(bits.transpose(0, 3, 1, 2)))
        code = _code_from_direct(e['kind'], kernel, e['groups'], e['code_shape'])
        terms = {
            n: None if e[n] is None else torch.from_numpy(_read(raw, e[n]).copy()) for n in TERMS
        }
        layer = DeployedBinaryConv(
            e['kind'],
            code,
            e['threshold'],
            stride=e['stride'],
            padding=e['padding'],
            dilation=e['dilation'],
            groups=e['groups'],
            output_padding=e['output_padding'],
            **terms,
        )
        _set_submodule(net, e['path'], layer)
    state = {k: torch.from_numpy(_read(raw, v).copy()) for k, v in manifest['tensors'].items()}
    missing, unexpected = net.load_state_dict(state, strict=False)
    binary = {e['path'] for e in manifest['binary_layers']}
    missing = [k for k in missing if k.rpartition('.')[0] not in binary]
    if missing or unexpected:
        raise ValueError(
            f'{out_dir}: packed tensors do not fit the config: missing {missing}, '
            f'unexpected {unexpected}'
        )
    return net.eval()


def _code_from_direct(kind: str, kernel: torch.Tensor, groups: int, code_shape) -> torch.Tensor:
    """Inverse of :func:`mmbinary.deploy.packing.direct_kernel` (tested round trip)."""
    if kind == 'linear':
        return kernel[:, :, 0, 0]
    if kind == 'conv2d':
        return kernel
    cin, opg, kh, kw = code_shape
    w = kernel.flip(-1, -2).view(groups, opg, cin // groups, kh, kw).transpose(1, 2)
    return w.reshape(cin, opg, kh, kw)
