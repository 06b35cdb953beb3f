"""The board's geometry from its points (`grid_geometry`): the cells between the points, the
board's margins beyond the outer points measured on the photo, extended to the frame where the
board is cut by it; its mask, outline and homography, so that the geometry is the grid's, not
a blob's.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import cv2
import numpy as np

from ...scores import MASK_THRESHOLD
from .grid import GridLayout, GridPoints, SADDLE

def grid_geometry(points: GridPoints, layout: GridLayout, shape: tuple[int, int],
                  support: np.ndarray | None = None, gray: np.ndarray | None = None,
                  threshold: float = MASK_THRESHOLD, margins: dict | None = None
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
    `support` map (its `mask` probability, over `threshold` on average) says board there, and on the photo `gray` the new
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
    extend = support is not None and gray is not None and points.partial and layout.appearance
    # the seen points' squares: placed now where rows may be added towards the frame, else
    # only if a margin must be measured (none when `margins` recalls all four sides)
    around = _fill_nodes(seen, _cell_nodes(cells)) if extend else None
    measured = _margins(gray, lambda: around if around is not None else _fill_nodes(seen, _cell_nodes(cells)),
                        low, high, margins) if squares else {}
    if extend:
        before = (low.copy(), high.copy())
        low, high = _extend_to_frame(seen, cells, low, high, layout, support, gray, threshold,
                                     closed=set(measured), pos=around)
        if squares and not (np.array_equal(low, before[0]) and np.array_equal(high, before[1])):
            # the rows added on an open side are its new outer squares: read where they end
            more = _margins(gray, lambda: _fill_nodes(seen, _cell_nodes(cells)), low, high, margins)
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
    return mask, np.array(outline, np.float32), homography

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


def _margin_keys(low: np.ndarray, high: np.ndarray) -> dict[str, tuple[str, int]]:
    """Each side's key in a record of margins: the side and its outermost row or column."""
    return {"left": ("left", int(low[0])), "right": ("right", int(high[0])), "top": ("top", int(low[1])),
            "bottom": ("bottom", int(high[1]))}


def _margins(gray: np.ndarray, nodes: Callable[[], dict], low: np.ndarray, high: np.ndarray,
             record: dict | None) -> dict[str, float]:
    """_measured_margins on the nodes `nodes()` places, the sides `record` holds recalled
    (nothing placed or measured when it holds all four; see grid_geometry's `margins`), and
    what is measured added to it."""
    keys = _margin_keys(low, high)
    known = {side: record[key] for side, key in keys.items() if key in record} if record is not None else {}
    if len(known) == len(keys):
        return known
    out = {**_measured_margins(gray, nodes(), low, high), **known}
    if record is not None:
        record.update({keys[side]: m for side, m in out.items()})
    return out


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
        # each square between two outer points and their neighbours beyond: (a, b, da, db)
        pairs = []
        for t in range(int(low[other]), int(high[other])):
            inner_a = (edge, t) if axis == 0 else (t, edge)
            inner_b = (edge, t + 1) if axis == 0 else (t + 1, edge)
            outer_a = (edge + sign, t) if axis == 0 else (t, edge + sign)
            outer_b = (edge + sign, t + 1) if axis == 0 else (t + 1, edge + sign)
            if all(n in pos for n in (inner_a, inner_b, outer_a, outer_b)):
                pairs.append((pos[inner_a], pos[inner_b], pos[outer_a], pos[outer_b]))
        if not pairs:
            continue
        a, b, outer_a, outer_b = (np.array(v, np.float64)[:, None, None, :] for v in zip(*pairs))
        da, db = outer_a - a, outer_b - b
        # across the middle half of the square, from the points' line outwards (squares × 5 × samples)
        s = np.linspace(0.25, 0.75, 5)[None, :, None, None]
        k = EXTENT_SAMPLES[None, None, :, None]
        xy = (a + s * (b - a)) + k * (da + s * (db - da))
        inside = ((xy[..., 0] >= 0) & (xy[..., 1] >= 0) & (xy[..., 0] <= w - 1) & (xy[..., 1] <= h - 1)).all(axis=(1, 2))
        if not inside.any():
            continue
        xy = xy[inside]
        values = cv2.remap(gray, xy[..., 0].reshape(-1, xy.shape[2]).astype(np.float32),
                           xy[..., 1].reshape(-1, xy.shape[2]).astype(np.float32), cv2.INTER_LINEAR)
        profiles = values.astype(np.float64).reshape(xy.shape[:3]).mean(axis=1)
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


