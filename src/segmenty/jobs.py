"""Whole jobs, composed from the stages for the API and the CLI (the only code besides the
CLI that may import every stage):

- `fit`: train a detector, with snapshots of real photos when the config names a `wild`
  folder (training itself knows nothing of the report: the snapshots are its callback), and
  export it for CPU prediction when it is done (the float model and its int8 copy);
- `quantize_detector`: the int8 copy of a shipped detector (predict/quantize.py), its ranges
  measured on synthetic scenes of its own family and recipe;
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
    prediction on the CPU (`<checkpoint>.onnx` and its int8 copy `<checkpoint>.int8.onnx`,
    `export_for_prediction`) when training ends.

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
    """The run's checkpoint exported for CPU prediction, and its int8 copy (`quantize_model`),
    which the CPU then runs; a failed export is said in one line and leaves the run as it is
    (PyTorch predicts with it then), a failed int8 copy leaves the float export to predict."""
    from .errors import SegmentyError
    from .predict.onnx import INT8_SUFFIX, export_for_checkpoint
    from .runs import resolve_checkpoint

    checkpoint = resolve_checkpoint(run.path)
    try:
        exported = export_for_checkpoint(checkpoint)
    except SegmentyError as exc:
        print(f"segmenty: warning: {exc}; predicting with PyTorch instead", file=sys.stderr)
        return
    if exported is None or exported.path != checkpoint.with_suffix(".onnx"):
        return  # no onnxruntime, or a read-only run's private copy: nothing beside the checkpoint
    try:
        quantize_model(exported.path, run.config, checkpoint.with_suffix(INT8_SUFFIX), run.path)
    except SegmentyError as exc:
        print(f"segmenty: warning: {exc}; predicting with the float export", file=sys.stderr)
    except Exception as exc:  # noqa: BLE001  (onnxruntime's own tools: the trained run must not end in a traceback)
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        print(f"segmenty: warning: {checkpoint}: no int8 copy ({first}); predicting with the float export",
              file=sys.stderr)


# The synthetic scenes an int8 copy's ranges are measured on: (multiple of the training size,
# count), the first look's size and the finer looks' usual ones (a 640x480 photo is looked at
# 1, 2 and 4x: predictor.FINER_SCALES, capped at its own size); and the scenes it is checked on.
# Seeds no training (0 by default) or validation (train.config.VAL_SEED) run uses.
CALIBRATION_SCENES, CALIBRATION_SEED = ((1, 48), (2, 12), (4, 4)), 123
CHECK_SCENES, CHECK_SEED = ((1, 16), (2, 4)), 124


def quantize_detector(folder: str | os.PathLike) -> Path:
    """Write the int8 copy of a shipped detector's ONNX model (`runs.SHIPPED_INT8` beside it,
    what the CPU runs for a board's spec). `segmenty export RUN --ship` ends with it."""
    import json

    from .runs import CONFIG_FILE, SHIPPED_INT8, SHIPPED_ONNX

    folder = Path(folder)
    config = json.loads((folder / CONFIG_FILE).read_text())
    return quantize_model(folder / SHIPPED_ONNX, config, folder / SHIPPED_INT8)


def quantize_model(source: str | os.PathLike, config: dict, out: str | os.PathLike,
                   pattern_folder: str | os.PathLike | None = None) -> Path:
    """Write the int8 copy of the float ONNX model `source` to `out` (predict/quantize.py), its
    activation ranges measured on seeded synthetic scenes of the boards it was trained on (its
    training `config`: family or pattern, recipe), drawn by its own recipe; deterministic: the
    same model gives the same file. `pattern_folder`: where a run keeps its pattern's copy."""
    import numpy as np

    from .patterns import load_pattern
    from .patterns.family import load_family
    from .predict.onnx import OnnxModel
    from .predict.quantize import quantize_onnx
    from .runs import run_pattern_spec
    from .synth.dataset import SyntheticDataset
    from .synth.recipe import recorded_recipe

    source = Path(source)
    exported = OnnxModel(source)
    if config.get("family"):
        boards = load_family(config["family"])
    else:  # (the export records the pattern too: a checkpoint from before configs were saved)
        boards = load_pattern(run_pattern_spec(config.get("pattern") or exported.pattern_spec, pattern_folder))
    recipe = recorded_recipe(config.get("recipe_steps"), config.get("recipe", "default"))  # (TrainConfig's)
    size = exported.size  # the training size, as the export records it
    # the run's own backgrounds where they still are (the built-in textures otherwise)
    backgrounds = config.get("backgrounds") if config.get("backgrounds") and Path(config["backgrounds"]).is_dir() \
        else None

    def scenes(plan, seed):
        batches = []
        for multiple, count in plan:
            dataset = SyntheticDataset(boards, size=multiple * size, seed=seed, recipe=recipe, backgrounds=backgrounds)
            batches += [dataset[i]["image"].numpy()[None].astype(np.float32) / 255.0 for i in range(count)]
        return batches

    path, agreement = quantize_onnx(source, out, scenes(CALIBRATION_SCENES, CALIBRATION_SEED),
                                    scenes(CHECK_SCENES, CHECK_SEED))
    print(f"wrote {path} (against the float model on {sum(n for _, n in CHECK_SCENES)} other scenes: mean "
          f"probability difference {agreement['mean_diff']:.4f}, decisions flipped at "
          f"{agreement['flipped']:.3%} of pixels)")
    return path


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
