from types import SimpleNamespace

import pytest
from mmengine.registry import HOOKS as MMENGINE_HOOKS

import mmbinary  # noqa: F401
from mmbinary.engine import ValidateBeforeTrainHook


class CountingValLoop:
    def __init__(self):
        self.runs = 0

    def run(self):
        self.runs += 1


@pytest.mark.parametrize('iteration, expected_runs', [(0, 1), (5, 0)])
def test_validates_once_at_the_start_but_not_when_resumed(iteration, expected_runs):
    loop = CountingValLoop()
    ValidateBeforeTrainHook().before_train(SimpleNamespace(val_loop=loop, iter=iteration))
    assert loop.runs == expected_runs


def test_no_validation_loop_is_a_no_op():
    ValidateBeforeTrainHook().before_train(SimpleNamespace(val_loop=None, iter=0))


def test_built_by_type_from_mmengine_scope():
    hook = MMENGINE_HOOKS.build(dict(type='mmbinary.ValidateBeforeTrainHook'))
    assert isinstance(hook, ValidateBeforeTrainHook)
