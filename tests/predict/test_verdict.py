"""A look's verdict (segmenty.predict.verdict): the rule's test on maps, a frozen record of it,
the closer look's box, what is known of the board."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from segmenty.predict import DetectionRule
from segmenty.predict import verdict as verdict_module
from segmenty.predict.verdict import Judge, Look, board_knowledge

PATTERN = "chessboard:10x7:25"


def _judge(**rule):
    return Judge(160, 0.5, DetectionRule(min_features=0, **rule), ("mask", "corners"), board_knowledge(PATTERN))


def _look(value=0.95, box=(40, 30, 120, 90), shape=(120, 160)):
    probs = np.zeros((2, *shape), np.float32)
    x0, y0, x1, y1 = box
    probs[0, y0:y1, x0:x1] = value
    return Look(probs, 160)


def test_a_confident_board_shaped_region_is_a_board():
    verdict = _judge()(_look(), (480, 640))
    assert verdict.detected and verdict.region is not None
    score, area, confidence, fill = verdict.stats
    assert area == pytest.approx(80 * 60 / (160 * 120), rel=0.05) and confidence == pytest.approx(0.95, abs=0.02)
    assert fill > 0.95 and verdict.outline.shape == (4, 2)
    # the outline in photo pixels: the box scaled 4x
    assert np.abs(np.sort(verdict.outline[:, 0]) - [160, 160, 480, 480]).max() < 4
    with pytest.raises(dataclasses.FrozenInstanceError):
        verdict.detected = False


@pytest.mark.parametrize("look, rule", [(_look(value=0.7), {}), (_look(box=(70, 55, 80, 60)), {}),
                                        (_look(), {"min_fill": 1.01})],
                         ids=["doubtful", "too small", "not board-shaped"])
def test_the_rule_says_no(look, rule):
    verdict = _judge(**rule)(look, (480, 640))
    assert not verdict.detected and verdict.outline is None and verdict.region is None


@pytest.mark.parametrize("look", [_look(), _look(value=0.7), _look(box=(70, 55, 80, 60))],
                         ids=["board", "doubtful", "too small"])
def test_a_finer_look_kept_only_if_detected_decides_alike_and_skips_the_rest(look, monkeypatch):
    full = _judge()(look, (480, 640))
    fits = []
    monkeypatch.setattr(verdict_module.geo, "fit_outline",
                        lambda *a, _fit=verdict_module.geo.fit_outline: fits.append(1) or _fit(*a))
    quick = _judge()(look, (480, 640), only_if_detected=True)
    assert quick.detected == full.detected
    if full.detected:  # a board: the same verdict, every map there
        assert quick.stats == full.stats and np.array_equal(quick.outline, full.outline)
        assert len(quick.analysis) == len(full.analysis) == 2 and fits
    else:  # rejected on area or confidence: no outline fitted, the board's map alone resized
        assert not fits and len(quick.analysis) == 1


def test_nothing_there_is_an_empty_verdict():
    verdict = _judge()(Look(np.zeros((2, 120, 160), np.float32), 160), (480, 640))
    assert not verdict.detected and verdict.component is None and verdict.stats == (0.0,)


def test_zoom_box_is_a_square_around_the_board_inside_the_photo():
    # pixel centres 100..199 and 100..159: the board spans pixel edges 99.5..199.5, 99.5..159.5
    board = np.array([[99.5, 99.5], [199.5, 99.5], [199.5, 159.5], [99.5, 159.5]], np.float32)
    x0, y0, x1, y1 = verdict_module.zoom_box(board, (480, 640))
    assert x1 - x0 == y1 - y0 == 150  # ZOOM_MARGIN times the longer side
    assert (x0 + x1) / 2 == 150 and (y0 + y1) / 2 == 130  # centred on the board: slices 75..225, 55..205
    # cut by the frame's top-left corner: the visible part (pixels 0..59 x 0..39) decides
    x0, y0, x1, y1 = verdict_module.zoom_box(board - 140, (480, 640))
    assert (x0, y0) == (0, 0) and x1 - x0 == y1 - y0 == 90
    big = np.array([[100, 100], [500, 100], [500, 400], [100, 400]], np.float32)
    assert verdict_module.zoom_box(big, (480, 640)) is None  # big already: little to gain
