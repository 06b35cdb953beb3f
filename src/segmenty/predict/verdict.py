"""A look's verdict: is the board in these maps, where, and how sure (`Judge`).

A look is the network's maps for a photo at one working size, with the maps of a closer look
inside a box around the board when there was one (`Look`). The verdict (`Verdict`, frozen) is
made on maps at the geometry's resolution (the photo's, capped at ANALYSIS_MAX_SIDE): the
largest `mask` region, its outline fit, and the DetectionRule's test of area, confidence, fill
and (close up) the pattern's parts. Everything the Prediction is finished from is in it; the
Predictor makes looks, asks for verdicts, and builds one geometry from the one that stands.

Also here, what a verdict needs to know of the board (`board_knowledge`: its outline, point
features, whether its mask is its outline quad, its grid) and the maps' resizing between the
network's, the geometry's and the photo's resolutions.
"""
from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass

import cv2
import numpy as np

from ..errors import SegmentyError
from ..patterns import Pattern, load_pattern
from ..runs import names_pattern_folder
from . import geometry as geo
from .points import MIN_GRID_POINTS, GridLayout, grid_layout

# Outline fitting runs on the `mask` map at most this large (long side): enough for sub-pixel
# lines after the network's much coarser working resolution, and bounded cost on 12 MP photos.
ANALYSIS_MAX_SIDE = 1024
# Pattern masks whose blobs are at most this share of the sheet are point features (chessboard
# corners, circles) that can refine the homography.
FEATURE_MAX_AREA = 0.01
# The zoomed-in pass crops a square ZOOM_MARGIN times the board's larger side (training scenes
# show the board at about that scale), and is skipped when that crop would not be at least
# ZOOM_MIN_GAIN times smaller than the photo's long side (too little to gain).
ZOOM_MARGIN = 1.5
ZOOM_MIN_GAIN = 1.25


@dataclass(frozen=True)
class DetectionRule:
    """When the `mask` region counts as a board (all must hold).

    The defaults were chosen on ../shared/real with a chessboard model (benchmarks/README.md):
    the mean probability separates boards (0.85-0.97, whole or cut by the frame) from busy
    road scenes (0.5-0.77); the quad fill is only a loose shape check, because a board cut
    by the frame and bowed by a wide-angle lens fills its fitted quad by 0.6-0.95.

    min_area:        the largest connected region of probability > threshold covers at least
                     this share of the photo (0.01 = 1%).
    min_confidence:  its mean probability is at least this (a board is predicted confidently;
                     foliage tends to give 0.5-0.8).
    min_fill:        intersection over union of the region with its fitted quadrilateral
                     (clipped to the frame) is at least this: the region is board-shaped.
    suppress:        zero the masks outside the board's region when detected, and everywhere
                     when not, so that a photo without a board gives (almost) empty masks and
                     the masks agree with `detected`. Turn off (and `snap_fill`) to see what
                     the network really outputs (diagnosing false positives).
    min_features:    for a pattern with point features (chessboard corners, circles: at least
                     MIN_PATTERN_FEATURES of them), a board seen at about the training scale
                     (the zoomed-in look, or a board too large to need one) holds at least
                     this many blobs of those masks: a board shows its parts, a textured scene
                     painted as a board rarely does (benchmarks/README.md: road photos taken
                     for a board showed 0-1 corner blobs, boards and half views 2 or more).
    min_grid_points: for a grid pattern (chessboard, ChArUco, circle grid), the points found
                     in the region must form a grid of the pattern with at least this many
                     (points/: `find_grid_points(min_points=...)`); the mask, outline and
                     homography then come from the points.
    min_far_grid_points: what a grid found only by a finer look must show: a board only a
                     finer look resolves is far away, so seen whole (a tree crown against the
                     sky lined up 8 peaks at a photo's own resolution).
    snap_fill:       when the pattern's `mask` is a quadrilateral (every built-in pattern's
                     is) and the fitted outline covers the region this well (fill), the `mask`
                     map becomes the outline itself: straight sides and sharp corners where
                     the network rounds corners off and bulges at squares as white as the
                     paper (benchmarks/README.md: +0.02 IoU on real photos). None: never.
    """

    min_area: float = 0.01
    min_confidence: float = 0.8
    min_fill: float = 0.5
    suppress: bool = True
    min_features: int = 2
    min_grid_points: int = MIN_GRID_POINTS
    min_far_grid_points: int = 12
    snap_fill: float | None = 0.9

    def region_passes(self, area: float, confidence: float, fill: float) -> bool:
        """The `mask` region alone is a board's: large, confident and board-shaped enough (what
        `detected` asks before the board's parts and points)."""
        return area >= self.min_area and confidence >= self.min_confidence and fill >= self.min_fill



