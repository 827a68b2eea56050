"""Schedule an attribute of the binarizers over training (EDE's ``t``, tanh's ``nu``, ...)."""

import math
from typing import Optional, Sequence

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmbinary.binarizers.base import BaseBinarizer, check_choice, check_positive
from mmbinary.registry import HOOKS


@HOOKS.register_module()
class BinarizerScheduleHook(Hook):
    """Set ``param`` of every matching binarizer from ``start`` to ``end`` over training.

    With progress ``p = epoch / max_epochs`` (``by_epoch=True``) or ``iter / max_iters``:

    * ``mode='log'``: ``value = start * (end / start) ** p``, i.e.
      ``10 ** (log10(start) + (log10(end) - log10(start)) p)`` -- AdaBin's EDE schedule
      (``t``: 1e-3 -> 10 [official code]), IR-Net's (0.1 -> 10 [paper]) and the geometric
      tanh sharpening of self-binarizing networks (``nu``: 1 -> 1000 [reconstruction]);
    * ``mode='linear'``: ``value = start + (end - start) p``.

    EDE's ``k`` follows ``t`` (``max(1/t, 1)``) unless it was set explicitly.

    Args:
        param (str): the attribute to set, e.g. ``'t'`` or ``'nu'``.
        start (float), end (float): values at the start and end of training.
        mode (str): ``'log'`` (default) or ``'linear'``.
        types (Sequence[str], optional): names of binarizer classes to set (e.g.
            ``['EDE']``); default every binarizer that has ``param``.
        by_epoch (bool): update before every epoch (default) or before every iteration.

    Example:
        >>> custom_hooks = [dict(type='BinarizerScheduleHook', param='t', start=1e-3, end=10)]
    """

    priority = 'NORMAL'
    MODES = ('log', 'linear')

    def __init__(
        self,
        param: str,
        start: float,
        end: float,
        mode: str = 'log',
        types: Optional[Sequence[str]] = None,
        by_epoch: bool = True,
    ):
        owner = type(self).__name__
        self.mode = check_choice(owner, 'mode', mode, self.MODES)
        if mode == 'log':
            check_positive(owner, 'start', start)
            check_positive(owner, 'end', end)
        self.param, self.start, self.end = param, float(start), float(end)
        self.types = None if types is None else tuple(types)
        self.by_epoch = by_epoch
        self._targets = []

    def value_at(self, progress: float) -> float:
        """The scheduled value at ``progress`` in [0, 1]."""
        if self.mode == 'log':
            return math.exp(
                math.log(self.start) + (math.log(self.end) - math.log(self.start)) * progress
            )
        return self.start + (self.end - self.start) * progress

    def _matches(self, module) -> bool:
        if not isinstance(module, BaseBinarizer) or not hasattr(module, self.param):
            return False
        return self.types is None or type(module).__name__ in self.types

    def before_train(self, runner):
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        self._targets = [m for m in model.modules() if self._matches(m)]
        if not self._targets:
            raise ValueError(
                f'BinarizerScheduleHook: no binarizer with attribute {self.param!r}'
                + (f' of types {list(self.types)}' if self.types else '')
                + ' in the model'
            )

    def _apply(self, runner, progress: float):
        value = self.value_at(min(max(progress, 0.0), 1.0))
        for module in self._targets:
            setattr(module, self.param, value)
        runner.message_hub.update_scalar(f'train/binarizer_{self.param}', value)

    def before_train_epoch(self, runner):
        if self.by_epoch:
            self._apply(runner, runner.epoch / max(runner.max_epochs, 1))

    def before_train_iter(self, runner, batch_idx: int, data_batch=None):
        if not self.by_epoch:
            self._apply(runner, runner.iter / max(runner.max_iters, 1))
