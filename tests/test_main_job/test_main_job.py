"""The main job end to end on a small generated set: data, training, CocoMetric, drawings."""

import os.path as osp
import sys

import mmengine

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(ROOT, 'tools'))

import main_job  # noqa: E402


def test_main_job_runs_end_to_end(tmp_path, capsys):
    work_dir, data_root = tmp_path / 'work', tmp_path / 'data'
    summary = main_job.main(
        ['--work-dir', str(work_dir), '--data-root', str(data_root), '--epochs', '1',
         '--num-train', '48', '--num-val', '8', '--num-vis', '2']
    )  # fmt: skip
    assert (data_root / 'annotations' / 'person_keypoints_val.json').is_file()
    assert 0.0 <= summary['val/coco/AP'] <= 1.0 and 'val/coco/AR' in summary
    assert osp.isfile(summary['checkpoint'])
    assert len(summary['visualizations']) == 2 and all(map(osp.isfile, summary['visualizations']))
    assert mmengine.load(str(work_dir / 'summary.json'))['val/coco/AP'] == summary['val/coco/AP']
    out = capsys.readouterr().out
    assert 'held-out COCO keypoint AP' in out and 'generating the synthetic COCO' in out
    # a second run reuses the data instead of regenerating it
    main_job.ensure_dataset(str(data_root), 48, 8, 0)
    assert 'using the synthetic COCO set' in capsys.readouterr().out
