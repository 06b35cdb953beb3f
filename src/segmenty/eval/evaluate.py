"""``segmenty evaluate``: how a model trained on synthetic scenes does on real photos.

Truth is ``<stem>_mask.png`` beside each photo's name (from `segmenty label`, or drawn by
hand); what is scored, and the rules, are stated once in segmenty/scores.py, which also owns
eval.json's schema.
"""
from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np

from ..errors import SegmentyError
from ..io import atomic_write_text, check_out_dir, list_images, read_image, read_mask, write_image
from ..scores import EVAL_FILE, HALF_SIDES, MASK_THRESHOLD, EvalResult, Score, iou
from ..viz import caption, draw_overlay, fit_width, grid, truth_tile
from .label import is_mask_file, mask_path

MIN_HALF_PX = 16            # a half thinner than this (board at the photo's edge) is not scored
GALLERY_TILE = 256


def half_views(truth: np.ndarray) -> dict[str, tuple[slice, slice]]:
    """Crops (rows, cols) of the photo cut through the centroid of `truth`: left, right, top,
    bottom. Halves thinner than MIN_HALF_PX are left out."""
    ys, xs = np.nonzero(truth)
    h, w = truth.shape
    cy, cx = int(round(ys.mean())), int(round(xs.mean()))
    views = dict(zip(HALF_SIDES, ((slice(0, h), slice(0, cx)), (slice(0, h), slice(cx, w)),
                                  (slice(0, cy), slice(0, w)), (slice(cy, h), slice(0, w)))))
    return {k: v for k, v in views.items()
            if min(v[0].stop - v[0].start, v[1].stop - v[1].start) >= MIN_HALF_PX}


def photos_in(folder: str | os.PathLike, option: str) -> list[Path]:
    """The photos in a folder given by `option` (truth masks left out), or a one-line error."""
    folder = Path(folder)
    if not folder.exists():
        raise SegmentyError(f"{option} {folder}: no such folder")
    if not folder.is_dir():
        raise SegmentyError(f"{option} {folder}: is a file, expected a folder of photos")
    photos = [p for p in list_images(folder) if not is_mask_file(p)]
    if not photos:
        raise SegmentyError(f"{option} {folder}: no images in it (expected .jpg, .png, ... photos)")
    return photos


def _predictor(predictor_or_path, size: int | None, threshold: float, refine: bool, multiscale: bool):
    """A Predictor-like object (has .predict) as is; a run folder, .pt or .onnx file, or a
    built-in board's spec (its shipped detector) opened as `segmenty predict` opens it."""
    if hasattr(predictor_or_path, "predict"):
        return predictor_or_path, getattr(predictor_or_path, "name", type(predictor_or_path).__name__)
    from ..predict import Predictor  # lazily: the model stack is only needed here
    return (Predictor.open(predictor_or_path, size=size, threshold=threshold, refine=refine, multiscale=multiscale),
            str(predictor_or_path))


def score_view(predictor, rgb: np.ndarray, truth: np.ndarray | None, name: str, view: str,
               threshold: float) -> tuple[Score, object]:
    """Predict one view and score it (truth None: a negative); the Score and the Prediction."""
    prediction = predictor.predict(np.ascontiguousarray(rgb))
    prob = prediction.masks["mask"]
    if prob.shape != rgb.shape[:2]:
        raise ValueError(f"prediction mask {prob.shape} does not match the photo {rgb.shape[:2]}")
    pred = prob > threshold
    score = Score(name, view, None if truth is None else iou(pred, truth), float(pred.mean()),
                  bool(prediction.detected), float(prediction.score), float(prediction.ms))
    return score, prediction


