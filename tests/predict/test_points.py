"""Grid points with identities (predict/points/) on boards rendered with a known homography,
so every corner's exact position and id are known; heat maps are drawn from that truth (the
network's part is tested elsewhere), the photo is what the points are refined on."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

import segmenty
from segmenty.predict import DetectionRule, GridPoints, Predictor, grid_geometry, grid_layout
from segmenty.viz import draw_overlay
from segmenty.predict import find_grid_points
from segmenty.predict import geometry as geo

DPI = 40  # a 25 mm square is 39 px on the sheet: boards render at about their sheet size


def render(spec: str, quad, shape=(360, 480), background=110):
    """(photo RGB, truth xy K×2 in layout order, layout, truth mask) of pattern `spec` whose
    outline is placed on `quad` (4×2, clockwise from the sheet's top-left)."""
    pattern = segmenty.load_pattern(spec, dpi=DPI)
    layout = grid_layout(pattern)
    hom = geo.homography(pattern.outline, np.asarray(quad, np.float64))
    h, w = shape
    photo = cv2.warpPerspective(pattern.image, hom, (w, h), flags=cv2.INTER_AREA,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=(background,) * 3)
    paper = cv2.warpPerspective(np.full(pattern.image.shape[:2], 255, np.uint8), hom, (w, h)) > 127
    photo[~paper] = background
    truth = geo.project(hom, layout.sheet_xy)
    mask = cv2.warpPerspective(pattern.masks["mask"].astype(np.uint8), hom, (w, h), flags=cv2.INTER_NEAREST) > 0
    return photo, truth, layout, mask


def heat_from(points: np.ndarray, shape, radius: float = 3.0) -> np.ndarray:
    """A network-like heat map: a soft disc on every point inside the photo."""
    heat = np.zeros(shape, np.float32)
    for x, y in points:
        if 0 <= x < shape[1] and 0 <= y < shape[0]:
            cv2.circle(heat, (int(round(x * 16)), int(round(y * 16))), int(radius * 16), 1.0, -1, cv2.LINE_AA, shift=4)
    return cv2.GaussianBlur(heat, (0, 0), 1.0)


BOARD = np.array([[90, 60], [400, 80], [420, 300], [70, 290]], np.float64)


def turned(quad, quarter_turns: int):
    """The same place on the photo, the board turned by quarter turns in it."""
    return np.roll(np.asarray(quad), quarter_turns, axis=0)


def truth_lookup(truth: np.ndarray, layout) -> dict:
    return {tuple(i): p for i, p in zip(layout.ids.tolist(), truth)}


# -- GridPoints ------------------------------------------------------------------------------------

@pytest.mark.parametrize("change, message", [
    (dict(ids=[[0, 0], [0, 0]]), "unique"),
    (dict(ids=[[0, 0], [9, 0]]), "outside"),
    (dict(confidence=[0.5, 1.5]), r"\[0, 1\]"),
    (dict(xy=[[0, 0], [np.nan, 1]]), "finite"),
    (dict(identity="guess"), "identity"),
    (dict(confidence=[1.0]), "confidences"),
])
def test_grid_points_are_validated(change, message):
    fields = dict(xy=[[1, 2], [3, 4]], ids=[[0, 0], [1, 0]], confidence=[1.0, 0.5], grid=(9, 6), partial=True,
                  identity="relative")
    fields.update(change)
    with pytest.raises(ValueError, match=message):
        GridPoints(**fields)


def test_grid_points_summary_is_plain_json():
    points = GridPoints(np.array([[1.23456, 2.0]]), [[3, 4]], [0.9], (9, 6), True, "relative")
    data = json.loads(json.dumps(points.summary()))
    assert data["ids"] == [[3, 4]] and data["xy"] == [[1.235, 2.0]] and data["partial"] and not data["absolute"]


# -- layouts ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("spec, grid, margin, neighbour_mm", [
    ("chessboard:10x7:25", (9, 6), 1.0, 25.0),
    ("charuco:5x7:DICT_4X4_50:30", (4, 6), 1.0, 30.0),
    ("circles:7x5:20", (7, 5), 0.5, 20.0),
    ("circles:4x11:asym:15", (4, 11), 0.5, 2 * 15 * np.sqrt(2) / 2),  # nearest neighbours lie diagonally
])
def test_layouts_follow_the_patterns_geometry(spec, grid, margin, neighbour_mm):
    layout = grid_layout(segmenty.load_pattern(spec, dpi=DPI))
    assert layout.grid == grid and layout.count == grid[0] * grid[1]
    assert layout.margin == pytest.approx(margin, abs=0.05)
    obj = layout.object_points(layout.ids)
    assert (obj[:, 2] == 0).all() and np.allclose(obj[layout.rows_of(np.zeros((1, 2), int))[0]], 0)
    d = np.linalg.norm(obj[:, None, :2] - obj[None, :, :2], axis=2)
    np.fill_diagonal(d, np.inf)
    assert np.median(d.min(axis=1)) == pytest.approx(neighbour_mm, rel=0.02)


