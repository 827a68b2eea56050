import pytest
import torch
from mmcv.cnn import build_conv_layer
from mmengine.config import Config
from mmengine.registry import MODELS as ROOT_MODELS
from mmengine.registry import DefaultScope, Registry

import mmbinary  # noqa: F401
from mmbinary import registry as mmb_registry
from mmbinary.layers import BinaryConv2d


@pytest.mark.parametrize('scope', ['mmpose', 'mmpretrain', 'mmbinary'])
def test_build_conv_layer_from_every_scope(scope):
    with DefaultScope.overwrite_default_scope(scope):
        conv = build_conv_layer(dict(type='BinaryConv2d'), 64, 64, 3, padding=1)
    assert isinstance(conv, BinaryConv2d)
    assert conv(torch.randn(1, 64, 6, 6)).shape == (1, 64, 6, 6)


@pytest.mark.parametrize('scope', ['mmpose', 'mmpretrain'])
def test_task_registries_reach_mmbinary_types(scope):
    registry = {'mmpose': 'mmpose.registry', 'mmpretrain': 'mmpretrain.registry'}[scope]
    task_models = __import__(registry, fromlist=['MODELS']).MODELS
    with DefaultScope.overwrite_default_scope(scope):
        for name in mmb_registry.MODELS.module_dict:
            assert task_models.get(name) is mmb_registry.MODELS.get(name), name
        scoped = task_models.get('mmbinary.BinaryConv2d')
    assert scoped is BinaryConv2d


def test_every_child_registry_is_exposed_to_its_root():
    for child in mmb_registry._EXPOSED:
        for name, cls in child.module_dict.items():
            assert child.parent.module_dict[name] is cls


def test_expose_to_root_refuses_to_shadow():
    parent = Registry('toy')
    child = Registry('toy', parent=parent, scope='toy_child')

    class A:
        pass

    class B:
        pass

    parent.register_module(name='Same', module=A)
    child.register_module(name='Same', module=B)
    saved = mmb_registry._EXPOSED
    mmb_registry._EXPOSED = (child,)
    try:
        with pytest.raises(KeyError, match="'Same'"):
            mmb_registry.expose_to_root()
    finally:
        mmb_registry._EXPOSED = saved


def test_custom_imports_in_a_config_registers_mmbinary(tmp_path):
    cfg_file = tmp_path / 'cfg.py'
    cfg_file.write_text(
        "custom_imports = dict(imports=['mmbinary'], allow_failed_imports=False)\n"
        "default_scope = 'mmpose'\n"
        "conv = dict(type='BinaryConv2d', in_channels=8, out_channels=4, kernel_size=3)\n"
    )
    cfg = Config.fromfile(str(cfg_file))
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        conv = ROOT_MODELS.build(cfg.conv)
    assert isinstance(conv, BinaryConv2d)
