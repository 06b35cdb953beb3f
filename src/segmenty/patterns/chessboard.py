"""Chessboards as used for camera calibration: ``chessboard:CxR[:SQUARE_MM]``.

C x R squares (``chessboard:10x7`` has OpenCV's 9x6 inner corners; 3x4 at least, either way
round: SMALLEST_SQUARES), the top-left square black, on white paper with a one-square margin.
``mask`` is exactly the squares area; ``corners`` is a small disc on every inner corner.

`board_pattern` lays any board of whole-pixel squares (this one, ChArUco) out on its sheet.
"""
from __future__ import annotations

import numpy as np

from .base import (MIN_POINT_GRID, GridSpec, Pattern, box_keypoints, row_col_id, box_mask, check_board_size,
                   check_sheet_pixels, disc_mask, length_px, parse_grid_spec, register_pattern)

USAGE = "chessboard:CxR[:SQUARE_MM], e.g. chessboard:10x7:25"
DEFAULT_SQUARE_MM = 25.0
MIN_SQUARE_PX = 4
CORNER_DISC_RADIUS = 0.15  # of a square: the `corners` mask marks a small area, not a point
# Said wherever a board's spec shows it does not fit the board (calibrate: an implausible fit;
# predict: boards seen without its grid): the commonest mistake, OpenCV's inner corners typed
# for the squares (chessboard:9x6 for chessboard:10x7).
SPEC_MISMATCH_HINT = ("the pattern spec may not match the board (chessboard:CxR counts its squares, not its "
                      "inner corners)")
# The smallest board (of ChArUco boards too): its inner corners the smallest grid of points, 3x4.
SMALLEST_SQUARES = tuple(n + 1 for n in MIN_POINT_GRID)


def board_square_px(spec: str, cols: int, rows: int, square_mm: float, dpi: float,
                    minimum: int = MIN_SQUARE_PX) -> int:
    """Side of one square in whole pixels (so every edge falls on a pixel boundary), after
    checking that the sheet (board plus a one-square margin) is not too large to render."""
    s = length_px(square_mm, dpi, minimum)
    check_sheet_pixels(spec, (cols + 2) * s, (rows + 2) * s)
    return s


def inner_corners(cols: int, rows: int, s: int) -> dict[str, tuple[float, float]]:
    """Inner corners row by row, in OpenCV's order for an unrotated board, named corner_RR_CC,
    in board edge coordinates (the board's top-left corner at (0, 0), `s` px per square)."""
    return {f"corner_{r - 1:02d}_{c - 1:02d}": (float(c * s), float(r * s))
            for r in range(1, rows) for c in range(1, cols)}


def board_pattern(board: np.ndarray, corners: dict[str, tuple[float, float]], square_px: int,
                  square_mm: float, spec: str, description: str, grid: GridSpec, extra: dict | None = None) -> Pattern:
    """A sheet with `board` (gray uint8, whole squares of `square_px`) on white paper with a
    one-square margin.

    `corners` are in board edge coordinates (see `inner_corners`); they become keypoints and
    the `corners` mask. ``mask`` is exactly the board; `size_mm` follows from the whole-pixel
    square so that a printed square measures exactly `square_mm`.
    """
    margin = square_px
    board_h, board_w = board.shape
    h, w = board_h + 2 * margin, board_w + 2 * margin
    image = np.full((h, w, 3), 255, np.uint8)
    image[margin:margin + board_h, margin:margin + board_w] = board[..., None]
    keypoints = box_keypoints(margin, margin, margin + board_w, margin + board_h)
    # Edge coordinates -> OpenCV's pixel-centre convention on the sheet.
    sheet_corners = {name: (x + margin - 0.5, y + margin - 0.5) for name, (x, y) in corners.items()}
    keypoints.update(sheet_corners)
    masks = {
        "mask": box_mask((h, w), margin, margin, margin + board_w, margin + board_h),
        "corners": disc_mask((h, w), sheet_corners.values(), max(2.0, CORNER_DISC_RADIUS * square_px)),
    }
    px_per_mm = square_px / square_mm  # the real scale after rounding the square to whole pixels
    return Pattern(image, masks, keypoints, (w / px_per_mm, h / px_per_mm), spec,
                   description=description, extra=dict(extra or {}), grid=grid)


@register_pattern("chessboard", "calibration chessboard of C x R squares with a one-square white "
                  "margin; masks mask (squares area), corners", ("chessboard:10x7", "chessboard:9x6:30"))
def build_chessboard(args: list[str], dpi: float) -> Pattern:
    fields = parse_grid_spec("chessboard", args, USAGE, "10x7")
    cols, rows, square_mm = fields.cols, fields.rows, fields.mm or DEFAULT_SQUARE_MM
    check_board_size(fields.spec, (cols, rows), SMALLEST_SQUARES, "squares")
    s = board_square_px(fields.spec, cols, rows, square_mm, dpi)
    squares = np.where(np.add.outer(np.arange(rows), np.arange(cols)) % 2 == 1, 255, 0).astype(np.uint8)
    board = squares.repeat(s, axis=0).repeat(s, axis=1)
    corners = inner_corners(cols, rows, s)
    ids = {name: row_col_id(name) for name in corners}
    return board_pattern(board, corners, s, square_mm, f"chessboard:{cols}x{rows}:{square_mm:g}",
                         f"chessboard {cols}x{rows} squares of {square_mm:g} mm",
                         GridSpec("chessboard", (cols, rows), ids, float(s), float(square_mm)))
