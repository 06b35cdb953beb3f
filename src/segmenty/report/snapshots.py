"""Wild-photo snapshots during training: what the network sees in real photos, step by step.

Training calls `save_snapshots` at every validation with its current (EMA) model. Each call
writes ``RUN/snapshots/<step:07d>/<photo>.jpg`` (the photo with its predicted masks overlaid,
small) and, last, ``meta.json``; `segmenty animate` and the report read them back.
"""
from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from ..io import atomic_write_text, write_image
from .animate import SNAPSHOT_META, fit_width

SNAPSHOT_WIDTH = 320  # px: enough to judge the masks, small enough for hundreds of snapshots


def snapshot_dir(snapshots_root: str | os.PathLike, step: int) -> Path:
    """The folder of one step's snapshot: zero-padded so names sort in step order."""
    return Path(snapshots_root) / f"{int(step):07d}"


def safe_name(name: str) -> str:
    """A photo name usable as a file name (the stem of a wild photo, kept readable)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")
    return cleaned or "photo"


def save_snapshots(loaded_model, wild_images: Mapping[str, np.ndarray] | Iterable[tuple[str, np.ndarray]],
                   out_dir: str | os.PathLike, step: int, elapsed_s: float) -> Path:
    """Predict every wild photo with `loaded_model` (a train.checkpoint.LoadedModel, possibly
    the live training model) at its training size and write the overlays and meta.json into
    ``out_dir/<step:07d>/``.

    `out_dir` is the run's ``snapshots`` folder; `wild_images` maps names to RGB uint8 photos
    (a dict or (name, rgb) pairs). The Predictor runs the model where it is and puts it back
    in the mode it was in. Returns the step's folder.
    """
    from ..predict import Predictor, draw_overlay  # lazily: `animate` / `report` need no torch

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
