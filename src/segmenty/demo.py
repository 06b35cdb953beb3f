"""The main job, end to end on built-in defaults: train a chessboard detector on synthetic
scenes only, label the shipped real example photos with OpenCV's classical detector, evaluate
the network on them (whole photos, half views, negatives) and write the HTML report.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path


def examples_dir() -> Path:
    """Real example photos shipped with segmenty (see assets/examples/README.txt)."""
    return Path(str(resources.files("segmenty") / "assets" / "examples"))


@dataclass
class DemoResult:
    run: Path
    table: str
    report: Path


# On 2 CPU cores, 160 px scenes train ~2.5x more samples per minute than 256 px ones, which
# matters more to real-photo quality in 10 minutes than the finer edges.
DEMO_SIZE = 160


def run_demo(out: str | os.PathLike = "runs/demo", minutes: float = 10.0, pattern: str = "chessboard:10x7",
             detector: str = "chessboard:9x6", images: str | os.PathLike | None = None,
             negatives: str | os.PathLike | None = None, resume: bool = False,
             device: str = "auto") -> DemoResult:
    from .eval.evaluate import evaluate
    from .eval.label import label_images
    from .io import list_images
    from .report.html import write_report
    from .train import TrainConfig, train

    out = Path(out)
    images = Path(images) if images else examples_dir() / "chessboard-10x7"
    negatives = Path(negatives) if negatives else examples_dir() / "negatives"
    config = TrainConfig(pattern=pattern, minutes=minutes, out=str(out / "run"), wild=str(examples_dir()),
                         resume=resume, device=device, size=DEMO_SIZE)
    run = train(config)
    labels = out / "labels"
    label_images(list_images(images), detector, labels)
    result = evaluate(run, images, labels, negatives, run / "eval")
    report = write_report(run)
    return DemoResult(run, result.table(), report)
