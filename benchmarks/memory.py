"""Memory over time: does RSS stay flat over a long training run and over predicting many photos?

    python benchmarks/memory.py [--minutes 20] [--photos 1000] [--size 256] [--interval 5]
                                [--run RUN_OR_PT] [--threads N] [--skip-train] [--skip-predict]
                                [--train-args '...'] [--keep RUN] [PHOTO_DIR...]

Training: `segmenty train --minutes M` runs in a subprocess (default preset and options, a
temporary run folder); its RSS and that of its DataLoader workers (every descendant process,
read from /proc) are sampled every `--interval` seconds. `--keep RUN` keeps the run folder (for
instance to score it with benchmarks/real.py: one long run serves both benchmarks).

Prediction: a `Predictor` (the run given with --run, else an untrained default-preset model at
--size: memory does not depend on the weights) predicts `--photos` photos in this process,
cycling the photos in PHOTO_DIR (default ../shared/real, resized so the long side is 1024 px;
synthetic 1024x768 noise when there are none), drawing the overlay and encoding every mask and
the overlay as files would be written; this process's RSS is sampled every 10 photos.

The table gives, per phase, RSS at the start, after warm-up, at the end, the maximum, and the
growth from warm-up to end (the figure that must stay within 10%). Warm-up is the first 25% of
the samples (allocator pools, the validation set, worker start-up and first snapshots settle
there); each figure after it is the median of 3 neighbouring samples, so one sample taken
mid-validation does not decide it. RSS is VmRSS from /proc (psutil is not needed).
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

DEFAULT_PHOTOS = [Path(__file__).resolve().parents[2] / "shared" / "real"]
WARMUP_FRACTION = 0.25


def rss_mb(pid: int | str = "self") -> float:
    """Resident set size of one process in MB (0 when it has gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return 0.0


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (DataLoader workers and their helpers), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                # the command name may hold spaces: the parent pid is the 2nd field after ')'
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def tree_rss_mb(pid: int) -> tuple[float, float]:
    """(main process RSS, main + descendants RSS) in MB. Shared pages (forked workers share the
    parent's) are counted once per process, so the sum over-states the machine's use; its
    trend is what matters here."""
    main = rss_mb(pid)
    return main, main + sum(rss_mb(c) for c in descendants(pid))


def summary(name: str, samples: list[float]) -> dict:
    n = len(samples)
    if n < 4:
        raise SystemExit(f"{name}: only {n} samples; run longer or sample more often (--interval)")
    w = max(1, int(n * WARMUP_FRACTION))
    settled = statistics.median(samples[w: w + 3])
    end = statistics.median(samples[-3:])
    return {"phase": name, "samples": n, "start": samples[0], "warm": settled, "end": end,
            "max": max(samples), "growth": 100 * (end - settled) / settled}


def print_table(rows: list[dict]) -> None:
    print(f"\n{'phase':<28} {'samples':>7} {'start MB':>9} {'warm MB':>9} {'end MB':>9} {'max MB':>9} "
          f"{'growth':>8}")
    for r in rows:
        flag = "" if abs(r["growth"]) <= 10 else "  > 10%!"
        print(f"{r['phase']:<28} {r['samples']:>7} {r['start']:>9.1f} {r['warm']:>9.1f} {r['end']:>9.1f} "
              f"{r['max']:>9.1f} {r['growth']:>7.1f}%{flag}")


def bench_train(minutes: float, size: int, interval: float, extra: list[str], keep: str | None) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-c", "from segmenty.cli import run; run()", "train", "--minutes", f"{minutes:g}",
               "--size", str(size), "--out", keep or str(Path(tmp) / "run"), *extra]
        print("running:", " ".join(cmd[3:]), file=sys.stderr)
        err_path = Path(tmp) / "stderr.txt"
        err = open(err_path, "wb")
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
        main, total = [], []
        try:
            while proc.poll() is None:
                m, t = tree_rss_mb(proc.pid)
                if m > 1:  # not while the interpreter is still starting
                    main.append(m)
                    total.append(t)
                time.sleep(interval)
        finally:
            if proc.poll() is None:
                proc.kill()
            err.close()
        if proc.returncode != 0:
            tail = err_path.read_text(errors="replace").strip().splitlines()[-1:] or [""]
            raise SystemExit(f"training exited with status {proc.returncode}: {tail[0]}")
        # the last samples may be taken while the process exits (final validation, saving)
        return [summary(f"train {minutes:g} min (main)", main[:-1]),
                summary(f"train {minutes:g} min (+workers)", total[:-1])]


