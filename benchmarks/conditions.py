"""How cameras fail: both real sets' photos degraded, segmenty against findChessboardCornersSB.

    python benchmarks/conditions.py                          # the shipped detector (chessboard:10x7)
    python benchmarks/conditions.py --model RUN [--seed 0]

Every photo of ../shared/real (udacity: 20 wide-angle photos + 8 road negatives; opencv: 26
webcam photos + 30 negatives) is degraded each way below, with a severity drawn per photo from
a generator seeded by (seed, condition, photo), so a run is repeatable. One row per condition
and set: boards found by segmenty (detected with its grid of points) and by OpenCV's
`findChessboardCornersSB` (EXHAUSTIVE | ACCURACY, 9x6 inner corners) among the photos with a
board; segmenty's mean mask IoU (truth: opencv's masks/, udacity's labels from OpenCV on the
clean photo; warped with the photo for geometric conditions); the median corner error of each
detector against SB's corners on the clean photo (moved with the photo likewise; each found
corner to its nearest true corner); false detections on the degraded negatives.

The degradations are fixed-severity evaluation conditions written with OpenCV here, not the
training recipe's steps (those draw over wide ranges inside square scenes): a benchmark must
not measure the training distribution against itself.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from segmenty.eval.label import label_images, mask_path
from segmenty.io import list_images, read_image
from segmenty.predict import Predictor
from segmenty.scores import iou

REPO = Path(__file__).resolve().parent.parent
DEFAULT_REAL = REPO.parent / "shared" / "real"
INNER = (9, 6)
SB_FLAGS = cv2.CALIB_CB_EXHAUSTIVE | cv2.CALIB_CB_ACCURACY

# A condition: (rgb, rng, board box or None) -> (degraded rgb, 2x3 affine that moved the photo or None)
Degrade = Callable[[np.ndarray, np.random.Generator, tuple | None], tuple[np.ndarray, np.ndarray | None]]


def _clean(rgb, rng, box):
    return rgb, None


def _dark(rgb, rng, box):
    """Five to four stops under, photon (shot) and read noise, no gain: a dark photo."""
    exposure = rng.uniform(0.04, 0.1)
    dark = rgb.astype(np.float32) * exposure
    sigma = np.sqrt(0.8 ** 2 * dark + 1.5 ** 2)
    return np.clip(dark + rng.standard_normal(dark.shape).astype(np.float32) * sigma + 0.5, 0, 255).astype(np.uint8), None


def _dark_gain(rgb, rng, box):
    """A dark exposure brightened by the camera's gain: the noise amplified with it."""
    exposure = rng.uniform(0.04, 0.1)
    dark = rgb.astype(np.float32) * exposure
    sigma = np.sqrt(0.8 ** 2 * dark + 1.5 ** 2)
    noisy = (dark + rng.standard_normal(dark.shape).astype(np.float32) * sigma) * (0.6 / exposure)
    return np.clip(noisy + 0.5, 0, 255).astype(np.uint8), None


def _ellipse_map(shape, centre, axes, angle):
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    c, s = np.cos(angle), np.sin(angle)
    u = (c * (xx - centre[0]) + s * (yy - centre[1])) / axes[0]
    v = (-s * (xx - centre[0]) + c * (yy - centre[1])) / axes[1]
    return np.exp(-2.0 * (u * u + v * v))


def _centre_in(box, shape, rng):
    h, w = shape
    if box is None:
        return rng.uniform(0.2, 0.8) * w, rng.uniform(0.2, 0.8) * h
    x0, y0, x1, y1 = box
    return rng.uniform(x0, x1), rng.uniform(y0, y1)


def _glare(rgb, rng, box):
    """A hot spot that saturates part of the board to white."""
    h, w = rgb.shape[:2]
    side = max(h, w)
    alpha = np.minimum(1.0, 1.4 * _ellipse_map((h, w), _centre_in(box, (h, w), rng),
                                               rng.uniform(0.1, 0.25, 2) * side, rng.uniform(0, np.pi)))
    out = rgb.astype(np.float32) * (1 - alpha[..., None]) + 255.0 * alpha[..., None]
    return out.astype(np.uint8), None


def _shadow(rgb, rng, box):
    """A hard-edged cast shadow (a polygon) over part of the board, 60-80% darker."""
    h, w = rgb.shape[:2]
    cx, cy = _centre_in(box, (h, w), rng)
    n = int(rng.integers(3, 7))
    angles = np.sort(rng.uniform(0, 2 * np.pi, n))
    radii = rng.uniform(0.15, 0.5, n) * max(h, w)
    poly = np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], 1).astype(np.int32)
    shade = np.zeros((h, w), np.float32)
    cv2.fillPoly(shade, [poly], 1.0, cv2.LINE_AA)
    shade = cv2.GaussianBlur(shade, (0, 0), 1.0)
    gain = 1 - rng.uniform(0.6, 0.8) * shade
    return (rgb.astype(np.float32) * gain[..., None]).astype(np.uint8), None


