"""`SyntheticDataset`: an endless PyTorch dataset of synthetic photos of a pattern.

Sample i is made from (seed, i) alone (see recipe.py), so training streams samples on the
fly, any number of DataLoader workers give the same bytes, and a sample can be made again
from its index. Everything slow (pattern pyramid, background bank) is prepared once in the
constructor, before DataLoader workers fork, so workers share it and start at once.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import UsageError
from ..patterns import Pattern, load_pattern
from .backgrounds import BackgroundBank
from .recipe import Recipe, replay_recipe, run_recipe, sim2real_recipe
from .scene import Scene
from .sheet import PrintedSheet

MIN_SIZE = 32
SIZE_MULTIPLE = 16


@dataclass
class Sample:
    """One synthetic photo.

    image:      size×size×3 uint8 RGB.
    masks:      name -> size×size bool, in the pattern's mask order (all False when blank).
    keypoints:  K×2 float32 in image pixels (OpenCV convention; may lie outside the frame),
                in the pattern's keypoint order; None when blank.
    blank:      no pattern in this photo.
    params:     what every step drew (JSON-able): enough to replay the sample.
    """

    image: np.ndarray
    masks: dict[str, np.ndarray]
    keypoints: np.ndarray | None
    blank: bool
    params: dict


def check_size(size: int) -> int:
    """Sample sizes are square, >= 32 px and a multiple of 16 (networks downsample by 16 or
    32; the presets need 32)."""
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < MIN_SIZE or size % SIZE_MULTIPLE:
        raise UsageError(f"--size {size}: must be a whole number >= {MIN_SIZE} and a multiple of "
                         f"{SIZE_MULTIPLE} (e.g. 128, 256, 320)")
    return int(size)


class SyntheticDataset(Dataset):
    """Synthetic photos of `pattern` (a Pattern or a spec string) at `size`×`size` pixels.

    dataset[i] -> {"image": float32 3×S×S in [0, 1], "masks": float32 M×S×S in {0, 1}}
    (masks in pattern.mask_names order); dataset.sample(i) -> Sample with everything.
    `backgrounds`: a BackgroundBank, a folder of images to add to the built-in textures, or None.

    With DataLoader workers, call ``cv2.setNumThreads(1)`` in the main process before the
    workers start: each sample's OpenCV calls are on small images, so threads only contend
    with the other workers, and changing the count inside a forked worker can deadlock
    OpenCV (once the parent has used its threads).
    """

    def __init__(self, pattern: Pattern | str, size: int = 256, seed: int = 0, length: int = 10 ** 9,
                 recipe: Recipe | None = None,
                 backgrounds: BackgroundBank | str | os.PathLike | None = None):
        self.pattern = load_pattern(pattern) if isinstance(pattern, str) else pattern
        self.size = check_size(size)
        if not isinstance(seed, (int, np.integer)) or seed < 0:
            raise UsageError(f"--seed {seed}: must be a whole number >= 0")
        self.seed = int(seed)
        self.length = int(length)
        self.recipe = recipe or sim2real_recipe()
        self.sheet = PrintedSheet(self.pattern, self.size)
        if isinstance(backgrounds, BackgroundBank):
            self.backgrounds = backgrounds
        else:
            folders = [Path(backgrounds)] if backgrounds is not None else []
            self.backgrounds = BackgroundBank(self.size, folders, pattern_kind=self.sheet.kind, seed=self.seed)
        if self.backgrounds.size != self.size:
            raise UsageError(f"background bank is for {self.backgrounds.size} px samples, "
                             f"the dataset makes {self.size} px")

    @property
    def mask_names(self) -> list[str]:
        return self.sheet.mask_names

    @property
    def keypoint_names(self) -> list[str]:
        return self.sheet.keypoint_names

    def __len__(self) -> int:
        return self.length

    def new_scene(self) -> Scene:
        return Scene(self.size, self.sheet, self.backgrounds, self.recipe.occlusion_aware)

    def sample(self, index: int) -> Sample:
        """Make sample `index` (any whole number; the same index gives the same bytes)."""
        if index < 0:
            raise IndexError(f"sample index {index} is negative")
        scene = self.new_scene()
        params = run_recipe(self.recipe, scene, self.seed, int(index))
        return self._finish(scene, params)

    def replay(self, params: dict) -> Sample:
        """The sample that `params` (a Sample's params) describe, made again without randomness."""
        scene = self.new_scene()
        replay_recipe(self.recipe, scene, params)
        return self._finish(scene, params)

    def _finish(self, scene: Scene, params: dict) -> Sample:
        masks = scene.render_masks()
        return Sample(image=scene.image, masks=dict(zip(self.mask_names, masks)),
                      keypoints=None if scene.blank else scene.keypoints, blank=scene.blank, params=params)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if not 0 <= index < self.length:
            raise IndexError(f"sample index {index} out of range (dataset length {self.length})")
        s = self.sample(index)
        image = torch.from_numpy(s.image).permute(2, 0, 1).float().div_(255.0)
        masks = torch.from_numpy(np.stack(list(s.masks.values()))).float()
        return {"image": image, "masks": masks}
