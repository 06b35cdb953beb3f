"""Prediction speed where users wait: photos with files written, the library path, video.

    python benchmarks/predict.py --model RUN [--photos DIR ...] [--video-seconds 20] [--repeat 3]

On 640x480 photos (default: both real sets of ../shared/real, boards and negatives), in one run:

1. **photos, end to end**: `segmenty predict MODEL PHOTOS --out DIR` as a user runs it (a
   subprocess: start-up, decoding, prediction, every mask PNG, overlay JPEG and
   predictions.json written), milliseconds per photo, beside OpenCV's
   `findChessboardCornersSB(gray, (9, 6))` on the same decoded photos (its best of `--repeat`);
2. **start-up**: `segmenty predict` on one photo, wall seconds (after a first run has exported
   the run's network to ONNX);
3. **library**: `Predictor.predict` on decoded frames, second look on (median ms), the network
   alone (ms a pass), and with --no-refine;
4. **video**: the photos as a 640x480 mp4 of `--video-seconds` at 30 fps, `segmenty predict
   VIDEO --out DIR` frames per second with the annotated video written, and the process's
   peak memory against a video a tenth as long (flat memory: the same peak).

Targets (issue 16): photos >= 3x faster than findChessboardCornersSB; library <= 8 ms a frame
on 2 cores; video >= 60 frames per second; memory flat.
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from segmenty.io import list_images, read_image, write_image
from segmenty.predict import Predictor

REPO = Path(__file__).resolve().parent.parent
DEFAULT_PHOTOS = [REPO.parent / "shared" / "real" / sub for sub in
                  ("chessboard-10x7", "negatives", "opencv-samples/chessboard-10x7", "opencv-samples/negatives")]
BOARD = (9, 6)
CLI = [sys.executable, "-c", "from segmenty.cli import run; run()"]


def median_ms(fn, items, repeat: int) -> float:
    """Median over items of the best of `repeat` runs (robust to other processes' bursts)."""
    per_item = []
    for item in items:
        best = np.inf
        for _ in range(repeat):
            t = time.perf_counter()
            fn(item)
            best = min(best, (time.perf_counter() - t) * 1000)
        per_item.append(best)
    return statistics.median(per_item)


def run_cli(args: list[str]) -> tuple[float, str]:
    """Wall seconds of one `segmenty` command (and its stderr, for the peak memory line)."""
    t = time.perf_counter()
    res = subprocess.run(["/usr/bin/time", "-v", *CLI, *args], capture_output=True, text=True)
    if res.returncode != 0:
        sys.exit(f"segmenty {' '.join(args)} failed:\n{res.stderr[-2000:]}")
    return time.perf_counter() - t, res.stderr


def peak_mb(stderr: str) -> float:
    line = next(x for x in stderr.splitlines() if "Maximum resident set size" in x)
    return int(line.split(":")[1]) / 1024


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="run folder, .pt checkpoint or .onnx")
    ap.add_argument("--photos", nargs="*", type=Path, default=DEFAULT_PHOTOS)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--video-seconds", type=float, default=20.0, help="length of the test video at 30 fps")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="segmenty-bench-"))
    photos_dir = tmp / "photos"
    images = []
    for folder in args.photos:
        for f in list_images(folder):
            rgb = cv2.resize(read_image(f), (640, 480), interpolation=cv2.INTER_AREA)
            write_image(photos_dir / f"{folder.name}-{f.stem}.jpg", rgb, quality=95)
            images.append(rgb)
    if not images:
        sys.exit("no photos")
    model = str(args.model)
    run_cli(["predict", model, str(photos_dir / Path(list_images(photos_dir)[0]).name), "--out", str(tmp / "warm")])
    print(f"{len(images)} photos at 640x480 ({', '.join(str(p) for p in args.photos)}), model {model}\n")
    rows = []

    # 1. photos end to end, as a user runs it, against OpenCV's finder on decoded photos
    seconds, _ = run_cli(["predict", model, str(photos_dir), "--out", str(tmp / "out")])
    per_photo = seconds * 1000 / len(images)
    grays = [cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) for rgb in images]
    sb_times = [median_ms(lambda g: cv2.findChessboardCornersSB(g, BOARD), [g], args.repeat) for g in grays]
    sb = float(np.mean(sb_times))
    rows.append(("`segmenty predict` photos, files written (whole command / photos)", f"{per_photo:.1f} ms a photo",
                 f"{sb / per_photo:.2f}x faster than findChessboardCornersSB ({sb:.1f} ms a photo, mean; target 3x)"))

    # 2. start-up on one photo
    one, _ = run_cli(["predict", model, str(list_images(photos_dir)[0]), "--out", str(tmp / "one")])
    rows.append(("`segmenty predict` on one photo (start-up included)", f"{one:.2f} s", "target: well under 1 s"))

    # 3. the library path
    predictor = Predictor(args.model)
    for rgb in images[:3]:
        predictor.predict(rgb)
    lib = median_ms(predictor.predict, images, args.repeat)
    found = sum(predictor.predict(rgb).detected for rgb in images)
    tensors = [predictor._prepare(rgb, predictor.size)[0][None] for rgb in images[:20]]
    net = median_ms(predictor.backend.run, tensors, args.repeat)
    one_look = Predictor(args.model, refine=False)
    fast = median_ms(one_look.predict, images, args.repeat)
    rows.append(("`Predictor.predict`, decoded frames, second look on", f"{lib:.1f} ms a frame",
                 f"median; network alone {net:.1f} ms a pass; --no-refine {fast:.1f} ms; found in {found} "
                 f"of {len(images)} (target <= 8 ms)"))

    # 4. video: frames per second with the annotated video written, and flat memory
    peaks = {}
    for seconds_long in (args.video_seconds / 10, args.video_seconds):
        path = tmp / f"video-{seconds_long:g}s.mp4"
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (640, 480))
        for k in range(int(seconds_long * 30)):
            writer.write(cv2.cvtColor(images[k % len(images)], cv2.COLOR_RGB2BGR))
        writer.release()
        wall, err = run_cli(["predict", model, str(path), "--out", str(tmp / f"video-{seconds_long:g}")])
        peaks[seconds_long] = peak_mb(err)
    frames = int(args.video_seconds * 30)
    rows.append((f"`segmenty predict` a 640x480 video ({frames} frames), annotated mp4v video written",
                 f"{frames / wall:.0f} frames/s", f"whole command; target 60; peak memory {peaks[args.video_seconds]:.0f} MB "
                 f"vs {peaks[args.video_seconds / 10]:.0f} MB for a video a tenth as long"))

    print("| what | speed | notes |")
    print("|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
