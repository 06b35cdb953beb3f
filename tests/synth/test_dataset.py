"""The synthetic data engine: geometry agrees between masks and keypoints, samples are
deterministic, the recipe does what it says, and `segmenty synth` writes its files."""
import dataclasses
import json
import warnings
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

import segmenty
from segmenty.cli import main
from segmenty.patterns import Pattern
from segmenty.patterns.base import box_keypoints, box_mask
from segmenty.synth import BackgroundBank, Recipe, SyntheticDataset, recipe_by_name, write_dataset
from segmenty.synth.recipe import StepStreams
from segmenty.synth.steps import Glare, LensDistortion, Occluders, PaperBend, PaperMargin
from segmenty.synth.textures import TEXTURES, texture_kinds

EDGE_POINTS = 16  # keypoints per outline edge of the test pattern


def geometry_recipe(**changes) -> Recipe:
    """Only what moves the sheet: margin, bend, perspective and a lens that is always on,
    barrel or pincushion, up to the strongest defaults."""
    keep = {"background", "paper_margin", "paper_bend", "placement", "lens"}
    steps = {name: False for name in Recipe.step_names() if name not in keep}
    # The paper never cuts into the pattern here: the mask is the whole pattern's outline.
    return Recipe(**{**steps, "lens": LensDistortion(probability=1.0), "paper_bend": PaperBend(probability=0.5),
                     "paper_margin": PaperMargin(cut_chance=0.0), **changes})


def outline_pattern() -> Pattern:
    """A sheet whose keypoints trace its `mask` outline densely: once warped, they give the
    forward-mapped outline as a polygon, to compare with the inverse-mapped mask."""
    h, w, x0, y0, x1, y1 = 140, 200, 20, 20, 180, 120
    image = np.full((h, w, 3), 255, np.uint8)
    image[y0:y1, x0:x1] = (40, 90, 160)
    keypoints = box_keypoints(x0, y0, x1, y1)
    corners = [keypoints[n] for n in ("outline_tl", "outline_tr", "outline_br", "outline_bl")]
    for e in range(4):
        a, b = np.array(corners[e]), np.array(corners[(e + 1) % 4])
        for j in range(EDGE_POINTS):
            keypoints[f"edge_{e}_{j:02d}"] = tuple(a + (b - a) * j / EDGE_POINTS)
    masks = {"mask": box_mask((h, w), x0, y0, x1, y1)}
    return Pattern(image, masks, keypoints, (50.8, 35.6), "outline-test")


def inside_polygon(polygon: np.ndarray, size: int) -> np.ndarray:
    """Pixels whose centre is inside `polygon` (even-odd rule, exact)."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    inside = np.zeros((size, size), bool)
    for (xa, ya), (xb, yb) in zip(polygon, np.roll(polygon, -1, axis=0)):
        crosses = (ya > yy) != (yb > yy)
        with np.errstate(divide="ignore", invalid="ignore"):
            x_cross = xa + (yy - ya) * (xb - xa) / (yb - ya)
        inside ^= crosses & (xx < x_cross)
    return inside


def test_warped_mask_matches_warped_keypoints_within_a_pixel():
    """Perspective, bend and lens move the mask (sampled backwards) and the keypoints (moved
    forwards) alike: the mask is the polygon through the outline keypoints, up to pixels
    within 1 px of its edge, so each outline keypoint lies on the mask's corner."""
    size = 96
    data = SyntheticDataset(outline_pattern(), size=size, seed=7, recipe=geometry_recipe(blank=False))
    names = data.keypoint_names
    outline = [names.index(f"edge_{e}_{j:02d}") for e in range(4) for j in range(EDGE_POINTS)]
    corners_in_frame, worst = 0, 0.0
    for i in range(60):
        s = data.sample(i)
        polygon = s.keypoints[outline].astype(np.float64)
        assert np.allclose(polygon[::EDGE_POINTS], s.keypoints[:4])  # the corners are the vertices
        wrong = np.argwhere(s.masks["mask"] != inside_polygon(polygon, size))
        contour = polygon.astype(np.float32).reshape(-1, 1, 2)
        for y, x in wrong:
            worst = max(worst, abs(cv2.pointPolygonTest(contour, (float(x), float(y)), True)))
        corners_in_frame += int(np.sum(np.all((s.keypoints[:4] >= 0) & (s.keypoints[:4] <= size - 1), axis=1)))
    assert worst <= 1.0, f"a mask pixel is {worst:.2f} px from the keypoints' outline"
    assert corners_in_frame >= 60  # plenty of corners actually checked in the frame