def _motion(rgb, rng, box):
    """Camera shake: a line kernel 2-4% of the photo's width long, any direction."""
    n = int(rng.uniform(0.02, 0.04) * rgb.shape[1]) | 1
    kernel = np.zeros((n, n), np.float32)
    kernel[n // 2] = 1.0 / n
    rot = cv2.getRotationMatrix2D((n / 2 - 0.5, n / 2 - 0.5), float(rng.uniform(0, 180)), 1.0)
    kernel = cv2.warpAffine(kernel, rot, (n, n))
    return cv2.filter2D(rgb, -1, kernel / kernel.sum()), None


def _defocus(rgb, rng, box):
    return cv2.GaussianBlur(rgb, (0, 0), rng.uniform(0.004, 0.008) * rgb.shape[1]), None


def _noise(rgb, rng, box):
    noisy = rgb.astype(np.float32) + rng.standard_normal(rgb.shape).astype(np.float32) * rng.uniform(15, 25)
    return np.clip(noisy, 0, 255).astype(np.uint8), None


def _jpeg(rgb, rng, box):
    ok, data = cv2.imencode(".jpg", rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(5, 13))])
    return np.ascontiguousarray(cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1]), None


def _low_resolution(rgb, rng, box):
    h, w = rgb.shape[:2]
    k = rng.uniform(0.2, 0.3)
    small = cv2.resize(rgb, (max(1, round(w * k)), max(1, round(h * k))), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR), None


def _rolling_shutter(rgb, rng, box):
    """A sideways pan read out row by row: x shifts by skew * (y - h/2)."""
    h, w = rgb.shape[:2]
    skew = rng.choice([-1, 1]) * rng.uniform(0.05, 0.1)
    affine = np.float32([[1, -skew, skew * h / 2], [0, 1, 0]])  # photo point -> degraded point
    return cv2.warpAffine(rgb, affine, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT), affine


CONDITIONS: dict[str, Degrade] = {
    "clean": _clean, "dark": _dark, "dark+gain": _dark_gain, "glare": _glare, "shadow": _shadow,
    "motion blur": _motion, "defocus": _defocus, "noise": _noise, "jpeg q5-12": _jpeg,
    "low resolution": _low_resolution, "rolling shutter": _rolling_shutter,
}


@dataclass
class Photo:
    name: str
    rgb: np.ndarray
    truth_mask: np.ndarray | None
    truth_corners: np.ndarray | None  # SB's corners on the clean photo (N x 2)

    @property
    def box(self) -> tuple | None:
        if self.truth_corners is None:
            return None
        (x0, y0), (x1, y1) = self.truth_corners.min(0), self.truth_corners.max(0)
        return x0, y0, x1, y1


@dataclass
class Tally:
    boards: int = 0
    seg_found: int = 0
    sb_found: int = 0
    ious: list = field(default_factory=list)
    seg_err: list = field(default_factory=list)
    sb_err: list = field(default_factory=list)
    negatives: int = 0
    seg_false: int = 0
    sb_false: int = 0


def sb_corners(gray: np.ndarray) -> np.ndarray | None:
    found, corners = cv2.findChessboardCornersSB(gray, INNER, flags=SB_FLAGS)
    return corners.reshape(-1, 2) if found else None


def nearest_errors(found: np.ndarray, truth: np.ndarray) -> np.ndarray:
    d = np.linalg.norm(found[:, None, :] - truth[None, :, :], axis=2)
    return d.min(axis=1)


def load_set(name: str, photos: Path, masks: Path | None, negatives: Path, labels: Path) -> tuple[list[Photo], list[Photo]]:
    files = list_images(photos)
    if masks is None:  # udacity: truth from OpenCV on the clean photos
        label_images(files, "chessboard:10x7", labels)
        masks = labels
    items = []
    for f in files:
        rgb = read_image(f)
        m = mask_path(masks, f)
        truth = read_image(m)[..., 0] > 127 if m.is_file() else None
        items.append(Photo(f.name, rgb, truth, sb_corners(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))))
    negs = [Photo(f.name, read_image(f), None, None) for f in list_images(negatives)]
    return items, negs


