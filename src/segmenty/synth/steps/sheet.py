"""Steps that make the sheet and place it: its light (gradient, brightness), its margin, bend and
backing, blank samples, and `PerspectivePlacement`, where the sheet is composited into the scene.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from ..geometry import Bend, homography_from_rect, normalised_inverse, transform_points
from ..scene import Placement, Scene, Shading
from .base import Range, _blend, _uniform
from .world import _pick

@dataclass
class LightingGradient:
    """Uneven light on the sheet: a linear colour gradient across the paper between two
    random RGB colours (each channel U(low, 1)), along a random direction."""

    probability: float = 1.0
    low: float = 0.0

    def sample(self, rng: np.random.Generator, scene: Scene) -> dict:
        return {"near": rng.uniform(self.low, 1, 3).round(4).tolist(),
                "far": rng.uniform(self.low, 1, 3).round(4).tolist(),
                "angle": round(float(rng.uniform(0, 2 * np.pi)), 4)}

    def apply(self, scene: Scene, params: dict) -> None:
        scene.shading = Shading(np.array(params["near"]), np.array(params["far"]), params["angle"])


@dataclass
class PaperMargin:
    """The paper around the printed pattern, as users print and cut it: a margin wider or
    narrower than the pattern's own (each side changes by a fraction of the sheet's size),
    none at all (printed to the edge, `flush_chance`), or the pattern itself cut into: its
    outer squares trimmed to part of their width (`cut_chance` per side, up to `cut` of the
    pattern's width or height). The masks end where the paper does (Scene.render_masks).
    The paper is not quite white (a per-channel tint)."""

    probability: float = 0.7
    change: Range = (-0.1, 0.2)
    tint: Range = (0.85, 1.0)
    flush_chance: float = 0.3
    cut_chance: float = 0.2
    cut: Range = (0.0, 0.06)

    def sample(self, rng: np.random.Generator, scene: Scene) -> dict:
        params = {"sides": rng.uniform(*self.change, 4).round(4).tolist(),
                  "tint": rng.uniform(*self.tint, 3).round(4).tolist()}
        flush, cuts, depths = rng.random(), rng.random(4), rng.uniform(*self.cut, 4)
        params["flush"] = bool(flush < self.flush_chance)
        params["cut"] = [round(float(d), 4) if c < self.cut_chance else 0.0 for c, d in zip(cuts, depths)]
        return params

    def apply(self, scene: Scene, params: dict) -> None:
        x0, y0, x1, y1 = scene.paper_rect
        mx0, my0, mx1, my1 = scene.sheet.mask_box
        w, h, mw, mh = x1 - x0, y1 - y0, mx1 - mx0, my1 - my0
        left, top, right, bottom = params["sides"]
        if params.get("flush"):
            x0, y0, x1, y1 = mx0, my0, mx1, my1
        x0, y0 = min(x0 - left * w, mx0), min(y0 - top * h, my0)
        x1, y1 = max(x1 + right * w, mx1), max(y1 + bottom * h, my1)
        c_left, c_top, c_right, c_bottom = params.get("cut", (0.0,) * 4)
        # A cut side ends inside the pattern, whatever its margin was.
        scene.paper_rect = (mx0 + c_left * mw if c_left else x0, my0 + c_top * mh if c_top else y0,
                            mx1 - c_right * mw if c_right else x1, my1 - c_bottom * mh if c_bottom else y1)
        scene.shading.scale(np.array(params["tint"]))


# What sheets are mounted on, as (grey level range, per-channel tint range): grey or black
# plastic frames, wood, cardboard, white foam board, a dark tablet bezel.
BACKING_MATERIALS = {
    "plastic": ((40, 200), (0.95, 1.05)),
    "wood": ((90, 200), (0.75, 1.25)),
    "cardboard": ((120, 210), (0.85, 1.15)),
    "foam": ((200, 250), (0.97, 1.03)),
    "bezel": ((10, 50), (0.95, 1.05)),
}


@dataclass
class Backing:
    """The sheet mounted on something larger (a plastic frame, a wooden or foam board, a
    clipboard, a tablet's bezel), seen around the paper; it frames boards printed without a
    white margin. A quadrilateral `border` beyond the paper on each side (a fraction of the
    paper's size), of a material's colour, grained by a background texture, lit like the
    sheet; drawn behind the paper when the sheet is placed."""

    probability: float = 0.35
    border: Range = (0.02, 0.25)
    materials: dict = field(default_factory=lambda: {k: 1.0 for k in BACKING_MATERIALS})
    grain: Range = (0.0, 0.35)  # weight of the texture in the material's colour
    grain_kinds: tuple[str, ...] = ("noise", "gradient", "stripes")

    def sample(self, rng: np.random.Generator, scene: Scene) -> dict:
        material = _pick(rng, self.materials, BACKING_MATERIALS)
        (grey_lo, grey_hi), tint = BACKING_MATERIALS[material]
        colour = np.clip(rng.uniform(grey_lo, grey_hi) * rng.uniform(*tint, 3), 0, 255)
        kinds = [k for k in self.grain_kinds if k in scene.bank.kinds]
        grain = scene.bank.sample(rng, kinds[int(rng.integers(len(kinds)))]) if kinds else None
        return {"material": material, "sides": rng.uniform(*self.border, 4).round(4).tolist(),
                "colour": colour.round().astype(int).tolist(), "grain": grain,
                "grain_weight": round(_uniform(rng, self.grain), 4)}

    def apply(self, scene: Scene, params: dict) -> None:
        scene.backing = params


@dataclass
class Brightness:
    """Exposure differences: the background and the sheet each scaled by U(low, high)
    (the overlay's own factor is drawn by OverlayBlend)."""

    probability: float = 1.0
    gain: Range = (0.33, 1.0)

    def sample(self, rng: np.random.Generator, scene: Scene) -> dict:
        return {"background": round(_uniform(rng, self.gain), 4), "sheet": round(_uniform(rng, self.gain), 4)}

    def apply(self, scene: Scene, params: dict) -> None:
        scene.image = cv2.convertScaleAbs(scene.image, alpha=params["background"])
        scene.shading.scale(params["sheet"])


@dataclass
class PaperBend:
    """A sheet that does not lie flat: bowed along its width or height by up to `amount` of
    that length (a smooth warp of the sheet before it is placed)."""

    probability: float = 0.3
    amount: float = 0.04

    def sample(self, rng: np.random.Generator, scene: Scene) -> dict:
        return {"axis": int(rng.integers(2)), "amount": round(float(rng.uniform(-self.amount, self.amount)), 5)}

    def apply(self, scene: Scene, params: dict) -> None:
        x0, y0, x1, y1 = scene.paper_rect
        axis = params["axis"]
        start, length = (x0, x1 - x0) if axis == 0 else (y0, y1 - y0)
        scene.bend = Bend(axis, params["amount"] * length, start, length)
        scene.keypoints = scene.bend.forward(scene.keypoints)


@dataclass
class Blank:
    """Photos without the pattern: empty masks and no keypoints."""

    probability: float = 0.2

    def sample(self, rng: np.random.Generator, scene: Scene) -> dict:
        return {}

    def apply(self, scene: Scene, params: dict) -> None:
        scene.blank = True
        scene.keypoints = None


@dataclass
class PerspectivePlacement:
    """The sheet seen in perspective: its four corners at sorted random angles around a random
    centre in the frame (successive angle steps U(pi/8, 0.75 pi), the fourth, closing the turn,
    at least pi/8 too), at a radius drawn from N(size/2, size/2) clipped to [size/8, size], so
    the sheet is often partly out of frame."""

    probability: float = 1.0
    angle_step: Range = (math.pi / 8, 0.75 * math.pi)
    radius_sigma: float = 0.5  # N(size/2, radius_sigma*size)
    radius_clip: Range = (1 / 8, 1.0)  # fractions of size

    def sample(self, rng: np.random.Generator, scene: Scene) -> dict:
        s = scene.size
        cx, cy = rng.uniform(0, s, 2).tolist()
        radius = min(max(float(rng.normal(s / 2, self.radius_sigma * s)), self.radius_clip[0] * s),
                     self.radius_clip[1] * s)
        first = float(rng.uniform(0, 2 * math.pi))
        a, b, c = rng.uniform(*self.angle_step, 3).tolist()
        # The fourth step, back to the first corner, is what the three leave of the turn: at
        # least the smallest step too (else two corners nearly meet and the sheet is seen as
        # a sliver, a triangle: 3.6% of placements once).
        while 2 * math.pi - (a + b + c) < self.angle_step[0]:
            a, b, c = rng.uniform(*self.angle_step, 3).tolist()
        angles = sorted((first + step) % (2 * math.pi) for step in (0.0, a, a + b, a + b + c))
        return {"quad": [[round(cx + radius * math.cos(t), 3), round(cy + radius * math.sin(t), 3)] for t in angles]}

    def apply(self, scene: Scene, params: dict) -> None:
        if scene.blank:
            return
        quad = np.array(params["quad"], np.float64)
        h = homography_from_rect(scene.paper_rect, quad)
        scene.placement = Placement(h, normalised_inverse(h, quad.mean(axis=0)), scene.bend)
        scene.keypoints = transform_points(h, scene.keypoints)
        scene.outline = outline = transform_points(h, scene.paper_outline())
        if scene.backing:
            _draw_backing(scene, h)
        box = scene.footprint(outline)
        if box is None:
            return
        x0, y0, x1, y1 = box
        # The pyramid level follows the sheet's average scale in the frame.
        px0, py0, px1, py1 = scene.paper_rect
        d1, d2 = quad[2] - quad[0], quad[3] - quad[1]
        quad_area = 0.5 * abs(d1[0] * d2[1] - d1[1] * d2[0])
        level = scene.sheet.level_for(math.sqrt((px1 - px0) * (py1 - py0) / max(quad_area, 1.0)))
        # Paper beyond the sheet image (a wider margin) is white.
        sheet_rgb = scene.placement.render(level.image, box, level.scaling, cv2.INTER_LINEAR, (255, 255, 255))
        _composite_lit(scene, box, outline, sheet_rgb)


def _draw_backing(scene: Scene, homography: np.ndarray) -> None:
    """The backing's quadrilateral (the paper's rectangle grown by its sides) in the frame, in
    its colour grained by its texture and lit like the sheet."""
    params = scene.backing
    x0, y0, x1, y1 = scene.paper_rect
    w, h = x1 - x0, y1 - y0
    left, top, right, bottom = params["sides"]
    outline = transform_points(homography, scene.rect_outline((x0 - left * w, y0 - top * h,
                                                                x1 + right * w, y1 + bottom * h)))
    box = scene.footprint(outline)
    if box is None:
        return
    bx0, by0, bx1, by1 = box
    fill = np.empty((by1 - by0, bx1 - bx0, 3), np.uint8)
    fill[:] = params["colour"]
    if params["grain"] is not None and params["grain_weight"] > 0:
        grain = scene.bank.render(params["grain"])[by0:by1, bx0:bx1]
        fill = cv2.addWeighted(fill, 1.0 - params["grain_weight"], grain, params["grain_weight"], 0.0)
    _composite_lit(scene, box, outline, fill)


def _composite_lit(scene: Scene, box: tuple[int, int, int, int], outline: np.ndarray, rgb: np.ndarray) -> None:
    """`rgb` (the size of `box` in the frame) lit like the sheet and blended into the frame
    inside `outline` (frame px), its edge anti-aliased with 4 bits of sub-pixel precision."""
    x0, y0, x1, y1 = box
    rgb = cv2.multiply(rgb, _light(scene, box), scale=1.0 / 255)
    coverage = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(coverage, [np.round((outline - (x0, y0)) * 16).astype(np.int32)], 255, cv2.LINE_AA, shift=4)
    roi = scene.image[y0:y1, x0:x1]
    roi[:] = _blend(roi, rgb, coverage)


# The light on the sheet is smooth, so it is computed every _LIGHT_STEP px and resized up.
_LIGHT_STEP = 8


def _light(scene: Scene, box: tuple[int, int, int, int]) -> np.ndarray | tuple:
    """The scene's shading over the frame box: an RGB gain image (h×w×3 uint8, 255 = 1),
    or one gain per channel when the light is even."""
    s = scene.shading
    if np.array_equal(s.near, s.far):
        return tuple(s.near * 255) + (0,)
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    nx, ny = -(-w // _LIGHT_STEP) + 1, -(-h // _LIGHT_STEP) + 1
    # Coarse points where cv2.resize puts them: coarse pixel j's centre at (j + 0.5) * w / nx - 0.5.
    x = (x0 + (np.arange(nx) + 0.5) * (w / nx) - 0.5)[None, :]
    y = (y0 + (np.arange(ny) + 0.5) * (h / ny) - 0.5)[:, None]
    # t runs 0..1 across the (flat) paper along the gradient's direction: linear in sheet
    # coordinates, so a ratio of linear functions of frame coordinates.
    px0, py0, px1, py1 = scene.paper_rect
    c, d = math.cos(s.angle), math.sin(s.angle)
    a, b = c / ((abs(c) + abs(d)) * (px1 - px0)), d / ((abs(c) + abs(d)) * (py1 - py0))
    ramp = np.array([a, b, 0.5 - a * (px0 + px1) / 2 - b * (py0 + py1) / 2]) @ scene.placement.inverse
    den = scene.placement.inverse[2]
    t = np.clip((ramp[0] * x + ramp[1] * y + ramp[2]) / (den[0] * x + den[1] * y + den[2]), 0, 1)
    coarse = (s.near * 255 + 0.5) + ((s.far - s.near) * 255) * t[..., None]
    return cv2.resize(coarse.astype(np.uint8), (w, h), interpolation=cv2.INTER_LINEAR)
