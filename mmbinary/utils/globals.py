"""MMEngine's process-wide named instances, saved and restored around a run."""

from contextlib import contextmanager
from typing import Dict, Iterator

from mmengine.utils import ManagerMixin


def _manager_classes(cls=ManagerMixin) -> Iterator[type]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _manager_classes(sub)


def snapshot_mmengine_globals() -> Dict[type, dict]:
    """The named instances of every ``ManagerMixin`` class (default scope, visualizers, message
    hubs, loggers), by class."""
    return {cls: cls._instance_dict.copy() for cls in _manager_classes()}


def restore_mmengine_globals(saved: Dict[type, dict]) -> None:
    """Put back what :func:`snapshot_mmengine_globals` saved; classes defined since are emptied."""
    for cls in _manager_classes():
        cls._instance_dict = saved.get(cls, {}).copy()


@contextmanager
def isolated_mmengine_globals():
    """Run a block without leaking MMEngine's named instances into the rest of the process.

    A runner registers its visualizer under the config's ``visualizer.name``; MMPose's configs all
    name it ``'visualizer'``, and MMEngine's builder returns an existing instance of that name. So a
    second runner in the same process (two trainings in one script, or a test session) would log
    into the first run's ``vis_data/`` folder, and inherit its default scope. Inside this block a
    run starts from the instances that existed before it, and leaves them as they were.

    Example:
        >>> with isolated_mmengine_globals():  # doctest: +SKIP
        ...     Runner.from_cfg(cfg).train()
    """
    saved = snapshot_mmengine_globals()
    try:
        yield
    finally:
        restore_mmengine_globals(saved)
