"""The outline and homography recovered from synthetic masks: a pattern's mask warped into a
photo by a known homography, then cropped or bitten by occluders."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import segmenty
from segmenty.predict import geometry as geo

PHOTO = (640, 480)  # width, height
TOLERANCE = 0.03    # of the board's size (square root of its area in the photo)


@pytest.fixture(scope="module")
def pattern():
    return segmenty.load_pattern("chessboard:10x7", dpi=50)


def random_homography(pattern, rng: np.random.Generator, *, rotation=(-35, 35), scale=(0.45, 0.7),
                      perspective=0.08, photo=PHOTO) -> np.ndarray:
    """Pattern sheet -> photo: the outline rotated, scaled, its corners jittered (perspective)."""
    w, h = photo
    outline = pattern.outline.astype(np.float64)
    centred = outline - outline.mean(axis=0)
    size = rng.uniform(*scale) * min(w, h) / np.sqrt(np.prod(np.ptp(outline, axis=0)))
    a = np.radians(rng.uniform(*rotation))
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    target = centred @ rot.T * size
    target += rng.uniform(-perspective, perspective, (4, 2)) * np.ptp(target, axis=0)
    target += np.array([w, h]) / 2 + rng.uniform(-0.05, 0.05, 2) * np.array([w, h])
    return geo.homography(outline, target)


def warp_mask(pattern, hom: np.ndarray, photo=PHOTO) -> np.ndarray:
    """The pattern's `mask` as the photo sees it (bilinear, thresholded: sub-pixel edges)."""
    m = pattern.masks["mask"].astype(np.float32)
    return cv2.warpPerspective(m, hom, photo, flags=cv2.INTER_LINEAR) > 0.5


def board_size(quad: np.ndarray) -> float:
    return float(np.sqrt(abs(cv2.contourArea(quad.astype(np.float32)))))


def assert_outline_close(fit: geo.OutlineFit | None, truth: np.ndarray) -> None:
    assert fit is not None
    truth = geo.order_clockwise(truth)
    # Compared up to where the list starts: "top-left" is a tie for a board turned by 45°.
    err = min(np.linalg.norm(np.roll(truth, k, axis=0) - fit.quad, axis=1).max() for k in range(4))
    assert err <= TOLERANCE * board_size(truth), (err, fit.quad, truth)


def assert_homography_close(pattern, fit: geo.OutlineFit, truth_h: np.ndarray) -> None:
    """The fitted homography maps the pattern's keypoints near their true places (as a set:
    a chessboard's mask cannot tell a 180° turn apart)."""
    hom = geo.homography(pattern.outline, geo.orient_to_pattern(fit.quad, pattern.outline))
    ours, truth = geo.project(hom, pattern.keypoint_array()), geo.project(truth_h, pattern.keypoint_array())
    nearest = np.linalg.norm(ours[:, None] - truth[None], axis=2).min(axis=1)
    assert nearest.max() <= TOLERANCE * board_size(geo.project(truth_h, pattern.outline))


@pytest.mark.parametrize("seed", range(6))
def test_outline_and_homography_of_whole_board(pattern, seed):
    hom = random_homography(pattern, np.random.default_rng(seed))
    component = geo.largest_component(warp_mask(pattern, hom))
    fit = geo.fit_outline(component, aspect=1.4)
    assert fit.sides == 4
    assert_outline_close(fit, geo.project(hom, pattern.outline))
    assert_homography_close(pattern, fit, hom)
    assert geo.quad_iou(component, fit.quad) > 0.97


@pytest.mark.parametrize("seed", range(4))
def test_corner_out_of_frame_is_extrapolated(pattern, seed):
    """A quarter of the board cut off by the left frame edge through a corner: both sides
    meeting there are still partly visible, so the corner is found outside the photo."""
    rng = np.random.default_rng(100 + seed)
    hom = random_homography(pattern, rng, rotation=(50, 60), scale=(0.45, 0.55), perspective=0.04)
    mask = warp_mask(pattern, hom)
    cols = mask.sum(axis=0).cumsum()
    cut = int(np.searchsorted(cols, 0.25 * cols[-1]))
    shift = np.array([[1, 0, -cut], [0, 1, 0], [0, 0, 1]], np.float64)
    cropped = mask[:, cut:]
    truth = geo.project(shift @ hom, pattern.outline)
    assert truth[:, 0].min() < -5  # really out of frame
    fit = geo.fit_outline(geo.largest_component(cropped), aspect=1.4)
    assert fit.sides == 4
    assert_outline_close(fit, truth)
    assert_homography_close(pattern, fit, shift @ hom)
    assert geo.quad_iou(cropped, fit.quad) > 0.95  # clipped to the frame, still board-shaped


def test_side_out_of_frame_uses_the_aspect_ratio(pattern):
    """A whole side out of frame (no perspective): the fourth side is placed from the aspect."""
    hom = random_homography(pattern, np.random.default_rng(7), rotation=(-5, 5), perspective=0.0)
    mask = warp_mask(pattern, hom)
    truth = geo.project(hom, pattern.outline)
    cut = int(truth[:, 0].max() - 0.2 * np.ptp(truth[:, 0]))
    fit = geo.fit_outline(geo.largest_component(mask[:, :cut]), aspect=1.4)
    assert fit.sides == 3
    assert_outline_close(fit, truth)


