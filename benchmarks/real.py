"""Real-photo benchmark: train on synthetic chessboards only, score on two real sets.

    python benchmarks/real.py                       # train 10 minutes (the defaults), then evaluate
    python benchmarks/real.py --minutes-list 5,10,30
    python benchmarks/real.py --run runs/my-run     # evaluate an existing run, no training
    python benchmarks/real.py --run chessboard:10x7 # the detector shipped for chessboards

Trains ``segmenty train --pattern chessboard:10x7`` with its defaults (synthetic scenes only —
never these photos) and scores every run on both real sets of ../shared/real, one row each:

- ``udacity``: ``chessboard-10x7/`` (20 wide-angle calibration photos, labelled here with
  OpenCV's classical detector into a temporary folder) and ``negatives/`` (8 road photos);
- ``opencv``: ``opencv-samples/chessboard-10x7/`` (26 grayscale webcam photos of another board,
  no white margin, cut outer columns) with its own truth ``opencv-samples/masks/``, and
  ``opencv-samples/negatives/`` (30 photos without a board).

Whole photos, half views (cut through the board's centre) and false detections (issue 14
targets on each set after at most 10 minutes on 2 CPU cores: IoU >= 0.95 whole, >= 0.93
halves, 0 false detections). Record results in benchmarks/README.md.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from segmenty.eval.evaluate import evaluate
from segmenty.eval.label import label_images
from segmenty.io import list_images
from segmenty.predict import Predictor

REPO = Path(__file__).resolve().parent.parent
DEFAULT_REAL = REPO.parent / "shared" / "real"
PATTERN = "chessboard:10x7"
DETECTOR = "chessboard:10x7"  # squares, as the pattern spec (OpenCV's 9x6 inner corners)


@dataclass
class RealSet:
    name: str
    photos: Path
    masks: Path | None      # None: label with OpenCV's classical detector
    negatives: Path


def real_sets(root: Path) -> list[RealSet]:
    sets = [RealSet("udacity", root / "chessboard-10x7", None, root / "negatives"),
            RealSet("opencv", root / "opencv-samples" / "chessboard-10x7", root / "opencv-samples" / "masks",
                    root / "opencv-samples" / "negatives")]
    return [s for s in sets if s.photos.is_dir()]


def train_run(minutes: float, out_root: Path, seed: int, options: dict) -> Path:
    from segmenty.train import TrainConfig, train

    out = out_root / f"{minutes:g}min-seed{seed}-{time.strftime('%Y%m%d-%H%M%S')}"
    print(f"training {PATTERN} for {minutes:g} minutes into {out}", flush=True)
    return Path(train(TrainConfig(pattern=PATTERN, minutes=minutes, out=str(out), seed=seed, **options)))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=10.0, help="training time")
    p.add_argument("--minutes-list", help="several training times, e.g. 5,10,30 (one run each)")
    p.add_argument("--run", action="append",
                   help="evaluate this existing run (or a board spec: the shipped detector; or a .pt/.onnx file) instead of training "
                        "(repeatable)")
    p.add_argument("--real", type=Path, default=DEFAULT_REAL, help="../shared/real (both sets inside)")
    p.add_argument("--sets", default="udacity,opencv", help="which sets to score (comma-separated)")
    p.add_argument("--out", type=Path, default=REPO / "runs" / "benchmark-real", help="where new runs go")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--size", type=int, help="training size (default: the training default)")
    p.add_argument("--model", help="model preset (default: the training default)")
    p.add_argument("--eval-size", type=int, help="prediction size (default: the training size)")
    p.add_argument("--threshold", type=float, default=0.5)
    p.add_argument("--no-refine", dest="refine", action="store_false",
                   help="score the first pass alone (no zoomed-in second look)")
    p.add_argument("--single-scale", dest="multiscale", action="store_false",
                   help="no finer looks where the first finds nothing")
    args = p.parse_args(argv)

    wanted = args.sets.split(",")
    sets = [s for s in real_sets(args.real) if s.name in wanted]
    if not sets:
        p.error(f"--real {args.real}: none of the sets {args.sets} found in it")
    minutes = [float(m) for m in args.minutes_list.split(",")] if args.minutes_list else [args.minutes]
    options = {k: v for k, v in {"size": args.size, "model": args.model}.items() if v is not None}
    rows = []
    with tempfile.TemporaryDirectory(prefix="segmenty-labels-") as tmp:
        for s in sets:
            if s.masks is None:
                t0 = time.perf_counter()
                s.masks = Path(tmp) / s.name
                labels = label_images(list_images(s.photos), DETECTOR, s.masks)
                print(f"{s.name}: labelled {len(labels.labelled)} photos with {DETECTOR} in "
                      f"{time.perf_counter() - t0:.0f} s; not found: "
                      f"{', '.join(Path(n).name for n in labels.not_found) or 'none'}", flush=True)
        jobs = [(None, Path(r)) for r in args.run] if args.run else [(m, None) for m in minutes]
        for m, run in jobs:
            if run is None:
                run = train_run(m, args.out, args.seed, options)
            # A board spec (the shipped detector) or a model file: its eval files go to a
            # temporary folder.
            model = run if run.is_dir() else Predictor.open(str(run), size=args.eval_size, threshold=args.threshold,
                                                            refine=args.refine, multiscale=args.multiscale)
            for s in sets:
                out_dir = run / f"eval-{s.name}" if run.is_dir() else Path(tmp) / f"eval-{s.name}"
                result = evaluate(model, s.photos, s.masks, s.negatives if s.negatives.is_dir() else None,
                                  out_dir=out_dir, size=args.eval_size, threshold=args.threshold,
                                  refine=args.refine, multiscale=args.multiscale)
                print(f"\n== {run} on {s.name}\n{result.table()}\n", flush=True)
                rows.append((run, m, s.name, result.summary))

    print("| run | minutes | set | IoU whole | IoU halves | detected (whole / halves) | false detections |")
    print("|---|---|---|---|---|---|---|")
    for run, m, name, s in rows:
        print(f"| {run.name} | {'-' if m is None else f'{m:g}'} | {name} | {s['mean_iou']:.3f} "
              f"| {s['mean_iou_halves']:.3f} | {s['detection_rate']:.0%} / {s['detection_rate_halves']:.0%} "
              f"| {s['false_detections']} of {s['negatives']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
