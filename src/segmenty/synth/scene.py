"""The state that the steps of a recipe transform, one sample at a time.

Masks are not carried as images. Before the sheet is placed they do not exist in the frame;
after, the scene knows the whole geometric chain from a frame pixel back to the sheet: the
warps applied after placement (lens distortion...), then the placement itself (perspective
and paper bend). `render_masks` walks that chain backwards for every pixel once and
point-samples the sheet's full-resolution masks. So a geometric step transforms every mask by
appending its warp, with exactly the parameters it applies to the image and the keypoints,
and masks are resampled once, not once per step (cheaper, and no error accumulates).
Occlusion-aware masks are the exception that needs pixels: occluders are drawn into
`occluded`, which later warps move like the image.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol

import cv2
import numpy as np

from .backgrounds import BackgroundBank
from .geometry import Bend, apply_homography
from .sheet import PrintedSheet, unpack_masks

# Points per paper edge when tracing the (possibly curved) outline of the placed sheet.
OUTLINE_POINTS_PER_EDGE = 16


def _unit_square_outline(points_per_edge: int) -> np.ndarray:
    t = np.linspace(0, 1, points_per_edge, endpoint=False, dtype=np.float32)
    zero, one = np.zeros_like(t), np.ones_like(t)
    edges = [(t, zero), (one, t), (1 - t, one), (zero, 1 - t)]  # clockwise from top-left
    return np.concatenate([np.stack(e, axis=1) for e in edges])


_UNIT_OUTLINE = _unit_square_outline(OUTLINE_POINTS_PER_EDGE)


class Warp(Protocol):
    """A geometric change of the whole frame (see geometry.py for the two directions)."""

    def source(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...

    def forward(self, points: np.ndarray) -> np.ndarray: ...

    def frame_map(self, size: int) -> np.ndarray: ...


@dataclass(frozen=True)
class AppliedWarp:
    """A warp as a step applied it: the model, and the size×size×2 map of source coordinates
    the image was remapped with (kept so that masks reuse it rather than recompute it)."""

    model: Warp
    frame_map: np.ndarray


@dataclass
class Shading:
    """Light on the sheet: a linear gradient from colour `near` to `far` (RGB gains in 0..1)
    across the paper along direction `angle` (radians, in sheet coordinates)."""

    near: np.ndarray = field(default_factory=lambda: np.ones(3))
    far: np.ndarray = field(default_factory=lambda: np.ones(3))
    angle: float = 0.0

    def scale(self, gain: np.ndarray | float) -> None:
        self.near = self.near * gain
        self.far = self.far * gain


@dataclass(frozen=True)
class Placement:
    """Where the sheet is in the frame: paper (sheet px) -> optional bend -> homography to
    frame pixels (before any later warp)."""

    homography: np.ndarray  # bent sheet px -> frame px
    inverse: np.ndarray  # frame px -> bent sheet px, normalised (geometry.normalised_inverse)
    bend: Bend | None

    def sheet_from_frame(self, x: np.ndarray, y: np.ndarray,
                         scaling: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Sheet coordinates of frame points (broadcastable arrays); with `scaling` (see
        geometry.pixel_scaling) in the pixels of a resized sheet, at no extra cost."""
        inverse, bend = self.inverse, self.bend
        if scaling is not None:
            inverse = scaling @ inverse
            bend = bend.scaled(scaling) if bend else None
        u, v = apply_homography(inverse, x, y)
        return bend.source(u, v) if bend else (u, v)

    def sheet_points(self, points: np.ndarray) -> np.ndarray:
        """Sheet coordinates of an h×w×2 float32 array of frame points (same shape)."""
        sheet = cv2.perspectiveTransform(points, self.inverse)
        if self.bend is None:
            return sheet
        return cv2.merge(self.bend.source(*cv2.split(sheet)))

    def render(self, image: np.ndarray, box: tuple[int, int, int, int], scaling: np.ndarray | None,
               interpolation: int, border_value) -> np.ndarray:
        """`image` (in sheet pixels, or scaled ones with `scaling`) as it appears in the frame
        box (x0, y0, x1, y1): one warpPerspective for a flat sheet, a remap for a bent one."""
        x0, y0, x1, y1 = box
        if self.bend is None:
            inverse = self.inverse if scaling is None else scaling @ self.inverse
            to_box = inverse @ np.array([[1, 0, x0], [0, 1, y0], [0, 0, 1]], np.float64)
            return cv2.warpPerspective(image, to_box, (x1 - x0, y1 - y0), flags=interpolation | cv2.WARP_INVERSE_MAP,
                                       borderMode=cv2.BORDER_CONSTANT, borderValue=border_value)
        x = np.arange(x0, x1, dtype=np.float32)[None, :]
        y = np.arange(y0, y1, dtype=np.float32)[:, None]
        maps = cv2.convertMaps(*self.sheet_from_frame(x, y, scaling), cv2.CV_16SC2,
                               nninterpolation=interpolation == cv2.INTER_NEAREST)
        return cv2.remap(image, *maps, interpolation, borderMode=cv2.BORDER_CONSTANT, borderValue=border_value)


