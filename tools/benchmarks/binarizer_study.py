"""Benchmark: weight binarizers compared on real digits, and their training-step overhead.

**Study.** The same binary network -- :class:`~mmbinary.models.BinaryResNet` depth 18, Bi-Real
blocks (every binary 3x3 conv with its own real shortcut), narrow (``--width``), a real stem and a
real linear classifier -- is trained on scikit-learn's digits (1,437 train / 360 held-out real
images, upsampled from 8x8 to ``--img-size``) once per weight binarizer and seed, for the same
budget. Only the weight binarizer changes; every binary conv keeps BBC's layer (weights centred
per output channel, scaled by the detached mean ``|w|``) and ApproxSign activations. Optimizer as
BBC's recipe, scaled to the run: Adam 2.5e-3, linear decay to 0, no weight decay; binarizer
parameters (the shared MLP, the linear gains) in their own Adam 1e-3 group, x0.1 at 70/90/100/110
of 120 epochs' worth of the run. EDE's ``t`` follows IR-Net's schedule (0.1 -> 10, geometric,
per epoch; ``k = max(1/t, 1)``). For one seed, all methods see the same initial weights and the
same batches, and they train in lockstep (one step of each method in turn, in rotating order),
so the step times of different methods are measured interleaved and machine load cancels in
their ratio.

**Overhead.** Forward + backward (no optimizer step) of BinaryResNet-18 on ImageNet-sized inputs
(``--overhead-batch`` x 3 x ``--overhead-size``^2, 1000 classes) per binarizer configuration,
as the recipes use them, against plain STE weights with the same block style. Steps of all
configurations are interleaved (round robin, rotating order) after one warm-up step each; the
table gives the median over ``--overhead-reps`` repetitions.

    python tools/benchmarks/binarizer_study.py [--methods STE BBC-MLP ...] [--seeds 0 1 2]
        [--epochs 8] [--threads 2] [--skip-study] [--skip-overhead] [--overhead-batch 32]
        [--overhead-size 224] [--overhead-reps 5] [--overhead-width 64] [--init-slopes 200]

**Initial slopes.** ``--init-slopes N`` draws ``N`` MLPs of each initialisation (``init=
'official_code'``: PyTorch's ``nn.Linear`` default, as the authors' code; ``'positive_slope'``:
mmbinary's reconstruction) and prints the distribution of the surrogate's initial slope
``s'(0)``, the gradient that a weight at 0 receives at the first step.
"""

import argparse
import os
import os.path as osp
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from mmengine.logging import MMLogger
from torch import nn

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)

from mmbinary.binarizers import EDE, MLPBinarizer  # noqa: E402
from mmbinary.binarizers.bbc import MLP_INITS  # noqa: E402
from mmbinary.datasets import load_digits_split  # noqa: E402
from mmbinary.engine import BinarizerScheduleHook  # noqa: E402
from mmbinary.engine.optimizers import binarizer_parameters  # noqa: E402
from mmbinary.models import BinaryResNet  # noqa: E402

# Study: the weight binarizer of every binary conv; the rest of the conv is STUDY_CONV.
METHODS = {
    'STE': dict(type='STE'),
    'ClippedSTE': dict(type='ClippedSTE'),
    'ApproxSign': dict(type='ApproxSign'),
    'EDE': dict(type='EDE', t=0.1),
    'BBC-MLP': dict(type='MLPBinarizer', shared=True),  # init='positive_slope' [reconstruction]
    'BBC-MLP-official-init': dict(type='MLPBinarizer', shared=True, init='official_code'),
    'BBC-linear': dict(type='LinearBinarizer', shared=True),
}
STUDY_CONV = dict(
    type='BinaryConv2d', input_binarizer='ApproxSign', weight_scale='mean_abs', center_weight=True
)
EDE_SCHEDULE = BinarizerScheduleHook('t', start=0.1, end=10.0, mode='log')  # IR-Net [paper]
LR, BINARIZER_LR = 2.5e-3, 1e-3  # BBC [official code]
BINARIZER_MILESTONES = (70 / 120, 90 / 120, 100 / 120, 110 / 120)  # BBC, as fractions of the run


def _conv(weight_binarizer, input_binarizer='ApproxSign', **kwargs):
    return dict(
        type='BinaryConv2d',
        weight_binarizer=weight_binarizer,
        input_binarizer=input_binarizer,
        **kwargs,
    )


