"""How far to trust a calibration across the image: `cross_validation` (mrcal's idea).

The used views are split into two halves (alternate views), a camera is solved from each, and
the two cameras' projections are compared over the whole image: each pixel is unprojected to a
ray by one camera and projected again by the other, after the rotation that best aligns the two
cameras' rays near the image centre (within min(width, height) / 6 of it, mrcal's default focus
region; a small rotation between two solutions is not a difference in the lens). Where the
difference is large (usually the corners, which few views cover), the calibration is not to be
trusted; the median over the outer 10% band is the number to read.

The halves also check the stated uncertainty (`Calibration.std`): each half has half the
views, so its intrinsics vary about sqrt(2) times the whole's std, and the two halves'
difference about 2 times; `halves_sigmas` says how many of those the halves are apart.
"""
from __future__ import annotations

import numpy as np

from ..errors import SegmentyError
from ..patterns.grid import GridLayout
from .camera import Calibration, border_band, calibrate_views, focal_and_centre, project, undistort
from .views import View

GRID_STEP = 8  # px between the compared pixels
MIN_HALF = 3
COMPARED = ("fx", "fy", "cx", "cy")  # the intrinsics whose halves are compared with their std


def unproject(pixels: np.ndarray, cal: Calibration) -> np.ndarray:
    """N×2 px -> N×3 unit rays in the camera's frame."""
    import cv2

    p = pixels.reshape(-1, 1, 2).astype(np.float64)
    if cal.model == "fisheye":
        xy = cv2.fisheye.undistortPoints(p, cal.camera_matrix, cal.dist_coeffs).reshape(-1, 2)
    else:
        xy = undistort(p, cal.camera_matrix, cal.dist_coeffs)
    rays = np.column_stack([xy, np.ones(len(xy))])
    return rays / np.linalg.norm(rays, axis=1, keepdims=True)


def projection_difference(a: Calibration, b: Calibration, step: int = GRID_STEP) -> np.ndarray:
    """rows×cols px: how far camera b projects the ray camera a sees at each sampled pixel
    (every `step` px), after the best rotation near the centre (see the module doc)."""
    w, h = a.image_size
    xs, ys = np.arange(0, w, step, dtype=np.float64), np.arange(0, h, step, dtype=np.float64)
    gx, gy = np.meshgrid(xs, ys)
    pixels = np.stack([gx.ravel(), gy.ravel()], 1)
    ra, rb = unproject(pixels, a), unproject(pixels, b)
    focus = np.linalg.norm(pixels - [(w - 1) / 2, (h - 1) / 2], axis=1) <= min(w, h) / 6
    u, _, vt = np.linalg.svd(ra[focus].T @ rb[focus])  # Kabsch: the rotation taking a's rays to b's
    d = np.sign(np.linalg.det(vt.T @ u.T))
    rot = vt.T @ np.diag([1, 1, d]) @ u.T
    moved = project((ra @ rot.T).astype(np.float64), np.zeros(3), np.zeros(3), b.camera_matrix, b.dist_coeffs,
                    b.model)
    return np.linalg.norm(moved - pixels, axis=1).reshape(len(ys), len(xs))


def cross_validation(cal: Calibration, views: list[View], layout: GridLayout) -> dict | None:
    """{"halves": (names, names), "intrinsics": {fx, fy, cx, cy: (half a's, half b's)},
    "difference": rows×cols px (every GRID_STEP px), "centre", "border", "corners", "p95":
    medians (px) over the image's centre, outer 10% band, the four corners' 10% boxes, and the
    95th percentile}, or None with too few views for two halves."""
    used = [v for v in views if v.usable and cal.views.get(v.name, {}).get("used")]
    if len(used) < 2 * MIN_HALF:
        return None
    halves = used[0::2], used[1::2]
    try:
        a, b = (calibrate_views(h, layout, cal.model, held_out=False, reject_outliers=False,
                                       weighted=cal.weighted) for h in halves)
    except SegmentyError:
        return None
    diff = projection_difference(a, b)
    w, h = cal.image_size
    band = border_band(cal.image_size)[::GRID_STEP, ::GRID_STEP][:diff.shape[0], :diff.shape[1]]
    rows, cols = diff.shape
    cy, cx = max(1, rows // 10), max(1, cols // 10)
    corners = np.concatenate([diff[:cy, :cx].ravel(), diff[:cy, -cx:].ravel(), diff[-cy:, :cx].ravel(),
                              diff[-cy:, -cx:].ravel()])
    return {"halves": ([v.name for v in halves[0]], [v.name for v in halves[1]]),
            "intrinsics": {k: (focal_and_centre(a.camera_matrix)[k], focal_and_centre(b.camera_matrix)[k])
                           for k in COMPARED}, "difference": diff,
            "centre": float(np.median(diff[~band])), "border": float(np.median(diff[band])),
            "corners": float(np.median(corners)), "p95": float(np.percentile(diff, 95))}


def halves_sigmas(result: dict | None, cal: Calibration) -> tuple[str, float] | None:
    """(intrinsic, how many of its expected difference, 2 x its stated std, the halves are
    apart) for the intrinsic the halves disagree on most; None without halves or a std."""
    if result is None or not all(cal.std.get(k, 0) > 0 for k in COMPARED):
        return None
    apart = {k: abs(a - b) / (2 * cal.std[k]) for k, (a, b) in result["intrinsics"].items()}
    worst = max(apart, key=apart.get)
    return worst, apart[worst]


def summary(result: dict | None) -> dict | None:
    """The JSON-able figures of a cross_validation result."""
    if result is None:
        return None
    return {k: round(result[k], 4) for k in ("centre", "border", "corners", "p95")} | \
        {"halves": [len(result["halves"][0]), len(result["halves"][1])],
         "intrinsics": {k: [round(a, 3), round(b, 3)] for k, (a, b) in result["intrinsics"].items()}}