def test_a_paper_cut_into_the_pattern_cuts_its_masks():
    """Outer squares trimmed by the paper's edge (PaperMargin's cut): the mask is the
    pattern's visible part, the polygon of the cut paper's corners, within a pixel."""
    size = 96
    depth = 0.1
    cut = PaperMargin(probability=1.0, flush_chance=1.0, cut_chance=1.0, cut=(depth, depth))
    recipe = geometry_recipe(blank=False, lens=False, paper_bend=False, paper_margin=cut)
    data = SyntheticDataset(outline_pattern(), size=size, seed=3, recipe=recipe)
    sheet = np.float64([data.sheet.keypoints[data.sheet.outline_index[k]] for k in range(4)])
    checked = 0
    for i in range(20):
        s = data.sample(i)
        frame = np.float64([s.keypoints[data.sheet.outline_index[k]] for k in range(4)])
        h = cv2.getPerspectiveTransform(sheet.astype(np.float32), frame.astype(np.float32))
        (mx0, my0), (mx1, my1) = sheet.min(axis=0), sheet.max(axis=0)  # the mask box, pixel edges
        w, hh = mx1 - mx0, my1 - my0
        paper = np.float64([[mx0 + depth * w, my0 + depth * hh], [mx1 - depth * w, my0 + depth * hh],
                            [mx1 - depth * w, my1 - depth * hh], [mx0 + depth * w, my1 - depth * hh]])
        polygon = cv2.perspectiveTransform(paper.reshape(-1, 1, 2), h).reshape(-1, 2)
        wrong = np.argwhere(s.masks["mask"] != inside_polygon(polygon, size))
        contour = polygon.astype(np.float32).reshape(-1, 1, 2)
        worst = max([abs(cv2.pointPolygonTest(contour, (float(x), float(y)), True)) for y, x in wrong] + [0.0])
        assert worst <= 1.0, f"sample {i}: a mask pixel is {worst:.2f} px from the cut paper's outline"
        checked += int(s.masks["mask"].sum() > 50)
    assert checked >= 10


def test_chessboard_corner_discs_under_inner_corner_keypoints():
    size = 128
    data = SyntheticDataset("chessboard:10x7", size=size, seed=1, recipe=geometry_recipe(blank=False))
    rows = [n for n in data.keypoint_names if n.startswith("corner_")]
    index = np.array([data.keypoint_names.index(n) for n in rows]).reshape(6, 9)  # 9x6 inner corners
    checked = 0
    for i in range(40):
        s = data.sample(i)
        grid = s.keypoints[index]  # 6×9×2
        # Local spacing: the disc (0.15 of a square) must cover the keypoint's pixel centre.
        gaps = np.full(grid.shape[:2], np.inf)
        for axis in (0, 1):
            d = np.linalg.norm(np.diff(grid, axis=axis), axis=2)
            lead = [slice(None)] * 2
            lead[axis] = slice(1, None)
            gaps[tuple(lead)] = np.minimum(gaps[tuple(lead)], d)
            lead[axis] = slice(None, -1)
            gaps[tuple(lead)] = np.minimum(gaps[tuple(lead)], d)
        for (x, y), gap in zip(grid.reshape(-1, 2), gaps.reshape(-1)):
            if gap >= 8 and 0 <= x <= size - 1 and 0 <= y <= size - 1:
                assert s.masks["corners"][int(round(y)), int(round(x))], (i, x, y)
                checked += 1
    assert checked >= 200


