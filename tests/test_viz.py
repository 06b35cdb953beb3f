"""Drawing (segmenty.viz): overlays of predictions."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from segmenty.viz import ALPHA, MASK_COLOURS, draw_overlay


def test_overlay_tints_each_mask_by_its_probability_and_leaves_the_rest_alone():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)
    board = np.zeros((60, 80), np.float32)
    board[10:40, 20:70] = rng.uniform(0.2, 1.0, (30, 50))
    corners = np.zeros_like(board)
    corners[25:30, 30:35] = 0.9
    prediction = SimpleNamespace(masks={"mask": board, "corners": corners}, outline=None, points=None,
                                 detected=True, score=0.9)
    out = draw_overlay(rgb, prediction, ["mask", "corners"])
    # the whole frame blended, mask after mask, as the tint is defined
    expected = rgb.astype(np.float32)
    for i, p in enumerate((board, corners)):
        a = (ALPHA * p)[..., None]
        expected = expected * (1 - a) + np.array(MASK_COLOURS[i], np.float32) * a
    expected = np.clip(expected + 0.5, 0, 255).astype(np.uint8)
    below_label = np.s_[20:]  # the label box is drawn at the top left
    assert np.abs(out[below_label].astype(int) - expected[below_label]).max() <= 1  # (OpenCV's blend rounds each step)
    assert np.array_equal(out[45:], rgb[45:]) and not np.array_equal(out[10:40, 20:70], rgb[10:40, 20:70])
    # no mask above zero anywhere: the photo itself under the label
    nothing = SimpleNamespace(masks={"mask": np.zeros_like(board)}, outline=None, points=None, detected=False, score=0.0)
    assert np.array_equal(draw_overlay(rgb, nothing)[below_label], rgb[below_label])
