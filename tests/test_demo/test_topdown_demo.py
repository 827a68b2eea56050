"""``demo/topdown_demo.py`` end to end with the binary SBPN-18 trained on coco_tiny (session
fixture) on the real street clip, and its failures: one clear line, non-zero exit, nothing
written."""

import importlib.util
import json
import os
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

from mmbinary.demo import box_iou
from mmbinary.demo import sources as sources_module

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SCRIPT = osp.join(ROOT, 'demo', 'topdown_demo.py')
SPEC = importlib.util.spec_from_file_location('topdown_demo', SCRIPT)
demo = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(demo)


@pytest.fixture(scope='module')
def video(shared_data):
    return osp.join(shared_data, 'video', 'demo.mp4')


@pytest.fixture(scope='module')
def model(coco_tiny_sbpn18):
    return [coco_tiny_sbpn18['config'], coco_tiny_sbpn18['checkpoint']]


def read_video(path):
    capture = cv2.VideoCapture(path)
    info = (
        int(capture.get(cv2.CAP_PROP_FRAME_COUNT)),
        capture.get(cv2.CAP_PROP_FPS),
        (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))),
    )
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    return info, frames


def test_video_with_hog_boxes(model, video, tmp_path, capsys):
    out, pred_out = str(tmp_path / 'annotated.mp4'), str(tmp_path / 'demo.json')
    argv = [*model, '--input', video, '--out', out, '--pred-out', pred_out, '--kpt-thr', '0']
    assert demo.main(argv) == 0
    summary = capsys.readouterr().out.strip().splitlines()[-1]
    assert summary.startswith('5 frames, mean ') and out in summary and pred_out in summary
    assert sorted(os.listdir(tmp_path)) == ['annotated.mp4', 'demo.json']  # no temporary left
    (count, fps, size), frames = read_video(out)
    (in_count, in_fps, in_size), inputs = read_video(video)
    assert (count, fps, size) == (in_count, in_fps, in_size) == (5, 5.0, (960, 540))
    assert len(frames) == 5
    with open(pred_out) as f:
        predictions = json.load(f)
    assert [p['frame_id'] for p in predictions] == [0, 1, 2, 3, 4]
    people = [person for p in predictions for person in p['instances']]
    assert all(len(p['instances']) >= 2 for p in predictions)  # HOG finds the walkers
    for person in people:
        assert np.array(person['keypoints']).shape == (17, 2)
        assert len(person['keypoint_scores']) == 17
        assert np.array(person['bbox']).shape == (1, 4)  # MMPose's inferencer format
    # poses drawn: every keypoint (kpt-thr 0) inside the frame is a coloured dot, far more
    # changed around the keypoints than the video codec changes elsewhere
    for prediction, drawn, original in zip(predictions, frames, inputs):
        diff = np.abs(drawn.astype(int) - original.astype(int)).sum(2)
        mask = np.zeros(diff.shape, bool)
        for person in prediction['instances']:
            for x, y in np.array(person['keypoints']).round().astype(int):
                if 2 <= x < 958 and 150 <= y < 538:  # below the FPS overlay
                    mask[y - 2 : y + 3, x - 2 : x + 3] = True
        assert mask.any() and diff[mask].mean() > 5 * diff[~mask].mean()


def test_webcam_stream_through_the_capture_code(model, video, tmp_path, monkeypatch, capsys):
    real = cv2.VideoCapture
    monkeypatch.setattr(sources_module.cv2, 'VideoCapture', lambda index: real(video))
    out = str(tmp_path / 'webcam.mp4')
    argv = [*model, '--input', 'webcam', '--det', 'whole', '--max-frames', '3', '--out', out]
    argv += ['--smooth', '--det-interval', '2']
    assert demo.main(argv) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith('3 frames')
    monkeypatch.undo()  # cv2.VideoCapture itself was replaced
    (count, fps, size), _ = read_video(out)
    assert (count, fps, size) == (3, 5.0, (960, 540))


def test_image_folder(model, coco_tiny, tmp_path):
    out, pred_out = tmp_path / 'vis', tmp_path / 'preds'
    argv = [*model, '--input', coco_tiny, '--det', 'whole', '--out', str(out)]
    assert demo.main([*argv, '--pred-out', str(pred_out)]) == 0
    images = sorted(f for f in os.listdir(coco_tiny) if f.endswith('.jpg'))
    assert sorted(os.listdir(out)) == images
    assert sorted(os.listdir(pred_out)) == [f.replace('.jpg', '.json') for f in images]
    with open(pred_out / images[0].replace('.jpg', '.json')) as f:
        people = json.load(f)
    assert len(people) == 1 and np.array(people[0]['keypoints']).shape == (17, 2)
    assert sorted(os.listdir(tmp_path)) == ['preds', 'vis']