def test_same_seed_same_bytes_with_any_number_of_workers():
    data = SyntheticDataset("chessboard:10x7", size=64, seed=5, length=6)
    direct = [data[i] for i in range(6)]
    loaded = list(DataLoader(data, batch_size=None, num_workers=2))
    assert len(loaded) == len(direct) == 6  # zip below would hide a short loader
    for a, b in zip(direct, loaded):
        assert a["image"].dtype == b["image"].dtype
        assert a["image"].numpy().tobytes() == b["image"].numpy().tobytes()
        assert a["masks"].numpy().tobytes() == b["masks"].numpy().tobytes()
    other = SyntheticDataset("chessboard:10x7", size=64, seed=6, length=6)
    assert all(not np.array_equal(other[i]["image"], direct[i]["image"]) for i in range(6))


def test_same_bytes_whatever_is_made_between_or_beside():
    # a thread keeps its random streams between samples (step_streams): another seed's samples
    # made in between, or samples made at once in other threads, change nothing
    alone = [SyntheticDataset("chessboard:10x7", size=64, seed=5).sample(i).image for i in range(8)]
    data, other = SyntheticDataset("chessboard:10x7", size=64, seed=5), SyntheticDataset("chessboard:10x7", size=64, seed=9)
    between = []
    for i in range(8):
        other.sample(i)
        between.append(data.sample(i).image)
    with ThreadPoolExecutor(4) as pool:
        beside = list(pool.map(lambda i: data.sample(i).image, list(range(8)) * 3))
    for i in range(8):
        assert np.array_equal(between[i], alone[i]) and np.array_equal(beside[i], alone[i]), i
        assert np.array_equal(beside[8 + i], alone[i]) and np.array_equal(beside[16 + i], alone[i]), i


def test_write_dataset_is_the_same_with_one_or_two_workers(tmp_path):
    data = SyntheticDataset("segmenty", size=64, seed=2)
    write_dataset(data, tmp_path / "one", 6, workers=1, progress=False)
    write_dataset(data, tmp_path / "two", 6, workers=2, progress=False)
    one = sorted(p.name for p in (tmp_path / "one").iterdir())
    assert one == sorted(p.name for p in (tmp_path / "two").iterdir())
    assert len(one) == 6 * 5 + 2  # image + 4 masks each, index.json, preview.png
    for name in one:
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes(), name


def test_blank_rate_and_blank_samples():
    data = SyntheticDataset("chessboard:10x7", size=64, seed=0)
    blanks = 0
    for i in range(500):
        s = data.sample(i)
        if s.blank:
            blanks += 1
            assert s.keypoints is None and not any(m.any() for m in s.masks.values())
        else:
            assert s.keypoints.shape == (len(data.keypoint_names), 2)
    assert 0.15 <= blanks / 500 <= 0.25


def test_masks_binary_after_every_step():
    data = SyntheticDataset("segmenty", size=64, seed=3)
    for i in range(6):
        scene, streams = data.new_scene(), StepStreams(data.seed)
        for name, step in data.recipe.steps():
            rng = streams(name, i)
            if rng.random() < step.probability:
                step.apply(scene, step.sample(rng, scene))
            masks = scene.render_masks()
            assert masks.dtype == bool and masks.shape == (4, 64, 64), name
            assert scene.image.dtype == np.uint8 and scene.image.shape == (64, 64, 3), name
        item = data[i]  # what training batches: the same bytes, channels first
        assert item["masks"].dtype == torch.bool and item["image"].dtype == torch.uint8
        assert np.array_equal(item["masks"].numpy(), masks)
        assert np.array_equal(item["image"].permute(1, 2, 0).numpy(), scene.image)