def test_patterns_without_a_grid_have_no_layout():
    assert grid_layout(segmenty.load_pattern("segmenty")) is None


# -- points and identities -------------------------------------------------------------------------

@pytest.mark.parametrize("quarter_turns", [0, 1, 2, 3])
def test_whole_chessboard_gets_its_own_ids_whichever_way_it_is_turned(quarter_turns):
    """A 10x7 board differs from its half-turn by its squares' colours: the ids are the
    sheet's own at every turn (0, 90, 180, 270 degrees)."""
    photo, truth, layout, _ = render("chessboard:10x7", turned(BOARD, quarter_turns))
    points = find_grid_points(photo, heat_from(truth, photo.shape[:2]), layout)
    assert points is not None and len(points) == 54 and not points.partial and points.identity == "squares"
    exact = truth_lookup(truth, layout)
    errors = np.array([np.linalg.norm(p - exact[tuple(i)]) for p, i in zip(points.xy, points.ids.tolist())])
    assert np.median(errors) < 0.15 and errors.max() < 0.6


def test_refinement_recovers_corners_from_a_coarse_heat_map():
    """The heat map's peaks are a pixel or two off (a network at a coarser resolution): the
    photo, not the heat map, decides the positions."""
    photo, truth, layout, _ = render("chessboard:10x7", BOARD)
    offset = np.random.default_rng(0).uniform(-1.5, 1.5, truth.shape)
    points = find_grid_points(photo, heat_from(truth + offset, photo.shape[:2]), layout)
    exact = truth_lookup(truth, layout)
    errors = np.array([np.linalg.norm(p - exact[tuple(i)]) for p, i in zip(points.xy, points.ids.tolist())])
    assert len(points) == 54 and np.median(errors) < 0.15


@pytest.mark.parametrize("start", [(40.0, 30.0), (40.0, 30.3333333), (39.7, 30.1)])
def test_a_point_cornersubpix_cannot_refine_is_not_refined(start):
    """On an edge (or with the corner beyond its window) cornerSubPix hands the start back
    unchanged: such a point was never refined, whatever its distance moved (0)."""
    from segmenty.predict.points import refine_points

    edge = np.zeros((80, 80), np.uint8)
    edge[:, 40:] = 255
    edge = cv2.GaussianBlur(edge, (0, 0), 1.0)
    corner = np.zeros((80, 80), np.uint8)
    corner[:40, :40] = corner[40:, 40:] = 255
    corner = cv2.GaussianBlur(corner, (0, 0), 1.0)
    _, ok = refine_points(edge, np.array([start]), 20.0)
    refined, found = refine_points(corner, np.array([start]) + [0.3, 9.1], 20.0)  # a corner near (39.5, 39.5)
    assert not ok[0] and found[0] and np.abs(refined[0] - 39.5).max() < 0.05


def test_a_point_started_exactly_on_a_symmetric_corner_is_refined():
    """cornerSubPix also hands back a start that is exactly the corner of a symmetric image (a
    pixel-aligned board: a rendered or screenshot one): such a corner is refined, not dropped."""
    from segmenty.predict.points import refine_points

    squares = np.kron((np.indices((7, 10)).sum(axis=0) % 2) * 255, np.ones((20, 20))).astype(np.uint8)
    board = cv2.GaussianBlur(np.pad(squares, 20, constant_values=128), (0, 0), 1.0)
    corners = np.array([(20 + 20 * c - 0.5, 20 + 20 * r - 0.5) for r in range(1, 7) for c in range(1, 10)])
    refined, ok = refine_points(board, corners, 20.0)
    assert ok.all() and np.abs(refined - corners).max() < 0.05


