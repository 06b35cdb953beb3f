"""The pattern's points with their identities, and the board's geometry derived from them.

For a grid pattern (chessboard and ChArUco inner corners, circle-grid centres) the network's
point mask (`corners`, `circles`) is a heat map with a blob on every point. This module turns
it into what a camera calibration needs, `GridPoints`: sub-pixel positions on the photo, each
with its grid identity (column, row) and a confidence; and from those points, the board's
mask, outline and homography (`grid_geometry`), so that the geometry is the grid's, not a
blob's.

How (`find_grid_points`):
1. Candidates: local maxima of the heat map inside the board's region (blob centres for
   circles, whose discs are large).
2. Refinement on the photo at full resolution: `cv2.cornerSubPix` for saddle points, with a
   window sized from the local grid spacing (a fixed window either reaches the neighbouring
   corners of a small board or wastes the precision of a large one), then a saddle-point fit
   (a quadratic surface on the lightly smoothed photo, also near the frame); for circles the
   centroid of the dark blob (Otsu threshold on a patch one spacing wide).
3. Grid growth from a seed (the candidate whose four nearest neighbours best form a cross):
   each neighbour's position is predicted from the grid already grown around it (the
   parallelogram of its neighbours and the continuation of its row), so the prediction follows
   perspective and strong barrel distortion, which one global homography does not; the
   nearest candidate within a fraction of the local spacing is accepted. Where the network
   missed a point the grid predicts inside the photo (often at the frame, where lens
   distortion is strongest), the photo itself is searched there, and the point is kept only if
   it is a real corner (the four squares around it alternate dark and bright) or a dark blob.
4. Identities: the grown lattice is placed on the pattern's own grid of points (every rotation
   that keeps the board's handedness, every offset that fits). A whole board leaves only the
   board's symmetries, told apart by what the pattern shows: the squares' colours (a 10x7
   chessboard has an even and an odd side, so it differs from its half-turn), ChArUco markers
   (which also fix the ids of a partial view), an asymmetric circle grid's layout. A board
   that is truly symmetric under a half-turn (e.g. 9x7 squares, a symmetric circle grid) is
   numbered by convention: id (0, 0) is the end of the board higher in the photo
   (`identity == "convention"`). A partial chessboard or circle grid cannot be placed: its ids
   are relative to the visible grid (`identity == "relative"`; (0, 0) at its top-left, the
   column axis the one closer to the photo's x axis).

Conventions: ids follow the pattern's own keypoints, so they index the printed sheet: for a
chessboard, (col, row) of keypoint ``corner_RR_CC`` is (CC, RR), (0, 0) is the inner corner of
the black top-left square of the sheet `segmenty pattern` draws, columns run along the C side
of ``chessboard:CxR``. (OpenCV's ``findChessboardCornersSB`` numbers a 10x7 board from the
other end: its corner k is our id (8 - k % 9, 5 - k // 9).) ChArUco: the id is (k % (C-1),
k // (C-1)) for ChArUco corner id k. Circles: (CC, RR) of ``circle_RR_CC``, OpenCV's order.

Pure numpy/OpenCV (no torch): testable on rendered scenes and synthetic heat maps alone.
"""
from __future__ import annotations

import functools
import math
import re
import weakref
from dataclasses import dataclass, field

import cv2
import numpy as np

from ..patterns import Pattern
from ..patterns.charuco import charuco_board

SADDLE, BLOB = "saddle", "blob"
IDENTITIES = ("squares", "markers", "layout", "convention", "relative")

# A candidate is accepted for a predicted grid position within this share of the local spacing.
MATCH_RADIUS = 0.3
# cornerSubPix's half window, as a share of the local spacing (the window then spans 0.6 of a
# square: the corner's four squares, never the neighbouring corners).
SUBPIX_WINDOW = 0.3
MIN_SUBPIX_WINDOW, MAX_SUBPIX_WINDOW = 2, 25
# The saddle fit after cornerSubPix: window half-size and smoothing as shares of the spacing,
# and how far it may move the point (further: it fitted something else; keep cornerSubPix's).
SADDLE_FIT_WINDOW = 0.15
SADDLE_FIT_BLUR = 0.05
SADDLE_FIT_SHIFT = 0.05
SADDLE_FIT_MIN_SHARE = 0.5
# A refined point that moved further than this share of the spacing from where it was looked
# for converged onto something else.
MAX_REFINE_SHIFT = 0.25
# The saddle test samples the four squares around a corner at this share of the spacing along
# the diagonals (close to the corner: a ChArUco marker fills the middle of its white square).
SADDLE_OFFSET = 0.22
# A searched (not network-found) corner's squares must differ by at least this share of the
# board's median corner contrast.
MIN_SADDLE_CONTRAST = 0.35
# Heat-map peaks closer than this share of the typical spacing are one point.
NMS_SHARE = 0.35
# Heat-map peaks lower than this are not candidates.
PEAK_THRESHOLD = 0.3
# A view with fewer points than this is not a board (too few to check they form a grid).
MIN_GRID_POINTS = 6
# Orientations are told apart by appearance when the best correlation beats the next by this.
APPEARANCE_MARGIN = 0.3
# The grid may first grow this many rows or columns beyond the pattern's size (then the
# weakest are cut): a false point at the board's edge cannot keep a true row out.
GROWTH_SLACK = 2
# Points whose surroundings are compared with the sheet to read a whole board's orientation.
APPEARANCE_POINTS = 24
# Seeds tried for growing the grid (the best-shaped candidates first).
MAX_SEEDS = 6

_ROTATIONS = (np.array([[1, 0], [0, 1]]), np.array([[0, -1], [1, 0]]),
              np.array([[-1, 0], [0, -1]]), np.array([[0, 1], [-1, 0]]))
_STEPS4 = ((1, 0), (-1, 0), (0, 1), (0, -1))


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


# -- 1. candidates ------------------------------------------------------------------------------

def heat_candidates(heat: np.ndarray, region: np.ndarray | None = None, kind: str = SADDLE,
                    threshold: float = PEAK_THRESHOLD) -> tuple[np.ndarray, np.ndarray]:
    """Candidate points (K×2, photo px) and their heat (K) from a point heat map (H×W float in
    [0, 1]); only inside `region` (H×W bool) when given.

    Saddle points: local maxima of the slightly smoothed map (two corners whose blobs touch on
    a small board still give two peaks). Circles: centroids of the blobs above 0.5 (a disc's
    plateau has no single peak)."""
    heat = np.asarray(heat, np.float32)
    if region is not None:
        ys, xs = np.nonzero(region)
        if not len(xs):
            return np.zeros((0, 2)), np.zeros(0)
        x0, y0, x1, y1 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
    else:
        x0, y0, (y1, x1) = 0, 0, heat.shape
    window = heat[y0:y1, x0:x1]
    inside = region[y0:y1, x0:x1] if region is not None else None
    if kind == BLOB:
        n, labels, stats, centroids = cv2.connectedComponentsWithStats((window > 0.5).astype(np.uint8))
        keep = [i for i in range(1, n) if inside is None or inside[int(round(centroids[i][1])), int(round(centroids[i][0]))]]
        xy = centroids[keep].reshape(-1, 2)
        strength = ndimage_max(window, labels, keep)
        return xy + np.array([x0, y0]), strength
    smooth = cv2.GaussianBlur(window, (0, 0), 1.0)
    peaks = (smooth >= cv2.dilate(smooth, np.ones((5, 5), np.uint8))) & (smooth > threshold)
    if inside is not None:
        peaks &= inside
    ys, xs = np.nonzero(peaks)
    if not len(xs):
        return np.zeros((0, 2)), np.zeros(0)
    # A plateau gives several equal maxima side by side: keep one per 3×3 neighbourhood.
    n, labels, stats, centroids = cv2.connectedComponentsWithStats(
        cv2.dilate(peaks.astype(np.uint8), np.ones((3, 3), np.uint8)))
    xy = centroids[1:]
    strength = ndimage_max(window, labels, range(1, n))
    return xy + np.array([x0, y0]), strength


