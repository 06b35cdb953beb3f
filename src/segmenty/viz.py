"""Drawing, kept apart from data: prediction overlays, captions, tile grids, mask montages.

Every picture segmenty makes (overlays from `predict`, the evaluation gallery, training
snapshots, the animation, the report) is drawn here. This module imports no stage: it takes
plain arrays, and a prediction by its fields (masks, outline, detected, score), so any stage
may draw without depending on the ones above it.
"""
from __future__ import annotations

import functools
import math

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

# RGB, one per mask in channel order: `mask` green, then well-separated hues.
MASK_COLOURS = [(0, 200, 0), (230, 0, 200), (255, 140, 0), (0, 170, 255), (255, 235, 0), (160, 90, 255)]
OUTLINE_COLOUR = (255, 40, 40)
# RGB, one per grid row of points (cycled).
POINT_COLOURS = [(255, 60, 60), (255, 160, 0), (230, 230, 0), (60, 220, 60), (0, 200, 255), (90, 90, 255),
                 (220, 80, 255)]
ALPHA = 0.45  # tint strength at probability 1
# Calibration pictures (calib/plots.py): a colour a view, the image's outer band, and the
# bars of the two error measures.
VIEW_COLOURS = [(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180),
                (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212), (0, 128, 128), (170, 110, 40)]
BAND_COLOUR = (255, 80, 80)
BAR_COLOURS = {"rms": (0, 130, 200), "held_out_rms": (245, 130, 48)}
# Mask montages of synthetic samples: `mask` grey, the others in colours drawn on top.
MONTAGE_COLOURS = np.array([(110, 110, 110), (230, 60, 60), (60, 200, 80), (70, 120, 255), (240, 200, 40),
                            (200, 80, 220), (40, 210, 210)], np.uint8)


