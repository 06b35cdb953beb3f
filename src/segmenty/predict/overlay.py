"""A picture of a prediction: the photo with its masks tinted, the outline and the grid points
drawn."""
from __future__ import annotations

import cv2
import numpy as np

from .predictor import Prediction

# RGB, one per mask in channel order: `mask` green, then well-separated hues.
MASK_COLOURS = [(0, 200, 0), (230, 0, 200), (255, 140, 0), (0, 170, 255), (255, 235, 0), (160, 90, 255)]
OUTLINE_COLOUR = (255, 40, 40)
# RGB, one per grid row of points (cycled).
POINT_COLOURS = [(255, 60, 60), (255, 160, 0), (230, 230, 0), (60, 220, 60), (0, 200, 255), (90, 90, 255),
                 (220, 80, 255)]
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
    points = getattr(prediction, "points", None)  # any Prediction-like object will do
    if points is not None:
        draw_points(out, points, thick)
    label = f"{'board' if prediction.detected else 'no board'} {prediction.score:.2f}"
    scale = max(0.4, min(h, w) / 600)
    (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    pad = max(2, thick * 2)
    cv2.rectangle(out, (0, 0), (tw + 2 * pad, th + base + 2 * pad), (0, 0, 0), -1)
    colour = (80, 255, 80) if prediction.detected else (255, 255, 255)
    cv2.putText(out, label, (pad, th + pad), cv2.FONT_HERSHEY_SIMPLEX, scale, colour, thick, cv2.LINE_AA)
    return out


def draw_points(out: np.ndarray, points, thick: int = 1) -> None:
    """A board's points, in place on RGB uint8 `out`: each grid row a polyline in its own
    colour (as OpenCV's drawChessboardCorners, so a wrong identity shows as a broken row), a
    dot per point, a ring around id (0, 0); a partial view with relative ids in gray."""
    by_row: dict[int, list[tuple[int, np.ndarray]]] = {}
    for (col, row), p in zip(points.ids.tolist(), points.xy):
        by_row.setdefault(row, []).append((col, p))
    for row, members in by_row.items():
        colour = POINT_COLOURS[row % len(POINT_COLOURS)] if points.absolute else (200, 200, 200)
        members.sort(key=lambda m: m[0])
        pts = np.round(np.array([p for _, p in members]) * 16).astype(np.int32)
        cv2.polylines(out, [pts.reshape(-1, 1, 2)], False, colour, max(1, thick // 2), cv2.LINE_AA, shift=4)
        for q in pts:
            cv2.circle(out, (int(q[0]), int(q[1])), 2 * thick * 16, colour, -1, cv2.LINE_AA, shift=4)
    first = (points.ids == 0).all(axis=1)
    if first.any():
        q = np.round(points.xy[first][0] * 16).astype(int)
        cv2.circle(out, (int(q[0]), int(q[1])), 5 * thick * 16, OUTLINE_COLOUR, thick, cv2.LINE_AA, shift=4)
