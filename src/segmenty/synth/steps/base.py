"""What every step is (`Step`: sample its params, then apply them to image, masks and keypoints
alike) and the small helpers the steps share.
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import cv2
import numpy as np

from ..scene import Scene

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
