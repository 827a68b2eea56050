"""Every registered binarizer builds from config (from any default scope), round-trips its
state_dict, and unknown types name the available ones."""

import pytest
import torch
from mmengine.registry import DefaultScope

from mmbinary.binarizers import (
    available_binarizers,
    build_binarizer,
)
from mmbinary.registry import BINARIZERS
from mmbinary.scope import build_scope

ALL = available_binarizers()


def test_every_method_is_registered():
    expected = {
        'STE', 'ClippedSTE', 'ApproxSign', 'EDE', 'SwishSign', 'TanhSign', 'SelfBinarizingTanh',
        'MLPBinarizer', 'LinearBinarizer', 'ClassifierBinarizer', 'AdaBinWeight',
        'AdaBinActivation',
    }  # fmt: skip
    assert expected <= set(ALL)


@pytest.mark.parametrize('name', ALL)
@pytest.mark.parametrize('scope', ['mmpose', 'mmpretrain'])
def test_build_from_config_and_state_dict_round_trip(name, scope):
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope(scope), build_scope():
        a = build_binarizer(dict(type=name))
        b = build_binarizer(name)
        c = build_binarizer(f'mmbinary.{name}')
    assert type(a) is BINARIZERS.get(name) and type(b) is type(a) and type(c) is type(a)
    for p in a.parameters():
        torch.nn.init.uniform_(p, 0.5, 1.5)
    b.load_state_dict(a.state_dict())
    x = torch.randn(4, 3, 5, 5)
    assert torch.equal(a(x), b(x))


def test_none_and_modules_pass_through():
    assert build_binarizer(None) is None
    m = torch.nn.Identity()
    assert build_binarizer(m) is m


def test_unknown_type_names_the_available_ones():
    with pytest.raises(KeyError, match='unknown binarizer type .*Sgn.*available: .*ApproxSign'):
        build_binarizer(dict(type='Sgn'))
    with pytest.raises(TypeError, match='binarizer config'):
        build_binarizer(3)


@pytest.mark.parametrize(
    'cfg,name',
    [
        (dict(type='EDE', t=-1), 't'),
        (dict(type='MLPBinarizer', hidden_channels=0), 'hidden_channels'),
        (dict(type='AdaBinActivation', form='both'), 'form'),
        (dict(type='SelfBinarizingTanh', nu=0), 'nu'),
    ],
)
def test_invalid_values_from_config(cfg, name):
    with pytest.raises(ValueError, match=name), build_scope():
        build_binarizer(cfg)
