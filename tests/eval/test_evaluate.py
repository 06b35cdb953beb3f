"""Auto-labels and real-photo scores: labels checked against rendered boards with known masks,
metric arithmetic against a stand-in predictor whose answers are known exactly."""
import json
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

import segmenty
from segmenty.cli import main
from segmenty.eval.evaluate import evaluate, half_views, iou
from segmenty.classical import parse_detector
from segmenty.eval.label import extend_grid, label_image, label_images
from segmenty.io import read_mask, write_image
from tests.conftest import write_checkpoint

CANVAS = (600, 800)
H_MILD = np.array([[0.95, 0.08, 150.0], [-0.05, 0.9, 90.0], [0.00012, 0.00008, 1.0]])


def _barrel(image: np.ndarray, k1: float, interpolation: int, border: int) -> np.ndarray:
    """Radial (barrel) distortion about the centre, as a wide-angle lens bends straight lines."""
    h, w = image.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    cx, cy, f = (w - 1) / 2, (h - 1) / 2, max(h, w)
    x, y = (xs - cx) / f, (ys - cy) / f
    # Destination pixel (x, y) shows source pixel (x, y) * (1 + k1 r^2): lines bow outwards.
    scale = 1 + k1 * (x * x + y * y)
    return cv2.remap(image, x * scale * f + cx, y * scale * f + cy, interpolation, borderValue=(border,) * 3)


def _scene(spec: str, distortion: float, dpi: float = 40) -> tuple[np.ndarray, np.ndarray]:
    """A pattern warped into a grey photo (optionally with barrel distortion) and its true mask."""
    pattern = segmenty.load_pattern(spec, dpi=dpi)
    size = CANVAS[::-1]
    rgb = cv2.warpPerspective(pattern.image, H_MILD, size, flags=cv2.INTER_AREA, borderValue=(128, 128, 128))
    truth = cv2.warpPerspective(pattern.masks["mask"].astype(np.uint8), H_MILD, size, flags=cv2.INTER_NEAREST)
    if distortion:
        rgb = _barrel(rgb, distortion, cv2.INTER_LINEAR, 128)
        truth = _barrel(truth, distortion, cv2.INTER_NEAREST, 0)
    return rgb, truth.astype(bool)


@pytest.mark.parametrize("spec, detector, distortion, dpi", [
    ("chessboard:10x7", "chessboard:10x7", 0.0, 40),  # squares, as the pattern spec counts them
    ("chessboard:10x7", "chessboard:10x7", 0.35, 40),  # sides bow: the label must follow them
    ("charuco:5x7", "charuco:5x7", 0.0, 60),           # markers need more pixels than squares
])
def test_label_matches_true_mask(spec, detector, distortion, dpi):
    rgb, truth = _scene(spec, distortion, dpi)
    found = label_image(rgb, parse_detector(detector))
    assert found is not None
    mask, _method = found
    assert iou(mask, truth) > 0.97


def test_label_follows_distortion_better_than_a_quadrilateral():
    rgb, truth = _scene("chessboard:10x7", 0.35)
    mask, _ = label_image(rgb, parse_detector("chessboard:10x7"))
    ys, xs = np.nonzero(mask)
    quad = np.zeros_like(mask, np.uint8)
    hull = cv2.approxPolyDP(cv2.convexHull(np.stack([xs, ys], 1).astype(np.int32)), 3.0, True)
    cv2.fillPoly(quad, [cv2.boxPoints(cv2.minAreaRect(hull)).astype(np.int32)], 1)
    assert iou(mask, truth) > iou(quad.astype(bool), truth)


def test_extend_grid_is_exact_on_a_regular_grid():
    ys, xs = np.mgrid[0:4, 0:5].astype(float)
    grid = np.stack([10 * xs + 3, 7 * ys + 1], -1)
    ext = extend_grid(grid)
    assert ext.shape == (6, 7, 2)
    assert np.allclose(ext[0, 0], (-7, -6)) and np.allclose(ext[-1, -1], (53, 29))


def test_label_images_writes_masks_json_and_lists_misses(tmp_path):
    rgb, truth = _scene("chessboard:10x7", 0.0)
    write_image(tmp_path / "in" / "board.png", rgb)
    write_image(tmp_path / "in" / "blank.png", np.full((64, 64, 3), 128, np.uint8))
    result = label_images(sorted((tmp_path / "in").iterdir()), "chessboard:10x7", tmp_path / "out")
    assert [p.rsplit("/", 1)[-1] for p in result.not_found] == ["blank.png"]
    assert iou(read_mask(tmp_path / "out" / "board_mask.png"), truth) > 0.97
    saved = json.loads((tmp_path / "out" / "labels.json").read_text())
    assert saved["detector"] == "chessboard:10x7" and len(saved["labelled"]) == 1


# ------------------------------------------------------------------------ metric arithmetic

class RedPredictor:
    """A predictor with segmenty.predict.Predictor's interface: the board is wherever the photo is pure red;
    `detected` is set by a blue top-left pixel (so both false-detection rules can be tested)."""

    def predict(self, rgb):
        red = (rgb[..., 0] > 200) & (rgb[..., 1] < 50) & (rgb[..., 2] < 50)
        return SimpleNamespace(masks={"mask": red.astype(np.float32)}, outline=None, homography=None,
                               detected=bool(rgb[0, 0, 2] == 255 and rgb[0, 0, 0] == 0), score=0.5, ms=1.0)


def _photo(rect=None, blue_corner=False, shape=(64, 96)):
    rgb = np.full((*shape, 3), 90, np.uint8)
    if rect is not None:
        (r0, r1), (c0, c1) = rect
        rgb[r0:r1, c0:c1] = (255, 0, 0)
    if blue_corner:
        rgb[0, 0] = (0, 0, 255)
    return rgb


