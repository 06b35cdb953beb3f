"""The grid a pattern prints and the points seen of it: `GridLayout` (the pattern's grid of
points, read from its keypoints: kind, size, sheet positions, ids, millimetres) and
`GridPoints` (one photo's points with their ids and confidences).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import cv2
import numpy as np

from ...patterns import Pattern

SADDLE, BLOB = "saddle", "blob"

IDENTITIES = ("squares", "markers", "layout", "convention", "relative")


@dataclass
class GridPoints:
    """A board's points seen in one photo.

    xy:          N×2 float32, sub-pixel positions in photo pixels (OpenCV convention).
    ids:         N×2 int32, each point's (column, row) on the pattern's grid of points, unique.
    confidence:  N float32 in [0, 1]: the network's probability at the point, halved for a
                 point the network missed and the photo search found.
    grid:        (columns, rows) of the pattern's grid of points (ids lie within it).
    partial:     not every point of the board is in view.
    identity:    how the ids were fixed: "squares" (the squares' colours tell a whole board's
                 orientation), "markers" (ChArUco markers: absolute even in a partial view),
                 "layout" (an asymmetric layout fits one way only), "convention" (a board
                 symmetric under a half-turn: (0, 0) is the end higher in the photo), or
                 "relative" (a partial view that cannot be placed on the board: ids are
                 consistent within the view, relative to its visible grid).
    """

    xy: np.ndarray
    ids: np.ndarray
    confidence: np.ndarray
    grid: tuple[int, int]
    partial: bool
    identity: str

    def __post_init__(self) -> None:
        self.xy = np.asarray(self.xy, np.float32).reshape(-1, 2)
        self.ids = np.asarray(self.ids, np.int32).reshape(-1, 2)
        self.confidence = np.asarray(self.confidence, np.float32).reshape(-1)
        self.grid = (int(self.grid[0]), int(self.grid[1]))
        n = len(self.xy)
        if len(self.ids) != n or len(self.confidence) != n:
            raise ValueError(f"GridPoints: {n} positions, {len(self.ids)} ids, {len(self.confidence)} confidences")
        if not np.isfinite(self.xy).all():
            raise ValueError("GridPoints: positions must be finite")
        if n and ((self.ids < 0).any() or (self.ids >= np.array(self.grid)).any()):
            raise ValueError(f"GridPoints: ids outside the {self.grid[0]}x{self.grid[1]} grid")
        if len({tuple(i) for i in self.ids.tolist()}) != n:
            raise ValueError("GridPoints: ids must be unique")
        if n and not ((self.confidence >= 0) & (self.confidence <= 1)).all():
            raise ValueError("GridPoints: confidence must lie in [0, 1]")
        if self.identity not in IDENTITIES:
            raise ValueError(f"GridPoints: identity '{self.identity}' is not one of {', '.join(IDENTITIES)}")

    def __len__(self) -> int:
        return len(self.xy)

    @property
    def absolute(self) -> bool:
        """The ids are the board's own (the same point has the same id in every view)."""
        return self.identity != "relative"

    def summary(self) -> dict:
        """Plain JSON-able values (predictions.json)."""
        return {"count": len(self), "grid": list(self.grid), "partial": self.partial,
                "identity": self.identity, "absolute": self.absolute,
                "xy": np.round(self.xy.astype(np.float64), 3).tolist(), "ids": self.ids.tolist(),
                "confidence": np.round(self.confidence.astype(np.float64), 3).tolist()}


