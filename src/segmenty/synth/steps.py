"""The steps of a recipe, one class per effect a camera, a scene or a printer has on a photo.

Every step is a small dataclass whose fields are its ranges and whose `probability` says how
often it happens. It works in two halves:

- ``sample(rng, scene) -> params``: draw everything random (a plain JSON-able dict; the
  scene is only read, e.g. for its size or the paper's current rectangle);
- ``apply(scene, params)``: change the scene in place with those params, moving the image,
  every mask and every keypoint alike (see scene.py for how masks follow geometric steps).

So a sample's params replay it exactly, and a recipe can be changed one step at a time.
Steps up to `PerspectivePlacement` prepare the background and the paper; the sheet is
composited there; later steps act on the whole photo. Everything works on uint8 images with
OpenCV calls: this is the hot path of training.
"""
from __future__ import annotations

import bisect
import functools
import itertools
import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from typing import Protocol, runtime_checkable

from .geometry import Bend, RadialLens, homography_from_rect, normalised_inverse, transform_points
from .scene import Placement, Scene, Shading

Range = tuple[float, float]


@runtime_checkable
class Step(Protocol):
    """What every step of a recipe is: its ranges are its dataclass fields (so they can be
    ablated and are recorded in a run's config), `probability` says how often it happens,
    `sample` draws every random choice into plain JSON-able params, and `apply` changes the
    scene with those params alone, moving image, masks and keypoints alike."""

    probability: float

    def sample(self, rng: np.random.Generator, scene: Scene) -> dict: ...

    def apply(self, scene: Scene, params: dict) -> None: ...


def _uniform(rng: np.random.Generator, bounds: Range) -> float:
    return float(rng.uniform(bounds[0], bounds[1]))


def _lerp(bounds: Range, t: float) -> float:
    """The point a fraction `t` of the way from bounds[0] to bounds[1] (a uniform draw t)."""
    return bounds[0] + (bounds[1] - bounds[0]) * t


def _multiply(image: np.ndarray, gain: np.ndarray) -> np.ndarray:
    """image × gain for a uint8 image and an h×w float gain map in [0, 1] (saturating)."""
    gain_u8 = cv2.cvtColor(cv2.convertScaleAbs(gain, alpha=255.0), cv2.COLOR_GRAY2RGB)
    return cv2.multiply(image, gain_u8, scale=1.0 / 255)


def _grey(image: np.ndarray) -> np.ndarray:
    """The RGB image's luminance, as a 3-channel image."""
    return cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)


def _offsets_from(centre: list[float], side: int) -> tuple[np.ndarray, np.ndarray]:
    """x and y offsets (1×side and side×1, in frame fractions) of a side×side grid's pixel
    centres from `centre` (frame fractions): smooth light maps are computed this small."""
    r = (np.arange(side, dtype=np.float32) + 0.5) / side
    return r[None, :] - centre[0], r[:, None] - centre[1]


def _blend(base: np.ndarray, top: np.ndarray, alpha_u8: np.ndarray) -> np.ndarray:
    """base × (1 - alpha) + top × alpha, alpha an h×w uint8 coverage (255 = top)."""
    a = alpha_u8.astype(np.float32) * np.float32(1.0 / 255)
    return cv2.blendLinear(base, top, np.float32(1.0) - a, a)


# --------------------------------------------------------------------------- before placement

@dataclass
class SceneBackground:
    """What the camera sees behind the sheet: a photo or texture from the background bank,
    randomly cropped, zoomed, flipped and turned (textures of the kinds in `exclude` never)."""

    probability: float = 1.0
    exclude: tuple[str, ...] = ()

    def sample(self, rng: np.random.Generator, scene: Scene) -> dict:
        return scene.bank.sample(rng, exclude=self.exclude)

    def apply(self, scene: Scene, params: dict) -> None:
        scene.image = scene.bank.render(params)


# How often each kind of content fills a distractor patch (kinds the background bank lacks
# are skipped): foliage most, as trees and shrubs are what a detector trained without
# distractors fires on.
DISTRACTOR_KINDS = {"foliage": 3.0, "folder": 2.0, "text": 1.0, "stripes": 1.0, "dots": 1.0,
                    "shapes": 1.0, "noise": 1.0, "grid": 1.0, "facade": 1.0, "gradient": 0.5, "checkers": 1.0, "plaid": 1.0,
                    "markers": 1.5, "circle_grid": 1.5}


