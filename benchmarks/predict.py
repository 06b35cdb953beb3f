"""Prediction speed on 640x480 photos: PyTorch and onnxruntime beside OpenCV's chessboard finders.

    python benchmarks/predict.py [--model RUN_OR_PT] [--size 256] [--threads 2] [PHOTO_DIR...]

Photos (default: ../shared/real, boards and negatives) are resized to 640x480. For each
backend the table gives the median milliseconds per photo for the whole `Predictor.predict`
(resize, network, masks back to 640x480, outline and homography, and the zoomed-in second
pass where a board is detected), the same with --no-refine, and the network alone.
OpenCV's findChessboardCorners(gray, (9, 6)) and findChessboardCornersSB run on the same
photos, timed separately where they find the board and where they do not.

Without --model an untrained model of the default preset is used: speed does not depend on
the weights (denormal floats, which an untrained network produces and which are slow on x86,
are flushed to zero in both backends so they do not distort the numbers).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

import segmenty
from segmenty.io import list_images, read_image
from segmenty.models import DEFAULT_MODEL, build_model
from segmenty.predict import OnnxModel, Predictor, export_onnx
from segmenty.runs import load_model, save_checkpoint

DEFAULT_PHOTOS = [Path(__file__).resolve().parents[2] / "shared" / "real"]
BOARD = (9, 6)


def median_ms(fn, items, repeat: int) -> tuple[float, list[float]]:
    """Median over items of the best of `repeat` runs (robust to other processes' bursts)."""
    per_item = []
    for item in items:
        best = np.inf
        for _ in range(repeat):
            t = time.perf_counter()
            fn(item)
            best = min(best, (time.perf_counter() - t) * 1000)
        per_item.append(best)
    return statistics.median(per_item), per_item


def untrained_checkpoint(folder: Path, size: int) -> Path:
    pattern = segmenty.load_pattern("chessboard:10x7")
    torch.manual_seed(0)
    model = build_model(DEFAULT_MODEL, len(pattern.mask_names))
    path = folder / "untrained.pt"
    save_checkpoint(path, {"model": model.state_dict(), "model_name": DEFAULT_MODEL,
                           "mask_names": pattern.mask_names, "pattern": pattern.spec, "size": size})
    return path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("photos", nargs="*", type=Path, default=DEFAULT_PHOTOS)
    ap.add_argument("--model", help="run folder or .pt checkpoint (default: untrained default preset)")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    images = [cv2.resize(read_image(f), (640, 480), interpolation=cv2.INTER_AREA)
              for folder in args.photos for f in list_images(folder)]
    if not images:
        sys.exit(f"no photos in {' '.join(map(str, args.photos))}")
    tmp = Path(tempfile.mkdtemp(prefix="segmenty-bench-"))
    source = args.model or untrained_checkpoint(tmp, args.size)
    loaded = load_model(source, "cpu")
    onnx_path = export_onnx(loaded, tmp / "model.onnx")
    backends = {"PyTorch": loaded, "onnxruntime": OnnxModel(onnx_path, threads=args.threads)}
    what = f"model {args.model}" if args.model else f"UNTRAINED {DEFAULT_MODEL} (speed only)"
    print(f"{len(images)} photos at 640x480, {what}, --size {args.size}, {args.threads} threads\n")
    print("| method | ms per photo (median) | notes |")
    print("|---|---|---|")
    for name, backend in backends.items():
        # As `segmenty predict` runs: a second, zoomed-in pass on the photos with a board (an
        # untrained model finds none, so the two rows agree for it).
        for refine in (True, False):
            predictor = Predictor(backend, size=args.size, refine=refine)
            for rgb in images[:2]:  # warm-up: first calls allocate and pick kernels
                predictor.predict(rgb)
            whole, _ = median_ms(predictor.predict, images, args.repeat)
            boards = sum(predictor.predict(rgb).detected for rgb in images)
            label = f"segmenty {name}" + ("" if refine else " --no-refine")
            if refine:
                tensors = [predictor._prepare(rgb)[0][None] for rgb in images]
                net, _ = median_ms(predictor.backend.run, tensors, args.repeat)
                notes = f"network alone {net:.1f} ms a pass, input {tensors[0].shape[3]}x{tensors[0].shape[2]}; "
            else:
                notes = ""
            print(f"| {label} | {whole:.1f} | {notes}board detected in {boards} |")
    grays = [cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) for rgb in images]
    finders = {
        "findChessboardCorners": lambda g: cv2.findChessboardCorners(g, BOARD)[0],
        "findChessboardCornersSB": lambda g: cv2.findChessboardCornersSB(g, BOARD)[0],
    }
    for name, find in finders.items():
        found = [bool(find(g)) for g in grays]
        _, times = median_ms(find, grays, args.repeat)
        hit = [t for t, f in zip(times, found) if f]
        miss = [t for t, f in zip(times, found) if not f]
        cell = lambda ts: f"{statistics.median(ts):.1f}" if ts else "-"  # noqa: E731
        print(f"| OpenCV {name} | {cell(times)} | found {len(hit)}: {cell(hit)} ms; "
              f"not found {len(miss)}: {cell(miss)} ms |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
