"""Chessboards as used for camera calibration: ``chessboard:CxR[:SQUARE_MM]``.

C x R squares (``chessboard:10x7`` has OpenCV's 9x6 inner corners), the top-left square
black, on white paper with a one-square margin. ``mask`` is exactly the squares area;
``corners`` is a small disc on every inner corner.
"""
from __future__ import annotations

import numpy as np

from .base import (MM_PER_INCH, Pattern, box_keypoints, box_mask, check_arg_count, parse_grid,
                   parse_mm, register_pattern)

USAGE = "chessboard:CxR[:SQUARE_MM], e.g. chessboard:10x7:25"


def squares_px(square_mm: float, dpi: float) -> int:
    """Side of one square in whole pixels (so every edge falls on a pixel boundary)."""
    return max(4, int(round(square_mm / MM_PER_INCH * dpi)))


def inner_corner_keypoints(cols: int, rows: int, s: int, margin: int) -> dict[str, tuple[float, float]]:
    """Inner corners row by row, in OpenCV's order for an unrotated board, named corner_RR_CC."""
    kp = {}
    for r in range(1, rows):
        for c in range(1, cols):
            kp[f"corner_{r - 1:02d}_{c - 1:02d}"] = (margin + c * s - 0.5, margin + r * s - 0.5)
    return kp


def corner_discs(shape: tuple[int, int], points: np.ndarray, radius: float) -> np.ndarray:
    """A bool mask with a disc of `radius` px around every point."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w]
    out = np.zeros((h, w), bool)
    r = int(np.ceil(radius)) + 1
    for x, y in points:
        x0, x1 = max(0, int(x) - r), min(w, int(x) + r + 2)
        y0, y1 = max(0, int(y) - r), min(h, int(y) + r + 2)
        out[y0:y1, x0:x1] |= (xx[y0:y1, x0:x1] - x) ** 2 + (yy[y0:y1, x0:x1] - y) ** 2 <= radius ** 2
    return out


@register_pattern("chessboard", "calibration chessboard of C x R squares with a one-square white "
                  "margin; masks mask (squares area), corners", ("chessboard:10x7", "chessboard:9x6:30"))
def build_chessboard(args: list[str], dpi: float) -> Pattern:
    spec = ":".join(["chessboard", *args])
    check_arg_count(spec, args, 2, USAGE)
    if not args:
        args = ["10x7"]
    cols, rows = parse_grid(spec, args[0])
    square_mm = parse_mm(spec, args[1]) if len(args) > 1 else 25.0
    s = squares_px(square_mm, dpi)
    margin = s
    w, h = cols * s + 2 * margin, rows * s + 2 * margin
    yy, xx = np.mgrid[0:rows * s, 0:cols * s]
    board = ((yy // s + xx // s) % 2 == 1).astype(np.uint8) * 255
    image = np.full((h, w, 3), 255, np.uint8)
    image[margin:margin + rows * s, margin:margin + cols * s] = board[..., None]
    kp = box_keypoints(margin, margin, margin + cols * s, margin + rows * s)
    corners = inner_corner_keypoints(cols, rows, s, margin)
    kp.update(corners)
    masks = {
        "mask": box_mask((h, w), margin, margin, margin + cols * s, margin + rows * s),
        "corners": corner_discs((h, w), np.array(list(corners.values())), max(2.0, 0.15 * s)),
    }
    px_mm = s / square_mm  # the real scale after rounding the square to whole pixels
    return Pattern(image, masks, kp, (w / px_mm, h / px_mm), f"chessboard:{cols}x{rows}:{square_mm:g}",
                   description=f"chessboard {cols}x{rows} squares of {square_mm:g} mm",
                   extra={"grid": (cols, rows), "square_px": s, "square_mm": square_mm})