# Overhead: name -> (block style, conv_cfg, baseline name, target ratio or None). The configs
# are the recipes' (BBC: centred weights; AdaBin: its own blocks with Maxout, no weight scale).
OVERHEAD = {
    'STE': ('bireal', _conv('STE'), 'STE', None),
    'ClippedSTE': ('bireal', _conv('ClippedSTE'), 'STE', None),
    'EDE': ('bireal', _conv(dict(type='EDE', t=0.1)), 'STE', None),
    'BBC-MLP': ('bireal', _conv('MLPBinarizer', center_weight=True), 'STE', 1.25),
    'BBC-linear': ('bireal', _conv('LinearBinarizer', center_weight=True), 'STE', 1.25),
    'STE (adabin blocks)': ('adabin', _conv('STE'), 'STE (adabin blocks)', None),
    'AdaBin': (
        'adabin',
        _conv('AdaBinWeight', 'AdaBinActivation', weight_scale='none'),
        'STE (adabin blocks)',
        1.25,
    ),
}


class BinaryResNetClassifier(nn.Module):
    """:class:`BinaryResNet` -> global average pool -> real linear classifier."""

    def __init__(
        self,
        conv_cfg,
        num_classes,
        block_style='bireal',
        depth=18,
        in_channels=3,
        width=64,
        strides=(1, 2, 2, 2),
    ):
        super().__init__()
        self.backbone = BinaryResNet(
            depth=depth,
            block_style=block_style,
            in_channels=in_channels,
            stem_channels=width,
            base_channels=width,
            strides=strides,
            conv_cfg=conv_cfg,
        )
        self.fc = nn.Linear(self.backbone.out_channels[-1], num_classes)

    def forward(self, x):
        return self.fc(self.backbone(x)[-1].mean((2, 3)))


def median_ms(seconds):
    return 1000 * statistics.median(seconds)


def load_line():
    return 'load average (1, 5, 15 min): ' + ', '.join(f'{v:.2f}' for v in os.getloadavg())