@pytest.mark.parametrize("seed", range(4))
def test_occluders_do_not_move_the_outline(pattern, seed):
    """A blob bitten out of an edge and one hiding a corner (a finger, a clip)."""
    rng = np.random.default_rng(200 + seed)
    hom = random_homography(pattern, rng)
    truth = geo.project(hom, pattern.outline)
    mask = warp_mask(pattern, hom).astype(np.uint8)
    r = int(0.12 * board_size(truth))
    edge_point = (truth[1] * 0.6 + truth[2] * 0.4).round().astype(int)
    cv2.circle(mask, tuple(int(v) for v in edge_point), r, 0, -1)
    cv2.circle(mask, tuple(int(v) for v in truth[3].round()), r // 2, 0, -1)
    cv2.circle(mask, tuple(int(v) for v in truth.mean(axis=0).round()), r // 2, 0, -1)  # a hole
    fit = geo.fit_outline(geo.largest_component(mask.astype(bool)), aspect=1.4)
    assert_outline_close(fit, truth)


@pytest.mark.parametrize("rounding", [25, 45])
def test_rounded_corners_of_a_board_cut_by_the_frame_are_not_sides(rounding):
    """A board cut by the bottom of the frame, its two top corners rounded off (as a network
    rounds white corner squares): its three sides, not a diagonal chamfer, make the outline."""
    h, w = 400, 300
    top_left, top_right = np.array([30.0, 80.0]), np.array([270.0, 80.0])
    mask = np.zeros((h, w), np.uint8)
    cv2.fillPoly(mask, [np.array([top_left, top_right, [225, h + 20], [75, h + 20]], np.int32)], 1)
    for corner, sign in ((top_left, 1), (top_right, -1)):  # cut each corner to a quarter disc
        x, y = int(corner[0]), int(corner[1])
        x0, x1 = (x, x + rounding) if sign > 0 else (x - rounding, x + 1)
        square = np.zeros_like(mask)
        square[y:y + rounding, x0:x1] = 1
        disc = np.zeros_like(mask)
        cv2.circle(disc, (x + sign * rounding, y + rounding), rounding, 1, -1)
        mask[(square == 1) & (disc == 0)] = 0
    fit = geo.fit_outline(geo.largest_component(mask.astype(bool)), aspect=1.4)
    assert fit.sides == 3 and fit.fill > 0.95
    top = fit.quad[np.argsort(fit.quad[:, 1])[:2]]
    top = top[np.argsort(top[:, 0])]
    assert np.abs(top - [top_left, top_right]).max() < 6  # the corners the rounding hid
    assert (fit.quad[:, 1] > h).sum() == 2  # the other two out of frame, below


def test_non_board_shapes_score_low():
    """A blob (a tree, say) is not board-shaped: its best quad covers it poorly."""
    rng = np.random.default_rng(3)
    mask = np.zeros((240, 320), np.uint8)
    centre = np.array([160.0, 120.0])
    for _ in range(40):  # a random walk of small discs: foliage-like, ragged and holey
        centre += rng.normal(0, 12, 2)
        cv2.circle(mask, tuple(int(v) for v in centre.round()), int(rng.integers(5, 14)), 1, -1)
    component = geo.largest_component(mask.astype(bool))
    fit = geo.fit_outline(component)
    assert geo.quad_iou(component, fit.quad) < 0.8


def test_order_clockwise_from_top_left():
    q = np.array([[10, 90], [90, 90], [10, 10], [90, 10]], np.float32)
    assert geo.order_clockwise(q).tolist() == [[10, 10], [90, 10], [90, 90], [10, 90]]


def test_orientation_keeps_the_long_side_long(pattern):
    """A 10x7 board turned by 90° in the photo: the pattern's long side maps to the long side."""
    tall = np.array([[0, 0], [70, 0], [70, 100], [0, 100]], np.float32)
    q = geo.orient_to_pattern(tall, pattern.outline)
    assert np.linalg.norm(q[1] - q[0]) == pytest.approx(100)


def test_refine_homography_with_corner_features(pattern):
    """Corner blobs seen in the photo pull a poor outline homography to the truth."""
    hom = random_homography(pattern, np.random.default_rng(5))
    corners = np.array([v for k, v in pattern.keypoints.items() if k.startswith("corner_")])
    seen = geo.project(hom, corners)
    truth = geo.project(hom, pattern.outline)
    rough = geo.homography(pattern.outline, truth + np.random.default_rng(0).normal(0, 4, (4, 2)))
    refined = geo.refine_homography(rough, corners, seen)
    assert np.abs(geo.project(refined, corners) - seen).max() < 0.05


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_random_homographies_property(pattern, seed):
    hom = random_homography(pattern, np.random.default_rng(seed), rotation=(-180, 180))
    fit = geo.fit_outline(geo.largest_component(warp_mask(pattern, hom)), aspect=1.4)
    assert_outline_close(fit, geo.project(hom, pattern.outline))
    assert_homography_close(pattern, fit, hom)
