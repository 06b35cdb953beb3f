"""Circle grids as used for camera calibration: ``circles:CxR[:asym][:SPACING_MM]``.

Black filled circles on white paper, laid out as OpenCV's ``findCirclesGrid`` expects for a
pattern size of (C, R), with OpenCV's own object-point layout (``gen_pattern.py``):

- symmetric: C circles per row, R rows, centres ``SPACING`` apart in x and y;
- ``asym``: R rows of C circles ``2 x SPACING`` apart, every odd row shifted by ``SPACING``,
  rows ``SPACING`` apart (``circles:4x11:asym`` is OpenCV's ``acircles_pattern``).

The smallest: 2x3 circles (either way round); an asymmetric grid 2 circles a row, 3 rows.

Circle radius is SPACING / 5, as in ``gen_pattern.py``; default SPACING 20 mm. Centres sit on
whole pixels. ``mask`` (the grid's outline) is the rectangle reaching half a spacing (rounded
to whole pixels) beyond the outermost centres, so its edges fall on pixel edges; the paper
margin beyond it is one spacing. ``circles`` masks the discs, which are exactly the black
pixels. Keypoints ``circle_RR_CC`` are the centres in OpenCV's object-point order.
"""
from __future__ import annotations

import numpy as np

from ..errors import UsageError, unknown_name
from .base import (MIN_POINT_GRID, GridSpec, Pattern, box_keypoints, row_col_id, box_mask, check_board_size,
                   check_sheet_pixels, disc_mask, length_px, parse_grid_spec, register_pattern)

USAGE = "circles:CxR[:asym][:SPACING_MM], e.g. circles:7x5 or circles:4x11:asym:15"
LAYOUTS = ("sym", "asym")
DEFAULT_SPACING_MM = 20.0
RADIUS_PER_SPACING = 0.2
# OpenCV's default blob detector ignores blobs under 25 px²: keep the radius above 3 px.
MIN_SPACING_PX = 16
# The smallest grids: a symmetric one is the smallest grid of points, either way round; an
# asymmetric one's rows zigzag, so a circle has neighbours on both sides (along a diagonal)
# only from three rows on: 2 circles a row, 3 rows (circles:3x2:asym is never found).
SMALLEST_SYMMETRIC = MIN_POINT_GRID
SMALLEST_ASYMMETRIC = (2, 3)


def grid_positions(cols: int, rows: int, asymmetric: bool) -> dict[str, tuple[int, int]]:
    """Circle centres in units of the spacing, in OpenCV's object-point order (row by row)."""
    return {f"circle_{r:02d}_{c:02d}": ((2 * c + r % 2) if asymmetric else c, r)
            for r in range(rows) for c in range(cols)}


@register_pattern("circles", "calibration circle grid of C x R black circles, symmetric or asym(metric); "
                  "masks mask (grid outline), circles", ("circles:7x5", "circles:4x11:asym"))
def build_circles(args: list[str], dpi: float) -> Pattern:
    fields = parse_grid_spec("circles", args, USAGE, "7x5", takes_word=True)
    spec, cols, rows, spacing_mm = fields.spec, fields.cols, fields.rows, fields.mm or DEFAULT_SPACING_MM
    layout = (fields.word or "sym").lower()
    if layout not in LAYOUTS:
        raise UsageError(f"pattern '{spec}': {unknown_name('circle grid layout', layout, LAYOUTS)}")
    asymmetric = layout == "asym"
    check_board_size(spec, (cols, rows), SMALLEST_ASYMMETRIC if asymmetric else SMALLEST_SYMMETRIC, "circles",
                     either_way=not asymmetric)
    positions = grid_positions(cols, rows, asymmetric)
    span_x = max(gx for gx, _ in positions.values())
    span_y = rows - 1

    d = length_px(spacing_mm, dpi, MIN_SPACING_PX)
    half = d // 2
    margin = d  # paper beyond the outline
    first = margin + half  # pixel index of the first centre, in x and in y
    w, h = span_x * d + 2 * first + 1, span_y * d + 2 * first + 1
    check_sheet_pixels(spec, w, h)

    centres = {name: (float(first + gx * d), float(first + gy * d)) for name, (gx, gy) in positions.items()}
    discs = disc_mask((h, w), centres.values(), RADIUS_PER_SPACING * d)
    image = np.full((h, w, 3), 255, np.uint8)
    image[discs] = 0
    # The outline covers the pixels from `half` before the first centre to `half` after the last.
    x0, y0, x1, y1 = margin, margin, w - margin, h - margin
    keypoints = box_keypoints(x0, y0, x1, y1)
    keypoints.update(centres)
    masks = {"mask": box_mask((h, w), x0, y0, x1, y1), "circles": discs}
    px_per_mm = d / spacing_mm  # the real scale after rounding the spacing to whole pixels
    canonical = f"circles:{cols}x{rows}:{layout}:{spacing_mm:g}"
    return Pattern(image, masks, keypoints, (w / px_per_mm, h / px_per_mm), canonical,
                   description=f"{'asymmetric' if asymmetric else 'symmetric'} circle grid {cols}x{rows}, "
                               f"spacing {spacing_mm:g} mm",
                   extra={"radius_px": RADIUS_PER_SPACING * d},
                   grid=GridSpec("circles", (cols, rows), {name: row_col_id(name) for name in centres},
                                 float(d), float(spacing_mm), asymmetric=asymmetric))