def score(predictor: Predictor, condition: str, degrade: Degrade, photos: list[Photo], negatives: list[Photo],
          seed: int) -> Tally:
    t = Tally()
    for kind, group in (("board", photos), ("negative", negatives)):
        for photo in group:
            rng = np.random.default_rng([seed, zlib.crc32(condition.encode()), zlib.crc32(photo.name.encode())])
            rgb, affine = degrade(photo.rgb, rng, photo.box)
            gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
            pred = predictor.predict(rgb)
            sb = sb_corners(gray)
            if kind == "negative":
                t.negatives += 1
                t.seg_false += bool(pred.detected)
                t.sb_false += sb is not None
                continue
            t.boards += 1
            t.seg_found += bool(pred.detected and pred.points is not None)
            t.sb_found += sb is not None
            truth_mask, truth_corners = photo.truth_mask, photo.truth_corners
            if affine is not None:
                h, w = rgb.shape[:2]
                if truth_mask is not None:
                    truth_mask = cv2.warpAffine(truth_mask.astype(np.uint8), affine, (w, h),
                                                flags=cv2.INTER_NEAREST) > 0
                if truth_corners is not None:
                    truth_corners = cv2.transform(truth_corners[None].astype(np.float32), affine)[0]
            if truth_mask is not None:
                t.ious.append(iou(pred.masks["mask"] > 0.5, truth_mask))
            if truth_corners is not None:
                if pred.points is not None:
                    t.seg_err.extend(nearest_errors(pred.points.xy, truth_corners))
                if sb is not None:
                    t.sb_err.extend(nearest_errors(sb, truth_corners))
    return t


def _median(values) -> str:
    return f"{np.median(values):.2f}" if len(values) else "-"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="chessboard:10x7",
                   help="run folder, checkpoint, .onnx, or a board spec for the shipped detector")
    p.add_argument("--real", type=Path, default=DEFAULT_REAL)
    p.add_argument("--sets", default="udacity,opencv")
    p.add_argument("--conditions", default=",".join(CONDITIONS), help="comma-separated subset")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--negatives-only", action="store_true",
                   help="score only the degraded negatives (false detections; a quicker check)")
    args = p.parse_args(argv)
    predictor = Predictor.open(args.model, "chessboard:10x7")
    sets = {"udacity": (args.real / "chessboard-10x7", None, args.real / "negatives"),
            "opencv": (args.real / "opencv-samples" / "chessboard-10x7", args.real / "opencv-samples" / "masks",
                       args.real / "opencv-samples" / "negatives")}
    wanted = [c for c in args.conditions.split(",") if c]
    unknown = [c for c in wanted if c not in CONDITIONS]
    if unknown:
        p.error(f"unknown condition {unknown[0]!r} (known: {', '.join(CONDITIONS)})")
    rows = []
    with tempfile.TemporaryDirectory(prefix="segmenty-conditions-") as tmp:
        for name in args.sets.split(","):
            start = time.perf_counter()
            photos, negatives = load_set(name, *sets[name], Path(tmp) / name)
            photos = [] if args.negatives_only else photos
            print(f"{name}: {len(photos)} photos ({sum(p.truth_corners is not None for p in photos)} with SB "
                  f"corners), {len(negatives)} negatives, loaded in {time.perf_counter() - start:.0f} s", flush=True)
            for condition in wanted:
                t = score(predictor, condition, CONDITIONS[condition], photos, negatives, args.seed)
                rows.append((condition, name, t))
                print(f"  {condition}: segmenty {t.seg_found}/{t.boards}, SB {t.sb_found}/{t.boards}", flush=True)
    print(f"\nmodel: {args.model}, seed {args.seed}\n")
    print("| condition | set | found: segmenty | found: SB | mask IoU | corner err px: segmenty | SB "
          "| false: segmenty | SB |")
    print("|---|---|---|---|---|---|---|---|---|")
    total = {"seg": 0, "sb": 0, "boards": 0}
    for condition, name, t in rows:
        print(f"| {condition} | {name} | {t.seg_found}/{t.boards} | {t.sb_found}/{t.boards} "
              f"| {np.mean(t.ious) if t.ious else float('nan'):.3f} | {_median(t.seg_err)} | {_median(t.sb_err)} "
              f"| {t.seg_false}/{t.negatives} | {t.sb_false}/{t.negatives} |")
        total["seg"] += t.seg_found
        total["sb"] += t.sb_found
        total["boards"] += t.boards
    print(f"\noverall: segmenty {total['seg']}/{total['boards']} ({total['seg'] / max(1, total['boards']):.0%}), "
          f"SB {total['sb']}/{total['boards']} ({total['sb'] / max(1, total['boards']):.0%})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
