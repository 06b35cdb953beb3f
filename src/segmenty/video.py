"""Video in and out with OpenCV, once for every stage: which inputs are videos, opening a file or
a camera, its frames (every Nth decoded, the rest only grabbed), one frame by its index, and
the annotated video written (`VideoWriter`). Below predict, calib and eval; the suffixes are
io.py's."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from .errors import SegmentyError
from .io import VIDEO_SUFFIXES

VIDEO_CODEC = "mp4v"  # MPEG-4 Part 2 in an .mp4 container: in every OpenCV build, no licences needed


def is_video(source: str) -> bool:
    """A camera index (digits) or a file with a video suffix."""
    return source.isdigit() or source.lower().endswith(VIDEO_SUFFIXES)


def open_video(source: str) -> cv2.VideoCapture:
    """An opened cv2.VideoCapture of a video file or a camera index; SegmentyError otherwise."""
    capture = cv2.VideoCapture(int(source) if source.isdigit() else source)
    if not capture.isOpened():
        what = f"camera {source}" if source.isdigit() else source
        raise SegmentyError(f"{what}: cannot be opened as a video (missing, unreadable or a codec OpenCV lacks)")
    return capture


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
