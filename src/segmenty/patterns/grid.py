"""A board's grid of points as detection and calibration need it (`GridLayout`, built from the
pattern's own `GridSpec` by `grid_layout`): ids, sheet positions, the lattice the points'
growth walks, the millimetres a calibration's object points are in."""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from .base import Pattern

SADDLE, BLOB = "saddle", "blob"  # the kinds of point: a corner between squares, a circle's centre


@dataclass(frozen=True)
class GridLayout:
    """A board's grid of points as detection and calibration need it (built by `grid_layout`).

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

def grid_layout(pattern: Pattern) -> GridLayout | None:
    """The grid of points of a board (its GridSpec, as the pattern's builder states it) as
    detection and calibration need it; None for a pattern without a grid (the `segmenty` page,
    folder patterns), whose geometry stays the mask's."""
    spec = pattern.grid
    if spec is None:
        return None
    names = tuple(spec.ids)
    ids = np.array([spec.ids[n] for n in names], np.int64)
    sheet_xy = np.array([pattern.keypoints[n] for n in names], np.float64)
    mm_per_px = pattern.size_mm[0] / pattern.image.shape[1]
    outline = pattern.outline.astype(np.float64)
    cols, rows = spec.board
    step = float(spec.spacing_px)
    if spec.kind == "circles":
        coords = np.stack([2 * ids[:, 0] + ids[:, 1] % 2, ids[:, 1]], axis=1) if spec.asymmetric else ids.copy()
        basis = np.array([[1, -1], [1, 1]]) if spec.asymmetric else np.eye(2, dtype=np.int64)
        grid, point_kind, mask_name, appearance = (cols, rows), BLOB, "circles", False
    else:
        coords, basis = ids.copy(), np.eye(2, dtype=np.int64)
        grid, point_kind, mask_name, appearance = (cols - 1, rows - 1), SADDLE, "corners", True
    # The outline's distance beyond the outermost points, from the pattern's own geometry.
    margin = float(min(sheet_xy[:, 0].min() - outline[:, 0].min(), sheet_xy[:, 1].min() - outline[:, 1].min(),
                       outline[:, 0].max() - sheet_xy[:, 0].max(), outline[:, 1].max() - sheet_xy[:, 1].max()) / step)
    charuco = (cols, rows, spec.dictionary) if spec.kind == "charuco" else None
    sheet_gray = cv2.cvtColor(pattern.image, cv2.COLOR_RGB2GRAY) if appearance else None
    return GridLayout(point_kind, mask_name, grid, ids, names, sheet_xy, coords, basis, step, margin,
                      mm_per_px, appearance, charuco, sheet_gray)
