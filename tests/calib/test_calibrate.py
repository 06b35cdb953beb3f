"""Camera calibration (segmenty.calib, `segmenty calibrate`): views of a board projected by a
known camera, so the solved camera can be checked against the truth; the files an OpenCV user
loads; the command's errors; and the whole job on rendered photos."""
from __future__ import annotations

import json
import re
import warnings
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

import segmenty
from segmenty.calib import (CalibrationReport, calibrate_views, iter_frames, load_camera, run_calibration,
                            view_from_points, write_camera, write_points)
from segmenty.calib.job import collect_views
from segmenty.cli import main
from segmenty.errors import SegmentyError
from segmenty.predict import GridPoints, find_grid_points, grid_layout

SIZE = (640, 480)
K = np.array([[520.0, 0, 322.0], [0, 515.0, 236.0], [0, 0, 1]])
DIST = np.array([-0.28, 0.09, 0.0005, -0.0003, 0.0])
LAYOUT = grid_layout(segmenty.load_pattern("chessboard:10x7:25"))
# (rotation vector, translation in mm) of the board: tilted every way, some cut by the frame.
POSES = [((0.1, -0.2, 0.05), (-100, -60, 420)), ((-0.4, 0.1, 0.2), (-120, -80, 500)),
         ((0.3, 0.4, -0.1), (-60, -70, 450)), ((0.0, -0.5, 0.3), (-20, -90, 480)),
         ((0.5, 0.0, -0.3), (-150, -40, 520)), ((-0.2, -0.3, 1.2), (20, -110, 430)),
         ((0.2, 0.5, 0.0), (-210, -100, 400)), ((-0.3, 0.3, -0.2), (10, -20, 380))]


def projected_view(name, rvec, tvec, noise=0.0, relative=False, seed=0):
    """A View of the board as the known camera sees it: points outside the frame dropped
    (cut by the frame, as real partial views), `noise` px of Gaussian noise."""
    obj = LAYOUT.object_points(LAYOUT.ids)
    img, _ = cv2.projectPoints(obj.astype(np.float64), np.array(rvec, float), np.array(tvec, float), K, DIST)
    img = img.reshape(-1, 2) + np.random.default_rng(seed).normal(0, noise, (len(obj), 2))
    inside = (img >= 0).all(axis=1) & (img[:, 0] <= SIZE[0] - 1) & (img[:, 1] <= SIZE[1] - 1)
    ids = LAYOUT.ids[inside]
    if relative:  # ids relative to the visible grid: a partial chessboard's
        ids = ids - ids.min(axis=0)
    points = GridPoints(img[inside], ids, np.ones(inside.sum()), LAYOUT.grid, not inside.all(),
                        "relative" if relative else "squares")
    return view_from_points(name, SIZE, points)


def views(**kw):
    return [projected_view(f"view{i}", r, t, seed=i, **kw) for i, (r, t) in enumerate(POSES)]


def test_known_camera_is_recovered_with_held_out_error_and_coverage():
    vs = views(noise=0.1)
    assert any(v.points.partial for v in vs)  # some boards are cut by the frame
    cal = calibrate_views(vs, LAYOUT)
    assert cal.camera_matrix[0, 0] == pytest.approx(K[0, 0], rel=0.01)
    assert cal.camera_matrix[1, 1] == pytest.approx(K[1, 1], rel=0.01)
    assert np.abs(cal.principal_point - K[:2, 2]).max() < 3
    assert cal.dist_coeffs[0] == pytest.approx(DIST[0], abs=0.03)
    assert 0.08 < cal.rms < 0.2 and 0.08 < cal.held_out_rms < 0.3
    assert len(cal.used) == len(POSES) and cal.points_used == sum(len(v.points) for v in vs)
    assert 0 < cal.coverage["border"] < cal.coverage["image"] <= 1
    assert all("held_out_rms" in r for r in cal.views.values())


def test_partial_views_with_relative_ids_calibrate_alike():
    absolute, relative = calibrate_views(views(noise=0.1), LAYOUT), calibrate_views(views(noise=0.1, relative=True), LAYOUT)
    assert relative.focal == pytest.approx(absolute.focal, rel=1e-3)


@pytest.mark.parametrize("model, coefficients", [("rational", 8), ("fisheye", 4)])
def test_other_camera_models(model, coefficients):
    cal = calibrate_views(views(noise=0.05), LAYOUT, model)
    assert cal.model == model and cal.dist_coeffs.size == coefficients
    assert cal.camera_matrix[0, 0] == pytest.approx(K[0, 0], rel=0.05)
    assert cal.to_dict()["dist_order"][:2] == ["k1", "k2"]


