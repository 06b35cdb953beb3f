"""Steps after placement: what light, things in front and the camera do to the whole photo
(cast shadow, glare, a translucent overlay, occluders, lens distortion, motion and defocus blur,
vignetting, colour, dynamic range, grey, sensor noise, JPEG).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from ..geometry import RadialLens
from ..scene import Scene
from .base import Range, _blend, _grey, _multiply, _offsets_from, _uniform

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
