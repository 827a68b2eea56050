"""coco_tiny configs: data root relative to the config file (not the current folder), seed."""

import os
import os.path as osp

import pytest
from mmengine.config import Config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = [
    'configs/coco_tiny/td-hm_sbpn-bireal18_1xb4-60e_coco-tiny-256x192.py',
    'configs/coco_tiny/td-hm_bhrnet-w32_1xb4-60e_coco-tiny-256x192.py',
]


@pytest.mark.parametrize('config', CONFIGS)
def test_data_root_is_relative_to_the_config_and_seed_is_set(
    config, coco_tiny, tmp_path, monkeypatch
):
    monkeypatch.delenv('MMBINARY_COCO_TINY', raising=False)
    monkeypatch.chdir(tmp_path)  # "run from another folder"
    cfg = Config.fromfile(osp.join(ROOT, config))
    assert osp.realpath(cfg.data_root) == osp.realpath(coco_tiny)
    assert osp.isfile(cfg.val_evaluator.ann_file)
    assert osp.realpath(cfg.train_dataloader.dataset.data_root) == osp.realpath(coco_tiny)
    assert cfg.randomness.seed == 0


def test_environment_variable_overrides_the_data_root(tmp_path, monkeypatch):
    monkeypatch.setenv('MMBINARY_COCO_TINY', str(tmp_path) + os.sep)
    cfg = Config.fromfile(osp.join(ROOT, CONFIGS[0]))
    assert cfg.data_root == str(tmp_path) + os.sep
