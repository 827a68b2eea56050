"""Plot every registered binarizer's forward value and backward (pseudo-)derivative, and BBC's
learned estimator from a checkpoint.

Usage::

    python tools/analysis/plot_binarizers.py [--out binarizers.png] [--range -2 2]
        [--checkpoint ${CKPT}] [--no-center] [--max-mlps 4]

One panel per binarizer of ``mmbinary.registry.BINARIZERS``, built with its default arguments in
training mode: the forward value ``y(x)`` (solid) and the derivative the backward pass uses,
``dy_i / dx_i`` from autograd (dashed). The plotted x is one tensor (for ``AdaBinWeight``, one
output channel, so its alpha = std and beta = mean are those of the plotted range).

With ``--checkpoint`` (a model trained with ``MLPBinarizer``, the BBC paper's gradient estimator)
a last row shows each learned MLP's ``s'(x) = sum_k 1[|m_k(x)| < 1] m_k'(x)`` over the range of the
weights it binarized, with their histogram behind it, and beside it the learned curve against the
fixed soft functions (STE, clipped STE, ApproxSign, tanh, SwishSign, EDE). The weights are those
of every layer that holds the MLP (``<layer>.weight_binarizer.mlp.fc1`` in the state dict),
centred per output channel as BBC's layer does (``center_weight=True``; ``--no-center`` for
layers built without it).
"""

import argparse
import os.path as osp
import sys
from collections import OrderedDict

import numpy as np
import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmbinary.binarizers import (  # noqa: E402
    MLPBinarizer,
    available_binarizers,
    binarizer_sharing_scope,
    build_binarizer,
)
from mmbinary.demo.sources import atomic_output  # noqa: E402

SOFT_FUNCTIONS = ('STE', 'ClippedSTE', 'ApproxSign', 'TanhSign', 'SwishSign', 'EDE')


def forward_and_derivative(binarizer, x: torch.Tensor):
    """``(y, dy_i/dx_i)`` of ``binarizer`` on the 1-D tensor ``x`` (training mode, autograd)."""
    binarizer.train()
    shape = (1, -1) if type(binarizer).__name__ == 'AdaBinWeight' else (-1,)

    def f(v):
        return binarizer(v.reshape(shape)).reshape(-1)

    x = x.detach().double()
    y = f(x.clone().requires_grad_(True)).detach()
    jacobian = torch.autograd.functional.jacobian(f, x)
    return y.numpy(), torch.diagonal(jacobian).numpy()


def learned_mlps(state_dict: dict, center: bool = True):
    """``[(mlp_binarizer, centred_weights, layer_names)]`` per distinct BBC MLP of a checkpoint."""
    groups = OrderedDict()
    for key, fc1 in state_dict.items():
        if not key.endswith('.weight_binarizer.mlp.fc1'):
            continue
        layer = key[: -len('.weight_binarizer.mlp.fc1')]
        fc2 = state_dict[layer + '.weight_binarizer.mlp.fc2']
        weight = state_dict.get(layer + '.weight')
        if weight is None:
            continue
        ident = (tuple(fc1.shape), fc1.double().sum().item(), fc2.double().sum().item())
        entry = groups.setdefault(ident, dict(fc1=fc1, fc2=fc2, weights=[], layers=[]))
        w = weight.double().reshape(weight.shape[0], -1)
        if center:
            w = w - w.mean(1, keepdim=True)
        entry['weights'].append(w.reshape(-1))
        entry['layers'].append(layer)
    mlps = []
    for entry in groups.values():
        with binarizer_sharing_scope():
            binarizer = MLPBinarizer(hidden_channels=entry['fc1'].numel(), shared=False)
        binarizer.mlp.fc1.data.copy_(entry['fc1'])
        binarizer.mlp.fc2.data.copy_(entry['fc2'])
        mlps.append((binarizer.double(), torch.cat(entry['weights']).numpy(), entry['layers']))
    return mlps


def load_state_dict(path: str) -> dict:
    if not osp.isfile(path):
        raise FileNotFoundError(f'checkpoint not found: {path}')
    from mmbinary.utils import safe_torch_load

    checkpoint = safe_torch_load(path, map_location='cpu')  # weights only: no code runs
    return checkpoint.get('state_dict', checkpoint) if isinstance(checkpoint, dict) else {}


