"""Top-down pose demo for a webcam, a video file or stream, an image or a folder of images.

Person boxes come from an MMDetection detector (``--det-config`` and ``--det-checkpoint``, as in
MMPose's ``demo/topdown_demo_with_mmdet.py``), else from OpenCV's bundled HOG people detector (no
download), or ``--det whole`` (one box per frame). The pose model is a config and checkpoint
(PyTorch) or, with ``--deployed DIR``, an export of mmbinary's deploy tools (fast CPU path).

Usage::

    python demo/topdown_demo.py ${POSE_CONFIG} ${POSE_CHECKPOINT} --input ${INPUT} \\
        [--out ${VIDEO_OR_FOLDER}] [--pred-out ${JSON_OR_FOLDER}] [--show] \\
        [--det {hog,whole,mmdet}] [--det-config ${DET_CONFIG} --det-checkpoint ${DET_CKPT}] \\
        [--det-interval N] [--smooth] [--kpt-thr 0.3] [--max-frames N] [--device cpu]
    python demo/topdown_demo.py --deployed ${DEPLOY_DIR} --input webcam --show

``INPUT`` is ``webcam`` / ``webcam:ID``, a stream URL, a video, an image or a folder of images.
For a camera, stream or video ``--out`` is a video (``.mp4`` / ``.avi``, the input's frame size
and rate, one frame per input frame) and ``--pred-out`` one JSON file (MMPose's inferencer
format: ``[{"frame_id": i, "instances": [{"keypoints", "keypoint_scores", "bbox",
"bbox_score"}, ...]}, ...]``); for images both are folders (one image / one JSON per image).
Outputs are written to temporary files and renamed into place at the end, so a failed run leaves
nothing half-written. ESC or ``q`` in the window, or Ctrl-C, stops a camera.
"""

import argparse
import os
import os.path as osp
import sys
import time
from collections import deque

