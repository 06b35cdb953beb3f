"""How cameras fail (synth/conditions.py): the steps darken, blur and shear as they say, and
masks and keypoints follow the shear."""
from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from segmenty.synth import SyntheticDataset
from segmenty.synth.conditions import LowLight, LowResolution, RollingShutter, Shear
from segmenty.synth.recipe import Recipe

from .test_dataset import EDGE_POINTS, geometry_recipe, inside_polygon, outline_pattern


def test_shear_moves_points_as_it_moves_pixels():
    shear = Shear(0.1, 40.0)
    points = np.array([[10.0, 5.0], [50.0, 70.0]], np.float32)
    x, y = shear.source(*shear.forward(points).T)
    assert np.allclose(np.stack([x, y], 1), points, atol=1e-4)
    frame = shear.frame_map(80)
    assert frame.shape == (80, 80, 2) and frame[70, 50, 0] == pytest.approx(50 + 0.1 * 30)


def test_rolling_shutter_masks_follow_the_keypoints():
    """The shear moves the mask (sampled backwards) and the keypoints (moved forwards) alike:
    the mask is the polygon through the sheared outline keypoints, up to pixels within 1 px
    of its edge (as tests/synth/test_dataset.py checks for the other geometric steps)."""
    size = 96
    recipe = geometry_recipe(blank=False, lens=False, paper_bend=False,
                             rolling_shutter=RollingShutter(probability=1.0, skew=(0.15, 0.2)))
    data = SyntheticDataset(outline_pattern(), size=size, seed=0, recipe=recipe)
    names = data.keypoint_names
    outline = [names.index(f"edge_{e}_{j:02d}") for e in range(4) for j in range(EDGE_POINTS)]
    checked = 0
    for i in range(20):
        s = data.sample(i)
        assert 0.15 <= abs(s.params["rolling_shutter"]["skew"]) <= 0.2
        polygon = s.keypoints[outline].astype(np.float64)
        inside = inside_polygon(polygon, size)
        wrong = np.argwhere(s.masks["mask"] != inside)
        contour = polygon.astype(np.float32).reshape(-1, 1, 2)
        worst = max([abs(cv2.pointPolygonTest(contour, (float(x), float(y)), True)) for y, x in wrong] + [0.0])
        assert worst <= 1.0, f"sample {i}: a mask pixel is {worst:.2f} px from the sheared outline"
        checked += int(inside.sum() > 100)  # a sheet in the frame, not only its edge
    assert checked >= 12


def _detail(rgb: np.ndarray) -> float:
    return float(cv2.Laplacian(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), cv2.CV_32F).var())


@pytest.mark.parametrize("step, check", [
    (LowLight(probability=1.0, auto_gain=0.0), lambda before, after: after.mean() < 0.4 * before.mean()),
    (LowResolution(probability=1.0, scale=(0.25, 0.25)), lambda before, after: _detail(after) < 0.2 * _detail(before)),
])
def test_camera_failures_darken_and_blur(step, check):
    base = dataclasses.replace(Recipe.original(blank=False), lens=False, motion_blur=False)
    clean = SyntheticDataset("chessboard:10x7", size=96, seed=1, recipe=base)
    field = "low_light" if isinstance(step, LowLight) else "low_resolution"
    failed = SyntheticDataset("chessboard:10x7", size=96, seed=1, recipe=dataclasses.replace(base, **{field: step}))
    before, after = clean.sample(0), failed.sample(0)
    assert check(before.image, after.image)
    assert all(np.array_equal(before.masks[n], after.masks[n]) for n in before.masks)  # photometric only
