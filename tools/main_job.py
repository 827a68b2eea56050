"""The main job (``make run``): train a binary pose network on CPU and report COCO AP.

1. Generates the synthetic COCO keypoint set into ``--data-root`` if it is missing (no download).
2. Trains the binary SBPN of ``--config`` with MMEngine's Runner (log lines with ETA).
3. Evaluates keypoint AP with MMPose's ``CocoMetric`` on the held-out split (ground-truth boxes).
4. Draws the predictions on a few held-out images and writes a summary.

    python tools/main_job.py [--epochs N] [--work-dir DIR] [--data-root DIR] [--seed S]
"""

import argparse
import json
import os.path as osp
import sys
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # run from a clone

import mmbinary  # noqa: E402, F401  (registers everything, applies compat fixes)
from mmbinary.datasets import generate_synthetic_coco  # noqa: E402

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEFAULT_CONFIG = osp.join(
    ROOT, 'configs/main_job/td-hm_sbpn-bireal18-w32_1xb16-16e_synthetic-coco-128x96.py'
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a binary SBPN on synthetic COCO (CPU)')
    parser.add_argument('--config', default=DEFAULT_CONFIG)
    parser.add_argument('--work-dir', default=osp.join(ROOT, 'work_dirs/main_job'))
    parser.add_argument('--data-root', default=osp.join(ROOT, 'data/synthetic_coco'))
    parser.add_argument('--epochs', type=int, default=None, help='override the config')
    parser.add_argument('--num-train', type=int, default=800, help='images to generate')
    parser.add_argument('--num-val', type=int, default=200, help='held-out images to generate')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--num-vis', type=int, default=4, help='held-out images to draw')
    args = parser.parse_args(argv)
    if args.epochs is not None and args.epochs <= 0:
        parser.error(f'--epochs must be > 0, got {args.epochs}')
    return args


def ensure_dataset(data_root, num_train, num_val, seed):
    anns = [
        osp.join(data_root, 'annotations', f'person_keypoints_{s}.json') for s in ('train', 'val')
    ]
    if all(osp.isfile(a) for a in anns):
        print(f'[main job] using the synthetic COCO set in {data_root}')
        return
    print(f'[main job] generating the synthetic COCO keypoint set in {data_root}')
    generate_synthetic_coco(data_root, num_train, num_val, seed=seed)


def build_config(args):
    from mmengine.config import Config

    cfg = Config.fromfile(args.config)
    data_root = osp.join(osp.abspath(args.data_root), '')
    for loader in (cfg.train_dataloader, cfg.val_dataloader, cfg.test_dataloader):
        loader.dataset.data_root = data_root
    ann = osp.join(data_root, 'annotations/person_keypoints_val.json')
    cfg.val_evaluator.ann_file = ann
    cfg.test_evaluator.ann_file = ann
    if args.epochs is not None:
        cfg.train_cfg.max_epochs = args.epochs
        for scheduler in cfg.param_scheduler:
            if scheduler.get('type') == 'CosineAnnealingLR':
                scheduler.T_max = args.epochs
    cfg.train_cfg.val_interval = cfg.train_cfg.max_epochs  # one evaluation, at the end
    cfg.work_dir = osp.abspath(args.work_dir)
    cfg.randomness = dict(seed=args.seed)
    return cfg


def draw_predictions(cfg, checkpoint, data_root, out_dir, num):
    """Run the trained model on held-out images (GT boxes) and save the drawings."""
    import mmcv
    from mmengine.fileio import load
    from mmpose.apis import inference_topdown, init_model
    from mmpose.structures import merge_data_samples
    from mmpose.visualization import PoseLocalVisualizer

    model = init_model(cfg, checkpoint, device='cpu')
    visualizer = PoseLocalVisualizer(radius=2, line_width=1)
    visualizer.set_dataset_meta(model.dataset_meta)
    coco = load(osp.join(data_root, 'annotations/person_keypoints_val.json'))
    paths = []
    for image in coco['images'][:num]:
        boxes = [a['bbox'] for a in coco['annotations'] if a['image_id'] == image['id']]
        boxes = [[x, y, x + w, y + h] for x, y, w, h in boxes]
        path = osp.join(data_root, 'images', image['file_name'])
        result = merge_data_samples(inference_topdown(model, path, bboxes=boxes))
        out = osp.join(out_dir, 'vis_' + osp.basename(image['file_name']).replace('.png', '.jpg'))
        img = mmcv.imread(path, channel_order='rgb')
        visualizer.add_datasample('pred', img, result, draw_gt=False, draw_bbox=True, out_file=out)
        paths.append(out)
    return paths


def main(argv=None):
    args = parse_args(argv)
    start = time.time()
    ensure_dataset(args.data_root, args.num_train, args.num_val, args.seed)
    from mmengine.runner import Runner

    cfg = build_config(args)
    runner = Runner.from_cfg(cfg)
    runner.train()
    train_seconds = time.time() - start
    checkpoint = osp.join(cfg.work_dir, f'epoch_{cfg.train_cfg.max_epochs}.pth')
    runner.save_checkpoint(cfg.work_dir, osp.basename(checkpoint))
    summary = {k: round(float(v.current()), 4) for k, v in runner.message_hub.log_scalars.items()
               if k.startswith('val/coco/')}  # fmt: skip
    vis = draw_predictions(cfg, checkpoint, osp.abspath(args.data_root), cfg.work_dir, args.num_vis)
    summary.update(
        total_seconds=round(time.time() - start, 1),
        train_and_eval_seconds=round(train_seconds, 1),
        checkpoint=checkpoint,
        visualizations=vis,
    )
    with open(osp.join(cfg.work_dir, 'summary.json'), 'w') as f:
        json.dump(summary, f, indent=2)
    print('\n[main job] done in {:.1f} s'.format(summary['total_seconds']))
    print('[main job] held-out COCO keypoint AP: {:.3f} (AP50 {:.3f}, AR {:.3f})'.format(
        summary.get('val/coco/AP', float('nan')), summary.get('val/coco/AP .5', float('nan')),
        summary.get('val/coco/AR', float('nan'))))  # fmt: skip
    print(f'[main job] checkpoint: {checkpoint}')
    print(f'[main job] predictions drawn: {", ".join(vis)}')
    print(f'[main job] summary: {osp.join(cfg.work_dir, "summary.json")}')
    return summary


if __name__ == '__main__':
    main()
