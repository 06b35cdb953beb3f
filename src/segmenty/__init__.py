"""segmenty: find a printed pattern in real photos with a network trained on synthetic scenes.

The public API (the CLI is a thin layer over it)::

    import segmenty
    pattern = segmenty.load_pattern("chessboard:10x7")            # patterns
    data = segmenty.SyntheticDataset(pattern, size=256, seed=0)   # synthesis
    run = segmenty.train.train(segmenty.TrainConfig(pattern="chessboard:10x7", minutes=10))
    model = segmenty.load(run)                                    # a LoadedModel
    result = segmenty.Predictor(run).predict(rgb)                 # masks, outline, homography
    scores = segmenty.evaluate(run, "photos/", "masks/", "negatives/")

Heavy modules (torch) load on first use, so `import segmenty` stays fast. (`segmenty.train`
is the training package, so its entry point is `segmenty.train.train`.)
"""
from __future__ import annotations

import importlib

from .errors import SegmentyError, UsageError
from .patterns import Pattern, load_pattern

__version__ = "0.1.0"

# public name -> (module, attribute), imported on first access
_LAZY = {
    "Recipe": ("segmenty.synth", "Recipe"),
    "SyntheticDataset": ("segmenty.synth", "SyntheticDataset"),
    "TrainConfig": ("segmenty.train", "TrainConfig"),
    "load": ("segmenty.train.checkpoint", "load_model"),
    "Predictor": ("segmenty.predict", "Predictor"),
    "Prediction": ("segmenty.predict", "Prediction"),
    "evaluate": ("segmenty.eval.evaluate", "evaluate"),
    "build_model": ("segmenty.models", "build_model"),
}

__all__ = ["SegmentyError", "UsageError", "Pattern", "load_pattern", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'segmenty' has no attribute '{name}'")
