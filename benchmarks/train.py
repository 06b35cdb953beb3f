"""Training speed and quality per model preset on this machine's CPU (or GPU).

For each preset: parameters, MFLOPs at 256×256, training samples/s with synthesis in the loop,
and the synthetic validation IoU of `mask` after each time budget. Every budget is its own run
(its learning rate anneals over that budget, as `segmenty train --minutes M` would), so the
default 2, 5, 10 minutes cost 17 minutes per preset.

    python benchmarks/train.py                                   # every CPU preset, 2/5/10 min
    python benchmarks/train.py --presets unet-s --minutes-list 1 --size 128
"""
from __future__ import annotations

import argparse
import csv
import tempfile
from pathlib import Path

from segmenty.models import MODELS, build_model, count_mflops, count_parameters
from segmenty.train import TrainConfig, train


def run_one(preset: str, minutes: float, args, out: Path) -> dict:
    run = out / f"{preset}-{minutes:g}min"
    train(TrainConfig(pattern=args.pattern, model=preset, size=args.size, minutes=minutes, batch=args.batch,
                      out=str(run), val_every=1e9, checkpoint_every=1e9))  # validate once, at the end
    with open(run / "log.csv") as f:
        last = list(csv.DictReader(f))[-1]
    return {"iou": float(last["iou_mask"]), "samples_per_s": int(last["step"]) * args.batch / float(last["elapsed_s"])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--presets", default=",".join(n for n in MODELS if n != "hourglass-seed"),
                    help="comma-separated presets (default: all but hourglass-seed, too slow on a CPU)")
    ap.add_argument("--minutes-list", default="2,5,10", help="training budgets in minutes (default: 2,5,10)")
    ap.add_argument("--size", type=int, default=256, help="training size (default: 256)")
    ap.add_argument("--batch", type=int, default=16, help="batch (default: 16)")
    ap.add_argument("--pattern", default="chessboard:10x7", help="pattern (default: chessboard:10x7)")
    ap.add_argument("--out", help="keep the runs here (default: a temporary folder)")
    args = ap.parse_args()
    budgets = [float(m) for m in args.minutes_list.split(",")]
    out = Path(args.out or tempfile.mkdtemp(prefix="segmenty-bench-"))

    rows = []
    for preset in args.presets.split(","):
        model = build_model(preset, 1)
        results = {m: run_one(preset, m, args, out) for m in budgets}
        rows.append((preset, count_parameters(model), count_mflops(model, 256),
                     sum(r["samples_per_s"] for r in results.values()) / len(results),
                     [results[m]["iou"] for m in budgets]))
        print(f"{preset}: {results}", flush=True)

    print(f"\npattern {args.pattern}, {args.size}x{args.size}, batch {args.batch}; runs in {out}\n")
    print("| preset | params | MFLOPs@256 | samples/s | " + " | ".join(f"IoU {m:g} min" for m in budgets) + " |")
    print("|---|---:|---:|---:|" + "---:|" * len(budgets))
    for preset, params, mflops, sps, ious in rows:
        print(f"| {preset} | {params:,} | {mflops:,.0f} | {sps:.1f} | " + " | ".join(f"{i:.3f}" for i in ious) + " |")


if __name__ == "__main__":
    main()