def test_a_view_far_off_is_dropped_with_its_reason():
    vs = views(noise=0.1)
    bad = vs[2]
    vs[2] = view_from_points(bad.name, SIZE, GridPoints(
        bad.points.xy + np.random.default_rng(5).normal(0, 4, bad.points.xy.shape), bad.points.ids,
        bad.points.confidence, bad.points.grid, bad.points.partial, bad.points.identity))
    cal = calibrate_views(vs, LAYOUT)
    assert not cal.views["view2"]["used"] and "reprojection error" in cal.views["view2"]["reason"]
    assert cal.camera_matrix[0, 0] == pytest.approx(K[0, 0], rel=0.01)


def test_too_few_views_fail_with_the_reasons():
    vs = views()[:2] + [view_from_points("empty.jpg", SIZE, None, missing="no board found (score 0.10)")]
    with pytest.raises(SegmentyError, match=r"2 usable view\(s\) of 3.*empty.jpg: no board found"):
        calibrate_views(vs, LAYOUT)


class ScoringPredictor:
    """A detector that finds a board region of `score` in every photo but no grid of the
    spec's points in it (what the shipped detector does when a spec counts inner corners)."""

    def __init__(self, score):
        self.score = score

    def predict(self, rgb):
        return segmenty.Prediction({}, None, None, False, self.score, board_without_grid=self.score > 0.5)


@pytest.mark.parametrize("stereo", [False, True])
def test_a_spec_counting_inner_corners_is_named(stereo):
    from segmenty.calib import detect_views
    from segmenty.calib.stereo import calibrate_stereo

    layout = grid_layout(segmenty.load_pattern("chessboard:9x6"))  # the board's 9x6 inner corners typed
    frames = [(f"photos/calibration{i}.jpg", np.zeros((48, 64, 3), np.uint8), "") for i in range(20)]
    seen, unseen = detect_views(ScoringPredictor(0.97), frames), detect_views(ScoringPredictor(0.1), frames)
    for views, hinted in ((seen, True), (unseen, False)):
        with pytest.raises(SegmentyError) as info:
            calibrate_stereo(views, views, layout) if stereo else calibrate_views(views, layout)
        message = str(info.value)
        assert message.startswith("left camera: 0 usable" if stereo else "calibrate: 0 usable") and "\n" not in message
        assert ("a board with 9x6 inner corners is chessboard:10x7" in message) == hinted
        assert re.search(r"calibration\d+\.jpg: [^;]+\(score 0\.\d\d\)[^;]*; \d+ more\)", message)  # whole names
        assert len(message) < 500


def test_views_of_another_camera_size_are_refused():
    vs = views()
    other = vs[3].points
    vs[3] = view_from_points("small.jpg", (320, 240), other)
    with pytest.raises(SegmentyError, match="small.jpg: is 320x240"):
        calibrate_views(vs, LAYOUT)


def test_views_need_points_off_one_line():
    points = GridPoints(np.stack([np.linspace(10, 100, 9), np.full(9, 50)], 1), np.stack([np.arange(9), np.zeros(9)], 1),
                        np.ones(9), LAYOUT.grid, True, "relative")
    assert view_from_points("line.jpg", SIZE, points).reason == "points on one line of the grid"


def test_files_load_in_opencv_directly(tmp_path):
    vs = views(noise=0.1)
    cal = calibrate_views(vs, LAYOUT)
    write_camera(cal, tmp_path, {"pattern": "chessboard:10x7:25"})
    write_points(vs, LAYOUT, tmp_path / "points.json")
    camera, dist, size = load_camera(tmp_path / "camera.json")  # what the README shows, in one call
    data = json.loads((tmp_path / "camera.json").read_text())
    assert np.allclose(np.array(data["camera_matrix"]), cal.camera_matrix, atol=1e-5) and size == SIZE
    assert data["pattern"] == "chessboard:10x7:25" and data["views_used"] == len(POSES)
    fs = cv2.FileStorage(str(tmp_path / "camera.yaml"), cv2.FILE_STORAGE_READ)
    assert np.allclose(fs.getNode("camera_matrix").mat(), cal.camera_matrix)
    assert np.allclose(fs.getNode("dist_coeffs").mat().ravel(), cal.dist_coeffs)
    assert int(fs.getNode("image_width").real()) == SIZE[0]
    fs.release()
    # points.json is enough to run OpenCV's calibration again without segmenty
    records = json.loads((tmp_path / "points.json").read_text())["views"]
    obj = [np.array(r["object_points_mm"], np.float32) for r in records]
    img = [np.array(r["image_points"], np.float32) for r in records]
    rms, again, *_ = cv2.calibrateCamera(obj, img, SIZE, None, None)
    assert np.allclose(again, cal.camera_matrix, rtol=1e-4)