def evaluate(predictor_or_path, images_dir: str | os.PathLike, masks_dir: str | os.PathLike,
             negatives_dir: str | os.PathLike | None = None, out_dir: str | os.PathLike | None = None,
             size: int | None = None, threshold: float = MASK_THRESHOLD, refine: bool = True,
             multiscale: bool = True) -> EvalResult:
    """Score a model on labelled real photos (and optional negatives).

    `predictor_or_path`: a run folder, checkpoint or .onnx file, or a built-in board's spec
    (``chessboard:10x7``, its shipped detector), opened by `Predictor.open` at `size` (default
    the training size), with the zoomed-in second look unless `refine` is False; or any object
    with ``predict(rgb) -> Prediction``. With `out_dir`
    (default RUN/eval when given a run folder) writes eval.json and gallery.jpg there.

    A photo or truth mask that cannot be read (or a mask of another size than its photo) is
    skipped with a warning naming it and listed in `skipped`; SegmentyError when no labelled
    photo at all could be scored.
    """
    photos = photos_in(images_dir, "--images")
    masks_dir = Path(masks_dir)
    if not masks_dir.is_dir():
        raise SegmentyError(f"--masks {masks_dir}: no such folder (make one with 'segmenty label')")
    negatives = photos_in(negatives_dir, "--negatives") if negatives_dir is not None else []
    labelled = [(p, mask_path(masks_dir, p)) for p in photos if mask_path(masks_dir, p).is_file()]
    if not labelled:
        raise SegmentyError(f"--masks {masks_dir}: holds no <stem>_mask.png for any of the {len(photos)} "
                            f"photos in --images {images_dir} (make them with 'segmenty label')")
    if out_dir is None and not hasattr(predictor_or_path, "predict") and Path(predictor_or_path).is_dir():
        out_dir = Path(predictor_or_path) / "eval"
    # The model first: a model that cannot be opened leaves no empty --out folder behind.
    predictor, model_name = _predictor(predictor_or_path, size, threshold, refine, multiscale)
    if out_dir is not None:
        out_dir = check_out_dir(out_dir)  # a bad --out fails now, not after all the predictions
    result = EvalResult(model_name, threshold, size, getattr(predictor, "refine", None),
                        multiscale=getattr(predictor, "multiscale", None))
    result.unlabelled = [p.name for p in photos if not mask_path(masks_dir, p).is_file()]
    gallery_rows = []

    def skip(photo: Path, why: str) -> None:
        warnings.warn(f"skipping {why}")
        result.skipped[photo.name] = why

    for photo, truth_path in labelled:
        try:
            rgb = read_image(photo)
            truth = read_mask(truth_path)
        except SegmentyError as exc:
            skip(photo, str(exc))
            continue
        if truth.shape != rgb.shape[:2]:
            skip(photo, f"{truth_path}: mask is {truth.shape[1]}x{truth.shape[0]} but its photo "
                        f"{photo} is {rgb.shape[1]}x{rgb.shape[0]}")
            continue
        score, prediction = score_view(predictor, rgb, truth, photo.name, "whole", threshold)
        result.whole.append(score)
        gallery_rows.append((rgb, truth, prediction, score))
        if not truth.any():
            continue  # a blank truth has no centre to cut through
        for side, (rows, cols) in half_views(truth).items():
            half, _ = score_view(predictor, rgb[rows, cols], truth[rows, cols], photo.name, side, threshold)
            result.halves.append(half)
    if not result.whole:
        raise SegmentyError(f"--images {images_dir}: none of the {len(labelled)} labelled photos could be "
                            f"scored (first: {next(iter(result.skipped.values()))})")
    for photo in negatives:
        try:
            rgb = read_image(photo)
        except SegmentyError as exc:
            skip(photo, str(exc))
            continue
        score, prediction = score_view(predictor, rgb, None, photo.name, "negative", threshold)
        result.negatives.append(score)
        gallery_rows.append((rgb, None, prediction, score))

    if out_dir is not None:
        atomic_write_text(out_dir / EVAL_FILE, json.dumps(result.to_dict(), indent=2) + "\n")
        write_image(out_dir / "gallery.jpg", gallery(gallery_rows), quality=85)
    return result


def gallery(rows: list[tuple[np.ndarray, np.ndarray | None, object, Score]],
            tile_width: int = GALLERY_TILE) -> np.ndarray:
    """One row per photo: the photo, its truth, the prediction overlaid (captioned with IoU,
    or area and verdict for a negative)."""
    tiles = []
    for rgb, truth, prediction, score in rows:
        if score.iou is not None:
            verdict = f"IoU {score.iou:.3f}"
        else:
            verdict = f"area {score.area:.1%}{' detected' if score.detected else ''}" + \
                      (" FALSE DETECTION" if score.false_detection else " ok")
        tiles += [caption(fit_width(rgb, tile_width), score.name),
                  caption(fit_width(truth_tile(rgb, truth), tile_width), "truth" if truth is not None else "no board"),
                  caption(fit_width(draw_overlay(rgb, prediction, ["mask"]), tile_width), verdict)]
    return grid(tiles, 3)