def _cell_quads(cells, pos: dict, shape: tuple[int, int]) -> list[np.ndarray | None]:
    """Each lattice cell's quad (named by its top-left node) in 1/16 px, as OpenCV's fill takes
    it; None unless its four nodes have sane positions."""
    cells = list(cells)
    known = [all((x + dx, y + dy) in pos for dx, dy in _CELL_CORNERS) for x, y in cells]
    out: list[np.ndarray | None] = [None] * len(cells)
    which = [k for k, ok in enumerate(known) if ok]
    if not which:
        return out
    quads = np.array([[pos[(cells[k][0] + dx, cells[k][1] + dy)] for dx, dy in _CELL_CORNERS] for k in which],
                     np.float64)
    sane = np.isfinite(quads).all(axis=(1, 2)) & (np.abs(quads).max(axis=(1, 2)) < 8 * max(shape))
    fixed = np.round(quads * 16).astype(np.int32)
    for k, ok, quad in zip(which, sane, fixed):
        if ok:
            out[k] = quad
    return out


# A cell's corners from its top-left node, in drawing order.
_CELL_CORNERS = ((0, 0), (1, 0), (1, 1), (0, 1))


def _draw_cells(cells, pos: dict, shape: tuple[int, int]) -> np.ndarray:
    """H×W float32: 1 inside the lattice cells (named by their top-left node) whose four nodes
    have positions, 0 elsewhere (drawn as the mask is returned: one frame-sized array)."""
    mask = np.zeros(shape, np.float32)
    for quad in _cell_quads(cells, pos, shape):
        if quad is not None:
            cv2.fillConvexPoly(mask, quad, 1.0, cv2.LINE_8, 4)  # 1/16 px
    return mask


def _draw_cells_box(cells, pos: dict, shape: tuple[int, int]) -> tuple[np.ndarray, tuple[int, int]]:
    """`_draw_cells` within the cells' box alone: (that box of the H×W mask, its top-left
    (x0, y0) in the frame); the same pixels, drawn shifted by whole pixels."""
    return _fill_in_box([q for q in _cell_quads(cells, pos, shape) if q is not None], shape)


def _fill_in_box(quads: list, shape: tuple[int, int]) -> tuple[np.ndarray, tuple[int, int]]:
    """Quads (1/16 px) filled in their own box of an H×W frame (uint8, 1 inside; empty when
    none is in the frame) and that box's top-left (x0, y0)."""
    h, w = shape
    if not quads:
        return np.zeros((0, 0), np.uint8), (0, 0)
    every = np.concatenate(quads)
    (lx, ly), (hx, hy) = every.min(axis=0) // 16, every.max(axis=0) // 16
    x0, y0, x1, y1 = max(0, int(lx) - 1), max(0, int(ly) - 1), min(w, int(hx) + 2), min(h, int(hy) + 2)
    if x1 <= x0 or y1 <= y0:
        return np.zeros((0, 0), np.uint8), (0, 0)
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    shift = np.array([16 * x0, 16 * y0], np.int32)
    for quad in quads:
        cv2.fillConvexPoly(mask, quad - shift, 1, cv2.LINE_8, 4)  # 1/16 px
    return mask, (x0, y0)


