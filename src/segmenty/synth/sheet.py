"""The printed sheet, prepared once per dataset so that placing it costs one remap.

A pattern arrives at print resolution (often 1000+ px a side) while samples are 256 px, so the
sheet's image is pre-rendered as a pyramid (each level half the previous, INTER_AREA) from
about twice the sample size down; a sample picks the level closest above its own scale, which
keeps fine patterns free of aliasing without filtering big images per sample.

Masks stay at the pattern's full resolution, bit-packed (mask i is bit i % 8 of plane i // 8),
and are point-sampled once per sample through the whole geometric chain: a mask pixel is on
exactly when its centre maps inside the pattern's mask, so masks stay binary and agree with
the keypoints to a fraction of a pixel.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..patterns import Pattern
from .geometry import pixel_scaling

# The largest pyramid level has this many times the sample size on its long side: a sheet
# seldom covers more than twice the frame, and bigger levels would only cost memory.
TOP_LEVEL_SCALE = 2.0
# Pyramid levels stop once the long side is below this fraction of the sample size.
BOTTOM_LEVEL_SCALE = 1.0 / 16


@dataclass(frozen=True)
class SheetLevel:
    """One pyramid level: `image`, and `scaling` (3×3) from sheet pixels to its pixels."""

    image: np.ndarray
    scaling: np.ndarray

    @property
    def scale(self) -> float:
        return float(self.scaling[0, 0])


class PrintedSheet:
    """A pattern ready to be placed in scenes of `size`×`size` pixels.

    width, height:   the sheet in pattern pixels.
    levels:          pyramid of the sheet image, largest first (see module docstring).
    mask_names:      mask order (pattern.mask_names, the network's channel order).
    packed_masks:    height×width×planes uint8, the masks as bits.
    keypoints:       K×2 float32 in sheet pixels, pattern.keypoint_names order.
    mask_box:        (x0, y0, x1, y1) pixel edges of the ``mask`` region's bounding box; the
                     paper may be trimmed up to it but not into it.
    outline_index:   rows of `keypoints` holding the four outline corners.
    kind:            the pattern's kind (first word of its spec), e.g. ``chessboard``.
    """

    def __init__(self, pattern: Pattern, size: int):
        self.height, self.width = pattern.image.shape[:2]
        self.spec = pattern.spec
        self.kind = pattern_kind(pattern)
        self.mask_names = list(pattern.mask_names)
        self.keypoint_names = list(pattern.keypoint_names)
        self.keypoints = pattern.keypoint_array()
        self.outline_index = [self.keypoint_names.index(n) for n in
                              ("outline_tl", "outline_tr", "outline_br", "outline_bl")]
        self.levels = _pyramid(pattern.image, size)
        self.packed_masks = _pack_masks([pattern.masks[n] for n in self.mask_names])
        ys, xs = np.nonzero(pattern.masks["mask"])
        self.mask_box = ((float(xs.min()) - 0.5, float(ys.min()) - 0.5,
                          float(xs.max()) + 0.5, float(ys.max()) + 0.5) if len(xs)
                         else self.paper_rect)

    @property
    def paper_rect(self) -> tuple[float, float, float, float]:
        """The sheet image's edges (x0, y0, x1, y1) in sheet pixels (OpenCV convention)."""
        return (-0.5, -0.5, self.width - 0.5, self.height - 0.5)

    def level_for(self, sheet_px_per_image_px: float) -> SheetLevel:
        """The smallest level that still has at least one pixel per output pixel."""
        for level in reversed(self.levels):
            if level.scale * sheet_px_per_image_px >= 1.0:
                return level
        return self.levels[0]


def pattern_kind(pattern: Pattern) -> str:
    """The kind of a pattern: the first word of its spec (``chessboard``...), or its folder."""
    return pattern.spec.split(":")[0]


def _pyramid(image: np.ndarray, size: int) -> list[SheetLevel]:
    h, w = image.shape[:2]
    top = TOP_LEVEL_SCALE * size / max(h, w)
    level = image if top >= 1.0 else cv2.resize(
        image, (max(1, round(w * top)), max(1, round(h * top))), interpolation=cv2.INTER_AREA)
    levels = []
    while True:
        lh, lw = level.shape[:2]
        levels.append(SheetLevel(np.ascontiguousarray(level), pixel_scaling(lw / w, lh / h)))
        if max(lh, lw) < BOTTOM_LEVEL_SCALE * size or min(lh, lw) < 4:
            return levels
        level = cv2.resize(level, ((lw + 1) // 2, (lh + 1) // 2), interpolation=cv2.INTER_AREA)


def _pack_masks(masks: list[np.ndarray]) -> np.ndarray:
    h, w = masks[0].shape
    planes = np.zeros((h, w, (len(masks) + 7) // 8), np.uint8)
    for i, m in enumerate(masks):
        planes[..., i // 8] |= m.astype(np.uint8) << (i % 8)
    return planes


def unpack_masks(packed: np.ndarray, count: int) -> np.ndarray:
    """h×w×planes bit-packed masks -> count×h×w bool."""
    out = np.empty((count, *packed.shape[:2]), bool)
    for i in range(count):
        out[i] = (packed[..., i // 8] & (1 << (i % 8))) != 0
    return out
