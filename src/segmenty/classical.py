"""OpenCV's classical board detectors, set up once for every stage: `segmenty label`'s ground
truth (eval), calibration's side-by-side (calib) and the benchmarks all call these.

- `detect_grid(rgb, Detector)`: a whole chessboard (findChessboardCornersSB EXHAUSTIVE|ACCURACY,
  falling back to findChessboardCorners + cornerSubPix) or a whole ChArUco board, as a
  rows×cols grid of inner corners in OpenCV's order.
- `find_chessboard_classic`: findChessboardCorners + cornerSubPix alone, the recipe of most
  calibration tutorials.
- `find_charuco`: a ChArUco board's corners found, whole or partial, with their (column, row)
  ids (the pattern's convention, patterns/charuco.py).
- `find_circles`: findCirclesGrid, symmetric or asymmetric.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .errors import UsageError, unknown_name
from .patterns.charuco import charuco_board, charuco_colrow

DETECTOR_KINDS = ("chessboard", "charuco")
# OpenCV's chessboard detectors refuse (with an exception) fewer inner corners a side than this:
# for them a board of 3xN squares, which segmenty finds, is simply not found.
OPENCV_MIN_INNER_CORNERS = 3
DETECTOR_USAGE = "chessboard:COLSxROWS or charuco:COLSxROWS[:DICT], squares as in the pattern spec " \
                 "(e.g. chessboard:10x7, OpenCV's 9x6 inner corners, or charuco:5x7:DICT_6X6_250)"


@dataclass(frozen=True)
class Detector:
    """A classical board detector.

    For ``chessboard`` `cols` x `rows` count INNER corners, OpenCV's pattern size (a board of
    10x7 squares is 9x6); for ``charuco`` they count squares. Its `spec` counts squares for
    both, like the pattern spec that printed the board (``chessboard:10x7``, ``charuco:5x7``).
    """

    kind: str
    cols: int
    rows: int
    dictionary: str = "DICT_6X6_250"

    @property
    def squares(self) -> tuple[int, int]:
        """(columns, rows) of the board's squares."""
        return (self.cols + 1, self.rows + 1) if self.kind == "chessboard" else (self.cols, self.rows)

    @property
    def spec(self) -> str:
        tail = f":{self.dictionary}" if self.kind == "charuco" else ""
        return f"{self.kind}:{self.squares[0]}x{self.squares[1]}{tail}"

    @property
    def grid_shape(self) -> tuple[int, int]:
        """(rows, cols) of the inner-corner grid a whole board yields."""
        if self.kind == "charuco":
            return self.rows - 1, self.cols - 1
        return self.rows, self.cols


def parse_detector(text: str) -> Detector:
    """``chessboard:10x7`` / ``charuco:5x7[:DICT]`` (squares, as the pattern specs count them)
    -> Detector; UsageError names --detector."""
    from .patterns.base import check_board_size, parse_grid
    from .patterns.charuco import DEFAULT_DICTIONARY, parse_dictionary
    from .patterns.chessboard import SMALLEST_SQUARES

    kind, *args = text.split(":")
    if kind not in DETECTOR_KINDS:
        raise UsageError(f"--detector: {unknown_name('detector', kind, DETECTOR_KINDS)}")
    most = 2 if kind == "charuco" else 1
    if not args or len(args) > most:
        raise UsageError(f"--detector '{text}': expected {DETECTOR_USAGE}")
    try:
        # The pattern specs' grid rules (2 to 100 a side, the smallest board) suit the detectors too.
        cols, rows = parse_grid(text, args[0])
        check_board_size(text, (cols, rows), SMALLEST_SQUARES, "squares")
        dictionary = parse_dictionary(text, args[1]) if len(args) > 1 else DEFAULT_DICTIONARY
    except UsageError as exc:
        raise UsageError(f"--detector: {str(exc).replace('pattern ', '', 1)}") from None
    if kind == "charuco":
        return Detector(kind, cols, rows, dictionary)
    least = OPENCV_MIN_INNER_CORNERS + 1
    if min(cols, rows) < least:
        raise UsageError(f"--detector '{text}': OpenCV's chessboard detectors need at least {least}x{least} "
                         f"squares ({least - 1} inner corners a side)")
    return Detector(kind, cols - 1, rows - 1)


