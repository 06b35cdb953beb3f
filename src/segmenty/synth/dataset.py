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
from ..patterns.family import PatternFamily
from .backgrounds import BackgroundBank
from .recipe import Recipe, replay_recipe, run_recipe, sim2real_recipe, step_streams
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
    """Synthetic photos of `pattern` (a Pattern, a spec string, or a PatternFamily: each
    sample then shows one of its boards, drawn by its weight) at `size`×`size` pixels.

    dataset[i] -> {"image": uint8 3×S×S RGB, "masks": bool M×S×S} (masks in
    pattern.mask_names order; the network's input is the image / 255, train.data's
    `network_input`); dataset.sample(i) -> Sample with everything.
    `backgrounds`: a BackgroundBank, a folder of images to add to the built-in textures, or None.

    With DataLoader workers, call ``cv2.setNumThreads(1)`` in the main process before the
    workers start: each sample's OpenCV calls are on small images, so threads only contend
    with the other workers, and changing the count inside a forked worker can deadlock
    OpenCV (once the parent has used its threads).
    """

    def __init__(self, pattern: Pattern | PatternFamily | str, size: int = 256, seed: int = 0,
                 length: int = 10 ** 9, recipe: Recipe | None = None,
                 backgrounds: BackgroundBank | str | os.PathLike | None = None):
        source = load_pattern(pattern) if isinstance(pattern, str) else pattern
        self.family = source if isinstance(source, PatternFamily) else None
        members = self.family.patterns if self.family else (source,)
        self.pattern = members[0]
        self.size = check_size(size)
        if not isinstance(seed, (int, np.integer)) or seed < 0:
            raise UsageError(f"--seed {seed}: must be a whole number >= 0")
        self.seed = int(seed)
        self.length = int(length)
        self.recipe = recipe or sim2real_recipe()
        self.sheets = [PrintedSheet(p, self.size) for p in members]
        self.sheet = self.sheets[0]
        # A family's sample picks its board by weight, from its own stream (see sheet_index).
        self._cumulative = np.cumsum(self.family.weights) if self.family else None
        if isinstance(backgrounds, BackgroundBank):
            self.backgrounds = backgrounds
        else:
            folders = [Path(backgrounds)] if backgrounds is not None else []
            kinds = self.family.kinds if self.family else self.sheet.kind
            self.backgrounds = BackgroundBank(self.size, folders, pattern_kind=kinds, seed=self.seed)
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

    def new_scene(self, sheet: int = 0) -> Scene:
        return Scene(self.size, self.sheets[sheet], self.backgrounds, self.recipe.occlusion_aware)

    def sheet_index(self, index: int) -> int:
        """Which of a family's boards sample `index` shows (0 for a single pattern): drawn from
        the stream of a step named "sheet", so no other step's draws change."""
        if self._cumulative is None:
            return 0
        u = step_streams(self.seed)("sheet", index).random()
        return min(int(np.searchsorted(self._cumulative, u, side="right")), len(self.sheets) - 1)

    def sample(self, index: int) -> Sample:
        """Make sample `index` (any whole number; the same index gives the same bytes)."""
        if index < 0:
            raise IndexError(f"sample index {index} is negative")
        sheet = self.sheet_index(int(index))
        scene = self.new_scene(sheet)
        params = run_recipe(self.recipe, scene, self.seed, int(index))
        if self.family:
            params["sheet"] = self.family.patterns[sheet].spec
        return self._finish(scene, params)

    def replay(self, params: dict) -> Sample:
        """The sample that `params` (a Sample's params) describe, made again without randomness."""
        sheet = 0
        if self.family:
            sheet = [p.spec for p in self.family.patterns].index(params["sheet"])
        scene = self.new_scene(sheet)
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
        # The bytes as made: a batch is a quarter of float32's size to collate, hand between
        # processes and copy to a GPU, and is converted once, where it is used.
        image = torch.from_numpy(s.image).permute(2, 0, 1)
        masks = torch.from_numpy(np.stack(list(s.masks.values())))
        return {"image": image, "masks": masks}
