"""Backgrounds: procedural textures and the user's photographs, generated or decoded once.

A `BackgroundBank` holds images at a working resolution (short side `WORKING_SCALE` × the
sample size) in up to two groups:

- ``procedural``: a pool of textures from segmenty.synth.textures, generated from the bank's
  seed (pre-generating costs ~5 ms a texture once, against ~2–20 ms every sample);
- ``folder``: the user's images (``--backgrounds DIR``).

segmenty ships no photographs: the public sample photos in the package registry's libraries
are kept for judging segmenty independently (a model that never saw a real photo and still
works on real photos is the claim), and a 10-minute run scored the same on both real sets
without the photos it once had (benchmarks/README.md).

A sample picks a group uniformly, then an image, then a random square crop (zoom), flip and
quarter turn, so a few dozen images give endless backgrounds. Everything a sample draws is
in its params, so it can be replayed.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import SegmentyError
from ..io import IMAGE_SUFFIXES, list_images, read_images_skipping
from .textures import TEXTURES, texture_kinds

WORKING_SCALE = 1.5  # stored short side / sample size: crops then zoom 0.75x to 1.5x
PROCEDURAL_POOL = 48  # textures pre-generated per bank
SMALLEST_CROP = 0.5  # a crop's side is at least this fraction of the stored short side


@dataclass(frozen=True)
class BackgroundImage:
    name: str  # file name, or texture kind and number
    group: str  # procedural | folder
    kind: str  # the texture kind for procedural images, else the group
    pixels: np.ndarray  # h×w×3 uint8 RGB at working resolution


class BackgroundBank:
    """Background images at working resolution for samples of `size`×`size` pixels.

    folders:        extra image folders (searched recursively) or files.
    builtin:        include the procedural textures; with False,
                    only `folders` are used (there must be at least one then).
    pattern_kind:   kind of the pattern being trained (``chessboard``...), or the kinds of a
                    family: textures that could look like one (checkers for a chessboard) are
                    left out.
    seed:           seed of the procedural pool.
    """

    def __init__(self, size: int, folders: list[str | os.PathLike] | tuple = (), *, builtin: bool = True,
                 pattern_kind: str | tuple[str, ...] = "", seed: int = 0, procedural_count: int = PROCEDURAL_POOL):
        self.size = size
        self.working_side = int(round(WORKING_SCALE * size))
        self.images: list[BackgroundImage] = []
        for folder in folders:
            self._add_folder(Path(folder))
        if builtin:
            self._add_procedural(pattern_kind, seed, procedural_count)
        if not self.images:
            raise SegmentyError("no background images: pass --backgrounds with a folder of images "
                                "or keep the built-in backgrounds")
        self.groups: dict[str, list[int]] = {}
        self.kinds: dict[str, list[int]] = {}
        for i, image in enumerate(self.images):
            self.groups.setdefault(image.group, []).append(i)
            self.kinds.setdefault(image.kind, []).append(i)
        self._group_names = list(self.groups)

    def __len__(self) -> int:
        return len(self.images)

    def _add(self, name: str, group: str, rgb: np.ndarray, kind: str = "") -> None:
        h, w = rgb.shape[:2]
        scale = self.working_side / min(h, w)
        if abs(scale - 1) > 1e-3:
            rgb = cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))),
                             interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
        self.images.append(BackgroundImage(name, group, kind or group, np.ascontiguousarray(rgb)))

    def _add_folder(self, folder: Path) -> None:
        if not folder.exists():
            raise SegmentyError(f"--backgrounds {folder}: no such folder")
        paths = list_images(folder)
        before = len(self.images)
        for path, rgb in read_images_skipping(paths, "background"):
            self._add(str(path), "folder", rgb)
        if len(self.images) == before:
            found = f"{len(paths)} unreadable image files" if paths else "no image files"
            raise SegmentyError(f"--backgrounds {folder}: {found}; expected images "
                                f"({', '.join(s.lstrip('.') for s in IMAGE_SUFFIXES)})")

    def _add_procedural(self, pattern_kind: str | tuple[str, ...], seed: int, count: int) -> None:
        kinds = texture_kinds(pattern_kind)
        rng = np.random.default_rng(np.random.SeedSequence([seed, 0x6B67]))  # "bg"
        side = self.working_side
        for i in range(count):
            kind = kinds[i % len(kinds)]
            self._add(f"{kind}-{i // len(kinds)}", "procedural", TEXTURES[kind](rng, side, side), kind)

    def sample(self, rng: np.random.Generator, kind: str | None = None, crop: tuple[float, float] | None = None,
               exclude: tuple[str, ...] = ()) -> dict:
        """Draw which image (of `kind` if given, see `kinds`; else from a random group, leaving
        out the kinds in `exclude`), crop, flip and quarter turn make one background (JSON-able
        params for `render`). `crop`: the range of the crop's side in px (default: half to all
        of the short side)."""
        u = rng.random(7).tolist()  # one draw for all the choices: this runs several times a sample
        if kind:
            choices = self.kinds[kind]
        else:
            choices = self.groups[self._group_names[int(u[0] * len(self.groups))]]
            if exclude:
                choices = [i for i in choices if self.images[i].kind not in exclude] or choices
        index = choices[int(u[1] * len(choices))]
        h, w = self.images[index].pixels.shape[:2]
        lo, hi = crop or (SMALLEST_CROP * min(h, w), min(h, w))
        side = int(min(max(lo + (hi - lo) * u[2], 1), min(h, w)))
        return {"index": index, "name": self.images[index].name,
                "crop": [int(u[3] * (w - side + 1)), int(u[4] * (h - side + 1)), side],
                "flip": u[5] < 0.5, "turns": int(u[6] * 4)}

    def render(self, params: dict, size: int | None = None) -> np.ndarray:
        """The size×size×3 background (default: the bank's size) that `sample`'s params
        describe, as a new array."""
        size = size or self.size
        x, y, side = params["crop"]
        crop = self.images[params["index"]].pixels[y:y + side, x:x + side]
        # Bilinear: callers keep the ratio small (at most 2), where INTER_AREA would cost
        # 7x more for hardly less aliasing.
        out = cv2.resize(crop, (size, size), interpolation=cv2.INTER_LINEAR)
        if params["flip"]:
            out = cv2.flip(out, 1)
        if params["turns"]:
            out = cv2.rotate(out, (cv2.ROTATE_90_CLOCKWISE, cv2.ROTATE_180,
                                   cv2.ROTATE_90_COUNTERCLOCKWISE)[params["turns"] - 1])
        return out

