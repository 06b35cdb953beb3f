"""How cameras fail: steps for the photos a classical detector gives up on.

Each is a `Step` like those in steps/ (ranges as fields, `sample` then `apply`); they are
kept apart because they model the camera at its worst rather than a scene, and the family
detectors (`recipe.family_recipe`) train with them at wide ranges:

- `LowLight`:       a dark exposure with photon shot noise (grows with the square root of the
                    signal) and read noise, often brightened again by the camera's gain so the
                    noise is amplified with it;
- `LowResolution`:  a small sensor or a digital zoom: the photo made at a fraction of its
                    size, then scaled up to it again;
- `RollingShutter`: the camera moved while its rows were read out one after another: each
                    row shifted sideways in proportion to its height (a shear of the frame,
                    moving masks and keypoints alike as any geometric step does).

Strong motion blur, defocus, glare, cast shadows and heavy JPEG already exist as steps;
the family recipe widens their ranges.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .scene import Scene
from .steps.base import Range, _uniform
from .steps.photo import _NOISE_STD, _noise_tile


@dataclass
class LowLight:
    """Too little light: the image scaled by `exposure` (0.03 = five stops under), photon
    noise sigma ``shot * sqrt(value)`` and read noise of `read` grey levels, then, with
    chance `auto_gain`, the camera's gain lifting the exposure back (by up to 1/exposure),
    noise and all. A grey (luminance) noise in `luminance_only` of the cases."""

    probability: float = 0.15
    exposure: Range = (0.03, 0.35)
    shot: Range = (0.3, 1.2)       # grey levels of noise per sqrt(grey level) at the dark exposure
    read: Range = (1.0, 4.0)       # grey levels at the dark exposure
    auto_gain: float = 0.5
    gain_reach: Range = (0.3, 1.0)  # how much of the lost exposure the gain gives back
    luminance_only: float = 0.3

    def sample(self, rng: np.random.Generator, scene: Scene) -> dict:
        exposure = _uniform(rng, self.exposure)
        gain = 1.0
        if rng.random() < self.auto_gain:
            gain = float((1.0 / exposure) ** _uniform(rng, self.gain_reach))
        return {"exposure": round(exposure, 4), "shot": round(_uniform(rng, self.shot), 4),
                "read": round(_uniform(rng, self.read), 4), "gain": round(gain, 4),
                "offset": rng.integers(0, scene.size + 1, 2).tolist(),
                "luminance_only": bool(rng.random() < self.luminance_only)}

    def apply(self, scene: Scene, params: dict) -> None:
        dark = scene.image.astype(np.float32) * np.float32(params["exposure"])
        ox, oy = params["offset"]
        tile = _noise_tile(scene.size)[oy:oy + scene.size, ox:ox + scene.size]
        unit = (tile[..., :1] if params["luminance_only"] else tile).astype(np.float32)
        unit = (unit - np.float32(128.0)) * np.float32(1.0 / _NOISE_STD)  # ~N(0, 1)
        sigma = np.sqrt(params["shot"] ** 2 * dark + params["read"] ** 2)
        noisy = (dark + unit * sigma) * np.float32(params["gain"])
        scene.image = np.clip(noisy + 0.5, 0, 255).astype(np.uint8)


@dataclass
class LowResolution:
    """A low-resolution camera (or a photo sent small and blown up): the frame made at
    `scale` of its side with area averaging, then scaled up again bilinearly or bicubically."""

    probability: float = 0.15
    scale: Range = (0.2, 0.6)

    def sample(self, rng: np.random.Generator, scene: Scene) -> dict:
        return {"scale": round(_uniform(rng, self.scale), 4), "cubic": bool(rng.random() < 0.5)}

    def apply(self, scene: Scene, params: dict) -> None:
        s = scene.size
        small = max(4, round(s * params["scale"]))
        image = cv2.resize(scene.image, (small, small), interpolation=cv2.INTER_AREA)
        scene.image = cv2.resize(image, (s, s), interpolation=cv2.INTER_CUBIC if params["cubic"] else cv2.INTER_LINEAR)


@dataclass(frozen=True)
class Shear:
    """A rolling shutter's frame: the row at height y was read when the camera had moved
    ``skew * (y - cy)`` pixels sideways, so output pixel (x, y) shows the scene at
    (x + skew * (y - cy), y). A `scene.Warp`."""

    skew: float
    cy: float

    def source(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return x + np.float32(self.skew) * (y - np.float32(self.cy)), y

    def forward(self, points: np.ndarray) -> np.ndarray:
        p = np.asarray(points, np.float64).reshape(-1, 2).copy()
        p[:, 0] -= self.skew * (p[:, 1] - self.cy)
        return p.astype(np.float32)

    def frame_map(self, size: int) -> np.ndarray:
        x, y = np.meshgrid(np.arange(size, dtype=np.float32), np.arange(size, dtype=np.float32))
        return np.dstack(self.source(x, y))


@dataclass
class RollingShutter:
    """A rolling shutter under a sideways pan: the frame sheared by up to `skew` (pixels of
    sideways shift per pixel of height), either way."""

    probability: float = 0.1
    skew: Range = (0.03, 0.15)

    def sample(self, rng: np.random.Generator, scene: Scene) -> dict:
        sign = 1.0 if rng.random() < 0.5 else -1.0
        return {"skew": round(sign * _uniform(rng, self.skew), 4)}

    def apply(self, scene: Scene, params: dict) -> None:
        scene.warp(Shear(params["skew"], (scene.size - 1) / 2))
