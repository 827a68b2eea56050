import math

import pytest
import torch
from mmengine.hooks import Hook

from mmbinary.binarizers import EDE, AdaBinWeight, SelfBinarizingTanh
from mmbinary.engine import BinarizerScheduleHook, FlipRatioHook

from .conftest import ToyBinaryNet


class RecordT(Hook):
    priority = 'LOWEST'

    def __init__(self):
        self.values = []

    def before_train_epoch(self, runner):
        modules = [m for m in runner.model.modules() if isinstance(m, EDE)]
        self.values.append(sorted({(m.t, m.k) for m in modules}))


def test_adabin_ede_schedule_by_hand():
    hook = BinarizerScheduleHook(param='t', start=1e-3, end=10)
    for epoch, epochs in [(0, 120), (60, 120), (119, 120), (120, 120)]:
        expected = 10 ** (math.log10(1e-3) + (math.log10(10) - math.log10(1e-3)) * epoch / epochs)
        assert hook.value_at(epoch / epochs) == pytest.approx(expected, rel=1e-12)
    linear = BinarizerScheduleHook(param='nu', start=1, end=5, mode='linear')
    assert linear.value_at(0.5) == 3


def test_schedule_hook_sets_t_and_k_each_epoch_in_a_runner(make_runner):
    recorder = RecordT()
    hook = dict(type='BinarizerScheduleHook', param='t', start=1e-3, end=10, types=['EDE'])
    make_runner(custom_hooks=[hook, recorder], max_epochs=4).train()
    ts = [10 ** (-3 + 4 * e / 4) for e in range(4)]
    assert len(recorder.values) == 4
    for (t, k), expected_t in zip((v[0] for v in recorder.values), ts):
        assert len(recorder.values[0]) == 1  # both binary convs got the same value
        assert t == pytest.approx(expected_t) and k == pytest.approx(max(1 / expected_t, 1))


def test_schedule_hook_reaches_adabin_inner_ede_and_tanh_nu(make_runner):
    model = ToyBinaryNet(weight_binarizer='AdaBinWeight', input_binarizer='SelfBinarizingTanh')
    hooks = [
        dict(type='BinarizerScheduleHook', param='t', start=0.1, end=10, types=['EDE']),
        dict(type='BinarizerScheduleHook', param='nu', start=1, end=1000, by_epoch=False),
    ]
    runner = make_runner(model=model, custom_hooks=hooks, max_epochs=2)
    runner.train()
    weights = [m for m in model.modules() if isinstance(m, AdaBinWeight)]
    assert weights and all(m.sign.t == pytest.approx(10 ** (-1 + 2 * 1 / 2)) for m in weights)
    tanhs = [m for m in model.modules() if isinstance(m, SelfBinarizingTanh)]
    last_iter = runner.max_iters - 1
    assert all(m.nu == pytest.approx(1000 ** (last_iter / runner.max_iters)) for m in tanhs)


def test_schedule_hook_bad_input(make_runner):
    with pytest.raises(ValueError, match='start must be > 0'):
        BinarizerScheduleHook(param='t', start=0, end=10)
    with pytest.raises(ValueError, match="mode must be one of \\['log', 'linear'\\]"):
        BinarizerScheduleHook(param='t', start=1, end=10, mode='cosine')
    hook = dict(type='BinarizerScheduleHook', param='nu', start=1, end=10)
    with pytest.raises(ValueError, match="no binarizer with attribute 'nu'"):
        make_runner(custom_hooks=[hook], max_epochs=1).train()


def test_flip_ratio_counts_known_flips():
    model = ToyBinaryNet(weight_binarizer='STE')
    conv = model.backbone[2]
    n = conv.weight.numel()
    pattern = torch.tensor([1.0, -1.0]).repeat(n // 2).view_as(conv.weight)  # zero channel mean
    with torch.no_grad():
        conv.weight.copy_(pattern)
    hook = FlipRatioHook(group_depth=2)
    assert hook.flip_ratios(model) == {}  # first call: nothing to compare with
    with torch.no_grad():
        flat = conv.weight.view(-1)
        flat[:10] = -flat[:10]  # 5 (+1, -1) pairs of channel 0 swap: the mean stays 0
    ratios = hook.flip_ratios(model)
    assert ratios['backbone.2'] == pytest.approx(10 / n)
    assert ratios['backbone.4'] == 0
    assert ratios['all'] == pytest.approx(10 / (2 * n))
    assert hook.flip_ratios(model)['all'] == 0


def test_flip_ratio_hook_logs_in_a_runner(make_runner):
    runner = make_runner(custom_hooks=[dict(type='FlipRatioHook')], max_epochs=2)
    runner.train()
    scalars = runner.message_hub.log_scalars
    assert 'train/flip_ratio' in scalars and 'train/flip_ratio/backbone.2' in scalars
    assert 0 <= scalars['train/flip_ratio'].current() <= 1
    with pytest.raises(ValueError, match='group_depth must be > 0'):
        FlipRatioHook(group_depth=0)
