"""Building blocks of ``demo/topdown_demo.py``: frames in and out, person boxes, the pose model,
tracking and smoothing. Usable on their own in a user's loop."""

from .detectors import (
    HOGPersonDetector,
    MMDetPersonDetector,
    WholeImageDetector,
    build_person_detector,
)
from .pose import TopdownPoseModel
from .sources import (
    DemoError,
    FolderOutput,
    FrameSource,
    JsonOutput,
    Stopwatch,
    VideoOutput,
    open_outputs,
)
from .tracking import OneEuroFilter, PoseTracker, box_iou

__all__ = [
    'DemoError',
    'FolderOutput',
    'FrameSource',
    'HOGPersonDetector',
    'JsonOutput',
    'MMDetPersonDetector',
    'OneEuroFilter',
    'PoseTracker',
    'Stopwatch',
    'TopdownPoseModel',
    'VideoOutput',
    'WholeImageDetector',
    'box_iou',
    'build_person_detector',
    'open_outputs',
]
