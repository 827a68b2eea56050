"""Unreadable data names the file and what is wrong with it (row 7 of issue 10)."""

import json
import os.path as osp
import shutil

import pytest
from mmengine.registry import init_default_scope

import mmbinary  # noqa: F401  (as custom_imports / the tools do: installs the clearer errors)


def _dataset(root, ann_file='test_coco.json', pipeline=()):
    from mmpose.registry import DATASETS

    init_default_scope('mmpose')
    return DATASETS.build(
        dict(
            type='CocoDataset',
            data_root=str(root) + '/',
            data_mode='topdown',
            ann_file=ann_file,
            data_prefix=dict(img=''),
            pipeline=list(pipeline),
        )
    )


def test_annotation_file_that_is_not_json_is_named(tmp_path):
    (tmp_path / 'ann.json').write_text('<html>not json</html>')
    with pytest.raises(ValueError) as info:
        _dataset(tmp_path, 'ann.json')
    message = str(info.value)
    assert (
        f'annotation file {tmp_path}/ann.json (21 bytes) is not a valid COCO JSON file' in message
    )
    assert 'Expecting value: line 1 column 1' in message


def test_corrupt_image_that_exists_is_called_corrupt(tmp_path, coco_tiny):
    shutil.copy(osp.join(coco_tiny, 'test_coco.json'), tmp_path)
    with open(tmp_path / 'test_coco.json') as f:
        images = json.load(f)['images']
    for image in images:
        (tmp_path / image['file_name']).write_bytes(b'\xff\xd8 truncated jpeg')
    dataset = _dataset(tmp_path, pipeline=[dict(type='LoadImage')])
    path = dataset.get_data_info(0)['img_path']
    with pytest.raises(OSError) as info:
        dataset[0]
    message = str(info.value)
    assert f'image {path} exists (17 bytes) but could not be decoded' in message
    assert 'check whether the file exists' not in message


def test_missing_image_still_says_it_is_missing(tmp_path, coco_tiny):
    shutil.copy(osp.join(coco_tiny, 'test_coco.json'), tmp_path)
    dataset = _dataset(tmp_path, pipeline=[dict(type='LoadImage')])
    path = dataset.get_data_info(0)['img_path']
    with pytest.raises(FileNotFoundError, match=osp.basename(path)):
        dataset[0]
