"""Frames in (webcam, video file, stream URL, image, folder of images) and annotated frames out.

Every output is written to a temporary file (or folder) beside its destination and renamed into
place only when the run succeeds, so a failed run leaves no half-written video behind.
"""

import contextlib
import os
import os.path as osp
import shutil
import tempfile
import time
from typing import Iterator, List, Optional, Tuple

import cv2
import mmengine
import numpy as np

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')
VIDEO_EXTENSIONS = ('.mp4', '.avi', '.mov', '.mkv', '.webm', '.m4v', '.mpg', '.mpeg')
STREAM_PREFIXES = ('rtsp://', 'rtmp://', 'http://', 'https://', 'udp://', 'tcp://')
DEFAULT_WEBCAM_FPS = 25.0


class DemoError(RuntimeError):
    """A user error of the demo (bad input, output or model); its message is one line."""


class FrameSource:
    """Frames of one input, read with OpenCV.

    ``spec`` is ``webcam`` or ``webcam:ID`` (a camera), a stream URL (``rtsp://``,
    ``http://``, ...), a video file, an image file, or a folder of images (sorted by name).
    Cameras, streams and video files go through the same capture code (:meth:`_open_capture`).

    Attributes:
        kind (str): ``'webcam'``, ``'stream'``, ``'video'`` or ``'images'``.
        name (str): base name for outputs (``webcam0``, ``demo`` for ``demo.mp4``, ...).
        fps (float): frame rate of the input (a camera or stream that reports none: 25).
        size (tuple): ``(width, height)`` of the first frame.
        num_frames (int | None): frame count of a file or folder, ``None`` for a live input.

    Args:
        spec (str): the input, as above.

    Raises:
        DemoError: a camera that does not open, a missing or unreadable file, a folder with no
            images, an extension that is neither an image nor a video.

    Example:
        >>> source = FrameSource('demo.mp4')  # doctest: +SKIP
        >>> for index, name, frame in source:  # doctest: +SKIP
        ...     print(index, name, frame.shape)  # BGR uint8
        0 frame_000000 (540, 960, 3)
    """

    def __init__(self, spec: str):
        self.spec = spec
        self._capture = None
        self._images: List[str] = []
        if spec == 'webcam' or spec.startswith('webcam:'):
            camera = spec.partition(':')[2] or '0'
            if not camera.isdigit():
                raise DemoError(f'--input {spec}: a camera is webcam or webcam:ID (ID an integer)')
            self.kind, self.name = 'webcam', f'webcam{camera}'
            self._open_capture(int(camera), f'cannot open camera {camera} (--input {spec})')
        elif spec.lower().startswith(STREAM_PREFIXES):
            self.kind, self.name = 'stream', 'stream'
            self._open_capture(spec, f'cannot open stream {spec}')
        elif osp.isdir(spec):
            self.kind, self.name = 'images', osp.basename(osp.normpath(spec))
            self._images = sorted(
                osp.join(spec, f)
                for f in os.listdir(spec)
                if f.lower().endswith(IMAGE_EXTENSIONS) and osp.isfile(osp.join(spec, f))
            )
            if not self._images:
                raise DemoError(
                    f'no images in folder {spec} (looked for {", ".join(IMAGE_EXTENSIONS)})'
                )
        elif not osp.exists(spec):
            raise DemoError(f'input not found: {spec}')
        elif spec.lower().endswith(IMAGE_EXTENSIONS):
            self.kind, self.name = 'images', osp.splitext(osp.basename(spec))[0]
            self._images = [spec]
        elif spec.lower().endswith(VIDEO_EXTENSIONS):
            self.kind, self.name = 'video', osp.splitext(osp.basename(spec))[0]
            self._open_capture(spec, f'cannot read video {spec}')
        else:
            raise DemoError(
                f'input {spec} is neither an image ({", ".join(IMAGE_EXTENSIONS)}) nor a video '
                f'({", ".join(VIDEO_EXTENSIONS)}), a folder, webcam[:ID] or a stream URL'
            )
        self._first = self._read_first()

    @property
    def live(self) -> bool:
        """A camera or a stream: no known length, frames come in real time."""
        return self.kind in ('webcam', 'stream')

    def _open_capture(self, source, message: str):
        log_level = cv2.setLogLevel(0)  # OpenCV's own warnings would bury the one-line error
        try:
            capture = cv2.VideoCapture(source)
        finally:
            cv2.setLogLevel(log_level)
        if not capture.isOpened():
            capture.release()
            raise DemoError(message)
        self._capture = capture
        fps = capture.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and fps > 0 and np.isfinite(fps) else DEFAULT_WEBCAM_FPS
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        self.num_frames = count if self.kind == 'video' and count > 0 else None

    def _read_image(self, path: str) -> np.ndarray:
        image = cv2.imread(path, cv2.IMREAD_COLOR)
        if image is None:
            raise DemoError(f'cannot read image {path} (missing, empty or not an image)')
        return image

    def _read_first(self) -> np.ndarray:
        if self._capture is None:
            first = self._read_image(self._images[0])
            self.fps, self.num_frames = 0.0, len(self._images)
        else:
            ok, first = self._capture.read()
            if not ok or first is None:
                self.release()
                what = 'video' if self.kind == 'video' else self.kind
                raise DemoError(f'cannot read {what} {self.spec}: no frame could be decoded')
        self.size = (first.shape[1], first.shape[0])
        return first

    def __iter__(self) -> Iterator[Tuple[int, str, np.ndarray]]:
        """Yield ``(index, name, frame)``; ``name`` is the image file name or ``frame_{i}``."""
        if self._capture is None:
            for index, path in enumerate(self._images):
                frame = self._first if index == 0 else self._read_image(path)
                yield index, osp.basename(path), frame
            return
        frame, index = self._first, 0
        while frame is not None:
            yield index, f'frame_{index:06d}', frame
            ok, frame = self._capture.read()
            frame = frame if ok else None
            index += 1

    def release(self):
        if self._capture is not None:
            self._capture.release()
            self._capture = None


