"""Video that tracks: the previous frame's points predict this frame's.

A full search (`Predictor.predict`: the looks, the verdict, the points' candidates, grid
growth and identities) costs tens of milliseconds a frame, most of it Python; in a video the
board moves a little from one frame to the next, so `Tracker` follows the points instead:

1. each point of the previous frame is carried to this one by pyramidal Lucas-Kanade optical
   flow (`cv2.calcOpticalFlowPyrLK`, all points in one call: follows pans, zooms and shakes of
   tens of pixels a frame);
2. refined where it landed, all at once: `cv2.cornerSubPix` with a window sized from the local
   spacing, then the saddle-point fit of points/candidates.py vectorised over the points (circles: the
   dark blob's centroid, as the full search);
3. verified: the four squares around a corner must still alternate dark and bright (the saddle
   test of points/candidates.py, vectorised on an integral image) against the board's contrast at the
   last full search, and the network's `mask` (one look at the working size, ~2 ms) must still
   cover the points confidently;
4. the kept points keep their ids (the same board points in every frame), and the mask,
   outline and homography come from them as in a full search (`grid_geometry`; where the
   printed squares end beyond the outermost points is measured once and recalled after).

Points that come into view next to the tracked ones (a camera panning over a board cut by the
frame brings more of it into view: the tracked points alone, and the mask drawn from them,
would lag behind it, benchmarks/tracking_masks.py) are found on the tracked frame as the full
search's photo search finds them: where the grid goes on, one step beyond each tracked point,
on the network's board, refined there and its squares alternating (`nodes_in_view`), round
after round; not those the last full search left out (`_State.passed_over`).

The full search runs again when tracking fails (too few points kept: the board left, was
covered or blurred beyond recognition; a cut: the flow's windows no longer look alike), when a
point that came into view lies off a relative grid of ids (the full search numbers the view
again), and every `every` frames (a drifting point is replaced). Where it found no board, the next
frames' searches take the first look alone until `every` frames have passed (then finer looks
again): the finer looks, the frame at up to its own resolution for boards too small for the
first, are most of a boardless frame's time, and a far board is found by the next one, at
most `every` frames later. Pure NumPy/OpenCV.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import cv2
import numpy as np

from .points import (BLOB, MIN_SADDLE_CONTRAST, MIN_SUBPIX_WINDOW, SADDLE, SADDLE_FIT_BLUR,
                     SADDLE_FIT_SHIFT, SADDLE_FIT_WINDOW, GridLayout, GridPoints, grid_geometry, refine_points,
                     subpix_corners)
from .points.candidates import _QUADRATIC_POWERS, converged, saddle_contrasts
from .points.geometry import _fill_nodes
from .prediction import Prediction
from .predictor import check_rgb
from .verdict import compose_maps

# A frame is tracked when at least this share of the previous frame's points is found again
# (fewer: the board is leaving or covered, and a full search says what is left of it).
TRACK_MIN_SHARE = 0.6
# A tracked point is kept when its squares alternate by at least this share of the board's
# contrast at the last full search (the full search drops grown nodes below the same share).
TRACK_MIN_CONTRAST = 0.5 * MIN_SADDLE_CONTRAST
# The full search runs at least every this many frames by default (new points come into view).
FULL_EVERY = 30
# Optical flow: window and pyramid levels (3 levels follow ~100 px of motion a frame).
FLOW_WINDOW = (21, 21)
FLOW_LEVELS = 3
# The flow's points are lost together (a cut to another view: tracked onto a look-alike board,
# its ids shifted by whole squares) when their windows differ from the last frame's by more
# than this mean absolute grey level (median of the points; OpenCV's flow error). Measured on
# benchmarks/video.py's camera: at most 10.7 in 99% of frames, 20-77 at its cuts.
FLOW_MAX_ERROR = 16.0


@dataclass
class _State:
    gray: np.ndarray       # the frame the points were found on
    points: GridPoints
    reference: float       # the board's median corner contrast at the last full search
    margins: dict = field(default_factory=dict)  # the board's margins measured since (grid_geometry)
    # lattice nodes next to the grid that the full search left out though the photo shows a
    # point there (`nodes_in_view`): not taken on the tracked frames either
    passed_over: frozenset = frozenset()


class Tracker:
    """Predictions for the frames of one video, in order: tracked from the previous frame's
    points where that works, a full search (`predictor.predict`) where it does not and every
    `every` frames (1: every frame, no tracking). Patterns without a grid, or a Predictor with
    points=False, are searched in full on every frame.

    `tracked` counts the frames that were tracked (the rest were searched in full)."""

    def __init__(self, predictor, every: int = FULL_EVERY):
        self.predictor = predictor
        self.every = max(1, int(every))
        board = predictor.judge.board
        self.layout = board.layout if board is not None and predictor.points else None
        self._state: _State | None = None
        self._since = 0
        self._frame = 0
        self._finer_from = 0  # the first frame whose full search may look finer (see the module doc)
        self.tracked = 0

    def predict(self, rgb: np.ndarray):
        """The frame's Prediction, its `ms` the frame's wall time (tracked or searched)."""
        start = time.perf_counter()
        check_rgb(rgb)  # the Predictor's own error, before anything here reads the frame
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        if self._state is not None and self._state.gray.shape != gray.shape:
            self._state = None  # the stream changed its frame size: nothing to follow from, search
        result = self._predict(rgb, gray)
        result.ms = (time.perf_counter() - start) * 1000
        return result

    def _predict(self, rgb: np.ndarray, gray: np.ndarray):
        frame, self._frame = self._frame, self._frame + 1
        result = None
        if self._state is not None and self._since + 1 < self.every:
            result = self._track(rgb, gray)
        if result is not None:
            self._since += 1
            self.tracked += 1
            return result
        finer = frame >= self._finer_from
        result = self.predictor.predict(rgb, multiscale=None if finer else False)
        if result.detected:
            self._finer_from = 0
        elif finer:
            self._finer_from = frame + self.every
        self._since = 0
        previous, self._state = self._state, None
        if self.layout is not None and result.detected and result.points is not None and len(result.points):
            if previous is not None and result.points.identity == "relative":
                result.points = self._keep_ids(previous, gray, result.points)
            points = result.points
            reference = 1.0
            if self.layout.kind == SADDLE:
                contrast = saddle_contrasts(gray, points.xy, *grid_vectors(points), closer=False)
                values = contrast[np.isfinite(contrast) & (contrast > 0)]
                reference = max(float(np.median(values)) if len(values) else 1.0, 1.0)
            _, passed_over, _, _ = nodes_in_view(gray, points, self.layout, reference)
            self._state = _State(gray, points, reference, passed_over=frozenset(map(tuple, passed_over.tolist())))
        return result

    def _keep_ids(self, previous: _State, gray: np.ndarray, points: GridPoints) -> GridPoints:
        """A full search's points with relative ids (a partial view), numbered as the points
        tracked into this frame from the last one where those agree on one numbering: the
        same board point keeps its id across the search (and an absolute id stays absolute)."""
        found = track_points(previous.gray, gray, previous.points, self.layout.kind, previous.reference)
        if found is None:
            return points
        xy, keep, _ = found
        if keep.sum() < 3:
            return points
        ids = remap_ids(points, xy[keep], previous.points.ids[keep])
        if ids is None:
            return points
        order = np.lexsort((ids[:, 0], ids[:, 1]))
        return GridPoints(points.xy[order], ids[order], points.confidence[order], points.grid, points.partial,
                          previous.points.identity)

    def _track(self, rgb: np.ndarray, gray: np.ndarray):
        predictor, layout, state = self.predictor, self.layout, self._state
        found = track_points(state.gray, gray, state.points, layout.kind, state.reference)
        if found is None:
            return None
        xy, keep, contrast = found
        previous = state.points
        rule = predictor.rule
        if keep.sum() < max(rule.min_grid_points, TRACK_MIN_SHARE * len(previous)):
            return None
        h, w = gray.shape
        maps = compose_maps(predictor._run([rgb])[0], None, (w, h), (w, h))
        masks = predictor.board_masks(maps)
        board = masks["mask"]
        grown = self._grow(gray, board, xy[keep], previous.ids[keep], contrast[keep])
        if grown is None:
            return None
        xy, ids, contrast = grown
        heat = masks.get(layout.feature_mask)
        ix = np.clip(np.round(xy).astype(int), 0, [w - 1, h - 1])
        confidence = heat[ix[:, 1], ix[:, 0]] if heat is not None else np.ones(len(xy))
        if layout.kind == SADDLE:
            confidence = confidence * np.where(np.isfinite(contrast), np.minimum(1.0, contrast / state.reference),
                                               0.5)
        points = GridPoints(xy, ids, np.clip(confidence, 0, 1), layout.grid, len(xy) < layout.count,
                            previous.identity)
        grid_mask, outline, homography = grid_geometry(points, layout, (h, w), board, gray, predictor.threshold,
                                                       state.margins)
        inside = grid_mask > 0
        area = float(np.count_nonzero(inside)) / inside.size
        if not inside.any():
            return None
        confidence_mean = float(board[inside].mean())
        if confidence_mean < rule.min_confidence:
            return None  # the network no longer sees a board where the points are
        region = board > predictor.threshold
        seen, board_area = np.count_nonzero(region & inside), np.count_nonzero(region)
        fill = float(seen) / max(1, board_area + np.count_nonzero(inside) - seen)
        score = float(confidence_mean * fill * min(1.0, area / rule.min_area))
        if rule.suppress:
            reach = max(3, round(0.01 * max(h, w)))
            keep_region = cv2.dilate(inside.astype(np.uint8), np.ones((2 * reach + 1,) * 2, np.uint8)).astype(bool)
            for m in maps:
                m[~keep_region] = 0.0
        masks["mask"] = grid_mask
        self._state = _State(gray, points, state.reference, state.margins, state.passed_over)
        return Prediction(masks, outline, homography, True, score, area, confidence_mean, fill, points=points)

    def _grow(self, gray: np.ndarray, board: np.ndarray, xy: np.ndarray, ids: np.ndarray, contrast: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """The tracked points (positions, ids, corner contrast) and the board's points that
        came into view next to them, found round after round as the full search's photo search
        finds them (`nodes_in_view`: the tracked frame keeps up with a board moving into view
        at tracking's cost); None when one lies off a relative grid of ids (the full search
        numbers the view again)."""
        layout, state = self.layout, self._state
        skip = set(state.passed_over)  # the full search's own choice: not taken here either
        while True:
            points = GridPoints(xy, ids, np.ones(len(xy)), layout.grid, True, state.points.identity)
            looked, nodes, found, found_contrast = nodes_in_view(
                gray, points, layout, state.reference, board, self.predictor.threshold, frozenset(skip))
            if not len(nodes):
                return xy, ids, contrast
            new_ids = node_ids(nodes, layout)
            if new_ids is None:
                return None
            skip |= looked
            xy, ids = np.concatenate([xy, found]), np.concatenate([ids, new_ids])
            contrast = np.concatenate([contrast, found_contrast])


_TURNS = (np.array([[1, 0], [0, 1]]), np.array([[0, -1], [1, 0]]), np.array([[-1, 0], [0, -1]]),
          np.array([[0, 1], [-1, 0]]))


def remap_ids(points: GridPoints, xy: np.ndarray, ids: np.ndarray) -> np.ndarray | None:
    """`points`' ids renumbered so that the points lying where `xy` (with `ids`) are take
    those ids: the turn and offset of the id grid that nearly all matched points agree on
    (None when the points do not match, do not agree, or the renumbering leaves the grid)."""
    if not len(points):
        return None
    d = np.linalg.norm(points.xy[:, None].astype(np.float64) - xy[None], axis=2)
    nearest = d.argmin(axis=1)
    spacing = float(np.median(np.sort(np.linalg.norm(points.xy[:, None] - points.xy[None], axis=2), axis=1)[:, 1])) \
        if len(points) > 1 else 1.0
    matched = d[np.arange(len(points)), nearest] < 0.3 * spacing
    if matched.sum() < 3:
        return None
    new, old = points.ids[matched].astype(np.int64), ids[nearest[matched]].astype(np.int64)
    for turn in _TURNS:
        turned = new @ turn.T
        offset = np.round(np.median(old - turned, axis=0)).astype(np.int64)
        if np.mean((turned + offset == old).all(axis=1)) >= 0.9:
            out = points.ids.astype(np.int64) @ turn.T + offset
            if (out >= 0).all() and (out < np.array(points.grid)).all():
                return out.astype(np.int32)
            return None
    return None


def grid_vectors(points: GridPoints) -> tuple[np.ndarray, np.ndarray]:
    """Each point's photo step to its next column and next row (N×2 each), from its grid
    neighbours by id (the step back where there is no next; the board's median step where
    neither)."""
    xy, ids = points.xy.astype(np.float64), points.ids
    cols, rows = points.grid
    lookup = np.full((rows + 2, cols + 2), -1, np.int64)
    lookup[ids[:, 1] + 1, ids[:, 0] + 1] = np.arange(len(ids))
    out = []
    for dc, dr in ((1, 0), (0, 1)):
        ahead = lookup[ids[:, 1] + 1 + dr, ids[:, 0] + 1 + dc]
        behind = lookup[ids[:, 1] + 1 - dr, ids[:, 0] + 1 - dc]
        vec = np.full_like(xy, np.nan)
        vec[ahead >= 0] = xy[ahead[ahead >= 0]] - xy[ahead >= 0]
        back = (ahead < 0) & (behind >= 0)
        vec[back] = xy[back] - xy[behind[back]]
        missing = ~np.isfinite(vec).all(axis=1)
        if missing.any():
            vec[missing] = np.median(vec[~missing], axis=0) if (~missing).any() else 0.0
        out.append(vec)
    return out[0], out[1]


# One lattice step each way along the grid's rows and columns (in `lattice_nodes` units).
_NEIGHBOURS = ((1, 0), (-1, 0), (0, 1), (0, -1))


def lattice_nodes(ids: np.ndarray, layout: GridLayout) -> np.ndarray:
    """N×2 int: the points' places on the pattern's lattice in units of its nearest-neighbour
    steps (`layout.basis`: ids for a rectangular grid; an asymmetric circle grid's rows of
    diagonal neighbours become rows of unit steps)."""
    coords = layout.coords[layout.rows_of(ids)].astype(np.float64)
    return np.rint(np.linalg.solve(layout.basis.astype(np.float64), coords.T).T).astype(np.int64)


def points_beyond(points: GridPoints, layout: GridLayout) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where the grid goes on next to its seen points: (lattice nodes M×2, photo positions
    M×2, the index of the seen point each is next to M) of every node one step from a seen
    point along its row or column that no seen point holds, placed as grid_geometry places the
    nodes it draws (continuing the rows, quadratically where three seen points allow); for
    absolute ids, only the pattern's own nodes."""
    if points.absolute and len(points) == layout.count:
        return np.zeros((0, 2), np.int64), np.zeros((0, 2)), np.zeros(0, np.int64)
    nodes = lattice_nodes(points.ids, layout).tolist()
    seen = {tuple(n): p for n, p in zip(nodes, points.xy.astype(np.float64))}
    basis = layout.basis.astype(np.int64)
    beside: dict[tuple[int, int], int] = {}  # node beyond -> the seen point it is next to
    for i, (x, y) in enumerate(nodes):
        for dx, dy in _NEIGHBOURS:
            node = (x + dx, y + dy)
            if node in seen or node in beside:
                continue
            if points.absolute and tuple((basis @ np.array(node)).tolist()) not in layout.index:
                continue  # beyond the pattern's own grid: no point there
            beside[node] = i
    placed = _fill_nodes(seen, set(beside))
    found = [n for n in beside if n in placed]
    if not found:
        return np.zeros((0, 2), np.int64), np.zeros((0, 2)), np.zeros(0, np.int64)
    return (np.array(found, np.int64), np.array([placed[n] for n in found], np.float64),
            np.array([beside[n] for n in found], np.int64))


