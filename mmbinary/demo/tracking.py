"""Keypoints over time: One-Euro smoothing, and people followed from frame to frame.

:class:`PoseTracker` matches the people of a frame to those of the previous frame by the IoU of
their boxes (greedy, highest IoU first), smooths each person's keypoints with its own
:class:`OneEuroFilter`, and gives the boxes of the next frame from the keypoints, so that a
detector needs to run only every N frames.
"""

import math
from typing import Dict, List, Optional

import numpy as np


class OneEuroFilter:
    """The 1-euro filter: a low-pass filter whose cut-off rises with the speed of the signal.

    For samples ``x_i`` at times ``t_i`` (``dt = t_i - t_{i-1}``)::

        alpha(f)  = 1 / (1 + 1 / (2 pi f dt))
        dx_i      = alpha(d_cutoff) (x_i - x^_{i-1}) / dt + (1 - alpha(d_cutoff)) dx_{i-1}
        f_i       = min_cutoff + beta |dx_i|
        x^_i      = alpha(f_i) x_i + (1 - alpha(f_i)) x^_{i-1}

    with ``x^_0 = x_0`` and ``dx_0 = 0``, element-wise on arrays. Slow motion is smoothed
    strongly (jitter removed), fast motion lightly (little lag). ``min_cutoff`` (Hz) sets the
    smoothing at rest, ``beta`` (1 / pixel) how fast it opens up with speed.

    Args:
        min_cutoff (float): cut-off frequency at rest, Hz, > 0. Default 1.0.
        beta (float): speed coefficient, >= 0. Default 0.05.
        d_cutoff (float): cut-off of the derivative, Hz, > 0. Default 1.0.

    Example:
        >>> smoother = OneEuroFilter(min_cutoff=1.0, beta=0.0)
        >>> smoother(np.array([0.0]), t=0.0), smoother(np.array([1.0]), t=1.0)
        (array([0.]), array([0.86269744]))

    References:
        Casiez, Roussel and Vogel, "1 euro filter: a simple speed-based low-pass filter for
        noisy input in interactive systems", CHI 2012.
    """

    def __init__(self, min_cutoff: float = 1.0, beta: float = 0.05, d_cutoff: float = 1.0):
        for name, value, low in (('min_cutoff', min_cutoff, 0), ('d_cutoff', d_cutoff, 0)):
            if not value > low:
                raise ValueError(f'OneEuroFilter: {name} must be > 0, got {value!r}')
        if not beta >= 0:
            raise ValueError(f'OneEuroFilter: beta must be >= 0, got {beta!r}')
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self._x = self._dx = self._t = None

    @staticmethod
    def alpha(cutoff, dt: float):
        return 1.0 / (1.0 + 1.0 / (2 * math.pi * cutoff * dt))

    def __call__(self, x: np.ndarray, t: float) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if self._x is None or x.shape != self._x.shape:
            self._x, self._dx, self._t = x.copy(), np.zeros_like(x), t
            return x.copy()
        dt = t - self._t
        if dt <= 0:
            return self._x.copy()
        a_d = self.alpha(self.d_cutoff, dt)
        self._dx = a_d * (x - self._x) / dt + (1 - a_d) * self._dx
        a = self.alpha(self.min_cutoff + self.beta * np.abs(self._dx), dt)
        self._x = a * x + (1 - a) * self._x
        self._t = t
        return self._x.copy()


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box of ``a`` (N, >= 4) with every box of ``b`` (M, >= 4), xyxy."""
    a, b = np.asarray(a, np.float64)[:, None, :4], np.asarray(b, np.float64)[None, :, :4]
    w = (np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0])).clip(0)
    h = (np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1])).clip(0)
    inter = w * h
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    return inter / np.maximum(area_a + area_b - inter, 1e-9)


class PoseTracker:
    """Follow people across frames by box IoU; smooth their keypoints; boxes for the next frame.

    Args:
        iou_thr (float): minimum IoU for a person to keep the id of one in the previous frame.
            Default 0.3.
        smooth (dict, optional): arguments of :class:`OneEuroFilter` (one filter per person);
            ``None`` for no smoothing. Default None.
        kpt_thr (float): keypoints above this score define a person's box for the next frame
            (at least 3 of them spanning more than 1 px each way; else the person's current
            box is kept). Default 0.3.
        box_padding (float): that box is scaled by this factor about its centre. Default 1.2.

    Example:
        >>> tracker = PoseTracker()
        >>> tracker.update([], t=0.0)
        []
    """

    def __init__(
        self,
        iou_thr: float = 0.3,
        smooth: Optional[dict] = None,
        kpt_thr: float = 0.3,
        box_padding: float = 1.2,
    ):
        self.iou_thr, self.smooth = iou_thr, smooth
        self.kpt_thr, self.box_padding = kpt_thr, box_padding
        if smooth is not None:
            OneEuroFilter(**smooth)  # check the arguments now
        self._boxes = np.zeros((0, 4))
        self._ids: List[int] = []
        self._filters: Dict[int, OneEuroFilter] = {}
        self._next_id = 0
        self._next_boxes = np.zeros((0, 5), np.float32)

    def _match(self, boxes: np.ndarray) -> List[int]:
        ids = [-1] * len(boxes)
        if len(boxes) and len(self._boxes):
            iou = box_iou(boxes, self._boxes)
            while iou.size and iou.max() >= self.iou_thr:
                i, j = np.unravel_index(iou.argmax(), iou.shape)
                ids[i] = self._ids[j]
                iou[i, :], iou[:, j] = -1, -1
        for i in range(len(ids)):
            if ids[i] < 0:
                ids[i], self._next_id = self._next_id, self._next_id + 1
        return ids

    def update(self, pose_results: list, t: float) -> List[int]:
        """Give each person (one ``PoseDataSample`` each) an id; smooth keypoints in place.

        Returns the ids, in the order of ``pose_results``.
        """
        boxes = np.array([r.pred_instances.bboxes[0] for r in pose_results], np.float64).reshape(
            -1, 4
        )
        ids = self._match(boxes)
        if self.smooth is not None:
            for result, track_id in zip(pose_results, ids):
                smoother = self._filters.setdefault(track_id, OneEuroFilter(**self.smooth))
                keypoints = result.pred_instances.keypoints
                result.pred_instances.keypoints = smoother(keypoints, t).astype(keypoints.dtype)
            self._filters = {i: self._filters[i] for i in ids}
        self._boxes, self._ids = boxes, ids
        self._next_boxes = np.array(
            [self._box_from_keypoints(r) for r in pose_results], np.float32
        ).reshape(-1, 5)
        return ids

    def _box_from_keypoints(self, result) -> np.ndarray:
        instances = result.pred_instances
        box = np.asarray(instances.bboxes[0], np.float64)
        scores = np.asarray(instances.keypoint_scores[0])
        visible = np.asarray(instances.keypoints[0])[scores > self.kpt_thr]
        score = float(scores.mean()) if scores.size else 0.0
        if len(visible) >= 3 and np.ptp(visible, axis=0).min() > 1:  # a real extent
            (x1, y1), (x2, y2) = visible.min(0), visible.max(0)
            cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
            half_w, half_h = (x2 - x1) * self.box_padding / 2, (y2 - y1) * self.box_padding / 2
            box = np.array([cx - half_w, cy - half_h, cx + half_w, cy + half_h])
        return np.append(box, score)

    @property
    def next_boxes(self) -> np.ndarray:
        """``(N, 5)`` boxes for the next frame from the last frame's keypoints (xyxy, score)."""
        return self._next_boxes.copy()
