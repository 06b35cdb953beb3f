"""Steps that make the world around the sheet before it is placed: the background photo or
texture, distractors (other printed things, pattern-like decoys), a person, hands holding the
sheet.
"""
from __future__ import annotations

import bisect
import functools
import itertools
import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from ..scene import Scene
from .base import Range, _blend, _lerp, _uniform

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