# -- frames ------------------------------------------------------------------------------------------

def test_every_nth_video_frame_and_unreadable_files(tmp_path):
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for i in range(7):
        writer.write(np.full((48, 64, 3), 30 * i, np.uint8))
    writer.release()
    (tmp_path / "broken.jpg").write_bytes(b"not a photo")
    frames = list(iter_frames([tmp_path], every=3))
    names = [n for n, rgb, _ in frames if rgb is not None]
    assert names == [f"{path}#0", f"{path}#3", f"{path}#6"]
    assert [(n.endswith("broken.jpg"), rgb is None) for n, rgb, _ in frames if n.endswith(".jpg")] == [(True, True)]
    # the problem alone: whoever shows it puts the file's name before it, once
    assert [problem for n, _, problem in frames if n.endswith(".jpg")] == ["not an image file (or an unsupported format)"]
    with pytest.raises(SegmentyError, match="no such file"):
        list(iter_frames([tmp_path / "missing.mp4"]))


def test_unreadable_files_are_each_named_and_skipped(tmp_path):
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "text.jpg").write_text("not a photo")
    with pytest.warns(UserWarning) as caught:
        views, classical = collect_views([tmp_path], None, LAYOUT, 1, True, "sb")
    assert sorted(str(w.message) for w in caught) == [
        f"{tmp_path / 'empty.jpg'}: empty file (0 bytes), expected an image; skipped",
        f"{tmp_path / 'text.jpg'}: not an image file (or an unsupported format); skipped"]
    assert [v.usable for v in views + classical] == [False] * 4
    with pytest.raises(SegmentyError) as info:  # and a calibration that then fails names each once
        calibrate_views(views, LAYOUT)
    assert "empty.jpg: empty file (0 bytes)" in str(info.value) and str(info.value).count("empty.jpg") == 1


def test_opencv_without_a_calibration_says_why_once():
    why = "0 usable view(s) of 8, need at least 3 (view0.png: CharucoDetector found no board)"
    report = CalibrationReport(calibrate_views(views(noise=0.1), LAYOUT, held_out=False), views(), None, views(),
                               "CharucoDetector", why, [])
    table = report.table()
    assert table.count(why) == 1 and "| RMS (px) | 0.1" in table and table.endswith(f"OpenCV (CharucoDetector): no calibration: {why}")
    assert why not in report.table(reasons=False)


# -- the job on rendered photos --------------------------------------------------------------------

class ExactPredictor:
    """A stand-in for a trained Predictor: the heat map drawn from the exact corners of the
    rendered photo it is handed (the network is not what this tests)."""

    def __init__(self, truths):
        self.truths = truths

    def predict(self, rgb):
        from tests.predict.test_points import heat_from

        truth = self.truths[rgb.tobytes().__hash__()]
        points = find_grid_points(rgb, heat_from(truth, rgb.shape[:2]), LAYOUT)
        return segmenty.Prediction({}, None, None, points is not None, 1.0, points=points)


def rendered_photos(folder, poses=POSES[:6]):
    """Photos of the sheet seen by the known camera (no distortion: a homography each), one
    per (rotation vector, translation) of `poses`."""
    from segmenty.predict import geometry as geo

    pattern = segmenty.load_pattern("chessboard:10x7:25", dpi=60)
    sheet = grid_layout(pattern)  # the same points as LAYOUT's, at this sheet's resolution
    px_per_mm = pattern.image.shape[1] / pattern.size_mm[0]
    first = sheet.sheet_xy[sheet.rows_of(np.zeros((1, 2), int))[0]]
    truths = {}
    for i, (rvec, tvec) in enumerate(poses):
        rot, _ = cv2.Rodrigues(np.array(rvec, float))
        # sheet px -> board mm (origin at the first inner corner) -> camera -> photo px
        to_mm = np.array([[1 / px_per_mm, 0, -first[0] / px_per_mm], [0, 1 / px_per_mm, -first[1] / px_per_mm],
                          [0, 0, 1]])
        hom = K @ np.column_stack([rot[:, 0], rot[:, 1], np.array(tvec, float)]) @ to_mm
        photo = cv2.warpPerspective(pattern.image, hom, SIZE, flags=cv2.INTER_AREA, borderValue=(90, 90, 90))
        truths[photo.tobytes().__hash__()] = geo.project(hom, sheet.sheet_xy)
        cv2.imwrite(str(folder / f"view{i}.png"), cv2.cvtColor(photo, cv2.COLOR_RGB2BGR))
    return truths


