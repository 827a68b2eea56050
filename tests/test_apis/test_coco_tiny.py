"""Real data: a binary SBPN-18 overfits 4 real COCO images through the training tools, and
MMPose's inferencer runs with the trained weights (no detector download: ground-truth boxes)."""

import os
import os.path as osp

import numpy as np
import pytest


@pytest.fixture(scope='module')
def overfitted(coco_tiny_sbpn18):
    return coco_tiny_sbpn18['curve'], coco_tiny_sbpn18['checkpoint']


def test_binary_sbpn_overfits_real_coco_images(overfitted):
    curve, checkpoint = overfitted
    (_, start), (_, final) = curve[0], curve[-1]
    assert [e for e, _ in curve] == [0, 30, 60]
    assert start < 0.05  # an untrained network finds nothing
    assert final >= 0.5  # measured 0.844 at epoch 60 (README, coco_tiny table)
    assert osp.isfile(checkpoint)


def test_mmpose_inferencer_runs_our_model(overfitted, coco_tiny_sbpn18, coco_tiny):
    from mmengine.fileio import load
    from mmpose.apis import MMPoseInferencer

    _, checkpoint = overfitted
    os.environ['MMBINARY_COCO_TINY'] = osp.join(coco_tiny, '')
    inferencer = MMPoseInferencer(
        pose2d=coco_tiny_sbpn18['config'],
        pose2d_weights=checkpoint,
        det_model='whole_image',
        device='cpu',
    )
    coco = load(osp.join(coco_tiny, 'test_coco.json'))
    image = coco['images'][0]
    boxes = [
        [x, y, x + w, y + h]
        for x, y, w, h in (a['bbox'] for a in coco['annotations'] if a['image_id'] == image['id'])
    ]
    path = osp.join(coco_tiny, image['file_name'])
    result = next(inferencer(path, bboxes=[np.array(boxes)], return_vis=False))
    people = result['predictions'][0]
    assert len(people) == len(boxes)
    for person in people:
        keypoints = np.array(person['keypoints'])
        assert keypoints.shape == (17, 2)
        assert np.isfinite(keypoints).all()
        assert len(person['keypoint_scores']) == 17
