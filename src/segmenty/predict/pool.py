"""Prediction on every core: worker processes, each with its own Predictor.

One Predictor keeps about one core busy. The network is a few milliseconds of a photo's ~50 on
a CPU; the rest is Python (the points' search, the outline's geometry) that holds the GIL, so
threads cannot share it out (benchmarks/README.md, the profile). `PredictorPool` starts
processes that each build the same Predictor from the exported ONNX model with one
onnxruntime thread and one OpenCV thread, and maps a job over items in order, with at most
`ahead` items in flight, so that memory stays flat on a video of any length.

Workers are spawned, not forked: a fresh interpreter inherits no onnxruntime or OpenCV thread
pool from the parent (forking a process that runs threads can deadlock the child). A spawn
costs ~0.5 s of imports, paid once and in parallel, so callers use a pool for many items, not
for one photo. A spawned worker imports the caller's ``__main__`` again, so a script that
predicts with workers keeps that work under ``if __name__ == "__main__":``. Only an ONNX
backend is shared out; a PyTorch model (a GPU) predicts in the calling process.
"""
from __future__ import annotations

import contextlib
import multiprocessing
import signal
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

from ..errors import SegmentyError
from ..hardware import available_cores
from .onnx import OnnxModel
from .predictor import Predictor

T = TypeVar("T")
R = TypeVar("R")

_WORKER: Predictor | None = None  # the Predictor of this worker process


def _start_worker(model_path: str, options: dict) -> None:
    import cv2

    global _WORKER
    cv2.setNumThreads(1)  # one core a worker: OpenCV's own pool would fight the other workers
    _WORKER = Predictor(OnnxModel(model_path, threads=1), **options)


def _call(job: Callable, item):
    return job(_WORKER, item)


def _started() -> None:
    """A job that only makes the pool start a worker (`PredictorPool` starts them all at once)."""


@contextlib.contextmanager
def _ctrl_c_ignored() -> Iterator[None]:
    """Ctrl-C (SIGINT) ignored by this process meanwhile: processes started now inherit that,
    from their first instruction on. Nothing changes outside the main thread (not its to set)."""
    try:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:
        previous = None
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def predict_frame(predictor: Predictor, rgb):
    """The job of `predict_stream`: the frame and its Prediction."""
    return rgb, predictor.predict(rgb)


def predict_then(predictor: Predictor, job: tuple):
    """The job of `predict_stream(..., then=...)`: `then` applied to the frame's Prediction here."""
    then, position, rgb = job
    return then(predictor, position, rgb, predictor.predict(rgb))


def default_workers(predictor: Predictor) -> int:
    """A worker a core for an onnxruntime model; 1 (this process) for a PyTorch one."""
    return available_cores() if isinstance(predictor.backend, OnnxModel) else 1


def finished(pending: deque) -> Iterator:
    """The results of `pending` futures, in order, each as it finishes (emptying the deque)."""
    while pending:
        yield pending[0].result()
        pending.popleft()


class PredictorPool:
    """`predictor`'s work shared out over `workers` processes (None: `default_workers`).

    `map(job, items)` yields `job(predictor, item)` for each item, in order; `job` must be a
    module-level function (workers import it by name) and items and results picklable. With
    one worker, or a model that is not an onnxruntime one, jobs run here on `predictor`.
    """

    def __init__(self, predictor: Predictor, workers: int | None = None):
        self.predictor = predictor
        wanted = default_workers(predictor) if workers is None else int(workers)
        if wanted < 1:
            raise SegmentyError(f"--workers {wanted}: must be at least 1")
        shareable = isinstance(predictor.backend, OnnxModel)
        self.workers = wanted if shareable else 1
        self._executor: ProcessPoolExecutor | None = None
        if self.workers > 1:
            # Ctrl-C (a terminal sends it to the whole process group) is the caller's to handle:
            # every worker is started now, ignoring it, so that it finishes the items in its hands
            # (their files whole) and the caller keeps what is done (a worker still importing when
            # it came would die with a traceback and break the pool).
            with _ctrl_c_ignored():
                self._executor = ProcessPoolExecutor(
                    self.workers, mp_context=multiprocessing.get_context("spawn"), initializer=_start_worker,
                    initargs=(str(predictor.backend.path), predictor.options))
                for _ in range(self.workers):
                    self._executor.submit(_started)

    def map(self, job: Callable[[Predictor, T], R], items: Iterable[T], ahead: int | None = None) -> Iterator[R]:
        if self._executor is None:
            for item in items:
                yield job(self.predictor, item)
            return
        ahead = ahead or 2 * self.workers  # enough to keep every worker fed, no more in memory
        pending: deque = deque()
        try:
            try:
                for item in items:
                    pending.append(self._executor.submit(_call, job, item))
                    if len(pending) >= ahead:
                        yield pending[0].result()
                        pending.popleft()
            except KeyboardInterrupt:
                # Ctrl-C: the workers (which leave it to this process) finish the items in their
                # hands, handed on first
                with contextlib.suppress(BrokenProcessPool):  # one died anyway: the Ctrl-C is the news
                    yield from finished(pending)
                raise
            yield from finished(pending)
        except BrokenProcessPool:
            # Spawned workers import the caller's __main__ again: a script that predicts at its top
            # level, unguarded, has every worker die at its start, which looks the same from here.
            raise SegmentyError("a prediction worker process died: out of memory, or a Python script "
                                "whose prediction is not under 'if __name__ == \"__main__\":' (workers are "
                                "spawned and import the script again); try --workers 1 (workers=1)") from None
        finally:
            for future in pending:
                future.cancel()

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def __enter__(self) -> PredictorPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