@dataclass(frozen=True)
class BoardKnowledge:
    """What a verdict and a geometry need of the board looked for, built once per spec."""

    pattern: Pattern
    features: np.ndarray     # N×2 centres of the point features (corners, circles) in sheet px
    feature_masks: tuple     # names of the masks those features come from
    quadrilateral: bool      # the `mask` is its outline quad (so a detected mask can snap to it)
    layout: GridLayout | None  # the grid of points it prints (None: no grid)
    mask_names: tuple = ()   # its masks (a family detector's other channels are not its)


# A pattern's `mask` counts as quadrilateral when its IoU with its outline quad is this high.
QUADRILATERAL_FILL = 0.98
# DetectionRule.min_features applies to patterns with at least this many point features (a
# grid of them; the `segmenty` pattern's single centre mark would veto every view without it).
MIN_PATTERN_FEATURES = 8


@functools.lru_cache(maxsize=8)
def board_knowledge(spec: str, fingerprint: str | None = None) -> BoardKnowledge | None:
    """The pattern (for its outline and sheet size), its point features and grid, built once.
    With a `fingerprint` (an ONNX export's of its user pattern), a folder found under that name
    that is another pattern is not used (its homography would be wrong, silently)."""
    hint = "predicting masks without outline and homography"
    if names_pattern_folder(spec):
        hint += "; give the model's pattern folder with --pattern DIR"
    try:
        pattern = load_pattern(spec)
    except SegmentyError as exc:
        warnings.warn(f"pattern '{spec}' of the model cannot be built ({exc}); {hint}")
        return None
    if fingerprint is not None and pattern.fingerprint() != fingerprint:
        h, w = pattern.image.shape[:2]
        warnings.warn(f"pattern folder '{spec}' ({w}x{h} px, {pattern.size_mm[0]:.1f}x{pattern.size_mm[1]:.1f} mm) "
                      f"is not the one the model learned (another sheet, masks or size); {hint}")
        return None
    sheet_area = pattern.image.shape[0] * pattern.image.shape[1]
    features = {name: geo.blob_centres(m, FEATURE_MAX_AREA * sheet_area)
                for name, m in pattern.masks.items() if name != "mask"}
    features = {name: f for name, f in features.items() if len(f)}
    quadrilateral = geo.quad_iou(pattern.masks["mask"], pattern.outline) >= QUADRILATERAL_FILL
    return BoardKnowledge(pattern, np.concatenate(list(features.values())) if features else np.zeros((0, 2)),
                          tuple(features), quadrilateral, grid_layout(pattern), tuple(pattern.mask_names))


@dataclass(frozen=True)
class Look:
    """The network's maps for one photo at one working size.

    probs:    M×h×w probabilities at the working resolution (padding cropped off).
    working:  the long side they were predicted at.
    zoom:     (box, crop maps) of a closer look at the board, which replace `probs` inside the
              box (photo pixels, end exclusive) and hold the board; None for a first look.
    """

    probs: np.ndarray
    working: int
    zoom: tuple | None = None