def _extend_to_frame(seen: dict, cells: set, low: np.ndarray, high: np.ndarray, layout: GridLayout,
                     support: np.ndarray, gray: np.ndarray, threshold: float,
                     closed: set = frozenset(), pos: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Add whole rows (columns) of squares beyond the margin ring on each side of a partial
    view (but the `closed` sides, where the photo shows the squares end), in place in `cells`,
    while the pattern has rows to spare and the new row, where it is in the frame, is board by
    the network's `support` (mean over `threshold`) and alternates dark and bright on the photo. Returns
    the box of points the cells now stand for. `pos`: the nodes of `cells` placed already
    (`_fill_nodes(seen, _cell_nodes(cells))`)."""
    low, high = low.copy(), high.copy()
    span = layout.coords.max(axis=0) - layout.coords.min(axis=0)
    pos = _fill_nodes(seen, _cell_nodes(cells)) if pos is None else pos
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
                drawn, (x0, y0) = _draw_cells_box(row, pos, support.shape)
                drawn = drawn.astype(bool)
                if not drawn.any() or float(support[y0:y0 + drawn.shape[0], x0:x0 + drawn.shape[1]][drawn].mean()) \
                        <= threshold or not _alternates(gray, row, pos, 0.5 * contrast):
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
    for quad in _cell_quads(row, pos, (h, w)):
        mean = None
        if quad is not None:
            drawn, (x0, y0) = _fill_in_box([quad], (h, w))
            inside = gray[y0:y0 + drawn.shape[0], x0:x0 + drawn.shape[1]][drawn.astype(bool)]
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
    neighbours, best rule first (FILL_RULES): each round places the missing nodes the best rule
    that applies to any of them can place, then looks again. The rules work on (x, y) pairs
    of plain floats: the same IEEE arithmetic, term for term, as on NumPy 2-vectors, without
    NumPy's cost a call (a few hundred calls a board); the placed nodes come back as arrays."""
    missing = set(needed) - set(seen)
    if not missing:
        return dict(seen)
    xy = {n: (float(p[0]), float(p[1])) for n, p in seen.items()}
    seen_xy = dict(xy)
    placed: dict = {}
    while missing:
        found = {}
        for rule in FILL_RULES:
            for n in missing:
                estimates = rule(n, xy, seen_xy)
                if estimates:
                    found[n] = _mean_xy(estimates)
            if found:
                break
        if not found:
            break
        xy.update(found)
        placed.update(found)
        missing -= set(found)
    return {**seen, **{n: np.array(p) for n, p in placed.items()}}


def _mean_xy(rows: list) -> tuple[float, float]:
    """The mean of a few (x, y) pairs, summed in order (as NumPy's mean of rows is)."""
    tx, ty = rows[0][0] / 1.0, rows[0][1] / 1.0
    for rx, ry in rows[1:]:
        tx, ty = tx + rx, ty + ry
    return tx / len(rows), ty / len(rows)


# _fill_nodes' directions, in the order its estimates are averaged: the pairs a node lies
# between (its two axes and diagonals), and the four steps along rows and columns.
_BETWEEN = ((1, 0), (0, 1), (1, 1), (1, -1))
_STRAIGHT = ((1, 0), (0, 1), (-1, 0), (0, -1))


def _between(n, pos: dict, seen: dict) -> list:
    """Midway between two known nodes (any of the four directions, diagonals included)."""
    x, y = n
    out = []
    for dx, dy in _BETWEEN:
        a, b = (x - dx, y - dy), (x + dx, y + dy)
        if a in pos and b in pos:
            (ax, ay), (bx, by) = pos[a], pos[b]
            out.append(((ax + bx) / 2, (ay + by) / 2))
    return out


def _row_of_three(n, pos: dict, seen: dict) -> list:
    """Continuing a row of three seen nodes (quadratic: follows the lens' curvature)."""
    x, y = n
    out = []
    for dx, dy in _STRAIGHT:
        a, b, c = (x - dx, y - dy), (x - 2 * dx, y - 2 * dy), (x - 3 * dx, y - 3 * dy)
        if a in seen and b in seen and c in seen:
            (ax, ay), (bx, by), (cx, cy) = seen[a], seen[b], seen[c]
            bend_x, bend_y = ax - 2 * bx + cx, ay - 2 * by + cy
            step_x, step_y = ax - bx, ay - by
            # A lens bends a row gently; a bend of more than a few % of the spacing is a point
            # off its place, which a quadratic would amplify.
            if math.sqrt(bend_x * bend_x + bend_y * bend_y) <= MAX_ROW_BEND * math.sqrt(step_x * step_x + step_y * step_y):
                out.append((3 * ax - 3 * bx + cx, 3 * ay - 3 * by + cy))
            else:
                out.append((2 * ax - bx, 2 * ay - by))
    return out


def _row_of_two(n, pos: dict, seen: dict) -> list:
    """Continuing a row of two known nodes."""
    x, y = n
    out = []
    for dx, dy in _STRAIGHT:
        a, b = (x - dx, y - dy), (x - 2 * dx, y - 2 * dy)
        if a in pos and b in pos:
            (ax, ay), (bx, by) = pos[a], pos[b]
            out.append((2 * ax - bx, 2 * ay - by))
    return out


def _parallelogram(n, pos: dict, seen: dict) -> list:
    """Completing a parallelogram of three known nodes."""
    x, y = n
    out = []
    for dx, dy in _STRAIGHT:
        a = (x - dx, y - dy)
        if a not in pos:
            continue
        for ex, ey in ((dy, dx), (-dy, -dx)):
            side, corner = (x + ex, y + ey), (a[0] + ex, a[1] + ey)
            if side in pos and corner in pos:
                (ax, ay), (sx, sy), (cx, cy) = pos[a], pos[side], pos[corner]
                out.append((ax + sx - cx, ay + sy - cy))
    return out


FILL_RULES = (_between, _row_of_three, _row_of_two, _parallelogram)
