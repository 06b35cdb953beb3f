"""Video in and out with OpenCV, once for every stage: which inputs are videos, opening a file or
a camera, its frames (every Nth decoded, the rest only grabbed), one frame by its index, and
the annotated video written (`VideoWriter`). Below predict, calib and eval; the suffixes are
io.py's."""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from .errors import SegmentyError
from .io import VIDEO_SUFFIXES

VIDEO_CODEC = "mp4v"  # MPEG-4 Part 2 in an .mp4 container: in every OpenCV build, no licences needed

# FFmpeg's own log lines ("[mov,mp4,... @ 0x...] moov atom not found") went to the terminal beside
# segmenty's one-line error; read when OpenCV's FFmpeg backend first opens a file (a user's own
# setting stands).
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")


def is_video(source: str) -> bool:
    """A camera index (digits) or a file with a video suffix."""
    return source.isdigit() or source.lower().endswith(VIDEO_SUFFIXES)


def open_video(source: str) -> cv2.VideoCapture:
    """An opened cv2.VideoCapture of a video file or a camera index; SegmentyError otherwise."""
    camera = source.isdigit()
    if not camera:
        path = Path(source)
        if not path.exists():
            raise SegmentyError(f"{source}: no such file")
        if path.is_file() and path.stat().st_size == 0:
            raise SegmentyError(f"{source}: empty file (0 bytes), expected a video")
    with _opencv_quiet():
        capture = cv2.VideoCapture(int(source) if camera else source)
    if not capture.isOpened():
        if camera:
            raise SegmentyError(f"camera {source}: cannot be opened (no such camera, or it is busy)")
        raise SegmentyError(f"{source}: cannot be opened as a video (damaged, not a video, or a codec OpenCV lacks)")
    return capture


@contextlib.contextmanager
def _opencv_quiet() -> Iterator[None]:
    """OpenCV's warnings off while opening: a camera index that is not there logs two lines of
    its backends' failures beside segmenty's own one-line error."""
    logging = getattr(getattr(cv2, "utils", None), "logging", None)
    if logging is None:
        yield
        return
    before = logging.getLogLevel()
    logging.setLogLevel(logging.LOG_LEVEL_ERROR)
    try:
        yield
    finally:
        logging.setLogLevel(before)


def video_frames(capture: cv2.VideoCapture, every: int = 1) -> Iterator[tuple[int, np.ndarray]]:
    """(frame index, RGB frame) of every `every`-th frame; frames skipped are grabbed, not decoded."""
    index = 0
    while True:
        if index % every:
            if not capture.grab():
                return
        else:
            ok, bgr = capture.read()
            if not ok:
                return
            yield index, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        index += 1


def read_video_frame(path: str | Path, index: int) -> np.ndarray:
    """The RGB frame `index` of the video at `path`; SegmentyError when it cannot be decoded."""
    capture = cv2.VideoCapture(str(path))
    try:
        capture.set(cv2.CAP_PROP_POS_FRAMES, int(index))
        ok, bgr = capture.read()
    finally:
        capture.release()
    if not ok:
        raise SegmentyError(f"{path}: frame {index} cannot be decoded")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


class VideoWriter:
    """An annotated video (VIDEO_CODEC in .mp4), opened on the first frame (its size)."""

    def __init__(self, path: str, fps: float):
        self.path, self.fps = path, fps if fps and fps > 0 else 30.0
        self._writer: cv2.VideoWriter | None = None

    def write(self, rgb: np.ndarray) -> None:
        if self._writer is None:
            h, w = rgb.shape[:2]
            self._writer = cv2.VideoWriter(self.path, cv2.VideoWriter_fourcc(*VIDEO_CODEC), self.fps, (w, h))
            if not self._writer.isOpened():
                raise SegmentyError(f"{self.path}: cannot write a {VIDEO_CODEC} video here")
        self._writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
