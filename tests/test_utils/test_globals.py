"""Two runs in one process must not share MMEngine's named visualizer (MMPose names it
``'visualizer'`` in every config, and MMEngine's builder returns an existing instance of a name)."""

import glob
import json
import os.path as osp

from mmengine.registry import VISUALIZERS, DefaultScope
from mmengine.visualization import Visualizer

from mmbinary.utils import isolated_mmengine_globals


def _build(save_dir):
    cfg = dict(type='Visualizer', name='visualizer', vis_backends=[dict(type='LocalVisBackend')])
    return VISUALIZERS.build(dict(cfg, save_dir=str(save_dir)))


def _logged(save_dir):
    files = glob.glob(osp.join(str(save_dir), '**', 'scalars.json'), recursive=True)
    return [json.loads(line) for f in files for line in open(f)]


def test_mmengine_reuses_a_named_visualizer(tmp_path):
    # the trap itself: without isolation the second "run" logs into the first run's folder
    with isolated_mmengine_globals():
        first = _build(tmp_path / 'a')
        second = _build(tmp_path / 'b')
        second.add_scalars({'coco/AP': 0.5}, step=1)
    assert second is first
    assert _logged(tmp_path / 'a') == [{'coco/AP': 0.5, 'step': 1}]


def test_isolated_runs_log_into_their_own_folders(tmp_path):
    before = dict(Visualizer._instance_dict), dict(DefaultScope._instance_dict)
    with isolated_mmengine_globals():
        first = _build(tmp_path / 'a')
        DefaultScope.get_instance('isolated-run', scope_name='mmpose')
    with isolated_mmengine_globals():
        second = _build(tmp_path / 'b')
        second.add_scalars({'coco/AP': 0.5}, step=1)
        assert 'isolated-run' not in DefaultScope._instance_dict
    assert second is not first
    assert _logged(tmp_path / 'a') == []
    assert _logged(tmp_path / 'b') == [{'coco/AP': 0.5, 'step': 1}]
    assert (dict(Visualizer._instance_dict), dict(DefaultScope._instance_dict)) == before
