"""Step 4 of `find_grid_points`: the grown lattice placed on the pattern's own grid (every
rotation that keeps the board's handedness, every offset that fits), the board's symmetries
told apart by what the pattern shows (squares' colours, ChArUco markers, an asymmetric
circle grid's layout), else by convention or left relative.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from ...patterns.charuco import charuco_board
from .grid import GridLayout
from .candidates import SADDLE_OFFSET, box_means

# Orientations are told apart by appearance when the best correlation beats the next by this.
APPEARANCE_MARGIN = 0.3

# Points whose surroundings are compared with the sheet to read a whole board's orientation.
APPEARANCE_POINTS = 24

_ROTATIONS = (np.array([[1, 0], [0, 1]]), np.array([[0, -1], [1, 0]]),
              np.array([[-1, 0], [0, -1]]), np.array([[0, 1], [-1, 0]]))


@dataclass
class _Placement:
    matrix: np.ndarray   # lattice -> coords (basis @ rotation)
    offset: np.ndarray   # coords = matrix @ lattice + offset

    def coords(self, lattice: np.ndarray) -> np.ndarray:
        return lattice @ self.matrix.T + self.offset


def placements(lattice: np.ndarray, layout: GridLayout) -> list[_Placement]:
    """Every way to lay the observed lattice nodes (N×2 int, handedness already the
    pattern's) onto the pattern's points: a rotation, then an offset that puts every node on
    a point of the pattern."""
    coords = layout.coords
    low, high = coords.min(axis=0), coords.max(axis=0)
    occupied = np.zeros(tuple(high - low + 1)[::-1], bool)
    occupied[coords[:, 1] - low[1], coords[:, 0] - low[0]] = True
    found = []
    for rotation in _ROTATIONS:
        matrix = layout.basis @ rotation
        x = lattice @ matrix.T
        span = x.max(axis=0) - x.min(axis=0)
        if (span > high - low).any():
            continue
        # Offsets putting the nodes' bounding box inside the pattern's.
        for ty in range(int(high[1] - low[1] - span[1]) + 1):
            for tx in range(int(high[0] - low[0] - span[0]) + 1):
                shifted = x - x.min(axis=0) + np.array([tx, ty])
                if occupied[shifted[:, 1], shifted[:, 0]].all():
                    offset = np.array([tx, ty]) + low - x.min(axis=0)
                    found.append(_Placement(matrix, offset))
    return found


def assign_ids(nodes: dict, layout: GridLayout, gray: np.ndarray | None = None,
               markers: tuple | None = None) -> tuple[np.ndarray, bool, str] | None:
    """(N×2 ids in `nodes` order, partial, identity) for grown lattice nodes -> photo
    positions; None when the nodes cannot lie on the pattern (not this board).

    `gray` (the photo) lets a whole board's orientation be read from its squares; `markers`
    ((corners, ids) from cv2.aruco) fix a ChArUco board's ids, even in a partial view."""
    keys = list(nodes)
    lattice = np.array(keys, np.int64)
    xy = np.array([nodes[k] for k in keys], np.float64)
    # Keep the pattern's handedness: a camera never sees the board mirrored.
    if _handedness(nodes) * np.sign(np.linalg.det(layout.basis)) < 0:
        lattice = lattice[:, ::-1].copy()
    options = placements(lattice, layout)
    if not options:
        return None
    partial = len(keys) < layout.count

    def ids_of(option: _Placement) -> np.ndarray:
        rows = [layout.index[tuple(c)] for c in option.coords(lattice).tolist()]
        return layout.ids[rows]

    if markers is not None and layout.charuco is not None:
        chosen = _by_markers(options, lattice, xy, layout, markers)
        if chosen is not None:
            return ids_of(chosen), partial, "markers"
    span = layout.coords.max(axis=0) - layout.coords.min(axis=0)
    if all((np.ptp(o.coords(lattice), axis=0) == span).all() for o in options):
        # The grid spans the whole board (a point or two may be missing): only the board's own
        # symmetries are left to choose from.
        if len(options) == 1:
            return ids_of(options[0]), partial, "layout"
        if layout.appearance and gray is not None:
            scores = [_appearance(gray, xy, ids_of(o), layout) for o in options]
            order = np.argsort(scores)[::-1]
            if scores[order[0]] - scores[order[1]] >= APPEARANCE_MARGIN:
                return ids_of(options[order[0]]), partial, "squares"

        # Symmetric under a half-turn: (0, 0) is the end of the board higher in the photo.
        def first_point(o):
            ids = ids_of(o)
            k = int(np.argmin(ids[:, 0] + ids[:, 1]))
            return (round(float(xy[k, 1]), 3), round(float(xy[k, 0]), 3))
        return ids_of(min(options, key=first_point)), partial, "convention"

    # Part of the board: relative ids. The rotation whose column axis is closest to the
    # photo's x axis, then the offset putting the grid at the top-left of the id range.
    def preference(o):
        ids = ids_of(o)
        along_x = _axis_direction(xy, ids, 0)
        return (-round(float(along_x[0]), 6), int(ids[:, 1].min()), int(ids[:, 0].min()))
    return ids_of(min(options, key=preference)), True, "relative"


def _handedness(nodes: dict) -> float:
    """The sign of the photo's lattice step i × step j (y down: positive = clockwise, as the
    sheet's x and y axes)."""
    u, v = np.zeros(2), np.zeros(2)
    for (i, j), p in nodes.items():
        if (i + 1, j) in nodes:
            u += nodes[(i + 1, j)] - p
        if (i, j + 1) in nodes:
            v += nodes[(i, j + 1)] - p
    return float(np.sign(u[0] * v[1] - u[1] * v[0]))


def _axis_direction(xy: np.ndarray, ids: np.ndarray, axis: int) -> np.ndarray:
    """The mean photo direction (unit) in which id `axis` grows."""
    lookup = {tuple(i): p for i, p in zip(ids.tolist(), xy)}
    total = np.zeros(2)
    for i, p in lookup.items():
        n = list(i)
        n[axis] += 1
        if tuple(n) in lookup:
            total += lookup[tuple(n)] - p
    return total / (np.linalg.norm(total) + 1e-12)


def _local_affines(xy: np.ndarray, sheet: np.ndarray, which) -> list[np.ndarray | None]:
    """For the points `which`, the 2×2 linear map sheet px -> photo px fitted (least squares)
    to each one's nearest neighbours; None where those neighbours lie on one line. All points
    in one stacked SVD: a least-squares call a point was most of reading the orientation."""
    which = np.asarray(list(which), np.int64)
    if not len(which):
        return []
    d = np.linalg.norm(sheet[which][:, None] - sheet[None], axis=2)  # the rows asked for only
    near = np.argsort(d, axis=1)[:, 1:9]
    ds, dp = sheet[near] - sheet[which][:, None], xy[near] - xy[which][:, None]  # n×k×2 each
    u, sv, vt = np.linalg.svd(ds, full_matrices=False)
    good = sv[:, -1] > 1e-6  # np.linalg.matrix_rank(ds, tol=1e-6) == 2
    # ds⁺ dp = V S⁻¹ Uᵀ dp, the least-squares solution of ds · a = dp
    inverse = np.divide(1.0, sv, out=np.zeros_like(sv), where=good[:, None])
    a = np.matmul(vt.transpose(0, 2, 1) * inverse[:, None, :], np.matmul(u.transpose(0, 2, 1), dp))
    return [m.T if ok else None for m, ok in zip(a, good)]


def _appearance(gray: np.ndarray, xy: np.ndarray, ids: np.ndarray, layout: GridLayout) -> float:
    """Correlation between the photo and the sheet around every point under these ids: the
    sheet's brightness at the four squares around each point, against the photo's there."""
    sheet_image = layout.sheet_gray
    sheet = layout.sheet_xy[layout.rows_of(ids)]
    offsets = SADDLE_OFFSET * layout.step_px * np.array([(1, 1), (1, -1), (-1, -1), (-1, 1)], np.float64)
    # Every point tells the same story: a spread-out sample of APPEARANCE_POINTS is enough.
    keep = np.linspace(0, len(xy) - 1, min(len(xy), APPEARANCE_POINTS)).round().astype(int)
    fitted = [(k, a) for k, a in zip(keep, _local_affines(xy, sheet, keep)) if a is not None]
    if not fitted:
        return 0.0
    rows = np.array([k for k, _ in fitted])
    affines = np.array([a for _, a in fitted])
    # each point's four squares (point-major), in the photo and on the sheet
    photo_offsets = np.einsum("nij,oj->noi", affines, offsets)
    radius = np.maximum(1.0, 0.06 * np.sqrt((photo_offsets[:, 0] ** 2).sum(axis=1)))
    seen = box_means(gray, (xy[rows, None] + photo_offsets).reshape(-1, 2), np.repeat(radius, len(offsets)))
    expected = box_means(sheet_image, (sheet[rows, None] + offsets).reshape(-1, 2), 0.06 * layout.step_px)
    both = np.isfinite(seen) & np.isfinite(expected)
    seen, expected = seen[both], expected[both]
    if len(seen) < 8 or np.std(seen) == 0 or np.std(expected) == 0:
        return 0.0
    return float(np.corrcoef(seen, expected)[0, 1])


def _by_markers(options: list[_Placement], lattice: np.ndarray, xy: np.ndarray, layout: GridLayout,
                markers: tuple) -> _Placement | None:
    """The placement most ChArUco markers agree with (each marker's centre, in lattice
    coordinates, must fall on its own square); None when no marker votes."""
    corners, marker_ids = markers
    if marker_ids is None or not len(marker_ids):
        return None
    squares = _charuco_marker_coords(layout)
    centres = np.array([c.reshape(-1, 2).mean(axis=0) for c in corners])
    local = _to_lattice(centres, lattice, xy)
    votes = []
    for o in options:
        count = 0
        for m, q in zip(np.asarray(marker_ids).ravel(), local):
            if q is None or int(m) not in squares:
                continue
            c = o.matrix @ q + o.offset
            count += bool(np.linalg.norm(c - squares[int(m)]) < 0.3)
        votes.append(count)
    if not votes or max(votes) == 0:
        return None
    best = int(np.argmax(votes))
    if sorted(votes)[-2:] == [votes[best]] * 2 and len(votes) > 1:
        return None  # a tie: the markers do not decide
    return options[best]


@functools.lru_cache(maxsize=8)
def _charuco_marker_table(cols: int, rows: int, dictionary: str) -> tuple:
    """(marker id, its centre in `coords` units: squares from the first inner corner) of
    every marker of OpenCV's ChArUco board."""
    board = charuco_board(cols, rows, dictionary)
    table = []
    for m, obj in zip(np.asarray(board.getIds()).ravel(), board.getObjPoints()):
        centre = np.asarray(obj, np.float64).reshape(-1, 3)[:, :2].mean(axis=0)  # in squares
        table.append((int(m), tuple(centre - 1.0)))  # the first inner corner is (1, 1) squares in
    return tuple(table)


def _charuco_marker_coords(layout: GridLayout) -> dict[int, np.ndarray]:
    cols, rows, dictionary = layout.charuco
    return {m: np.array(c) for m, c in _charuco_marker_table(cols, rows, dictionary)}


def _to_lattice(points: np.ndarray, lattice: np.ndarray, xy: np.ndarray) -> list[np.ndarray | None]:
    """Photo points -> fractional lattice coordinates, by an affine map fitted to the nearest
    grid nodes (local: follows distortion)."""
    out = []
    for p in points:
        near = np.argsort(np.linalg.norm(xy - p, axis=1))[:6]
        if len(near) < 3:
            out.append(None)
            continue
        a, *_ = np.linalg.lstsq(np.c_[xy[near], np.ones(len(near))], lattice[near].astype(np.float64), rcond=None)
        out.append(np.r_[p, 1.0] @ a)
    return out