DETR_CONFIG = """
_base_ = ['mmdet::detr/detr_r18_8xb2-500e_coco.py']
model = dict(backbone=dict(init_cfg=None), encoder=dict(num_layers=1), decoder=dict(num_layers=1))
test_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(320, 192), keep_ratio=True),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                                          'scale_factor')),
]))
"""


def test_mmdet_person_boxes(model, video, tmp_path):
    """The MMDetection path, with a tiny randomly initialised DETR (no NMS op: runs on
    mmcv-lite): the boxes the demo poses are the detector's boxes of the chosen class above the
    score threshold, the best one first, none overlapping another by more than the NMS IoU."""
    from mmdet.apis import inference_detector, init_detector
    from mmpose.utils import adapt_mmdet_pipeline

    config, checkpoint = tmp_path / 'detr.py', str(tmp_path / 'detr.pth')
    config.write_text(DETR_CONFIG)
    torch.manual_seed(0)
    detector = init_detector(str(config), None, device='cpu')
    meta = dict(dataset_meta=detector.dataset_meta)
    torch.save(dict(state_dict=detector.state_dict(), meta=meta), checkpoint)
    detector.cfg = adapt_mmdet_pipeline(detector.cfg)
    frame = read_video(video)[1][0]
    raw = inference_detector(detector, frame).pred_instances.cpu().numpy()
    cat_id = int(np.bincount(raw.labels).argmax())
    raw_boxes = raw.bboxes[raw.labels == cat_id]
    raw_scores = raw.scores[raw.labels == cat_id]
    pred_out = tmp_path / 'p.json'
    argv = [*model, '--input', video, '--max-frames', '1', '--pred-out', str(pred_out)]
    argv += ['--det-config', str(config), '--det-checkpoint', checkpoint]
    assert demo.main([*argv, '--det-cat-id', str(cat_id), '--bbox-thr', '0']) == 0
    with open(pred_out) as f:
        (prediction,) = json.load(f)
    boxes = np.array([person['bbox'][0] for person in prediction['instances']])
    scores = np.array([person['bbox_score'] for person in prediction['instances']])
    assert len(boxes) >= 1
    np.testing.assert_allclose(boxes[0], raw_boxes[raw_scores.argmax()], rtol=1e-5)
    for box in boxes:
        assert np.abs(raw_boxes - box).max(1).min() < 1e-3  # one of the detector's boxes
    assert (np.diff(scores) <= 0).all()
    iou = box_iou(boxes, boxes)
    assert (iou[~np.eye(len(boxes), dtype=bool)] <= 0.3).all()


def error_line(capsys) -> str:
    """The one ``error:`` line the demo printed (libraries may log other lines)."""
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith('error')]
    assert len(errors) == 1, errors
    return errors[0]


def run_cli(*args):
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1')
    return subprocess.run(
        [sys.executable, SCRIPT, *args], capture_output=True, text=True, env=env, timeout=600
    )


def test_missing_camera_one_error_line_nothing_written(tmp_path):
    out = tmp_path / 'out'
    config = osp.join(ROOT, 'configs/coco_tiny/td-hm_sbpn-bireal18_1xb4-60e_coco-tiny-256x192.py')
    result = run_cli(config, 'any.pth', '--input', 'webcam:99', '--out', str(out / 'cam.mp4'))
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        'error: cannot open camera 99 (--input webcam:99)'
    ]
    assert not out.exists()


@pytest.mark.parametrize(
    'make_input, message',
    [
        (lambda tmp: str(tmp / 'missing.mp4'), 'input not found: {}'),
        (lambda tmp: (tmp / 'broken.mp4').write_bytes(b'\0' * 64) and str(tmp / 'broken.mp4'),
         'cannot read video {}'),
        (lambda tmp: (tmp / 'empty').mkdir() or str(tmp / 'empty'), 'no images in folder {}'),
    ],
)  # fmt: skip
def test_bad_input_names_the_file(model, tmp_path, capsys, make_input, message):
    spec = make_input(tmp_path)
    out = tmp_path / 'annotated.mp4'
    assert demo.main([*model, '--input', spec, '--out', str(out)]) == 1
    assert error_line(capsys).startswith(f'error: {message.format(spec)}')
    assert not out.exists() and not [f for f in os.listdir(tmp_path) if f.startswith('.')]


def test_checkpoint_that_does_not_match_the_config(model, video, tmp_path, capsys):
    config, checkpoint = model
    state = torch.load(checkpoint, map_location='cpu', weights_only=False)
    state['state_dict'] = {
        k.replace('head.final_layer', 'head.other_layer'): v for k, v in state['state_dict'].items()
    }
    wrong = str(tmp_path / 'wrong.pth')
    torch.save(state, wrong)
    out = tmp_path / 'annotated.mp4'
    assert demo.main([config, wrong, '--input', video, '--out', str(out)]) == 1
    line = error_line(capsys)
    assert line.startswith(f'error: checkpoint {wrong} does not match config {config}')
    assert 'unexpected key in source state_dict: head.other_layer.weight' in line
    assert 'missing keys in source state_dict: head.final_layer.weight' in line
    assert sorted(os.listdir(tmp_path)) == ['wrong.pth']  # no video, no temporary file


