"""Train a model from an MMEngine config (MMPose or mmpretrain scope) with mmbinary loaded.

Same interface as MMPose's and mmpretrain's ``tools/train.py``::

    python tools/train.py ${CONFIG} [--work-dir DIR] [--resume [CKPT]] [--amp]
        [--auto-scale-lr] [--cfg-options k=v ...] [--launcher none|pytorch|slurm|mpi]

Exits with status 3 when :class:`~mmbinary.engine.NonFiniteCheckHook` stops training at a
non-finite loss or gradient. Under ``torchrun`` on a machine without CUDA it trains with the gloo
backend and DDP on CPU (:func:`mmbinary.utils.dist.setup_cpu_distributed`).
"""

import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # run from a clone

import mmbinary  # noqa: E402, F401, I001  (first: registers everything, applies compat fixes)
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

from mmbinary.engine import NonFiniteLossError  # noqa: E402
from mmbinary.utils.dist import setup_cpu_distributed  # noqa: E402

EXIT_NON_FINITE = 3


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a (binary) model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from the latest checkpoint in the work_dir, or from the given checkpoint',
    )
    parser.add_argument('--amp', action='store_true', help='enable automatic mixed precision')
    parser.add_argument(
        '--no-validate', action='store_true', help='skip validation during training'
    )
    parser.add_argument(
        '--auto-scale-lr', action='store_true', help='scale the lr by the actual batch size'
    )
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, e.g. train_cfg.max_epochs=10',
    )
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def merge_args(cfg, args):
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    if args.amp:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    if args.no_validate:
        cfg.val_cfg = None
        cfg.val_dataloader = None
        cfg.val_evaluator = None
    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg:
            raise KeyError(
                '--auto-scale-lr needs "auto_scale_lr" (enable, base_batch_size) in the config'
            )
        cfg.auto_scale_lr.enable = True
    return cfg


def main(argv=None):
    args = parse_args(argv)
    if not osp.isfile(args.config):
        raise FileNotFoundError(f'config file not found: {args.config}')
    cfg = merge_args(Config.fromfile(args.config), args)
    setup_cpu_distributed(cfg)  # torchrun on a machine without CUDA: gloo, DDP on CPU
    runner = Runner.from_cfg(cfg)
    try:
        runner.train()
    except NonFiniteLossError as e:
        runner.logger.error(str(e))
        sys.exit(EXIT_NON_FINITE)


if __name__ == '__main__':
    main()