def draw_overlay(rgb: np.ndarray, prediction, mask_names: list[str] | None = None) -> np.ndarray:
    """The photo (RGB uint8) with each mask tinted by its probability, the outline (its first,
    top-left corner marked with a dot), the pattern's points where it has them and a label
    such as "found 0.93" / "not found 0.12"."""
    names = list(mask_names) if mask_names is not None else list(prediction.masks)
    tints = [(i, prediction.masks[name]) for i, name in enumerate(names) if name in prediction.masks]
    out = np.array(rgb, np.uint8)
    # Tinted only where some mask is above zero (elsewhere the blend leaves the photo as it
    # is), by OpenCV's per-pixel blend (a video's frames are drawn as fast as they are
    # predicted: 6x numpy's float blend, within a grey level of it).
    x0, y0, bw, bh = cv2.boundingRect(np.logical_or.reduce([p != 0 for _, p in tints]).view(np.uint8)) \
        if tints else (0, 0, 0, 0)
    if bw and bh:
        box = np.s_[y0:y0 + bh, x0:x0 + bw]
        tinted = out[box]
        for i, p in tints:
            a = ALPHA * p[box].astype(np.float32)
            tinted = cv2.blendLinear(tinted, _solid(out.shape, MASK_COLOURS[i % len(MASK_COLOURS)])[box], 1 - a, a)
        out[box] = tinted
    h, w = out.shape[:2]
    thick = max(1, round(min(h, w) / 250))
    if prediction.outline is not None:
        pts = np.round(prediction.outline * 16).astype(np.int32).reshape(-1, 1, 2)
        cv2.polylines(out, [pts], True, OUTLINE_COLOUR, thick, cv2.LINE_AA, shift=4)
        cv2.circle(out, tuple(int(v) for v in pts[0, 0]), 3 * thick * 16, OUTLINE_COLOUR, -1, cv2.LINE_AA, shift=4)
    points = getattr(prediction, "points", None)  # any Prediction-like object will do
    if points is not None:
        draw_points(out, points, thick)
    label = f"{'found' if prediction.detected else 'not found'} {prediction.score:.2f}"
    scale = max(0.4, min(h, w) / 600)
    (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    pad = max(2, thick * 2)
    cv2.rectangle(out, (0, 0), (tw + 2 * pad, th + base + 2 * pad), (0, 0, 0), -1)
    colour = (80, 255, 80) if prediction.detected else (255, 255, 255)
    cv2.putText(out, label, (pad, th + pad), cv2.FONT_HERSHEY_SIMPLEX, scale, colour, thick, cv2.LINE_AA)
    return out


@functools.lru_cache(maxsize=8)
def _solid(shape: tuple, colour: tuple) -> np.ndarray:
    """A frame-sized image of one colour (read-only: shared by the frames of a video)."""
    image = np.empty(shape, np.uint8)
    image[:] = colour
    image.flags.writeable = False
    return image


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


def truth_tile(rgb: np.ndarray, truth: np.ndarray | None) -> np.ndarray:
    """The photo dimmed outside a truth mask (all dimmed when there is none)."""
    inside = truth if truth is not None else np.zeros(rgb.shape[:2], bool)
    return np.where(inside[..., None], rgb, (rgb * 0.25).astype(np.uint8))


def mask_montage(masks: dict[str, np.ndarray], names: list[str]) -> np.ndarray:
    """All masks of a sample in one RGB image: `mask` grey, the others in colours on top."""
    shape = next(iter(masks.values())).shape
    out = np.zeros((*shape, 3), np.uint8)
    for i, name in enumerate(names):
        out[masks[name]] = MONTAGE_COLOURS[i % len(MONTAGE_COLOURS)]
    return out


def font(size: int = 14) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (OSError, TypeError):  # Pillow built without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def fit_width(rgb: np.ndarray, width: int) -> np.ndarray:
    """Resize to `width` keeping the aspect ratio (area averaging when shrinking)."""
    h, w = rgb.shape[:2]
    height = max(1, round(h * width / w))
    im = Image.fromarray(rgb).resize((width, height), Image.Resampling.BOX if width < w else
                                     Image.Resampling.BILINEAR)
    return np.asarray(im)


def caption(rgb: np.ndarray, text: str, size: int = 14, top: bool = False) -> np.ndarray:
    """`rgb` with `text` on a dark band inside its bottom edge (or top edge); the bottom by
    default because prediction overlays carry their own verdict label at the top left."""
    im = Image.fromarray(np.ascontiguousarray(rgb))
    draw = ImageDraw.Draw(im)
    f = font(size)
    x0, y0, x1, y1 = draw.textbbox((0, 0), text, font=f)
    y = 2 if top else max(0, im.height - (y1 - y0) - 6)
    draw.rectangle((0, y - 2, min(im.width, x1 - x0 + 8), y + (y1 - y0) + 4), fill=(0, 0, 0))
    draw.text((4, y - y0), text, fill=(255, 255, 255), font=f)
    return np.asarray(im)


def header(width: int, text: str, size: int = 16) -> np.ndarray:
    """A dark band `width` px wide with `text` on it (a title above a grid)."""
    band = np.zeros((size + 10, width, 3), np.uint8)
    return caption(band, text, size, top=True)


def grid(tiles: list[np.ndarray], columns: int, background: int = 24, gap: int = 2) -> np.ndarray:
    """Tiles (RGB, any sizes) laid out row by row in `columns`, each cell the size of the
    largest tile, top-left aligned."""
    if not tiles:
        raise ValueError("grid of no tiles")
    columns = max(1, min(columns, len(tiles)))
    rows = math.ceil(len(tiles) / columns)
    cell_h = max(t.shape[0] for t in tiles)
    cell_w = max(t.shape[1] for t in tiles)
    out = np.full((rows * cell_h + (rows - 1) * gap, columns * cell_w + (columns - 1) * gap, 3),
                  background, np.uint8)
    for i, t in enumerate(tiles):
        y, x = (i // columns) * (cell_h + gap), (i % columns) * (cell_w + gap)
        out[y:y + t.shape[0], x:x + t.shape[1]] = t
    return out