@dataclass(frozen=True)
class Verdict:
    """A look judged (see the module doc). Outline and zoom_box only when detected."""

    look: Look
    analysis: tuple                      # the maps at the geometry's resolution
    to_photo: tuple[float, float]        # analysis pixels -> photo pixels
    component: np.ndarray | None = None  # the largest region of `mask`
    fit: geo.OutlineFit | None = None
    detected: bool = False
    stats: tuple = (0.0,)                # score, area_fraction, mean_confidence, fill
    outline: np.ndarray | None = None    # photo pixels, oriented to the pattern
    zoom_box: tuple | None = None        # where this first look wants a closer one

    @property
    def region(self) -> tuple | None:
        """(component, fit): the board's region, for suppression (None when not detected)."""
        return (self.component, self.fit) if self.detected else None


@dataclass(frozen=True)
class Judge:
    """The verdict on a look (`judge(look, shape)`), by the rule at the predictor's size.

    size:       the predictor's working size (the rule's area is a share of what the network
                sees at it).
    threshold:  probability above which a pixel belongs to a mask region.
    board:      what is known of the board (None: a pattern that cannot be built).
    """

    size: int
    threshold: float
    rule: DetectionRule
    mask_names: tuple
    board: BoardKnowledge | None

    def __call__(self, look: Look, shape: tuple[int, int], only_if_detected: bool = False) -> Verdict:
        """The verdict; with `only_if_detected` (the caller keeps it only when it says
        detected: a finer look), a region that fails the rule's area or confidence is
        rejected before its outline is fitted and the other maps resized (a rejected verdict
        then holds the board's map alone and no stats)."""
        h, w = shape
        k = min(1.0, ANALYSIS_MAX_SIDE / max(h, w))
        size = (max(1, round(w * k)), max(1, round(h * k)))

        def maps(channels: slice) -> list[np.ndarray]:
            zoom = None if look.zoom is None else (look.zoom[0], look.zoom[1][channels])
            return compose_maps(look.probs[channels], zoom, size, (w, h))

        analysis = tuple(maps(slice(0, 1) if only_if_detected else slice(None)))
        ah, aw = analysis[0].shape
        to_photo = (w / aw, h / ah)
        board_map = analysis[0]
        binary = board_map > self.threshold
        if look.zoom is not None:
            x0, y0, x1, y1 = box_at(look.zoom[0], (aw, ah), (w, h))
            inside = np.zeros_like(binary)
            inside[y0:y1, x0:x1] = True
            binary &= inside
        component = geo.largest_component(binary)
        if component is None:
            return Verdict(look, analysis, to_photo)
        area = float(np.count_nonzero(component)) / component.size
        # The rule's area is a share of the frame the network sees at the working size: a
        # board found at a finer scale is judged at that scale (a tenth of the photo's width
        # is 1% of it at 1x, 16% at 4x).
        seen_area = area * (look.working / self.size) ** 2
        confidence = float(board_map[component].mean())
        rule = self.rule
        if only_if_detected:
            if seen_area < rule.min_area or confidence < rule.min_confidence:
                return Verdict(look, analysis, to_photo)
            analysis += tuple(maps(slice(1, None)))
        board = self.board
        fit = geo.fit_outline(component, geo.outline_aspect(board.pattern.outline) if board else None)
        fill = fit.fill if fit else 0.0
        detected = bool(fit is not None and rule.region_passes(seen_area, confidence, fill))
        stats = (float(confidence * fill * min(1.0, seen_area / rule.min_area)), area, confidence, fill)
        outline = closer = None
        if detected:
            outline = scale_points(fit.quad, to_photo)
            outline = geo.orient_to_pattern(outline, board.pattern.outline) if board else outline
            closer = None if look.zoom is not None else zoom_box(outline, shape)
            # The pattern's parts are only resolved at about the training scale: seen close up,
            # or a board large enough that it needs no closer look.
            if closer is None and not self.shows_features(analysis, component):
                detected, outline = False, None
        return Verdict(look, analysis, to_photo, component, fit, detected, stats, outline, closer)

    def shows_features(self, analysis: tuple, component: np.ndarray) -> bool:
        """The region holds at least `min_features` blobs of the pattern's point-feature masks
        (always true for patterns without a grid of features)."""
        board = self.board
        if board is None or len(board.features) < MIN_PATTERN_FEATURES or self.rule.min_features <= 0:
            return True
        found = 0
        for name in board.feature_masks:
            if name in self.mask_names:
                binary = (analysis[self.mask_names.index(name)] > self.threshold) & component
                found += len(geo.blob_centres(binary))
        return found >= self.rule.min_features


