"""Robustness on real photos seen through other cameras: does a run hold up when the same
photos are rotated, shrunk, enlarged, grey, dark, noisy or badly compressed, and does it stay
quiet on tiles of the road photos (new framings, new scales)?

    python benchmarks/robustness.py --run RUN [--real ../shared/real] [--min-features N]

Labels ../shared/real/chessboard-10x7 with OpenCV once (as benchmarks/real.py does), then for
each variant transforms every labelled photo, its truth mask (rotation and resizing only) and
every negative, and scores them with `segmenty evaluate` (whole photos, half views, false
detections). The last row cuts each negative into 2x2 and 3x3 tiles (104 views of 8 photos)
and counts the tiles taken for a board. Nothing here trains: it is a check that the detector
generalizes, never a set to tune on. `--min-features` overrides DetectionRule.min_features
(0 turns the point-feature check off) to see what it buys.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

from segmenty.eval.evaluate import evaluate, score_view
from segmenty.eval.label import label_images
from segmenty.io import list_images, read_image
from segmenty.predict import DetectionRule, Predictor

REPO = Path(__file__).resolve().parent.parent
DEFAULT_REAL = REPO.parent / "shared" / "real"
DETECTOR = "chessboard:10x7"


def _resize(k: float):
    def f(a: np.ndarray, is_mask: bool) -> np.ndarray:
        size = (max(1, round(a.shape[1] * k)), max(1, round(a.shape[0] * k)))
        method = cv2.INTER_NEAREST if is_mask else (cv2.INTER_AREA if k < 1 else cv2.INTER_CUBIC)
        return cv2.resize(a, size, interpolation=method)
    return f


def _photo_only(fn):
    return lambda a, is_mask: a if is_mask else fn(a)


def _jpeg(a: np.ndarray, quality: int = 15) -> np.ndarray:
    return cv2.imdecode(cv2.imencode(".jpg", a, [cv2.IMWRITE_JPEG_QUALITY, quality])[1], cv2.IMREAD_UNCHANGED)


# name -> f(array, is_mask); photos are RGB uint8, masks uint8 (0/255).
VARIANTS = {
    "as shot": lambda a, is_mask: a,
    "rotated 90°": lambda a, is_mask: cv2.rotate(a, cv2.ROTATE_90_CLOCKWISE),
    "1/4 size": _resize(0.25),
    "2x size": _resize(2.0),
    "greyscale": _photo_only(lambda a: np.repeat(cv2.cvtColor(a, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)),
    "dark (x0.35)": _photo_only(lambda a: (a.astype(np.float32) * 0.35).astype(np.uint8)),
    "noise (sigma 20)": _photo_only(lambda a: np.clip(
        a + np.random.default_rng(0).normal(0, 20, a.shape), 0, 255).astype(np.uint8)),
    "JPEG quality 15": _photo_only(_jpeg),
}


def write_variant(fn, photos: list[Path], masks_dir: Path, negatives: list[Path], out: Path) -> None:
    for sub in ("photos", "masks", "negatives"):
        (out / sub).mkdir(parents=True)
    for photo in photos:
        mask = masks_dir / f"{photo.stem}_mask.png"
        if not mask.is_file():
            continue
        cv2.imwrite(str(out / "photos" / f"{photo.stem}.png"), cv2.cvtColor(fn(read_image(photo), False), cv2.COLOR_RGB2BGR))
        cv2.imwrite(str(out / "masks" / mask.name), fn(cv2.imread(str(mask), cv2.IMREAD_GRAYSCALE), True))
    for negative in negatives:
        cv2.imwrite(str(out / "negatives" / f"{negative.stem}.png"),
                    cv2.cvtColor(fn(read_image(negative), False), cv2.COLOR_RGB2BGR))


def negative_tiles(negatives: list[Path]) -> list[np.ndarray]:
    tiles = []
    for path in negatives:
        a = read_image(path)
        h, w = a.shape[:2]
        for n in (2, 3):
            tiles += [np.ascontiguousarray(a[i * h // n:(i + 1) * h // n, j * w // n:(j + 1) * w // n])
                      for i in range(n) for j in range(n)]
    return tiles


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", required=True, help="run folder, checkpoint or .onnx to score")
    p.add_argument("--real", type=Path, default=DEFAULT_REAL, help="folder with chessboard-10x7/ and negatives/")
    p.add_argument("--min-features", type=int, help="DetectionRule.min_features (default: the rule's)")
    args = p.parse_args(argv)

    photos_dir, negatives_dir = args.real / "chessboard-10x7", args.real / "negatives"
    if not photos_dir.is_dir() or not negatives_dir.is_dir():
        p.error(f"--real {args.real}: needs chessboard-10x7/ and negatives/ folders")
    rule = DetectionRule() if args.min_features is None else DetectionRule(min_features=args.min_features)
    predictor = Predictor.open(args.run, rule=rule)
    photos, negatives = list_images(photos_dir), list_images(negatives_dir)
    print(f"run {args.run}, min_features {rule.min_features}")
    print("| variant | IoU whole | IoU halves | detected (whole / halves) | false detections |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="segmenty-robust-") as tmp:
        tmp = Path(tmp)
        label_images(photos, DETECTOR, tmp / "labels")
        for i, (name, fn) in enumerate(VARIANTS.items()):
            out = tmp / f"variant{i}"
            write_variant(fn, photos, tmp / "labels", negatives, out)
            s = evaluate(predictor, out / "photos", out / "masks", out / "negatives").summary
            print(f"| {name} | {s['mean_iou']:.3f} | {s['mean_iou_halves']:.3f} | {s['detection_rate']:.0%} / "
                  f"{s['detection_rate_halves']:.0%} | {s['false_detections']} of {s['negatives']} |", flush=True)
    tiles = negative_tiles(negatives)
    false = sum(score_view(predictor, t, None, "tile", "negative", 0.5)[0].false_detection for t in tiles)
    print(f"| tiles of the negatives (2x2, 3x3) | - | - | - | {false} of {len(tiles)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
