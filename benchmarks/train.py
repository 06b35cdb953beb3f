"""Training speed and quality per model preset on this machine's CPU (or GPU).

For each preset: parameters, MFLOPs at 256×256, training samples/s with synthesis in the loop,
and the synthetic validation IoU of `mask` (the EMA weights `segmenty train` validates and
saves) after each time budget. By default one run per preset, as long as the longest budget,
validated every minute: the IoU "after M minutes" is the validation at M minutes of that run,
what a user watching log.csv sees (2, 5, 10 minutes cost 10 minutes per preset).
`--separate-runs` instead trains one run per budget, its learning rate annealed over that
budget as `segmenty train --minutes M` would (17 minutes per preset for 2, 5, 10).

    python benchmarks/train.py                                   # every CPU preset, 2/5/10 min
    python benchmarks/train.py --presets hourglass-seed --minutes-list 2
    python benchmarks/train.py --presets unet-s --minutes-list 1 --size 128
"""
from __future__ import annotations

import argparse
import csv
import tempfile
from pathlib import Path

from segmenty.models import MODELS, build_model, count_mflops, count_parameters
from segmenty.train import TrainConfig, train


def run_one(preset: str, minutes: float, budgets: list[float], args, out: Path) -> dict[float, dict]:
    """Train `preset` for `minutes`, validating every minute; IoU and samples/s at each budget."""
    run = out / f"{preset}-{minutes:g}min"
    train(TrainConfig(pattern=args.pattern, model=preset, size=args.size, minutes=minutes, batch=args.batch,
                      out=str(run), val_every=60.0, seed=args.seed))
    with open(run / "log.csv") as f:
        rows = [r for r in csv.DictReader(f) if float(r["elapsed_s"]) > 0]
    if not rows:
        raise SystemExit(f"{run / 'log.csv'}: no validation after training started")
    results = {}
    for m in budgets:
        # the first validation at or after the budget (validation comes within a step of it)
        row = next((r for r in rows if float(r["elapsed_s"]) >= m * 60 - 1), rows[-1])
        results[m] = {"iou": float(row["iou_mask"]), "elapsed_s": float(row["elapsed_s"]),
                      "samples_per_s": int(row["step"]) * args.batch / float(row["elapsed_s"])}
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--presets", default=",".join(n for n in MODELS if n != "hourglass-seed"),
                    help="comma-separated presets (default: all but hourglass-seed, too slow on a CPU)")
    ap.add_argument("--minutes-list", default="2,5,10", help="training budgets in minutes (default: 2,5,10)")
    ap.add_argument("--size", type=int, default=256, help="training size (default: 256)")
    ap.add_argument("--batch", type=int, default=16, help="batch (default: 16)")
    ap.add_argument("--pattern", default="chessboard:10x7", help="pattern (default: chessboard:10x7)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--separate-runs", action="store_true",
                    help="one run per budget (learning rate annealed over each) instead of one run per preset")
    ap.add_argument("--out", help="keep the runs here (default: a temporary folder)")
    args = ap.parse_args()
    budgets = [float(m) for m in args.minutes_list.split(",")]
    out = Path(args.out or tempfile.mkdtemp(prefix="segmenty-bench-"))

    rows = []
    for preset in args.presets.split(","):
        model = build_model(preset, 1)
        if args.separate_runs:
            results = {m: run_one(preset, m, [m], args, out)[m] for m in budgets}
        else:
            results = run_one(preset, max(budgets), budgets, args, out)
        rows.append((preset, count_parameters(model), count_mflops(model, 256),
                     results[max(budgets)]["samples_per_s"],
                     [results[m]["iou"] for m in budgets]))
        print(f"{preset}: {results}", flush=True)

    how = "one run per budget" if args.separate_runs else f"one {max(budgets):g}-minute run per preset"
    print(f"\npattern {args.pattern}, {args.size}x{args.size}, batch {args.batch}, {how}; runs in {out}\n")
    print("| preset | params | MFLOPs@256 | samples/s | " + " | ".join(f"IoU {m:g} min" for m in budgets) + " |")
    print("|---|---:|---:|---:|" + "---:|" * len(budgets))
    for preset, params, mflops, sps, ious in rows:
        print(f"| {preset} | {params:,} | {mflops:,.0f} | {sps:.1f} | " + " | ".join(f"{i:.3f}" for i in ious) + " |")


if __name__ == "__main__":
    main()