def nodes_in_view(gray: np.ndarray, points: GridPoints, layout: GridLayout, reference: float,
                  board: np.ndarray | None = None, threshold: float = 0.5, skip: frozenset = frozenset()
                  ) -> tuple[set, np.ndarray, np.ndarray, np.ndarray]:
    """The lattice nodes next to the grid's points (`points_beyond`, less `skip`) at which the
    photo shows a point as the full search's photo search takes one (points/find.py): where
    its refinement window fits the frame, on the network's `board` (its `mask` map, over
    `threshold`; None: anywhere), refined there and, for corners, its four squares alternating
    by MIN_SADDLE_CONTRAST of the board's `reference` contrast. Returns (the nodes looked at;
    of those, the points': nodes M×2, refined positions M×2, corner contrast M, NaN for
    circles)."""
    nodes, xy, source = points_beyond(points, layout)
    h, w = gray.shape
    border = np.minimum.reduce([xy[:, 0], xy[:, 1], w - 1 - xy[:, 0], h - 1 - xy[:, 1]])
    look = border >= MIN_SUBPIX_WINDOW + 2  # the refinement's window fits the frame
    if skip:
        look &= np.array([n not in skip for n in map(tuple, nodes.tolist())], bool)
    if board is not None and look.any():
        at = np.round(xy[look]).astype(int)
        look[look] = board[at[:, 1], at[:, 0]] > threshold
    nodes, xy, source, border = nodes[look], xy[look], source[look], border[look]
    looked = set(map(tuple, nodes.tolist()))
    if not looked:
        return looked, nodes, xy, np.zeros(0)
    ex, ey = (v[source] for v in grid_vectors(points))  # the grid's steps at the point beside each
    spacing = np.minimum(np.linalg.norm(ex, axis=1), np.linalg.norm(ey, axis=1))
    if layout.kind == BLOB:
        refined, ok = refine_points(gray, xy, spacing, BLOB)
        return looked, nodes[ok], refined[ok], np.full(int(ok.sum()), np.nan)
    # cornerSubPix alone (the saddle fit, most of a refinement's time, is left to the next
    # frame's tracking: a point found here is within ~0.1 px), then the squares around it
    refined, ok = xy.copy(), np.zeros(len(xy), bool)
    subpix_corners(gray, xy, spacing, border, refined, ok)
    ok &= converged(refined, xy, spacing, gray.shape)
    contrast = np.full(len(xy), np.nan)
    contrast[ok] = saddle_contrasts(gray, refined[ok], ex[ok], ey[ok])
    ok &= contrast >= MIN_SADDLE_CONTRAST * reference
    return looked, nodes[ok], refined[ok], contrast[ok]


