"""One-Euro filter, box IoU and the pose tracker of the demo, against values derived by hand."""

import math

import numpy as np
import pytest
from mmengine.structures import InstanceData
from mmpose.structures import PoseDataSample

from mmbinary.demo import OneEuroFilter, PoseTracker, box_iou


def test_one_euro_without_speed_term_is_an_exponential_smoother():
    # beta = 0: the cut-off is min_cutoff, alpha = 1 / (1 + 1 / (2 pi f dt)) is constant, and a
    # unit step from 0 gives x^_n = 1 - (1 - alpha)^n (geometric series of the recursion).
    f, dt = 2.0, 0.04
    alpha = 2 * math.pi * f * dt / (2 * math.pi * f * dt + 1)
    smoother = OneEuroFilter(min_cutoff=f, beta=0.0)
    assert smoother(np.zeros(3), t=0.0).tolist() == [0, 0, 0]
    for n in range(1, 6):
        value = smoother(np.ones(3), t=n * dt)
        np.testing.assert_allclose(value, 1 - (1 - alpha) ** n, rtol=1e-12)


def test_one_euro_speed_term_by_hand():
    # Two steps of the recursion written out: x = 0 at t = 0, then x = 1 at t = 0.1.
    min_cutoff, beta, d_cutoff, dt = 1.0, 0.5, 1.0, 0.1
    a_d = 1 / (1 + 1 / (2 * math.pi * d_cutoff * dt))
    dx = a_d * (1 - 0) / dt  # previous derivative 0
    a = 1 / (1 + 1 / (2 * math.pi * (min_cutoff + beta * abs(dx)) * dt))
    smoother = OneEuroFilter(min_cutoff, beta, d_cutoff)
    smoother(np.array([0.0]), 0.0)
    assert smoother(np.array([1.0]), dt)[0] == pytest.approx(a * 1 + (1 - a) * 0, rel=1e-12)


def test_one_euro_lags_less_on_fast_motion_and_keeps_constants():
    slow, fast = OneEuroFilter(beta=0.0), OneEuroFilter(beta=0.1)
    for i in range(20):  # a ramp of 50 px per frame at 25 fps
        lag_slow = 50 * i - slow(np.array([50.0 * i]), i / 25)[0]
        lag_fast = 50 * i - fast(np.array([50.0 * i]), i / 25)[0]
    assert 0 < lag_fast < lag_slow / 3
    still = OneEuroFilter()
    for i in range(5):
        np.testing.assert_allclose(still(np.array([7.0, -3.0]), i / 25), [7.0, -3.0], rtol=1e-12)


@pytest.mark.parametrize(
    'kwargs, name', [(dict(min_cutoff=0), 'min_cutoff'), (dict(beta=-1), 'beta')]
)
def test_one_euro_rejects_bad_values(kwargs, name):
    with pytest.raises(ValueError, match=name):
        OneEuroFilter(**kwargs)


def test_box_iou_by_hand():
    a = np.array([[0, 0, 10, 10]])
    b = np.array([[5, 0, 15, 10], [20, 20, 30, 30], [0, 0, 10, 10]])
    np.testing.assert_allclose(box_iou(a, b), [[50 / 150, 0, 1]])


def person(box, keypoints, scores=None):
    instances = InstanceData()
    instances.bboxes = np.array([box], np.float32)
    instances.keypoints = np.array([keypoints], np.float32)
    instances.keypoint_scores = np.array([scores or [1.0] * len(keypoints)], np.float32)
    sample = PoseDataSample()
    sample.pred_instances = instances
    return sample


def test_tracker_keeps_ids_and_boxes_follow_keypoints():
    tracker = PoseTracker(box_padding=1.0)
    first = [
        person([0, 0, 10, 20], [[2, 2], [8, 18], [5, 10]]),
        person([50, 0, 60, 20], [[55, 5]] * 3),
    ]
    assert tracker.update(first, t=0.0) == [0, 1]
    # the box of the next frame: the keypoints' extent (padding 1), score = mean keypoint score
    np.testing.assert_allclose(tracker.next_boxes[0], [2, 2, 8, 18, 1])
    # person 1 has its keypoints in one point: no extent, its current box is kept
    np.testing.assert_allclose(tracker.next_boxes[1], [50, 0, 60, 20, 1])
    moved = [person([51, 1, 61, 21], [[56, 6]] * 3), person([1, 0, 11, 20], [[3, 2]] * 3)]
    assert tracker.update(moved, t=0.04) == [1, 0]  # matched by IoU, in any order
    new = [person([200, 200, 210, 220], [[205, 210]] * 3)]
    assert tracker.update(new, t=0.08) == [2]


def test_tracker_box_from_few_visible_keypoints_is_the_detection_box():
    tracker = PoseTracker(kpt_thr=0.5)
    tracker.update([person([0, 0, 10, 20], [[2, 2], [8, 18], [5, 10]], [0.9, 0.1, 0.1])], 0.0)
    np.testing.assert_allclose(tracker.next_boxes[0], [0, 0, 10, 20, (0.9 + 0.1 + 0.1) / 3])


def test_tracker_smooths_each_person():
    tracker = PoseTracker(smooth=dict(min_cutoff=1.0, beta=0.0))
    tracker.update([person([0, 0, 10, 20], [[0, 0]] * 3)], t=0.0)
    jump = person([0, 0, 10, 20], [[4, 4]] * 3)
    tracker.update([jump], t=0.04)
    alpha = 1 / (1 + 1 / (2 * math.pi * 1.0 * 0.04))
    np.testing.assert_allclose(jump.pred_instances.keypoints, 4 * alpha, rtol=1e-6)