def detect_grid(rgb: np.ndarray, detector: Detector) -> tuple[np.ndarray, str] | None:
    """The whole board's inner corners as a rows×cols×2 float64 grid (OpenCV pixel-centre
    coordinates) and the method that found them, or None when the whole board is not found.
    `rgb` may also be the photo in grey (H×W)."""
    gray = rgb if rgb.ndim == 2 else cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    if min(gray.shape) < 2 * (max(detector.cols, detector.rows) + 1):
        return None  # too small to hold the board at 2 px a square (OpenCV's detectors assert)
    if detector.kind == "charuco":
        return _detect_charuco(gray, detector)
    return _detect_chessboard(gray, detector)


def _detect_chessboard(gray: np.ndarray, detector: Detector) -> tuple[np.ndarray, str] | None:
    size = (detector.cols, detector.rows)
    if min(size) < OPENCV_MIN_INNER_CORNERS:
        return None
    rows, cols = detector.grid_shape
    # The sector-based detector is more accurate and copes with blur and distortion better.
    ok, corners = cv2.findChessboardCornersSB(gray, size, flags=cv2.CALIB_CB_EXHAUSTIVE | cv2.CALIB_CB_ACCURACY)
    if ok:
        return corners.reshape(rows, cols, 2).astype(np.float64), "findChessboardCornersSB"
    corners = find_chessboard_classic(gray, size)
    if corners is None:
        return None
    return corners.reshape(rows, cols, 2).astype(np.float64), "findChessboardCorners"


def find_chessboard_classic(gray: np.ndarray, size: tuple[int, int]) -> np.ndarray | None:
    """The inner corners (N×1×2 float32, OpenCV's order) by findChessboardCorners refined with
    cornerSubPix, as most calibration tutorials do; None when the whole board is not found."""
    if min(size) < OPENCV_MIN_INNER_CORNERS:
        return None
    ok, corners = cv2.findChessboardCorners(gray, size, flags=cv2.CALIB_CB_ADAPTIVE_THRESH
                                            | cv2.CALIB_CB_NORMALIZE_IMAGE)
    if not ok:
        return None
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_MAX_ITER, 40, 0.01)
    return cv2.cornerSubPix(gray, corners, (5, 5), (-1, -1), criteria)


def _detect_charuco(gray: np.ndarray, detector: Detector) -> tuple[np.ndarray, str] | None:
    rows, cols = detector.grid_shape
    found = find_charuco(gray, detector.cols, detector.rows, detector.dictionary, refine_markers=True,
                         min_corners=rows * cols)
    if found is None:
        return None
    xy, ids = found
    grid = np.empty((rows, cols, 2), np.float64)
    grid[ids[:, 1], ids[:, 0]] = xy
    return grid, "CharucoDetector"


def find_charuco(gray: np.ndarray, cols: int, rows: int, dictionary: str, refine_markers: bool = False,
                 min_corners: int = 4) -> tuple[np.ndarray, np.ndarray] | None:
    """A ChArUco board of `cols` x `rows` squares: its corners found (N×2 float32, whole board
    or partial) and their (column, row) ids (N×2 int), or None with fewer than `min_corners`.
    `refine_markers`: look again for missed markers where the board's layout puts them."""
    # Only the grid geometry matters here: square and marker lengths are in arbitrary units.
    board = charuco_board(cols, rows, dictionary)
    params = cv2.aruco.CharucoParameters()
    params.tryRefineMarkers = refine_markers
    corners, ids, _, _ = cv2.aruco.CharucoDetector(board, params).detectBoard(gray)
    if ids is None or len(ids) < min_corners:
        return None
    colrow = np.array([charuco_colrow(int(k), cols) for k in ids.ravel()], np.int32).reshape(-1, 2)
    return corners.reshape(-1, 2), colrow


def find_circles(gray: np.ndarray, size: tuple[int, int], asymmetric: bool) -> np.ndarray | None:
    """The centres (N×2, OpenCV's order) of a whole `size` = (columns, rows) circle grid by
    findCirclesGrid, or None."""
    flags = cv2.CALIB_CB_ASYMMETRIC_GRID if asymmetric else cv2.CALIB_CB_SYMMETRIC_GRID
    ok, centres = cv2.findCirclesGrid(gray, size, flags=flags)
    return centres.reshape(-1, 2) if ok else None


