"""A picture of a prediction: the photo with its masks tinted and the outline drawn."""
from __future__ import annotations

import cv2
import numpy as np

from .predictor import Prediction

# RGB, one per mask in channel order: `mask` green, then well-separated hues.
MASK_COLOURS = [(0, 200, 0), (230, 0, 200), (255, 140, 0), (0, 170, 255), (255, 235, 0), (160, 90, 255)]
OUTLINE_COLOUR = (255, 40, 40)
ALPHA = 0.45  # tint strength at probability 1


def draw_overlay(rgb: np.ndarray, prediction: Prediction, mask_names: list[str] | None = None) -> np.ndarray:
    """The photo (RGB uint8) with each mask tinted by its probability, the outline (its first,
    top-left corner marked with a dot) and a label such as "board 0.93" / "no board 0.12"."""
    names = list(mask_names) if mask_names is not None else list(prediction.masks)
    out = rgb.astype(np.float32)
    for i, name in enumerate(names):
        p = prediction.masks.get(name)
        if p is None:
            continue
        a = (ALPHA * p)[..., None]
        out = out * (1 - a) + np.array(MASK_COLOURS[i % len(MASK_COLOURS)], np.float32) * a
    out = np.clip(out + 0.5, 0, 255).astype(np.uint8)
    h, w = out.shape[:2]
    thick = max(1, round(min(h, w) / 250))
    if prediction.outline is not None:
        pts = np.round(prediction.outline * 16).astype(np.int32).reshape(-1, 1, 2)
        cv2.polylines(out, [pts], True, OUTLINE_COLOUR, thick, cv2.LINE_AA, shift=4)
        cv2.circle(out, tuple(int(v) for v in pts[0, 0]), 3 * thick * 16, OUTLINE_COLOUR, -1, cv2.LINE_AA, shift=4)
    label = f"{'board' if prediction.detected else 'no board'} {prediction.score:.2f}"
    scale = max(0.4, min(h, w) / 600)
    (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    pad = max(2, thick * 2)
    cv2.rectangle(out, (0, 0), (tw + 2 * pad, th + base + 2 * pad), (0, 0, 0), -1)
    colour = (80, 255, 80) if prediction.detected else (255, 255, 255)
    cv2.putText(out, label, (pad, th + pad), cv2.FONT_HERSHEY_SIMPLEX, scale, colour, thick, cv2.LINE_AA)
    return out
