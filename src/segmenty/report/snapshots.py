"""Wild-photo snapshots during training: what the network sees in real photos, step by step.

`WildSnapshots(folder)` is a training callback (segmenty.train.train(config, callbacks=[...])):
it reads the photos once, when made (a folder without a usable photo fails before training
starts), and at every validation, step 0 included, writes
``RUN/snapshots/<step:07d>/<photo>.jpg`` (the photo with its predicted masks overlaid, small)
and, last, ``meta.json``; `segmenty animate` and the report read them back.
"""
from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

import cv2
import numpy as np

from ..errors import SegmentyError
from ..io import atomic_write_text, list_images, read_images_skipping, write_image
from ..viz import draw_overlay, fit_width
from .animate import SNAPSHOT_META

SNAPSHOT_WIDTH = 320  # px: enough to judge the masks, small enough for hundreds of snapshots
# Snapshots run the model at its training size; keeping 12-megapixel originals in memory for
# the whole run would only cost RAM.
WILD_MAX_SIDE = 1024


def snapshot_dir(snapshots_root: str | os.PathLike, step: int) -> Path:
    """The folder of one step's snapshot: zero-padded so names sort in step order."""
    return Path(snapshots_root) / f"{int(step):07d}"


def safe_name(name: str) -> str:
    """A photo name usable as a file name (the stem of a wild photo, kept readable)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")
    return cleaned or "photo"


def read_wild(folder: str | os.PathLike) -> dict[str, np.ndarray]:
    """Real photos for snapshots, read once (at most WILD_MAX_SIDE px); unreadable files are
    skipped with a warning. SegmentyError when the folder holds no readable photo (a --wild
    that shows nothing is a mistake better caught before training than after)."""
    if not Path(folder).is_dir():
        raise SegmentyError(f"--wild {folder}: no such folder")
    photos = {}
    paths = list_images(folder)
    for path, rgb in read_images_skipping(paths, "--wild photo"):
        scale = WILD_MAX_SIDE / max(rgb.shape[:2])
        if scale < 1:
            rgb = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        photos[path.stem] = rgb
    if not photos:
        found = f"{len(paths)} unreadable image files" if paths else "no image files"
        raise SegmentyError(f"--wild {folder}: {found}; expected photos (.jpg, .png, ...)")
    return photos


class WildSnapshots:
    """A training callback that snapshots the network's view of real photos at every validation."""

    def __init__(self, folder: str | os.PathLike):
        self.photos = read_wild(folder)

    def __call__(self, validation) -> None:
        save_snapshots(validation.model, self.photos, Path(validation.run) / "snapshots", validation.step,
                       validation.elapsed_s)


def save_snapshots(loaded_model, wild_images: Mapping[str, np.ndarray] | Iterable[tuple[str, np.ndarray]],
                   out_dir: str | os.PathLike, step: int, elapsed_s: float) -> Path:
    """Predict every wild photo with `loaded_model` (a runs.LoadedModel, possibly the live
    training model) at its training size and write the overlays and meta.json into
    ``out_dir/<step:07d>/``.

    `out_dir` is the run's ``snapshots`` folder; `wild_images` maps names to RGB uint8 photos
    (a dict or (name, rgb) pairs). The Predictor runs the model where it is and puts it back
    in the mode it was in. Returns the step's folder.
    """
    from ..predict import Predictor  # lazily: `animate` / `report` need no torch

    predictor = Predictor(loaded_model, size=loaded_model.size)
    folder = snapshot_dir(out_dir, step)
    folder.mkdir(parents=True, exist_ok=True)
    records = []
    for name, rgb in dict(wild_images).items():
        prediction = predictor.predict(rgb)
        overlay = draw_overlay(rgb, prediction, loaded_model.mask_names)
        file_name = safe_name(name)
        write_image(folder / f"{file_name}.jpg", fit_width(overlay, min(SNAPSHOT_WIDTH, rgb.shape[1])),
                    quality=85)
        area = float((prediction.masks["mask"] > predictor.threshold).mean())
        records.append({"name": file_name, "detected": bool(prediction.detected),
                        "score": round(float(prediction.score), 4), "area": round(area, 5)})
    meta = {"step": int(step), "elapsed_s": round(float(elapsed_s), 2), "size": int(loaded_model.size),
            "images": [r["name"] for r in records], "predictions": records}
    # Written last: a folder with meta.json is a complete snapshot (animate skips the others).
    atomic_write_text(folder / SNAPSHOT_META, json.dumps(meta, indent=2) + "\n")
    return folder
