"""Build scopes: every model registry build opens one; nested builds join, isolated ones do not."""

from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import Registry
from mmpose.registry import MODELS as MMPOSE_MODELS
from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS
from torch import nn

from mmbinary.registry import install_build_scopes
from mmbinary.scope import build_scope, current_scope


def test_every_model_registry_opens_a_scope_and_nested_builds_join_it():
    late = Registry('model', parent=MMENGINE_MODELS, scope='late_package')  # after mmbinary
    seen = {}

    @late.register_module()
    class Inner(nn.Module):
        def __init__(self):
            super().__init__()
            seen['inner'] = current_scope()

    @late.register_module()
    class Outer(nn.Module):
        def __init__(self):
            super().__init__()
            seen['outer'] = current_scope()
            self.inner = late.build(dict(type='Inner'))

    assert current_scope() is None
    late.build(dict(type='Outer'))
    assert seen['outer'] is not None and seen['inner'] is not seen['outer']
    assert seen['inner'].shared is seen['outer'].shared  # one model: one pool
    assert current_scope() is None
    first = seen['outer'].shared
    late.build(dict(type='Outer'))
    assert seen['outer'].shared is not first  # two models: two pools
    for registry in (MMENGINE_MODELS, MMPOSE_MODELS, MMPRETRAIN_MODELS, late):
        assert registry.build_func.opens_build_scope


def test_install_is_idempotent_and_isolated_scopes_start_a_pool():
    wrapped = MMPOSE_MODELS.build_func
    install_build_scopes()
    assert MMPOSE_MODELS.build_func is wrapped
    with build_scope() as model, build_scope() as part, build_scope(isolated=True) as teacher:
        assert part.shared is model.shared and teacher.shared is not model.shared
        assert part.convs_built == teacher.convs_built == 0
