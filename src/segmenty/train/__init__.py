"""Training: the options (config.py), the loop (loop.py), its data, state, losses and metrics.
Checkpoints and the run folder are segmenty.runs, below both training and prediction.

The options load without torch (the CLI builds its help from them); the loop loads on use."""
from __future__ import annotations

import importlib

from .config import TrainConfig, config_for_resume

_LAZY = {"train": "loop", "LOSSES": "losses", "mask_metrics": "metrics"}

__all__ = ["TrainConfig", "config_for_resume", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
