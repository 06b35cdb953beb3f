"""The original segmenty pattern: circles with spokes on a letter page (850x1100 px at 100 dpi).

Geometry follows the original exactly: a 9x11 grid (pitch 85 px in x, 100 px in y) centred on
the page; circles where both grid indices are even (5x6 = 30), radius 32 px with an 8 px
stroke, black-filled where the x index is a multiple of 4; a 16 px spoke, 96 px long, from
each circle's centre toward the page centre. Masks: the page, vertical and horizontal bars
(32x400 px) through every circle, and a disc of radius 32 px at the page centre.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from ..errors import UsageError
from .base import MM_PER_INCH, Pattern, box_keypoints, register_pattern

PAGE_W, PAGE_H = 850, 1100  # px at the native 100 dpi
GRID_X, GRID_Y = 9, 11
PITCH_X, PITCH_Y = 85, 100
RADIUS, STROKE = 32, 8
SPOKE_W, SPOKE_LEN = 16, 96
BAR_W, BAR_LEN = 32, 400
NATIVE_DPI = 100.0
_SUB = 16  # fixed-point subpixel factor for OpenCV drawing (shift=4)


def circle_centres() -> list[tuple[int, int, bool]]:
    """(x, y, filled_black) for the 30 circles, in native pixels."""
    x0 = (PAGE_W - (GRID_X - 1) * PITCH_X) // 2
    out = []
    for ix in range(0, GRID_X, 2):
        for iy in range(0, GRID_Y, 2):
            out.append((x0 + ix * PITCH_X, PITCH_Y // 2 + iy * PITCH_Y, ix % 4 == 0))
    return out


def _fp(v: float) -> int:
    return int(round(v * _SUB))


def _bar(canvas: np.ndarray, p0, p1, width: float, value, aa: bool) -> None:
    """A straight bar with square (butt) ends from p0 to p1, drawn as a polygon."""
    (x0, y0), (x1, y1) = p0, p1
    dx, dy = x1 - x0, y1 - y0
    n = math.hypot(dx, dy) or 1.0
    nx, ny = -dy / n * width / 2, dx / n * width / 2
    poly = np.array([[_fp(x0 + nx), _fp(y0 + ny)], [_fp(x1 + nx), _fp(y1 + ny)],
                     [_fp(x1 - nx), _fp(y1 - ny)], [_fp(x0 - nx), _fp(y0 - ny)]], np.int32)
    cv2.fillPoly(canvas, [poly], value, cv2.LINE_AA if aa else cv2.LINE_8, shift=4)


def _disc(canvas: np.ndarray, c, r: float, value, aa: bool, thickness: int = -1) -> None:
    cv2.circle(canvas, (_fp(c[0]), _fp(c[1])), _fp(r), value, thickness,
               cv2.LINE_AA if aa else cv2.LINE_8, shift=4)


@register_pattern("segmenty", "the original: 30 circles with spokes on a US-letter page; "
                  "masks mask, vertical, horizontal, middle", ("segmenty",))
def build_segmenty(args: list[str], dpi: float) -> Pattern:
    if args:
        raise UsageError("pattern 'segmenty' takes no fields (usage: segmenty)")
    k = dpi / NATIVE_DPI
    w, h = int(round(PAGE_W * k)), int(round(PAGE_H * k))
    cx, cy = PAGE_W / 2, PAGE_H / 2
    image = np.full((h, w, 3), 255, np.uint8)
    vertical = np.zeros((h, w), np.uint8)
    horizontal = np.zeros((h, w), np.uint8)
    middle = np.zeros((h, w), np.uint8)
    black, white = (0, 0, 0), (255, 255, 255)
    for x, y, filled in circle_centres():
        # Circle: an outer black disc and, for open circles, a white interior; the stroke
        # of width STROKE is centred on radius RADIUS.
        _disc(image, (x * k, y * k), (RADIUS + STROKE / 2) * k, black, True)
        if not filled:
            _disc(image, (x * k, y * k), (RADIUS - STROKE / 2) * k, white, True)
        dxc, dyc = cx - x, cy - y
        n = math.hypot(dxc, dyc)
        end = (x + dxc / n * SPOKE_LEN, y + dyc / n * SPOKE_LEN)
        _bar(image, (x * k, y * k), (end[0] * k, end[1] * k), SPOKE_W * k, black, True)
        _bar(vertical, (x * k, (y - BAR_LEN / 2) * k), (x * k, (y + BAR_LEN / 2) * k), BAR_W * k, 255, False)
        _bar(horizontal, ((x - BAR_LEN / 2) * k, y * k), ((x + BAR_LEN / 2) * k, y * k), BAR_W * k, 255, False)
    _disc(middle, (cx * k, cy * k), RADIUS * k, 255, False)
    masks = {
        "mask": np.ones((h, w), bool),
        "vertical": vertical > 0,
        "horizontal": horizontal > 0,
        "middle": middle > 0,
    }
    kp = box_keypoints(0, 0, w, h)
    kp["center"] = (cx * k - 0.5, cy * k - 0.5)
    size_mm = (PAGE_W / NATIVE_DPI * MM_PER_INCH, PAGE_H / NATIVE_DPI * MM_PER_INCH)
    return Pattern(image, masks, kp, size_mm, "segmenty",
                   description="original segmenty pattern (letter page)")
