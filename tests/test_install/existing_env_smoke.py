"""Run inside the second environment by ``test_existing_environment.py`` (never by pytest itself).

Imports the installed mmbinary (not the clone), builds the binary SBPN-18 of the coco_tiny config
with MMPose's ``Runner``, runs a forward pass on a real batch, then one training iteration, and
prints one JSON line with what it saw.

Usage: python -I existing_env_smoke.py CLONE COCO_TINY WORK_DIR
"""

import json
import os
import os.path as osp
import sys


def main(clone, coco_tiny, work_dir):
    os.environ['MMBINARY_COCO_TINY'] = osp.join(osp.abspath(coco_tiny), '')
    import torch

    torch.set_num_threads(1)
    from mmengine.config import Config
    from mmengine.runner import Runner

    import mmbinary
    from mmbinary.layers import BinaryConv2d

    config = 'configs/coco_tiny/td-hm_sbpn-bireal18_1xb4-60e_coco-tiny-256x192.py'
    cfg = Config.fromfile(osp.join(clone, config))
    cfg.work_dir = work_dir
    cfg.train_dataloader.dataset.indices = 4  # one batch of 4 people: one iteration per epoch
    cfg.train_cfg = dict(by_epoch=True, max_epochs=1)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None  # training only
    cfg.custom_hooks = [dict(type='KeypointCountCheckHook')]
    cfg.default_hooks.logger.interval = 1
    runner = Runner.from_cfg(cfg)
    model = runner.model

    batch = next(iter(Runner.build_dataloader(cfg.train_dataloader)))
    model.eval()
    with torch.no_grad():
        data = model.data_preprocessor(batch, training=False)
        heatmaps = model.head.forward(model.extract_feat(data['inputs']))
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    runner.train()
    changed = sum(not torch.equal(before[k], v) for k, v in model.named_parameters())
    loss = runner.message_hub.get_scalar('train/loss').current()
    result = dict(
        mmbinary_file=mmbinary.__file__,
        binary_convs=sum(isinstance(m, BinaryConv2d) for m in model.modules()),
        heatmaps=list(heatmaps.shape),
        heatmaps_finite=bool(torch.isfinite(heatmaps).all()),
        iterations=runner.iter,
        loss=float(loss),
        parameters=len(before),
        parameters_changed=changed,
        torch=torch.__version__,
    )
    print(json.dumps(result))


if __name__ == '__main__':
    main(*sys.argv[1:4])
