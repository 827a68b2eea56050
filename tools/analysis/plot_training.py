"""Plot a training run of an MMEngine work dir: loss, metric and binary-weight flip ratio.

Usage::

    python tools/analysis/plot_training.py ${WORK_DIR} [--out training.png] [--metrics KEY ...]

``WORK_DIR`` is a work dir (its latest run, ``<timestamp>/vis_data/scalars.json``, is read), a run
folder, or a ``scalars.json`` file. One figure, three panels:

* every loss term of the training records (``loss``, ``loss_kpt``, ...) against the iteration;
* the validation metric against the epoch: ``--metrics``, else ``coco/AP`` (MMPose) or
  ``accuracy/top1`` (mmpretrain) when logged, else every validation key;
* the flip ratio of ``FlipRatioHook`` (fraction of binary weights whose sign changed during the
  epoch), per layer group and overall, against the epoch. The hook logs after each epoch, so the
  value in the records of epoch ``e`` belongs to epoch ``e - 1``.
"""

import argparse
import glob
import json
import os.path as osp
import sys
from collections import OrderedDict

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmbinary.demo.sources import atomic_output  # noqa: E402

MAIN_METRICS = ('coco/AP', 'accuracy/top1')
NOT_METRICS = ('step', 'time', 'data_time', 'epoch', 'iter', 'lr', 'memory')


def find_scalars(path: str) -> str:
    """The ``scalars.json`` of ``path``: the file itself, a run folder, or a work dir's latest."""
    if osp.isfile(path):
        return path
    for pattern in ('vis_data/scalars.json', '*/vis_data/scalars.json'):
        runs = sorted(glob.glob(osp.join(path, pattern)))
        if runs:
            return runs[-1]
    raise FileNotFoundError(f'no vis_data/scalars.json under {path}')


def read_scalars(path: str) -> dict:
    """Series from ``scalars.json``: ``dict(loss={key: [(iter, v)]}, metrics={key: [(epoch, v)]},
    flip_ratio={group: [(epoch, v)]})``."""
    losses, metrics, flips = OrderedDict(), OrderedDict(), OrderedDict()
    with open(path) as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f'{path}, line {number}: not JSON ({error})') from error
            if 'iter' in record and 'epoch' in record:  # a training record
                for key, value in record.items():
                    if 'loss' in key:
                        losses.setdefault(key, []).append((record['iter'], value))
                    elif key == 'flip_ratio' or key.startswith('flip_ratio/'):
                        group = key.partition('/')[2] or 'all'
                        series = flips.setdefault(group, OrderedDict())
                        series.setdefault(record['epoch'] - 1, value)  # first record of the epoch
            elif 'step' in record:  # a validation record
                for key, value in record.items():
                    if key not in NOT_METRICS and isinstance(value, (int, float)):
                        metrics.setdefault(key, []).append((record['step'], value))
    return dict(
        loss=losses,
        metrics=metrics,
        flip_ratio=OrderedDict((g, list(s.items())) for g, s in flips.items()),
    )


def plot(path: str, out: str, metrics=None) -> str:
    """Render the figure of ``path`` (see :func:`find_scalars`) to ``out`` (PNG)."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    scalars_path = find_scalars(path)
    data = read_scalars(scalars_path)
    if not data['loss']:
        raise ValueError(f'{scalars_path} has no training loss records')
    if metrics:
        missing = [m for m in metrics if m not in data['metrics']]
        if missing:
            raise ValueError(
                f'metrics {missing} not in {scalars_path}; logged: {list(data["metrics"])}'
            )
    else:
        metrics = [m for m in MAIN_METRICS if m in data['metrics']] or list(data['metrics'])
    fig, axes = plt.subplots(1, 3, figsize=(15, 4), constrained_layout=True)
    ax = axes[0]
    for key, series in data['loss'].items():
        ax.plot(*zip(*series), label=key)
    ax.set_yscale('log')
    ax.set_xlabel('iteration')
    ax.set_title('training loss')
    ax.legend(fontsize=8)
    ax = axes[1]
    for key in metrics:
        ax.plot(*zip(*data['metrics'][key]), marker='o', label=key)
    ax.set_xlabel('epoch')
    ax.set_title('validation metric' if metrics else 'validation metric: none logged')
    if metrics:
        ax.legend(fontsize=8)
    ax = axes[2]
    for group, series in data['flip_ratio'].items():
        epochs, values = zip(*series)
        style = dict(color='black', linewidth=2) if group == 'all' else {}
        ax.plot(epochs, [100 * v for v in values], label=group, **style)
    ax.set_xlabel('epoch')
    ax.set_ylabel('% of binary weights')
    ax.set_title(
        'sign flips per epoch' if data['flip_ratio'] else 'sign flips: no FlipRatioHook logged'
    )
    if data['flip_ratio']:
        ax.legend(fontsize=8)
    fig.suptitle(scalars_path, fontsize=9)
    try:
        with atomic_output(out) as temporary:
            fig.savefig(temporary, dpi=80, format='png')
    finally:
        plt.close(fig)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('work_dir', help='work dir, run folder or scalars.json')
    parser.add_argument('--out', default='training.png', help='PNG file to write')
    parser.add_argument('--metrics', nargs='+', help='validation keys to plot (e.g. coco/AP)')
    args = parser.parse_args(argv)
    try:
        out = plot(args.work_dir, args.out, args.metrics)
    except (FileNotFoundError, ValueError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 1
    print(f'training figure saved at {out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