def _temporary_path(path: str, is_dir: bool = False) -> str:
    """A new file (or folder) beside ``path``, with the permissions a plain ``open`` would give."""
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    prefix = f'.{osp.basename(path)}.'
    if is_dir:
        temporary, mode = tempfile.mkdtemp(prefix=prefix, suffix='.part', dir=folder), 0o777
    else:
        handle, temporary = tempfile.mkstemp(
            prefix=prefix, suffix='.part' + osp.splitext(path)[1], dir=folder
        )
        os.close(handle)
        mode = 0o666
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(temporary, mode & ~umask)  # mkstemp / mkdtemp make them private (0600 / 0700)
    return temporary


@contextlib.contextmanager
def atomic_output(path: str):
    """Yield a temporary path beside ``path``; rename it to ``path`` if the block succeeds.

    Example:
        >>> with atomic_output('out/figure.png') as temporary:  # doctest: +SKIP
        ...     fig.savefig(temporary)
    """
    temporary = _temporary_path(path)
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        if osp.exists(temporary):
            os.remove(temporary)


class VideoOutput:
    """An annotated video with the input's frame size and rate, renamed into place on success.

    Args:
        path (str): the video to write (``.mp4`` with the ``mp4v`` codec, ``.avi`` with MJPG).
        fps (float): frames per second written in the file.
        size (tuple): ``(width, height)`` of every frame.

    Raises:
        DemoError: an extension other than ``.mp4`` / ``.avi``, or OpenCV cannot write it.
    """

    FOURCC = {'.mp4': 'mp4v', '.avi': 'MJPG'}

    def __init__(self, path: str, fps: float, size: Tuple[int, int]):
        ext = osp.splitext(path)[1].lower()
        if ext not in self.FOURCC:
            raise DemoError(f'--out {path}: a video output must end with .mp4 or .avi')
        self.path, self.size, self.count = path, tuple(size), 0
        self._temporary, self._writer = _temporary_path(path), None
        self._writer = cv2.VideoWriter(
            self._temporary, cv2.VideoWriter_fourcc(*self.FOURCC[ext]), fps, self.size
        )
        if not self._writer.isOpened():
            self.discard()
            raise DemoError(f'cannot write video {path} with OpenCV')

    def write(self, name: str, frame_bgr: np.ndarray):
        if (frame_bgr.shape[1], frame_bgr.shape[0]) != self.size:
            raise DemoError(
                f'frame {name} is {frame_bgr.shape[1]}x{frame_bgr.shape[0]}, the video '
                f'{self.path} is {self.size[0]}x{self.size[1]}'
            )
        self._writer.write(frame_bgr)
        self.count += 1

    def commit(self) -> str:
        self._writer.release()
        os.replace(self._temporary, self.path)
        return self.path

    def discard(self):
        if self._writer is not None:
            self._writer.release()
        if osp.exists(self._temporary):
            os.remove(self._temporary)