def test_masks_are_amodal_unless_occlusion_aware():
    spec, size = "chessboard:10x7", 64
    default = dataclasses.replace(recipe_by_name("default"), occluders=Occluders(probability=1.0))
    occluded = SyntheticDataset(spec, size=size, seed=4, recipe=default)
    clear = SyntheticDataset(spec, size=size, seed=4, recipe=dataclasses.replace(default, occluders=False))
    aware = SyntheticDataset(spec, size=size, seed=4, recipe=dataclasses.replace(default, occlusion_aware=True))
    smaller = 0
    for i in range(12):
        a, b, c = occluded.sample(i), clear.sample(i), aware.sample(i)
        assert not np.array_equal(a.image, b.image)
        for name in a.masks:
            assert np.array_equal(a.masks[name], b.masks[name]), (i, name)
            assert not (c.masks[name] & ~a.masks[name]).any()  # aware masks only lose pixels
        smaller += int(c.masks["mask"].sum() < a.masks["mask"].sum())
    assert smaller > 0


def test_glare_washes_out_the_sheet_and_leaves_the_masks():
    quiet = {n: False for n in ("distractors", "cast_shadow", "overlay", "occluders", "motion_blur", "defocus",
                                "vignetting", "colour", "grayscale", "noise", "jpeg", "blank")}
    plain = SyntheticDataset("chessboard:10x7", size=96, seed=2, recipe=Recipe(**quiet, glare=False))
    glare = SyntheticDataset("chessboard:10x7", size=96, seed=2,
                             recipe=Recipe(**quiet, glare=Glare(probability=1.0, strength=(0.8, 0.8), radius=(0.4, 0.4))))
    seen = 0
    for i in range(12):
        a, b = plain.sample(i), glare.sample(i)
        assert all(np.array_equal(a.masks[n], b.masks[n]) for n in a.masks)  # light, not geometry
        x, y = (np.array(b.params["glare"]["centre"]) * 96).astype(int)
        window = np.s_[max(y - 4, 0):y + 5, max(x - 4, 0):x + 5]
        before, after = a.image[window].mean(axis=2), b.image[window].mean(axis=2)
        if a.masks["mask"][window].all() and before.std() > 10:  # on the squares
            seen += 1  # at the patch's centre 80% of the contrast is gone
            assert after.std() < 0.4 * before.std() and after.mean() > before.mean()
    assert seen >= 2


def test_switching_a_step_off_leaves_the_others_unchanged():
    on = SyntheticDataset("chessboard:10x7", size=64, seed=9, recipe=Recipe()).sample(3).params
    off = SyntheticDataset("chessboard:10x7", size=64, seed=9, recipe=Recipe(lens=False)).sample(3).params
    assert "lens" not in off
    assert {k: v for k, v in on.items() if k != "lens"} == off


def test_params_replay_the_sample():
    data = SyntheticDataset("segmenty", size=64, seed=11)
    for i in range(4):
        s = data.sample(i)
        again = data.replay(json.loads(json.dumps(s.params)))  # JSON-able, and enough
        assert np.array_equal(s.image, again.image)
        assert all(np.array_equal(s.masks[n], again.masks[n]) for n in s.masks)


def test_lens_defaults_cover_strong_barrel_and_some_pincushion():
    data = SyntheticDataset("chessboard:10x7", size=64, seed=0, recipe=geometry_recipe())
    ks = np.array([data.sample(i).params["lens"]["k"] for i in range(200)])
    assert ks.max() > 0.3 and (ks > 0.15).mean() > 0.3 and (ks < 0).mean() > 0.1


