"""Every board family on rendered photos: the shipped detector against OpenCV's own detectors.

    python benchmarks/families.py [--model boards] [--per-spec 12] [--seed 0]

There are no real photos of ChArUco boards or circle grids to measure on here (the ones in the
registry's packages are reserved for independent judging), so each board is rendered into the
road photos of ../shared/real/negatives (1280x720) at 10-24 px per square (circle spacing),
turned up to ±35° with a little perspective (benchmarks/small_boards.render). Per spec: boards
found by segmenty (detected, IoU > 0.5, at least half the points) and by OpenCV's detector for
the family (findChessboardCornersSB, CharucoDetector, findCirclesGrid), the share of
segmenty's points whose id is the true one (the nearest true point within 3 px), and each
detector's median point error in pixels. Specs with a half-turn symmetry (both sides even, a
symmetric circle grid) are left out: their ids are fixed by convention, not by the board.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from segmenty.calib.views import opencv_points
from segmenty.io import list_images, read_image
from segmenty.patterns import load_pattern
from segmenty.predict import Predictor, grid_layout
from segmenty.scores import iou
from small_boards import DEFAULT_PHOTOS, render

SPECS = ("chessboard:6x5", "chessboard:10x7", "chessboard:12x9", "charuco:5x7", "charuco:8x5:4x4_50",
         "charuco:11x8:5x5_100", "circles:4x11:asym", "circles:5x9:asym")
STEP_PX = (10, 16, 24)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="boards",
                   help="'boards' (the shipped detector) or a family run folder / checkpoint / .onnx")
    p.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS)
    p.add_argument("--specs", default=",".join(SPECS))
    p.add_argument("--per-spec", type=int, default=12)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    photos = [read_image(f) for f in list_images(args.photos)]
    print(f"{args.per_spec} scenes per spec at {', '.join(map(str, STEP_PX))} px per square, in {len(photos)} "
          f"photos ({args.photos})\n")
    print("| spec | found: segmenty | found: OpenCV | ids right | point err px: segmenty | OpenCV |")
    print("|---|---|---|---|---|---|")
    for spec in args.specs.split(","):
        predictor = Predictor.for_pattern(spec) if args.model == "boards" else Predictor(args.model, pattern=spec)
        pattern = load_pattern(spec)
        layout = grid_layout(pattern)
        rng = np.random.default_rng([args.seed, len(spec)])
        found = cv_found = 0
        right, total, errors, cv_errors = 0, 0, [], []
        for k in range(args.per_spec):
            scene, truth, hom = render(photos[k % len(photos)], pattern, STEP_PX[k % len(STEP_PX)], rng,
                                       step_px=layout.step_px)
            true_xy = cv2.perspectiveTransform(layout.sheet_xy[None].astype(np.float64), hom)[0]
            pred = predictor.predict(scene)
            pts = pred.points
            if (pred.detected and pts is not None and iou(pred.masks["mask"] > 0.5, truth) > 0.5
                    and len(pts.xy) >= len(true_xy) / 2):
                found += 1
                d = np.linalg.norm(pts.xy[:, None].astype(np.float64) - true_xy[None], axis=2)
                nearest = d.argmin(axis=1)
                close = d.min(axis=1) < 3
                right += int((close & (layout.ids[nearest] == pts.ids).all(axis=1)).sum())
                total += len(pts.xy)
                errors.extend(d.min(axis=1)[close])
            cv, _ = opencv_points(scene, layout)
            if cv is not None:
                cv_found += 1
                d = np.linalg.norm(cv.xy[:, None].astype(np.float64) - true_xy[None], axis=2).min(axis=1)
                cv_errors.extend(d[d < 3])
        n = args.per_spec
        med = lambda v: f"{np.median(v):.2f}" if v else "-"  # noqa: E731
        print(f"| {spec} | {found}/{n} | {cv_found}/{n} | {right / total if total else float('nan'):.1%} "
              f"| {med(errors)} | {med(cv_errors)} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