@dataclass
class Distractors:
    """Bounded things that are not the pattern: patches of foliage, stripes, dots, text,
    clutter or photo cut-outs, some printed on white paper (a border), each seen in
    perspective. Without them the only bounded high-contrast region in training is the
    pattern, and the network learns to fire on any textured object (trees, shrubs).

    The content comes from the background bank, which never holds textures that could look
    like the pattern (no checkers for a chessboard; see textures.texture_kinds). Patches go
    onto the background, under the sheet, in blank and non-blank samples alike.
    """

    probability: float = 0.7
    count: tuple[int, int] = (1, 4)
    side: Range = (0.08, 0.45)  # patch size, fraction of the frame
    kinds: dict = field(default_factory=lambda: dict(DISTRACTOR_KINDS))
    rectangles: float = 0.4  # chance of a rectangular patch (a photo, a page); else ellipses, polygons, blobs
    paper_border: float = 0.4  # chance of a white paper border around a rectangular patch
    perspective: float = 0.25  # corner jitter, fraction of the patch side
    aspect: Range = (0.5, 1.0)  # short side / long side of a patch
    border_width: Range = (0.04, 0.15)  # the paper border, fraction of the patch side
    paper_colour: tuple[int, int] = (200, 256)  # each RGB channel of the paper, [low, high)
    max_canvas: int = 96  # patches are drawn at most this big, then warped into place

    # The uniform draws of one patch, by name (one row of U(0, 1) per patch, spent in plain
    # Python: numpy calls on a handful of numbers cost more than the numbers). `style` picks
    # the outline of a shaped patch or the border width of a rectangle: never both.
    DRAWS = ("side", "aspect", "portrait", "angle", "x", "y",
             "jitter_x0", "jitter_y0", "jitter_x1", "jitter_y1", "jitter_x2", "jitter_y2", "jitter_x3", "jitter_y3",
             "rectangle", "kind", "style", "bordered")

    def sample(self, rng: np.random.Generator, scene: Scene) -> dict:
        kinds = [k for k in self.kinds if k in scene.bank.kinds]
        weights = list(itertools.accumulate(self.kinds[k] for k in kinds))
        shapes = len(_outline_shapes())
        patches = []
        count = int(rng.integers(self.count[0], self.count[1] + 1))
        for row in rng.random((count, len(self.DRAWS))).tolist():
            u = dict(zip(self.DRAWS, row))
            side = _lerp(self.side, u["side"]) * scene.size
            # A rectangle of random size, aspect and angle, its corners jittered: perspective.
            half_w, half_h = side / 2, side / 2 * _lerp(self.aspect, u["aspect"])
            if u["portrait"] < 0.5:
                half_w, half_h = half_h, half_w
            cos, sin = math.cos(2 * math.pi * u["angle"]), math.sin(2 * math.pi * u["angle"])
            cx, cy = u["x"] * scene.size, u["y"] * scene.size
            jitter = self.perspective * side
            quad = [[round(cx + cos * sx * half_w - sin * sy * half_h + jitter * (2 * u[f"jitter_x{i}"] - 1), 2),
                     round(cy + sin * sx * half_w + cos * sy * half_h + jitter * (2 * u[f"jitter_y{i}"] - 1), 2)]
                    for i, (sx, sy) in enumerate(((-1, -1), (1, -1), (1, 1), (-1, 1)))]
            canvas = int(min(max(2 * max(half_w, half_h) + 2 * jitter, 8), self.max_canvas))
            rectangle = u["rectangle"] < self.rectangles  # outline 0 is the rectangle
            kind = kinds[bisect.bisect_right(weights, u["kind"] * weights[-1])]
            bordered = rectangle and u["bordered"] < self.paper_border
            patches.append({
                "canvas": canvas,
                # Content from a crop 1-2x the canvas: seen from a little farther or closer.
                "content": scene.bank.sample(rng, kind, crop=(canvas, 2 * canvas)),
                "outline": 0 if rectangle else 1 + int(u["style"] * (shapes - 1)),
                "border": round(_lerp(self.border_width, u["style"]), 4) if bordered else 0.0,
                "paper": rng.integers(*self.paper_colour, 3).tolist(),
                "quad": quad,
            })
        return {"patches": patches}

    def apply(self, scene: Scene, params: dict) -> None:
        for patch in params["patches"]:
            self._paste(scene, patch)

    @staticmethod
    def _paste(scene: Scene, patch: dict) -> None:
        quad = np.array(patch["quad"], np.float32)
        box = scene.footprint(quad)
        if box is None:
            return
        side = patch["canvas"]
        content = scene.bank.render(patch["content"], side)
        if patch["border"] > 0:  # printed matter: the content inside a plain paper border
            inner = int(round(patch["border"] * side))
            paper = np.empty_like(content)
            paper[:] = patch["paper"]
            paper[inner:side - inner, inner:side - inner] = content[inner:side - inner, inner:side - inner]
            content = paper
        x0, y0, x1, y1 = box
        to_box = quad - np.float32([x0, y0])
        size = (x1 - x0, y1 - y0)
        rgb = cv2.warpPerspective(content, _square_to(to_box, side), size, flags=cv2.INTER_LINEAR)
        alpha = cv2.warpPerspective(_outline_shapes()[patch["outline"]], _square_to(to_box, _OUTLINE_SIDE), size,
                                    flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        roi = scene.image[y0:y1, x0:x1]
        roi[:] = _blend(roi, rgb, alpha)


_OUTLINE_SIDE = 64


def _square_to(quad: np.ndarray, side: int) -> np.ndarray:
    """The homography from a side×side image onto `quad` (its pixel edges to the corners)."""
    corners = np.array([[0, 0], [side, 0], [side, side], [0, side]], np.float32) - 0.5
    return cv2.getPerspectiveTransform(corners, quad)


@functools.cache
def _outline_shapes() -> list[np.ndarray]:
    """Distractor outlines as 64×64 coverage masks, drawn once and stretched onto each patch:
    a rectangle (index 0, the only one that gets a paper border), then ellipses, polygons and
    blobs (overlapping discs, like a bush or a stain). A fixed seed keeps them the same in
    every process."""
    rng = np.random.default_rng(0x0D15)
    side, c = _OUTLINE_SIDE, _OUTLINE_SIDE / 2
    shapes = [np.full((side, side), 255, np.uint8)]
    for _ in range(6):
        ellipse = np.zeros((side, side), np.uint8)
        cv2.ellipse(ellipse, (int(c), int(c)), (int(c) - 1, int(c * rng.uniform(0.5, 1)) - 1), 0, 0, 360, 255, -1,
                    cv2.LINE_AA)
        polygon = np.zeros((side, side), np.uint8)
        n = int(rng.integers(3, 9))
        angles = np.sort(rng.uniform(0, 2 * np.pi, n))
        radii = c * rng.uniform(0.5, 1.0, n)
        points = np.stack([c + radii * np.cos(angles), c + radii * np.sin(angles)], axis=1)
        cv2.fillPoly(polygon, [np.round(points * 16).astype(np.int32)], 255, cv2.LINE_AA, shift=4)
        blob = np.zeros((side, side), np.uint8)
        for _ in range(int(rng.integers(4, 12))):
            p = rng.uniform(0.3, 0.7, 2) * side
            cv2.circle(blob, (int(p[0]), int(p[1])), int(rng.uniform(0.12, 0.3) * side), 255, -1, cv2.LINE_AA)
        shapes += [ellipse, polygon, blob]
    return shapes


# Skin tones (RGB) from light to dark; a sample's skin is a mix of two neighbours.
SKIN_TONES = np.array([(255, 224, 196), (234, 192, 160), (210, 160, 120), (170, 120, 85), (120, 80, 55),
                       (80, 52, 38)], np.float32)


def _skin(rng: np.random.Generator) -> list[int]:
    t = float(rng.uniform(0, len(SKIN_TONES) - 1))
    i = min(int(t), len(SKIN_TONES) - 2)
    return np.clip(SKIN_TONES[i] + (t - i) * (SKIN_TONES[i + 1] - SKIN_TONES[i]), 0, 255).round().astype(int).tolist()


def _pick(rng: np.random.Generator, weights: dict[str, float], available) -> str:
    """A name of `weights` that is in `available`, drawn in proportion to its weight."""
    names = [k for k in weights if k in available]
    w = np.array([weights[k] for k in names], np.float64)
    return names[int(rng.choice(len(names), p=w / w.sum()))]


def _paint(scene: Scene, coverage: np.ndarray, content: np.ndarray) -> None:
    """Blend `content` (size×size×3, or one colour) into the scene where `coverage` (uint8)."""
    x0, y0, w, h = cv2.boundingRect(coverage)  # ~25x faster than np.nonzero on the whole frame
    if not w:
        return
    x1, y1 = x0 + w, y0 + h
    roi = scene.image[y0:y1, x0:x1]
    if content.ndim == 1:
        top = np.empty_like(roi)
        top[:] = content
    else:
        top = content[y0:y1, x0:x1]
    roi[:] = _blend(roi, top, coverage[y0:y1, x0:x1])


@dataclass
class Person:
    """Someone in the scene, often the one holding the board: shoulders and a torso in
    clothing (stripes, plaid, prints or plain), a neck and a head, behind the sheet. Striped
    and checked shirts beside a board are what fool a detector trained without people."""

    probability: float = 0.25
    shoulders: Range = (0.35, 0.95)  # shoulder width, fraction of the frame
    height: Range = (0.2, 0.75)      # where the shoulders are, fraction of the frame from the top
    clothing: dict = field(default_factory=lambda: {"stripes": 3.0, "plaid": 3.0, "noise": 1.0, "gradient": 1.0,
                                                    "text": 0.5, "shapes": 0.5})
    clothing_scale: Range = (0.3, 1.0)  # crop of the texture: smaller is coarser fabric

    def sample(self, rng: np.random.Generator, scene: Scene) -> dict:
        kind = _pick(rng, self.clothing, scene.bank.kinds)
        side = scene.bank.working_side
        crop = (self.clothing_scale[0] * side, self.clothing_scale[1] * side)
        return {"centre": round(float(rng.uniform(0.1, 0.9)), 4), "width": round(_uniform(rng, self.shoulders), 4),
                "shoulder_y": round(_uniform(rng, self.height), 4), "lean": round(float(rng.uniform(-0.15, 0.15)), 4),
                "clothing": scene.bank.sample(rng, kind, crop=crop), "skin": _skin(rng),
                "hair": rng.integers(10, 120, 3).tolist()}

    def apply(self, scene: Scene, params: dict) -> None:
        s = scene.size
        cx, w, sy, lean = params["centre"] * s, params["width"] * s, params["shoulder_y"] * s, params["lean"] * s
        body = np.zeros((s, s), np.uint8)
        torso = np.array([[cx - w / 2, sy + 0.12 * w], [cx - w / 2 + 0.1 * w, sy], [cx + w / 2 - 0.1 * w, sy],
                          [cx + w / 2, sy + 0.12 * w], [cx + 0.6 * w + lean, s + 1], [cx - 0.6 * w + lean, s + 1]])
        cv2.fillPoly(body, [np.round(torso * 16).astype(np.int32)], 255, cv2.LINE_AA, shift=4)
        _paint(scene, body, scene.bank.render(params["clothing"]))
        head = np.zeros((s, s), np.uint8)
        r = 0.22 * w
        hx, hy = cx - lean * 0.5, sy - 1.05 * r
        cv2.rectangle(head, (int(hx - 0.35 * r), int(hy)), (int(hx + 0.35 * r), int(sy + 2)), 255, -1)  # neck
        cv2.ellipse(head, (int(hx * 16), int(hy * 16)), (int(0.8 * r * 16), int(r * 16)), 0, 0, 360, 255, -1,
                    cv2.LINE_AA, shift=4)
        _paint(scene, head, np.array(params["skin"], np.uint8))
        hair = np.zeros((s, s), np.uint8)
        cv2.ellipse(hair, (int(hx * 16), int((hy - 0.25 * r) * 16)), (int(0.85 * r * 16), int(0.8 * r * 16)), 0,
                    180, 360, 255, -1, cv2.LINE_AA, shift=4)
        _paint(scene, hair, np.array(params["hair"], np.uint8))


@dataclass
class Hands:
    """Hands holding the sheet: fingers over its edge, the palm and the wrist beyond it,
    pointing from outside the paper inwards. In front of the sheet, like the occluders (the
    masks stay amodal unless the recipe is occlusion-aware)."""

    probability: float = 0.25
    count: tuple[int, int] = (1, 2)
    finger_length: Range = (0.04, 0.1)  # fraction of the frame
    overlap: Range = (0.2, 0.9)         # how much of a finger lies over the paper

    def sample(self, rng: np.random.Generator, scene: Scene) -> dict:
        if scene.outline is None or scene.blank:
            return {"hands": []}
        # Hands hold the sheet where it is seen: at a point of its edge inside the frame.
        seen = np.flatnonzero(np.all((scene.outline >= 0) & (scene.outline < scene.size), axis=1))
        if not len(seen):
            return {"hands": []}
        hands = []
        for _ in range(int(rng.integers(self.count[0], self.count[1] + 1))):
            hands.append({"at": int(seen[rng.integers(len(seen))]),
                          "length": round(_uniform(rng, self.finger_length), 4),
                          "overlap": round(_uniform(rng, self.overlap), 4),
                          "fingers": int(rng.integers(2, 5)), "skin": _skin(rng),
                          "spread": round(float(rng.uniform(0.8, 1.3)), 4),
                          "tilt": round(float(rng.uniform(-0.4, 0.4)), 4)})
        return {"hands": hands}

    def apply(self, scene: Scene, params: dict) -> None:
        if scene.outline is None or not params["hands"]:
            return
        outline = scene.outline.astype(np.float64)
        centre = outline.mean(axis=0)
        for hand in params["hands"]:
            at = outline[hand["at"] % len(outline)]
            inward = centre - at
            inward /= max(np.linalg.norm(inward), 1e-6)
            c, t = math.cos(hand["tilt"]), math.sin(hand["tilt"])
            inward = np.array([c * inward[0] - t * inward[1], t * inward[0] + c * inward[1]])
            across = np.array([-inward[1], inward[0]])
            length = hand["length"] * scene.size
            width = max(1.5, 0.28 * length * hand["spread"])
            cover = np.zeros((scene.size, scene.size), np.uint8)
            n = hand["fingers"]
            base = at - inward * length * (1 - hand["overlap"])
            for k in range(n):
                offset = (k - (n - 1) / 2) * width * 1.05
                start = base + across * offset
                tip = start + inward * length * (0.85 if k in (0, n - 1) else 1.0)
                cv2.line(cover, tuple(np.round(start * 16).astype(int)), tuple(np.round(tip * 16).astype(int)), 255,
                         max(1, int(round(width))), cv2.LINE_AA, shift=4)
            palm = base - inward * length * 0.6
            axes = (int(n * width * 0.6 * 16), int(length * 0.7 * 16))
            angle = math.degrees(math.atan2(inward[1], inward[0])) + 90
            cv2.ellipse(cover, tuple(np.round(palm * 16).astype(int)), axes, angle, 0, 360, 255, -1, cv2.LINE_AA,
                        shift=4)
            wrist_end = palm - inward * scene.size
            cv2.line(cover, tuple(np.round(palm * 16).astype(int)), tuple(np.round(wrist_end * 16).astype(int)), 255,
                     max(1, int(round(n * width * 0.9))), cv2.LINE_AA, shift=4)
            _paint(scene, cover, np.array(hand["skin"], np.uint8))
            if scene.occluded is not None:
                scene.occluded |= (cover > 127).astype(np.uint8)


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
    centre in the frame (successive angle steps U(pi/8, 0.75 pi)), at a radius drawn from
    N(size/2, size/2) clipped to [size/8, size], so the sheet is often partly out of frame."""

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


# ---------------------------------------------------------------------------- after placement

@dataclass
class CastShadow:
    """The shadow of something out of frame (a person, the camera, a branch): a soft-edged
    polygon darkening everything under it."""

    probability: float = 0.3
    darkness: Range = (0.2, 0.6)
    softness: Range = (0.01, 0.08)  # blur, fraction of the frame
    vertices: tuple[int, int] = (3, 7)
    radius: Range = (0.2, 0.9)  # of each vertex from the shadow's centre, fraction of the frame
    map_side: int = 64  # the shadow is smooth: drawn this small, blurred, scaled up

    def sample(self, rng: np.random.Generator, scene: Scene) -> dict:
        n = int(rng.integers(self.vertices[0], self.vertices[1] + 1))
        centre = rng.uniform(0, 1, 2)
        angles = np.sort(rng.uniform(0, 2 * np.pi, n))
        radii = rng.uniform(*self.radius, n)
        points = centre + radii[:, None] * np.stack([np.cos(angles), np.sin(angles)], axis=1)
        return {"polygon": points.round(4).tolist(), "darkness": round(_uniform(rng, self.darkness), 4),
                "softness": round(_uniform(rng, self.softness), 4)}

    def apply(self, scene: Scene, params: dict) -> None:
        small = self.map_side
        shadow = np.zeros((small, small), np.float32)
        cv2.fillPoly(shadow, [(np.array(params["polygon"]) * small * 16).astype(np.int32)], 1.0,
                     cv2.LINE_AA, shift=4)
        shadow = cv2.GaussianBlur(shadow, (0, 0), max(0.5, params["softness"] * small))
        gain = 1.0 - params["darkness"] * cv2.resize(shadow, (scene.size, scene.size))
        scene.image = _multiply(scene.image, gain)


@dataclass
class Glare:
    """Light reflected off glossy paper, or a lamp's hot spot: a soft elliptical patch where
    the photo is washed out towards a bright colour. Unlike brightness, it takes the contrast
    away (black squares turn grey), over part of the sheet only: the patch is centred within
    the paper's box in the frame when there is a sheet, anywhere otherwise; its colour is a
    bright tint (each channel 200-255)."""

    probability: float = 0.3
    strength: Range = (0.3, 0.85)  # blend towards the glare colour at the patch's centre
    radius: Range = (0.1, 0.5)     # semi-axes, fractions of the frame
    colour: tuple[int, int] = (200, 256)  # each RGB channel of the glare, [low, high)
    map_side: int = 64  # the patch is smooth: computed this small, scaled up

    def sample(self, rng: np.random.Generator, scene: Scene) -> dict:
        low, high = (0.0, 0.0), (1.0, 1.0)
        if scene.outline is not None and not scene.blank:
            low = np.clip(scene.outline.min(axis=0) / scene.size, 0, 1)
            high = np.maximum(np.clip(scene.outline.max(axis=0) / scene.size, 0, 1), low)
        return {"centre": rng.uniform(low, high).round(4).tolist(),
                "axes": rng.uniform(*self.radius, 2).round(4).tolist(),
                "angle": round(float(rng.uniform(0, np.pi)), 4),
                "strength": round(_uniform(rng, self.strength), 4),
                "colour": rng.integers(*self.colour, 3).tolist()}

    def apply(self, scene: Scene, params: dict) -> None:
        small = self.map_side
        dx, dy = _offsets_from(params["centre"], small)
        c, s = math.cos(params["angle"]), math.sin(params["angle"])
        u, v = (c * dx + s * dy) / params["axes"][0], (-s * dx + c * dy) / params["axes"][1]
        alpha = params["strength"] * np.exp(-2.0 * (u * u + v * v))
        alpha = cv2.resize(alpha, (scene.size, scene.size), interpolation=cv2.INTER_LINEAR)
        glare = np.empty_like(scene.image)
        glare[:] = params["colour"]
        scene.image = _blend(scene.image, glare, cv2.convertScaleAbs(alpha, alpha=255.0))


@dataclass
class OverlayBlend:
    """A second background seen through or reflected on everything (glass, glare, haze), with
    its own brightness: image × (1 - w) + overlay × gain × w."""

    probability: float = 1.0
    weight: Range = (0.0, 0.5)
    gain: Range = (0.33, 1.0)

    def sample(self, rng: np.random.Generator, scene: Scene) -> dict:
        return {"background": scene.bank.sample(rng), "weight": round(_uniform(rng, self.weight), 4),
                "gain": round(_uniform(rng, self.gain), 4)}

    def apply(self, scene: Scene, params: dict) -> None:
        overlay = scene.bank.render(params["background"])
        w = params["weight"]
        scene.image = cv2.addWeighted(scene.image, 1.0 - w, overlay, w * params["gain"], 0.0)


@dataclass
class Occluders:
    """Things between camera and sheet: filled ellipses of random colour (axes up to
    `max_axis` of the frame). Masks stay amodal (the whole pattern) unless the recipe is
    occlusion-aware, then occluded pixels leave the masks."""

    probability: float = 1.0
    count: int | tuple[int, int] = 10  # a number, or a (least, most) range
    max_axis: float = 0.2
    colour: tuple[int, int] = (0, 256)  # each RGB channel, [low, high)

    def sample(self, rng: np.random.Generator, scene: Scene) -> dict:
        lo, hi = (self.count, self.count) if isinstance(self.count, int) else self.count
        n, s = int(rng.integers(lo, hi + 1)), scene.size
        return {"centres": rng.integers(0, s, (n, 2)).tolist(),
                "axes": rng.integers(0, int(self.max_axis * s) + 1, (n, 2)).tolist(),
                "angles": rng.integers(0, 360, n).tolist(), "colours": rng.integers(*self.colour, (n, 3)).tolist()}

    def apply(self, scene: Scene, params: dict) -> None:
        for centre, axes, angle, colour in zip(params["centres"], params["axes"], params["angles"],
                                               params["colours"]):
            cv2.ellipse(scene.image, centre, axes, angle, 0, 360, colour, -1, cv2.LINE_AA)
            if scene.occluded is not None:
                cv2.ellipse(scene.occluded, centre, axes, angle, 0, 360, 1, -1)


@dataclass
class LensDistortion:
    """Radial lens distortion (geometry.RadialLens) of the whole photo, masks and keypoints:
    barrel (k > 0, wide-angle lenses; k = 0.2 is a typical cheap wide-angle camera, 0.4 very
    strong) with chance `barrel_chance`, else pincushion; centre U(0.4, 0.6) of the frame."""

    probability: float = 0.9
    barrel_chance: float = 0.75
    barrel: Range = (0.0, 0.4)
    pincushion: Range = (0.0, 0.1)
    centre: Range = (0.4, 0.6)

    def sample(self, rng: np.random.Generator, scene: Scene) -> dict:
        k = _uniform(rng, self.barrel) if rng.random() < self.barrel_chance else -_uniform(rng, self.pincushion)
        cx, cy = rng.uniform(*self.centre, 2) * (scene.size - 1)
        return {"k": round(k, 5), "centre": [round(float(cx), 3), round(float(cy), 3)]}

    def apply(self, scene: Scene, params: dict) -> None:
        scene.warp(RadialLens.for_frame(scene.size, params["k"], *params["centre"]))


@dataclass
class MotionBlur:
    """Camera shake: a line kernel of `length` px in one of 8 directions (opposite directions
    blur alike, so 4 orientations). Lengths are odd so that the blur is centred and the image
    does not shift against its masks."""

    probability: float = 0.5
    length: tuple[int, int] = (3, 15)

    def sample(self, rng: np.random.Generator, scene: Scene) -> dict:
        return {"length": 2 * int(rng.integers(self.length[0] // 2, self.length[1] // 2 + 1)) + 1,
                "direction": int(rng.integers(0, 8)) * 45}

    def apply(self, scene: Scene, params: dict) -> None:
        n, direction = params["length"], params["direction"] % 180
        if direction == 0:
            scene.image = cv2.blur(scene.image, (n, 1))
        elif direction == 90:
            scene.image = cv2.blur(scene.image, (1, n))
        else:
            # A diagonal line kernel; long ones as two short passes (a trapezoid profile)
            # because OpenCV switches big kernels to a DFT that costs 20x more.
            first = min(n, 9)
            for part in (first, n - first + 1):
                if part > 1:
                    kernel = np.eye(part, dtype=np.float32) / part
                    scene.image = cv2.filter2D(scene.image, -1, kernel if direction == 135 else kernel[::-1])


@dataclass
class DefocusBlur:
    """An out-of-focus camera: Gaussian blur of sigma U(low, high) px at 256 px (scaled with
    the frame)."""

    probability: float = 0.2
    sigma: Range = (0.5, 2.0)

    def sample(self, rng: np.random.Generator, scene: Scene) -> dict:
        return {"sigma": round(_uniform(rng, self.sigma) * scene.size / 256, 4)}

    def apply(self, scene: Scene, params: dict) -> None:
        scene.image = cv2.GaussianBlur(scene.image, (0, 0), params["sigma"])


@dataclass
class Vignetting:
    """Lens fall-off: brightness drops by up to `strength` towards the corners (quadratic in
    the distance from a centre near the middle)."""

    probability: float = 0.4
    strength: Range = (0.1, 0.8)
    centre: Range = (0.35, 0.65)  # of the fall-off, each coordinate a fraction of the frame
    map_side: int = 32  # the fall-off is smooth: computed this small, scaled up

    def sample(self, rng: np.random.Generator, scene: Scene) -> dict:
        return {"strength": round(_uniform(rng, self.strength), 4),
                "centre": rng.uniform(*self.centre, 2).round(4).tolist()}

    def apply(self, scene: Scene, params: dict) -> None:
        small = self.map_side
        dx, dy = _offsets_from(params["centre"], small)
        gain = 1.0 - params["strength"] * (dx * dx + dy * dy) / 0.5
        scene.image = _multiply(scene.image, cv2.resize(np.clip(gain, 0, 1), (scene.size, scene.size)))


@dataclass
class ColourJitter:
    """Camera colour processing: white balance (per-channel gain), contrast, gamma, saturation."""

    probability: float = 0.7
    white_balance: Range = (0.8, 1.2)
    contrast: Range = (0.7, 1.3)
    gamma: Range = (0.7, 1.5)
    saturation: Range = (0.5, 1.4)

    def sample(self, rng: np.random.Generator, scene: Scene) -> dict:
        return {"white_balance": rng.uniform(*self.white_balance, 3).round(4).tolist(),
                "contrast": round(_uniform(rng, self.contrast), 4), "gamma": round(_uniform(rng, self.gamma), 4),
                "saturation": round(_uniform(rng, self.saturation), 4)}

    def apply(self, scene: Scene, params: dict) -> None:
        v = np.arange(256, dtype=np.float64) / 255
        tone = ((v ** params["gamma"]) - 0.5) * params["contrast"] + 0.5
        lut = np.clip(tone[:, None] * np.array(params["white_balance"]) * 255 + 0.5, 0, 255)
        image = cv2.LUT(scene.image, lut.astype(np.uint8).reshape(256, 1, 3))
        s = params["saturation"]
        scene.image = cv2.addWeighted(image, s, _grey(image), 1.0 - s, 0.0)


@dataclass
class DynamicRange:
    """A camera with a poor tonal range: blacks lifted and whites lowered (a washed-out,
    low-contrast webcam), or over-exposed with the highlights clipped (`gain` > 1 first)."""

    probability: float = 0.3
    black: Range = (0.0, 70.0)
    white: Range = (170.0, 255.0)
    overexposure_chance: float = 0.3
    gain: Range = (1.1, 1.8)

    def sample(self, rng: np.random.Generator, scene: Scene) -> dict:
        over = rng.random() < self.overexposure_chance
        return {"black": round(_uniform(rng, self.black), 2), "white": round(_uniform(rng, self.white), 2),
                "gain": round(_uniform(rng, self.gain), 4) if over else 1.0}

    def apply(self, scene: Scene, params: dict) -> None:
        v = np.clip(np.arange(256, dtype=np.float64) * params["gain"], 0, 255)
        lut = params["black"] + v * (params["white"] - params["black"]) / 255
        scene.image = cv2.LUT(scene.image, np.clip(lut + 0.5, 0, 255).astype(np.uint8))


@dataclass
class Grayscale:
    """A monochrome camera or a black-and-white photo."""

    probability: float = 0.25

    def sample(self, rng: np.random.Generator, scene: Scene) -> dict:
        return {}

    def apply(self, scene: Scene, params: dict) -> None:
        scene.image = _grey(scene.image)


# Sensor noise comes from a fixed tile of Gaussian noise, cropped at a random place: drawing
# fresh normals for every pixel would cost more than the rest of the sample. The tile is the
# same in every process (fixed seed), so samples do not depend on the worker.
_NOISE_STD = 32.0  # the tile stores 128 + N(0, 1) * _NOISE_STD as uint8
_noise_tiles: dict[int, np.ndarray] = {}


def _noise_tile(size: int) -> np.ndarray:
    side = 2 * size
    if side not in _noise_tiles:
        normal = np.random.default_rng(0x5E2507).standard_normal((side, side, 3), dtype=np.float32)
        _noise_tiles[side] = np.clip(128 + normal * _NOISE_STD, 0, 255).astype(np.uint8)
    return _noise_tiles[side]


@dataclass
class SensorNoise:
    """Sensor noise: Gaussian, sigma U(low, high) grey levels, in colour or luminance only."""

    probability: float = 0.5
    sigma: Range = (2.0, 12.0)
    luminance_only: float = 0.3

    def sample(self, rng: np.random.Generator, scene: Scene) -> dict:
        return {"sigma": round(_uniform(rng, self.sigma), 3), "offset": rng.integers(0, scene.size + 1, 2).tolist(),
                "luminance_only": bool(rng.random() < self.luminance_only)}

    def apply(self, scene: Scene, params: dict) -> None:
        ox, oy = params["offset"]
        noise = _noise_tile(scene.size)[oy:oy + scene.size, ox:ox + scene.size]
        if params["luminance_only"]:
            noise = cv2.cvtColor(np.ascontiguousarray(noise[..., 0]), cv2.COLOR_GRAY2RGB)
        k = params["sigma"] / _NOISE_STD
        scene.image = cv2.addWeighted(scene.image, 1.0, noise, k, -128.0 * k)


@dataclass
class JpegRecompression:
    """The photo saved as JPEG at quality U(low, high): blocking and ringing."""

    probability: float = 0.3
    quality: tuple[int, int] = (30, 90)

    def sample(self, rng: np.random.Generator, scene: Scene) -> dict:
        return {"quality": int(rng.integers(self.quality[0], self.quality[1] + 1))}

    def apply(self, scene: Scene, params: dict) -> None:
        bgr = cv2.cvtColor(scene.image, cv2.COLOR_RGB2BGR)
        ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, params["quality"]])
        scene.image = cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
