"""`find_grid_points`: the whole chain (candidates -> refinement -> lattice -> identities), with
the checks between the steps (duplicates, the saddle test over the grown grid, the lattice
trimmed to the pattern's size).
"""
from __future__ import annotations

import cv2
import numpy as np

from ...patterns.base import MIN_POINT_GRID
from .grid import GridLayout, GridPoints, SADDLE
from ...scores import MASK_THRESHOLD
from .candidates import heat_candidates, refine_points, saddle_contrast, saddle_contrasts
from .lattice import _Lattice, _grow, _local_vectors, grow_grid
from .identity import assign_ids

# A searched (not network-found) corner's squares must differ by at least this share of the
# board's median corner contrast.
MIN_SADDLE_CONTRAST = 0.35

# Heat-map peaks closer than this share of the typical spacing are one point.
NMS_SHARE = 0.35

# A view with fewer points than this is not a board (too few to check they form a grid): the
# default of DetectionRule.min_grid_points, which the Predictor passes as `min_points`. The
# smallest board a spec may name holds this many (patterns.base.MIN_POINT_GRID: 2 x 3 = 6).
MIN_GRID_POINTS = MIN_POINT_GRID[0] * MIN_POINT_GRID[1]

# The grid may first grow this many rows or columns beyond the pattern's size (then the
# weakest are cut): a false point at the board's edge cannot keep a true row out.
GROWTH_SLACK = 2

# A row the grid must shed to fit the pattern that is this share of its length in strong points
# (evidence over 0.5) is the board's own: the board has more rows than the pattern, so it is not
# this pattern (a spec with too few squares). On the real photos with the right spec the rows
# cut held at most 11% strong points; a 10x7 board taken for an 8x6 one, 86-100%.
LARGER_BOARD_SHARE = 0.5


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
                     region: np.ndarray | None = None, search: bool = True, threshold: float = MASK_THRESHOLD,
                     min_points: int = MIN_GRID_POINTS) -> GridPoints | None:
    """The board's points in a photo (RGB uint8 or gray H×W) from the network's point heat map
    (H×W in [0, 1], the photo's size); None when they do not form a grid of this pattern.

    region: where the board is (H×W bool), to ignore peaks elsewhere.
    search: also look on the photo for points the grid predicts and the network missed.
    threshold: the mask threshold (candidates: heat_candidates).
    min_points: fewer points are no grid (the Predictor's DetectionRule.min_grid_points)."""
    gray = rgb if rgb.ndim == 2 else cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    candidates, strength = heat_candidates(heat, region, layout.kind, threshold)
    if len(candidates) < min_points:
        return None
    # One corner can give two peaks a few pixels apart: keep the stronger, so that the spacing
    # (and with it the refinement window) is the grid's.
    candidates, strength = _dedupe(candidates, strength, NMS_SHARE * float(np.median(_spacing(candidates))))
    spacing = _spacing(candidates)
    spacing = np.clip(spacing, 0.4 * np.median(spacing), 2.5 * np.median(spacing))
    refined, ok = refine_points(gray, candidates, spacing, layout.kind)
    candidates, strength = _dedupe(refined[ok], strength[ok], 0.2 * float(np.median(spacing)))
    if len(candidates) < min_points:
        return None
    # Grown with room to spare, then cut to the pattern's size: a false point at the board's
    # edge found first must not keep a true row out.
    limit = _lattice_limit(layout)
    lattice = grow_grid(candidates, (limit[0] + GROWTH_SLACK, limit[1] + GROWTH_SLACK),
                        gray if layout.kind == SADDLE else None)
    if lattice is None or len(lattice.pos) < min_points:
        return None
    for record in lattice.nodes.values():
        record.confidence = record.evidence = float(strength[record.source])
    reference = 1.0
    if layout.kind == SADDLE:
        reference = _check_saddles(gray, lattice)
        if len(lattice.pos) < min_points:
            return None
    # A lattice that already holds every point of the board has nothing left to search for.
    if search and len(lattice.pos) < layout.count:
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
                evidence = min(1.0, contrast / reference)
            else:
                evidence = 0.5
            return q[0], -1, 0.5 * evidence, evidence
        _grow(lattice, look)
    if not _trim(lattice, limit) or len(lattice.pos) < min_points:
        return None
    markers = _detect_markers(gray, layout, np.array(list(lattice.pos.values()))) if layout.charuco else None
    assigned = assign_ids(lattice.pos, layout, gray, markers)
    if assigned is None:
        return None
    ids, partial, identity = assigned
    nodes = list(lattice.pos)
    order = np.lexsort((ids[:, 0], ids[:, 1]))
    xy = np.array([lattice.pos[n] for n in nodes])[order]
    conf = np.clip(np.array([lattice.nodes[n].confidence for n in nodes]), 0, 1)[order]
    return GridPoints(xy, ids[order], conf, layout.grid, partial, identity)


