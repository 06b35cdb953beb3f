"""segmenty: find a printed pattern in real photos with a network trained on synthetic scenes.

The public API (the CLI is a thin layer over it)::

    import segmenty
    pattern = segmenty.load_pattern("chessboard:10x7")            # patterns
    data = segmenty.SyntheticDataset(pattern, size=160, seed=0)   # synthesis
    run = segmenty.fit(pattern="chessboard:10x7", minutes=10)     # training -> a Run
    result = segmenty.Predictor(run).predict(rgb)                 # masks, outline, homography
    scores = segmenty.evaluate(run, "photos/", "masks/", "negatives/")

Heavy modules (torch) load on first use, so `import segmenty` stays fast; the stage packages
(`segmenty.train`, `segmenty.predict`, ...) load on first access too.
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
    "fit": ("segmenty.jobs", "fit"),
    "Run": ("segmenty.runs", "Run"),
    "load": ("segmenty.runs", "load_model"),
    "Predictor": ("segmenty.predict", "Predictor"),
    "Prediction": ("segmenty.predict", "Prediction"),
    "evaluate": ("segmenty.eval.evaluate", "evaluate"),
    "EvalResult": ("segmenty.scores", "EvalResult"),
    "build_model": ("segmenty.models", "build_model"),
}
# subpackages and modules reachable as attributes (segmenty.train.train, segmenty.viz...)
_SUBMODULES = {"cli", "eval", "hardware", "io", "jobs", "models", "patterns", "predict", "report", "runs",
               "scores", "synth", "train", "viz"}

__all__ = ["SegmentyError", "UsageError", "Pattern", "load_pattern", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"segmenty.{name}")
    raise AttributeError(f"module 'segmenty' has no attribute '{name}'")
