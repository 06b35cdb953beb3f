"""Steps 1 and 2 of `find_grid_points`: candidate points from the network's heat map, and their
refinement on the photo at full resolution (cornerSubPix with a window sized from the local
spacing, then a saddle-point fit; the dark blob's centroid for circles), and the saddle test
that tells a real corner from a false one.
"""
from __future__ import annotations

import math
import weakref

import cv2
import numpy as np

from ...scores import MASK_THRESHOLD
from .grid import BLOB, SADDLE

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

# A point cornerSubPix hands back unmoved is started again this far off (px, both axes): a
# start on a symmetric corner converges back to it, one on an edge or too far off does not.
RESTART_OFFSET = 0.3

# A refined point that moved further than this share of the spacing from where it was looked
# for converged onto something else.
MAX_REFINE_SHIFT = 0.25

# The saddle test samples the four squares around a corner at this share of the spacing along
# the diagonals (close to the corner: a ChArUco marker fills the middle of its white square).
SADDLE_OFFSET = 0.22

# Heat-map peaks lower than this share of the mask threshold are not candidates (a corner's
# blob is small: its peak may stay under the threshold a mask region needs).
PEAK_SHARE = 0.6


def heat_candidates(heat: np.ndarray, region: np.ndarray | None = None, kind: str = SADDLE,
                    threshold: float = MASK_THRESHOLD) -> tuple[np.ndarray, np.ndarray]:
    """Candidate points (K×2, photo px) and their heat (K) from a point heat map (H×W float in
    [0, 1]); only inside `region` (H×W bool) when given.

    Saddle points: local maxima of the slightly smoothed map over PEAK_SHARE × `threshold` (two
    corners whose blobs touch on a small board still give two peaks). Circles: centroids of the
    blobs over `threshold` (a disc's plateau has no single peak)."""
    heat = np.asarray(heat, np.float32)
    if region is not None:
        x0, y0, bw, bh = cv2.boundingRect(np.ascontiguousarray(region).view(np.uint8))  # its set pixels' box
        if not bw:
            return np.zeros((0, 2)), np.zeros(0)
        x1, y1 = x0 + bw, y0 + bh
    else:
        x0, y0, (y1, x1) = 0, 0, heat.shape
    window = heat[y0:y1, x0:x1]
    inside = region[y0:y1, x0:x1] if region is not None else None
    if kind == BLOB:
        n, labels, stats, centroids = cv2.connectedComponentsWithStats((window > threshold).astype(np.uint8))
        keep = [i for i in range(1, n) if inside is None or inside[int(round(centroids[i][1])), int(round(centroids[i][0]))]]
        xy = centroids[keep].reshape(-1, 2)
        strength = ndimage_max(window, labels, keep)
        return xy + np.array([x0, y0]), strength
    smooth = cv2.GaussianBlur(window, (0, 0), 1.0)
    peaks = (smooth >= cv2.dilate(smooth, np.ones((5, 5), np.uint8))) & (smooth > PEAK_SHARE * threshold)
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
    ok &= converged(out, xy, spacing, gray.shape)
    return out, ok