@pytest.fixture
def eval_folders(tmp_path):
    """Photo 'a': red board rows 16-46, cols 24-71; its truth stops at col 62 (IoU 39/48).
    Photo 'b' has no truth. Negatives: grey (clean), 2% red (area rule), blue pixel (detected rule)."""
    images, masks, negs = tmp_path / "images", tmp_path / "masks", tmp_path / "negatives"
    write_image(images / "a.png", _photo(((16, 47), (24, 72))))
    write_image(images / "b.png", _photo(((10, 20), (10, 20))))
    truth = np.zeros((64, 96), np.uint8)
    truth[16:47, 24:63] = 255
    write_image(masks / "a_mask.png", truth)
    write_image(negs / "grey.png", _photo())
    write_image(negs / "reddish.png", _photo(((0, 8), (0, 16))))        # 128 px = 2.1% of 6144
    write_image(negs / "flagged.png", _photo(((0, 2), (10, 12)), blue_corner=True))  # 4 px, detected
    return images, masks, negs


def test_evaluate_scores_whole_halves_and_negatives(eval_folders, tmp_path):
    images, masks, negs = eval_folders
    result = evaluate(RedPredictor(), images, masks, negs, out_dir=tmp_path / "out")
    (whole,) = result.whole
    assert whole.iou == pytest.approx(39 / 48) and whole.found
    # truth centroid: row 31, col 43 -> halves; the left half sees the truth's part exactly
    halves = {s.view: s.iou for s in result.halves}
    assert halves == pytest.approx({"left": 1.0, "right": 20 / 29, "top": 39 / 48, "bottom": 39 / 48})
    flags = {s.name: s.false_detection for s in result.negatives}
    assert flags == {"grey.png": False, "reddish.png": True, "flagged.png": True}
    assert result.unlabelled == ["b.png"]
    s = result.summary
    assert s["mean_iou_halves"] == pytest.approx(np.mean(list(halves.values())))
    assert s["false_detections"] == 2 and s["detection_rate"] == 1.0
    saved = json.loads((tmp_path / "out" / "eval.json").read_text())
    assert saved["summary"]["false_detections"] == 2 and len(saved["halves"]) == 4
    gallery = cv2.imread(str(tmp_path / "out" / "gallery.jpg"))
    assert gallery.shape[0] > 4 * 100  # four rows: one labelled photo, three negatives
    assert "false detections: 2 of 3" in result.table()


def test_evaluate_cli_on_a_run_folder(eval_folders, tmp_path, capsys):
    """The real Predictor on an (untrained) checkpoint: results land in RUN/eval."""
    images, masks, negs = eval_folders
    run = tmp_path / "run"
    write_checkpoint(run / "model.pt", model="unet-xs")
    assert main(["evaluate", str(run), "--images", str(images), "--masks", str(masks),
                 "--negatives", str(negs)]) == 0
    assert "false detections:" in capsys.readouterr().out
    saved = json.loads((run / "eval" / "eval.json").read_text())
    assert saved["summary"]["photos"] == 1 and saved["summary"]["negatives"] == 3
    assert saved["refine"] is True
    assert (run / "eval" / "gallery.jpg").is_file()
    assert main(["evaluate", str(run), "--images", str(images), "--masks", str(masks), "--no-refine",
                 "--out", str(tmp_path / "one-pass")]) == 0
    assert json.loads((tmp_path / "one-pass" / "eval.json").read_text())["refine"] is False


def test_iou_and_half_views_edge_cases():
    empty = np.zeros((4, 4), bool)
    assert iou(empty, empty) == 1.0
    truth = np.zeros((64, 64), bool)
    truth[:, :4] = True  # centroid at the left edge: the left half is too thin to score
    assert set(half_views(truth)) == {"right", "top", "bottom"}


@pytest.mark.parametrize("argv, code, needle", [
    (["label", "{missing}", "--detector", "chessboard:10x7", "--out", "{tmp}/o"], 1, "no such file or folder"),
    (["label", "{tmp}", "--detector", "chesboard:10x7", "--out", "{tmp}/o"], 2, "did you mean 'chessboard'"),
    # the board in no photo: an error, not "labelled 0 of 1"; the spec counts squares, as it once did not
    (["label", "{tmp}", "--detector", "chessboard:9x6", "--out", "{tmp}/o"], 1,
     "--detector chessboard:9x6: no whole board found in any of the 1 photos (a spec counts squares: "
     "chessboard:9x6 has 8x5 inner corners; a board of 9x6 inner corners is chessboard:10x7)"),
    (["label", "{tmp}", "--detector", "chessboard:3x4", "--out", "{tmp}/o"], 2,
     "OpenCV's chessboard detectors need at least 4x4 squares"),
    (["label", "{tmp}", "--detector", "chessboard", "--out", "{tmp}/o"], 2, "--detector 'chessboard'"),
    (["evaluate", "{tmp}", "--images", "{missing}", "--masks", "{tmp}"], 1, "--images"),
    (["evaluate", "{tmp}", "--images", "{empty}", "--masks", "{tmp}"], 1, "no images"),
    (["evaluate", "{tmp}", "--images", "{tmp}", "--masks", "{missing}"], 1, "--masks"),
])
def test_cli_errors_are_one_line(tmp_path, capsys, argv, code, needle):
    (tmp_path / "empty").mkdir()
    write_image(tmp_path / "photo.png", _photo())
    fill = {"tmp": str(tmp_path), "missing": str(tmp_path / "nope"), "empty": str(tmp_path / "empty")}
    assert main([a.format(**fill) for a in argv]) == code
    err = capsys.readouterr().err.strip()
    assert err.startswith("segmenty: ") and "\n" not in err and needle in err