class StudyRun:
    """One method, one seed: model, optimizer, schedules and the time of every training step."""

    def __init__(self, method, seed, epochs, width, img_size):
        self.method, self.seed, self.epochs = method, seed, epochs
        torch.manual_seed(seed)
        self.model = BinaryResNetClassifier(
            dict(STUDY_CONV, weight_binarizer=METHODS[method]),
            num_classes=10,
            in_channels=1,
            width=width,
            strides=(1, 1, 2, 2) if img_size <= 32 else (1, 2, 2, 2),
        )
        torch.manual_seed(seed)  # same real weights for every method, whatever its binarizer
        logger = MMLogger.get_current_instance()
        level = logger.level
        logger.setLevel('WARNING')  # init_weights logs every parameter at INFO
        try:
            self.model.backbone.init_weights()
        finally:
            logger.setLevel(level)
        learned = binarizer_parameters(self.model)
        ids = {id(p) for p in learned}
        groups = [{'params': [p for p in self.model.parameters() if id(p) not in ids]}]
        lambdas = [lambda epoch: 1 - epoch / epochs]
        if learned:
            groups.append({'params': learned, 'lr': BINARIZER_LR})
            lambdas.append(
                lambda epoch: 0.1 ** sum(epoch >= m * epochs for m in BINARIZER_MILESTONES)
            )
        self.optimizer = torch.optim.Adam(groups, lr=LR, weight_decay=0)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambdas)
        self.ede = [m for m in self.model.modules() if isinstance(m, EDE)]
        mlps = {m.mlp for m in self.model.modules() if isinstance(m, MLPBinarizer)}
        self.initial_slope = [float(mlp.slope_at_zero()) for mlp in mlps]  # s'(0) at start
        self.step_seconds = []
        self.seconds = 0.0

    def start_epoch(self, epoch):
        for module in self.ede:
            module.t = EDE_SCHEDULE.value_at(epoch / self.epochs)
        self.model.train()

    def step(self, x, y):
        start = time.perf_counter()
        loss = F.cross_entropy(self.model(x), y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        seconds = time.perf_counter() - start
        self.step_seconds.append(seconds)
        self.seconds += seconds

    def end_epoch(self):
        self.scheduler.step()

    @torch.no_grad()
    def evaluate(self, x, y):
        start = time.perf_counter()
        self.model.eval()
        accuracy = (self.model(x).argmax(1) == y).float().mean().item()
        self.seconds += time.perf_counter() - start
        return accuracy


def load_digits(img_size):
    """Digits split (1,437 / 360), bilinearly upsampled to ``img_size`` x ``img_size``."""
    x_tr, y_tr, x_te, y_te = load_digits_split(seed=0)
    up = lambda x: F.interpolate(x, size=img_size, mode='bilinear', align_corners=False)  # noqa: E731
    return up(x_tr), y_tr, up(x_te), y_te


def run_study(methods, seeds, epochs, batch_size=64, img_size=32, width=16, log=print):
    """Train every method for every seed; return ``{method: {'accuracy': [...], 'step_ms': x}}``.

    ``step_ms`` is the median time of a training step (forward, backward, optimizer step) over
    all steps of all seeds.
    """
    x_tr, y_tr, x_te, y_te = load_digits(img_size)
    accuracy = {m: [] for m in methods}
    step_seconds = {m: [] for m in methods}
    for seed in seeds:
        runs = [StudyRun(m, seed, epochs, width, img_size) for m in methods]
        generator = torch.Generator().manual_seed(seed)
        step = 0
        for epoch in range(epochs):
            for run in runs:
                run.start_epoch(epoch)
            order = torch.randperm(len(x_tr), generator=generator)
            for i in range(0, len(order), batch_size):
                idx = order[i : i + batch_size]
                x, y = x_tr[idx], y_tr[idx]
                for k in range(len(runs)):  # rotating order: no method always goes first
                    runs[(step + k) % len(runs)].step(x, y)
                step += 1
            for run in runs:
                run.end_epoch()
        for run in runs:
            acc = run.evaluate(x_te, y_te)
            accuracy[run.method].append(acc)
            step_seconds[run.method] += run.step_seconds
            slope = ''.join(f", s'(0) at start {v:+.2f}" for v in run.initial_slope)
            log(
                f'{run.method:>10} seed {seed}: held-out accuracy {acc:.3f}{slope}, '
                f'{run.seconds:.1f} s ({len(run.step_seconds)} steps, median '
                f'{median_ms(run.step_seconds):.1f} ms)'
            )
    return {m: {'accuracy': accuracy[m], 'step_ms': median_ms(step_seconds[m])} for m in methods}


def study_table(results):
    """Markdown table: method | accuracy mean +- std | step time | relative to STE."""
    base = results.get('STE', {}).get('step_ms')
    lines = [
        '| method | held-out accuracy (mean ± std) | step time (ms, median) | relative to STE |',
        '|---|---|---|---|',
    ]
    for method, r in results.items():
        accs = r['accuracy']
        std = statistics.stdev(accs) if len(accs) > 1 else 0.0
        ratio = f'{r["step_ms"] / base:.2f}×' if base else '—'
        lines.append(
            f'| {method} | {statistics.mean(accs):.3f} ± {std:.3f} | {r["step_ms"]:.1f} | {ratio} |'
        )
    return '\n'.join(lines)


def _train_step_seconds(model, x, y):
    model.zero_grad(set_to_none=True)
    start = time.perf_counter()
    F.cross_entropy(model(x), y).backward()
    return time.perf_counter() - start


def run_overhead(
    configs, batch=32, size=224, reps=5, depth=18, width=64, num_classes=1000, log=print
):
    """Median ms per forward + backward step of every config; ``{name: ms}``.

    Every config's baseline (``OVERHEAD[name][2]``) is measured too. One warm-up step each, then
    ``reps`` round robins over all models in rotating order.
    """
    names = list(configs)
    for name in configs:
        baseline = OVERHEAD[name][2]
        if baseline not in names:
            names.insert(0, baseline)
    models = {}
    for name in names:
        style, conv_cfg, _, _ = OVERHEAD[name]
        torch.manual_seed(0)
        models[name] = BinaryResNetClassifier(
            conv_cfg, num_classes, block_style=style, depth=depth, width=width
        ).train()
    x = torch.randn(batch, 3, size, size)
    y = torch.randint(0, num_classes, (batch,))
    for name in names:  # warm-up
        _train_step_seconds(models[name], x, y)
    seconds = {name: [] for name in names}
    for rep in range(reps):
        for k in range(len(names)):
            name = names[(rep + k) % len(names)]
            seconds[name].append(_train_step_seconds(models[name], x, y))
        log(
            f'overhead rep {rep + 1}/{reps}: '
            + ', '.join(f'{n} {1000 * seconds[n][-1]:.0f} ms' for n in names)
        )
    return {name: median_ms(seconds[name]) for name in names}


def overhead_table(ms):
    """Markdown table: configuration | blocks | ms / step | ratio to its STE | target met."""
    lines = [
        '| configuration | blocks | ms / step (median) | × STE (same blocks) | target ≤ 1.25× |',
        '|---|---|---|---|---|',
    ]
    for name, value in ms.items():
        style, _, baseline, target = OVERHEAD[name]
        ratio = value / ms[baseline]
        met = '—' if target is None else ('met' if ratio <= target else 'NOT met')
        lines.append(f'| {name} | {style} | {value:.1f} | {ratio:.2f}× | {met} |')
    return '\n'.join(lines)


def init_slopes(draws, seed=0):
    """``{init: tensor of s'(0)}`` over ``draws`` MLPs per initialisation (autograd, float64)."""
    slopes = {}
    for init in MLP_INITS:
        torch.manual_seed(seed)
        values = []
        for _ in range(draws):
            binarizer = MLPBinarizer(init=init, shared=False).double()
            x = torch.zeros(1, dtype=torch.float64, requires_grad=True)
            binarizer.surrogate(x).sum().backward()
            values.append(x.grad.item())
        slopes[init] = torch.tensor(values)
    return slopes


def slopes_table(slopes):
    """Markdown table: init | s'(0) mean ± std | min | max | share negative."""
    lines = [
        "| init | s'(0) mean ± std | min | max | negative |",
        '|---|---|---|---|---|',
    ]
    for init, v in slopes.items():
        lines.append(
            f'| {init} | {v.mean():+.2f} ± {v.std():.2f} | {v.min():+.2f} | {v.max():+.2f} '
            f'| {100 * (v < 0).double().mean():.0f} % |'
        )
    return '\n'.join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--methods', nargs='+', default=list(METHODS), choices=list(METHODS))
    parser.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2])
    parser.add_argument('--epochs', type=int, default=8)
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument('--img-size', type=int, default=32)
    parser.add_argument('--width', type=int, default=16)
    parser.add_argument('--threads', type=int, default=None, help='torch threads (default: torch)')
    parser.add_argument('--skip-study', action='store_true')
    parser.add_argument('--skip-overhead', action='store_true')
    parser.add_argument(
        '--overhead-configs', nargs='+', default=list(OVERHEAD), choices=list(OVERHEAD)
    )
    parser.add_argument('--overhead-batch', type=int, default=32)
    parser.add_argument('--overhead-size', type=int, default=224)
    parser.add_argument('--overhead-reps', type=int, default=5)
    parser.add_argument('--overhead-width', type=int, default=64, help='stage-1 width (64 = real)')
    parser.add_argument(
        '--init-slopes', type=int, default=0, metavar='N', help="s'(0) of N MLPs per init"
    )
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    print(f'torch {torch.__version__}, {torch.get_num_threads()} threads; {load_line()}')
    results = {}
    if args.init_slopes:
        slopes = init_slopes(args.init_slopes)
        print(f"\nInitial surrogate slope s'(0) of the BBC MLP, {args.init_slopes} draws per init")
        print(slopes_table(slopes))
        results['init_slopes'] = slopes
    if not args.skip_study:
        start = time.time()
        study = run_study(
            args.methods, args.seeds, args.epochs, args.batch_size, args.img_size, args.width
        )
        print(
            f'\nDigits, BinaryResNet-18 (bireal, width {args.width}, {args.img_size}x'
            f'{args.img_size}), {args.epochs} epochs x batch {args.batch_size}, '
            f'seeds {args.seeds}; {time.time() - start:.0f} s; {load_line()}'
        )
        print(study_table(study))
        results['study'] = study
    if not args.skip_overhead:
        start = time.time()
        ms = run_overhead(
            args.overhead_configs,
            args.overhead_batch,
            args.overhead_size,
            args.overhead_reps,
            width=args.overhead_width,
        )
        print(
            f'\nForward + backward, BinaryResNet-18 (width {args.overhead_width}), '
            f'batch {args.overhead_batch}, '
            f'{args.overhead_size}x{args.overhead_size}, 1000 classes, median of '
            f'{args.overhead_reps} interleaved reps; {time.time() - start:.0f} s; {load_line()}'
        )
        print(overhead_table(ms))
        results['overhead'] = ms
    return results


if __name__ == '__main__':
    main()
