"""Whole jobs, composed from the stages for the API and the CLI (the only code besides the
CLI that may import every stage):

- `fit`: train a detector, with snapshots of real photos when the config names a `wild`
  folder (training itself knows nothing of the report: the snapshots are its callback), and
  export it for CPU prediction when it is done;
- `run_demo`: the main job on built-in defaults: train a chessboard detector on synthetic
  scenes only, label the shipped real example photos with OpenCV's classical detector,
  evaluate the network on them (whole photos, half views, negatives), write the HTML report.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from .hardware import let_idle_threads_sleep
from .runs import Run


def fit(config=None, **options) -> Run:
    """Train a detector and return its run folder as a `Run`, its best checkpoint exported for
    prediction on the CPU (`<checkpoint>.onnx`, predict/onnx.py) when training ends.

    ``fit(TrainConfig(...))`` or ``fit(pattern="chessboard:10x7", minutes=10, ...)`` (the
    TrainConfig fields as keywords).
    """
    let_idle_threads_sleep()  # before torch loads OpenMP
    from .report.snapshots import WildSnapshots
    from .train import TrainConfig, train

    if config is None:
        config = TrainConfig(**options)
    elif options:
        raise TypeError("fit() takes a TrainConfig or keyword options, not both")
    callbacks = [WildSnapshots(config.wild)] if config.wild else []
    run = Run(train(config, callbacks))
    export_for_prediction(run)
    return run


def export_for_prediction(run: Run) -> None:
    """The run's checkpoint exported for CPU prediction; a failed export is said in one line and
    leaves the run as it is (PyTorch predicts with it then)."""
    from .errors import SegmentyError
    from .predict.onnx import export_for_checkpoint
    from .runs import resolve_checkpoint

    try:
        export_for_checkpoint(resolve_checkpoint(run.path))
    except SegmentyError as exc:
        print(f"segmenty: warning: {exc}; predicting with PyTorch instead", file=sys.stderr)


def examples_dir() -> Path:
    """Real example photos shipped with segmenty (see assets/examples/README.txt)."""
    return Path(str(resources.files("segmenty") / "assets" / "examples"))


@dataclass
class DemoResult:
    run: Run
    table: str
    report: Path


def run_demo(out: str | os.PathLike = "runs/demo", minutes: float = 10.0, pattern: str = "chessboard:10x7",
             detector: str = "chessboard:10x7", images: str | os.PathLike | None = None,
             negatives: str | os.PathLike | None = None, resume: bool = False,
             device: str = "auto") -> DemoResult:
    from .eval.evaluate import evaluate
    from .eval.label import label_images
    from .io import list_images
    from .report.html import write_report
    from .train import TrainConfig

    out = Path(out)
    images = Path(images) if images else examples_dir() / "chessboard-10x7"
    negatives = Path(negatives) if negatives else examples_dir() / "negatives"
    run = fit(TrainConfig(pattern=pattern, minutes=minutes, out=str(out / "run"), wild=str(examples_dir()),
                          resume=resume, device=device))
    labels = out / "labels"
    label_images(list_images(images), detector, labels)
    result = evaluate(run.path, images, labels, negatives, run.eval_dir())
    report = write_report(run.path)
    table = f"A detector trained from renders alone for {minutes:g} minutes ({run.path}):\n{result.table()}"
    return DemoResult(run, table + _shipped_beside(pattern, images, labels, negatives, out), report)


def _shipped_beside(pattern: str, images: Path, labels: Path, negatives: Path, out: Path) -> str:
    """The detector shipped for the pattern's family on the same photos: what a user of a
    standard board gets in seconds, without training ('' where none ships)."""
    import time

    from .eval.evaluate import evaluate
    from .predict import Predictor
    from .runs import detector_folder

    if detector_folder(pattern) is None:
        return ""
    start = time.perf_counter()
    result = evaluate(Predictor.for_pattern(pattern), images, labels, negatives, out / "shipped-eval")
    return (f"\n\nThe detector shipped for {pattern.split(':')[0]}s, no training "
            f"({time.perf_counter() - start:.1f} s for these photos):\n{result.table()}")
