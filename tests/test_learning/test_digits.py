"""A small binary conv net learns real handwritten digits with every binarizer family.

Each run: fixed seed, 1,437 training / 360 held-out images, CPU, a few seconds. Chance is 10%;
the thresholds sit well below what these runs reach (printed with ``pytest -s``) and far above
chance.
"""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mmbinary.datasets import load_digits_split
from mmbinary.engine import BinarizerScheduleHook
from mmbinary.engine.optimizers import binarizer_parameters
from mmbinary.layers import BinaryConv2d, Maxout
from mmbinary.scope import build_scope

FAMILIES = {
    'ste': dict(weight_binarizer='STE', input_binarizer='ApproxSign'),
    'bbc': dict(weight_binarizer='MLPBinarizer', input_binarizer='ApproxSign', center_weight=True),
    'adabin': dict(
        weight_binarizer='AdaBinWeight', input_binarizer='AdaBinActivation', weight_scale='none'
    ),
    'tanh': dict(weight_binarizer='SelfBinarizingTanh', input_binarizer='SelfBinarizingTanh'),
}
SCHEDULES = {  # (binarizer attribute, start, end), geometric per epoch as the hook does
    'adabin': ('t', 1e-3, 10.0),
    'tanh': ('nu', 1.0, 1000.0),
}


class BinaryDigitNet(nn.Module):
    """Real stem -> 3 Bi-Real blocks (binary 3x3 conv, BN, own shortcut) -> real classifier.

    ``pre_norm``: normalise the block input before the binary conv. The self-binarizing network
    binarizes normalised activations (tanh(nu BN(x)), whose eval form is the binary-BN
    comparison); on the raw residual stream the net keeps inputs in tanh's linear zone and the
    eval-mode sign no longer matches training.
    """

    def __init__(self, conv_cfg, width=32, act='prelu', pre_norm=False):
        super().__init__()
        self.pre_norms = nn.ModuleList(
            nn.BatchNorm2d(width) if pre_norm else nn.Identity() for _ in range(3)
        )
        self.stem = nn.Sequential(nn.Conv2d(1, width, 3, padding=1), nn.BatchNorm2d(width))
        with build_scope():
            self.convs = nn.ModuleList(
                BinaryConv2d(width, width, 3, padding=1, bias=False, **conv_cfg) for _ in range(3)
            )
        self.norms = nn.ModuleList(nn.BatchNorm2d(width) for _ in range(3))
        make_act = (lambda: Maxout(width)) if act == 'maxout' else (lambda: nn.PReLU(width))
        self.acts = nn.ModuleList(make_act() for _ in range(3))
        self.fc = nn.Linear(width, 10)

    def forward(self, x):
        x = self.stem(x)
        for pre, conv, norm, act in zip(self.pre_norms, self.convs, self.norms, self.acts):
            x = act(norm(conv(pre(x))) + x)
        return self.fc(x.mean((2, 3)))


def train_and_evaluate(family, epochs=12, seed=0):
    torch.manual_seed(seed)
    x_tr, y_tr, x_te, y_te = load_digits_split(seed=0)
    model = BinaryDigitNet(
        FAMILIES[family],
        act='maxout' if family == 'adabin' else 'prelu',
        pre_norm=family == 'tanh',
    )
    learned = binarizer_parameters(model)
    learned_ids = {id(p) for p in learned}
    groups = [{'params': [p for p in model.parameters() if id(p) not in learned_ids]}]
    if learned:
        groups.append({'params': learned, 'lr': 1e-3})  # BBC: the MLP in its own group
    optimizer = torch.optim.Adam(groups, lr=5e-3)
    scheduled = SCHEDULES.get(family)
    if scheduled:
        hook = BinarizerScheduleHook(*scheduled)
        targets = [m for m in model.modules() if hook._matches(m)]
    for epoch in range(epochs):
        if scheduled:
            for m in targets:
                setattr(m, scheduled[0], hook.value_at(epoch / epochs))
        model.train()
        order = torch.randperm(len(x_tr))
        for i in range(0, len(order), 64):
            idx = order[i : i + 64]
            loss = F.cross_entropy(model(x_tr[idx]), y_tr[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()
    with torch.no_grad():
        return (model(x_te).argmax(1) == y_te).float().mean().item(), model


@pytest.mark.parametrize(
    # measured on this 2-core CPU (seed 0): ste 0.942, bbc 0.922, adabin 0.969, tanh 0.65-0.74
    # (tanh varies with the thread count);
    # the self-binarizing reconstruction trains worse once nu sharpens the gradient to a spike.
    'family,threshold',
    [('ste', 0.85), ('bbc', 0.85), ('adabin', 0.85), ('tanh', 0.5)],
)
def test_binary_net_learns_digits(family, threshold):
    torch.set_num_threads(1)
    accuracy, model = train_and_evaluate(family)
    print(f'{family}: held-out accuracy {accuracy:.3f}')
    assert accuracy >= threshold
    if family == 'tanh':  # eval mode really is binary: weights and inputs are exactly +-1
        conv = model.convs[0]
        assert set(conv.weight_binarizer(conv.weight).unique().tolist()) == {-1.0, 1.0}
