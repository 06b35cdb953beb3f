"""The grid a board prints (patterns.base.GridSpec, patterns.grid.GridLayout): stated by the
pattern's builder, with the ids' conventions OpenCV users know, and what detection and
calibration derive from it."""
from __future__ import annotations

import numpy as np
import pytest

import segmenty
from segmenty.patterns.base import GridSpec
from segmenty.patterns.grid import BLOB, SADDLE, grid_layout


@pytest.mark.parametrize("spec, kind, board, points", [
    ("chessboard:10x7:25", "chessboard", (10, 7), 54), ("charuco:5x7", "charuco", (5, 7), 24),
    ("circles:7x5", "circles", (7, 5), 35), ("circles:4x11:asym", "circles", (4, 11), 44)])
def test_every_board_states_its_grid(spec, kind, board, points):
    grid = segmenty.load_pattern(spec).grid
    assert (grid.kind, grid.board, len(grid.ids)) == (kind, board, points)
    ids = np.array(list(grid.ids.values()))
    assert len({tuple(i) for i in ids}) == points  # every point its own id
    assert ids.min() == 0


def test_the_ids_conventions():
    chess = segmenty.load_pattern("chessboard:10x7:25")
    assert chess.grid.ids["corner_02_05"] == (5, 2)  # corner_RR_CC -> (CC, RR)
    charuco = segmenty.load_pattern("charuco:5x7:DICT_4X4_50:30")
    assert charuco.grid.ids["charuco_006"] == (2, 1) and charuco.grid.dictionary == "DICT_4X4_50"
    circles = segmenty.load_pattern("circles:4x11:asym")
    assert circles.grid.asymmetric and circles.grid.ids["circle_03_01"] == (1, 3)
    # the printed spacing: a square is 25 mm at the sheet's scale
    assert chess.grid.spacing_px * chess.size_mm[0] / chess.image.shape[1] == pytest.approx(25.0)


def test_patterns_without_a_grid_have_none():
    page = segmenty.load_pattern("segmenty")
    assert page.grid is None and grid_layout(page) is None


def test_a_grid_spec_is_checked_when_built():
    with pytest.raises(ValueError, match="kind"):
        GridSpec("hexagons", (3, 3), {"a": (0, 0)}, 10.0, 5.0)
    with pytest.raises(ValueError, match="spacing"):
        GridSpec("chessboard", (3, 3), {"a": (0, 0)}, 0.0, 5.0)


@pytest.mark.parametrize("spec, kind, grid", [("chessboard:10x7", SADDLE, (9, 6)), ("charuco:5x7", SADDLE, (4, 6)),
                                              ("circles:4x11:asym", BLOB, (4, 11))])
def test_the_layout_follows_the_spec(spec, kind, grid):
    pattern = segmenty.load_pattern(spec)
    layout = grid_layout(pattern)
    assert (layout.kind, layout.grid, layout.count) == (kind, grid, len(pattern.grid.ids))
    assert layout.names == tuple(pattern.grid.ids)
    # object points in mm: neighbours one printed spacing apart, the first point at the origin
    obj = layout.object_points(layout.ids)
    assert np.allclose(obj[0], 0)
    step = np.linalg.norm(layout.object_points(np.array([[1, 0]])) - layout.object_points(np.array([[0, 0]])))
    expected = pattern.grid.spacing_mm * (2 if pattern.grid.asymmetric else 1)
    assert step == pytest.approx(expected, rel=0.01)
