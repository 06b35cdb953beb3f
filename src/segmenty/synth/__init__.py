"""Synthetic photos of a pattern with exact masks and keypoints, made on the fly.

    from segmenty.synth import SyntheticDataset, Recipe
    data = SyntheticDataset("chessboard:10x7", size=256, seed=0, recipe=Recipe(lens=False))
    sample = data.sample(0)        # Sample: image, masks, keypoints, blank, params
    item = data[0]                 # {"image": 3×S×S float32, "masks": M×S×S float32}

Modules: recipe (the ordered steps and their defaults), steps (one class per effect), scene
(the state the steps transform), geometry (point models), sheet (the pre-rendered pattern),
backgrounds and textures (what lies behind), dataset, writer (``segmenty synth``).
"""
from .backgrounds import BackgroundBank
from .dataset import Sample, SyntheticDataset
from .recipe import RECIPES, Recipe, recipe_by_name
from .writer import write_dataset

__all__ = ["BackgroundBank", "RECIPES", "Recipe", "recipe_by_name", "Sample", "SyntheticDataset", "write_dataset"]
