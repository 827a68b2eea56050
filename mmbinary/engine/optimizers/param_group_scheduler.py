"""Schedule only some param groups of an optimizer with any MMEngine parameter scheduler."""

from typing import Optional, Sequence

from mmengine.optim.scheduler.param_scheduler import _ParamScheduler
from mmengine.registry import PARAM_SCHEDULERS as MMENGINE_PARAM_SCHEDULERS
from torch.optim import Optimizer

from mmbinary.registry import PARAM_SCHEDULERS


class _ParamGroupView(Optimizer):
    """The selected ``param_groups`` of an optimizer (the same dicts, so writes go through).

    Groups are selected on every access: ``load_state_dict`` of the real optimizer (resume)
    replaces its group dicts. MMEngine schedulers count ``optimizer.step`` calls to warn about a
    wrong call order; the view reports the real optimizer's counter and ignores resets of it.
    """

    def __init__(self, optimizer, select):  # no Optimizer.__init__: nothing of its own to hold
        self._target = optimizer
        self._select = select
        self.defaults = {}
        self.state = {}

    @property
    def param_groups(self):
        return [g for g in self._target.param_groups if self._select(g)]

    @property
    def _global_step(self):
        return getattr(self._target, '_global_step', 0)

    @_global_step.setter
    def _global_step(self, value):
        pass

    def step(self, closure=None):  # pragma: no cover - never called: the real optimizer steps
        raise RuntimeError('a param-group view does not step; step the real optimizer')


@PARAM_SCHEDULERS.register_module()
class ParamGroupScheduler(_ParamScheduler):
    """Apply ``scheduler`` to the param groups named in ``groups`` (or all but ``exclude_groups``).

    A group's name is ``param_group['name']`` (:class:`BinaryOptimWrapperConstructor` names the
    binarizer group ``'binarizer'``; unnamed groups are never selected by ``groups``).

    Args:
        optimizer: the optimizer (wrapper), passed by the runner.
        scheduler (dict): any MMEngine scheduler config, e.g. ``dict(type='MultiStepLR', ...)``.
        groups (Sequence[str], optional): names of the groups to schedule.
        exclude_groups (Sequence[str], optional): schedule every group but these.
        begin, end, by_epoch, epoch_length: as for every MMEngine scheduler (the runner fills
            ``end`` and ``epoch_length``); they apply to the inner scheduler unless it sets them.
    """

    # A _ParamScheduler for the runner's type checks; its state lives in the inner scheduler,
    # so _ParamScheduler.__init__ is deliberately not called.
    def __init__(
        self,
        optimizer,
        scheduler: dict,
        groups: Optional[Sequence[str]] = None,
        exclude_groups: Optional[Sequence[str]] = None,
        by_epoch: bool = True,
        epoch_length: Optional[int] = None,
        **kwargs,
    ):
        if (groups is None) == (exclude_groups is None):
            raise ValueError(
                'ParamGroupScheduler: give exactly one of groups / exclude_groups, '
                f'got groups={groups!r}, exclude_groups={exclude_groups!r}'
            )
        names = [g.get('name') for g in optimizer.param_groups]
        if groups is not None:
            missing = sorted(set(groups) - set(names))
            if missing:
                raise ValueError(
                    f'ParamGroupScheduler: no param group named {missing}; '
                    f'named groups: {sorted(n for n in names if n)}'
                )
        self.groups = None if groups is None else tuple(groups)
        self.exclude_groups = None if exclude_groups is None else tuple(exclude_groups)
        self.view = _ParamGroupView(optimizer, self._selects)
        if not self.view.param_groups:
            raise ValueError(f'ParamGroupScheduler: no param group left to schedule in {names}')
        cfg = dict(scheduler)
        cfg.setdefault('by_epoch', by_epoch)
        for key, value in kwargs.items():
            cfg.setdefault(key, value)
        self.scheduler = MMENGINE_PARAM_SCHEDULERS.build(
            cfg, default_args=dict(optimizer=self.view, epoch_length=epoch_length)
        )

    def _selects(self, group: dict) -> bool:
        if self.groups is not None:
            return group.get('name') in self.groups
        return group.get('name') not in self.exclude_groups

    @property
    def by_epoch(self) -> bool:
        return self.scheduler.by_epoch

    def step(self, *args, **kwargs):
        self.scheduler.step(*args, **kwargs)

    def get_last_value(self):
        return self.scheduler.get_last_value()

    def state_dict(self) -> dict:
        return self.scheduler.state_dict()

    def load_state_dict(self, state_dict: dict):
        self.scheduler.load_state_dict(state_dict)
