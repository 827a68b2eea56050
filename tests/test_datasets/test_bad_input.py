"""Bad pose data fails loudly, naming what is wrong (never a silent wrong result).

Choice, as MMPose's own datasets do through mmcv's ``LoadImageFromFile``: a missing or corrupt
image referenced by the annotation file raises an error naming the file (no skipping).
A head whose keypoint count differs from the dataset's is rejected before training by
``KeypointCountCheckHook``.
"""

import os.path as osp
import shutil

import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmbinary.datasets import generate_synthetic_coco

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(
    ROOT, 'configs/main_job/td-hm_sbpn-bireal18-w32_1xb16-16e_synthetic-coco-128x96.py'
)


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('bad')
    generate_synthetic_coco(str(root), num_train=4, num_val=2, progress=False)
    return root


def _dataset(root):
    from mmpose.registry import DATASETS

    init_default_scope('mmpose')
    cfg = Config.fromfile(CONFIG)
    cfg.train_dataloader.dataset.data_root = str(root) + '/'
    return DATASETS.build(cfg.train_dataloader.dataset)


def test_corrupt_or_missing_image_raises_naming_the_file(data_root, tmp_path):
    root = tmp_path / 'copy'
    shutil.copytree(data_root, root)
    dataset = _dataset(root)
    first = dataset.get_data_info(0)['img_path']
    with open(first, 'wb') as f:
        f.write(b'not a png')
    with pytest.raises(Exception, match=osp.basename(first)):
        dataset[0]
    second = dataset.get_data_info(len(dataset) - 1)['img_path']
    if second != first:
        import os

        os.remove(second)
        with pytest.raises(FileNotFoundError, match=osp.basename(second)):
            dataset[len(dataset) - 1]


def test_keypoint_count_mismatch_fails_before_training(data_root, tmp_path):
    from mmengine.runner import Runner

    cfg = Config.fromfile(CONFIG)
    for loader in (cfg.train_dataloader, cfg.val_dataloader, cfg.test_dataloader):
        loader.dataset.data_root = str(data_root) + '/'
        loader.num_workers = 0
        loader.persistent_workers = False
    cfg.val_evaluator.ann_file = str(data_root / 'annotations/person_keypoints_val.json')
    cfg.model.head.out_channels = 14
    cfg.work_dir = str(tmp_path)
    runner = Runner.from_cfg(cfg)
    with pytest.raises(ValueError, match='predicts 14 keypoints .* has 17'):
        runner.train()
    assert runner.iter == 0