@dataclass(frozen=True)
class GridLayout:
    """A grid pattern's points as this module needs them (built by `grid_layout`).

    kind:         SADDLE (chessboard or ChArUco inner corners) or BLOB (circle centres).
    feature_mask: the network mask whose blobs mark the points.
    grid:         (columns, rows) of ids.
    ids:          K×2 int (column, row) of every point, in the pattern's keypoint order.
    names:        the pattern keypoint name of each.
    sheet_xy:     K×2 float64 sheet pixels of each.
    coords:       K×2 int: each point on the integer lattice of the sheet (x, y in steps from
                  the first point): (col, row) for rectangular grids, (2 col + row % 2, row)
                  for an asymmetric circle grid.
    basis:        2×2 int, columns = the two nearest-neighbour steps in `coords` units (what
                  grid growth finds in a photo): the unit steps, or the diagonals of an
                  asymmetric grid.
    step_px:      one `coords` unit on the sheet in pixels (square side, circle spacing).
    margin:       the `mask` outline's distance beyond the outermost points, in steps (1 for a
                  board's squares area, 0.5 for a circle grid's outline).
    mm_per_px:    the sheet's scale.
    appearance:   the sheet's brightness around a point depends on the point (squares): a
                  whole view's orientation can be read from it.
    charuco:      (cols, rows, dictionary name) of a ChArUco board, else None.
    sheet_gray:   the printed sheet in gray (what the photo's squares are compared with).
    """

    kind: str
    feature_mask: str
    grid: tuple[int, int]
    ids: np.ndarray
    names: tuple[str, ...]
    sheet_xy: np.ndarray
    coords: np.ndarray
    basis: np.ndarray
    step_px: float
    margin: float
    mm_per_px: float
    appearance: bool
    charuco: tuple | None = None
    sheet_gray: np.ndarray | None = field(default=None, compare=False, repr=False)
    index: dict = field(default_factory=dict, compare=False, repr=False)  # coords -> row

    def __post_init__(self) -> None:
        self.index.update({tuple(c): i for i, c in enumerate(self.coords.tolist())})

    @property
    def count(self) -> int:
        return len(self.ids)

    def rows_of(self, ids: np.ndarray) -> np.ndarray:
        """Rows of the layout arrays for N×2 ids (each must exist)."""
        cols = self.grid[0]
        lookup = self._id_lookup()
        return lookup[np.asarray(ids)[:, 1] * cols + np.asarray(ids)[:, 0]]

    def _id_lookup(self) -> np.ndarray:
        lookup = np.full(self.grid[0] * self.grid[1], -1, np.int64)
        lookup[self.ids[:, 1] * self.grid[0] + self.ids[:, 0]] = np.arange(self.count)
        return lookup

    def object_points(self, ids: np.ndarray) -> np.ndarray:
        """N×3 float32 board coordinates in millimetres (z = 0) of points with these ids, the
        first point of the grid at the origin: what cv2.calibrateCamera takes."""
        rows = self.rows_of(ids)
        xy = (self.sheet_xy[rows] - self.sheet_xy[self.rows_of(np.zeros((1, 2), int))[0]]) * self.mm_per_px
        return np.concatenate([xy, np.zeros((len(xy), 1))], axis=1).astype(np.float32)

_KEYPOINT_FORMS = {"chessboard": re.compile(r"corner_(\d+)_(\d+)$"), "circles": re.compile(r"circle_(\d+)_(\d+)$"),
                   "charuco": re.compile(r"charuco_(\d+)$")}


def grid_layout(pattern: Pattern) -> GridLayout | None:
    """The grid of points of a built-in grid pattern (chessboard, ChArUco, circle grid); None
    for any other pattern (the `segmenty` page, folder patterns), whose geometry stays the
    mask's."""
    kind = pattern.spec.split(":")[0]
    if kind not in _KEYPOINT_FORMS or "grid" not in pattern.extra:
        return None
    cols, rows = pattern.extra["grid"]
    form = _KEYPOINT_FORMS[kind]
    names, ids = [], []
    for name in pattern.keypoints:
        m = form.match(name)
        if not m:
            continue
        if kind == "charuco":
            k = int(m.group(1))
            ids.append((k % (cols - 1), k // (cols - 1)))
        else:
            ids.append((int(m.group(2)), int(m.group(1))))
        names.append(name)
    if not names:
        return None
    ids = np.array(ids, np.int64)
    sheet_xy = np.array([pattern.keypoints[n] for n in names], np.float64)
    mm_per_px = pattern.size_mm[0] / pattern.image.shape[1]
    outline = pattern.outline.astype(np.float64)
    if kind == "circles":
        step = float(pattern.extra["spacing_px"])
        asymmetric = bool(pattern.extra.get("asymmetric"))
        coords = np.stack([2 * ids[:, 0] + ids[:, 1] % 2, ids[:, 1]], axis=1) if asymmetric else ids.copy()
        basis = np.array([[1, -1], [1, 1]]) if asymmetric else np.eye(2, dtype=np.int64)
        grid, point_kind, mask_name, appearance = (cols, rows), BLOB, "circles", False
    else:
        step = float(pattern.extra["square_px"])
        coords, basis = ids.copy(), np.eye(2, dtype=np.int64)
        grid, point_kind, mask_name, appearance = (cols - 1, rows - 1), SADDLE, "corners", True
    # The outline's distance beyond the outermost points, from the pattern's own geometry.
    margin = float(min(sheet_xy[:, 0].min() - outline[:, 0].min(), sheet_xy[:, 1].min() - outline[:, 1].min(),
                       outline[:, 0].max() - sheet_xy[:, 0].max(), outline[:, 1].max() - sheet_xy[:, 1].max()) / step)
    charuco = (cols, rows, pattern.extra["dictionary"]) if kind == "charuco" else None
    sheet_gray = cv2.cvtColor(pattern.image, cv2.COLOR_RGB2GRAY) if appearance else None
    return GridLayout(point_kind, mask_name, grid, ids, tuple(names), sheet_xy, coords, basis, step, margin,
                      mm_per_px, appearance, charuco, sheet_gray)
