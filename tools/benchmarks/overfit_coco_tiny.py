"""Benchmark: binary pose networks overfit 4 real COCO images (12 annotated people).

Trains each model through MMEngine's Runner on ``../shared/data/coco_tiny`` and evaluates it with
MMPose's ``CocoMetric`` on the same images (ground-truth boxes) every ``--interval`` epochs,
printing the AP curve and the time. AP at epoch 0 is the untrained network's.

    python tools/benchmarks/overfit_coco_tiny.py [--models sbpn18 bhrnet_w32] [--epochs 60]
        [--interval 10] [--data-root ../shared/data/coco_tiny]
"""

import argparse
import os
import os.path as osp
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)

import mmbinary  # noqa: E402, F401

CONFIGS = {
    'sbpn18': 'configs/coco_tiny/td-hm_sbpn-bireal18_1xb4-60e_coco-tiny-256x192.py',
    'bhrnet_w32': 'configs/coco_tiny/td-hm_bhrnet-w32_1xb4-60e_coco-tiny-256x192.py',
}


def overfit(name, epochs, interval, data_root, work_dir, seed=0):
    """Train ``name`` on coco_tiny; return ``([(epoch, AP), ...], seconds, checkpoint)``."""
    from mmengine.config import Config
    from mmengine.hooks import Hook
    from mmengine.runner import Runner

    if not osp.isfile(osp.join(data_root, 'test_coco.json')):
        raise FileNotFoundError(f'coco_tiny not found: {data_root}/test_coco.json')
    os.environ['MMBINARY_COCO_TINY'] = osp.join(osp.abspath(data_root), '')
    cfg = Config.fromfile(osp.join(ROOT, CONFIGS[name]))
    cfg.train_cfg.max_epochs = epochs
    cfg.train_cfg.val_interval = interval
    cfg.work_dir = work_dir
    cfg.randomness = dict(seed=seed)
    curve = []

    class RecordAP(Hook):
        def after_val_epoch(self, runner, metrics=None):
            epoch = runner.epoch if runner.train_loop is not None else 0
            curve.append((epoch, float(metrics['coco/AP'])))

    runner = Runner.from_cfg(cfg)
    runner.register_hook(RecordAP(), priority='LOWEST')
    start = time.time()
    runner.val()  # the untrained network
    curve[-1] = (0, curve[-1][1])
    runner.train()
    seconds = time.time() - start
    checkpoint = osp.join(work_dir, f'epoch_{epochs}.pth')
    return curve, seconds, checkpoint


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
