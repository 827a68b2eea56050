"""Evaluate a checkpoint with an MMEngine config (MMPose or mmpretrain scope), mmbinary loaded.

Same interface as MMPose's and mmpretrain's ``tools/test.py``::

    python tools/test.py ${CONFIG} ${CHECKPOINT} [--work-dir DIR] [--out FILE]
        [--cfg-options k=v ...] [--launcher none|pytorch|slurm|mpi] [--non-strict]

The checkpoint must match the model: a missing, unexpected or differently shaped key stops the
tool with one error naming the first of each and their counts
(:func:`mmbinary.utils.load_checkpoint_strict`); ``--non-strict`` loads the matching tensors and
evaluates anyway, with a loud warning.
"""

import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # run from a clone

import mmbinary  # noqa: E402, F401, I001  (first: registers everything, applies compat fixes)
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.model import is_model_wrapper  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

from mmbinary.utils import load_checkpoint_strict  # noqa: E402
from mmbinary.utils.dist import setup_cpu_distributed  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Evaluate a (binary) model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save evaluation results')
    parser.add_argument('--out', help='dump the metrics to this file (.json / .yaml / .pkl)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, e.g. test_dataloader.batch_size=8',
    )
    parser.add_argument(
        '--non-strict',
        action='store_true',
        help='evaluate even if the checkpoint does not match the model (loud warning)',
    )
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def main(argv=None):
    args = parse_args(argv)
    for path, what in ((args.config, 'config'), (args.checkpoint, 'checkpoint')):
        if not osp.isfile(path):
            raise FileNotFoundError(f'{what} file not found: {path}')
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = None  # loaded below, strictly
    setup_cpu_distributed(cfg)  # torchrun on a machine without CUDA: gloo, DDP on CPU
    runner = Runner.from_cfg(cfg)
    model = runner.model.module if is_model_wrapper(runner.model) else runner.model
    load_checkpoint_strict(model, args.checkpoint, strict=not args.non_strict)
    metrics = runner.test()
    if args.out:
        import mmengine

        mmengine.dump(metrics, args.out)
    return metrics


if __name__ == '__main__':
    main()
