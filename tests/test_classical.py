"""OpenCV's classical detectors, set up once (segmenty.classical): rendered boards found with
the points where they were drawn, in OpenCV's order or with the pattern's ids; partial ChArUco
boards keep their ids; bad --detector specs refused in one line."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from segmenty.classical import (Detector, detect_grid, find_charuco, find_chessboard_classic, find_circles,
                                parse_detector)
from segmenty.errors import UsageError

import segmenty
from segmenty.patterns.grid import grid_layout
from segmenty.predict import geometry as geo

QUAD = np.array([[90, 60], [400, 80], [420, 300], [70, 290]], np.float64)
TALL = np.array([[50, 20], [300, 25], [310, 340], [45, 335]], np.float64)


def render(spec, quad, shape=(360, 480), background=110):
    """(photo, truth xy in layout order, layout) of `spec` printed at 100 dpi, its outline on `quad`."""
    pattern = segmenty.load_pattern(spec, dpi=100)
    layout = grid_layout(pattern)
    hom = geo.homography(pattern.outline, quad)
    photo = cv2.warpPerspective(pattern.image, hom, shape[::-1], flags=cv2.INTER_AREA,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=(background,) * 3)
    return photo, geo.project(hom, layout.sheet_xy), layout


def _gray(photo):
    return cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)


def test_a_whole_chessboard_in_opencvs_order():
    photo, truth, layout = render("chessboard:10x7", QUAD)
    grid, method = detect_grid(photo, Detector("chessboard", 9, 6))
    assert grid.shape == (6, 9, 2) and method == "findChessboardCornersSB"
    # OpenCV numbers a 10x7 board from one end or the other: the same points either way
    found = grid.reshape(-1, 2)
    assert np.abs(np.sort(found, axis=0) - np.sort(truth, axis=0)).max() < 0.5
    classic = find_chessboard_classic(_gray(photo), (9, 6))
    assert classic is not None and np.abs(np.sort(classic.reshape(-1, 2), axis=0) - np.sort(truth, axis=0)).max() < 0.5
    assert detect_grid(np.zeros((300, 400), np.uint8), Detector("chessboard", 9, 6)) is None


def test_charuco_whole_and_partial_with_the_patterns_ids():
    photo, truth, layout = render("charuco:5x7", QUAD)
    xy, ids = find_charuco(_gray(photo), 5, 7, "DICT_6X6_250")
    assert len(ids) == layout.count == 24
    expected = truth[layout.rows_of(ids)]
    assert np.abs(xy - expected).max() < 0.5  # each corner where the pattern's id puts it
    grid, method = detect_grid(photo, Detector("charuco", 5, 7))
    assert method == "CharucoDetector" and np.abs(grid.reshape(-1, 2) - truth[layout.rows_of(
        np.stack(np.meshgrid(np.arange(4), np.arange(6)), axis=-1).reshape(-1, 2))]).max() < 0.5
    half = photo.copy()
    half[:, 250:] = 110  # the right half of the board gone
    xy, ids = find_charuco(_gray(half), 5, 7, "DICT_6X6_250")
    assert 4 <= len(ids) < 24 and np.abs(xy - truth[layout.rows_of(ids)]).max() < 0.5
    assert detect_grid(half, Detector("charuco", 5, 7)) is None  # label wants the whole board


def test_an_asymmetric_circle_grid_in_opencvs_order():
    photo, truth, layout = render("circles:4x11:asym", TALL)
    centres = find_circles(_gray(photo), (4, 11), asymmetric=True)
    assert centres is not None and len(centres) == 44
    assert np.abs(np.sort(centres, axis=0) - np.sort(truth, axis=0)).max() < 1.0
    assert find_circles(_gray(photo), (4, 11), asymmetric=False) is None


def test_opencvs_chessboard_detectors_find_no_board_of_two_inner_corners_a_side():
    # OpenCV raises for them; calibrate's side-by-side of a 3x8 board must go on without it
    photo, _, _ = render("chessboard:3x8", TALL)
    assert detect_grid(photo, Detector("chessboard", 2, 7)) is None
    assert find_chessboard_classic(_gray(photo), (2, 7)) is None


@pytest.mark.parametrize("text, message", [("hexagon:3x3", "detector"), ("chessboard", "expected"),
                                           ("charuco:5x7:NOPE", "dictionary"),
                                           ("chessboard:4x3", "need at least 4x4 squares"),
                                           ("charuco:3x3", "the smallest is 3x4 squares")])
def test_bad_detector_specs_are_refused(text, message):
    with pytest.raises(UsageError, match=message):
        parse_detector(text)


@pytest.mark.parametrize("text, grid_shape", [("chessboard:10x7", (6, 9)), ("charuco:5x7", (6, 4))])
def test_detector_specs_count_squares_as_pattern_specs_do(text, grid_shape):
    detector = parse_detector(text)
    assert detector.grid_shape == grid_shape and detector.spec.startswith(text)