def test_run_calibration_writes_everything_and_compares_with_opencv(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    # the six whole boards and a seventh cut by the frame's left edge (48 of its 54 corners inside)
    truths = rendered_photos(folder, POSES[:6] + [((0.1, -0.2, 0.05), (-260, -60, 420))])
    report = run_calibration([folder], LAYOUT, ExactPredictor(truths), tmp_path / "out")
    assert isinstance(report, CalibrationReport)
    cal = report.calibration
    assert len(cal.used) == 7 and cal.rms < 0.3
    assert cal.camera_matrix[0, 0] == pytest.approx(K[0, 0], rel=0.02)
    assert report.opencv is not None and report.opencv.camera_matrix[0, 0] == pytest.approx(K[0, 0], rel=0.02)
    # segmenty sees the board cut by the frame that OpenCV's whole-board detector cannot
    cut = str(folder / "view6.png")
    assert cal.views[cut]["used"] and cal.views[cut]["partial"] and cal.views[cut]["points"] == 48
    assert sorted(report.opencv.used) == sorted(set(cal.used) - {cut})
    assert "found no board" in report.opencv.views[cut]["reason"]
    for name in ("camera.json", "camera.yaml", "points.json", "coverage.png", "errors.png", "comparison.md"):
        assert (tmp_path / "out" / name).stat().st_size > 0
    data = json.loads((tmp_path / "out" / "camera.json").read_text())
    assert set(data["comparison"]) == {"segmenty", "OpenCV (findChessboardCornersSB)"}
    assert "| views used | 7 of 7 | 6 of 7 |" in report.table()
    picture = cv2.imread(str(tmp_path / "out" / "coverage.png"))
    assert picture.shape[1] > 2 * 600  # two panels side by side


class ShakyPredictor(ExactPredictor):
    """ExactPredictor's points moved by `noise` px: as a board spec that does not match the
    board fits (its points at the wrong places of the model board)."""

    def __init__(self, truths, noise):
        super().__init__(truths)
        self.rng, self.noise = np.random.default_rng(0), noise

    def predict(self, rgb):
        prediction = super().predict(rgb)
        prediction.points.xy += self.rng.normal(0, self.noise, prediction.points.xy.shape).astype(np.float32)
        return prediction


@pytest.mark.parametrize("noise, warned", [(0.0, False), (5.0, True)])
def test_an_implausible_fit_is_warned_about(tmp_path, noise, warned):
    folder = tmp_path / "photos"
    folder.mkdir()
    predictor = ShakyPredictor(rendered_photos(folder), noise)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = run_calibration([folder], LAYOUT, predictor, tmp_path / "out", compare=False)
    implausible = [str(w.message) for w in caught if "implausible" in str(w.message)]
    assert (report.calibration.rms > 2) == warned and len(implausible) == warned
    if warned:
        assert f"{report.calibration.rms:.3g} px (segmenty)" in implausible[0] and "pattern spec" in implausible[0]


def test_the_solved_calibration_is_handed_over_before_a_write_fails(tmp_path, monkeypatch):
    import segmenty.calib.job

    folder = tmp_path / "photos"
    folder.mkdir()
    truths = rendered_photos(folder)

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_path / "out" / "camera.json"))

    monkeypatch.setattr(segmenty.calib.job, "write_camera", refuse)
    solved = []
    with pytest.raises(PermissionError):
        run_calibration([folder], LAYOUT, ExactPredictor(truths), tmp_path / "out", compare=False,
                        on_solved=solved.append)
    assert len(solved) == 1 and solved[0].calibration.camera_matrix[0, 0] == pytest.approx(K[0, 0], rel=0.02)


# -- the command ------------------------------------------------------------------------------------