def converged(refined: np.ndarray, xy: np.ndarray, spacing: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Which refinements of points `xy` to `refined` can be trusted: within MAX_REFINE_SHIFT of
    the spacing of where they started (further: they converged onto something else) and inside
    the photo of `shape`."""
    h, w = shape[:2]
    inside = (refined[:, 0] >= 0) & (refined[:, 1] >= 0) & (refined[:, 0] <= w - 1) & (refined[:, 1] <= h - 1)
    return (np.linalg.norm(refined - xy, axis=1) <= MAX_REFINE_SHIFT * spacing) & inside


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
    # cornerSubPix gives the start back, exactly, when its iterations leave the window (the
    # corner is further off than the window reaches: a heat peak on one edge of a corner seen
    # at a slant, further than MAX_REFINE_SHIFT anyway), when its gradients are degenerate (an
    # edge, no corner), and when the start is the corner of a symmetric image. Started again a
    # little off, only the last converges: the others were never refined (a ChArUco corner seen
    # at a slant kept its heat peak, 5.7 px off, as if refined to 0.1 px).
    unmoved = np.nonzero(ok & (out == xy.astype(np.float32)).all(axis=1))[0]  # (cornerSubPix: float32)
    if len(unmoved):
        start = (xy[unmoved] + RESTART_OFFSET).astype(np.float32)
        for i, refined, again in zip(unmoved, out[unmoved], start):
            win = int(windows[i])
            # (a copy: cornerSubPix refines the array it is given in place)
            moved = cv2.cornerSubPix(gray, again.reshape(1, 1, 2).copy(), (win, win), (-1, -1), criteria).reshape(2)
            if (moved == again).all() or np.linalg.norm(moved - refined) > RESTART_OFFSET:
                ok[i] = False


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


def saddle_contrasts(gray: np.ndarray, xy: np.ndarray, ex: np.ndarray, ey: np.ndarray,
                     closer: bool = True) -> np.ndarray:
    """`saddle_contrast` of many points at once (N; NaN where it is None), each with its own
    grid vectors (N×2 each): the four squares' box means from one integral image, the same
    numbers. closer=False: a point whose samples at SADDLE_OFFSET leave the photo is NaN, not
    looked at closer to the corner."""
    xy = np.asarray(xy, np.float64).reshape(-1, 2)
    ex, ey = np.asarray(ex, np.float64).reshape(-1, 2), np.asarray(ey, np.float64).reshape(-1, 2)
    out = np.full(len(xy), np.nan)
    if not len(xy):
        return out
    step = np.minimum(np.sqrt((ex * ex).sum(axis=1)), np.sqrt((ey * ey).sum(axis=1)))
    radius = np.maximum(1.0, 0.27 * SADDLE_OFFSET * step)
    means = [box_means(gray, xy + SADDLE_OFFSET * (sx * ex + sy * ey), radius)
             for sx, sy in ((1, 1), (1, -1), (-1, -1), (-1, 1))]
    inside = np.isfinite(means).all(axis=0)
    a, b, c, d = means
    gap = np.maximum.reduce([np.zeros(len(xy)), np.minimum(a, c) - np.maximum(b, d), np.minimum(b, d) - np.maximum(a, c)])
    out[inside] = gap[inside]
    if closer:
        for k in np.flatnonzero(~inside):  # near the frame: saddle_contrast's closer samples
            value = saddle_contrast(gray, xy[k], ex[k], ey[k])
            out[k] = np.nan if value is None else value
    return out


def box_means(image: np.ndarray, centres: np.ndarray, radius) -> np.ndarray:
    """`_sample` at many points (N×2; radius one or N): the mean of the (2r+1)² pixels around
    each (r = ceil(radius)), NaN beyond the frame; from the image's summed-area table (the same
    numbers), point by point for an image without one."""
    centres = np.asarray(centres, np.float64).reshape(-1, 2)
    radius = np.broadcast_to(np.asarray(radius, np.float64), (len(centres),))
    table = _integral(image)
    if table is None:
        return np.array([np.nan if (v := _sample(image, q, r)) is None else v for q, r in zip(centres, radius)])
    h, w = image.shape
    r = np.ceil(radius).astype(int)
    q = np.round(centres).astype(int)
    x, y = q[:, 0], q[:, 1]
    inside = (x - r >= 0) & (y - r >= 0) & (x + r < w) & (y + r < h)
    xa, xb = np.clip(x - r, 0, w), np.clip(x + r + 1, 0, w)
    ya, yb = np.clip(y - r, 0, h), np.clip(y + r + 1, 0, h)
    total = table[yb, xb] - table[ya, xb] - table[yb, xa] + table[ya, xa]
    return np.where(inside, total / ((2 * r + 1) * (2 * r + 1)), np.nan)


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
