"""Views worth calibrating with, chosen from many (a video's frames): `select_views`.

Sharpness: `board_blur` measures the blur on the board itself, as the width (px) of its edges:
the contrast between its dark and light squares over the steepest brightness gradient inside
the hull of its points, across the columns and across the rows (the wider of the two: motion
blur widens the edges across its direction only) (about 1 px for a sharp photo, the blur's length for a motion-blurred
one; OpenCV's findChessboardCornersSB reports a similar sharpness per board). Views much
blurrier than the others are dropped with the reason.

Coverage: each view is described as ROS's camera_calibration does, by the board's x and y
(where its centre is in the image, 0 to 1), size (the square root of the board's share of the
image) and skew (how far from a right angle its corner looks: the board's tilt); the board's
outline is projected through the view's homography, so a board cut by the frame counts whole.
The views are chosen greedily: each next view the one that adds the most image area not yet
covered by the chosen views' points (the outer 10% band counted twice, where distortion is
strongest and views are fewest) plus, as a tie-breaker (SPREAD_WEIGHT), the most distance in
(x, y, size, skew) from the views already chosen. Measured on a video of real photos
(benchmarks/stereo.py): coverage first gave the lower held-out error; variety weighted as much
as coverage gave a worse one.
"""
from __future__ import annotations

import cv2
import numpy as np

from ..patterns.grid import GridLayout
from .camera import border_band, correspondences, coverage_mask
from .views import View

BLUR_FACTOR = 2.0  # a view blurrier than this many times the median view is dropped ...
BLUR_FLOOR_PX = 2.5  # ... when its edges are also wider than this
SPREAD_WEIGHT = 0.1  # the variety term against the new coverage (a tie-breaker: measured, benchmarks/README.md)
CELL = 16  # coverage is counted on a grid of cells this many px wide (speed)


def board_blur(gray: np.ndarray, view: View) -> float | None:
    """The width (px) of the board's edges in `gray` (H×W uint8), or None without points."""
    if not view.usable or len(view.points) < 3:
        return None
    hull = cv2.convexHull(view.points.xy.astype(np.float32)).reshape(-1, 2)
    x, y, w, h = cv2.boundingRect(hull)
    x0, y0 = max(0, x), max(0, y)
    x1, y1 = min(gray.shape[1], x + w), min(gray.shape[0], y + h)
    if x1 - x0 < 4 or y1 - y0 < 4:
        return None
    patch = gray[y0:y1, x0:x1].astype(np.float32)
    inside = np.zeros(patch.shape, np.uint8)
    cv2.fillConvexPoly(inside, np.round(hull - [x0, y0]).astype(np.int32), 1)
    inside = inside.astype(bool)
    values = patch[inside]
    contrast = float(np.percentile(values, 95) - np.percentile(values, 5))
    # Across the columns and across the rows apart: motion blur widens the edges across its
    # direction only, the others stay sharp.
    widths = []
    for dx, dy in ((1, 0), (0, 1)):
        steepest = float(np.percentile(np.abs(cv2.Sobel(patch, cv2.CV_32F, dx, dy, ksize=3) / 8)[inside], 99.5))
        widths.append(contrast / steepest if steepest > 0 else np.inf)
    width = max(widths)
    return float(width) if np.isfinite(width) else None


def describe(view: View, layout: GridLayout) -> np.ndarray | None:
    """(x, y, size, skew) of a view, each in [0, 1] (see the module doc)."""
    obj, img = correspondences(view, layout)
    hom, _ = cv2.findHomography(obj[:, :2].astype(np.float64), img.astype(np.float64), 0)
    if hom is None:
        return None
    board = layout.object_points(layout.ids)[:, :2]
    lo, hi = board.min(axis=0), board.max(axis=0)
    outline = np.array([[lo[0], lo[1]], [hi[0], lo[1]], [hi[0], hi[1]], [lo[0], hi[1]]], np.float64)
    quad = cv2.perspectiveTransform(outline.reshape(-1, 1, 2), hom).reshape(-1, 2)
    w, h = view.image_size
    centre = quad.mean(axis=0)
    size = np.sqrt(abs(cv2.contourArea(quad.astype(np.float32))) / (w * h))
    a, b = quad[0] - quad[1], quad[2] - quad[1]  # ROS: the angle at the board's corner
    angle = np.arccos(np.clip(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12), -1, 1))
    skew = min(1.0, 2 * abs(np.pi / 2 - angle))
    return np.array([np.clip(centre[0] / w, 0, 1), np.clip(centre[1] / h, 0, 1), min(1.0, size), skew])


def drop_blurred(views: list[View]) -> list[View]:
    """The views with the reason for those much blurrier than the rest (View.blur set by the
    caller; views without one are kept)."""
    blurs = [v.blur for v in views if v.usable and v.blur is not None]
    if not blurs:
        return views
    limit = max(BLUR_FLOOR_PX, BLUR_FACTOR * float(np.median(blurs)))
    return [View(v.name, v.image_size, None, f"blurred: the board's edges are {v.blur:.1f} px wide, over {limit:.1f} "
                 f"px ({BLUR_FACTOR:g}x the median view's)", v.offset, v.blur)
            if v.usable and v.blur is not None and v.blur > limit else v for v in views]


def select_views(views: list[View], count: int, layout: GridLayout) -> list[View]:
    """`views` with all but `count` of the usable (sharp) ones marked unused, with the reason
    (see the module doc); the order is kept."""
    views = drop_blurred(views)
    usable = [i for i, v in enumerate(views) if v.usable]
    if len(usable) <= count:
        return views
    size = views[usable[0]].image_size
    band = border_band(size)[::CELL, ::CELL]
    weights = np.where(band, 2.0, 1.0)
    masks = {i: coverage_mask([views[i]], size)[::CELL, ::CELL] > 0 for i in usable}
    params = {i: describe(views[i], layout) for i in usable}
    params = {i: p for i, p in params.items() if p is not None}
    covered = np.zeros_like(band)
    chosen: list[int] = []
    total = float(weights.sum())
    while len(chosen) < count:
        best, best_score = None, -1.0
        for i in params:
            if i in chosen:
                continue
            gain = float(weights[masks[i] & ~covered].sum()) / total
            spread = min((float(np.linalg.norm(params[i] - params[j])) for j in chosen), default=0.0)
            if gain + SPREAD_WEIGHT * spread > best_score:
                best, best_score = i, gain + SPREAD_WEIGHT * spread
        if best is None:
            break
        chosen.append(best)
        covered |= masks[best]
    keep = set(chosen)
    return [View(v.name, v.image_size, None, f"not chosen: {count} views chosen for coverage and variety (--views)",
                 v.offset, v.blur) if i in usable and i not in keep else v for i, v in enumerate(views)]
