"""Benchmark: binary pose networks overfit 4 real COCO images (12 annotated people).

Trains each model with ``tools/train.py`` on ``../shared/data/coco_tiny`` and evaluates it with
MMPose's ``CocoMetric`` on the same images (ground-truth boxes) every ``--interval`` epochs,
printing the AP curve and the time (training and every evaluation). AP at epoch 0 is the
untrained network's (``ValidateBeforeTrainHook`` in the configs).

    python tools/benchmarks/overfit_coco_tiny.py [--models sbpn18 bhrnet_w32] [--epochs 60]
        [--interval 10] [--data-root ../shared/data/coco_tiny]
"""

import argparse
import glob
import importlib.util
import json
import os
import os.path as osp
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)

from mmbinary.utils import isolated_mmengine_globals  # noqa: E402

CONFIGS = {
    'sbpn18': 'configs/coco_tiny/td-hm_sbpn-bireal18_1xb4-60e_coco-tiny-256x192.py',
    'bhrnet_w32': 'configs/coco_tiny/td-hm_bhrnet-w32_1xb4-60e_coco-tiny-256x192.py',
}


def _load_tool(name):
    spec = importlib.util.spec_from_file_location(
        f'mmbinary_tools_{name}', osp.join(ROOT, 'tools', f'{name}.py')
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def ap_curve(work_dir):
    """``[(epoch, AP), ...]`` of the latest run in ``work_dir`` (its ``vis_data/scalars.json``)."""
    runs = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))
    if not runs:
        raise FileNotFoundError(f'no vis_data/scalars.json under {work_dir}')
    curve = []
    with open(runs[-1]) as f:
        for line in f:
            record = json.loads(line)
            if 'coco/AP' in record:
                curve.append((int(record['step']), float(record['coco/AP'])))
    return curve


def overfit(name, epochs, interval, data_root, work_dir, seed=0):
    """Train ``name`` on coco_tiny with ``tools/train.py``; ``([(epoch, AP), ...], s, ckpt)``.

    The config's ``ValidateBeforeTrainHook`` evaluates the untrained network (epoch 0), then
    ``CocoMetric`` runs every ``interval`` epochs; the curve is read back from the run's
    ``vis_data/scalars.json``.
    """
    if not osp.isfile(osp.join(data_root, 'test_coco.json')):
        raise FileNotFoundError(f'coco_tiny not found: {data_root}/test_coco.json')
    os.environ['MMBINARY_COCO_TINY'] = osp.join(osp.abspath(data_root), '')
    argv = [
        osp.join(ROOT, CONFIGS[name]),
        '--work-dir',
        work_dir,
        '--cfg-options',
        f'train_cfg.max_epochs={epochs}',
        f'train_cfg.val_interval={interval}',
        f'randomness.seed={seed}',
    ]
    start = time.time()
    with isolated_mmengine_globals():  # one process trains several models: no shared visualizer
        _load_tool('train').main(argv)
    seconds = time.time() - start
    checkpoint = osp.join(work_dir, f'epoch_{epochs}.pth')
    return ap_curve(work_dir), seconds, checkpoint


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--models', nargs='+', default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument('--epochs', type=int, default=60)
    parser.add_argument('--interval', type=int, default=10)
    parser.add_argument('--data-root', default=osp.join(osp.dirname(ROOT), 'shared/data/coco_tiny'))
    parser.add_argument('--work-dir', default=osp.join(ROOT, 'work_dirs/overfit_coco_tiny'))
    args = parser.parse_args(argv)
    results = {}
    for name in args.models:
        curve, seconds, _ = overfit(
            name, args.epochs, args.interval, args.data_root, osp.join(args.work_dir, name)
        )
        results[name] = (curve, seconds)
    print('\nCOCO keypoint AP on coco_tiny (trained and evaluated on the same 4 images)')
    print('| model | ' + ' | '.join(f'epoch {e}' for e, _ in curve) + ' | time (s) |')
    print('|---' * (len(curve) + 2) + '|')
    for name, (curve, seconds) in results.items():
        print(f'| {name} | ' + ' | '.join(f'{ap:.3f}' for _, ap in curve) + f' | {seconds:.0f} |')
    return results


if __name__ == '__main__':
    main()