def ndimage_max(values: np.ndarray, labels: np.ndarray, which) -> np.ndarray:
    """The largest value under each label in `which` (one pass over the image)."""
    which = np.asarray(list(which), np.int64)
    top = np.zeros(int(labels.max()) + 1, np.float64)
    flat = labels.ravel()
    labelled = np.flatnonzero(flat)  # label 0 (the background) is never asked for
    if len(labelled):
        lab = flat[labelled]
        order = np.argsort(lab, kind="stable")
        lab = lab[order]
        starts = np.flatnonzero(np.r_[True, lab[1:] != lab[:-1]])
        top[lab[starts]] = np.maximum.reduceat(values.ravel()[labelled][order].astype(np.float64), starts)
    return top[which] if len(which) else np.zeros(0)


# -- 2. refinement on the photo ------------------------------------------------------------------

def refine_points(gray: np.ndarray, xy: np.ndarray, spacing: np.ndarray, kind: str = SADDLE
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Refined positions (N×2) and whether each refinement is trustworthy (N bool): converged
    within MAX_REFINE_SHIFT of the spacing, with its window inside the photo."""
    xy = np.asarray(xy, np.float64).reshape(-1, 2)
    spacing = np.broadcast_to(np.asarray(spacing, np.float64), (len(xy),))
    out, ok = xy.copy(), np.zeros(len(xy), bool)
    if not len(xy):
        return out, ok
    h, w = gray.shape
    border = np.minimum.reduce([xy[:, 0], xy[:, 1], w - 1 - xy[:, 0], h - 1 - xy[:, 1]])
    if kind == BLOB:
        for i, (p, s) in enumerate(zip(xy, spacing)):
            found = _blob_centre(gray, p, s)
            if found is not None:
                out[i], ok[i] = found, True
    else:
        subpix_corners(gray, xy, spacing, border, out, ok)
        # cornerSubPix converges from a rough start; the saddle fit is then the more precise
        # (rendered scenes with exact corners, benchmarks/README.md: median error 0.07 px
        # against cornerSubPix's 0.12 px).
        which = np.nonzero(ok)[0]
        for i, fitted in zip(which, saddle_points(gray, out[which], spacing[which])):
            if fitted is not None and np.linalg.norm(fitted - out[i]) <= SADDLE_FIT_SHIFT * spacing[i]:
                out[i] = fitted
    moved = np.linalg.norm(out - xy, axis=1)
    ok &= moved <= MAX_REFINE_SHIFT * spacing
    ok &= (out[:, 0] >= 0) & (out[:, 1] >= 0) & (out[:, 0] <= w - 1) & (out[:, 1] <= h - 1)
    return out, ok


def subpix_corners(gray: np.ndarray, xy: np.ndarray, spacing: np.ndarray, border: np.ndarray,
                   out: np.ndarray, ok: np.ndarray) -> None:
    """cornerSubPix on every point whose window fits the photo (`border`: its distance to the
    frame), one call per window size (a window follows the spacing); writes the refined
    positions into `out` and marks them in `ok`."""
    windows = np.clip(np.minimum(np.round(SUBPIX_WINDOW * spacing), np.floor(border) - 2),
                      MIN_SUBPIX_WINDOW, MAX_SUBPIX_WINDOW).astype(int)
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_MAX_ITER, 50, 0.005)
    usable = border >= MIN_SUBPIX_WINDOW + 2
    for win in np.unique(windows[usable]):
        sel = np.nonzero(usable & (windows == win))[0]
        pts = xy[sel].astype(np.float32).reshape(-1, 1, 2)
        out[sel] = cv2.cornerSubPix(gray, pts, (int(win), int(win)), (-1, -1), criteria).reshape(-1, 2)
        ok[sel] = True


def saddle_point(gray: np.ndarray, p: np.ndarray, spacing: float) -> np.ndarray | None:
    """The saddle point of the photo near corner `p`: a quadratic surface fitted (weighted
    least squares, Gaussian weights) to the slightly smoothed photo in a window of
    SADDLE_FIT_WINDOW x the spacing around it, its stationary point, re-centred until it
    moves less than 0.001 px. Smoothing and window scale with the spacing, so a large board
    is not fitted on pixel noise and a small one not blurred away. Near the frame the window
    keeps only the pixels the smoothing did not mix with the frame's edge (at least
    SADDLE_FIT_MIN_SHARE of it: the corners nearest the frame are the ones lens distortion
    bends most, worth fitting). None when too little of the window is left or the surface is
    no saddle there."""
    r = max(3, int(round(SADDLE_FIT_WINDOW * spacing)))
    sigma = float(np.clip(SADDLE_FIT_BLUR * spacing, 0.8, 3.0))
    edge = int(np.ceil(2 * sigma))  # pixels this close to the frame are smoothed with the mirror image
    h, w = gray.shape
    pad = r + int(np.ceil(3 * sigma)) + 2
    cx, cy = int(round(p[0])), int(round(p[1]))
    x0, y0, x1, y1 = max(0, cx - pad), max(0, cy - pad), min(w, cx + pad + 1), min(h, cy + pad + 1)
    if x1 - x0 < 3 or y1 - y0 < 3:
        return None
    patch = cv2.GaussianBlur(gray[y0:y1, x0:x1].astype(np.float32), (0, 0), sigma)
    lo = np.array([edge if x0 == 0 else 0, edge if y0 == 0 else 0])
    hi = np.array([patch.shape[1] - (edge if x1 == w else 0), patch.shape[0] - (edge if y1 == h else 0)])
    q = np.asarray(p, np.float64) - np.array([x0, y0])
    for _ in range(5):
        cxq, cyq = int(round(q[0])), int(round(q[1]))
        wx0, wy0 = max(cxq - r, lo[0]), max(cyq - r, lo[1])
        wx1, wy1 = min(cxq + r + 1, hi[0]), min(cyq + r + 1, hi[1])
        if min(wx1 - wx0, wy1 - wy0) <= 0 or (wx1 - wx0) * (wy1 - wy0) < SADDLE_FIT_MIN_SHARE * (2 * r + 1) ** 2:
            return None
        try:
            a, b, c, d, e = _weighted_quadratic(patch[wy0:wy1, wx0:wx1], np.arange(wx0, wx1) - q[0],
                                                np.arange(wy0, wy1) - q[1], r / 2)
        except np.linalg.LinAlgError:  # too few rows or columns to fit a quadratic
            return None
        det = 4 * a * c - b * b  # of the Hessian [[2a, b], [b, 2c]]
        if det >= 0:  # no saddle: a blob or an edge
            return None
        move = np.array([-(2 * c * d - b * e) / det, -(2 * a * e - b * d) / det])
        q = q + move
        if math.hypot(move[0], move[1]) < 1e-3:
            break
    return q + np.array([x0, y0])


def saddle_points(gray: np.ndarray, xy: np.ndarray, spacing: np.ndarray) -> list[np.ndarray | None]:
    """`saddle_point` of each point, the same numbers, its iterations run for all points at
    once: each point's patch is smoothed on its own as there, and the fits' arithmetic is the
    same element by element (one matrix product and solve a point, stacked). Points whose
    patch meets the frame, or whose window would, are fitted one by one."""
    xy = np.asarray(xy, np.float64).reshape(-1, 2)
    out: list[np.ndarray | None] = [None] * len(xy)
    h, w = gray.shape
    groups: dict[int, list] = {}
    single = []
    for k, (p, spacing_k) in enumerate(zip(xy, spacing)):
        r = max(3, int(round(SADDLE_FIT_WINDOW * spacing_k)))
        sigma = float(np.clip(SADDLE_FIT_BLUR * spacing_k, 0.8, 3.0))
        pad = r + int(np.ceil(3 * sigma)) + 2
        cx, cy = int(round(p[0])), int(round(p[1]))
        x0, y0, x1, y1 = cx - pad, cy - pad, cx + pad + 1, cy + pad + 1
        if x0 <= 0 or y0 <= 0 or x1 >= w or y1 >= h:
            single.append(k)  # near the frame: saddle_point's own window rules
            continue
        patch = cv2.GaussianBlur(gray[y0:y1, x0:x1].astype(np.float32), (0, 0), sigma)
        groups.setdefault(r, []).append((k, patch, np.array([x0, y0]), p - np.array([x0, y0])))
    for r, members in groups.items():
        fallback = _saddle_group(r, members, out)
        single += fallback
    for k in single:
        out[k] = saddle_point(gray, xy[k], float(spacing[k]))
    return out


def _saddle_group(r: int, members: list, out: list) -> list[int]:
    """saddle_point's iterations for points of one window half-size `r`, unclipped patches;
    their results go in `out`; returns those to fit one by one (a window met its patch's
    edge, or a fit could not be solved)."""
    n = len(members)
    q = np.array([m[3] for m in members])
    active = np.ones(n, bool)
    alive = np.ones(n, bool)       # no reason yet to give up (not a saddle: None)
    single = np.zeros(n, bool)
    offsets = np.arange(-r, r + 1)
    i, j = _QUADRATIC_POWERS[:, 0], _QUADRATIC_POWERS[:, 1]
    sigma = r / 2
    powers = np.arange(5)[:, None]
    for _ in range(5):
        idx = np.nonzero(active & alive & ~single)[0]
        if not len(idx):
            break
        windows, keep = [], []
        for t in idx:
            patch = members[t][1]
            cxq, cyq = int(round(q[t, 0])), int(round(q[t, 1]))
            if cxq - r < 0 or cyq - r < 0 or cxq + r + 1 > patch.shape[1] or cyq + r + 1 > patch.shape[0]:
                single[t] = True
                continue
            windows.append(patch[cyq - r:cyq + r + 1, cxq - r:cxq + r + 1])
            keep.append((t, cxq, cyq))
        if not keep:
            break
        idx = np.array([t for t, _, _ in keep])
        centre = np.array([(cx, cy) for _, cx, cy in keep], np.float64)
        dx = centre[:, :1] + offsets - q[idx, :1]   # n×W, as np.arange(wx0, wx1) - q[0]
        dy = centre[:, 1:] + offsets - q[idx, 1:]
        gx, gy = np.exp(-dx * dx / (sigma * sigma)), np.exp(-dy * dy / (sigma * sigma))
        px = gx[:, None, :] * dx[:, None, :] ** powers  # n×5×W
        py = gy[:, None, :] * dy[:, None, :] ** powers
        mx, my = px.sum(axis=2), py.sum(axis=2)
        normal = mx[:, i[:, None] + i[None, :]] * my[:, j[:, None] + j[None, :]]
        window = np.array(windows, np.float64)
        moments = np.matmul(np.matmul(py[:, :3], window), px[:, :3].transpose(0, 2, 1))
        try:
            coef = np.linalg.solve(normal, moments[:, j, i][..., None])[..., 0]
        except np.linalg.LinAlgError:
            single[idx] = True
            break
        for row, t in enumerate(idx):
            a, b, c, d, e = coef[row, :5]
            det = 4 * a * c - b * b
            if det >= 0:
                alive[t] = False
                continue
            move = np.array([-(2 * c * d - b * e) / det, -(2 * a * e - b * d) / det])
            q[t] = q[t] + move
            if math.hypot(move[0], move[1]) < 1e-3:
                active[t] = False
    for t, member in enumerate(members):
        if alive[t] and not single[t]:
            out[member[0]] = q[t] + member[2]
    return [members[t][0] for t in np.nonzero(single)[0]]


# The quadratic's monomials dx^i dy^j as (i, j): dx², dx·dy, dy², dx, dy, 1.
_QUADRATIC_POWERS = np.array([(2, 0), (1, 1), (0, 2), (1, 0), (0, 1), (0, 0)])


def _weighted_quadratic(window: np.ndarray, dx: np.ndarray, dy: np.ndarray, sigma: float) -> np.ndarray:
    """The coefficients (a, b, c, d, e) of a·dx² + b·dx·dy + c·dy² + d·dx + e·dy + f fitted to
    `window` (rows at offsets dy, columns at dx) by least squares with the weight of each
    residual a Gaussian of the distance, std `sigma`.

    The weights are separable, so the 6×6 normal equations are products of 1-D moments: a
    few small matrix products instead of a 6-column least-squares problem per iteration (the
    refinement's hot spot; equal to numpy's lstsq on the weighted design to ~1e-12)."""
    # lstsq on (design·w, values·w) minimises Σ w² r²: w² = exp(-d²/σ²) = gx(dx)·gy(dy).
    gx, gy = np.exp(-dx * dx / (sigma * sigma)), np.exp(-dy * dy / (sigma * sigma))
    px = gx * dx ** np.arange(5)[:, None]  # 5×W: gx·dx^k, k = 0..4
    py = gy * dy ** np.arange(5)[:, None]
    mx, my = px.sum(axis=1), py.sum(axis=1)
    i, j = _QUADRATIC_POWERS[:, 0], _QUADRATIC_POWERS[:, 1]
    normal = mx[i[:, None] + i[None, :]] * my[j[:, None] + j[None, :]]
    moments = py[:3] @ window @ px[:3].T  # [j, i] = Σ gy dy^j · gx dx^i · value
    return np.linalg.solve(normal, moments[j, i])[:5]


def _blob_centre(gray: np.ndarray, p: np.ndarray, spacing: float) -> np.ndarray | None:
    """The centroid of the dark blob nearest `p` in a patch one spacing wide (Otsu threshold)."""
    h, w = gray.shape
    r = max(3, int(round(0.5 * spacing)))
    x0, y0 = int(round(p[0])) - r, int(round(p[1])) - r
    if x0 < 0 or y0 < 0 or x0 + 2 * r + 1 > w or y0 + 2 * r + 1 > h:
        return None
    patch = gray[y0:y0 + 2 * r + 1, x0:x0 + 2 * r + 1]
    _, dark = cv2.threshold(patch, 0, 1, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)
    n, labels, stats, centroids = cv2.connectedComponentsWithStats(dark)
    if n < 2:
        return None
    centre = np.array([r, r], np.float64) + (p - np.round(p))
    best = min(range(1, n), key=lambda i: np.linalg.norm(centroids[i] - centre))
    area = stats[best, cv2.CC_STAT_AREA]
    x, y, bw, bh = stats[best, :4]
    # A circle: clearly smaller than the patch, not touching its border, and not a speck.
    if area < 4 or area > 0.5 * dark.size or x == 0 or y == 0 or x + bw >= dark.shape[1] or y + bh >= dark.shape[0]:
        return None
    inside, outside = patch[labels == best].mean(), patch[labels == 0].mean()
    if outside - inside < 10:
        return None
    return centroids[best] + np.array([x0, y0])


def saddle_contrast(gray: np.ndarray, p: np.ndarray, ex: np.ndarray, ey: np.ndarray) -> float | None:
    """How clearly `p` is a chessboard corner: the four squares around it (sampled along the
    diagonals of the local grid vectors ex, ey) alternate dark and bright. Returns the gap
    between the two diagonals (the darker of the bright pair minus the brighter of the dark
    pair), 0 when they overlap: at a board's edge one diagonal pairs a square with the paper
    beyond, which the gap rejects even when the paper is a shade darker than a white square.
    Near the frame the samples move closer to the corner (down to a quarter of the usual
    distance, with smaller patches); None when they still do not fit in the photo."""
    step = min(np.linalg.norm(ex), np.linalg.norm(ey))
    for offset in (SADDLE_OFFSET, 0.75 * SADDLE_OFFSET, 0.5 * SADDLE_OFFSET, 0.25 * SADDLE_OFFSET):
        radius = max(1.0, 0.27 * offset * step)
        quad = [_sample(gray, p + offset * (sx * ex + sy * ey), radius)
                for sx, sy in ((1, 1), (1, -1), (-1, -1), (-1, 1))]
        if all(v is not None for v in quad):
            a, b, c, d = quad
            return float(max(0.0, min(a, c) - max(b, d), min(b, d) - max(a, c)))
    return None


def _sample(gray: np.ndarray, q: np.ndarray, radius: float) -> float | None:
    """The mean of the (2r+1)² pixels around q (r = ceil(radius)); None beyond the frame."""
    h, w = gray.shape
    r = math.ceil(radius)
    x, y = round(float(q[0])), round(float(q[1]))
    if x - r < 0 or y - r < 0 or x + r >= w or y + r >= h:
        return None
    s = _integral(gray)
    if s is None:
        patch = gray[y - r:y + r + 1, x - r:x + r + 1]
        return float(patch.sum(dtype=np.float64)) / patch.size
    # whole numbers summed exactly: equal to the patch's own sum
    total = s[y + r + 1, x + r + 1] - s[y - r, x + r + 1] - s[y + r + 1, x - r] + s[y - r, x - r]
    return float(total) / ((2 * r + 1) * (2 * r + 1))


_INTEGRALS: dict = {}


def _integral(gray: np.ndarray) -> np.ndarray | None:
    """The summed-area table of an 8-bit image (float64: exact), made once per image (by
    identity: an image must not change while its points are found; kept while the image lives,
    for the last few images); None for other images."""
    key = id(gray)
    hit = _INTEGRALS.get(key)
    if hit is not None and hit[0]() is gray:
        return hit[1]
    if gray.dtype != np.uint8 or gray.ndim != 2:
        return None
    table = cv2.integral(np.ascontiguousarray(gray), sdepth=cv2.CV_64F)
    if len(_INTEGRALS) >= 4:
        _INTEGRALS.pop(next(iter(_INTEGRALS)), None)
    _INTEGRALS[key] = (weakref.ref(gray), table)
    weakref.finalize(gray, _INTEGRALS.pop, key, None)  # the table goes with its image
    return table


# -- 3. grid growth ------------------------------------------------------------------------------

class _Lattice:
    """Integer lattice nodes -> photo positions, grown outwards from a seed."""

    def __init__(self, limit: tuple[int, int]):
        self.pos: dict[tuple[int, int], np.ndarray] = {}
        self.source: dict[tuple[int, int], int] = {}  # candidate index, or -1 (found by search)
        self.limit = sorted(limit)  # the pattern's extents along the two lattice axes
        self._box: tuple | None = None  # (low i, low j, high i, high j, node count) of `pos`

    def add(self, node, xy, source) -> None:
        box = self._bounds() if node not in self.pos else None
        self.pos[node] = np.asarray(xy, np.float64)
        self.source[node] = source
        if box is not None:
            (li, lj, hi, hj, n) = box if box[4] else (node[0], node[1], node[0], node[1], 0)
            self._box = (min(li, node[0]), min(lj, node[1]), max(hi, node[0]), max(hj, node[1]), n + 1)
        else:
            self._box = None

    def _bounds(self) -> tuple:
        """The nodes' bounding box, kept as nodes are added (rebuilt when some were removed)."""
        if self._box is None or self._box[4] != len(self.pos):
            if self.pos:
                i, j = zip(*self.pos)
                self._box = (min(i), min(j), max(i), max(j), len(self.pos))
            else:
                self._box = (0, 0, 0, 0, 0)
        return self._box

    def fits(self, node) -> bool:
        li, lj, hi, hj, n = self._bounds()
        if not n:
            li, lj, hi, hj = node[0], node[1], node[0], node[1]
        extent = sorted((max(hi, node[0]) - min(li, node[0]) + 1, max(hj, node[1]) - min(lj, node[1]) + 1))
        return extent[0] <= self.limit[0] and extent[1] <= self.limit[1]

    def frontier(self) -> set:
        out = set()
        for (i, j) in self.pos:
            for di, dj in _STEPS4:
                n = (i + di, j + dj)
                if n not in self.pos:
                    out.add(n)
        return out

    def predict(self, node) -> tuple[np.ndarray, float, int] | None:
        """Where `node` should be from the grid around it, the local spacing, and how many
        estimates agreed (parallelograms of assigned neighbours and row continuations)."""
        i, j = node
        pos = self.pos
        estimates, steps = [], []
        for di, dj in _STEPS4:
            n0 = (i - di, j - dj)
            if n0 not in pos:
                continue
            p0 = pos[n0]
            back = (i - 2 * di, j - 2 * dj)
            if back in pos:
                step = p0 - pos[back]
                estimates.append(p0 + step)
                steps.append(math.sqrt(step[0] * step[0] + step[1] * step[1]))
            for ei, ej in ((dj, di), (-dj, -di)):  # the two perpendicular directions
                side, corner = (i + ei, j + ej), (i - di + ei, j - dj + ej)
                if side in pos and corner in pos:
                    estimates.append(p0 + pos[side] - pos[corner])
                    d = p0 - pos[corner]
                    steps.append(math.sqrt(d[0] * d[0] + d[1] * d[1]))
        if not estimates:
            return None
        # The median resists one bad neighbour; with two estimates it is their mean anyway.
        if len(estimates) == 1:
            estimate = estimates[0] / 1.0
        elif len(estimates) == 2:
            estimate = (estimates[0] + estimates[1]) / 2
        else:
            estimate = _median_rows(estimates)
        return estimate, float(sorted(steps)[len(steps) // 2]), len(estimates)


def _seed_order(xy: np.ndarray) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """Seeds for grid growth: candidates with a cross of neighbours (u, -u, v, -v: the
    nearest neighbour, its opposite, the nearest one not parallel to it and its opposite; a
    T will do), best-formed first, with their two grid vectors. A board seen at a slant has its second
    neighbour along the short axis nearer than its first along the long one, hence not simply
    the four nearest."""
    if len(xy) < 5:
        return []
    d = np.linalg.norm(xy[:, None] - xy[None], axis=2)
    np.fill_diagonal(d, np.inf)
    near = np.argsort(d, axis=1)[:, :8]
    seeds = []
    for k in range(len(xy)):
        vecs = xy[near[k]] - xy[k]
        lengths = np.linalg.norm(vecs, axis=1)
        u = vecs[0]
        cos = vecs @ u / (lengths * lengths[0] + 1e-9)
        # (a neighbour on the point itself, a duplicate candidate, is no direction)
        across = np.nonzero((np.abs(cos) < 0.8) & (lengths > 1e-6))[0]
        if not len(across) or lengths[0] <= 1e-6:
            continue
        v = vecs[across[0]]
        u_back = np.min(np.linalg.norm(vecs + u, axis=1)) / lengths[0]
        v_back = np.min(np.linalg.norm(vecs + v, axis=1)) / np.linalg.norm(v)
        # A strip of two rows (a board cut by the frame) has no full cross: one opposite pair
        # will do, at a price.
        if min(u_back, v_back) < MATCH_RADIUS:
            cost = sum(b if b < MATCH_RADIUS else 1.0 for b in (u_back, v_back))
            seeds.append((cost + 0.5 * abs(cos[across[0]]), k, u, v))
    seeds.sort(key=lambda s: s[0])
    return [(k, u, v) for _, k, u, v in seeds[:MAX_SEEDS]]


def grow_grid(xy: np.ndarray, limit: tuple[int, int], gray: np.ndarray | None = None) -> _Lattice | None:
    """The largest lattice grown over candidates `xy` (K×2) from the best-formed seeds; None
    when no candidate has a cross of neighbours. `limit`: the pattern's largest extent.

    With `gray` (the photo of a chessboard-like pattern), each seed's two grid vectors are
    the pair among its lattice's equivalent bases (u, v ± u, ...) around which the squares
    alternate best: a board seen at a slant can make a diagonal of its grid shorter than a
    side, and a lattice grown along it is sheared (every point placed, none identified)."""
    best = None
    for k, u, v in _seed_order(xy):
        if gray is not None:
            u, v = _board_axes(gray, xy, k, u, v)
        lattice = _Lattice(limit)
        lattice.add((0, 0), xy[k], k)
        used = {k}
        for node, vec in (((1, 0), u), ((-1, 0), -u), ((0, 1), v), ((0, -1), -v)):
            m = _nearest(xy, xy[k] + vec, MATCH_RADIUS * np.linalg.norm(vec), used)
            if m is not None:
                lattice.add(node, xy[m], m)
                used.add(m)
        _grow(lattice, lambda p, step, node: _take_nearest(xy, p, step, used))
        if best is None or len(lattice.pos) > len(best.pos):
            best = lattice
        if len(best.pos) >= 0.8 * len(xy):
            break
    return best


def _board_axes(gray: np.ndarray, xy: np.ndarray, k: int, u: np.ndarray, v: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
    """Of the bases of the seed's lattice one shear away ((u, v), (u, v ± u), (u ± v, v)) whose
    vectors both lead to candidates, the one whose squares alternate best (saddle_contrast)."""
    p = xy[k]
    step = min(np.linalg.norm(u), np.linalg.norm(v))

    def present(vec):
        return min(np.linalg.norm(xy - (p + vec), axis=1).min(), np.linalg.norm(xy - (p - vec), axis=1).min()) \
            < MATCH_RADIUS * max(step, np.linalg.norm(vec) * 0.5)

    options = [(u, v), (u, v + u), (u, v - u), (u + v, v), (u - v, v)]
    scored = [(saddle_contrast(gray, p, a, b) or 0.0, i) for i, (a, b) in enumerate(options)
              if i == 0 or (present(a) and present(b))]
    return options[max(scored)[1]]


def _take_nearest(xy: np.ndarray, p: np.ndarray, step: float, used: set) -> tuple[np.ndarray, int] | None:
    k = _nearest(xy, p, MATCH_RADIUS * step, used)
    if k is None:
        return None
    used.add(k)
    return xy[k], k


def _grow(lattice: _Lattice, find) -> int:
    """Add frontier nodes while `find(predicted_xy, spacing, node) -> (xy, source) | None`
    finds them; nodes with the most agreeing estimates go first (they are predicted best).
    Returns how many were added."""
    total = 0
    while True:
        queue = []
        for node in lattice.frontier():
            guess = lattice.predict(node)
            if guess is not None:
                queue.append((-guess[2], node, guess))
        queue.sort(key=lambda q: (q[0], q[1]))
        added = 0
        for _, node, (p, step, _) in queue:
            if node in lattice.pos or not lattice.fits(node):
                continue
            found = find(p, step, node)
            if found is not None:
                lattice.add(node, *found)
                added += 1
        total += added
        if not added:
            return total


def _median_rows(rows: list) -> np.ndarray:
    """np.median(rows, axis=0) of a few 2-vectors, without its overhead (the same values: the
    middle one, or the mean of the middle two)."""
    s = np.sort(np.array(rows), axis=0)
    k = len(s)
    return s[k // 2].copy() if k % 2 else (s[k // 2 - 1] + s[k // 2]) / 2


def _mean_rows(rows: list) -> np.ndarray:
    """np.mean(rows, axis=0) of a few 2-vectors, without its overhead (summed in order, as a
    reduction over the outer axis is)."""
    total = rows[0] / 1.0
    for r in rows[1:]:
        total = total + r
    return total / len(rows)


def _nearest(xy: np.ndarray, p: np.ndarray, radius: float, used: set) -> int | None:
    """The nearest candidate not `used` within `radius` of p."""
    diff = xy - p
    d = np.sqrt(np.add.reduce(diff * diff, axis=1))  # np.linalg.norm(axis=1)'s sums, without its wrapper
    if used:
        d[list(used)] = np.inf
    k = int(np.argmin(d))
    return k if d[k] <= radius else None


# Offsets around a node, nearest first (Manhattan distance), where _local_vectors looks.
_NEARBY = sorted(((di, dj) for di in range(-4, 5) for dj in range(-4, 5)), key=lambda d: abs(d[0]) + abs(d[1]))


def _local_vectors(lattice: _Lattice, node) -> tuple[np.ndarray, np.ndarray]:
    """One lattice step along i and along j near `node` (from the nearest assigned pairs)."""
    vecs = []
    pos = lattice.pos
    for ai, aj in ((1, 0), (0, 1)):
        found = next((pos[(node[0] + di + ai, node[1] + dj + aj)] - pos[(node[0] + di, node[1] + dj)]
                      for di, dj in _NEARBY if (node[0] + di, node[1] + dj) in pos
                      and (node[0] + di + ai, node[1] + dj + aj) in pos), None)
        if found is None:  # far from any pair: the nearest pair anywhere
            pairs = [(abs(i - node[0]) + abs(j - node[1]), pos[(i + ai, j + aj)] - p)
                     for (i, j), p in pos.items() if (i + ai, j + aj) in pos]
            found = min(pairs, key=lambda t: t[0])[1] if pairs else np.zeros(2)
        vecs.append(found)
    return vecs[0], vecs[1]


# -- 4. identities -------------------------------------------------------------------------------

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
    """For the points `which`, the 2×2 linear map sheet px -> photo px fitted to each one's
    nearest neighbours."""
    which = list(which)
    d = np.linalg.norm(sheet[which][:, None] - sheet[None], axis=2)  # the rows asked for only
    out = []
    for row, k in enumerate(which):
        near = np.argsort(d[row])[1:9]
        ds, dp = sheet[near] - sheet[k], xy[near] - xy[k]
        if np.linalg.matrix_rank(ds, tol=1e-6) < 2:
            out.append(None)
            continue
        a, *_ = np.linalg.lstsq(ds, dp, rcond=None)
        out.append(a.T)
    return out


def _appearance(gray: np.ndarray, xy: np.ndarray, ids: np.ndarray, layout: GridLayout) -> float:
    """Correlation between the photo and the sheet around every point under these ids: the
    sheet's brightness at the four squares around each point, against the photo's there."""
    sheet_image = layout.sheet_gray
    sheet = layout.sheet_xy[layout.rows_of(ids)]
    expected, seen = [], []
    offsets = SADDLE_OFFSET * layout.step_px * np.array([(1, 1), (1, -1), (-1, -1), (-1, 1)], np.float64)
    # Every point tells the same story: a spread-out sample of APPEARANCE_POINTS is enough.
    keep = np.linspace(0, len(xy) - 1, min(len(xy), APPEARANCE_POINTS)).round().astype(int)
    for p, s, a in zip(xy[keep], sheet[keep], _local_affines(xy, sheet, keep)):
        if a is None:
            continue
        for o in offsets:
            q = p + a @ o
            v = _sample(gray, q, max(1.0, 0.06 * np.linalg.norm(a @ offsets[0])))
            e = _sample(sheet_image, s + o, 0.06 * layout.step_px)
            if v is not None and e is not None:
                seen.append(v)
                expected.append(e)
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


# -- the whole chain -----------------------------------------------------------------------------

def _lattice_limit(layout: GridLayout) -> tuple[int, int]:
    """The pattern's extents in grown-lattice steps along the two lattice axes."""
    lattice = np.round(np.linalg.solve(layout.basis.astype(np.float64),
                                       (layout.coords - layout.coords[0]).T.astype(np.float64)).T).astype(int)
    extent = lattice.max(axis=0) - lattice.min(axis=0) + 1
    return int(extent[0]), int(extent[1])


def _spacing(xy: np.ndarray) -> np.ndarray:
    """Each point's distance to its nearest neighbour (the local grid spacing)."""
    if len(xy) < 2:
        return np.full(len(xy), np.inf)
    d = np.linalg.norm(xy[:, None] - xy[None], axis=2)
    np.fill_diagonal(d, np.inf)
    return d.min(axis=1)


def find_grid_points(rgb: np.ndarray, heat: np.ndarray, layout: GridLayout,
                     region: np.ndarray | None = None, search: bool = True) -> GridPoints | None:
    """The board's points in a photo (RGB uint8 or gray H×W) from the network's point heat map
    (H×W in [0, 1], the photo's size); None when they do not form a grid of this pattern.

    region: where the board is (H×W bool), to ignore peaks elsewhere.
    search: also look on the photo for points the grid predicts and the network missed."""
    gray = rgb if rgb.ndim == 2 else cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    candidates, strength = heat_candidates(heat, region, layout.kind)
    if len(candidates) < MIN_GRID_POINTS:
        return None
    # One corner can give two peaks a few pixels apart: keep the stronger, so that the spacing
    # (and with it the refinement window) is the grid's.
    candidates, strength = _dedupe(candidates, strength, NMS_SHARE * float(np.median(_spacing(candidates))))
    spacing = _spacing(candidates)
    spacing = np.clip(spacing, 0.4 * np.median(spacing), 2.5 * np.median(spacing))
    refined, ok = refine_points(gray, candidates, spacing, layout.kind)
    candidates, strength = _dedupe(refined[ok], strength[ok], 0.2 * float(np.median(spacing)))
    if len(candidates) < MIN_GRID_POINTS:
        return None
    # Grown with room to spare, then cut to the pattern's size: a false point at the board's
    # edge found first must not keep a true row out.
    limit = _lattice_limit(layout)
    lattice = grow_grid(candidates, (limit[0] + GROWTH_SLACK, limit[1] + GROWTH_SLACK),
                        gray if layout.kind == SADDLE else None)
    if lattice is None or len(lattice.pos) < MIN_GRID_POINTS:
        return None
    confidence = {node: float(strength[k]) for node, k in lattice.source.items()}
    evidence = dict(confidence)
    reference = 1.0
    if layout.kind == SADDLE:
        reference = _check_saddles(gray, lattice, confidence, evidence)
        if len(lattice.pos) < MIN_GRID_POINTS:
            return None
    if search:
        def look(p, step, node):
            ex, ey = _local_vectors(lattice, node)
            # Most of the grid's guesses beyond the board land on paper or background, where
            # no squares alternate: a glance there spares refining them.
            if layout.kind == SADDLE and not (saddle_contrast(gray, p, ex, ey) or 0.0) > 0:
                return None
            q, good = refine_points(gray, p[None], step, layout.kind)
            if not good[0]:
                return None
            if layout.kind == SADDLE:
                contrast = saddle_contrast(gray, q[0], ex, ey)
                if contrast is None or contrast < MIN_SADDLE_CONTRAST * reference:
                    return None
                evidence[node] = min(1.0, contrast / reference)
            else:
                evidence[node] = 0.5
            confidence[node] = 0.5 * evidence[node]
            return q[0], -1
        _grow(lattice, look)
    _trim(lattice, limit, evidence)
    if len(lattice.pos) < MIN_GRID_POINTS:
        return None
    markers = _detect_markers(gray, layout, np.array(list(lattice.pos.values()))) if layout.charuco else None
    assigned = assign_ids(lattice.pos, layout, gray, markers)
    if assigned is None:
        return None
    ids, partial, identity = assigned
    nodes = list(lattice.pos)
    order = np.lexsort((ids[:, 0], ids[:, 1]))
    xy = np.array([lattice.pos[n] for n in nodes])[order]
    conf = np.clip(np.array([confidence[n] for n in nodes]), 0, 1)[order]
    return GridPoints(xy, ids[order], conf, layout.grid, partial, identity)


def _dedupe(xy: np.ndarray, strength: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """Candidates closer than `radius` are one point: keep the strongest."""
    keep = np.ones(len(xy), bool)
    for a in np.argsort(-strength):
        if keep[a]:
            close = np.linalg.norm(xy - xy[a], axis=1) < radius
            close[a] = False
            keep &= ~close
    return xy[keep], strength[keep]


def _check_saddles(gray: np.ndarray, lattice: _Lattice, confidence: dict, evidence: dict) -> float:
    """Drop grown nodes that are not corners on the photo (the squares around them do not
    alternate) and record each kept node's contrast as a share of the board's median corner
    contrast in `evidence`; returns that median, the yardstick for searched points."""
    contrast = {n: saddle_contrast(gray, p, *_local_vectors(lattice, n)) for n, p in lattice.pos.items()}
    values = [c for c in contrast.values() if c]
    reference = max(float(np.median(values)) if values else 1.0, 1.0)
    for n, c in contrast.items():
        if c is None:  # too close to the frame to tell: the network and the grid vouch for it
            evidence[n] = 0.5 * confidence.get(n, 1.0)
        elif c < 0.5 * MIN_SADDLE_CONTRAST * reference:
            del lattice.pos[n], lattice.source[n]
            confidence.pop(n, None)
        else:
            evidence[n] = min(1.0, c / reference) * confidence.get(n, 1.0)
    return reference


def _trim(lattice: _Lattice, limit: tuple[int, int], evidence: dict) -> None:
    """Cut the lattice's outermost rows or columns, the one with the least evidence first,
    until it fits the pattern (either way round)."""
    while lattice.pos:
        nodes = np.array(list(lattice.pos))
        low, high = nodes.min(axis=0), nodes.max(axis=0)
        extent = high - low + 1
        # The longer axis must fit the pattern's longer side.
        allowed = sorted(limit) if extent[0] <= extent[1] else sorted(limit)[::-1]
        over = [axis for axis in (0, 1) if extent[axis] > allowed[axis]]
        if not over:
            return
        axis = over[0]
        lines = {end: [n for n in lattice.pos if n[axis] == end] for end in (low[axis], high[axis])}
        weakest = min(lines, key=lambda end: sum(evidence.get(n, 0.0) for n in lines[end]))
        for n in lines[weakest]:
            del lattice.pos[n], lattice.source[n]


def _detect_markers(gray: np.ndarray, layout: GridLayout, near: np.ndarray) -> tuple | None:
    """ArUco markers of the ChArUco board's dictionary, looked for around the grid."""
    cols, rows, dictionary = layout.charuco
    detector = cv2.aruco.ArucoDetector(cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, dictionary)),
                                       cv2.aruco.DetectorParameters())
    h, w = gray.shape
    pad = float(np.median(_spacing(near))) * 1.5 if len(near) > 1 else 0.0
    (x0, y0), (x1, y1) = np.floor(near.min(axis=0) - pad).astype(int), np.ceil(near.max(axis=0) + pad).astype(int)
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1 + 1), min(h, y1 + 1)
    corners, ids, _ = detector.detectMarkers(np.ascontiguousarray(gray[y0:y1, x0:x1]))
    if ids is None:
        return None
    return [c.reshape(-1, 2) + np.array([x0, y0]) for c in corners], ids


# -- geometry from the points -------------------------------------------------------------------

def grid_geometry(points: GridPoints, layout: GridLayout, shape: tuple[int, int],
                  support: np.ndarray | None = None, gray: np.ndarray | None = None
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mask H×W float32 in {0, 1}, outline 4×2 float32, homography 3×3 sheet px -> photo px)
    of the board from its points.

    The mask is the pattern's `mask` area around the seen points: every cell of the pattern's
    lattice that touches a seen point, the outer ring of cells reaching the pattern's own
    margin beyond the outermost points (a chessboard's squares end one square beyond its inner
    corners, a circle grid's outline half a spacing beyond its centres). Cells are drawn
    between the points themselves and, beyond them, points extrapolated along the grid's rows
    and columns (quadratically where three seen points allow), so the mask follows lens
    curvature; it is clipped to the frame. A partial view of squares whose rows of points stop
    short of the frame (the points nearest the frame are the hardest to find) is extended a
    row of squares at a time towards it while the pattern has rows to spare, the network's
    `support` map (its `mask` probability) says board there, and on the photo `gray` the new
    row's squares alternate dark and bright like the board's (paper beyond the board's edge
    does not). The outline is the corners of that area (for a
    whole board, the board's outline; for a partial one, its visible part's); the homography
    is the least-squares fit of every point to its sheet position (for relative ids, a sheet
    placed where the ids say)."""
    h, w = shape
    coords = layout.coords[layout.rows_of(points.ids)]
    seen = {tuple(c): p.astype(np.float64) for c, p in zip(coords.tolist(), points.xy)}
    low, high = coords.min(axis=0), coords.max(axis=0)
    cells = {(x + dx, y + dy) for x, y in seen for dx in (-1, 0) for dy in (-1, 0)}
    # Where the photo shows the printed squares end beyond the outermost points (and how far:
    # a board cut inside its outer squares), the board ends there.
    squares = gray is not None and layout.kind == SADDLE and layout.appearance
    measured = _measured_margins(gray, _fill_nodes(seen, _cell_nodes(cells)), low, high) if squares else {}
    if support is not None and gray is not None and points.partial and layout.appearance:
        before = (low.copy(), high.copy())
        low, high = _extend_to_frame(seen, cells, low, high, layout, support, gray, closed=set(measured))
        if squares and not (np.array_equal(low, before[0]) and np.array_equal(high, before[1])):
            # the rows added on an open side are its new outer squares: read where they end
            more = _measured_margins(gray, _fill_nodes(seen, _cell_nodes(cells)), low, high)
            measured.update({side: m for side, m in more.items() if side not in measured})
    corners = [(low[0] - 1, low[1] - 1), (high[0] + 1, low[1] - 1), (high[0] + 1, high[1] + 1),
               (low[0] - 1, high[1] + 1)]
    pos = _fill_nodes(seen, _cell_nodes(cells) | set(corners))
    sheet = layout.sheet_xy[layout.rows_of(points.ids)]
    homography, _ = cv2.findHomography(sheet.astype(np.float64), points.xy.astype(np.float64), 0)
    homography = np.eye(3) if homography is None else homography / homography[2, 2]
    for c in corners:
        if c not in pos:  # unreachable from the seen points: the plane's estimate
            sheet_c = layout.sheet_xy[0] + layout.step_px * (np.array(c, np.float64) - layout.coords[0])
            pos[c] = cv2.perspectiveTransform(sheet_c.reshape(1, 1, 2), homography).reshape(2)
    # Beyond the outermost points the area ends at the pattern's margin (1 step for a board),
    # or where the photo shows the printed squares end (a board cut inside its outer squares).
    margins = {side: measured.get(side, layout.margin) for side in SIDES}
    if any(abs(m - 1.0) > 1e-6 for m in margins.values()):
        full = dict(pos)
        for node in list(pos):
            inner = (min(max(node[0], low[0]), high[0]), min(max(node[1], low[1]), high[1]))
            if inner == node or inner not in full:
                continue
            moved = full[inner].copy()
            for axis, beyond in ((0, node[0] - inner[0]), (1, node[1] - inner[1])):
                if beyond:
                    edge = (node[0], inner[1]) if axis == 0 else (inner[0], node[1])
                    side = ("left", "right")[int(beyond > 0)] if axis == 0 else ("top", "bottom")[int(beyond > 0)]
                    if edge in full:
                        moved += margins[side] * (full[edge] - full[inner])
            pos[node] = moved
    mask = _draw_cells(cells, pos, (h, w))
    outline = [pos[c] for c in corners]
    return mask.astype(np.float32), np.array(outline, np.float32), homography


SIDES = ("left", "right", "top", "bottom")
# The most a row of seen points may bend per step (share of the spacing) to be continued
# quadratically beyond its end; more is a misplaced point: continued straight.
MAX_ROW_BEND = 0.25
# The outer squares' extent is read from profiles across them sampled at these fractions of a
# square beyond the outermost points (a little past the full square, to see what lies beyond).
EXTENT_SAMPLES = np.linspace(0.0, 1.15, 24)
# An extent is measured only where the dark outer squares' profile rises by at least this
# share of the board's own dark-bright contrast past their end (else: the full square).
EXTENT_MIN_STEP = 0.35
MIN_EXTENT = 0.25


def _measured_margins(gray: np.ndarray, pos: dict, low: np.ndarray, high: np.ndarray) -> dict[str, float]:
    """How far the printed squares reach beyond the outermost points on each side of the
    board, in squares (1: whole squares; less: a board printed with its outer squares cut, as
    OpenCV's sample board), read from the photo where that side's outer squares are in the
    frame: the mean profile, from the points outwards, across the outer squares that are dark
    (they end where the paper, a frame or a backing begins; white squares may merge with a
    white margin and say nothing). A side without that evidence keeps a whole square."""
    h, w = gray.shape
    out: dict[str, float] = {}
    board = _profile_levels(gray, pos, low, high)
    if len(board) < 4:
        return out
    dark_level, bright_level = np.percentile(board, 25), np.percentile(board, 75)
    contrast = bright_level - dark_level
    if contrast <= 0:
        return out
    for side in SIDES:
        axis = 0 if side in ("left", "right") else 1
        sign = -1 if side in ("left", "top") else 1
        edge = low[axis] if sign < 0 else high[axis]
        other = 1 - axis
        profiles = []
        for t in range(int(low[other]), int(high[other])):
            inner_a = (edge, t) if axis == 0 else (t, edge)
            inner_b = (edge, t + 1) if axis == 0 else (t + 1, edge)
            outer_a = (edge + sign, t) if axis == 0 else (t, edge + sign)
            outer_b = (edge + sign, t + 1) if axis == 0 else (t + 1, edge + sign)
            if not all(n in pos for n in (inner_a, inner_b, outer_a, outer_b)):
                continue
            a, b = np.asarray(pos[inner_a]), np.asarray(pos[inner_b])
            da, db = np.asarray(pos[outer_a]) - a, np.asarray(pos[outer_b]) - b
            # across the middle half of the square, from the points' line outwards
            s = np.linspace(0.25, 0.75, 5)[:, None, None]
            k = EXTENT_SAMPLES[None, :, None]
            xy = (a + s * (b - a)) + k * (da + s * (db - da))
            if (xy[..., 0] < 0).any() or (xy[..., 1] < 0).any() or (xy[..., 0] > w - 1).any() or \
                    (xy[..., 1] > h - 1).any():
                continue
            values = cv2.remap(gray, xy[..., 0].astype(np.float32), xy[..., 1].astype(np.float32),
                               cv2.INTER_LINEAR).astype(np.float64).mean(axis=0)
            profiles.append(values)
        if not profiles:
            continue
        profiles = np.array(profiles)
        near = profiles[:, (EXTENT_SAMPLES > 0.1) & (EXTENT_SAMPLES < 0.25)].mean(axis=1)
        dark = profiles[near < (dark_level + bright_level) / 2]
        if not len(dark):
            continue
        profile = np.median(dark, axis=0)
        level = float(np.median(profile[(EXTENT_SAMPLES > 0.1) & (EXTENT_SAMPLES < 0.25)]))
        # Where the dark square ends, what follows is brighter (white paper, a grey frame),
        # if only for a strip of paper: the brightest point past the square's start.
        beyond = float(profile[EXTENT_SAMPLES > 0.1].max())
        if beyond - level < EXTENT_MIN_STEP * contrast:
            continue  # nothing brighter beyond: no evidence, a whole square
        half = (level + beyond) / 2
        above = np.flatnonzero(profile > half)
        above = above[EXTENT_SAMPLES[above] > 0.1]
        if not len(above):
            continue
        i = int(above[0])
        t0, t1, v0, v1 = EXTENT_SAMPLES[i - 1], EXTENT_SAMPLES[i], profile[i - 1], profile[i]
        extent = t0 + (t1 - t0) * (half - v0) / max(v1 - v0, 1e-9)
        out[side] = float(np.clip(extent, MIN_EXTENT, 1.0))
    return out


def _profile_levels(gray: np.ndarray, pos: dict, low: np.ndarray, high: np.ndarray) -> list[float]:
    """The brightness at the centre of each square between the seen points (the board's own
    dark and bright levels)."""
    h, w = gray.shape
    levels = []
    for x in range(int(low[0]), int(high[0])):
        for y in range(int(low[1]), int(high[1])):
            cell = [(x, y), (x + 1, y), (x + 1, y + 1), (x, y + 1)]
            if all(c in pos for c in cell):
                cx, cy = np.mean([pos[c] for c in cell], axis=0)
                if 0 <= cx < w and 0 <= cy < h:
                    levels.append(float(gray[int(cy), int(cx)]))
    return levels


def _cell_nodes(cells: set) -> set:
    return {(x + dx, y + dy) for x, y in cells for dx in (0, 1) for dy in (0, 1)}


def _cell_quad(cell: tuple[int, int], pos: dict, shape: tuple[int, int]) -> np.ndarray | None:
    """The lattice cell's quad (named by its top-left node) in 1/16 px, as OpenCV's fill takes
    it; None unless its four nodes have sane positions."""
    x, y = cell
    corners = [(x, y), (x + 1, y), (x + 1, y + 1), (x, y + 1)]
    if not all(c in pos for c in corners):
        return None
    quad = np.array([pos[c] for c in corners])
    if not (np.isfinite(quad).all() and np.abs(quad).max() < 8 * max(shape)):
        return None
    return np.round(quad * 16).astype(np.int32)


def _draw_cells(cells, pos: dict, shape: tuple[int, int]) -> np.ndarray:
    """H×W uint8: 1 inside the lattice cells (named by their top-left node) whose four nodes
    have positions."""
    mask = np.zeros(shape, np.uint8)
    for cell in cells:
        quad = _cell_quad(cell, pos, shape)
        if quad is not None:
            cv2.fillConvexPoly(mask, quad, 1, cv2.LINE_8, 4)  # 1/16 px
    return mask


def _extend_to_frame(seen: dict, cells: set, low: np.ndarray, high: np.ndarray, layout: GridLayout,
                     support: np.ndarray, gray: np.ndarray, closed: set = frozenset()) -> tuple[np.ndarray, np.ndarray]:
    """Add whole rows (columns) of squares beyond the margin ring on each side of a partial
    view (but the `closed` sides, where the photo shows the squares end), in place in `cells`,
    while the pattern has rows to spare and the new row, where it is in the frame, is board by
    the network's `support` (mean > 0.5) and alternates dark and bright on the photo. Returns
    the box of points the cells now stand for."""
    low, high = low.copy(), high.copy()
    span = layout.coords.max(axis=0) - layout.coords.min(axis=0)
    pos = _fill_nodes(seen, _cell_nodes(cells))
    contrast = _square_contrast(gray, cells, pos)  # `cells` are still the seen points' squares here
    for axis in (0, 1):
        other = 1 - axis
        for direction in (-1, 1):
            if SIDES[2 * axis + (direction > 0)] in closed:
                continue
            while high[axis] - low[axis] < span[axis] and contrast > 0:
                index = low[axis] - 2 if direction < 0 else high[axis] + 1
                row = [(index, t) if axis == 0 else (t, index) for t in range(int(low[other]) - 1, int(high[other]) + 1)]
                pos = _fill_nodes(seen, _cell_nodes(cells | set(row)))
                drawn = _draw_cells(row, pos, support.shape).astype(bool)
                if not drawn.any() or float(support[drawn].mean()) <= 0.5 or \
                        not _alternates(gray, row, pos, 0.5 * contrast):
                    break
                cells |= set(row)
                if direction < 0:
                    low[axis] -= 1
                else:
                    high[axis] += 1
    return low, high


def _cell_means(gray: np.ndarray, row, pos: dict, min_pixels: int = 12) -> list[float | None]:
    """Each cell's mean brightness over its pixels in the frame (None: too few there). Each
    cell is drawn in its own box, not a frame-sized mask (the same pixels: the fill is shifted
    by whole pixels)."""
    h, w = gray.shape
    out = []
    for cell in row:
        quad = _cell_quad(cell, pos, (h, w))
        mean = None
        if quad is not None:
            (lx, ly), (hx, hy) = quad.min(axis=0) // 16, quad.max(axis=0) // 16
            x0, y0, x1, y1 = max(0, int(lx) - 1), max(0, int(ly) - 1), min(w, int(hx) + 2), min(h, int(hy) + 2)
            if x1 > x0 and y1 > y0:
                drawn = np.zeros((y1 - y0, x1 - x0), np.uint8)
                cv2.fillConvexPoly(drawn, quad - np.array([16 * x0, 16 * y0], np.int32), 1, cv2.LINE_8, 4)
                inside = gray[y0:y1, x0:x1][drawn.astype(bool)]
                # (whole numbers: their sum is exact, as ndarray.mean's)
                mean = float(inside.sum(dtype=np.int64)) / len(inside) if len(inside) >= min_pixels else None
        out.append(mean)
    return out


def _square_contrast(gray: np.ndarray, cells: set, pos: dict) -> float:
    """The median brightness step between neighbouring squares among `cells` (0 if none)."""
    means = dict(zip(cells, _cell_means(gray, list(cells), pos)))
    steps = [abs(means[c] - means[(c[0] + 1, c[1])]) for c in cells
             if (c[0] + 1, c[1]) in means and means[c] is not None and means[(c[0] + 1, c[1])] is not None]
    return float(np.median(steps)) if steps else 0.0


def _alternates(gray: np.ndarray, row: list, pos: dict, threshold: float) -> bool:
    """The row's squares seen in the frame alternate dark and bright, each step at least
    `threshold` (at least one step seen)."""
    means = _cell_means(gray, row, pos)
    steps = [b - a for a, b in zip(means[:-1], means[1:]) if a is not None and b is not None]
    if not steps:
        return False
    signs = np.sign(steps)
    return bool(all(abs(d) >= threshold for d in steps) and all(signs[1:] * signs[:-1] < 0))


def _fill_nodes(seen: dict, needed: set) -> dict:
    """Positions for every needed lattice node: the seen ones, then the others from their
    neighbours, best rule first: between two known nodes (any of the four directions,
    diagonals included), continuing a row of three seen nodes (quadratic: follows the lens'
    curvature), continuing a row of two known nodes, completing a parallelogram."""
    pos = dict(seen)
    missing = set(needed) - set(pos)
    while missing:
        found = {}
        for rule in range(4):
            for n in missing:
                x, y = n
                estimates = []
                if rule == 0:
                    for dx, dy in _BETWEEN:
                        a, b = (x - dx, y - dy), (x + dx, y + dy)
                        if a in pos and b in pos:
                            estimates.append((pos[a] + pos[b]) / 2)
                elif rule == 1:
                    for dx, dy in _STRAIGHT:
                        a, b, c = (x - dx, y - dy), (x - 2 * dx, y - 2 * dy), (x - 3 * dx, y - 3 * dy)
                        if a in seen and b in seen and c in seen:
                            sa, sb, sc = seen[a], seen[b], seen[c]
                            bend = sa - 2 * sb + sc
                            # A lens bends a row gently; a bend of more than a few % of the
                            # spacing is a point off its place, which a quadratic would amplify.
                            if np.linalg.norm(bend) <= MAX_ROW_BEND * np.linalg.norm(sa - sb):
                                estimates.append(3 * sa - 3 * sb + sc)
                            else:
                                estimates.append(2 * sa - sb)
                elif rule == 2:
                    for dx, dy in _STRAIGHT:
                        a, b = (x - dx, y - dy), (x - 2 * dx, y - 2 * dy)
                        if a in pos and b in pos:
                            estimates.append(2 * pos[a] - pos[b])
                else:
                    for dx, dy in _STRAIGHT:
                        a = (x - dx, y - dy)
                        if a not in pos:
                            continue
                        for ex, ey in ((dy, dx), (-dy, -dx)):
                            side, corner = (x + ex, y + ey), (a[0] + ex, a[1] + ey)
                            if side in pos and corner in pos:
                                estimates.append(pos[a] + pos[side] - pos[corner])
                if estimates:
                    found[n] = _mean_rows(estimates)
            if found:
                break
        if not found:
            break
        pos.update(found)
        missing -= set(found)
    return pos


# _fill_nodes' directions, in the order its estimates are averaged: the pairs a node lies
# between (its two axes and diagonals), and the four steps along rows and columns.
_BETWEEN = ((1, 0), (0, 1), (1, 1), (1, -1))
_STRAIGHT = ((1, 0), (0, 1), (-1, 0), (0, -1))