def load_photos(dirs: list[Path]) -> list[np.ndarray]:
    import cv2

    from segmenty.errors import SegmentyError
    from segmenty.io import list_images, read_image
    photos = []
    for d in dirs:
        if not d.exists():
            continue
        for path in list_images(d):
            try:
                rgb = read_image(path)
            except SegmentyError:
                continue
            scale = 1024 / max(rgb.shape[:2])
            photos.append(cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA))
    if not photos:
        rng = np.random.default_rng(0)
        photos = [rng.integers(0, 256, (768, 1024, 3), dtype=np.uint8) for _ in range(8)]
    return photos


def bench_predict(count: int, run: str | None, size: int, dirs: list[Path]) -> list[dict]:
    import torch

    import segmenty
    from segmenty.io import encode_image
    from segmenty.models import DEFAULT_MODEL, build_model
    from segmenty.predict import Predictor
    from segmenty.viz import draw_overlay
    from segmenty.runs import save_checkpoint

    torch.set_flush_denormal(True)
    photos = load_photos(dirs)
    with tempfile.TemporaryDirectory() as tmp:
        if run is None:
            pattern = segmenty.load_pattern("chessboard:10x7")
            run = str(Path(tmp) / "model.pt")
            save_checkpoint(run, {"model": build_model(DEFAULT_MODEL, len(pattern.mask_names)).state_dict(),
                                  "model_name": DEFAULT_MODEL, "mask_names": pattern.mask_names,
                                  "pattern": pattern.spec, "size": size, "config": {}, "step": 0})
        predictor = Predictor(run)
        samples = [rss_mb()]
        start = time.perf_counter()
        for i in range(count):
            rgb = photos[i % len(photos)]
            pred = predictor.predict(rgb)
            for prob in pred.masks.values():
                encode_image(np.round(prob * 255).astype(np.uint8), ".png")
            encode_image(draw_overlay(rgb, pred, predictor.mask_names), ".jpg", quality=90)
            if (i + 1) % 10 == 0:
                samples.append(rss_mb())
        seconds = time.perf_counter() - start
    print(f"predicted {count} photos ({len(photos)} distinct, e.g. {photos[0].shape[1]}x{photos[0].shape[0]}) "
          f"in {seconds:.0f} s", file=sys.stderr)
    return [summary(f"predict {count} photos", samples)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("photo_dirs", nargs="*", type=Path, default=DEFAULT_PHOTOS)
    ap.add_argument("--minutes", type=float, default=20.0, help="training run length")
    ap.add_argument("--photos", type=int, default=1000, help="photos to predict")
    ap.add_argument("--size", type=int, default=256, help="training size (and of the untrained predict model)")
    ap.add_argument("--interval", type=float, default=5.0, help="seconds between training RSS samples")
    ap.add_argument("--threads", type=int, help="torch threads for predicting (default: torch's own)")
    ap.add_argument("--run", help="run folder or checkpoint to predict with (default: an untrained model)")
    ap.add_argument("--skip-train", action="store_true")
    ap.add_argument("--skip-predict", action="store_true")
    ap.add_argument("--train-args", default="", help="more `segmenty train` options, e.g. '--workers 2'")
    ap.add_argument("--keep", help="keep the training run in this folder (default: a temporary one)")
    args = ap.parse_args()
    rows = []
    if args.threads:
        import torch
        torch.set_num_threads(args.threads)
    if not args.skip_train:
        rows += bench_train(args.minutes, args.size, args.interval, args.train_args.split(), args.keep)
    if not args.skip_predict:
        rows += bench_predict(args.photos, args.run, args.size, args.photo_dirs)
    print_table(rows)


if __name__ == "__main__":
    main()
