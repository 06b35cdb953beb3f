"""The training data: an endless indexed stream of synthetic scenes, and the fixed validation set.

Sample i is made from (seed, i) alone, so a resumed run continues at index `samples_seen`
instead of repeating scenes, and DDP ranks take disjoint indices (StreamSampler).
"""
from __future__ import annotations

import signal
from collections.abc import Iterator

import torch
from torch.utils.data import DataLoader, Sampler

from ..io import prefetch
from ..patterns import Pattern
from ..synth import Recipe, SyntheticDataset
from .config import VAL_SEED, TrainConfig
from .distributed import DistInfo


class StreamSampler(Sampler[int]):
    """Endless sample indices from `start` on; each step's global batch is split by rank.

    Step k of rank r takes start + k·batch·world + r·batch + (0 .. batch-1): consecutive,
    disjoint across ranks, and `start` = samples seen so far continues the stream on resume.
    """

    def __init__(self, start: int, batch: int, rank: int = 0, world: int = 1):
        self.start, self.batch, self.rank, self.world = start, batch, rank, world

    def __iter__(self) -> Iterator[int]:
        b, n = self.batch, 0
        while True:
            yield self.start + (n // b) * b * self.world + self.rank * b + n % b
            n += 1


def _worker_init(worker_id: int) -> None:
    # A worker is one synthesis pipeline on one core; more threads would only fight training's.
    # (OpenCV's threads were already limited in the parent before the fork: see the loop.)
    torch.set_num_threads(1)
    # Ctrl-C belongs to the main process, which saves a checkpoint before leaving.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def training_batches(pattern: Pattern, recipe: Recipe, config: TrainConfig, start: int, info: DistInfo,
                     pin_memory: bool) -> Iterator[dict]:
    """Batches of the run's scenes from sample index `start` on, made by `config.workers`
    processes, or with 0 by a background thread of the training process: its OpenCV and NumPy
    calls release the GIL, so on a small CPU synthesis overlaps the network's threads instead
    of waiting for a core of its own (or pausing training between steps). Images come as
    uint8, masks as bool (`network_input` converts the images)."""
    dataset = SyntheticDataset(pattern, size=config.size, seed=config.seed, backgrounds=config.backgrounds,
                               recipe=recipe)
    workers = config.workers
    loader = DataLoader(
        dataset, batch_size=config.batch, drop_last=True,
        sampler=StreamSampler(start, config.batch, info.rank, info.world_size),
        num_workers=workers, worker_init_fn=_worker_init if workers else None,
        persistent_workers=workers > 0, prefetch_factor=4 if workers else None, pin_memory=pin_memory)
    return iter(loader) if workers else prefetch(iter(loader), depth=4)


def network_input(images: torch.Tensor) -> torch.Tensor:
    """A batch of the dataset's uint8 N×3×S×S images as the network takes them: float in [0, 1]."""
    return images.float().div_(255.0)


def validation_set(pattern: Pattern, recipe: Recipe, config: TrainConfig,
                   info: DistInfo) -> tuple[torch.Tensor, torch.Tensor]:
    """This rank's share of the fixed validation scenes (images, bool masks), made once per run."""
    ds = SyntheticDataset(pattern, size=config.size, seed=VAL_SEED, backgrounds=config.backgrounds, recipe=recipe)
    items = [ds[i] for i in range(info.rank, config.val_count, info.world_size)]
    if not items:  # more ranks than scenes
        s, m = config.size, len(pattern.mask_names)
        return torch.zeros(0, 3, s, s), torch.zeros(0, m, s, s, dtype=torch.bool)
    return network_input(torch.stack([it["image"] for it in items])), torch.stack([it["masks"] for it in items])
