"""Geometry from predicted masks: the board's outline quadrilateral and the homography.

Pure numpy/OpenCV (no torch), so it can be tested on synthetic masks alone.

Coordinates follow OpenCV's convention everywhere: the centre of pixel (col i, row j) is
(i, j); a quadrilateral is 4×2 float32, clockwise on screen (y down) from the top-left corner.

How the outline is fitted (`fit_outline`), and why:
- The largest connected component's outer contour is the board's boundary, except where the
  photo's frame cuts the board: contour points on the image border are frame cuts, not board
  edges, so they never vote for a side.
- The convex hull (robust to bites taken by occluders such as fingers) is simplified to a
  polygon; its edges lying along the frame are dropped and nearly collinear neighbours
  merged: these are the candidate sides.
- Each side is refined with a robust (Huber) line fit to the contour points near it, and
  adjacent sides are intersected: a corner cut off by the frame lands outside the photo.
  With only three sides visible (the fourth out of frame), the fourth is placed from the
  pattern's aspect ratio (an affine estimate).
- Which candidates are the board's sides is decided by trying every choice of four (or
  three) in order and keeping the quad that covers the component best (the hull's own
  quadrilateral competes too): a short diagonal edge, left where an occluder hides a corner
  or the network rounded one off, then loses to the two sides meeting there, extended. This
  matters most for a board cut by the frame, whose three sides plus two rounded corners are
  five candidates of similar length.
"""
from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass

import cv2
import numpy as np

# Contour points within this many pixels of the image border are frame cuts.
BORDER_MARGIN = 1.5
# Neighbouring hull-polygon edges closer than this in direction are one board side.
MERGE_ANGLE_DEG = 20.0
# Candidate sides kept for choosing the board's four (C(8, 4) + C(8, 3) = 126 choices at most).
MAX_SIDES = 8
# Candidate quads are compared on the component shrunk to this long side.
SCORE_SIDE = 160
# A board seen by a camera has no corner this sharp; a quad that does has taken a wrong side.
MIN_CORNER_DEG = 25.0
_MAX_CORNER_COS = math.cos(math.radians(MIN_CORNER_DEG))


@dataclass
class OutlineFit:
    """A fitted outline: `quad` 4×2 float32 clockwise from top-left; `sides` is how many of
    its sides were observed as board edges (4: all; 3: one placed from the aspect ratio;
    fewer: the hull's quadrilateral, a clipped estimate); `fill` is `quad_iou` of the
    component with the quad (how board-shaped the component is)."""

    quad: np.ndarray
    sides: int
    fill: float


