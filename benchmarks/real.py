"""Real-photo benchmark: train on synthetic chessboards only, score on real camera photos.

    python benchmarks/real.py                       # train 10 minutes, then evaluate
    python benchmarks/real.py --minutes-list 5,10,30
    python benchmarks/real.py --run runs/my-run     # evaluate an existing run, no training

Trains the default preset on ``chessboard:10x7`` (synthetic scenes only — never these photos),
labels ``../shared/real/chessboard-10x7`` with OpenCV's classical detector into a temporary
folder, and evaluates whole photos, half views and the negatives (``../shared/real/negatives``).
Targets (issue 6) after at most 10 minutes on 2 CPU cores: mean IoU >= 0.95 on whole photos,
>= 0.90 on half views, 0 false detections. Record results in benchmarks/README.md.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from segmenty.eval.evaluate import evaluate
from segmenty.eval.label import label_images
from segmenty.io import list_images

REPO = Path(__file__).resolve().parent.parent
DEFAULT_REAL = REPO.parent / "shared" / "real"
from segmenty.jobs import DEMO_SIZE  # noqa: E402  (the size the main job trains at on CPU)

PATTERN = "chessboard:10x7"
DETECTOR = "chessboard:9x6"  # inner corners of a 10x7-square board


def train_run(minutes: float, out_root: Path, seed: int, size: int | None, model: str | None) -> Path:
    from segmenty.train import TrainConfig, train

    options = {k: v for k, v in {"size": size, "model": model}.items() if v is not None}
    out = out_root / f"{minutes:g}min-seed{seed}-{time.strftime('%Y%m%d-%H%M%S')}"
    print(f"training {PATTERN} for {minutes:g} minutes into {out}", flush=True)
    return Path(train(TrainConfig(pattern=PATTERN, minutes=minutes, out=str(out), seed=seed, **options)))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=10.0, help="training time")
    p.add_argument("--minutes-list", help="several training times, e.g. 5,10,30 (one run each)")
    p.add_argument("--run", action="append", help="evaluate this existing run instead of training "
                   "(repeatable)")
    p.add_argument("--real", type=Path, default=DEFAULT_REAL, help="folder with chessboard-10x7/ and negatives/")
    p.add_argument("--out", type=Path, default=REPO / "runs" / "benchmark-real", help="where new runs go")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--size", type=int, default=DEMO_SIZE, help="training size (the main job's)")
    p.add_argument("--model", help="model preset (default: the training default)")
    p.add_argument("--eval-size", type=int, help="prediction size (default: the training size)")
    p.add_argument("--threshold", type=float, default=0.5)
    p.add_argument("--no-refine", dest="refine", action="store_false",
                   help="score the first pass alone (no zoomed-in second look)")
    args = p.parse_args(argv)

    photos_dir, negatives_dir = args.real / "chessboard-10x7", args.real / "negatives"
    if not photos_dir.is_dir():
        p.error(f"--real {args.real}: no chessboard-10x7/ folder in it")
    minutes = [float(m) for m in args.minutes_list.split(",")] if args.minutes_list else [args.minutes]
    rows = []
    with tempfile.TemporaryDirectory(prefix="segmenty-labels-") as masks_dir:
        t0 = time.perf_counter()
        labels = label_images(list_images(photos_dir), DETECTOR, masks_dir)
        print(f"labelled {len(labels.labelled)} photos with {DETECTOR} in {time.perf_counter() - t0:.0f} s; "
              f"not found: {', '.join(Path(n).name for n in labels.not_found) or 'none'}", flush=True)
        jobs = [(None, Path(r)) for r in args.run] if args.run else [(m, None) for m in minutes]
        for m, run in jobs:
            if run is None:
                run = train_run(m, args.out, args.seed, args.size, args.model)
            result = evaluate(run, photos_dir, masks_dir, negatives_dir if negatives_dir.is_dir() else None,
                              out_dir=run / "eval", size=args.eval_size, threshold=args.threshold,
                              refine=args.refine)
            print(f"\n== {run}\n{result.table()}\n", flush=True)
            rows.append((run, m, result.summary))

    print("| run | minutes | IoU whole | IoU halves | detected (whole / halves) | false detections |")
    print("|---|---|---|---|---|---|")
    for run, m, s in rows:
        print(f"| {run.name} | {'-' if m is None else f'{m:g}'} | {s['mean_iou']:.3f} | {s['mean_iou_halves']:.3f} "
              f"| {s['detection_rate']:.0%} / {s['detection_rate_halves']:.0%} "
              f"| {s['false_detections']} of {s['negatives']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
