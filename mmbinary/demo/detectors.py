"""Person boxes for a top-down pose model: OpenCV's HOG people detector, MMDetection, or the frame.

Each detector maps a BGR frame to an ``(N, 5)`` float32 array of ``x1, y1, x2, y2, score``.
"""

from typing import Optional, Sequence

import cv2
import numpy as np

from .sources import DemoError
from .tracking import box_iou


def _nms(boxes: np.ndarray, iou_thr: float) -> np.ndarray:
    """Boxes kept by greedy non-maximum suppression (highest score first), in score order."""
    boxes = boxes[np.argsort(-boxes[:, 4], kind='stable')]
    iou = box_iou(boxes, boxes)
    keep = []
    for i in range(len(boxes)):
        if all(iou[i, j] <= iou_thr for j in keep):
            keep.append(i)
    return boxes[keep]


class HOGPersonDetector:
    """OpenCV's bundled HOG + linear SVM people detector (Dalal & Triggs); no model file.

    The frame is resized so that its longer side is at most ``max_side`` (the 64 x 128 window
    still finds people of ~130 px in a 960 x 540 frame at 640), detections below ``score_thr``
    are dropped, overlapping ones merged by NMS, and every box is rescaled about its centre by
    ``box_scale = (sx, sy)``. The default ``(0.8, 1.15)`` is a reconstruction chosen by eye on
    a street clip (not from a paper): HOG's window is wider than a walking person and often
    ends above the feet; the top-down pipeline then adds its own 1.25 padding.

    Args:
        max_side (int): longer side of the frame given to HOG (0: full resolution). Default 640.
        score_thr (float): minimum SVM score. Default 0.3.
        nms_thr (float): IoU above which the lower-scored box is dropped. Default 0.45.
        box_scale (tuple): ``(sx, sy)`` scale of every box about its centre. Default (0.8, 1.15).
        win_stride (int): HOG window stride in pixels. Default 8.
        scale (float): pyramid scale step of ``detectMultiScale``, > 1. Default 1.05.

    Example:
        >>> detector = HOGPersonDetector()
        >>> detector(np.zeros((240, 320, 3), np.uint8)).shape
        (0, 5)

    References:
        Dalal and Triggs, "Histograms of Oriented Gradients for Human Detection", CVPR 2005.
    """

    def __init__(
        self,
        max_side: int = 640,
        score_thr: float = 0.3,
        nms_thr: float = 0.45,
        box_scale: Sequence[float] = (0.8, 1.15),
        win_stride: int = 8,
        scale: float = 1.05,
    ):
        if max_side < 0:
            raise ValueError(f'HOGPersonDetector: max_side must be >= 0, got {max_side!r}')
        if scale <= 1:
            raise ValueError(f'HOGPersonDetector: scale must be > 1, got {scale!r}')
        if len(box_scale) != 2 or min(box_scale) <= 0:
            raise ValueError(f'HOGPersonDetector: box_scale must be two values > 0: {box_scale}')
        self.max_side, self.score_thr, self.nms_thr = max_side, score_thr, nms_thr
        self.box_scale, self.win_stride, self.scale = tuple(box_scale), win_stride, scale
        self._hog = cv2.HOGDescriptor()
        self._hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        height, width = frame.shape[:2]
        ratio = 1.0
        if self.max_side and max(height, width) > self.max_side:
            ratio = self.max_side / max(height, width)
            frame = cv2.resize(frame, (round(width * ratio), round(height * ratio)))
        rects, scores = self._hog.detectMultiScale(
            frame, winStride=(self.win_stride,) * 2, padding=(8, 8), scale=self.scale
        )
        if len(rects) == 0:
            return np.zeros((0, 5), np.float32)
        rects = np.asarray(rects, np.float32) / ratio
        scores = np.asarray(scores, np.float32).reshape(-1)
        cx, cy = rects[:, 0] + rects[:, 2] / 2, rects[:, 1] + rects[:, 3] / 2
        half_w, half_h = rects[:, 2] * self.box_scale[0] / 2, rects[:, 3] * self.box_scale[1] / 2
        boxes = np.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h, scores], axis=1)
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, width)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, height)
        return _nms(boxes[scores >= self.score_thr], self.nms_thr)


class WholeImageDetector:
    """One box, the whole frame (``--det whole``): for crops that hold one person."""

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        height, width = frame.shape[:2]
        return np.array([[0, 0, width, height, 1]], np.float32)


class MMDetPersonDetector:
    """An MMDetection detector (config + checkpoint), as in MMPose's ``topdown_demo_with_mmdet``.

    Keeps the boxes of class ``cat_id`` with a score above ``score_thr``, then NMS.

    Args:
        config (str): MMDetection config file.
        checkpoint (str): its checkpoint.
        device (str): ``'cpu'`` or ``'cuda:0'``. Default ``'cpu'``.
        cat_id (int): the person class. Default 0 (COCO).
        score_thr (float): minimum score. Default 0.3.
        nms_thr (float): IoU threshold of the NMS. Default 0.3.

    Raises:
        DemoError: MMDetection is not installed.
    """

    def __init__(
        self,
        config: str,
        checkpoint: str,
        device: str = 'cpu',
        cat_id: int = 0,
        score_thr: float = 0.3,
        nms_thr: float = 0.3,
    ):
        try:
            from mmdet.apis import inference_detector, init_detector
            from mmpose.utils import adapt_mmdet_pipeline
        except ImportError as error:
            raise DemoError(f'--det-config needs MMDetection (mmdet): {error}') from error
        self._inference = inference_detector
        self.detector = init_detector(config, checkpoint, device=device)
        self.detector.cfg = adapt_mmdet_pipeline(self.detector.cfg)
        self.cat_id, self.score_thr, self.nms_thr = cat_id, score_thr, nms_thr

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        instances = self._inference(self.detector, frame).pred_instances.cpu().numpy()
        boxes = np.concatenate([instances.bboxes, instances.scores[:, None]], axis=1)
        keep = (instances.labels == self.cat_id) & (instances.scores > self.score_thr)
        return _nms(boxes[keep].astype(np.float32), self.nms_thr)


def build_person_detector(
    kind: str,
    det_config: Optional[str] = None,
    det_checkpoint: Optional[str] = None,
    device: str = 'cpu',
    **kwargs,
):
    """``'hog'``, ``'whole'`` or ``'mmdet'`` (needs ``det_config`` and ``det_checkpoint``)."""
    if kind == 'hog':
        return HOGPersonDetector(**kwargs)
    if kind == 'whole':
        return WholeImageDetector()
    if kind == 'mmdet':
        if not (det_config and det_checkpoint):
            raise DemoError('--det mmdet needs --det-config and --det-checkpoint')
        return MMDetPersonDetector(det_config, det_checkpoint, device=device, **kwargs)
    raise DemoError(f'--det must be one of hog, whole, mmdet, got {kind!r}')
