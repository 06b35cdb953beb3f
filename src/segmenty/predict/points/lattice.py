"""Step 3 of `find_grid_points`: growing a lattice (integer grid coordinates -> candidate) from a
seed, each neighbour predicted from the grid already grown around it, the photo searched
where the network missed a point.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .candidates import saddle_contrast

# A candidate is accepted for a predicted grid position within this share of the local spacing.
MATCH_RADIUS = 0.3

# Seeds tried for growing the grid (the best-shaped candidates first).
MAX_SEEDS = 6

_STEPS4 = ((1, 0), (-1, 0), (0, 1), (0, -1))


@dataclass(slots=True)
class Node:
    """One grown point of the lattice: everything known of it, in one record.

    xy:          its photo position.
    source:      the candidate it was grown from, or -1 when the photo search found it.
    confidence:  the network's heat at it (half the photo's evidence for a searched point).
    evidence:    how well the photo and the network vouch for it (a share of the board's median
                 corner contrast times the confidence, for saddles): what trimming keeps.
    """

    xy: np.ndarray
    source: int
    confidence: float = 1.0
    evidence: float = 1.0


class _Lattice:
    """Integer lattice nodes -> their records (`nodes`), grown outwards from a seed; `pos`
    indexes their positions (the growth's hot path reads only those), kept by `add` and
    `remove` alone."""

    def __init__(self, limit: tuple[int, int]):
        self.nodes: dict[tuple[int, int], Node] = {}
        self.pos: dict[tuple[int, int], np.ndarray] = {}
        self.limit = sorted(limit)  # the pattern's extents along the two lattice axes
        self._box: tuple | None = None  # (low i, low j, high i, high j, node count) of `pos`

    def add(self, node, xy, source: int, confidence: float = 1.0, evidence: float = 1.0) -> None:
        box = self._bounds() if node not in self.pos else None
        record = Node(np.asarray(xy, np.float64), source, confidence, evidence)
        self.nodes[node] = record
        self.pos[node] = record.xy
        if box is not None:
            (li, lj, hi, hj, n) = box if box[4] else (node[0], node[1], node[0], node[1], 0)
            self._box = (min(li, node[0]), min(lj, node[1]), max(hi, node[0]), max(hj, node[1]), n + 1)
        else:
            self._box = None

    def remove(self, node) -> None:
        del self.nodes[node], self.pos[node]

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
    # every candidate at once: its neighbours' vectors (K×8×2), the first as u
    vecs = xy[near] - xy[:, None]
    lengths = np.linalg.norm(vecs, axis=2)
    u = vecs[:, 0]
    cos = np.einsum("kni,ki->kn", vecs, u) / (lengths * lengths[:, :1] + 1e-9)
    # (a neighbour on the point itself, a duplicate candidate, is no direction)
    crossing = (np.abs(cos) < 0.8) & (lengths > 1e-6)
    has_v = crossing.any(axis=1) & (lengths[:, 0] > 1e-6)
    first = np.argmax(crossing, axis=1)
    ks = np.arange(len(xy))
    v = vecs[ks, first]
    with np.errstate(divide="ignore", invalid="ignore"):  # (candidates without a cross are left out)
        u_back = np.linalg.norm(vecs + u[:, None], axis=2).min(axis=1) / lengths[:, 0]
        v_back = np.linalg.norm(vecs + v[:, None], axis=2).min(axis=1) / np.linalg.norm(v, axis=1)
    seeds = []
    for k in np.flatnonzero(has_v):
        # A strip of two rows (a board cut by the frame) has no full cross: one opposite pair
        # will do, at a price.
        backs = (float(u_back[k]), float(v_back[k]))
        if min(backs) < MATCH_RADIUS:
            cost = sum(b if b < MATCH_RADIUS else 1.0 for b in backs)
            seeds.append((cost + 0.5 * abs(cos[k, first[k]]), int(k), u[k], v[k]))
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
        _grow(lattice, lambda p, step, node: _take_nearest(xy, p, step, used), retry=False)
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


def _grow(lattice: _Lattice, find, retry: bool = True) -> int:
    """Add frontier nodes while `find(predicted_xy, spacing, node) -> (xy, source[, confidence,
    evidence]) | None` finds them; nodes with the most agreeing estimates go first (they are predicted best).
    Returns how many were added.

    retry=False: `find` fails again where it failed with the same prediction (a candidate
    taken stays taken), so a node is tried again only when a node it is predicted from was
    added since (the same lattice, without predicting and searching every frontier node each
    round)."""
    total = 0
    changed = None  # the frontier nodes whose predictions may have changed (None: all)
    while True:
        queue = []
        for node in lattice.frontier():
            if changed is not None and node not in changed:
                continue
            guess = lattice.predict(node)
            if guess is not None:
                queue.append((-guess[2], node, guess))
        queue.sort(key=lambda q: (q[0], q[1]))
        added = []
        for _, node, (p, step, _) in queue:
            if node in lattice.pos or not lattice.fits(node):
                continue
            found = find(p, step, node)
            if found is not None:
                lattice.add(node, *found)
                added.append(node)
        total += len(added)
        if not added:
            return total
        if not retry:
            changed = {(i + di, j + dj) for i, j in added for di, dj in _PREDICTED_FROM}


# Where `_Lattice.predict` reads a node's neighbours: the node before it and the one before
# that along each axis, and the corners of its parallelograms (the offsets are symmetric: a
# node added at one of them changes the prediction of the node at minus it).
_PREDICTED_FROM = ((1, 0), (-1, 0), (0, 1), (0, -1), (2, 0), (-2, 0), (0, 2), (0, -2),
                   (1, 1), (1, -1), (-1, 1), (-1, -1))


def _median_rows(rows: list) -> np.ndarray:
    """np.median(rows, axis=0) of a few 2-vectors, without its overhead (the same values: the
    middle one, or the mean of the middle two)."""
    s = np.sort(np.array(rows), axis=0)
    k = len(s)
    return s[k // 2].copy() if k % 2 else (s[k // 2 - 1] + s[k // 2]) / 2


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