import cv2
import numpy as np

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmbinary.demo import (  # noqa: E402
    DemoError,
    FrameSource,
    PoseTracker,
    Stopwatch,
    TopdownPoseModel,
    build_person_detector,
    open_outputs,
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('pose_config', nargs='?', help='pose config file (PyTorch path)')
    parser.add_argument('pose_checkpoint', nargs='?', help='pose checkpoint file')
    parser.add_argument(
        '--deployed', metavar='DIR', help='a deployed export instead of config + checkpoint'
    )
    parser.add_argument(
        '--input', required=True, help='webcam[:ID], a stream URL, a video, an image or a folder'
    )
    parser.add_argument('--out', help='annotated video (.mp4 / .avi), or a folder for images')
    parser.add_argument('--pred-out', help='predictions: a .json file, or a folder for images')
    parser.add_argument('--show', action='store_true', help='show the frames in a window')
    parser.add_argument(
        '--det',
        choices=['hog', 'whole', 'mmdet'],
        help='person boxes: mmdet when --det-config is given, else hog (OpenCV, no download)',
    )
    parser.add_argument('--det-config', help='MMDetection config file')
    parser.add_argument('--det-checkpoint', help='MMDetection checkpoint file')
    parser.add_argument('--det-cat-id', type=int, default=0, help='person class of the detector')
    parser.add_argument('--bbox-thr', type=float, default=0.3, help='minimum box score')
    parser.add_argument('--nms-thr', type=float, default=0.3, help='IoU threshold of box NMS')
    parser.add_argument(
        '--det-interval',
        type=int,
        default=1,
        help='detect every N frames; in between, boxes follow the keypoints (videos, cameras)',
    )
    parser.add_argument(
        '--smooth', action='store_true', help='One-Euro smoothing of keypoints over time'
    )
    parser.add_argument('--smooth-min-cutoff', type=float, default=1.0, help='One-Euro f_min, Hz')
    parser.add_argument('--smooth-beta', type=float, default=0.05, help='One-Euro speed beta')
    parser.add_argument('--kpt-thr', type=float, default=0.3, help='keypoint score to draw')
    parser.add_argument('--radius', type=int, default=3, help='keypoint radius')
    parser.add_argument('--thickness', type=int, default=1, help='link thickness')
    parser.add_argument('--skeleton-style', default='mmpose', choices=['mmpose', 'openpose'])
    parser.add_argument('--draw-bbox', action='store_true', help='draw the person boxes')
    parser.add_argument(
        '--no-overlay', action='store_true', help='no FPS / latency text on the frames'
    )
    parser.add_argument('--max-frames', type=int, default=0, help='stop after N frames (0: all)')
    parser.add_argument('--device', default='cpu', help='device of the PyTorch models')
    args = parser.parse_args(argv)
    if args.deployed and (args.pose_config or args.pose_checkpoint):
        parser.error('give either POSE_CONFIG POSE_CHECKPOINT or --deployed DIR, not both')
    if not args.deployed and not (args.pose_config and args.pose_checkpoint):
        parser.error('give POSE_CONFIG POSE_CHECKPOINT, or --deployed DIR')
    if args.det_interval < 1:
        parser.error(f'--det-interval must be >= 1, got {args.det_interval}')
    if args.max_frames < 0:
        parser.error(f'--max-frames must be >= 0, got {args.max_frames}')
    if args.det is None:
        args.det = 'mmdet' if args.det_config else 'hog'
    return args


def display_available() -> str:
    """``''`` when a window can be opened, else why not."""
    if sys.platform.startswith('linux') and not (
        os.environ.get('DISPLAY') or os.environ.get('WAYLAND_DISPLAY')
    ):
        return 'no display (DISPLAY is not set)'
    try:
        cv2.namedWindow('mmbinary pose demo', cv2.WINDOW_NORMAL)
    except cv2.error as error:
        return f'this OpenCV build cannot open windows ({str(error).strip().splitlines()[-1]})'
    return ''


def build_visualizer(pose: TopdownPoseModel, args):
    from mmpose.registry import VISUALIZERS

    cfg = dict(pose.cfg.get('visualizer', dict(type='PoseLocalVisualizer')))
    cfg.update(name=f'demo_{time.time_ns()}', radius=args.radius, line_width=args.thickness)
    cfg.pop('vis_backends', None)  # draw only; the demo writes its own files
    visualizer = VISUALIZERS.build(cfg)
    visualizer.set_dataset_meta(pose.dataset_meta, skeleton_style=args.skeleton_style)
    return visualizer


def detector_options(args) -> dict:
    if args.det == 'mmdet':
        return dict(cat_id=args.det_cat_id, score_thr=args.bbox_thr, nms_thr=args.nms_thr)
    if args.det == 'hog':
        return dict(score_thr=args.bbox_thr)
    return {}


def draw(visualizer, frame_bgr, merged, args):
    """The frame with the skeletons of ``merged`` (all people, or None) drawn by MMPose, BGR."""
    if merged is None:
        return frame_bgr.copy()
    visualizer.add_datasample(
        'result',
        cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB),
        data_sample=merged,
        draw_gt=False,
        draw_bbox=args.draw_bbox,
        skeleton_style=args.skeleton_style,
        kpt_thr=args.kpt_thr,
    )
    return cv2.cvtColor(visualizer.get_image(), cv2.COLOR_RGB2BGR)


def put_overlay(frame_bgr, fps, watch, people):
    """Write the FPS (last 10 frames), the people count and this frame's stage latencies."""
    lines = [
        f'{fps:.1f} FPS  {people} people',
        '  '.join(f'{stage} {watch.last[stage] * 1e3:.0f} ms' for stage in watch.stages),
    ]
    scale = max(frame_bgr.shape[0] / 720, 0.5)
    for i, text in enumerate(lines):
        origin = (10, int((30 + 30 * i) * scale))
        for color, width in (((0, 0, 0), 4), ((255, 255, 255), 1)):
            cv2.putText(
                frame_bgr, text, origin, cv2.FONT_HERSHEY_SIMPLEX, 0.7 * scale, color, width,
                cv2.LINE_AA,
            )  # fmt: skip
    return frame_bgr