def test_a_board_symmetric_under_a_half_turn_is_numbered_by_convention():
    """9x7 squares look the same turned by half a turn: (0, 0) is then the end of the board
    higher in the photo, whichever end of the sheet that is."""
    for quarter_turns in (0, 2):
        photo, truth, layout, _ = render("chessboard:9x7", turned(BOARD, quarter_turns))
        points = find_grid_points(photo, heat_from(truth, photo.shape[:2]), layout)
        assert points.identity == "convention" and len(points) == 48
        first = points.xy[(points.ids == 0).all(axis=1)][0]
        last = points.xy[(points.ids == np.array(layout.grid) - 1).all(axis=1)][0]
        assert first[1] < last[1]


def test_partial_chessboard_has_relative_ids_consistent_within_the_view():
    photo, truth, layout, _ = render("chessboard:10x7", BOARD)
    cut = 240  # through the board, columns 4-5 of 9
    crop = np.ascontiguousarray(photo[:, :cut])
    points = find_grid_points(crop, heat_from(truth, crop.shape[:2]), layout)
    assert points.partial and points.identity == "relative" and not points.absolute
    visible = truth[:, 0] < cut - 3
    assert len(points) >= visible.sum() - 6
    assert points.ids.min(axis=0).tolist() == [0, 0]
    # One shift maps every relative id to the true one.
    true_ids = np.array([layout.ids[np.argmin(np.linalg.norm(truth - p, axis=1))] for p in points.xy])
    shifts = {tuple(s) for s in (true_ids - points.ids).tolist()}
    assert len(shifts) == 1


def test_charuco_markers_give_absolute_ids_even_in_a_partial_view():
    photo, truth, layout, _ = render("charuco:5x7:DICT_4X4_50", np.array([[140, 10], [340, 20], [350, 330], [130, 320]]),
                                     shape=(360, 480))
    crop = np.ascontiguousarray(photo[:200])
    points = find_grid_points(crop, heat_from(truth, crop.shape[:2]), layout)
    assert points is not None and points.partial and points.identity == "markers"
    exact = truth_lookup(truth, layout)
    assert all(np.linalg.norm(p - exact[tuple(i)]) < 0.5 for p, i in zip(points.xy, points.ids.tolist()))


def test_asymmetric_circle_grid_is_placed_by_its_layout():
    spec = "circles:4x11:asym:15"
    photo, truth, layout, _ = render(spec, np.array([[150, 20], [330, 30], [340, 340], [140, 330]]), shape=(360, 480))
    pattern = segmenty.load_pattern(spec, dpi=DPI)
    hom = geo.homography(pattern.outline, np.array([[150, 20], [330, 30], [340, 340], [140, 330]], np.float64))
    discs = cv2.warpPerspective(pattern.masks["circles"].astype(np.float32), hom, (480, 360))
    points = find_grid_points(photo, discs, layout)
    assert points is not None and len(points) == 44 and points.identity == "layout"
    exact = truth_lookup(truth, layout)
    assert all(np.linalg.norm(p - exact[tuple(i)]) < 0.5 for p, i in zip(points.xy, points.ids.tolist()))


@pytest.mark.parametrize("spec", ["chessboard:3x4", "chessboard:4x3", "charuco:4x3", "circles:2x3", "circles:3x2",
                                  "circles:2x3:asym"])
def test_the_smallest_boards_a_spec_may_name_are_found_whole(spec):
    """The parser's smallest boards (patterns/base.py: MIN_POINT_GRID), one point fewer a side
    refused there: what it accepts, the points find."""
    photo, truth, layout, _ = render(spec, BOARD)
    points = find_grid_points(photo, heat_from(truth, photo.shape[:2]), layout)
    assert points is not None and len(points) == layout.count and not points.partial
    exact = truth_lookup(truth, layout)
    assert all(np.linalg.norm(p - exact[tuple(i)]) < 0.5 for p, i in zip(points.xy, points.ids.tolist()))


