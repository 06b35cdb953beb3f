"""The Pattern type and the registry of spec parsers.

A pattern is data: the printed sheet as an RGB image, named binary masks of the same size
(`mask` is what the detector must find), named keypoints in sheet pixels, and the sheet's
physical size. Spec strings such as ``chessboard:10x7:25`` are parsed by the builder
registered under their first word.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from ..errors import UsageError
from ..io import MAX_PIXELS

OUTLINE_KEYPOINTS = ("outline_tl", "outline_tr", "outline_br", "outline_bl")
DEFAULT_DPI = 100.0
MIN_DPI, MAX_DPI = 10.0, 2400.0
MM_PER_INCH = 25.4
# Refuse to render a sheet larger than this (e.g. chessboard:100x100:1000 at 300 dpi) before
# allocating it; the same bound that segmenty.io.read_image puts on images it reads.
MAX_SHEET_PIXELS = MAX_PIXELS


GRID_KINDS = ("chessboard", "charuco", "circles")


@dataclass(frozen=True)
class GridSpec:
    """The grid of points a board prints, as its builder states it (the one owner of this fact).

    kind:        "chessboard", "charuco" or "circles".
    board:       (columns, rows) of the spec: squares of a board, circles of a grid.
    ids:         keypoint name -> (column, row) of each point of the grid, in keypoint order.
                 The ids' convention: a chessboard's inner corner ``corner_RR_CC`` is (CC, RR),
                 (0, 0) the inner corner of the black top-left square, columns along the C
                 side; a ChArUco corner of id k is (k % (C-1), k // (C-1)) (OpenCV's ids);
                 a circle ``circle_RR_CC`` is (CC, RR), OpenCV's findCirclesGrid order.
    spacing_px:  sheet pixels between neighbouring points along a row (square side; circle
                 spacing; an asymmetric grid's same-row circles are two spacings apart).
    spacing_mm:  the same, printed.
    dictionary:  a ChArUco board's ArUco dictionary, else None.
    asymmetric:  a circle grid whose odd rows are shifted by one spacing.
    """

    kind: str
    board: tuple[int, int]
    ids: dict = field(compare=False)
    spacing_px: float
    spacing_mm: float
    dictionary: str | None = None
    asymmetric: bool = False

    def __post_init__(self) -> None:
        if self.kind not in GRID_KINDS:
            raise ValueError(f"GridSpec: kind '{self.kind}' is not one of {', '.join(GRID_KINDS)}")
        if not self.ids or self.spacing_px <= 0 or self.spacing_mm <= 0:
            raise ValueError("GridSpec: needs points and a positive spacing")


def row_col_id(name: str) -> tuple[int, int]:
    """The (column, row) id of a grid keypoint named ``<kind>_RR_CC`` (corner_02_05 -> (5, 2))."""
    _, row, col = name.rsplit("_", 2)
    return int(col), int(row)


@dataclass
class Pattern:
    """A printable pattern.

    image:      H×W×3 uint8 RGB, the whole printed sheet (paper margin included).
    masks:      name -> H×W bool; ``mask`` (the region to detect) is always present.
    keypoints:  name -> (x, y) in sheet pixels, OpenCV's convention (the centre of pixel
                (i, j) is (i, j)); always the four corners of the ``mask``
                outline (OUTLINE_KEYPOINTS, clockwise from top-left) and ``center``.
    size_mm:    physical (width, height) of the sheet in millimetres.
    spec:       the spec string that builds it again.
    grid:       the grid of points a board prints (GridSpec), None for other patterns.
    """

    image: np.ndarray
    masks: dict[str, np.ndarray]
    keypoints: dict[str, tuple[float, float]]
    size_mm: tuple[float, float]
    spec: str
    description: str = ""
    extra: dict = field(default_factory=dict)
    grid: GridSpec | None = None

    def __post_init__(self) -> None:
        h, w = self.image.shape[:2]
        assert self.image.dtype == np.uint8 and self.image.ndim == 3 and self.image.shape[2] == 3
        assert "mask" in self.masks, "a pattern always has a 'mask'"
        for name, m in self.masks.items():
            assert m.shape == (h, w) and m.dtype == bool, f"mask {name} must be {h}x{w} bool"
        for name in (*OUTLINE_KEYPOINTS, "center"):
            assert name in self.keypoints, f"keypoint {name} missing"

    @property
    def mask_names(self) -> list[str]:
        """Mask names in network channel order: ``mask`` first, then the others sorted."""
        return ["mask"] + sorted(n for n in self.masks if n != "mask")

    @property
    def keypoint_names(self) -> list[str]:
        return list(self.keypoints)

    def keypoint_array(self) -> np.ndarray:
        """Keypoints as a K×2 float32 array in `keypoint_names` order."""
        return np.array([self.keypoints[n] for n in self.keypoints], dtype=np.float32).reshape(-1, 2)

    @property
    def outline(self) -> np.ndarray:
        """The ``mask`` outline's corners, 4×2 float32, clockwise from top-left."""
        return np.array([self.keypoints[n] for n in OUTLINE_KEYPOINTS], dtype=np.float32)

    def fingerprint(self) -> str:
        """A short hash of what a detector's geometry takes from the pattern: the sheet's
        pixels, its masks, its keypoints and its size in mm. An ONNX export records its user
        pattern's, so that another folder of the same name is not taken for it."""
        digest = hashlib.sha256(repr((self.image.shape, [round(v, 4) for v in self.size_mm],
                                      self.keypoint_array().round(3).tolist(), self.mask_names)).encode())
        digest.update(np.ascontiguousarray(self.image).tobytes())
        for name in self.mask_names:
            digest.update(np.packbits(self.masks[name]).tobytes())
        return digest.hexdigest()[:16]

    @property
    def dpi(self) -> float:
        return self.image.shape[1] / (self.size_mm[0] / MM_PER_INCH)


Builder = Callable[[list[str], float], Pattern]


@dataclass(frozen=True)
class PatternKind:
    name: str
    build: Builder
    description: str
    examples: tuple[str, ...]


PATTERN_KINDS: dict[str, PatternKind] = {}


def register_pattern(name: str, description: str, examples: tuple[str, ...]):
    """Register a builder ``build(args, dpi) -> Pattern`` for specs ``name[:arg...]``."""
    def deco(build: Builder) -> Builder:
        PATTERN_KINDS[name] = PatternKind(name, build, description, examples)
        return build
    return deco


def parse_grid(spec: str, text: str, *, minimum: int = 2) -> tuple[int, int]:
    """Parse ``CxR`` (columns x rows) with both at least `minimum`."""
    try:
        c, r = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise UsageError(f"pattern '{spec}': '{text}' is not a grid size like 10x7") from None
    if c < minimum or r < minimum:
        raise UsageError(f"pattern '{spec}': grid {c}x{r} is too small (each side at least {minimum})")
    if c > 100 or r > 100:
        raise UsageError(f"pattern '{spec}': grid {c}x{r} is too large (each side at most 100)")
    return c, r


# The smallest grid of points (columns x rows of them, either way round) a board may print:
# a photo's points are grown into a grid from one with a neighbour on either side along one
# axis and one along the other (predict/points/lattice.py), so a smaller board is never found,
# and fewer points than this grid holds are taken for no board (predict/points/find.py's
# MIN_GRID_POINTS is its count).
MIN_POINT_GRID = (2, 3)


def board_size_fits(size: tuple[int, int], smallest: tuple[int, int], either_way: bool = True) -> bool:
    """Whether a board of `size` (columns, rows) is at least `smallest` (either way round
    unless not `either_way`)."""
    if either_way:
        size, smallest = sorted(size), sorted(smallest)
    return all(a >= b for a, b in zip(size, smallest))


def check_board_size(spec: str, size: tuple[int, int], smallest: tuple[int, int], unit: str,
                     either_way: bool = True) -> None:
    """Refuse a board of `size` (columns, rows, in the spec's `unit`) below `smallest` (either
    way round unless not `either_way`): its points could never be found in a photo."""
    if not board_size_fits(size, smallest, either_way):
        turn = ", either way round" if either_way else f": {smallest[0]} a row, {smallest[1]} rows"
        raise UsageError(f"pattern '{spec}': {size[0]}x{size[1]} is too small to be found in a photo "
                         f"(the smallest is {smallest[0]}x{smallest[1]} {unit}{turn})")


def parse_mm(spec: str, text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise UsageError(f"pattern '{spec}': '{text}' is not a size in millimetres") from None
    if not 0.5 <= v <= 1000:
        raise UsageError(f"pattern '{spec}': size {v} mm is out of range (0.5 to 1000)")
    return v


def check_arg_count(spec: str, args: list[str], most: int, usage: str) -> None:
    if len(args) > most:
        raise UsageError(f"pattern '{spec}': too many fields (usage: {usage})")


@dataclass(frozen=True)
class SpecFields:
    """The fields of a ``KIND:CxR[:WORD][:MM]`` spec; `word` and `mm` are None when left out."""

    spec: str
    cols: int
    rows: int
    word: str | None
    mm: float | None


def parse_grid_spec(kind: str, args: list[str], usage: str, default_grid: str, *,
                    takes_word: bool = False) -> SpecFields:
    """Parse the fields after ``KIND:`` of a grid pattern: a grid (default `default_grid`),
    then an optional WORD (if `takes_word`) and an optional size in mm, either of which may be
    left out: they are told apart by whether they parse as a number (``5x7:30``, ``5x7:asym``)."""
    spec = ":".join([kind, *args])
    check_arg_count(spec, args, 3 if takes_word else 2, usage)
    cols, rows = parse_grid(spec, args[0] if args else default_grid)
    fields = list(args[1:])
    word = fields.pop(0) if takes_word and fields and not _is_number(fields[0]) else None
    mm = parse_mm(spec, fields.pop(0)) if fields else None
    if fields:
        raise UsageError(f"pattern '{spec}': unexpected field '{fields[0]}' (usage: {usage})")
    return SpecFields(spec, cols, rows, word, mm)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def length_px(length_mm: float, dpi: float, minimum: int) -> int:
    """A length in whole pixels (at least `minimum`), so that grid lines fall on pixel edges.

    The pattern's real scale is then ``length_px / length_mm``; builders derive `size_mm` from
    it, so the printed length is exactly `length_mm` whatever the rounding.
    """
    return max(minimum, int(round(length_mm / MM_PER_INCH * dpi)))


def check_sheet_pixels(spec: str, width: int, height: int) -> None:
    """Refuse a sheet too large to render, before allocating it."""
    if width * height > MAX_SHEET_PIXELS:
        raise UsageError(f"pattern '{spec}': the sheet would be {width}x{height} pixels, more than "
                         f"{MAX_SHEET_PIXELS:,} (use a smaller size or --dpi)")


def box_keypoints(x0: float, y0: float, x1: float, y1: float) -> dict[str, tuple[float, float]]:
    """Outline corners (clockwise from top-left) and centre of the box whose pixel edges are
    x0..x1, y0..y1, in OpenCV's convention (pixel centres at integers, so edges at -0.5)."""
    x0, y0, x1, y1 = x0 - 0.5, y0 - 0.5, x1 - 0.5, y1 - 0.5
    return {
        "outline_tl": (x0, y0), "outline_tr": (x1, y0),
        "outline_br": (x1, y1), "outline_bl": (x0, y1),
        "center": ((x0 + x1) / 2, (y0 + y1) / 2),
    }


def box_mask(shape: tuple[int, int], x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    """A bool mask of the pixels whose centres lie inside the box [x0, x1) × [y0, y1)."""
    h, w = shape
    m = np.zeros((h, w), bool)
    m[int(round(y0)):int(round(y1)), int(round(x0)):int(round(x1))] = True
    return m


def disc_mask(shape: tuple[int, int], points: Iterable[tuple[float, float]], radius: float) -> np.ndarray:
    """A bool mask of the pixels whose centres lie within `radius` px of any point."""
    h, w = shape
    out = np.zeros((h, w), bool)
    reach = int(np.ceil(radius)) + 1
    for x, y in points:
        # Only a window around each point is touched: a whole-sheet grid per call would cost
        # hundreds of MB at print resolution.
        x0, x1 = max(0, int(np.floor(x)) - reach), min(w, int(np.floor(x)) + reach + 2)
        y0, y1 = max(0, int(np.floor(y)) - reach), min(h, int(np.floor(y)) + reach + 2)
        if x0 >= x1 or y0 >= y1:
            continue
        yy, xx = np.ogrid[y0:y1, x0:x1]
        out[y0:y1, x0:x1] |= (xx - x) ** 2 + (yy - y) ** 2 <= radius ** 2
    return out