def zoom_box(outline: np.ndarray, shape: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """The photo crop (x0, y0, x1, y1) for a zoomed-in look at a board with this outline: a
    square ZOOM_MARGIN times the board's larger side, centred on the board and shifted (or
    clipped) to stay inside the photo. None when it would not be ZOOM_MIN_GAIN times smaller
    than the photo's long side."""
    h, w = shape
    inside = np.clip(outline, -0.5, [w - 0.5, h - 0.5])  # a board cut by the frame: its visible part
    (lx, ly), (hx, hy) = inside.min(axis=0), inside.max(axis=0)
    side = ZOOM_MARGIN * max(hx - lx, hy - ly, 1.0)
    if side * ZOOM_MIN_GAIN > max(h, w):
        return None
    box = []
    for low, high, limit in ((lx, hx, w), (ly, hy, h)):
        extent = min(side, limit)
        # In pixel-edge coordinates (pixel i spans i .. i+1), as slices count.
        start = min(max((low + high + 1) / 2 - extent / 2, 0.0), limit - extent)
        box.append((int(round(start)), int(round(start + extent))))
    (x0, x1), (y0, y1) = box
    return (x0, y0, x1, y1) if x1 - x0 >= 2 and y1 - y0 >= 2 else None


def compose_maps(probs: np.ndarray, zoom: tuple | None, size: tuple[int, int],
                  photo_size: tuple[int, int]) -> list[np.ndarray]:
    """The first pass's maps resized to `size` (W, H), a resizing of the photo's `photo_size`
    (W, H); with `zoom`, the zoomed-in pass's maps resized into their box (photo pixels)."""
    maps = resize_maps(probs, size)
    if zoom is None:
        return maps
    box, crop = zoom
    bx0, by0, bx1, by1 = box_at(box, size, photo_size)
    if bx1 > bx0 and by1 > by0:
        for m, c in zip(maps, resize_maps(crop, (bx1 - bx0, by1 - by0))):
            m[by0:by1, bx0:bx1] = c
    return maps


def box_at(box: tuple[int, int, int, int], size: tuple[int, int], photo_size: tuple[int, int]) -> tuple[int, ...]:
    """A photo box (x0, y0, x1, y1; end exclusive) in a resizing of the photo to `size` (W, H)."""
    kx, ky = size[0] / photo_size[0], size[1] / photo_size[1]
    x0, y0, x1, y1 = box
    return round(x0 * kx), round(y0 * ky), round(x1 * kx), round(y1 * ky)


def resize_maps(probs: np.ndarray, size: tuple[int, int]) -> list[np.ndarray]:
    """M×h×w -> M maps of H×W float32 in [0, 1] (bilinear; `size` = (W, H)).

    One map at a time: each result is contiguous, with no H×W×M transpose to copy."""
    probs = np.clip(probs, 0.0, 1.0)  # bilinear weights are convex: the output stays in range
    if probs.shape[:0:-1] == size:
        return [np.array(p, np.float32) for p in probs]
    return [cv2.resize(p.astype(np.float32, copy=False), size, interpolation=cv2.INTER_LINEAR) for p in probs]


def scale_points(points: np.ndarray, factor: tuple[float, float]) -> np.ndarray:
    """Pixel coordinates from one resolution to another (pixel centres at integers)."""
    return (np.asarray(points, np.float64) + 0.5) * np.array(factor) - 0.5

