"""Stop training at the first non-finite loss or gradient norm, before it reaches the weights."""

import math
import os.path as osp

import torch
import torch.distributed as dist
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.optim import AmpOptimWrapper, OptimWrapper

from mmbinary.registry import HOOKS


class NonFiniteLossError(RuntimeError):
    """Raised by :class:`NonFiniteCheckHook` (``tools/train.py`` exits with status 3 on it)."""


def _grad_norm(params):
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return 0.0
    norms = torch.stack([torch.linalg.vector_norm(g.detach().float()) for g in grads])
    return float(torch.linalg.vector_norm(norms))


def _non_finite_tensors(state):
    return [
        k
        for k, v in state.items()
        if torch.is_tensor(v) and v.is_floating_point() and not bool(torch.isfinite(v).all())
    ]


def _last_good(runner):
    """The checkpoint named in ``work_dir/last_checkpoint`` (written after a completed save)."""
    path = osp.join(runner.work_dir, 'last_checkpoint')
    if osp.isfile(path):
        with open(path) as f:
            return f.read().strip() or 'none saved yet'
    return 'none saved yet'


@HOOKS.register_module()
class NonFiniteCheckHook(Hook):
    """Stop training at the first non-finite loss or gradient norm; never apply that step.

    Before every optimizer step (after the backward pass, so that DDP's all-reduce has run) the
    hook checks that the loss and the global gradient norm are finite. A bad step is **skipped**:
    gradients zeroed, weights and optimizer state untouched, and the floating-point buffers (BN
    running statistics, which the bad forward pass already updated) restored to their values
    before the iteration. Once more than ``max_skips`` steps have been skipped, training stops
    with one :class:`NonFiniteLossError` naming the iteration, each loss term, the gradient norm
    and the last checkpoint saved (which is finite). With several processes the verdict is
    all-reduced, so every rank skips or stops together.

    A second guard refuses to save a checkpoint whose weights or buffers are not finite (they can
    only get there from outside the optimizer step, e.g. BN statistics of an overflowing forward).

    With :class:`~mmengine.optim.AmpOptimWrapper` the gradient norm is not checked: its loss
    scaler already skips steps with inf gradients (that is how dynamic loss scaling works); the
    loss itself still is. With several optimizers (``OptimWrapperDict``) only the loss is checked,
    after the iteration, and training stops at once.

    Args:
        max_skips (int): Bad steps to skip (and count, logged as ``train/non_finite_skips``)
            before stopping. 0 (default) stops at the first one.
        check_grad_norm (bool): Check the gradient norm too. Defaults to True.

    Example:
        >>> custom_hooks = [dict(type='NonFiniteCheckHook')]  # on in every mmbinary config
        >>> custom_hooks = [dict(type='NonFiniteCheckHook', max_skips=3)]  # tolerate 3 bad steps
    """

    priority = 'ABOVE_NORMAL'  # before CheckpointHook (VERY_LOW) and the loggers

    def __init__(self, max_skips=0, check_grad_norm=True):
        if not isinstance(max_skips, int) or isinstance(max_skips, bool) or max_skips < 0:
            raise ValueError(f'max_skips must be an int >= 0, got {max_skips!r}')
        self.max_skips = max_skips
        self.check_grad_norm = check_grad_norm
        self.skipped = 0
        self._bad = None  # (loss, grad_norm) of the current iteration's skipped step
        self._buffers, self._saved = [], []  # floating-point buffers, their values before the step

    def before_train(self, runner):
        wrapper = runner.optim_wrapper
        if not isinstance(wrapper, OptimWrapper):
            return  # OptimWrapperDict: checked after the iteration only
        check_grad = self.check_grad_norm and not isinstance(wrapper, AmpOptimWrapper)
        update_params, step = wrapper.update_params, wrapper.step
        last_loss = [None]

        def guarded_update_params(loss, *args, **kwargs):
            last_loss[0] = loss.detach()
            return update_params(loss, *args, **kwargs)

        def guarded_step(**kwargs):
            loss = float(last_loss[0]) if last_loss[0] is not None else 0.0
            params = [p for g in wrapper.optimizer.param_groups for p in g['params']]
            norm = _grad_norm(params) if check_grad else 0.0
            bad = float(not (math.isfinite(loss) and math.isfinite(norm)))
            bad = torch.tensor(bad, device=params[0].device if params else 'cpu')  # NCCL: CUDA
            if dist.is_available() and dist.is_initialized():
                dist.all_reduce(bad, op=dist.ReduceOp.MAX)
            if bad.item() > 0:
                self._bad = (loss, norm)
                return None  # skipped: update_params zeroes the gradients next
            return step(**kwargs)

        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        self._buffers = [b for b in model.buffers() if b.is_floating_point()]
        # Instance attributes shadow the methods of this one wrapper only.
        wrapper.update_params = guarded_update_params
        wrapper.step = guarded_step

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self._saved = [b.detach().clone() for b in self._buffers]

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        terms = {
            k: float(torch.as_tensor(v).detach())
            for k, v in (outputs or {}).items()
            if k.startswith('loss')
        }
        if self._bad is None:
            if all(math.isfinite(v) for v in terms.values()):
                return
            # The step was applied (no guarded wrapper, e.g. OptimWrapperDict): stop now.
            loss, norm, skippable = float('nan'), float('nan'), False
        else:
            (loss, norm), skippable = self._bad, True
            with torch.no_grad():
                for buffer, saved in zip(self._buffers, self._saved):
                    buffer.copy_(saved)
        self._bad = None
        self.skipped += 1
        runner.message_hub.update_scalar('train/non_finite_skips', self.skipped)
        where = f'iteration {runner.iter + 1} (epoch {runner.epoch + 1})'
        detail = ', '.join(f'{k}={v:.6g}' for k, v in terms.items()) or f'loss={loss:.6g}'
        if skippable and self.skipped <= self.max_skips:
            runner.logger.warning(
                f'NonFiniteCheckHook: skipped the step of {where}: {detail}, grad_norm={norm:.6g} '
                f'({self.skipped} of {self.max_skips} allowed)'
            )
            return
        last = _last_good(runner)
        applied = 'not updated with it' if skippable else 'updated with it (no guard possible)'
        raise NonFiniteLossError(
            f'non-finite loss or gradient at {where}: {detail}, grad_norm={norm:.6g}; '
            f'training stopped after {self.skipped} bad step(s) (max_skips={self.max_skips}), '
            f'the weights were {applied}. Last good checkpoint: {last}. Lower the learning '
            'rate, add optim_wrapper.clip_grad, or check the data.'
        )

    def before_save_checkpoint(self, runner, checkpoint):
        bad = _non_finite_tensors(checkpoint.get('state_dict', {}))
        if bad:
            raise NonFiniteLossError(
                f'refusing to save a checkpoint at iteration {runner.iter}: {len(bad)} tensors '
                f'are not finite (first: {", ".join(bad[:3])}). Last good checkpoint: '
                f'{_last_good(runner)}.'
            )