def node_ids(nodes: np.ndarray, layout: GridLayout) -> np.ndarray | None:
    """The ids of lattice nodes (`lattice_nodes`' inverse); None when one lies off the
    pattern's grid."""
    rows = [layout.index.get(tuple(c)) for c in (nodes @ layout.basis.T).tolist()]
    return None if None in rows else layout.ids[np.array(rows, np.int64)]


def track_points(previous_gray: np.ndarray, gray: np.ndarray, previous: GridPoints, kind: str,
                 reference: float) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The previous frame's points found again on `gray`: (N×2 positions, N bool kept, N corner
    contrast, NaN where not measured); None when the flow finds none."""
    if not len(previous):
        return None
    start = previous.xy.astype(np.float32).reshape(-1, 1, 2)
    moved, status, error = cv2.calcOpticalFlowPyrLK(
        previous_gray, gray, start, None, winSize=FLOW_WINDOW, maxLevel=FLOW_LEVELS,
        criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 0.03))
    moved = moved.reshape(-1, 2).astype(np.float64)
    flowed = status.reshape(-1).astype(bool) & np.isfinite(moved).all(axis=1)
    if not flowed.any() or np.median(error.reshape(-1)[flowed]) > FLOW_MAX_ERROR:
        return None  # nothing followed, or what was followed does not look the same: a cut
    ex, ey = grid_vectors(previous)
    spacing = np.minimum(np.linalg.norm(ex, axis=1), np.linalg.norm(ey, axis=1))
    spacing = np.clip(spacing, 0.4 * np.median(spacing), 2.5 * np.median(spacing))
    xy = moved.copy()
    keep = flowed.copy()
    if kind == BLOB:
        refined, ok = refine_points(gray, moved[flowed], spacing[flowed], BLOB)
        xy[flowed] = refined
        keep[flowed] = ok
        return xy, keep, np.full(len(xy), np.nan)
    refined, ok = refine_saddles(gray, moved[flowed], spacing[flowed])
    xy[flowed] = refined
    keep[flowed] = ok
    contrast = np.full(len(xy), np.nan)
    # the grid's steps move with the board: measured on this frame's flowed positions
    contrast[keep] = saddle_contrasts(gray, xy[keep], ex[keep], ey[keep], closer=False)
    keep &= ~(np.isfinite(contrast) & (contrast < TRACK_MIN_CONTRAST * reference))
    measured = contrast[keep & np.isfinite(contrast)]
    if len(measured) and np.median(measured) < 0.5 * reference:
        return None  # what the flow followed has lost the board's contrast
    return xy, keep, contrast


def refine_saddles(gray: np.ndarray, xy: np.ndarray, spacing: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """points.refine_points for saddle points, vectorised: cornerSubPix for all points at once
    (grouped by window), then the saddle fit for all at once (`saddle_points`)."""
    xy = np.asarray(xy, np.float64).reshape(-1, 2)
    spacing = np.asarray(spacing, np.float64)
    out, ok = xy.copy(), np.zeros(len(xy), bool)
    if not len(xy):
        return out, ok
    h, w = gray.shape
    border = np.minimum.reduce([xy[:, 0], xy[:, 1], w - 1 - xy[:, 0], h - 1 - xy[:, 1]])
    subpix_corners(gray, xy, spacing, border, out, ok)
    fitted = saddle_points(gray, out, spacing, ok)
    good = np.isfinite(fitted).all(axis=1) & (np.linalg.norm(fitted - out, axis=1) <= SADDLE_FIT_SHIFT * spacing)
    out[good] = fitted[good]
    ok &= converged(out, xy, spacing, gray.shape)
    return out, ok


def saddle_points(gray: np.ndarray, xy: np.ndarray, spacing: np.ndarray, which: np.ndarray | None = None
                  ) -> np.ndarray:
    """points.saddle_point for many points at once (N×2; NaN where there is no saddle, or the
    window reaches the frame): the same weighted quadratic fit, window and smoothing from the
    spacing, re-centred up to 5 times. The smoothing is one blur of the points' part of the
    photo per window size (not a patch each), so positions agree with saddle_point to a few
    thousandths of a pixel, not bit for bit."""
    xy = np.asarray(xy, np.float64).reshape(-1, 2)
    out = np.full_like(xy, np.nan)
    which = np.ones(len(xy), bool) if which is None else np.asarray(which, bool)
    if not which.any():
        return out
    h, w = gray.shape
    radius = np.maximum(3, np.round(SADDLE_FIT_WINDOW * spacing)).astype(int)
    for r in np.unique(radius[which]):
        sel = np.nonzero(which & (radius == r))[0]
        sigma = float(np.clip(SADDLE_FIT_BLUR * np.median(spacing[sel]), 0.8, 3.0))
        pad = r + int(np.ceil(4 * sigma)) + 2
        (x0, y0), (x1, y1) = np.floor(xy[sel].min(axis=0)).astype(int) - pad, np.ceil(xy[sel].max(axis=0)).astype(int) + pad + 1
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
        if x1 - x0 < 3 or y1 - y0 < 3:
            continue
        blurred = cv2.GaussianBlur(gray[y0:y1, x0:x1].astype(np.float32), (0, 0), sigma)
        edge = int(np.ceil(2 * sigma))
        lo = np.array([edge if x0 == 0 else 0, edge if y0 == 0 else 0]) + r
        hi = np.array([blurred.shape[1] - (edge if x1 == w else 0), blurred.shape[0] - (edge if y1 == h else 0)]) - r - 1
        q = xy[sel] - np.array([x0, y0])
        active = np.ones(len(sel), bool)
        valid = np.ones(len(sel), bool)
        offsets = np.arange(-r, r + 1)
        i, j = _QUADRATIC_POWERS[:, 0], _QUADRATIC_POWERS[:, 1]
        s2 = (r / 2) ** 2
        for _ in range(5):
            idx = np.nonzero(active & valid)[0]
            if not len(idx):
                break
            centre = np.round(q[idx]).astype(int)
            inside = (centre >= lo).all(axis=1) & (centre <= hi).all(axis=1)
            valid[idx[~inside]] = False
            idx, centre = idx[inside], centre[inside]
            if not len(idx):
                break
            dx = centre[:, 0, None] + offsets - q[idx, 0, None]  # n×W
            dy = centre[:, 1, None] + offsets - q[idx, 1, None]
            powers = np.arange(5)[None, :, None]
            px = np.exp(-dx * dx / s2)[:, None, :] * dx[:, None, :] ** powers  # n×5×W
            py = np.exp(-dy * dy / s2)[:, None, :] * dy[:, None, :] ** powers
            mx, my = px.sum(axis=2), py.sum(axis=2)
            normal = mx[:, i[:, None] + i[None, :]] * my[:, j[:, None] + j[None, :]]  # n×6×6
            rows = centre[:, 1, None] + offsets
            cols = centre[:, 0, None] + offsets
            window = blurred[rows[:, :, None], cols[:, None, :]].astype(np.float64)  # n×W×W
            moments = np.einsum("nay,nyx,nbx->nab", py[:, :3], window, px[:, :3])
            rhs = moments[:, j, i]
            try:
                coef = np.linalg.solve(normal, rhs[..., None])[..., 0]
            except np.linalg.LinAlgError:
                valid[idx] = False
                break
            a, b, c, d, e = coef[:, 0], coef[:, 1], coef[:, 2], coef[:, 3], coef[:, 4]
            det = 4 * a * c - b * b
            saddle = det < 0
            valid[idx[~saddle]] = False
            idx, a, b, c, d, e, det = idx[saddle], a[saddle], b[saddle], c[saddle], d[saddle], e[saddle], det[saddle]
            # -H^-1 [d, e], H = [[2a, b], [b, 2c]]
            mx_, my_ = -(2 * c * d - b * e) / det, -(2 * a * e - b * d) / det
            q[idx, 0] += mx_
            q[idx, 1] += my_
            active[idx[np.hypot(mx_, my_) < 1e-3]] = False
        done = valid
        out[sel[done]] = q[done] + np.array([x0, y0])
    return out