def largest_component(binary: np.ndarray) -> np.ndarray | None:
    """The largest region of a bool image (by the area inside its outer contour, holes
    included: a board with an occluder's hole is still the board), as a bool mask that keeps
    its holes; None when the image is empty.

    Found through the outer contours rather than connectedComponentsWithStats, which costs
    ~10x more on a photo-sized image.
    """
    b = binary.astype(np.uint8)
    contours, _ = cv2.findContours(b, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return None
    largest = max(contours, key=cv2.contourArea)
    x, y, w, h = cv2.boundingRect(largest)
    region = np.zeros_like(b)
    cv2.drawContours(region[y:y + h, x:x + w], [largest - np.array([x, y])], -1, 1, cv2.FILLED)
    region[y:y + h, x:x + w] &= b[y:y + h, x:x + w]
    return region.astype(bool)


def order_clockwise(quad: np.ndarray) -> np.ndarray:
    """The same four corners clockwise on screen, starting at the one with the smallest x + y."""
    q = np.asarray(quad, np.float32).reshape(4, 2)
    centre = q.mean(axis=0)
    angles = np.arctan2(q[:, 1] - centre[1], q[:, 0] - centre[0])  # y down: increasing = clockwise
    q = q[np.argsort(angles)]
    return np.roll(q, -int(np.argmin(q.sum(axis=1))), axis=0)


def fit_outline(component: np.ndarray, aspect: float | None = None) -> OutlineFit | None:
    """Fit the board's outline quadrilateral to a bool component mask (see the module doc).

    `aspect` = the board's width / height (the pattern outline's), used only to place a side
    that lies wholly out of frame. Returns None for a component too small to have a shape.
    """
    h, w = component.shape
    contours, _ = cv2.findContours(component.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not contours:
        return None
    contour = max(contours, key=cv2.contourArea).reshape(-1, 2).astype(np.float32)
    hull = cv2.convexHull(contour).reshape(-1, 2)
    if len(hull) < 3 or cv2.contourArea(hull) < 4:
        return None
    edge_points = contour[~_on_border(contour, w, h)]
    sides = _board_sides(hull, w, h)
    lines = [_refine_line(a, b, edge_points) for a, b in sides]
    fill = _FillScore(component)
    hull_quad = order_clockwise(_hull_quad(hull))
    candidates = [(fill(hull_quad), OutlineFit(hull_quad, min(len(sides), 2), 0.0))]
    # Which candidate sides are the board's: every choice of 4 (or 3, the fourth out of frame)
    # in order around the hull, scored by how well the quad covers the component. A corner the
    # network rounded off, or a bite, leaves a short diagonal side that must not be one.
    # Three sides only where the frame may hide the fourth.
    cut_by_frame = len(edge_points) < len(contour)
    corner = functools.cache(lambda i, j: _intersect(lines[i], lines[j]))  # each pair once, not per choice
    hull_area = cv2.contourArea(hull)
    for k in (4, 3) if cut_by_frame else (4,):
        for chosen in itertools.combinations(range(len(sides)), k):
            quad = (_corner_cycle([corner(chosen[i - 1], chosen[i]) for i in range(4)]) if k == 4 else
                    _complete_three_sides([lines[i] for i in chosen], [sides[i] for i in chosen], contour, aspect,
                                          corner(chosen[0], chosen[1]), corner(chosen[1], chosen[2])))
            if quad is not None and _plausible(quad, hull_area):
                quad = order_clockwise(quad)
                candidates.append((fill(quad), OutlineFit(quad, k, 0.0)))
    # The best cover; within a hair of it, the fit that saw the most sides (the hull's own
    # quad only hugs the pixels, so it wins only when it is clearly better).
    top = max(score for score, _ in candidates)
    best = max((c for c in candidates if c[0] >= top - 0.005), key=lambda c: (c[1].sides, c[0]))[1]
    best.fill = quad_iou(component, best.quad)
    return best


class _FillScore:
    """Intersection over union of a quad and the component, on a small copy of the component
    (long side SCORE_SIDE px), both as anti-aliased coverage so that sub-pixel differences
    count: cheap enough to compare dozens of candidate quads. Clipped to the frame, as
    quad_iou."""

    def __init__(self, component: np.ndarray):
        h, w = component.shape
        self.k = min(1.0, SCORE_SIDE / max(h, w))
        size = (max(1, round(w * self.k)), max(1, round(h * self.k)))
        self.coverage = cv2.resize(component.astype(np.float32), size, interpolation=cv2.INTER_AREA)
        self.area = float(self.coverage.sum())

    def __call__(self, quad: np.ndarray) -> float:
        quad_cover = quad_coverage((quad + 0.5) * self.k - 0.5, self.coverage.shape)
        inter = float(np.minimum(quad_cover, self.coverage).sum())
        union = float(quad_cover.sum()) + self.area - inter
        return inter / union if union > 0 else 0.0


def _on_border(points: np.ndarray, w: int, h: int, margin: float = BORDER_MARGIN) -> np.ndarray:
    x, y = points[:, 0], points[:, 1]
    return (x <= margin) | (y <= margin) | (x >= w - 1 - margin) | (y >= h - 1 - margin)


def _board_sides(hull: np.ndarray, w: int, h: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The hull's candidate board edges, at most MAX_SIDES, in order (frame edges left out).

    Frame edges are found on the hull itself, before simplifying: simplification would
    otherwise blend a frame cut into a neighbouring side. Each run of board edges between two
    frame edges is simplified on its own, and nearly collinear pieces are merged.
    """
    pts = hull.astype(np.float64)
    n = len(pts)
    perimeter = cv2.arcLength(hull.astype(np.float32), True)
    frame = [_is_frame_edge(pts[i], pts[(i + 1) % n], w, h, perimeter) for i in range(n)]
    if all(frame):
        return []
    # Walk from just after a frame edge (if any) so that no run wraps around.
    start = next((i + 1 for i in range(n) if frame[i]), 0)
    runs: list[list[np.ndarray]] = []
    current: list[np.ndarray] = []
    for k in range(n):
        i = (start + k) % n
        if frame[i]:
            if current:
                runs.append(current)
            current = []
            continue
        if not current:
            current.append(pts[i])
        current.append(pts[(i + 1) % n])
    if current:
        runs.append(current)
    closed = not any(frame)
    sides: list[list[np.ndarray]] = []
    for run in runs:
        poly = np.array(run, np.float32).reshape(-1, 1, 2)
        simple = cv2.approxPolyDP(poly, 0.015 * perimeter, closed).reshape(-1, 2).astype(np.float64)
        vertices = list(simple) + ([simple[0]] if closed else [])
        run_sides: list[list[np.ndarray]] = []
        for a, b in zip(vertices[:-1], vertices[1:]):
            if run_sides and _angle_between(run_sides[-1][1] - run_sides[-1][0], b - a) < MERGE_ANGLE_DEG:
                run_sides[-1][1] = b  # one side split by the simplification (or a slight curve)
            else:
                run_sides.append([a, b])
        if closed and len(run_sides) > 1 and \
                _angle_between(run_sides[-1][1] - run_sides[-1][0], run_sides[0][1] - run_sides[0][0]) < MERGE_ANGLE_DEG:
            run_sides[0][0] = run_sides.pop()[0]
        sides.extend(run_sides)
    if len(sides) > MAX_SIDES:  # fit_outline tries every choice of 4: keep the longest
        keep = sorted(np.argsort([-np.linalg.norm(b - a) for a, b in sides])[:MAX_SIDES])
        sides = [sides[i] for i in keep]
    return [(a, b) for a, b in sides]


def _is_frame_edge(a: np.ndarray, b: np.ndarray, w: int, h: int, perimeter: float) -> bool:
    """A hull edge along the frame: both ends on the same image border, or on two borders
    with the edge too short to be a board side (the hull cutting across a frame corner)."""
    if _on_same_border(a, b, w, h):
        return True
    ends = _on_border(np.array([a, b]), w, h)
    return bool(ends.all() and np.linalg.norm(b - a) < 0.02 * perimeter)


def _on_same_border(a: np.ndarray, b: np.ndarray, w: int, h: int) -> bool:
    m = BORDER_MARGIN
    return bool((a[0] <= m and b[0] <= m) or (a[1] <= m and b[1] <= m)
                or (a[0] >= w - 1 - m and b[0] >= w - 1 - m) or (a[1] >= h - 1 - m and b[1] >= h - 1 - m))


def _angle_between(u: np.ndarray, v: np.ndarray) -> float:
    cos = abs(float(np.dot(u, v))) / (np.linalg.norm(u) * np.linalg.norm(v) + 1e-12)
    return float(np.degrees(np.arccos(min(1.0, cos))))


def _refine_line(a: np.ndarray, b: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A robust line (point, unit direction) through the contour points near segment a-b.

    Points are taken within a band around the segment (a few % of its length), away from its
    ends (where the neighbouring side's points would pull it), so bites and blobs are ignored.
    """
    d = b - a
    length = float(np.linalg.norm(d))
    u = d / max(length, 1e-9)
    n = np.array([-u[1], u[0]])
    rel = points - a
    along, across = rel @ u, rel @ n
    band = max(2.0, 0.04 * length)
    near = (np.abs(across) <= band) & (along >= 0.1 * length) & (along <= 0.9 * length)
    if near.sum() < 5:
        return a, u
    vx, vy, x0, y0 = cv2.fitLine(points[near].astype(np.float32), cv2.DIST_HUBER, 0, 0.01, 0.01).ravel()
    return np.array([x0, y0], np.float64), np.array([vx, vy], np.float64)


def _intersect(l1: tuple[np.ndarray, np.ndarray], l2: tuple[np.ndarray, np.ndarray]) -> np.ndarray | None:
    (p, u), (q, v) = l1, l2
    denom = u[0] * v[1] - u[1] * v[0]
    if abs(denom) < 1e-6:  # parallel sides: no corner
        return None
    t = ((q[0] - p[0]) * v[1] - (q[1] - p[1]) * v[0]) / denom
    return p + t * u


def _corner_cycle(corners: list) -> np.ndarray | None:
    """The quad of the corners of sides taken in order (each side's with the one before)."""
    if any(c is None for c in corners):
        return None
    return np.array(corners, np.float32)


def _complete_three_sides(lines: list, sides: list, contour: np.ndarray, aspect: float | None,
                          p: np.ndarray | None, q: np.ndarray | None) -> np.ndarray | None:
    """Three consecutive sides seen (p, q: where the middle one meets the first and the last),
    the fourth out of frame: place it parallel to the middle side (an affine estimate) at the
    distance the board's aspect ratio implies, and never closer than the visible part of the
    board reaches."""
    first, middle, last = lines
    if p is None or q is None:
        return None
    # Directions along the first and last sides, pointing away from the middle side.
    u = _away(first[1], p, sides[0])
    reach = float(np.max((contour - p) @ u))  # how far the visible board extends that way
    middle_len = float(np.linalg.norm(q - p))
    ratios = [aspect, 1 / aspect] if aspect else []
    lengths = sorted(middle_len * r for r in ratios if middle_len * r >= 0.95 * reach)
    length = lengths[0] if lengths else reach
    far_first = p + length * u
    far_last = _intersect((far_first, middle[1]), last)
    if far_last is None:
        return None
    return np.array([p, q, far_last, far_first], np.float32)


def _away(direction: np.ndarray, corner: np.ndarray, side: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """`direction` signed to point from `corner` towards the far end of `side`."""
    a, b = side
    far = a if np.linalg.norm(a - corner) > np.linalg.norm(b - corner) else b
    return direction if np.dot(far - corner, direction) >= 0 else -direction


def _plausible(quad: np.ndarray, hull_area: float) -> bool:
    """Convex, no corner sharper than MIN_CORNER_DEG (two sides meeting far out of frame),
    and not absurdly larger than what was seen: at most 4× the hull's area. (Plain floats:
    called for every choice of sides.)"""
    if not cv2.isContourConvex(quad.reshape(-1, 1, 2).astype(np.float32)):
        return False
    q = np.asarray(quad, np.float64).tolist()
    for i in range(4):
        (px, py), (x, y), (nx, ny) = q[i - 1], q[i], q[(i + 1) % 4]
        ux, uy, vx, vy = px - x, py - y, nx - x, ny - y
        if ux * vx + uy * vy > _MAX_CORNER_COS * (math.hypot(ux, uy) * math.hypot(vx, vy) + 1e-12):
            return False
    return abs(cv2.contourArea(quad)) <= 4 * hull_area + 1


def _hull_quad(hull: np.ndarray) -> np.ndarray:
    """The best 4-vertex simplification of the hull, else its minimum-area rectangle."""
    perimeter = cv2.arcLength(hull, True)
    for frac in (0.01, 0.02, 0.04, 0.06, 0.1):
        poly = cv2.approxPolyDP(hull.reshape(-1, 1, 2), frac * perimeter, True)
        if len(poly) == 4:
            return poly.reshape(4, 2).astype(np.float32)
        if len(poly) < 4:
            break
    return cv2.boxPoints(cv2.minAreaRect(hull)).astype(np.float32)


def quad_iou(component: np.ndarray, quad: np.ndarray) -> float:
    """Intersection over union of a component and the quadrilateral clipped to the frame: how
    board-shaped the component is (a board cut by the frame still scores 1)."""
    h, w = component.shape
    # Only the window holding both matters (cheap on a large photo with a small board).
    ys, xs = np.nonzero(component.any(axis=1))[0], np.nonzero(component.any(axis=0))[0]
    x0 = int(max(0, min(xs.min() if len(xs) else w, np.floor(quad[:, 0].min()))))
    y0 = int(max(0, min(ys.min() if len(ys) else h, np.floor(quad[:, 1].min()))))
    x1 = int(min(w, max(xs.max() + 1 if len(xs) else 0, np.ceil(quad[:, 0].max()) + 1)))
    y1 = int(min(h, max(ys.max() + 1 if len(ys) else 0, np.ceil(quad[:, 1].max()) + 1)))
    if x1 <= x0 or y1 <= y0:
        return 0.0
    filled = fill_quad(np.zeros((y1 - y0, x1 - x0), np.uint8), quad - np.array([x0, y0])).astype(bool)
    window = component[y0:y1, x0:x1]
    union = np.count_nonzero(filled | window)
    return float(np.count_nonzero(filled & window)) / union if union else 0.0


def fill_quad(canvas: np.ndarray, quad: np.ndarray, value: int = 1) -> np.ndarray:
    """Set the pixels of `canvas` whose centres the quad covers to `value` (sub-pixel corners;
    OpenCV's fill includes pixels the edge passes through on the right and bottom)."""
    cv2.fillConvexPoly(canvas, np.round(np.asarray(quad, np.float64) * 16).astype(np.int32), value,
                       lineType=cv2.LINE_8, shift=4)
    return canvas


def quad_coverage(quad: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """An h×w float32 map of the share of each pixel inside the convex quad.

    Each pixel's share is 0.5 + its centre's signed distance to the nearest side, clipped to
    [0, 1] (exact for a side crossing the pixel along a pixel axis, within a few % otherwise),
    so a pixel counts as more than half covered exactly when its centre is inside. Computed
    rather than drawn: OpenCV's anti-aliased fill puts a half-covered band outside the edge,
    which would grow a thresholded mask by about a pixel all round."""
    h, w = shape
    q = np.asarray(quad, np.float64).reshape(4, 2)
    out = np.zeros(shape, np.float32)
    (lx, ly), (hx, hy) = np.floor(q.min(axis=0)), np.ceil(q.max(axis=0))
    x0, y0, x1, y1 = int(max(lx, 0)), int(max(ly, 0)), int(min(hx + 1, w)), int(min(hy + 1, h))
    if x1 <= x0 or y1 <= y0:
        return out
    x = np.arange(x0, x1, dtype=np.float32)[None, :]
    y = np.arange(y0, y1, dtype=np.float32)[:, None]
    # The sides' normals in plain floats: the fit scores dozens of candidate quads with this,
    # and NumPy's per-call cost on 2-vectors was most of it.
    corners = q.tolist()
    cx, cy = (sum(c[0] for c in corners) / 4, sum(c[1] for c in corners) / 4)
    inside = np.full((y1 - y0, x1 - x0), np.inf, np.float32)
    for (ax, ay), (bx, by) in zip(corners, corners[1:] + corners[:1]):
        length = math.hypot(bx - ax, by - ay)
        if length < 1e-9:
            continue
        nx, ny = (ay - by) / length, (bx - ax) / length  # a unit normal of side a-b...
        if (cx - ax) * nx + (cy - ay) * ny < 0:
            nx, ny = -nx, -ny  # ...pointing into the quad
        np.minimum(inside, np.float32(nx) * x + np.float32(ny) * y - np.float32(nx * ax + ny * ay), out=inside)
    inside += 0.5
    np.clip(inside, 0.0, 1.0, out=out[y0:y1, x0:x1])
    return out


def orient_to_pattern(quad: np.ndarray, pattern_outline: np.ndarray) -> np.ndarray:
    """Reorder a clockwise quad so that its first side matches the pattern's first side in
    length class (a 10x7 board seen rotated by 90° keeps its long side long), starting from
    the most top-left of the two candidates."""
    q = order_clockwise(quad)
    pattern_ratio = outline_aspect(pattern_outline)
    if abs(np.log(pattern_ratio)) < np.log(1.1):  # square-ish: no length class to keep
        return q
    if (outline_aspect(q) > 1) != (pattern_ratio > 1):
        candidates = [np.roll(q, -1, axis=0), np.roll(q, -3, axis=0)]
        q = min(candidates, key=lambda c: float(c[0].sum()))
    return q


def outline_aspect(quad: np.ndarray) -> float:
    """Width / height of a quad ordered clockwise from top-left (mean of opposite sides)."""
    q = np.asarray(quad, np.float64)
    side = np.linalg.norm(np.roll(q, -1, axis=0) - q, axis=1)
    return float((side[0] + side[2]) / (side[1] + side[3]))


def homography(pattern_outline: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """The 3×3 homography mapping the pattern sheet's outline corners onto `quad`."""
    return cv2.getPerspectiveTransform(np.asarray(pattern_outline, np.float32),
                                       np.asarray(quad, np.float32)).astype(np.float64)


def project(h: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a homography to K×2 points."""
    pts = np.asarray(points, np.float64).reshape(-1, 1, 2)
    return cv2.perspectiveTransform(pts, np.asarray(h, np.float64)).reshape(-1, 2)


def blob_centres(binary: np.ndarray, max_area: float | None = None) -> np.ndarray:
    """Centres (K×2) of the blobs of a bool image (their outer contours' centroids), blobs
    larger than `max_area` pixels left out. Contours, not connectedComponentsWithStats: ~10x
    cheaper on a photo-sized map, and holes do not matter for small blobs."""
    contours, _ = cv2.findContours(binary.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    centres = []
    for c in contours:
        m = cv2.moments(c)
        if max_area is not None and m["m00"] > max_area:
            continue
        if m["m00"] > 0:
            centres.append((m["m10"] / m["m00"], m["m01"] / m["m00"]))
        else:  # a blob one pixel wide has a contour of no area
            centres.append(tuple(c.reshape(-1, 2).mean(axis=0)))
    return np.array(centres, np.float64).reshape(-1, 2)


def refine_homography(h: np.ndarray, pattern_points: np.ndarray, photo_points: np.ndarray,
                      min_matches: int = 8) -> np.ndarray:
    """Refine `h` with point features (e.g. chessboard corner blobs) seen in the photo.

    Each pattern point is projected with `h` and paired with the nearest photo point within a
    third of the projected points' typical spacing; a RANSAC homography over the pairs replaces
    `h` when at least `min_matches` pairs agree. Unmatched or ambiguous points are ignored.
    """
    if len(pattern_points) < min_matches or len(photo_points) < min_matches:
        return h
    for _ in range(2):  # a second round re-pairs with the improved estimate
        projected = project(h, pattern_points)
        spacing = _typical_spacing(projected)
        d = np.linalg.norm(projected[:, None, :] - photo_points[None, :, :], axis=2)
        nearest = d.argmin(axis=1)
        ok = d[np.arange(len(projected)), nearest] < spacing / 3
        if ok.sum() < min_matches:
            return h
        src, dst = pattern_points[ok].astype(np.float32), photo_points[nearest[ok]].astype(np.float32)
        refined, inliers = cv2.findHomography(src, dst, cv2.RANSAC, max(1.0, spacing / 6))
        if refined is None or int(inliers.sum()) < min_matches:
            return h
        h = refined / refined[2, 2]
    return h


def _typical_spacing(points: np.ndarray) -> float:
    d = np.linalg.norm(points[:, None, :] - points[None, :, :], axis=2)
    np.fill_diagonal(d, np.inf)
    return float(np.median(d.min(axis=1)))


def rectify(rgb: np.ndarray, h: np.ndarray, sheet_size: tuple[int, int]) -> np.ndarray:
    """The photo warped to the pattern sheet (front-on view); `sheet_size` = (width, height)."""
    return cv2.warpPerspective(rgb, np.asarray(h, np.float64), sheet_size,
                               flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
