"""Small boards: the smallest board (in pixels per square) that prediction finds reliably.

    python benchmarks/small_boards.py --run RUN_OR_SPEC [--photos ../shared/real/negatives] [--per-size 16] [--width 3840] [--plain]

Renders the run's pattern (a grid pattern: chessboard, ChArUco, circles) into real photos
without a board (default: the 1280x720 road photos of ../shared/real/negatives) at known
sizes, a random turn (±35°) and a little perspective, with the photo's own blur and noise
left as they are, and predicts each scene with the multi-scale look (the default) and without
it (`Predictor(multiscale=False)`). A board counts as found when the predictor says detected
and its mask's IoU with the rendered board exceeds 0.5. Prints one row per size: pixels per
square, the board's width as a share of the photo's, found with / without the finer looks.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from segmenty.io import list_images, read_image
from segmenty.predict import Predictor
from segmenty.scores import iou

REPO = Path(__file__).resolve().parent.parent
DEFAULT_PHOTOS = REPO.parent / "shared" / "real" / "negatives"
SQUARE_PX = (4, 5, 6, 8, 10, 12, 16, 24)


def render(photo: np.ndarray, pattern, square_px: float, rng: np.random.Generator,
           step_px: float | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The photo with the pattern's sheet pasted at `square_px` pixels per square (per grid
    step of `step_px` sheet pixels: a circle grid's spacing); the board's `mask` in the
    photo; and the homography sheet -> photo."""
    h, w = photo.shape[:2]
    sheet, mask = pattern.image, pattern.masks["mask"].astype(np.uint8) * 255
    scale = square_px / (step_px or pattern.grid.spacing_px)
    sh, sw = sheet.shape[:2]
    corners = np.float32([[0, 0], [sw, 0], [sw, sh], [0, sh]]) - 0.5
    angle = np.deg2rad(rng.uniform(-35, 35))
    rot = np.float32([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    placed = (corners - [sw / 2, sh / 2]) * scale @ rot.T
    placed += rng.normal(0, 0.06, placed.shape) * np.float32([sw, sh]) * scale  # a little perspective
    extent = placed.max(axis=0) - placed.min(axis=0)
    centre = [rng.uniform(extent[0] / 2, w - extent[0] / 2), rng.uniform(extent[1] / 2, h - extent[1] / 2)]
    hom = cv2.getPerspectiveTransform(corners, (placed + centre).astype(np.float32))
    board = cv2.warpPerspective(sheet, hom, (w, h), flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    cover = cv2.warpPerspective(np.full((sh, sw), 255, np.uint8), hom, (w, h))
    truth = cv2.warpPerspective(mask, hom, (w, h), flags=cv2.INTER_NEAREST) > 127
    a = cover.astype(np.float32)[..., None] / 255
    out = (photo * (1 - a) + board * a).astype(np.uint8)
    return out, truth, hom


def plain_wall(photo: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The photo's colours smoothed into a plain wall, lit by a gentle gradient, with sensor noise."""
    base = cv2.GaussianBlur(photo, (0, 0), 40).astype(np.float32)
    light = np.linspace(0.85, 1.1, photo.shape[1], dtype=np.float32)[None, :, None]
    return np.clip(base * light + rng.normal(0, 3, photo.shape), 0, 255).astype(np.uint8)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", required=True,
                   help="run folder, checkpoint or .onnx of a grid pattern, or a board spec (the shipped detector)")
    p.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS, help="photos without a board")
    p.add_argument("--per-size", type=int, default=16, help="scenes per board size")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--width", type=int, default=None,
                   help="scale the photos to this width first (e.g. 3840 for 4K; default: as they are)")
    p.add_argument("--plain", action="store_true",
                   help="smooth the photos into plain walls first (their colours, a gradient, sensor noise): "
                        "nothing else in view, where a look too coarse for the board sees almost nothing")
    args = p.parse_args(argv)

    photos = [read_image(f) for f in list_images(args.photos)]
    if args.width:
        photos = [cv2.resize(ph, (args.width, round(ph.shape[0] * args.width / ph.shape[1])),
                             interpolation=cv2.INTER_CUBIC) for ph in photos]
    if args.plain:
        photos = [plain_wall(ph, np.random.default_rng(args.seed + k)) for k, ph in enumerate(photos)]
    looks = {"multi-scale": Predictor.open(args.run), "one scale": Predictor.open(args.run, multiscale=False)}
    pattern = looks["multi-scale"].pattern
    if pattern is None or pattern.grid is None or pattern.grid.kind == "circles":
        p.error(f"--run {args.run}: its pattern has no squares to count")
    cols, rows = pattern.grid.board
    inner = (cols - 1) * (rows - 1)
    rng = np.random.default_rng(args.seed)
    print(f"{args.per_size} scenes per size in {len(photos)} photos of {photos[0].shape[1]}x{photos[0].shape[0]} "
          f"({args.photos}); pattern {pattern.spec}; 'with ids': found and at least half of its {inner} "
          "points identified\n")
    print("| px per square | board width / photo width | " + " | ".join(f"found, {k}" for k in looks)
          + " | with ids, multi-scale | findChessboardCornersSB |")
    print("|---|---|" + "---|" * (len(looks) + 2))
    for square_px in SQUARE_PX:
        found = dict.fromkeys(looks, 0)
        with_ids = sb = 0
        widths = []
        for k in range(args.per_size):
            photo = photos[k % len(photos)]
            scene, truth, _ = render(photo, pattern, square_px, rng)
            xs = np.nonzero(truth.any(axis=0))[0]
            widths.append((xs.max() - xs.min() + 1) / scene.shape[1] if len(xs) else 0.0)
            for name, predictor in looks.items():
                prediction = predictor.predict(scene)
                hit = bool(prediction.detected and iou(prediction.masks["mask"] > 0.5, truth) > 0.5)
                found[name] += hit
                if name == "multi-scale":
                    with_ids += hit and prediction.points is not None and len(prediction.points.xy) >= inner / 2
            if pattern.spec.startswith("chessboard"):
                gray = cv2.cvtColor(scene, cv2.COLOR_RGB2GRAY)
                sb += cv2.findChessboardCornersSB(gray, (cols - 1, rows - 1))[0]
        cells = " | ".join(f"{found[k] / args.per_size:.0%}" for k in looks)
        print(f"| {square_px} | {np.mean(widths):.2f} | {cells} | {with_ids / args.per_size:.0%} "
              f"| {sb / args.per_size:.0%} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
