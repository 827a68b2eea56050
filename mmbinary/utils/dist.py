"""Distributed training and testing on CPU (gloo), where MMEngine's launcher path calls CUDA.

MMEngine 0.10.7's ``init_dist('pytorch')`` calls ``torch.cuda.set_device`` whatever the backend
(``Found no NVIDIA driver`` on a CPU machine), and its ``wrap_model`` passes
``device_ids=[LOCAL_RANK]`` to DDP, which DDP rejects for a CPU module. On a machine without CUDA,
:func:`setup_cpu_distributed` initialises the process group itself (gloo, from torchrun's
environment; MMEngine then skips its own ``init_dist``) and sets ``model_wrapper_cfg`` to
MMEngine's DDP without ``device_ids``. With CUDA nothing changes: MMEngine's path is used.

BN buffers are **synchronised**, on CPU as on GPUs: DDP runs with MMEngine's setting
``broadcast_buffers=False`` (each rank updates its own running statistics from its own batches)
and MMEngine's ``SyncBuffersHook``, in the ``custom_hooks`` of every mmbinary config (MMPose's
default), averages every buffer over the ranks after each epoch, before the checkpoint is saved.
Every rank, and the checkpoint, hold the same statistics. (``sync_bn='torch'``, SyncBatchNorm,
needs GPUs.)
"""

import os

import torch
import torch.distributed as dist
from mmengine.logging import print_log


def setup_cpu_distributed(cfg):
    """Prepare ``cfg`` (already merged) for a multi-process run on CPU; no-op with CUDA.

    Args:
        cfg (Config): The run's config; ``cfg.launcher`` is the tool's ``--launcher``.

    Returns:
        bool: Whether the CPU path was set up.

    Raises:
        ValueError: A launcher other than ``pytorch`` (torchrun) on a machine without CUDA.
    """
    if cfg.get('launcher', 'none') == 'none' or torch.cuda.is_available():
        return False
    if cfg.launcher != 'pytorch':
        raise ValueError(
            f'--launcher {cfg.launcher} needs CUDA here (MMEngine initialises it for that '
            'launcher); on CPU launch with torchrun (tools/dist_train.sh) and --launcher pytorch'
        )
    dist_cfg = dict(cfg.get('env_cfg', {}).get('dist_cfg', {}))
    backend = dist_cfg.pop('backend', 'gloo')
    if backend != 'gloo':
        print_log(f'no CUDA: distributed backend {backend!r} replaced by "gloo"', logger='current')
        backend = 'gloo'
    if not dist.is_initialized():
        dist.init_process_group(
            backend=backend,
            rank=int(os.environ['RANK']),
            world_size=int(os.environ['WORLD_SIZE']),
            **dist_cfg,
        )
    wrapper = dict(cfg.get('model_wrapper_cfg') or {})
    wrapper.setdefault('type', 'MMDistributedDataParallel')
    wrapper.setdefault('find_unused_parameters', cfg.get('find_unused_parameters', False))
    wrapper.setdefault('broadcast_buffers', False)  # MMEngine's default; SyncBuffersHook syncs
    wrapper['device_ids'] = None  # DDP of a CPU module takes no device ids
    cfg.model_wrapper_cfg = wrapper
    return True
