"""Tracked masks against the truth: does a tracked frame's mask keep up with the board?

    python benchmarks/tracking_masks.py [--model chessboard:10x7] [--seconds-per-photo 2]

A virtual camera (benchmarks/video.py: pan, zoom, turn, motion blur, a moment out of focus,
cuts) moves over OpenCV's sample photos, whose truth masks ../shared/real carries; each frame's
truth is the still's mask moved by the camera's affine map (with the frame's reflected border,
as the frame itself). The real network predicts. In one run, on the same frames: tracking
(`Tracker`, the `segmenty predict VIDEO` default) and a full search on every frame (`--track
1`): the mask's IoU with the truth (all frames; the tracked ones), frames under 0.9, frames
searched in full, milliseconds a frame (wall, this process).

Tracked points cover what the last full search saw; a camera panning over a board cut by the
frame brings more of it into view, and a tracked mask drawn from those points alone lags
behind the board until the next search (benchmarks/README.md: what was tried about it).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from segmenty.io import list_images, read_image
from segmenty.predict import Predictor
from segmenty.predict.track import Tracker

sys.path.insert(0, str(Path(__file__).resolve().parent))
from video import SIZE, virtual_camera  # noqa: E402

REAL = Path(__file__).resolve().parent.parent.parent / "shared" / "real" / "opencv-samples"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="chessboard:10x7")
    ap.add_argument("--seconds-per-photo", type=float, default=2.0)
    args = ap.parse_args()
    files = list_images(REAL / "chessboard-10x7")
    photos = [read_image(f) for f in files]
    truths = [cv2.imread(str(REAL / "masks" / f"{f.stem}_mask.png"), cv2.IMREAD_GRAYSCALE) for f in files]
    frames = list(virtual_camera(photos, args.seconds_per_photo, 30.0))
    predictor = Predictor.open(args.model)
    rows = []
    for label, every in (("tracking (`--track 30`, the default)", 30), ("full search every frame (`--track 1`)", 1)):
        tracker = Tracker(predictor, every=every)
        ious, tracked = [], []
        seconds = 0.0
        for frame, affine, index in frames:
            truth = cv2.warpAffine(truths[index], affine, SIZE, flags=cv2.INTER_NEAREST,
                                   borderMode=cv2.BORDER_REFLECT) > 127
            start = time.perf_counter()
            result = tracker.predict(frame)
            seconds += time.perf_counter() - start
            mask = result.masks["mask"] > 0.5 if result.detected else np.zeros_like(truth)
            union = np.count_nonzero(mask | truth)
            ious.append(np.count_nonzero(mask & truth) / union if union else 1.0)
            tracked.append(tracker.tracked > sum(tracked))
        ious, tracked = np.array(ious), np.array(tracked)
        rows.append((label, ious.mean(), ious[tracked].mean() if tracked.any() else float("nan"),
                     int((ious < 0.9).sum()), len(ious) - int(tracked.sum()), 1000 * seconds / len(ious)))
    print(f"{len(frames)} frames of {len(photos)} photos ({REAL}), model {args.model}\n")
    print("| mode | mask IoU, all frames | tracked frames | frames under 0.9 | frames searched in full | ms a frame |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, iou, iou_tracked, low, full, ms in rows:
        print(f"| {label} | {iou:.4f} | {iou_tracked:.4f} | {low} | {full} | {ms:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