@pytest.mark.parametrize("args, code, message", [
    (["--pattern", "segmenty"], 2, "--pattern segmenty: has no grid of points"),
    (["--pattern", "circles:7x5"], 2, "was trained for 'chessboard:10x7:25'"),
    (["--pattern", "chessboard:10x7", "--camera", "kannala"], 2, "--camera"),
    (["--pattern", "chessboard:10x7", "--every", "0"], 2, "--every"),
    (["--pattern", "chessboard:10x7", "--views", "2"], 2, "--views: 2 must be at least 3"),
])
def test_command_refuses_bad_options_in_one_line(checkpoint, tmp_path, capsys, args, code, message):
    photo = tmp_path / "p.png"
    cv2.imwrite(str(photo), np.zeros((48, 64, 3), np.uint8))
    argv = ["calibrate", str(photo), "--model", str(checkpoint), "--out", str(tmp_path / "o"), "--no-opencv", *args]
    try:
        status = main(argv)
    except SystemExit as exc:  # argparse's own usage errors
        status = exc.code
    err = capsys.readouterr().err.strip().splitlines()
    assert status == code and len(err) == 1 and message in err[0]


def test_command_explains_when_no_view_is_usable(checkpoint, tmp_path, capsys):
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"p{i}.png"), np.full((48, 64, 3), 40 * i, np.uint8))
    status = main(["calibrate", str(tmp_path), "--pattern", "chessboard:10x7:30", "--model", str(checkpoint),
                   "--out", str(tmp_path / "o"), "--no-opencv"])
    err = capsys.readouterr().err.strip()
    assert status == 1 and "0 usable view(s) of 3" in err and "p0.png: no board found" in err


def _fake_job(monkeypatch, finish):
    """run_calibration replaced by one that hands the CLI a solved report, then `finish(out)`."""
    import segmenty.calib

    def fake_run_calibration(sources, layout, predictor, out, **kwargs):
        kwargs["on_solved"](SimpleNamespace(table=lambda: "| the solved calibration |"))
        return finish(out)

    monkeypatch.setattr(segmenty.calib, "run_calibration", fake_run_calibration)


def test_command_lists_only_the_files_written(checkpoint, tmp_path, capsys, monkeypatch):
    from segmenty.cli.calibrate import written_line

    _fake_job(monkeypatch, lambda out: SimpleNamespace(files=[out / "camera.json", out / "points.json"],
                                                       skipped={"camchain.yaml": "Kalibr has no rational model"}))
    status = main(["calibrate", str(tmp_path), "--pattern", "chessboard:10x7:25", "--model", str(checkpoint),
                   "--out", str(tmp_path / "o"), "--no-opencv"])
    assert status == 0 and capsys.readouterr().out.splitlines() == [
        "| the solved calibration |", f"camera.json, points.json -> {tmp_path / 'o'}",
        "not written: camchain.yaml (Kalibr has no rational model)"]
    out = tmp_path / "rig"
    files = [out / "left" / "camera.json", out / "right" / "camera.json", out / "right" / "errors.png", out / "stereo.json"]
    assert written_line(files, out) == f"stereo.json; left/: camera.json; right/: camera.json, errors.png -> {out}"
    assert written_line(files[:2] + files[3:], out) == f"stereo.json; left/ and right/: camera.json -> {out}"


def test_command_shows_the_calibration_when_its_files_cannot_be_written(checkpoint, tmp_path, capsys, monkeypatch):
    def refuse(out):
        raise PermissionError(13, "Permission denied", str(out / "camera.json"))

    _fake_job(monkeypatch, refuse)
    status = main(["calibrate", str(tmp_path), "--pattern", "chessboard:10x7:25", "--model", str(checkpoint),
                   "--out", str(tmp_path / "o"), "--no-opencv"])
    captured = capsys.readouterr()
    assert status == 1 and captured.out == "| the solved calibration |\n"
    assert captured.err.splitlines() == [f"segmenty: {tmp_path / 'o' / 'camera.json'}: Permission denied "
                                         "(run with --debug for details)"]


@pytest.mark.parametrize("identity, warned", [("squares", True), ("markers", False)])
def test_a_charuco_calibration_that_read_no_marker_says_so(identity, warned):
    from segmenty.calib.job import check_markers

    charuco = grid_layout(segmenty.load_pattern("charuco:10x7"))
    vs = [view_from_points(v.name, v.image_size, GridPoints(v.points.xy, v.points.ids, v.points.confidence,
                                                          v.points.grid, v.points.partial, identity))
          for v in views()]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_markers(vs, charuco, "left camera: ")
        check_markers(vs, LAYOUT)  # a chessboard has no markers to read
    messages = [str(w.message) for w in caught]
    assert messages == (["left camera: no marker of the spec's dictionary (DICT_6X6_250) was read in any of the 8 "
                         "views: their ids rest on the squares alone; is the board's dictionary the spec's "
                         "(charuco:CxR:DICT)?"] if warned else [])