@pytest.mark.parametrize("make_heat", [
    lambda rng, shape: heat_from(rng.uniform([0, 0], [shape[1], shape[0]], (40, 2)), shape),  # scattered
    lambda rng, shape: heat_from(np.stack([np.linspace(50, 400, 12), np.full(12, 100)], 1), shape),  # a line
    lambda rng, shape: np.zeros(shape, np.float32),  # nothing
])
def test_points_that_form_no_grid_are_not_a_board(make_heat):
    rng = np.random.default_rng(1)
    photo = rng.integers(0, 256, (360, 480, 3), dtype=np.uint8)
    layout = grid_layout(segmenty.load_pattern("chessboard:10x7", dpi=DPI))
    assert find_grid_points(photo, make_heat(rng, (360, 480)), layout) is None


def test_edge_of_the_board_is_not_taken_for_a_row_of_corners():
    """Peaks on the board's outer edge (where squares meet the paper) fail the saddle test:
    the grid stays 9x6."""
    photo, truth, layout, _ = render("chessboard:10x7", BOARD)
    edge = truth.reshape(6, 9, 2)[-1] + (truth.reshape(6, 9, 2)[-1] - truth.reshape(6, 9, 2)[-2])
    points = find_grid_points(photo, heat_from(np.concatenate([truth, edge]), photo.shape[:2]), layout)
    assert len(points) == 54 and points.identity == "squares"


@pytest.mark.parametrize("spec", ["chessboard:9x6", "chessboard:8x6"])
def test_a_board_with_more_rows_than_the_pattern_is_not_it(spec):
    """A 10x7 board looked for as a smaller one (a spec counting inner corners, say) is no
    board of that spec: cut to the spec's size it would pass for a whole one with wrong ids."""
    photo, truth, layout, _ = render("chessboard:10x7", BOARD)
    heat = heat_from(truth, photo.shape[:2])
    assert find_grid_points(photo, heat, layout) is not None
    assert find_grid_points(photo, heat, grid_layout(segmenty.load_pattern(spec, dpi=DPI))) is None


def test_a_square_lattice_sheds_its_weakest_line_whichever_axis_it_is_on():
    """7x7 grown nodes for a 9x6 grid fit either way round with one line cut: the weak row
    (a false one beyond a cut board: opencv's right01, left half), not a column of the board."""
    from segmenty.predict.points.find import _trim
    from segmenty.predict.points.lattice import _Lattice

    lattice = _Lattice((11, 8))
    for i in range(-3, 4):
        for j in range(-2, 5):
            lattice.add((i, j), (40.0 * i, 40.0 * j), 0, 1.0, 0.2 if j == 4 else 1.0)
    assert _trim(lattice, (9, 6))
    assert sorted({i for i, _ in lattice.pos}) == list(range(-3, 4)) and max(j for _, j in lattice.pos) == 3


# -- geometry from the points ----------------------------------------------------------------------

def test_mask_outline_and_homography_come_from_the_points():
    photo, truth, layout, truth_mask = render("chessboard:10x7", BOARD)
    points = find_grid_points(photo, heat_from(truth, photo.shape[:2]), layout)
    mask, outline, hom = grid_geometry(points, layout, photo.shape[:2])
    m = mask > 0.5
    assert (m & truth_mask).sum() / (m | truth_mask).sum() > 0.985
    pattern = segmenty.load_pattern("chessboard:10x7", dpi=DPI)
    assert np.abs(outline - BOARD).max() < 1.0
    assert np.abs(geo.project(hom, layout.sheet_xy) - truth).max() < 0.5
    assert np.abs(geo.project(hom, pattern.outline) - BOARD).max() < 1.0