def test_failure_mid_video_leaves_nothing(model, video, tmp_path, monkeypatch):
    calls = []

    def failing_draw(*args):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError('disk full')
        return args[1].copy()

    monkeypatch.setattr(demo, 'draw', failing_draw)
    out = tmp_path / 'annotated.mp4'
    argv = [*model, '--input', video, '--det', 'whole', '--out', str(out), '--pred-out']
    with pytest.raises(RuntimeError, match='disk full'):
        demo.main([*argv, str(tmp_path / 'p.json')])
    assert os.listdir(tmp_path) == []  # the two frames written went with the temporary file


def test_show_without_display_says_so(model, video, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv('DISPLAY', raising=False)
    monkeypatch.delenv('WAYLAND_DISPLAY', raising=False)
    argv = [*model, '--input', video, '--det', 'whole', '--max-frames', '1', '--show']
    assert demo.main(argv) == 0
    captured = capsys.readouterr()
    assert '--show: no display (DISPLAY is not set); frames are not shown' in captured.err
    assert captured.out.strip().splitlines()[-1].startswith('1 frames')


@pytest.fixture(scope='module')
def openvino_export(model, tmp_path_factory):
    """The fixture's SBPN-18 exported by ``tools/deploy/export.py`` to OpenVINO (f32)."""
    pytest.importorskip('openvino')
    spec = importlib.util.spec_from_file_location(
        'export_tool', osp.join(ROOT, 'tools', 'deploy', 'export.py')
    )
    export_tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(export_tool)
    out = str(tmp_path_factory.mktemp('demo_export') / 'sbpn18_openvino')
    export_tool.main([*model, '--backend', 'openvino', '--out', out])
    return out


def test_deployed_export_on_the_video(model, openvino_export, video, tmp_path, capsys):
    """``--deployed DIR`` runs the OpenVINO export through the same pipeline: same frames, the
    same people (HOG boxes), keypoints as the PyTorch model's within float rounding."""
    torch_json, deployed_json = str(tmp_path / 'torch.json'), str(tmp_path / 'deployed.json')
    out = str(tmp_path / 'deployed.mp4')
    assert demo.main([*model, '--input', video, '--pred-out', torch_json]) == 0
    captured = capsys.readouterr()
    assert 'pose model: PyTorch TopdownPoseEstimator on cpu' in captured.err
    argv = ['--deployed', openvino_export, '--input', video, '--out', out, '--pred-out']
    assert demo.main([*argv, deployed_json]) == 0
    captured = capsys.readouterr()  # the demo says what runs the 1-bit convs
    assert (
        'pose model: openvino export, real part f32 (float ops in f32), 1-bit convs on openvino'
        in (captured.err)
    )
    (count, fps, size), _ = read_video(video)
    assert read_video(out)[0] == (count, fps, size)
    with open(torch_json) as f:
        reference = json.load(f)
    with open(deployed_json) as f:
        deployed = json.load(f)
    assert len(deployed) == len(reference) == count
    errors = []
    for ref_frame, dep_frame in zip(reference, deployed):
        assert len(dep_frame['instances']) == len(ref_frame['instances']) > 0
        for ref, dep in zip(ref_frame['instances'], dep_frame['instances']):
            assert np.allclose(ref['bbox'], dep['bbox'])
            errors.append(np.abs(np.subtract(ref['keypoints'], dep['keypoints'])).max(axis=1))
    errors = np.concatenate(errors)
    print(
        f'deployed vs PyTorch keypoints: max {errors.max():.2f} px, '
        f'{(errors <= 0.5).mean():.1%} within 0.5 px'
    )
    # sign flips of near-zero pre-activations move a few keypoints (README, Deploy: exactness)
    assert (errors <= 0.5).mean() >= 0.95


def test_deployed_not_an_export(video, tmp_path, capsys):
    assert demo.main(['--deployed', str(tmp_path), '--input', video]) == 1
    line = error_line(capsys)
    assert line.startswith(f'error: cannot load the export {tmp_path}')
    assert 'no deploy.json' in line


def test_argument_errors(capsys):
    with pytest.raises(SystemExit):
        demo.parse_args(['--input', 'webcam'])  # no model
    with pytest.raises(SystemExit):
        demo.parse_args(['a.py', 'b.pth', '--deployed', 'd', '--input', 'webcam'])
    with pytest.raises(SystemExit):
        demo.parse_args(['a.py', 'b.pth', '--input', 'webcam', '--det-interval', '0'])
    assert '--det-interval must be >= 1, got 0' in capsys.readouterr().err