def test_placed_sheets_have_no_two_corners_close():
    """A placement's corners lie on a circle at least pi/8 apart, the turn's last step back to
    the first corner included (it once could end next to the first: a sheet seen as a sliver)."""
    data = SyntheticDataset("chessboard:10x7", size=64, seed=0, recipe=geometry_recipe())
    quads = [np.array(s.params["placement"]["quad"]) for s in (data.sample(i) for i in range(400))
             if s.params.get("placement")]
    assert len(quads) > 300
    gaps = []
    for quad in quads:
        (ax, ay), (bx, by), (cx, cy) = quad[:3]  # the circle's centre, through three corners
        d = 2 * (ax * (by - cy) + bx * (cy - ay) + cx * (ay - by))
        centre = np.array([((ax * ax + ay * ay) * (by - cy) + (bx * bx + by * by) * (cy - ay) + (cx * cx + cy * cy) * (ay - by)),
                           ((ax * ax + ay * ay) * (cx - bx) + (bx * bx + by * by) * (ax - cx) + (cx * cx + cy * cy) * (bx - ax))]) / d
        turns = np.sort(np.arctan2(quad[:, 1] - centre[1], quad[:, 0] - centre[0]))
        gaps.append(np.diff(np.r_[turns, turns[0] + 2 * np.pi]).min())
    assert min(gaps) > np.pi / 8 - 0.01


def test_no_checkers_for_chessboards():
    assert "checkers" not in texture_kinds("chessboard")
    assert "checkers" in texture_kinds("segmenty")
    bank = BackgroundBank(64, pattern_kind="chessboard", procedural_count=18)
    assert "checkers" not in bank.kinds and "foliage" in bank.kinds and set(bank.groups) == {"procedural"}


@pytest.mark.parametrize("kind", sorted(TEXTURES))
def test_every_texture_is_an_rgb_image_reproducible_from_its_seed(kind):
    def make(seed):
        return TEXTURES[kind](np.random.default_rng(seed), 48, 64)

    image = make(0)
    assert image.shape == (48, 64, 3) and image.dtype == np.uint8
    assert np.array_equal(image, make(0)) and image.std() > 0  # not a flat colour


def test_corrupt_background_is_skipped_with_one_warning(tmp_path):
    folder = tmp_path / "bg"
    folder.mkdir()
    (folder / "broken.jpg").write_text("not a jpeg")
    segmenty.io.write_image(folder / "sub" / "good.png", np.full((40, 50, 3), 90, np.uint8))
    with pytest.warns(UserWarning, match="broken.jpg") as record:
        bank = BackgroundBank(64, [folder], builtin=False)
    assert len(record) == 1
    data = SyntheticDataset("chessboard:10x7", size=64, backgrounds=bank)
    assert data.sample(0).image.shape == (64, 64, 3)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.png").write_text("nope")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(segmenty.SegmentyError, match="bad"):
            BackgroundBank(64, [tmp_path / "bad"], builtin=False)


def run_cli(capsys, *args) -> tuple[int, str, str]:
    try:
        code = main(["synth", *map(str, args)])
    except SystemExit as exc:  # argparse's own usage errors
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_synth_writes_images_masks_index_and_preview(tmp_path, capsys):
    out = tmp_path / "data"
    code, stdout, _ = run_cli(capsys, "--pattern", "chessboard:10x7", "--count", 5, "--out", out, "--size", 64,
                              "--seed", 3, "--no-progress")
    assert code == 0 and "5 samples" in stdout
    index = json.loads((out / "index.json").read_text())
    assert index["mask_names"] == ["mask", "corners"] and index["count"] == 5 and index["size"] == 64
    for entry in index["samples"]:
        image = cv2.imread(str(out / entry["image"]))
        assert image.shape == (64, 64, 3)
        for name, file in entry["masks"].items():
            mask = cv2.imread(str(out / file), cv2.IMREAD_GRAYSCALE)
            assert mask.shape == (64, 64) and set(np.unique(mask)) <= {0, 255}
        assert entry["blank"] == (entry["keypoints"] is None)
        assert set(entry["params"]) == {name for name, _ in recipe_by_name("default").steps()}
    preview = cv2.imread(str(out / "preview.png"))
    assert preview.shape[0] == 5 * 64 and preview.shape[1] == 4 * 64  # image, overlay, 2 masks