class FolderOutput:
    """Annotated images (or JSON files) under their input names, moved into a folder on success.

    Args:
        path (str): the folder (created if needed; files of the same name are replaced).
        option (str): the command-line option that named it, for error messages.
    """

    def __init__(self, path: str, option: str = '--out'):
        if osp.isfile(path) or osp.splitext(path)[1].lower() in (
            VIDEO_EXTENSIONS + IMAGE_EXTENSIONS + ('.json',)
        ):
            raise DemoError(f'{option} {path}: for image inputs {option} is a folder')
        self.path, self.option, self.count = path, option, 0
        self._temporary = _temporary_path(path, is_dir=True)

    def write(self, name: str, frame_bgr: np.ndarray):
        if not cv2.imwrite(osp.join(self._temporary, name), frame_bgr):
            raise DemoError(f'cannot write image {osp.join(self.path, name)}')
        self.count += 1

    def write_json(self, name: str, obj):
        mmengine.dump(obj, osp.join(self._temporary, name), file_format='json', indent='  ')
        self.count += 1

    def commit(self) -> str:
        os.makedirs(self.path, exist_ok=True)
        for name in os.listdir(self._temporary):
            os.replace(osp.join(self._temporary, name), osp.join(self.path, name))
        os.rmdir(self._temporary)
        return self.path

    def discard(self):
        shutil.rmtree(self._temporary, ignore_errors=True)


class JsonOutput:
    """One JSON file, written at :meth:`commit` (a temporary file renamed into place).

    Args:
        path (str): the file, ending with ``.json``.
        option (str): the command-line option that named it, for error messages.
    """

    def __init__(self, path: str, option: str = '--pred-out'):
        if not path.lower().endswith('.json'):
            raise DemoError(f'{option} {path}: for a video or camera {option} is a .json file')
        self.path, self.option = path, option

    def commit(self, obj) -> str:
        with atomic_output(self.path) as temporary:
            mmengine.dump(obj, temporary, file_format='json', indent='  ')
        return self.path

    def discard(self):
        pass  # nothing is written before commit


def open_outputs(source: FrameSource, out: Optional[str], pred_out: Optional[str]):
    """``(frames, predictions)`` outputs for ``source`` (each ``None`` when not asked for).

    A camera, stream or video gives a video (``--out x.mp4``) and one JSON file
    (``--pred-out x.json``); images give folders of images and of one JSON file per image.
    """
    outputs = [None, None]
    try:
        if out:
            outputs[0] = (
                FolderOutput(out, '--out')
                if source.kind == 'images'
                else VideoOutput(out, source.fps, source.size)
            )
        if pred_out:
            outputs[1] = (
                FolderOutput(pred_out, '--pred-out')
                if source.kind == 'images'
                else JsonOutput(pred_out, '--pred-out')
            )
    except DemoError:
        for output in outputs:
            if output is not None:
                output.discard()
        raise
    return tuple(outputs)


class Stopwatch:
    """Per-stage latencies of the last frame, and their sums over the run (seconds).

    Example:
        >>> watch = Stopwatch()
        >>> with watch.measure('pose'):
        ...     pass
        >>> watch.last['pose'] >= 0
        True
    """

    def __init__(self, stages=('detect', 'pose', 'draw')):
        self.stages = tuple(stages)
        self.last = dict.fromkeys(self.stages, 0.0)
        self.total = dict.fromkeys(self.stages, 0.0)

    @contextlib.contextmanager
    def measure(self, stage: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - start
            self.last[stage] = elapsed
            self.total[stage] += elapsed