def run(args):
    from mmengine.utils import ProgressBar
    from mmpose.structures import merge_data_samples, split_instances

    source = FrameSource(args.input)  # a bad input fails here, before anything is written
    frames_out = predictions_out = None
    try:
        if args.deployed:
            pose = TopdownPoseModel.from_deployed(args.deployed)
        else:
            pose = TopdownPoseModel.from_config(
                args.pose_config, args.pose_checkpoint, device=args.device
            )
        print(f'pose model: {pose.description}', file=sys.stderr)
        detector = build_person_detector(
            args.det, args.det_config, args.det_checkpoint, args.device, **detector_options(args)
        )
        visualizer = build_visualizer(pose, args)
        show = args.show
        if show:
            reason = display_available()
            if reason:
                print(f'--show: {reason}; frames are not shown', file=sys.stderr)
                show = False
        frames_out, predictions_out = open_outputs(source, args.out, args.pred_out)
        sequence = source.kind != 'images'  # tracking, smoothing, detection interval
        smooth = (
            dict(min_cutoff=args.smooth_min_cutoff, beta=args.smooth_beta) if args.smooth else None
        )
        tracker = PoseTracker(smooth=smooth, kpt_thr=args.kpt_thr)
        total = source.num_frames
        if args.max_frames:
            total = min(total, args.max_frames) if total else args.max_frames
        progress = ProgressBar(total) if total and not source.live else None
        watch, predictions = Stopwatch(), []
        recent, start, count = deque(maxlen=10), time.perf_counter(), 0
        try:
            for index, name, frame in source:
                if args.max_frames and index >= args.max_frames:
                    break
                frame_start = time.perf_counter()
                with watch.measure('detect'):
                    boxes = tracker.next_boxes if sequence else np.zeros((0, 5))
                    if not sequence or index % args.det_interval == 0 or len(boxes) == 0:
                        boxes = detector(frame)
                with watch.measure('pose'):
                    results = pose.predict(frame, boxes)
                    if sequence:
                        t = frame_start if source.live else index / source.fps
                        tracker.update(results, t)
                merged = merge_data_samples(results) if results else None
                with watch.measure('draw'):
                    canvas = draw(visualizer, frame, merged, args)
                recent.append(time.perf_counter() - frame_start)
                if not args.no_overlay:
                    put_overlay(canvas, len(recent) / sum(recent), watch, len(results))
                instances = split_instances(merged.pred_instances) if results else []
                if predictions_out is not None and not sequence:
                    predictions_out.write_json(osp.splitext(name)[0] + '.json', instances)
                predictions.append(dict(frame_id=index, instances=instances))
                if frames_out is not None:
                    frames_out.write(name, canvas)
                if show:
                    cv2.imshow('mmbinary pose demo', canvas)
                    if cv2.waitKey(1) & 0xFF in (27, ord('q')):
                        break
                count += 1
                if progress is not None:
                    progress.update()
        except KeyboardInterrupt:
            if not source.live:
                raise
        seconds = time.perf_counter() - start
        written = []
        if frames_out is not None:
            written.append(f'{"video" if sequence else "images"}: {frames_out.commit()}')
        if predictions_out is not None:
            path = predictions_out.commit(predictions) if sequence else predictions_out.commit()
            written.append(f'predictions: {path}')
    except BaseException:
        for output in (frames_out, predictions_out):
            if output is not None:
                output.discard()
        raise
    finally:
        source.release()
        if args.show:
            cv2.destroyAllWindows()
    stages = ', '.join(
        f'{stage} {watch.total[stage] / max(count, 1) * 1e3:.0f} ms' for stage in watch.stages
    )
    if progress is not None:
        print()
    print(
        f'{count} frames, mean {count / max(seconds, 1e-9):.2f} FPS ({stages} per frame); '
        + ('; '.join(written) if written else 'nothing written (no --out / --pred-out)')
    )
    return dict(frames=count, seconds=seconds, predictions=predictions)


def main(argv=None):
    args = parse_args(argv)
    try:
        run(args)
    except DemoError as error:
        print(f'error: {error}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