@pytest.mark.parametrize("args, needle", [
    (["--size", "50"], "--size 50"),
    (["--size", "100000"], "between 32 and 4096 pixels"),
    (["--count", "0"], "--count"),
    (["--pattern", "chessbord:10x7"], "did you mean 'chessboard'"),
    (["--backgrounds", "/no/such/folder"], "/no/such/folder"),
    (["--out", "FILE"], "is a file"),
])
def test_cli_synth_bad_options_give_one_line_errors(tmp_path, capsys, args, needle):
    existing = tmp_path / "file.txt"
    existing.write_text("x")
    base = {"--pattern": "chessboard:10x7", "--count": "2", "--out": str(tmp_path / "o"), "--size": "64"}
    given = dict(zip(args[::2], args[1::2]))
    if given.get("--out") == "FILE":
        given["--out"] = str(existing)
    code, _, err = run_cli(capsys, *[x for kv in {**base, **given}.items() for x in kv], "--no-progress")
    assert code in (1, 2)
    assert needle in err and err.count("\n") == 1 and "Traceback" not in err


def test_physical_steps_draw_their_effect_and_replay_exactly():
    """Person, backing, hands, a flush or cut paper and a low-range camera, each forced on:
    the image changes where the step says, and the params replay the sample byte for byte."""
    from segmenty.synth.steps import Backing, DynamicRange, Hands, Person
    size = 96
    forced = dataclasses.replace(
        recipe_by_name("physical"), person=Person(probability=1.0), backing=Backing(probability=1.0),
        hands=Hands(probability=1.0), dynamic_range=DynamicRange(probability=1.0, overexposure_chance=0.0),
        paper_margin=PaperMargin(probability=1.0, flush_chance=1.0, cut_chance=0.5), blank=False)
    data = SyntheticDataset("chessboard:10x7", size=size, seed=2, recipe=forced)
    for i in range(6):
        s = data.sample(i)
        for step in ("person", "backing", "hands", "dynamic_range"):
            assert s.params[step] is not None, step
        again = data.replay(json.loads(json.dumps(s.params)))
        assert np.array_equal(s.image, again.image) and all(np.array_equal(s.masks[k], again.masks[k]) for k in s.masks)
    # each step switched off, the same seed: the other steps draw the same (test_switching_a_
    # step_off_leaves_the_others_unchanged), so what changes is the step's own drawing
    samples = [data.sample(i) for i in range(6)]
    for step in ("hands", "person", "backing", "dynamic_range"):
        without = SyntheticDataset("chessboard:10x7", size=size, seed=2, recipe=dataclasses.replace(forced, **{step: False}))
        changed = []
        for i, s in enumerate(samples):
            other = without.sample(i)
            changed.append(np.any(other.image != s.image, axis=2))
            if step != "hands":  # behind the sheet or photometric: the masks are the same
                assert all(np.array_equal(s.masks[k], other.masks[k]) for k in s.masks), (step, i)
            if step == "person":  # behind the sheet: nothing of it changes inside its edge
                inner = cv2.erode(s.masks["mask"].astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
                assert not changed[-1][inner].any(), i
        shown = sum(c.any() for c in changed)
        if step == "hands":
            assert shown >= 4  # hands show in the frame (unless the sheet's edge is out of it)
        elif step == "person":
            assert shown >= 5  # someone in the frame (one sample's person is out of it)
        elif step == "backing":
            assert shown == 6  # seen around the paper in every sample
        else:  # a camera's tonal range: (nearly) every pixel
            assert all(c.mean() > 0.9 for c in changed), [c.mean() for c in changed]


@pytest.mark.parametrize("pattern_kind, left_out", [
    ("chessboard", {"checkers"}), ("charuco", {"checkers", "markers"}), ("circles", {"circle_grid"}),
    ("segmenty", set()), ("my-folder", {"checkers", "markers", "circle_grid"}),
])
def test_a_texture_that_could_be_the_pattern_is_never_its_background(pattern_kind, left_out):
    assert set(TEXTURES) - set(texture_kinds(pattern_kind)) == left_out
