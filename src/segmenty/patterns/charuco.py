"""ChArUco boards: ``charuco:CxR[:DICT][:SQUARE_MM]``.

C x R squares (3x4 at least, either way round, like a chessboard) drawn by OpenCV's own
`cv2.aruco.CharucoBoard` (so `cv2.aruco.CharucoDetector` reads it back), ArUco markers of half a square's side in the white squares, on white paper
with a one-square margin like the chessboard. Defaults: DICT_6X6_250, 25 mm squares.
``mask`` is exactly the squares area; ``corners`` a small disc on every inner corner; the
inner corners are keypoints named by their ChArUco id (``charuco_000`` ...).

The optional fields are told apart by whether they parse as a number: ``charuco:5x7:30`` has
30 mm squares, ``charuco:5x7:4x4_50`` a DICT_4X4_50 dictionary.
"""
from __future__ import annotations

import cv2

from ..errors import UsageError, unknown_name
from .base import GridSpec, Pattern, check_board_size, parse_grid_spec, register_pattern
from .chessboard import DEFAULT_SQUARE_MM, SMALLEST_SQUARES, board_pattern, board_square_px

USAGE = "charuco:CxR[:DICT][:SQUARE_MM], e.g. charuco:5x7:DICT_6X6_250:25"
DEFAULT_DICTIONARY = "DICT_6X6_250"
MARKER_PER_SQUARE = 0.5
MARKER_BORDER_BITS = 1
MIN_PX_PER_MARKER_BIT = 2  # a marker bit narrower than this on the sheet is not readable


def dictionary_names() -> list[str]:
    """The predefined ArUco dictionaries of this OpenCV (upper case, without aliases)."""
    return sorted({name.upper() for name in dir(cv2.aruco) if name.startswith("DICT_")})


def charuco_board(cols: int, rows: int, dictionary_name: str, square: float = 1.0) -> cv2.aruco.CharucoBoard:
    """OpenCV's ChArUco board of C x R squares of side `square` (any unit), markers
    MARKER_PER_SQUARE of a square: what the pattern draws and what detectors read back."""
    dictionary = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, dictionary_name))
    return cv2.aruco.CharucoBoard((cols, rows), float(square), square * MARKER_PER_SQUARE, dictionary)


def charuco_colrow(corner_id: int, cols: int) -> tuple[int, int]:
    """The (column, row) of ChArUco corner `corner_id` on a board of `cols` squares a row (its
    inner corners run row by row, `cols` - 1 to a row): the one owner of this convention."""
    return corner_id % (cols - 1), corner_id // (cols - 1)


def parse_dictionary(spec: str, text: str) -> str:
    """``DICT_6X6_250`` or ``6x6_250`` (any case) -> the canonical name ``DICT_6X6_250``."""
    name = text.upper()
    if not name.startswith("DICT_"):
        name = "DICT_" + name
    valid = dictionary_names()
    if name not in valid:
        raise UsageError(f"pattern '{spec}': {unknown_name('ArUco dictionary', name, valid)}")
    return name


@register_pattern("charuco", "ChArUco board of C x R squares (OpenCV's layout, markers half a square) "
                  "with a one-square white margin; masks mask (squares area), corners",
                  ("charuco:5x7", "charuco:7x5:DICT_4X4_50:30"))
def build_charuco(args: list[str], dpi: float) -> Pattern:
    fields = parse_grid_spec("charuco", args, USAGE, "5x7", takes_word=True)
    spec, cols, rows, square_mm = fields.spec, fields.cols, fields.rows, fields.mm or DEFAULT_SQUARE_MM
    check_board_size(spec, (cols, rows), SMALLEST_SQUARES, "squares")
    dictionary_name = parse_dictionary(spec, fields.word or DEFAULT_DICTIONARY)
    dictionary = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, dictionary_name))
    markers_needed, markers_available = cols * rows // 2, dictionary.bytesList.shape[0]
    if markers_needed > markers_available:
        raise UsageError(f"pattern '{spec}': a {cols}x{rows} board needs {markers_needed} markers but "
                         f"{dictionary_name} has only {markers_available} (use a larger dictionary)")
    # The marker (its bits plus the black border) must stay readable at this resolution.
    marker_bits = dictionary.markerSize + 2 * MARKER_BORDER_BITS
    min_square_px = int(round(marker_bits * MIN_PX_PER_MARKER_BIT / MARKER_PER_SQUARE))
    s = board_square_px(spec, cols, rows, square_mm, dpi, minimum=min_square_px)
    board = charuco_board(cols, rows, dictionary_name, s)
    image = board.generateImage((cols * s, rows * s), marginSize=0, borderBits=MARKER_BORDER_BITS)
    # With the square length given in pixels, OpenCV's corner positions are board pixel edges;
    # the corner's index in this list is its ChArUco id.
    xy = board.getChessboardCorners()
    corners = {f"charuco_{i:03d}": (float(x), float(y)) for i, (x, y, _z) in enumerate(xy)}
    ids = {f"charuco_{i:03d}": charuco_colrow(i, cols) for i in range(len(xy))}
    return board_pattern(image, corners, s, square_mm,
                         f"charuco:{cols}x{rows}:{dictionary_name}:{square_mm:g}",
                         f"ChArUco {cols}x{rows} squares of {square_mm:g} mm, {dictionary_name}",
                         GridSpec("charuco", (cols, rows), ids, float(s), float(square_mm), dictionary_name),
                         {"marker_px": s * MARKER_PER_SQUARE})
