"""Deployed size: bytes per part (binary / real) of a model as FP32, as INT8 and as our export.

* ``fp32``: every parameter and BatchNorm statistic as float32 (the latent model as a user would
  ship it);
* ``int8``: conv / linear weights as int8 plus one float32 scale per output channel, the rest
  float32 (what a post-training INT8 quantizer ships);
* ``deployed``: the converted network as the packed file stores it: 1-bit codes in the packed
  layout (input channels padded to 64) plus the folded per-channel factors (float32) for the
  binary layers, float32 (or the INT8 rule with ``real_int8=True``) for the rest.

``binary`` counts the layers that are 1-bit in the export (in ``fp32`` / ``int8``: the same
layers' weights and the BatchNorms folded into them); ``real`` counts everything else.
:func:`export_size` gives the bytes of an export folder on disk.
"""

import os
import os.path as osp
from typing import Dict

from torch import nn

from .converter import DeployedBinaryConv
from .packing import pack_code

_WEIGHTED = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)


def _tensor_bytes(module: nn.Module, int8: bool) -> int:
    """Own parameters + buffers of one module (not its children)."""
    total = 0
    for name, t in list(module.named_parameters(recurse=False)) + list(
        module.named_buffers(recurse=False)
    ):
        if t is None or name == 'num_batches_tracked':
            continue
        if int8 and name == 'weight' and isinstance(module, _WEIGHTED):
            out = t.shape[1] if isinstance(module, nn.ConvTranspose2d) else t.shape[0]
            total += t.numel() + 4 * out
        else:
            total += 4 * t.numel()
    return total


def model_size(net: nn.Module, binary_paths, folded_bn_paths, int8: bool = False) -> Dict[str, int]:
    """``dict(binary=bytes, real=bytes)`` of an unconverted network as FP32 (or INT8)."""
    binary = tuple(binary_paths) + tuple(folded_bn_paths)
    sizes = dict(binary=0, real=0)
    for path, module in net.named_modules():
        part = 'binary' if any(path == p or path.startswith(f'{p}.') for p in binary) else 'real'
        if part == 'binary' and path not in binary:
            continue  # the binarizers of a binary layer: training-time state, not shipped
        sizes[part] += _tensor_bytes(module, int8)
    return sizes


def converted_size(net: nn.Module, real_int8: bool = False) -> Dict[str, int]:
    """``dict(binary=bytes, real=bytes)`` of a converted network in the packed layout."""
    sizes = dict(binary=0, real=0)
    for _, module in net.named_modules():
        if isinstance(module, DeployedBinaryConv):
            packed, _ = pack_code(module.kind, module.code, module.groups)
            factors = ('scale', 'bias', 'window_scale', 'mask_scale', 'mask_window_scale')
            sizes['binary'] += packed.nbytes + sum(
                4 * getattr(module, n).numel() for n in factors if getattr(module, n) is not None
            )
        else:
            sizes['real'] += _tensor_bytes(module, real_int8)
    return sizes


def deployed_size(net: nn.Module, converted: nn.Module, report: Dict[str, dict]) -> Dict[str, dict]:
    """Bytes per part of ``net`` (an :class:`InferenceNet`) as FP32, INT8 and deployed.

    Args:
        net: the unconverted inference network.
        converted, report: :func:`mmbinary.deploy.convert_model` of ``net``.

    Returns:
        ``{'fp32': {'binary', 'real'}, 'int8': {...}, 'deployed': {...},
        'deployed_int8_real': {...}}`` in bytes.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> from mmbinary.deploy import convert_model
        >>> from mmbinary.layers import BinaryConv2d
        >>> net = nn.Sequential(nn.Conv2d(3, 64, 3), BinaryConv2d(64, 64, 3)).eval()
        >>> converted, report = convert_model(net, torch.zeros(1, 3, 8, 8))
        >>> sizes = deployed_size(net, converted, report)
        >>> sizes['fp32']['binary'], sizes['deployed']['binary']  # floats; bits + factors
        (147712, 5120)
    """
    binary = [p for p, r in report.items() if r['binary']]
    folded = [r['bn'] for r in report.values() if r['binary'] and r['bn']]
    return dict(
        fp32=model_size(net, binary, folded),
        int8=model_size(net, binary, folded, int8=True),
        deployed=converted_size(converted),
        deployed_int8_real=converted_size(converted, real_int8=True),
    )


def export_size(path: str) -> int:
    """Bytes on disk of an export folder (every file)."""
    return sum(osp.getsize(osp.join(path, f)) for f in os.listdir(path))