@pytest.mark.parametrize("background", [110, 255])
def test_a_board_whose_outer_squares_are_cut_ends_where_the_photo_shows_them_end(background):
    """OpenCV's sample board: its outer columns printed half as wide. With the photo to read,
    the mask ends where the dark outer squares end (on a grey frame or on white paper alike);
    without it, a whole square beyond the points (the pattern's own margin)."""
    pattern = segmenty.load_pattern("chessboard:10x7", dpi=DPI)
    s = int(pattern.grid.spacing_px)
    sheet = pattern.image.copy()
    sheet[:, :s + s // 2] = background  # the left and right columns cut to half a square
    sheet[:, -(s + s // 2):] = background
    sheet[:s], sheet[-s:] = background, background  # no margin above and below either
    hom = geo.homography(pattern.outline, BOARD)
    photo = cv2.warpPerspective(sheet, hom, (480, 360), flags=cv2.INTER_AREA, borderValue=(background,) * 3)
    layout = grid_layout(pattern)
    truth = geo.project(hom, layout.sheet_xy)
    cut_outline = pattern.outline + np.array([[s / 2, 0], [-s / 2, 0], [-s / 2, 0], [s / 2, 0]])
    truth_mask = np.zeros((360, 480), np.uint8)
    cv2.fillConvexPoly(truth_mask, np.round(geo.project(hom, cut_outline) * 16).astype(np.int32), 1, cv2.LINE_8, 4)
    points = find_grid_points(photo, heat_from(truth, photo.shape[:2]), layout)
    measured = grid_geometry(points, layout, photo.shape[:2], gray=cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY))[0] > 0.5
    blind = grid_geometry(points, layout, photo.shape[:2])[0] > 0.5
    t = truth_mask.astype(bool)
    iou = lambda m: (m & t).sum() / (m | t).sum()  # noqa: E731
    assert iou(measured) > 0.97 and iou(blind) < 0.92
    # a video's record (Tracker): the sides measured once are recalled on the next frames, here
    # a frame with nothing to read (a blank photo would measure no cut: whole squares)
    record: dict = {}
    first = grid_geometry(points, layout, photo.shape[:2], gray=cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY),
                          margins=record)[0]
    assert np.array_equal(first > 0.5, measured)
    cut = {side: m for (side, _), m in record.items()}
    assert 0.3 < cut["left"] < 0.7 and 0.3 < cut["right"] < 0.7 and cut.get("top", 1.0) > 0.85
    blank = np.full(photo.shape[:2], 110, np.uint8)
    assert np.array_equal(grid_geometry(points, layout, photo.shape[:2], gray=blank, margins=record)[0], first)
    assert iou(grid_geometry(points, layout, photo.shape[:2], gray=blank)[0] > 0.5) < 0.92


def test_partial_mask_is_clipped_to_the_frame_and_ends_at_the_board():
    photo, truth, layout, truth_mask = render("chessboard:10x7", BOARD)
    crop = np.ascontiguousarray(photo[:, :240])
    points = find_grid_points(crop, heat_from(truth, crop.shape[:2]), layout)
    mask, _, _ = grid_geometry(points, layout, crop.shape[:2])
    m, t = mask > 0.5, truth_mask[:, :240]
    assert m.shape == (360, 240) and (m & t).sum() / (m | t).sum() > 0.97


def test_circle_grid_mask_reaches_half_a_spacing_beyond_the_centres():
    spec = "circles:7x5:20"
    quad = np.array([[80, 60], [400, 70], [410, 300], [70, 290]], np.float64)
    photo, truth, layout, truth_mask = render(spec, quad)
    pattern = segmenty.load_pattern(spec, dpi=DPI)
    discs = cv2.warpPerspective(pattern.masks["circles"].astype(np.float32), geo.homography(pattern.outline, quad),
                                (480, 360))
    points = find_grid_points(photo, discs, layout)
    mask, outline, _ = grid_geometry(points, layout, photo.shape[:2])
    m = mask > 0.5
    assert points.identity == "convention"  # a symmetric grid of identical dots
    assert (m & truth_mask).sum() / (m | truth_mask).sum() > 0.97 and np.abs(outline - quad).max() < 1.5


# -- in the Predictor --------------------------------------------------------------------------------

class BoardNetwork:
    """A stand-in network for one rendered board: `mask` = the board, `corners` = its corners."""

    mask_names, pattern_spec, size, stride, model_name = ["mask", "corners"], "chessboard:10x7:25", 480, 32, "fake"

    def __init__(self, mask, corners):
        self.maps = np.stack([mask.astype(np.float32), corners])

    def run(self, batch):
        # The photo is predicted at its own size (size=480), padded to the stride below and
        # right: the maps go where the photo is.
        n, _, h, w = batch.shape
        out = np.zeros((n, 2, h, w), np.float32)
        out[:, :, :self.maps.shape[1], :self.maps.shape[2]] = self.maps
        return out


def test_prediction_carries_the_points_and_derives_its_geometry():
    photo, truth, layout, truth_mask = render("chessboard:10x7", BOARD)
    predictor = Predictor(BoardNetwork(truth_mask, heat_from(truth, photo.shape[:2])), size=480, refine=False)
    pred = predictor.predict(photo)
    assert pred.detected and pred.points is not None and len(pred.points) == 54
    summary = json.loads(json.dumps(pred.summary()))
    assert summary["points"]["identity"] == "squares" and len(summary["points"]["ids"]) == 54
    m = pred.masks["mask"] > 0.5
    assert (m & truth_mask).sum() / (m | truth_mask).sum() > 0.985 and np.abs(pred.outline - BOARD).max() < 1.0
    overlay = draw_overlay(photo, pred, predictor.mask_names)
    assert overlay.shape == photo.shape and not np.array_equal(overlay, draw_overlay(photo, pred.__class__(
        pred.masks, pred.outline, pred.homography, True, pred.score), predictor.mask_names))


def test_a_region_without_a_grid_of_points_is_not_a_board():
    photo, truth, layout, truth_mask = render("chessboard:10x7", BOARD)
    scattered = heat_from(np.random.default_rng(2).uniform([100, 80], [380, 280], (20, 2)), photo.shape[:2])
    for points_on, detected in ((True, False), (False, True)):
        predictor = Predictor(BoardNetwork(truth_mask, scattered), size=480, refine=False, points=points_on)
        pred = predictor.predict(photo)
        assert pred.detected == detected and pred.points is None
        if not detected:
            assert pred.outline is None and pred.masks["mask"].max() == 0.0


def test_bad_points_field_is_refused():
    with pytest.raises(TypeError, match="GridPoints"):
        segmenty.Prediction({}, None, None, False, 0.0, points=[[1, 2]])


def test_detection_rule_sets_the_smallest_grid():
    photo, truth, layout, truth_mask = render("chessboard:10x7", BOARD)
    predictor = Predictor(BoardNetwork(truth_mask, heat_from(truth, photo.shape[:2])), size=480, refine=False, rule=DetectionRule(min_grid_points=60))
    assert not predictor.predict(photo).detected  # 54 points < 60


def test_the_rules_minimum_and_the_threshold_reach_the_points():
    """find_grid_points takes the Predictor's DetectionRule.min_grid_points and --threshold:
    five points make a grid for a rule of 4, not for the default 6; peaks at 0.35 are corners at
    the default threshold (0.5: peaks over 0.3) and not at 0.7 (over 0.42)."""
    photo, truth, layout, _ = render("chessboard:10x7", BOARD)
    few = truth[layout.rows_of(np.array([[3, 2], [4, 2], [5, 2], [3, 3], [4, 3]]))]
    heat = heat_from(few, photo.shape[:2])
    assert find_grid_points(photo, heat, layout, search=False) is None
    found = find_grid_points(photo, heat, layout, search=False, min_points=4)
    assert found is not None and len(found) == 5
    faint = 0.35 * heat_from(truth, photo.shape[:2]) / heat_from(truth, photo.shape[:2]).max()
    assert len(find_grid_points(photo, faint, layout)) == 54
    assert find_grid_points(photo, faint, layout, threshold=0.7) is None


def test_box_means_are_the_one_by_one_samples():
    from segmenty.predict.points.candidates import _sample, box_means
    gray = np.random.default_rng(3).integers(0, 256, (60, 80), dtype=np.uint8)
    centres = np.array([[10.4, 20.6], [0.5, 30.0], [79.0, 59.0], [40.5, 30.5], [3.0, 3.0]])
    radius = np.array([2.0, 1.0, 1.5, 3.2, 3.0])
    expected = [_sample(gray, q, r) for q, r in zip(centres, radius)]
    means = box_means(gray, centres, radius)
    assert [None if np.isnan(m) else m for m in means] == expected and expected.count(None) == 2
    # an image without a summed-area table (not uint8): point by point, the same numbers
    assert np.array_equal(box_means(gray.astype(np.float32), centres, radius), means, equal_nan=True)
