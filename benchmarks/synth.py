"""Synthetic data speed: samples per second on one core, the time of every step, and writing
files through the same code path as ``segmenty synth`` with 1 and 2 workers.

    python benchmarks/synth.py [--pattern chessboard:10x7] [--size 256] [--count 400] [--rounds 3]

Every figure is the best of `--rounds` rounds: other processes on a shared machine only ever
make a round slower, so the best round is the closest to the machine's own speed. The load
average is printed with the table for that reason. The issue's reference: the original
recipe, ported faithfully to current OpenCV, made 17 samples/s on one core, writing files.
"""
from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core means one thread everywhere

import cv2  # noqa: E402
import torch  # noqa: E402

from segmenty.synth import Recipe, SyntheticDataset, write_dataset  # noqa: E402
from segmenty.synth.recipe import run_recipe  # noqa: E402


def best_rate(fn, count: int, rounds: int) -> float:
    """Samples per second of the best of `rounds` runs of fn() making `count` samples."""
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return count / best


def step_times(data: SyntheticDataset, count: int, rounds: int) -> tuple[dict[str, float], dict[str, int]]:
    """Mean ms per sample of every step (and of rendering the masks), best round per step,
    and how many of `count` samples each step happened in."""
    best: dict[str, float] = {}
    happened: dict[str, int] = {}
    for _ in range(rounds):
        timings: dict[str, float] = {}
        happened = {}
        for i in range(count):
            scene = data.new_scene()
            params = run_recipe(data.recipe, scene, data.seed, i, timings)
            start = time.perf_counter()
            scene.render_masks()
            timings["(render masks)"] = timings.get("(render masks)", 0.0) + time.perf_counter() - start
            for name, p in params.items():
                happened[name] = happened.get(name, 0) + (p is not None)
        for name, seconds in timings.items():
            best[name] = min(best.get(name, float("inf")), seconds / count * 1000)
    return best, happened


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pattern", default="chessboard:10x7")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--count", type=int, default=400, help="samples per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", default="1,2", help="worker counts to write files with")
    parser.add_argument("--out-dir", default=None,
                        help="where to write the files (default: the system's temporary folder); creating "
                             "files costs very different times in different folders of a busy disk")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    torch.set_num_threads(1)

    start = time.perf_counter()
    data = SyntheticDataset(args.pattern, size=args.size, seed=0)
    setup_s = time.perf_counter() - start
    print(f"pattern {args.pattern}, {args.size}x{args.size}, {args.count} samples a round, best of "
          f"{args.rounds} rounds; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; "
          f"dataset set-up {setup_s:.2f} s (once, shared by forked workers)\n")

    per_step, happened = step_times(data, args.count, args.rounds)
    print("| step | ms per sample | happens in | ms when it happens |")
    print("|---|---:|---:|---:|")
    for name, ms in per_step.items():
        share = happened.get(name, args.count) / args.count
        print(f"| {name} | {ms:.3f} | {share:.0%} | {ms / share if share else 0:.3f} |")
    print(f"| **sum** | **{sum(per_step.values()):.3f}** | | |\n")

    rows = []

    def generate(dataset: SyntheticDataset) -> None:
        for i in range(args.count):
            dataset.sample(i)

    rows.append(("generate, full recipe, 1 core", best_rate(lambda: generate(data), args.count, args.rounds)))
    original = SyntheticDataset(args.pattern, size=args.size, seed=0, recipe=Recipe.original(),
                                backgrounds=data.backgrounds)
    rows.append(("generate, original recipe only, 1 core",
                 best_rate(lambda: generate(original), args.count, args.rounds)))
    tmp = Path(tempfile.mkdtemp(prefix="segmenty-bench-", dir=args.out_dir))
    try:
        for workers in (int(w) for w in args.workers.split(",")):
            def write() -> None:
                shutil.rmtree(tmp / "out", ignore_errors=True)
                write_dataset(data, tmp / "out", args.count, workers=workers, progress=False)
            rows.append((f"write files like `segmenty synth --workers {workers}`",
                         best_rate(write, args.count, args.rounds)))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("| what | samples/s |")
    print("|---|---:|")
    for what, rate in rows:
        print(f"| {what} | {rate:.0f} |")
    print(f"\nfiles written under {tmp.parent}")


if __name__ == "__main__":
    main()