@dataclass
class Scene:
    """One sample in the making.

    image:       size×size×3 uint8 RGB, the photo so far (the background until placement).
    paper_rect:  the paper's edges (x0, y0, x1, y1) in sheet px: the sheet image plus or minus
                 margin (outside the sheet image the paper is plain white).
    shading:     the light on the sheet, applied when it is placed.
    bend:        the paper's bend, applied when it is placed.
    keypoints:   K×2 float32: in sheet px before placement, frame px after; None when blank.
    outline:     N×2 float32, the paper's outline in frame px once placed (moved like the
                 keypoints), so that masks are only rendered where the sheet can be.
    placement:   set when the sheet has been placed; None before, and for blank samples.
    warps:       geometric steps applied to the whole frame after placement, in order.
    occluded:    size×size uint8, 1 where occluders hide the sheet (occlusion-aware masks only).
    blank:       no sheet in this sample.
    backing:     what the sheet is mounted on (Backing's params), drawn behind it; None: nothing.
    """

    size: int
    sheet: PrintedSheet
    bank: BackgroundBank
    occlusion_aware: bool = False
    image: np.ndarray | None = None
    paper_rect: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    shading: Shading = field(default_factory=Shading)
    bend: Bend | None = None
    keypoints: np.ndarray | None = None
    outline: np.ndarray | None = None
    placement: Placement | None = None
    warps: list[AppliedWarp] = field(default_factory=list)
    occluded: np.ndarray | None = None
    blank: bool = False
    backing: dict | None = None

    def __post_init__(self) -> None:
        self.paper_rect = self.sheet.paper_rect
        self.keypoints = self.sheet.keypoints.copy()
        if self.occlusion_aware:
            self.occluded = np.zeros((self.size, self.size), np.uint8)

    def paper_outline(self) -> np.ndarray:
        """The paper's outline in sheet px, N×2, clockwise, bent if the paper is bent."""
        return self.rect_outline(self.paper_rect)

    def rect_outline(self, rect: tuple[float, float, float, float]) -> np.ndarray:
        """The outline of a rectangle (x0, y0, x1, y1) of the sheet's plane in sheet px, N×2,
        clockwise, bent with the paper."""
        x0, y0, x1, y1 = rect
        outline = _UNIT_OUTLINE * np.float32([x1 - x0, y1 - y0]) + np.float32([x0, y0])
        return self.bend.forward(outline) if self.bend else outline

    def paper_cuts_pattern(self) -> bool:
        """The paper is trimmed into the pattern's `mask` region (PaperMargin's cut): the
        masks then end at the paper's edge."""
        (x0, y0, x1, y1), (mx0, my0, mx1, my1) = self.paper_rect, self.sheet.mask_box
        return x0 > mx0 or y0 > my0 or x1 < mx1 or y1 < my1

    def warp(self, model: Warp) -> None:
        """Apply a geometric change of the whole frame to everything at once: the image
        (bilinear, the border reflected), the occlusion map (nearest), the keypoints and the
        paper outline (moved forward), and the warp chain the masks are rendered through."""
        frame_map = model.frame_map(self.size)
        fixed_point = cv2.convertMaps(frame_map, None, cv2.CV_16SC2)  # remaps 1.7x faster
        self.image = cv2.remap(self.image, *fixed_point, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        if self.occluded is not None:
            self.occluded = cv2.remap(self.occluded, frame_map, None, cv2.INTER_NEAREST)
        if self.keypoints is not None and self.outline is not None:
            moved = model.forward(np.concatenate([self.keypoints, self.outline]))
            self.keypoints, self.outline = moved[:len(self.keypoints)], moved[len(self.keypoints):]
        self.warps.append(AppliedWarp(model, frame_map))

    def footprint(self, outline_in_frame: np.ndarray) -> tuple[int, int, int, int] | None:
        """The frame box (x0, y0, x1, y1), end exclusive, covering an outline, or None."""
        (lx, ly), (hx, hy) = outline_in_frame.min(axis=0).tolist(), outline_in_frame.max(axis=0).tolist()
        x0, y0 = max(math.floor(lx) - 1, 0), max(math.floor(ly) - 1, 0)
        x1, y1 = min(math.ceil(hx) + 2, self.size), min(math.ceil(hy) + 2, self.size)
        return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None

    def render_masks(self) -> np.ndarray:
        """M×size×size bool masks in the sheet's mask order for the scene as it is now."""
        masks = np.zeros((len(self.sheet.mask_names), self.size, self.size), bool)
        if self.placement is None:
            return masks
        box = self.footprint(self.outline)
        if box is None:
            return masks
        x0, y0, x1, y1 = box
        packed_masks = self.sheet.packed_masks
        cut = self.paper_cuts_pattern()
        if not self.warps and not cut:
            packed = self.placement.render(packed_masks, box, None, cv2.INTER_NEAREST, 0)
        else:
            # Frame pixel -> (each warp's source, last warp first) -> sheet, then point-sample.
            if self.warps:
                points = self.warps[-1].frame_map[y0:y1, x0:x1]
                for warp in reversed(self.warps[:-1]):
                    points = cv2.merge(warp.model.source(*cv2.split(points)))
            else:
                points = np.dstack(np.meshgrid(np.arange(x0, x1, dtype=np.float32),
                                               np.arange(y0, y1, dtype=np.float32)))
            sheet = self.placement.sheet_points(points)
            packed = cv2.remap(packed_masks, sheet, None, cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT,
                               borderValue=0)
            if cut:
                # What was printed beyond the paper's edge is not there: a pixel belongs to a
                # mask only where its centre falls on the paper too.
                px0, py0, px1, py1 = self.paper_rect
                sx, sy = sheet[..., 0], sheet[..., 1]
                on_paper = (sx >= px0) & (sx <= px1) & (sy >= py0) & (sy <= py1)
                packed = packed.reshape(y1 - y0, x1 - x0, -1) * on_paper[..., None].astype(np.uint8)
        masks[:, y0:y1, x0:x1] = unpack_masks(packed.reshape(y1 - y0, x1 - x0, -1), len(masks))
        if self.occluded is not None:
            masks &= self.occluded == 0
        return masks
