"""Frame sources, outputs and the HOG people detector on the real street clip."""

import os
import os.path as osp

import cv2
import numpy as np
import pytest

from mmbinary.demo import (
    DemoError,
    FrameSource,
    HOGPersonDetector,
    JsonOutput,
    VideoOutput,
    WholeImageDetector,
    build_person_detector,
    open_outputs,
)
from mmbinary.demo import sources as sources_module


@pytest.fixture(scope='module')
def video(shared_data):
    return osp.join(shared_data, 'video', 'demo.mp4')


def test_video_source_reads_every_frame(video):
    source = FrameSource(video)
    assert (source.kind, source.name, source.live) == ('video', 'demo', False)
    assert source.num_frames == 5 and source.size == (960, 540) and source.fps == 5
    frames = list(source)
    assert [i for i, _, _ in frames] == list(range(5))
    assert all(f.shape == (540, 960, 3) for _, _, f in frames)
    source.release()


def test_webcam_is_read_through_the_same_capture_code(video, monkeypatch):
    opened = []
    real = cv2.VideoCapture

    def fake_camera(index):  # a camera that streams the clip
        opened.append(index)
        return real(video)

    monkeypatch.setattr(sources_module.cv2, 'VideoCapture', fake_camera)
    source = FrameSource('webcam:2')
    assert opened == [2]
    assert (source.kind, source.name, source.live, source.num_frames) == (
        'webcam',
        'webcam2',
        True,
        None,
    )
    assert len(list(source)) == 5


@pytest.mark.parametrize(
    'spec, message',
    [
        ('webcam:99', 'cannot open camera 99'),
        ('webcam:x', 'webcam:ID'),
        ('missing/clip.mp4', 'input not found: missing/clip.mp4'),
    ],
)
def test_bad_inputs_name_what_is_wrong(spec, message):
    with pytest.raises(DemoError, match=message):
        FrameSource(spec)


def test_unreadable_files_and_empty_folders(tmp_path):
    broken = tmp_path / 'broken.jpg'
    broken.write_text('not an image')
    with pytest.raises(DemoError, match=f'cannot read image {broken}'):
        FrameSource(str(broken))
    fake_video = tmp_path / 'fake.mp4'
    fake_video.write_text('not a video')
    with pytest.raises(DemoError, match=str(fake_video)):
        FrameSource(str(fake_video))
    empty = tmp_path / 'empty'
    empty.mkdir()
    (empty / 'notes.txt').write_text('no images here')
    with pytest.raises(DemoError, match=f'no images in folder {empty}'):
        FrameSource(str(empty))
    with pytest.raises(DemoError, match='neither an image'):
        FrameSource(str(empty / 'notes.txt'))


def test_image_folder_source(coco_tiny):
    source = FrameSource(coco_tiny)
    names = [name for _, name, _ in source]
    assert source.kind == 'images' and len(names) == 4 and names == sorted(names)
    assert all(name.endswith('.jpg') for name in names)


def test_video_output_is_renamed_into_place_or_discarded(tmp_path):
    frame = np.full((48, 64, 3), 128, np.uint8)
    out = VideoOutput(str(tmp_path / 'clip.mp4'), fps=7, size=(64, 48))
    for i in range(3):
        out.write(f'frame_{i}', frame)
    assert not (tmp_path / 'clip.mp4').exists()  # only the temporary file so far
    out.commit()
    assert os.listdir(tmp_path) == ['clip.mp4']
    umask = os.umask(0)
    os.umask(umask)  # the video is as readable as a plain open() would make it (not 0600)
    assert os.stat(tmp_path / 'clip.mp4').st_mode & 0o777 == 0o666 & ~umask
    capture = cv2.VideoCapture(str(tmp_path / 'clip.mp4'))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 3 and capture.get(cv2.CAP_PROP_FPS) == 7
    capture.release()
    failed = VideoOutput(str(tmp_path / 'failed.mp4'), fps=7, size=(64, 48))
    failed.write('frame_0', frame)
    with pytest.raises(DemoError, match='frame_1 is 32x48'):
        failed.write('frame_1', frame[:, :32])
    failed.discard()
    assert os.listdir(tmp_path) == ['clip.mp4']
    with pytest.raises(DemoError, match='.mp4 or .avi'):
        VideoOutput(str(tmp_path / 'clip.gif'), fps=7, size=(64, 48))


def test_outputs_match_the_input_kind(video, coco_tiny, tmp_path):
    with pytest.raises(DemoError, match='--pred-out .*is a .json file'):
        open_outputs(FrameSource(video), str(tmp_path / 'x.mp4'), str(tmp_path / 'preds'))
    assert os.listdir(tmp_path) == []  # the video opened first was discarded
    with pytest.raises(DemoError, match='--out .*is a folder'):
        open_outputs(FrameSource(coco_tiny), str(tmp_path / 'x.mp4'), None)
    predictions = JsonOutput(str(tmp_path / 'p.json'))
    predictions.commit([dict(frame_id=0, instances=[dict(bbox_score=np.float32(0.5))])])
    assert os.listdir(tmp_path) == ['p.json']


def test_hog_finds_the_walkers_of_the_first_frame(video):
    _, _, frame = next(iter(FrameSource(video)))
    boxes = HOGPersonDetector()(frame)
    # the shared notes: HOG finds the 4 foreground walkers of this frame
    assert boxes.shape[1] == 5 and 3 <= len(boxes) <= 8
    assert (boxes[:, 0] >= 0).all() and (boxes[:, 2] <= 960).all() and (boxes[:, 3] <= 540).all()
    assert ((boxes[:, 3] - boxes[:, 1]) > (boxes[:, 2] - boxes[:, 0])).all()  # upright people
    assert len(HOGPersonDetector()(np.zeros_like(frame))) == 0
    np.testing.assert_array_equal(WholeImageDetector()(frame), [[0, 0, 960, 540, 1]])


def test_detector_choices():
    with pytest.raises(DemoError, match='--det-config and --det-checkpoint'):
        build_person_detector('mmdet')
    with pytest.raises(DemoError, match="one of hog, whole, mmdet, got 'yolo'"):
        build_person_detector('yolo')
    with pytest.raises(ValueError, match='scale must be > 1'):
        HOGPersonDetector(scale=1.0)


def test_nms_by_hand():
    from mmbinary.demo.detectors import _nms

    boxes = np.array(
        [[0, 0, 10, 10, 0.5], [1, 0, 11, 10, 0.9], [20, 0, 30, 10, 0.1], [0, 0, 10, 10, -1]],
        np.float32,
    )
    # box 1 (best) suppresses boxes 0 and 3 (IoU 90 / 110 > 0.45); box 2 does not overlap
    np.testing.assert_array_equal(_nms(boxes, 0.45)[:, 4], np.float32([0.9, 0.1]))
    assert len(_nms(boxes, 0.95)) == 3  # boxes 0 and 3 are identical (IoU 1)
