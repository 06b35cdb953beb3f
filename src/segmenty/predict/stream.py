"""A stream of frames predicted (`predict_stream`: the one streaming path, the CLI's video
too), and writing results off the prediction's path (`BackgroundWriter`).

Decoding, prediction, drawing and writing each wait on different things (OpenCV's codecs,
the workers of predict/pool.py, the disk), and the heavy parts release the GIL, so they
overlap when each runs in its own thread: `segmenty.io.prefetch` decodes ahead, `then` runs
where the prediction was made (a worker) or in a thread beside the tracker, and
`BackgroundWriter` writes in order behind (bounded queues keep memory flat however long the
stream). Video files themselves are segmenty/video.py's.
"""
from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..io import prefetch

_DONE = object()
THEN_AHEAD = 4  # tracked frames whose `then` may be pending in its thread


def predict_stream(predictor, frames: Iterable[np.ndarray], workers: int | None = 1, track: int = 0,
                   then: Callable | None = None) -> Iterator:
    """(frame, its Prediction) for each frame of `frames` (RGB uint8 arrays: a video's, say),
    in order, by `predictor` (a Predictor). The next frames are pulled from `frames` by a
    background thread while the network works on this one, so their decoding overlaps
    prediction; memory stays flat. `workers` > 1 (None: a worker a core) predicts in that many
    processes (pool.py): more frames a second, each Prediction's masks copied back from its
    worker. `track` > 1: the frames are one video, and a grid pattern's points are followed
    from frame to frame (track.py), with a full search when that fails and every `track`
    frames; in this process (each frame needs the last), `workers` unused.

    `then(predictor, position, rgb, prediction)` (a module-level function or picklable object,
    `position` the frame's place in the stream from 0): its result is yielded instead, computed
    where the prediction was made (in its worker: a drawn frame and a summary cross back
    instead of the masks) or, when tracking, in a thread beside the tracker.

    A function of this module rather than a Predictor method: streaming sits above the
    Predictor (it uses the pool of Predictors and the tracker), which imports neither."""
    ahead = prefetch(frames)
    try:
        yield from _predictions(predictor, ahead, workers, track, then)
    finally:
        # Closed here, not when garbage collected: a Ctrl-C's traceback keeps the generator
        # alive, and its reading thread would still be in the capture the caller releases next.
        ahead.close()


def _predictions(predictor, frames: Iterator, workers: int | None, track: int, then) -> Iterator:
    """predict_stream's work on the prefetched `frames`."""
    if track and track > 1:
        from .pool import finished
        from .track import Tracker

        tracker = Tracker(predictor, every=track)
        if then is None:
            for rgb in frames:
                yield rgb, tracker.predict(rgb)
            return
        pending: deque = deque()
        with ThreadPoolExecutor(1, thread_name_prefix="segmenty-then") as side:
            try:
                for position, rgb in enumerate(frames):
                    pending.append(side.submit(then, predictor, position, rgb, tracker.predict(rgb)))
                    if len(pending) > THEN_AHEAD:
                        yield pending[0].result()
                        pending.popleft()
            except KeyboardInterrupt:
                yield from finished(pending)  # Ctrl-C: the frames already predicted are handed on first
                raise
            yield from finished(pending)
        return
    from .pool import PredictorPool, predict_frame, predict_then

    with PredictorPool(predictor, workers) as pool:
        if then is None:
            yield from pool.map(predict_frame, frames)
        else:
            yield from pool.map(predict_then, ((then, i, rgb) for i, rgb in enumerate(frames)))


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
