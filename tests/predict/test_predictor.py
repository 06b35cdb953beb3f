"""Prediction end to end with a tiny untrained model (files, sizes, errors, ONNX parity) and
with a stand-in network whose masks are known (detection, outline, homography)."""
from __future__ import annotations

import dataclasses
import json

import cv2
import numpy as np
import pytest
from PIL import Image

import segmenty
from segmenty.cli import main
from segmenty.errors import UsageError
from segmenty.predict import DetectionRule, Predictor
from segmenty.viz import draw_overlay
from segmenty.predict import geometry as geo
from segmenty.predict import verdict as verdict_module
from segmenty.runs import load_model

PATTERN = "chessboard:10x7"


@pytest.fixture(scope="module")
def onnx_file(checkpoint, tmp_path_factory):
    path = tmp_path_factory.mktemp("onnx") / "model.onnx"
    assert main(["export", str(checkpoint), "--onnx", str(path)]) == 0
    return path


def rgb_noise(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


# name -> (writes the file into a folder, expected output width x height)
def _save(name, im, **kw):
    def write(folder):
        im.save(folder / name, **kw)
    return write


def _exif_rotated(folder):
    im = Image.fromarray(rgb_noise(50, 90))  # stored 90x50, displayed rotated: 50x90
    exif = Image.Exif()
    exif[0x0112] = 6
    im.save(folder / "exif6.jpg", exif=exif)


INPUTS = {
    "odd": (_save("odd.jpg", Image.fromarray(rgb_noise(77, 101))), (101, 77)),
    "portrait": (_save("portrait.png", Image.fromarray(rgb_noise(130, 60))), (60, 130)),
    "gray": (_save("gray.png", Image.fromarray(rgb_noise(40, 70)[..., 0])), (70, 40)),
    "rgba": (_save("rgba.png", Image.fromarray(np.dstack([rgb_noise(33, 45), rgb_noise(33, 45)[..., :1]]))), (45, 33)),
    "palette": (_save("palette.png", Image.fromarray(rgb_noise(30, 20)).convert("P")), (20, 30)),
    "deep": (_save("deep.png", Image.fromarray(rgb_noise(25, 35)[..., 0].astype(np.uint16) * 257)), (35, 25)),
    "exif6": (_exif_rotated, (50, 90)),
}


def test_cli_writes_every_mask_at_the_photos_exact_size(checkpoint, tmp_path):
    photos, out = tmp_path / "photos", tmp_path / "out"
    photos.mkdir()
    for write, _ in INPUTS.values():
        write(photos)
    assert main(["predict", str(checkpoint), str(photos), "--out", str(out), "--rectify"]) == 0
    for stem, (_, (w, h)) in INPUTS.items():
        for suffix in ("mask.png", "corners.png", "overlay.jpg"):
            with Image.open(out / f"{stem}_{suffix}") as im:
                assert im.size == (w, h), (stem, suffix)
                assert im.mode == ("L" if suffix.endswith("png") else "RGB")
    report = json.loads((out / "predictions.json").read_text())
    assert report["mask_names"] == ["mask", "corners"] and report["failed"] == []
    assert report["size"] == 64  # the training size, a multiple of unet-s's stride 32
    by_stem = {p["stem"]: p for p in report["photos"]}
    assert set(by_stem) == set(INPUTS)
    for record in by_stem.values():
        assert {"file", "detected", "score", "area_fraction", "mean_confidence", "outline",
                "homography", "ms", "width", "height"} <= set(record)
        assert 0 <= record["score"] <= 1 and record["ms"] > 0
    assert (by_stem["exif6"]["width"], by_stem["exif6"]["height"]) == (50, 90)
    assert not list(out.glob(".*.tmp*"))  # atomic writes leave no temporary files


def test_unreadable_photo_is_reported_and_the_others_written(checkpoint, tmp_path, capsys):
    photos, out = tmp_path / "photos", tmp_path / "out"
    photos.mkdir()
    Image.fromarray(rgb_noise(40, 50)).save(photos / "a.png")
    (photos / "broken.jpg").write_bytes(b"not an image at all")
    Image.fromarray(rgb_noise(40, 50)).save(photos / "c.png")
    assert main(["predict", str(checkpoint), str(photos), "--out", str(out)]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "broken.jpg" in lines[0]
    assert (out / "a_mask.png").exists() and (out / "c_mask.png").exists()
    report = json.loads((out / "predictions.json").read_text())
    assert [p["stem"] for p in report["photos"]] == ["a", "c"] and len(report["failed"]) == 1


def test_same_stem_in_two_folders_does_not_overwrite(checkpoint, tmp_path):
    for sub in ("one", "two"):
        (tmp_path / sub).mkdir()
        Image.fromarray(rgb_noise(20, 30)).save(tmp_path / sub / "x.png")
    out = tmp_path / "out"
    assert main(["predict", str(checkpoint), str(tmp_path / "one"), str(tmp_path / "two"),
                 "--out", str(out)]) == 0
    assert (out / "x_mask.png").exists() and (out / "x-2_mask.png").exists()


@pytest.mark.parametrize("option", [["--size", "0"], ["--size", "-5"], ["--size", "100000"], ["--threshold", "2"]])
def test_bad_options_are_usage_errors(checkpoint, tmp_path, option, capsys):
    Image.fromarray(rgb_noise(20, 30)).save(tmp_path / "x.png")
    with pytest.raises(SystemExit) as exc:
        main(["predict", str(checkpoint), str(tmp_path / "x.png"), "--out", str(tmp_path / "o"), *option])
    assert exc.value.code == 2 and option[0] in capsys.readouterr().err


def test_size_rounds_up_to_the_stride(checkpoint):
    assert Predictor(checkpoint, size=70).size == 96


def test_onnx_masks_match_pytorch(checkpoint, onnx_file, tmp_path):
    import onnx

    meta = {p.key: p.value for p in onnx.load(str(onnx_file)).metadata_props}
    assert json.loads(meta["mask_names"]) == ["mask", "corners"]
    assert meta["pattern"] == "chessboard:10x7:25" and meta["size"] == "64" and meta["stride"] == "32"
    raw = DetectionRule(suppress=False)
    torch_pred, onnx_pred = Predictor(checkpoint, rule=raw, backend="torch"), Predictor(onnx_file, rule=raw)
    assert onnx_pred.mask_names == torch_pred.mask_names and onnx_pred.size == torch_pred.size
    # its threads sleep between runs (a spinning pool would starve a video's other threads)
    options = onnx_pred.backend.session.get_session_options()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    for shape in [(77, 101), (130, 60)]:
        rgb = rgb_noise(*shape, seed=3)
        a, b = torch_pred.predict(rgb), onnx_pred.predict(rgb)
        for name in a.masks:
            assert a.masks[name].shape == shape
            assert np.abs(a.masks[name] - b.masks[name]).max() < 1e-4
    # and the CLI runs the exported file
    Image.fromarray(rgb_noise(40, 50)).save(tmp_path / "p.png")
    assert main(["predict", str(onnx_file), str(tmp_path / "p.png"), "--out", str(tmp_path / "o")]) == 0
    assert (tmp_path / "o" / "p_corners.png").exists()


def test_batch_equals_one_by_one_and_training_mode_is_restored(checkpoint):
    loaded = load_model(checkpoint)
    loaded.model.train()  # as the training loop would hand it in
    predictor = Predictor(loaded, rule=DetectionRule(suppress=False))
    images = [rgb_noise(50, 70, 1), rgb_noise(70, 50, 2), rgb_noise(50, 70, 3)]
    batch = predictor.predict_batch(images)
    for rgb, b in zip(images, batch):
        assert np.allclose(predictor.predict(rgb).masks["mask"], b.masks["mask"], atol=1e-5)
    assert loaded.model.training


# -- detection and geometry with a stand-in network whose output is known ------------------

class BrightIsBoard:
    """A stand-in network: `mask` = the photo's brightness; other masks empty."""

    mask_names, pattern_spec, size, stride, model_name = ["mask", "corners"], PATTERN, 256, 32, "fake"

    def run(self, batch):
        bright = batch.mean(axis=1, keepdims=True)
        return np.concatenate([bright, np.zeros_like(bright)], axis=1)


def fake_predictor(backend=None, feature_check=False, **kw) -> Predictor:
    """A Predictor over a stand-in network; its empty `corners` map would fail the feature
    check (DetectionRule.min_features), so that is off unless `feature_check`, and the grid
    points (no photo here is a real chessboard) unless `points=True`."""
    if not feature_check:
        kw["rule"] = dataclasses.replace(kw.get("rule") or DetectionRule(), min_features=0)
    kw.setdefault("points", False)  # its dots are no chessboard: grid points are test_points.py's
    return Predictor(backend or BrightIsBoard(), size=256, **kw)


class BrightWithCorners(BrightIsBoard):
    """`mask` = brightness; `corners` = the photo's pure-red dots (drawn by the test)."""

    def run(self, batch):
        red = ((batch[:, :1] > 0.9) & (batch[:, 1:2] < 0.1)).astype(np.float32)
        return np.concatenate([np.maximum(batch.mean(axis=1, keepdims=True), red), red], axis=1)


@pytest.mark.parametrize("dots, detected", [(0, False), (1, False), (2, True), (6, True)])
def test_a_board_must_show_its_point_features(dots, detected):
    """A board-shaped region with fewer than `min_features` corner blobs is not a board (a
    textured scene painted as one); with them, it is."""
    pattern = segmenty.load_pattern(PATTERN)
    truth = np.array([[150, 120], [470, 90], [500, 380], [130, 350]], np.float64)
    rgb = board_photo(geo.homography(pattern.outline, truth))
    for k in range(dots):
        cv2.circle(rgb, (220 + 40 * k, 240), 5, (255, 0, 0), -1)
    predictor = fake_predictor(backend=BrightWithCorners(), feature_check=True)
    pred = predictor.predict(rgb)
    assert pred.fill > 0.95 and pred.detected == detected
    assert (pred.outline is not None) == detected
    if not detected:
        assert pred.masks["mask"].max() == 0.0  # suppressed like any photo without a board


def test_feature_check_is_off_for_a_pattern_without_a_feature_grid():
    """The `segmenty` pattern's parts are lines and one centre mark: no grid of point
    features, so its detections do not depend on them."""
    class Page(BrightIsBoard):
        mask_names, pattern_spec = ["mask", "vertical", "horizontal", "middle"], "segmenty"

        def run(self, batch):
            bright = batch.mean(axis=1, keepdims=True)
            return np.concatenate([bright] + [np.zeros_like(bright)] * 3, axis=1)

    pattern = segmenty.load_pattern("segmenty")
    truth = np.array([[200, 60], [440, 70], [450, 400], [190, 410]], np.float64)
    board = cv2.warpPerspective(pattern.masks["mask"].astype(np.float32), geo.homography(pattern.outline, truth),
                                (640, 480))
    rgb = np.repeat((board * 255).round().astype(np.uint8)[..., None], 3, axis=2)
    predictor = fake_predictor(backend=Page(), feature_check=True)
    assert predictor.predict(rgb).detected


def board_photo(hom, shape=(480, 640)):
    pattern = segmenty.load_pattern(PATTERN)
    board = cv2.warpPerspective(pattern.masks["mask"].astype(np.float32), hom, shape[::-1])
    return np.repeat((board * 255).round().astype(np.uint8)[..., None], 3, axis=2)


def test_board_is_detected_with_its_outline_and_homography():
    pattern = segmenty.load_pattern(PATTERN)
    truth = np.array([[150, 120], [470, 90], [500, 380], [130, 350]], np.float64)
    hom = geo.homography(pattern.outline, truth)
    rgb = board_photo(hom)
    cv2.circle(rgb, (40, 440), 15, (255, 255, 255), -1)  # a bright spot away from the board
    predictor = fake_predictor()
    pred = predictor.predict(rgb)
    assert pred.detected and pred.score > 0.8 and pred.fill > 0.95
    # the spot is cleared (suppress), the board kept
    assert pred.masks["mask"][440, 40] == 0.0 and pred.masks["mask"][240, 320] > 0.99
    size = np.sqrt(cv2.contourArea(truth.astype(np.float32)))
    assert np.abs(pred.outline - truth).max() < 0.03 * size
    kp = pattern.keypoint_array()
    assert np.abs(geo.project(pred.homography, kp) - geo.project(hom, kp)).max() < 0.03 * size
    sheet = predictor.rectify(rgb, pred)
    assert sheet.shape == pattern.image.shape
    # Front-on, the board's mask lands where the pattern has it.
    agree = (sheet[..., 0] > 127) == pattern.masks["mask"]
    assert agree.mean() > 0.97
    overlay = draw_overlay(rgb, pred, predictor.mask_names)
    assert overlay.shape == rgb.shape and overlay.dtype == np.uint8


def test_non_board_blobs_are_not_detected_and_masks_cleared():
    rng = np.random.default_rng(4)
    rgb = np.zeros((480, 640, 3), np.uint8)
    centre = np.array([320.0, 240.0])
    for _ in range(60):  # foliage-like: a random walk of discs
        centre += rng.normal(0, 20, 2)
        cv2.circle(rgb, tuple(int(v) for v in centre.round()), int(rng.integers(8, 25)), (255, 255, 255), -1)
    # the shape check alone must reject it (the fake network is confident everywhere)
    pred = fake_predictor(rule=DetectionRule(min_fill=0.8)).predict(rgb)
    assert not pred.detected and pred.outline is None and pred.homography is None
    assert pred.area_fraction > 0.01 and pred.fill < 0.8
    assert pred.masks["mask"].max() == 0.0
    raw = fake_predictor(rule=DetectionRule(suppress=False)).predict(rgb)
    assert raw.masks["mask"].max() > 0.9


def test_bad_arguments_raise_usage_errors(checkpoint):
    with pytest.raises(UsageError, match="--threshold"):
        Predictor(checkpoint, threshold=1.0)
    with pytest.raises(UsageError, match="--device"):
        Predictor(checkpoint, device="tpu:zero")


@pytest.mark.parametrize("gpus, device, needle", [
    (0, "cuda:3", "--device cuda:3: no CUDA GPU is available"),
    (1, "cuda:3", "--device cuda:3: this machine has 1 CUDA GPU(s)"),
    (0, "cuda", "--device cuda: no CUDA GPU is available"),
    (1, "cuda", "--device cuda: "),  # then why: onnxruntime runs on the CPU here
])
def test_a_gpu_asked_of_onnxruntime_is_refused_not_ignored(checkpoint, onnx_file, monkeypatch, gpus, device, needle):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpus > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: gpus)
    with pytest.raises(UsageError) as info:
        Predictor(onnx_file, device=device)
    assert str(info.value).startswith(needle)
    if gpus and device == "cuda":
        assert str(info.value).endswith("is an ONNX model, which onnxruntime runs on the CPU here; for a GPU "
                                        "give its run folder or .pt checkpoint")
    with pytest.raises(UsageError) as info:
        Predictor(checkpoint, device=device, backend="onnx")
    assert str(info.value).startswith(needle)
    if gpus and device == "cuda":
        assert "--backend onnx runs on the CPU here" in str(info.value)
    assert Predictor(onnx_file, device="cpu").backend.path == onnx_file  # the CPU still is fine


# -- the zoomed-in second look --------------------------------------------------------------

class CoarseBrightIsBoard(BrightIsBoard):
    """Like BrightIsBoard, but seen at 1/8 of the working resolution and upsampled, as a real
    network's blurry low-resolution output; counts the calls and the shapes it is given."""

    def __init__(self):
        self.shapes = []

    def run(self, batch):
        self.shapes.append(batch.shape)
        out = super().run(batch)
        n, m, h, w = out.shape
        small = [cv2.resize(c, (max(1, w // 8), max(1, h // 8)), interpolation=cv2.INTER_AREA) for c in out.reshape(-1, h, w)]
        return np.stack([cv2.resize(c, (w, h), interpolation=cv2.INTER_LINEAR) for c in small]).reshape(n, m, h, w)


def test_zoomed_second_look_sharpens_a_small_board():
    pattern = segmenty.load_pattern(PATTERN)
    truth_quad = np.array([[400, 300], [520, 290], [530, 380], [395, 385]], np.float64)
    rgb = board_photo(geo.homography(pattern.outline, truth_quad))
    truth = rgb[..., 0] > 127
    ious = {}
    for refine in (False, True):
        backend = CoarseBrightIsBoard()
        predictor = fake_predictor(refine=refine, rule=DetectionRule(snap_fill=None), backend=backend)
        pred = predictor.predict(rgb)
        assert pred.detected
        ious[refine] = np.logical_and(pred.masks["mask"] > 0.5, truth).sum() / np.logical_or(
            pred.masks["mask"] > 0.5, truth).sum()
        assert len(backend.shapes) == (2 if refine else 1)
    assert backend.shapes[1][2] == backend.shapes[1][3] == 256  # the square crop at working size
    assert ious[True] > 0.95 and ious[True] > ious[False] + 0.05


class DoubtfulUpClose(BrightIsBoard):
    """Confident on the whole photo, doubtful (probability 0.6) on the second look."""

    def __init__(self):
        self.calls = 0

    def run(self, batch):
        self.calls += 1
        return super().run(batch) * (1.0 if self.calls == 1 else 0.6)


def test_a_board_must_pass_the_rule_in_both_looks():
    pattern = segmenty.load_pattern(PATTERN)
    rgb = board_photo(geo.homography(pattern.outline, np.array([[400, 300], [520, 290], [530, 380], [395, 385]])))
    backend = DoubtfulUpClose()
    predictor = fake_predictor(backend=backend)
    pred = predictor.predict(rgb)
    # the first look found it, the close look doubted; the finer looks at 512 and the photo's
    # own 640 px (a region that proved no board leaves the photo without one) doubt too
    assert backend.calls == 4
    assert not pred.detected and pred.outline is None and pred.masks["mask"].max() == 0.0


# -- snapping the mask to the outline ---------------------------------------------------------

def iou(a, b):
    return np.logical_and(a, b).sum() / np.logical_or(a, b).sum()


def test_mask_snaps_to_the_outline_of_a_quadrilateral_pattern():
    pattern = segmenty.load_pattern(PATTERN)
    truth_quad = np.array([[150, 120], [470, 90], [500, 380], [130, 350]], np.float64)
    rgb = board_photo(geo.homography(pattern.outline, truth_quad))
    truth = rgb[..., 0] > 127
    masks = {}
    for snap in (None, 0.9):
        # rounded corners, soft edges
        predictor = fake_predictor(refine=False, rule=DetectionRule(snap_fill=snap), backend=CoarseBrightIsBoard())
        pred = predictor.predict(rgb)
        assert pred.detected
        masks[snap] = pred.masks["mask"]
    assert iou(masks[0.9] > 0.5, truth) > 0.985 > iou(masks[None] > 0.5, truth)
    # the snapped mask is the outline itself: its area, not a pixel more all round
    area = abs(cv2.contourArea(pred.outline))
    assert abs(masks[0.9].sum() - area) < 0.005 * area
    assert abs(np.count_nonzero(masks[0.9] > 0.5) - area) < 0.01 * area


def test_only_quadrilateral_masks_snap(tmp_path):
    """A pattern whose mask is a disc (a round logo, say) keeps the network's mask."""
    folder = tmp_path / "disc"
    (folder / "masks").mkdir(parents=True)
    sheet = np.full((200, 200, 3), 255, np.uint8)
    disc = np.zeros((200, 200), np.uint8)
    cv2.circle(disc, (100, 100), 90, 255, -1)
    sheet[disc > 0] = 0
    Image.fromarray(sheet).save(folder / "pattern.png")
    Image.fromarray(disc).save(folder / "masks" / "mask.png")
    assert verdict_module.board_knowledge(PATTERN).quadrilateral
    assert not verdict_module.board_knowledge(str(folder)).quadrilateral

    photo = np.zeros((480, 640, 3), np.uint8)
    cv2.circle(photo, (320, 240), 150, (255, 255, 255), -1, cv2.LINE_AA)
    # any fill passes, any fill snaps: only the pattern's shape can keep the mask a disc
    backend = BrightIsBoard()
    backend.pattern_spec, backend.mask_names = str(folder), ["mask"]
    backend.run = lambda batch: batch.mean(axis=1, keepdims=True)
    predictor = fake_predictor(refine=False, rule=DetectionRule(min_fill=0.0, snap_fill=0.0), backend=backend)
    pred = predictor.predict(photo)
    assert pred.detected
    assert iou(pred.masks["mask"] > 0.5, photo[..., 0] > 127) > 0.97  # still the disc


def test_batch_with_and_without_boards_equals_one_by_one():
    """The zoomed-in pass runs for some photos of a batch only: results stay with their photo."""
    pattern = segmenty.load_pattern(PATTERN)
    small = board_photo(geo.homography(pattern.outline, np.array([[400, 300], [520, 290], [530, 380], [395, 385]])))
    tall = board_photo(geo.homography(pattern.outline, np.array([[60, 300], [200, 310], [190, 420], [50, 400]])),
                       shape=(640, 360))
    images = [small, np.zeros((300, 500, 3), np.uint8), tall, small[:, ::-1].copy()]
    predictor = fake_predictor(backend=CoarseBrightIsBoard())
    batch = predictor.predict_batch(images)
    assert [p.detected for p in batch] == [True, False, True, True]
    for rgb, b in zip(images, batch):
        one = predictor.predict(rgb)
        assert one.detected == b.detected and np.array_equal(one.masks["mask"], b.masks["mask"])
        if b.detected:
            assert np.allclose(one.outline, b.outline)


def test_cli_no_refine_is_recorded(checkpoint, tmp_path):
    Image.fromarray(rgb_noise(40, 50)).save(tmp_path / "p.png")
    for flag, expected in (([], True), (["--no-refine"], False)):
        out = tmp_path / f"out{len(flag)}"
        assert main(["predict", str(checkpoint), str(tmp_path / "p.png"), "--out", str(out), *flag]) == 0
        assert json.loads((out / "predictions.json").read_text())["refine"] is expected


def test_help_shows_no_default_for_bare_flags_and_speaks_of_the_pattern(checkpoint, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["predict", "--help"])
    text = capsys.readouterr().out
    assert "--no-refine" in text and "(default: True)" not in text and "(default: False)" not in text
    segmenty.io.write_image(tmp_path / "p.png", np.zeros((64, 64, 3), np.uint8))
    assert main(["predict", str(checkpoint), str(tmp_path / "p.png"), "--out", str(tmp_path / "o")]) == 0
    assert "pattern found in 0" in capsys.readouterr().out


class SeesOnlyResolvedBoards(BrightIsBoard):
    """`mask` = brightness, opened by a 21-px square: a board narrower than that in the
    network's input is not seen at all (like squares too small to resolve)."""

    def __init__(self):
        self.widths = []

    def run(self, batch):
        self.widths.append(batch.shape[3])
        bright = batch.mean(axis=1)
        kernel = np.ones((21, 21), np.uint8)
        seen = np.stack([cv2.morphologyEx(b, cv2.MORPH_OPEN, kernel) for b in bright])[:, None]
        return np.concatenate([seen, np.zeros_like(seen)], axis=1)


def test_a_board_too_small_for_the_first_look_is_found_at_a_finer_scale():
    pattern = segmenty.load_pattern(PATTERN)
    # 200 px wide in a 2048 px photo: 25 px at the 256 px first look, 50 at 512
    truth_quad = np.array([[1000, 700], [1200, 690], [1205, 840], [995, 845]], np.float64)
    rgb = board_photo(geo.homography(pattern.outline, truth_quad), shape=(1536, 2048))
    truth = rgb[..., 0] > 127
    found = {}
    for multiscale in (False, True):
        backend = SeesOnlyResolvedBoards()
        predictor = fake_predictor(multiscale=multiscale, backend=backend)
        pred = predictor.predict(rgb)
        found[multiscale] = pred.detected and segmenty.scores.iou(pred.masks["mask"] > 0.5, truth) > 0.9
        if multiscale:
            assert backend.widths[:2] == [256, 512]  # the first look, then 2x, which finds it
    assert found == {False: False, True: True}


def test_finer_looks_only_where_the_photo_allows_and_nothing_was_found():
    backend = SeesOnlyResolvedBoards()
    # nothing there: 256, 512, then the photo's own 800 px (1024 would be beyond it), no more
    predictor = fake_predictor(backend=backend)
    predictor.predict(np.zeros((600, 800, 3), np.uint8))
    assert backend.widths == [256, 512, 800]


def test_a_checkpoint_predicts_through_its_export_which_happens_only_when_asked(checkpoint, tmp_path):
    """On the CPU a run folder or .pt file runs in onnxruntime when its own export is beside it
    (training ends with one; `--backend onnx` asks for one), else in PyTorch: a Predictor
    writes nothing of its own accord; an export no longer the checkpoint's is not used."""
    import shutil
    from segmenty.predict.backend import _TorchModel
    from segmenty.predict.onnx import OnnxModel, export_for_checkpoint
    ckpt = tmp_path / "model.pt"
    shutil.copy(checkpoint, ckpt)
    assert isinstance(Predictor(ckpt, device="cpu").backend, _TorchModel)
    assert not (tmp_path / "model.onnx").exists()  # not asked for: not written
    export_for_checkpoint(ckpt)
    stamp = (tmp_path / "model.onnx").stat().st_mtime_ns
    assert isinstance(Predictor(ckpt, device="cpu").backend, OnnxModel)
    export_for_checkpoint(ckpt)
    assert (tmp_path / "model.onnx").stat().st_mtime_ns == stamp  # fresh: reused, not exported again
    ckpt.write_bytes(ckpt.read_bytes())  # the checkpoint changes (a newer best.pt)
    assert isinstance(Predictor(ckpt, device="cpu").backend, _TorchModel)  # the stale export unused
    assert isinstance(Predictor(ckpt, device="cpu", backend="onnx").backend, OnnxModel)  # asked: exported
    assert (tmp_path / "model.onnx").stat().st_mtime_ns != stamp
    rgb = rgb_noise(90, 120, seed=5)
    raw = DetectionRule(suppress=False)
    a = Predictor(ckpt, rule=raw).predict(rgb).masks["mask"]
    b = Predictor(ckpt, rule=raw, backend="torch").predict(rgb).masks["mask"]
    assert np.abs(a - b).max() < 1e-4


def test_predicting_with_an_exported_model_never_imports_torch(onnx_file):
    import subprocess
    import sys
    code = ("import sys, numpy as np, segmenty; "
            f"p = segmenty.Predictor({str(onnx_file)!r}); p.predict(np.zeros((48, 64, 3), np.uint8)); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def _write_video(path, frames, fps=10.0):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, frames[0].shape[1::-1])
    for rgb in frames:
        writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    writer.release()


@pytest.mark.parametrize("track", ["30", "1"])  # tracking (this process) or a full search a frame (workers)
def test_video_in_annotated_video_and_json_lines_out(checkpoint, tmp_path, capsys, track):
    frames = [rgb_noise(48, 64, seed=k) for k in range(6)]
    _write_video(tmp_path / "clip.mp4", frames)
    out = tmp_path / "out"
    assert main(["predict", str(checkpoint), str(tmp_path / "clip.mp4"), "--out", str(out), "--every", "2",
                 "--masks", "--track", track]) == 0
    lines = [json.loads(line) for line in (out / "clip.jsonl").read_text().splitlines()]
    assert [r["frame"] for r in lines] == [0, 2, 4]
    assert {"detected", "outline", "homography", "score", "ms", "time_s"} <= set(lines[0])
    video = cv2.VideoCapture(str(out / "clip_overlay.mp4"))
    count = 0
    while video.read()[0]:
        count += 1
    assert count == 3 and video.get(cv2.CAP_PROP_FRAME_WIDTH) == 64
    assert sorted(p.name for p in (out / "clip_masks").iterdir())[:2] == ["0000000_corners.png", "0000000_mask.png"]
    assert "3 frame(s)" in capsys.readouterr().out


def test_two_videos_of_one_name_write_apart(checkpoint, tmp_path, capsys):
    for folder, n in (("a", 4), ("b", 2)):
        (tmp_path / folder).mkdir()
        _write_video(tmp_path / folder / "clip.mp4", [rgb_noise(48, 64, seed=k) for k in range(n)])
    out = tmp_path / "out"
    assert main(["predict", str(checkpoint), str(tmp_path / "a" / "clip.mp4"), str(tmp_path / "b" / "clip.mp4"),
                 "--out", str(out)]) == 0
    assert len((out / "clip.jsonl").read_text().splitlines()) == 4
    assert len((out / "clip-2.jsonl").read_text().splitlines()) == 2 and (out / "clip-2_overlay.mp4").is_file()


def test_a_video_that_cannot_be_opened_is_one_line(checkpoint, tmp_path, capsys):
    (tmp_path / "broken.mp4").write_bytes(b"not a video")
    assert main(["predict", str(checkpoint), str(tmp_path / "broken.mp4"), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "broken.mp4" in err[0]
    assert not (tmp_path / "o").exists()  # refused before any output folder is made


def test_worker_processes_write_what_one_process_writes(checkpoint, tmp_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    for k in range(5):
        Image.fromarray(rgb_noise(40 + 4 * k, 56, seed=k)).save(photos / f"p{k}.png")
    (photos / "broken.jpg").write_bytes(b"not an image")
    outs = {}
    for workers in ("1", "2"):
        outs[workers] = tmp_path / f"out{workers}"
        assert main(["predict", str(checkpoint), str(photos), "--out", str(outs[workers]), "--raw",
                     "--workers", workers]) == 1  # the broken photo
    assert "broken.jpg" in capsys.readouterr().err
    one, two = (json.loads((outs[w] / "predictions.json").read_text()) for w in ("1", "2"))
    for report in (one, two):
        for record in report["photos"]:
            record.pop("ms")
    assert one == two and [r["stem"] for r in one["photos"]] == [f"p{k}" for k in range(5)]
    files = sorted(p.name for p in outs["1"].iterdir())
    assert files == sorted(p.name for p in outs["2"].iterdir()) and len(files) > 10
    for name in files:
        if name.endswith(".png"):
            assert (outs["1"] / name).read_bytes() == (outs["2"] / name).read_bytes(), name


def test_a_pytorch_model_is_not_shared_out(checkpoint):
    from segmenty.predict.pool import PredictorPool

    with PredictorPool(Predictor(checkpoint, backend="torch"), workers=4) as pool:
        assert pool.workers == 1
        assert list(pool.map(lambda predictor, k: k * 2, range(3))) == [0, 2, 4]


@pytest.mark.parametrize("points, found", [(54, True), (8, False)])
def test_a_grid_only_a_finer_look_finds_must_show_enough_points(points, found):
    """A board only a finer look resolves is far away and seen whole: a handful of points
    there (foliage against the sky once gave 8) is not a board; a whole board's 54 are."""
    from segmenty.predict.points import GridPoints

    pattern = segmenty.load_pattern(PATTERN)
    quad = np.array([[1000, 700], [1200, 690], [1205, 840], [995, 845]], np.float64)  # too small at 256 px
    rgb = board_photo(geo.homography(pattern.outline, quad), shape=(1536, 2048))
    predictor = fake_predictor(backend=SeesOnlyResolvedBoards(), points=True)

    def with_points(result, photo, judged):  # the grid the points' search would report
        if result.detected:
            ids = np.stack(np.unravel_index(np.arange(points), (6, 9)), axis=1)[:, ::-1].astype(np.int32)
            result.points = GridPoints(ids * 10.0, ids, np.ones(points), (9, 6), points < 54, "relative")
        return result

    predictor._with_points = with_points
    assert (points >= DetectionRule().min_far_grid_points) == found
    assert predictor.predict(rgb).detected == found


def test_a_photo_walks_the_pipeline_once_in_order():
    """What the Predictor calls, module by module, for one photo of a board: the verdict, the
    region the points are looked for in (the outline's coverage, suppression), the points,
    their geometry; each once, none revisited (a verdict made again, or the shape's geometry
    made after the points', would show here)."""
    import sys
    from pathlib import Path

    from .test_points import BOARD, BoardNetwork, heat_from, render

    photo, truth, _, truth_mask = render("chessboard:10x7", BOARD)
    predictor = Predictor(BoardNetwork(truth_mask, heat_from(truth, photo.shape[:2])), size=480, refine=False)
    predictor.predict(photo)  # caches warmed: the pattern built once
    root = Path(segmenty.__file__).parent
    walk = []

    def record(frame, event, arg):
        caller = frame.f_back.f_code.co_filename if frame.f_back else ""
        callee = frame.f_code.co_filename
        if event == "call" and caller.endswith("predictor.py") and callee.startswith(str(root)) \
                and not callee.endswith("predictor.py"):
            module = Path(callee).relative_to(root).as_posix()
            if not walk or walk[-1] != module:
                walk.append(module)

    sys.setprofile(record)
    try:
        assert predictor.predict(photo).points is not None
    finally:
        sys.setprofile(None)
    assert len(walk) == len(set(walk)), walk
    assert [m for m in walk if m != "predict/points/grid.py"] == [
        "predict/verdict.py", "predict/geometry.py", "predict/points/find.py", "predict/points/geometry.py"]


def _sheet_folder(folder, w: int, h: int):
    """A pattern folder: a red block on a w x h sheet (its mask the whole sheet)."""
    folder.mkdir(parents=True)
    sheet = np.full((h, w, 3), 255, np.uint8)
    sheet[h // 4: 3 * h // 4, w // 4: 3 * w // 4] = (200, 30, 30)
    Image.fromarray(sheet).save(folder / "pattern.png")
    return folder


def test_a_copied_onnx_takes_no_other_folder_of_its_patterns_name(tmp_path, monkeypatch, capsys):
    """An exported model records its folder pattern's fingerprint: copied beside another
    'logo/' (a 400x300 sheet), it predicted with that sheet's homography, silently."""
    import shutil
    import warnings

    from segmenty.runs import copy_pattern
    from tests.conftest import write_checkpoint

    work, other, bare = tmp_path / "work", tmp_path / "other", tmp_path / "bare"
    _sheet_folder(work / "logo", 90, 60)
    _sheet_folder(other / "logo", 400, 300)
    bare.mkdir()
    monkeypatch.chdir(work)
    run = tmp_path / "run"
    write_checkpoint(run / "model.pt", pattern="logo")
    copy_pattern("logo", run)
    assert main(["export", str(run), "--onnx", "logo.onnx"]) == 0
    shutil.copy(work / "logo.onnx", other / "copied.onnx")
    shutil.copy(work / "logo.onnx", bare / "copied.onnx")

    def predictor(folder, **options):
        verdict_module.board_knowledge.cache_clear()  # it knows boards by spec: 'logo' in each folder
        monkeypatch.chdir(folder)
        return Predictor(folder / ("logo.onnx" if folder == work else "copied.onnx"), **options)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert predictor(work).pattern.image.shape == (60, 90, 3)  # its own folder, found by name
        assert predictor(other, pattern=str(work / "logo")).pattern.image.shape == (60, 90, 3)  # told where
    with pytest.warns(UserWarning) as caught:
        assert predictor(other).pattern is None  # not the 400x300 sheet
        assert predictor(bare).pattern is None  # no logo/ at all
    first, second = (str(w.message) for w in caught)
    assert "pattern folder 'logo' (400x300 px, 101.6x76.2 mm) is not the one the model learned" in first
    assert "cannot be built" in second
    assert all("--pattern DIR" in m and "\n" not in m for m in (first, second))