def _dedupe(xy: np.ndarray, strength: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """Candidates closer than `radius` are one point: keep the strongest."""
    keep = np.ones(len(xy), bool)
    close = np.linalg.norm(xy[:, None] - xy[None], axis=2) < radius
    np.fill_diagonal(close, False)
    for a in np.argsort(-strength):
        if keep[a]:
            keep &= ~close[a]
    return xy[keep], strength[keep]


def _check_saddles(gray: np.ndarray, lattice: _Lattice) -> float:
    """Drop grown nodes that are not corners on the photo (the squares around them do not
    alternate) and weigh each kept node's evidence by its contrast as a share of the board's
    median corner contrast; returns that median, the yardstick for searched points."""
    nodes = list(lattice.pos)
    ex, ey = np.array([_local_vectors(lattice, n) for n in nodes]).transpose(1, 0, 2)
    values = saddle_contrasts(gray, np.array([lattice.pos[n] for n in nodes]), ex, ey)
    contrast = {n: None if np.isnan(c) else float(c) for n, c in zip(nodes, values)}
    values = [c for c in contrast.values() if c]
    reference = max(float(np.median(values)) if values else 1.0, 1.0)
    for n, c in contrast.items():
        record = lattice.nodes[n]
        if c is None:  # too close to the frame to tell: the network and the grid vouch for it
            record.evidence = 0.5 * record.confidence
        elif c < 0.5 * MIN_SADDLE_CONTRAST * reference:
            lattice.remove(n)
        else:
            record.evidence = min(1.0, c / reference) * record.confidence
    return reference


def _trim(lattice: _Lattice, limit: tuple[int, int]) -> bool:
    """Cut the lattice's outermost rows or columns, the one with the least evidence first,
    until it fits the pattern (either way round); False (and the lattice left as it is) when
    a row to cut is the board's own (LARGER_BOARD_SHARE): a board larger than the pattern."""
    while lattice.pos:
        nodes = np.array(list(lattice.pos))
        low, high = nodes.min(axis=0), nodes.max(axis=0)
        extent = high - low + 1
        # The longer axis must fit the pattern's longer side (the fewest cuts); a square lattice
        # fits either way round with as many: a line of either axis may go, the weakest.
        allowed = sorted(limit) if extent[0] <= extent[1] else sorted(limit)[::-1]
        over = [axis for axis in (0, 1) if extent[axis] > allowed[axis]]
        if not over:
            return True
        axes = [axis for axis in (0, 1) if extent[axis] > min(limit)] if extent[0] == extent[1] else over[:1]
        lines = {(axis, end): [n for n in lattice.pos if n[axis] == end]
                 for axis in axes for end in (low[axis], high[axis])}
        weakest = min(lines, key=lambda line: sum(lattice.nodes[n].evidence for n in lines[line]))
        strong = sum(lattice.nodes[n].evidence > 0.5 for n in lines[weakest])
        if strong >= LARGER_BOARD_SHARE * extent[1 - weakest[0]]:
            return False
        for n in lines[weakest]:
            lattice.remove(n)
    return True


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
