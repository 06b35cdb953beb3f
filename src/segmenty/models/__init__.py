"""Segmentation networks: swappable encoder / mix / decoder / head, presets by name.

The presets (presets.py) are plain data and load at once; the networks load torch, on
first use of what needs them (`build_model`, `SegmentationNet`...)."""
from __future__ import annotations

import importlib

from .presets import DEFAULT_MODEL, MODELS, ModelConfig

_LAZY = {"build_model": "registry", "count_mflops": "registry", "count_parameters": "registry",
         "list_models": "registry", "SegmentationNet": "unet"}

__all__ = ["DEFAULT_MODEL", "MODELS", "ModelConfig", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
