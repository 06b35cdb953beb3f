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
    python benchmarks/train.py --rate                            # live vs network-only rate

`--rate` prints, in one run, the training rate of `segmenty train`'s defaults (model, size,
batch, precision, synthesis workers and threads as resolved for this machine) with live
synthesis (the training loop's own data stream), beside the network-only rate: the same model,
size, batch, precision and step (forward + backward + AdamW + EMA) on one batch again and again,
with every core. The two alternate in blocks of a few seconds, so that the host's drift falls on
both alike. Target (issue 22): live >= 0.85 of network-only.
"""
from __future__ import annotations

import argparse
import csv
import tempfile
from pathlib import Path

from segmenty.hardware import let_idle_threads_sleep

let_idle_threads_sleep()  # as segmenty train does, before torch is imported
from segmenty.models import MODELS, build_model, count_mflops, count_parameters  # noqa: E402
from segmenty.train import TrainConfig, train  # noqa: E402


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


def rate(args) -> None:
    """Live training rate of the defaults beside the network alone, in alternating blocks (see
    the module doc): this host's speed drifts 20-25% within minutes, so a network-alone figure
    taken before a live run (the first version of this script) read 0.81-0.99 of the same code."""
    import statistics
    import time

    import cv2
    import torch

    from segmenty.hardware import autocast, available_cores
    from segmenty.synth import Recipe
    from segmenty.train.config import resolve_config
    from segmenty.train.data import network_input, training_batches
    from segmenty.train.distributed import DistInfo
    from segmenty.train.ema import EMA
    from segmenty.train.losses import get_loss

    config, pattern = resolve_config(TrainConfig(pattern=args.pattern))
    threads = {"network": available_cores(), "live": config.threads}
    device = torch.device("cpu")
    cv2.setNumThreads(1)  # as the training loop does before its synthesis starts
    model = build_model(config.model, len(pattern.mask_names)).to(memory_format=torch.channels_last)
    ema, loss_fn = EMA(model, 0.997), get_loss(config.loss)
    opt = torch.optim.AdamW(model.parameters(), config.lr, weight_decay=config.weight_decay)
    batches = training_batches(pattern, Recipe.from_dict(config.recipe_steps), config, 0, DistInfo(),
                               pin_memory=False)
    fixed = next(batches)  # the network-alone blocks step on this one batch again and again

    def step(batch: dict) -> None:  # the training loop's step
        x = network_input(batch["image"]).contiguous(memory_format=torch.channels_last)
        with autocast(device, config.precision):
            logits = model(x)
        loss = loss_fn(logits.float(), batch["masks"].float())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        ema.update(model)

    def block(kind: str) -> float:
        """Samples/s over `--rate-steps` steps. A live block first takes the batches made
        while the network ran alone (the synthesis thread keeps a queue full and then waits),
        so its timed steps start and end with the queue as full: synthesis work is counted
        exactly once."""
        torch.set_num_threads(threads[kind])
        if kind == "live":
            for _ in range(6):  # the queue's 4, the one waiting to enter it, and one more
                step(next(batches))
        else:
            step(fixed)
        start = time.perf_counter()
        for _ in range(args.rate_steps):
            step(next(batches) if kind == "live" else fixed)
        return config.batch * args.rate_steps / (time.perf_counter() - start)

    pairs = [(block("network"), block("live")) for _ in range(args.rate_pairs)]
    if hasattr(batches, "close"):  # the synthesis thread's generator (worker processes end with it)
        batches.close()
    print(f"\n{config.model} at {config.size} px, batch {config.batch}, {config.precision}, "
          f"{config.workers} synthesis worker processes (0: a thread), {config.threads} threads live, "
          f"{threads['network']} alone, {available_cores()} cores; {args.rate_pairs} pairs of "
          f"{args.rate_steps}-step blocks, alternating\n")
    print("| pair | network only (one batch again, every core) | live, with synthesis | ratio |")
    print("|---:|---:|---:|---:|")
    for i, (network, live) in enumerate(pairs, 1):
        print(f"| {i} | {network:.1f} samples/s | {live:.1f} samples/s | {live / network:.2f} |")
    ratios = [live / network for network, live in pairs]
    print(f"| median | {statistics.median(n for n, _ in pairs):.1f} | {statistics.median(v for _, v in pairs):.1f} | "
          f"**{statistics.median(ratios):.2f}** (target 0.85; range {min(ratios):.2f}-{max(ratios):.2f}) |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--presets", default=",".join(n for n in MODELS if n != "hourglass-seed"),
                    help="comma-separated presets (default: all but hourglass-seed, too slow on a CPU)")
    ap.add_argument("--minutes-list", default="2,5,10", help="training budgets in minutes (default: 2,5,10)")
    ap.add_argument("--size", type=int, default=None, help="training size (default: the training default)")
    ap.add_argument("--batch", type=int, default=16, help="batch (default: 16)")
    ap.add_argument("--pattern", default="chessboard:10x7", help="pattern (default: chessboard:10x7)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--separate-runs", action="store_true",
                    help="one run per budget (learning rate annealed over each) instead of one run per preset")
    ap.add_argument("--out", help="keep the runs here (default: a temporary folder)")
    ap.add_argument("--rate", action="store_true", help="only the live vs network-only rate of the defaults")
    ap.add_argument("--rate-pairs", type=int, default=16, help="--rate: network-alone and live blocks, alternating")
    ap.add_argument("--rate-steps", type=int, default=15, help="--rate: training steps a block")
    args = ap.parse_args()
    if args.rate:
        return rate(args)
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
    size = args.size or "default"
    print(f"\npattern {args.pattern}, size {size}, batch {args.batch}, {how}; runs in {out}\n")
    print("| preset | params | MFLOPs@256 | samples/s | " + " | ".join(f"IoU {m:g} min" for m in budgets) + " |")
    print("|---|---:|---:|---:|" + "---:|" * len(budgets))
    for preset, params, mflops, sps, ious in rows:
        print(f"| {preset} | {params:,} | {mflops:,.0f} | {sps:.1f} | " + " | ".join(f"{i:.3f}" for i in ious) + " |")


if __name__ == "__main__":
    main()
