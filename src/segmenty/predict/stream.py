"""Video in and out, and writing results off the prediction's path.

Decoding, prediction and writing results each wait on different things (OpenCV's codecs,
the workers of predict/pool.py, the disk), and the heavy parts release the GIL, so they
overlap when each runs in its own thread: `segmenty.io.prefetch` decodes ahead, and
`BackgroundWriter` writes the annotated video and the JSON lines in order behind (bounded
queues keep memory flat however long the stream).
"""
from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator

import cv2
import numpy as np

from ..errors import SegmentyError
from ..io import VIDEO_SUFFIXES, prefetch

_DONE = object()
# Video file suffixes `segmenty predict` opens as videos (anything else is read as a photo).
VIDEO_CODEC = "mp4v"  # MPEG-4 Part 2 in an .mp4 container: in every OpenCV build, no licences needed


def predict_stream(predictor, frames: Iterable[np.ndarray], workers: int | None = 1,
                   track: int = 0) -> Iterator[tuple[np.ndarray, object]]:
    """(frame, its Prediction) for each frame of `frames` (RGB uint8 arrays: a video's, say),
    in order, by `predictor` (a Predictor). The next frames are pulled from `frames` by a
    background thread while the network works on this one, so their decoding overlaps
    prediction; memory stays flat. `workers` > 1 (None: a worker a core) predicts in that many
    processes (pool.py): more frames a second, each Prediction's masks copied back from its
    worker. `track` > 1: the frames are one video, and a grid pattern's points are followed
    from frame to frame (track.py), with a full search when that fails and every `track`
    frames; in this process (each frame needs the last), `workers` unused.

    A function of this module rather than a Predictor method: streaming sits above the
    Predictor (it uses the pool of Predictors and the tracker), which imports neither."""
    if track and track > 1:
        from .track import Tracker

        tracker = Tracker(predictor, every=track)
        for rgb in prefetch(frames):
            yield rgb, tracker.predict(rgb)
        return
    from .pool import PredictorPool, predict_frame

    with PredictorPool(predictor, workers) as pool:
        yield from pool.map(predict_frame, prefetch(frames))


class BackgroundWriter:
    """Runs `write(job)` for each submitted job in one background thread, in order; at most
    `depth` jobs wait (submit blocks beyond that). The first error is raised by the next
    `submit` or by `close`."""

    def __init__(self, write: Callable[[object], None], depth: int = 8):
        self._write = write
        self._jobs: queue.Queue = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="segmenty-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is _DONE:
                return
            if self._error is None:
                try:
                    self._write(job)
                except BaseException as exc:  # noqa: BLE001  (re-raised in the caller's thread)
                    self._error = exc

    def submit(self, job) -> None:
        if self._error is not None:
            raise self._error
        self._jobs.put(job)

    def close(self) -> None:
        self._jobs.put(_DONE)
        self._thread.join()
        if self._error is not None:
            raise self._error

    def __enter__(self) -> BackgroundWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:  # already failing: stop the thread, keep the first error
            self._jobs.put(_DONE)
            self._thread.join()


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