def plot(out: str, x_range=(-2.0, 2.0), checkpoint=None, center=True, points=401, max_mlps=4):
    """Render the figure to ``out`` (PNG, written to a temporary file and renamed).

    ``points`` x values (the diagonal of a ``points x points`` Jacobian per binarizer); at most
    ``max_mlps`` learned MLPs (a checkpoint with ``shared=False`` has one per layer).
    """
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    mlps = []
    if checkpoint:
        mlps = learned_mlps(load_state_dict(checkpoint), center=center)
        if not mlps:
            raise ValueError(
                f'checkpoint {checkpoint} holds no MLPBinarizer '
                '(no "<layer>.weight_binarizer.mlp.fc1" key)'
            )
        if len(mlps) > max_mlps:  # shared=False: one MLP per layer
            print(f'{len(mlps)} distinct BBC MLPs in {checkpoint}; plotting the first {max_mlps}')
            mlps = mlps[:max_mlps]
    names = available_binarizers()
    cols = 4
    rows = -(-len(names) // cols) + len(mlps)
    fig = plt.figure(figsize=(4 * cols, 3.2 * rows), constrained_layout=True)
    grid = fig.add_gridspec(rows, cols)
    x = torch.linspace(x_range[0], x_range[1], points, dtype=torch.float64)
    curves = {}
    for i, name in enumerate(names):
        with binarizer_sharing_scope():
            binarizer = build_binarizer(name).double()
        y, dy = forward_and_derivative(binarizer, x)
        curves[name] = dy
        ax = fig.add_subplot(grid[i // cols, i % cols])
        ax.plot(x, y, color='tab:blue', label='forward y(x)')
        ax.plot(x, dy, color='tab:red', linestyle='--', label='backward dy/dx')
        ax.axhline(0, color='grey', linewidth=0.5)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel('x')
        if i == 0:
            ax.legend(fontsize=8, loc='upper left')
    first_row = -(-len(names) // cols)
    for j, (binarizer, weights, layers) in enumerate(mlps):
        row = first_row + j
        low, high = np.percentile(weights, [0.1, 99.9])
        span = max(abs(low), abs(high))
        xw = torch.linspace(-span, span, points, dtype=torch.float64)
        _, learned = forward_and_derivative(binarizer, xw)
        ax = fig.add_subplot(grid[row, :2])
        hist = ax.twinx()
        hist.hist(weights, bins=100, range=(-span, span), color='lightgrey')
        hist.set_ylabel('weights (count)')
        ax.set_zorder(hist.get_zorder() + 1)
        ax.patch.set_visible(False)
        ax.plot(xw, learned, color='tab:red', label="learned s'(x)")
        ax.set_xlabel('centred weight' if center else 'weight')
        ax.set_ylabel("s'(x)")
        ax.set_title(
            f'BBC MLP {j}: learned estimator over {len(weights):,} weights of {len(layers)} layers',
            fontsize=10,
        )
        ax.legend(fontsize=8, loc='upper left')
        ax = fig.add_subplot(grid[row, 2:])
        _, learned_wide = forward_and_derivative(binarizer, x)
        ax.plot(x, learned_wide, color='black', linewidth=2, label='BBC MLP (learned)')
        for name in SOFT_FUNCTIONS:
            if name in curves:
                ax.plot(x, curves[name], linewidth=1, label=name)
        ax.axvspan(-span, span, color='lightgrey', alpha=0.5, label='weight range')
        ax.set_xlabel('x')
        ax.set_ylabel('backward derivative')
        ax.set_title('learned estimator and the soft functions', fontsize=10)
        ax.legend(fontsize=7, ncol=2)
    fig.suptitle('mmbinary binarizers: forward value and backward derivative (training mode)')
    try:
        with atomic_output(out) as temporary:
            fig.savefig(temporary, dpi=80, format='png')
    finally:
        plt.close(fig)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', default='binarizers.png', help='PNG file to write')
    parser.add_argument(
        '--range', nargs=2, type=float, default=(-2.0, 2.0), metavar=('LOW', 'HIGH')
    )
    parser.add_argument('--checkpoint', help='a checkpoint trained with MLPBinarizer (BBC)')
    parser.add_argument(
        '--no-center', action='store_true', help='the BBC layers did not centre their weights'
    )
    parser.add_argument(
        '--max-mlps', type=int, default=4, help='learned MLPs to plot (one per layer if unshared)'
    )
    args = parser.parse_args(argv)
    if args.max_mlps < 1:
        parser.error(f'--max-mlps must be >= 1, got {args.max_mlps}')
    if not args.range[0] < args.range[1]:
        parser.error(f'--range LOW HIGH needs LOW < HIGH, got {args.range}')
    try:
        out = plot(
            args.out,
            tuple(args.range),
            args.checkpoint,
            center=not args.no_center,
            max_mlps=args.max_mlps,
        )
    except (FileNotFoundError, ValueError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 1
    print(f'binarizer figure saved at {out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
