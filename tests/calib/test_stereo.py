"""Stereo calibration (segmenty.calib.stereo): a rendered rig with a known pose (both cameras
project the board's points, with lens distortion), recovered within 0.1 degree and 0.5%; the
rig's bad inputs refused in one line."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import yaml
from .test_calibrate import DIST, K, LAYOUT, POSES, SIZE

from segmenty.calib import view_from_points
from segmenty.calib import stereo as stereo_module
from segmenty.calib.stereo import RigRefused, calibrate_stereo
from segmenty.errors import SegmentyError
from segmenty.predict import GridPoints

K2 = np.array([[540.0, 0, 318.0], [0, 536.0, 244.0], [0, 0, 1]])
DIST2 = np.array([-0.22, 0.05, -0.0004, 0.0006, 0.0])
RIG_R = cv2.Rodrigues(np.array([0.02, -0.06, 0.015]))[0]
RIG_T = np.array([-80.0, 1.5, 3.0])  # mm: the right camera 80 mm to the left camera's right


def board_view(name, rot, t, camera, dist, noise, seed, relative=False):
    obj = LAYOUT.object_points(LAYOUT.ids).astype(np.float64)
    img = cv2.projectPoints(obj, cv2.Rodrigues(rot)[0], t, camera, dist)[0].reshape(-1, 2)
    img = img + np.random.default_rng(seed).normal(0, noise, img.shape)
    inside = (img >= 0).all(axis=1) & (img[:, 0] <= SIZE[0] - 1) & (img[:, 1] <= SIZE[1] - 1)
    ids = LAYOUT.ids[inside]
    if relative and not inside.all():
        ids = ids - ids.min(axis=0)
    points = GridPoints(img[inside], ids, np.ones(inside.sum()), LAYOUT.grid, not inside.all(),
                        "relative" if relative and not inside.all() else "squares")
    return view_from_points(name, SIZE, points)


def rig_views(noise=0.1, poses=POSES, relative=False, right_size=SIZE):
    left, right = [], []
    for i, (rvec, tvec) in enumerate(poses):
        rot, t = cv2.Rodrigues(np.array(rvec, float))[0], np.array(tvec, float).reshape(3, 1)
        left.append(board_view(f"left{i}.png", rot, t, K, DIST, noise, i, relative))
        r = board_view(f"right{i}.png", RIG_R @ rot, RIG_R @ t + RIG_T.reshape(3, 1), K2, DIST2, noise, 100 + i,
                       relative)
        r.image_size = right_size
        right.append(r)
    return left, right


def test_rendered_rig_pose_is_recovered():
    left, right = rig_views()
    assert sum(v.points.partial for v in left + right) >= 2  # boards cut by either frame still pair up
    stereo = calibrate_stereo(left, right, LAYOUT)
    angle = np.degrees(np.linalg.norm(cv2.Rodrigues(stereo.R.T @ RIG_R)[0]))
    assert angle < 0.1
    assert np.linalg.norm(stereo.T.ravel() - RIG_T) / np.linalg.norm(RIG_T) < 0.005
    assert len(stereo.used) == len(POSES) and stereo.rms < 0.2 and stereo.epipolar < 0.15
    assert stereo.rectified_dy < 0.2  # rectified rows line up
    summary = stereo.summary()
    assert summary["baseline_squares"] == pytest.approx(np.linalg.norm(RIG_T) / 25, rel=0.005)
    # the essential matrix agrees with R, T: E = [T]x R
    tx = np.array([[0, -RIG_T[2], RIG_T[1]], [RIG_T[2], 0, -RIG_T[0]], [-RIG_T[1], RIG_T[0], 0]])
    e = stereo.E / np.linalg.norm(stereo.E)
    assert min(np.abs(e - tx @ RIG_R / np.linalg.norm(tx @ RIG_R)).max(),
               np.abs(e + tx @ RIG_R / np.linalg.norm(tx @ RIG_R)).max()) < 0.01


def test_partial_views_with_relative_ids_are_left_out_with_the_reason():
    left, right = rig_views(relative=True)
    stereo = calibrate_stereo(left, right, LAYOUT, held_out=False)
    unused = {n: p for n, p in stereo.pairs.items() if not p["used"]}
    assert unused and all("relative" in p["reason"] for p in unused.values())
    assert len(stereo.used) == sum(1 for a, b in zip(left, right) if not a.points.partial and not b.points.partial)


def _keep(view, rows):
    p = view.points
    return view_from_points(view.name, view.image_size, GridPoints(p.xy[rows], p.ids[rows], p.confidence[rows],
                                                                   p.grid, True, "markers"))


def _degenerate():
    # every board face-on (parallel to the image), at several places and distances
    poses = [((0, 0, 0.1 * i), (-100 + 15 * i, -60 + 5 * i, 420 + 20 * i)) for i in range(6)]
    return rig_views(poses=poses)


@pytest.mark.parametrize("case, message", [
    ("unpaired", "--right: 7 photos or frames, but the left camera has 8"),
    ("sizes", "--right: the right camera's photos are 320x240, the left camera's 640x480"),
    ("blind", "right camera: 0 usable view(s) of 8"),
    ("few common", "stereo: 2 pair(s) of 8 where both cameras see the same points, need at least 3"),
    ("degenerate", "the board is parallel in all 6 views"),
    ("one camera twice", "stereo: the two cameras are 0.00 mm apart"),  # the left photos copied as the right
])
def test_bad_rigs_are_refused_in_one_line(case, message):
    left, right = _degenerate() if case == "degenerate" else rig_views(right_size=(320, 240) if case == "sizes" else SIZE)
    if case == "unpaired":
        right = right[:-1]
    if case == "one camera twice":
        right = [view_from_points(f"copy{i}.png", v.image_size, v.points) for i, v in enumerate(left)]
    if case == "blind":
        right = [view_from_points(v.name, SIZE, None, missing="no board found") for v in right]
    if case == "few common":  # from the third pair on, each camera sees its own half of the board
        left = left[:2] + [_keep(v, v.points.ids[:, 0] <= 3) for v in left[2:]]
        right = right[:2] + [_keep(v, v.points.ids[:, 0] >= 5) for v in right[2:]]
    with pytest.raises(SegmentyError) as info:
        calibrate_stereo(left, right, LAYOUT, held_out=False)
    assert message in str(info.value) and "\n" not in str(info.value)


RENDERED_POSES = [((0.1, -0.2, 0.05), (-60, -60, 520)), ((-0.4, 0.1, 0.2), (-90, -70, 560)),
                  ((0.3, 0.4, -0.1), (-40, -70, 500)), ((0.0, -0.5, 0.3), (-20, -60, 540)),
                  ((0.5, 0.0, -0.3), (-80, -40, 560))]


def rendered_rig(folder, poses=RENDERED_POSES):
    """Photos of the sheet seen by the rig (no lens distortion: a homography each) in
    folder/left and folder/right; an ExactPredictor for them."""
    import segmenty
    from .test_calibrate import ExactPredictor

    from segmenty.predict import geometry as geo
    from segmenty.predict import grid_layout

    pattern = segmenty.load_pattern("chessboard:10x7:25", dpi=60)
    sheet = grid_layout(pattern)
    px_per_mm = pattern.image.shape[1] / pattern.size_mm[0]
    first = sheet.sheet_xy[0]
    to_mm = np.array([[1 / px_per_mm, 0, -first[0] / px_per_mm], [0, 1 / px_per_mm, -first[1] / px_per_mm], [0, 0, 1]])
    truths = {}
    for side, camera, (rot_rig, t_rig) in (("left", K, (np.eye(3), np.zeros(3))), ("right", K2, (RIG_R, RIG_T))):
        (folder / side).mkdir()
        for i, (rvec, tvec) in enumerate(poses):
            rot = rot_rig @ cv2.Rodrigues(np.array(rvec, float))[0]
            t = rot_rig @ np.array(tvec, float) + t_rig
            hom = camera @ np.column_stack([rot[:, 0], rot[:, 1], t]) @ to_mm
            photo = cv2.warpPerspective(pattern.image, hom, SIZE, flags=cv2.INTER_AREA, borderValue=(90, 90, 90))
            truths[photo.tobytes().__hash__()] = geo.project(hom, sheet.sheet_xy)
            cv2.imwrite(str(folder / side / f"{side}{i}.png"), cv2.cvtColor(photo, cv2.COLOR_RGB2BGR))
    return ExactPredictor(truths)


def test_run_stereo_writes_the_rig_and_both_cameras(tmp_path):
    """The whole job on rendered photos of a rig."""
    import json

    from segmenty.calib import run_stereo

    poses = RENDERED_POSES
    report = run_stereo([tmp_path / "left"], [tmp_path / "right"], LAYOUT, rendered_rig(tmp_path), tmp_path / "out")
    assert len(report.stereo.used) == len(poses) and report.stereo.rms < 0.3
    assert np.linalg.norm(report.stereo.T.ravel() - RIG_T) / np.linalg.norm(RIG_T) < 0.02
    out = tmp_path / "out"
    for name in ("stereo.json", "stereo.yaml", "rectified.png", "comparison.md", "left/camera.json",
                 "left/camera_info.yaml", "left/camera.cameramodel", "right/camera_info.yaml", "right/crossval.png"):
        assert (out / name).stat().st_size > 0, name
    data = json.loads((out / "stereo.json").read_text())
    assert data["pairs_used"] == len(poses) and np.allclose(data["R"], report.stereo.R, atol=1e-6)
    assert "| pairs used | 5 of 5 |" in report.table()
    fs = cv2.FileStorage(str(out / "stereo.yaml"), cv2.FILE_STORAGE_READ)
    assert np.allclose(fs.getNode("T").mat().ravel(), report.stereo.T.ravel()) and fs.getNode("P2").mat().shape == (3, 4)
    fs.release()


@pytest.mark.parametrize("case", ["one folder for both", "one photo in both"])
def test_the_same_files_for_both_cameras_are_refused_before_any_work(tmp_path, case):
    from segmenty.calib import run_stereo

    for name in ("left0.png", "right0.png"):
        cv2.imwrite(str(tmp_path / name), np.zeros((48, 64, 3), np.uint8))
    if case == "one folder for both":
        left, right = [tmp_path], [tmp_path]
    else:  # the same file by two names
        left, right = [tmp_path / "left0.png"], [tmp_path / "right0.png", tmp_path / "sub" / ".." / "left0.png"]
        (tmp_path / "sub").mkdir()
    with pytest.raises(SegmentyError) as info:
        run_stereo(left, right, LAYOUT, predictor=None, out=tmp_path / "out")  # no predictor: nothing detected
    assert "left0.png: also given for the left camera" in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("case, first", [("shifted by one", "left0.png + right1.png"), ("reversed", "left0.png + right7.png")])
def test_photos_that_do_not_pair_up_are_refused_and_each_camera_kept(case, first):
    """Right photos not taken with the left ones fit no one pose (no pair stands out from a
    median of bad pairs): refused in one line, the cameras solved on their own views intact
    (a joint refinement on such pairs made a 534 px camera 1995 px, OpenCV's sample rig)."""
    left, right = rig_views()
    right = right[1:] + right[:1] if case == "shifted by one" else right[::-1]
    with pytest.raises(RigRefused) as info:
        calibrate_stereo(left, right, LAYOUT, held_out=False)
    message = str(info.value)
    assert message.startswith("stereo: the left and right photos do not pair up") and "\n" not in message
    assert f"the first pair far off: {first}, at " in message
    for camera, truth in ((info.value.left, K), (info.value.right, K2)):
        assert camera.camera_matrix[0, 0] == pytest.approx(truth[0, 0], rel=0.01) and camera.rms < 0.2


def test_a_pair_that_does_not_match_among_good_ones_is_dropped():
    left, right = rig_views()
    right[2], right[5] = right[5], right[2]  # two right photos swapped: two pairs that do not match
    stereo = calibrate_stereo(left, right, LAYOUT, held_out=False)
    unused = {n: p["reason"] for n, p in stereo.pairs.items() if not p["used"]}
    assert sorted(unused) == ["left2.png + right5.png", "left5.png + right2.png"]
    assert all(r.startswith("stereo reprojection error") for r in unused.values())
    assert np.linalg.norm(stereo.T.ravel() - RIG_T) / np.linalg.norm(RIG_T) < 0.005 and stereo.rms < 0.2


def test_a_joint_refinement_that_worsens_a_camera_is_not_kept(monkeypatch):
    """A refinement that fits the pairs as well but moves a camera off its own views keeps
    neither its pose nor its cameras."""
    solve = stereo_module._stereo_solve

    def wrecking(data, left, right, joint=False):
        rms, R, T, E, F, k1, d1, k2, d2 = solve(data, left, right, joint)
        return (rms, R, T, E, F, k1 * [[1.3], [1.3], [1]], d1, k2, d2) if joint else (rms, R, T, E, F, k1, d1, k2, d2)

    left, right = rig_views()
    own = calibrate_stereo(left, right, LAYOUT, held_out=False, joint=False)
    monkeypatch.setattr(stereo_module, "_stereo_solve", wrecking)
    stereo = calibrate_stereo(left, right, LAYOUT, held_out=False)
    assert not stereo.joint and np.allclose(stereo.left.camera_matrix, own.left.camera_matrix)
    assert stereo.left.rms == own.left.rms and np.allclose(stereo.T, own.T)


def test_run_stereo_keeps_each_camera_when_the_rig_is_refused(tmp_path):
    import json

    from segmenty.calib import run_stereo

    predictor = rendered_rig(tmp_path)
    left = sorted((tmp_path / "left").glob("*.png"))
    right = sorted((tmp_path / "right").glob("*.png"))
    with pytest.raises(SegmentyError) as info:
        run_stereo(left, right[1:] + right[:1], LAYOUT, predictor, tmp_path / "out")
    message = str(info.value)
    assert "do not pair up" in message and f"each camera's own calibration is in {tmp_path / 'out' / 'left'}" in message
    assert not (tmp_path / "out" / "stereo.json").exists()
    for side, truth in (("left", K), ("right", K2)):
        camera = json.loads((tmp_path / "out" / side / "camera.json").read_text())
        assert camera["camera_matrix"][0][0] == pytest.approx(truth[0, 0], rel=0.02)
        ros = yaml.safe_load((tmp_path / "out" / side / "camera_info.yaml").read_text())
        assert ros["rectification_matrix"]["data"] == np.eye(3).ravel().tolist()  # a single camera's, no rig's


def test_opencv_without_a_rig_says_why_once():
    from segmenty.calib import CalibrationReport, StereoReport

    left, right = rig_views()
    stereo = calibrate_stereo(left, right, LAYOUT, held_out=False)
    why = "stereo: 2 pair(s) of 8 where both cameras see the same points, need at least 3"
    cameras = {side: CalibrationReport(getattr(stereo, side), views, None, views, "findChessboardCornersSB", why, [])
               for side, views in (("left", left), ("right", right))}
    table = StereoReport(stereo, None, "findChessboardCornersSB", why, cameras, [], {}).table()
    assert table.count(why) == 1 and "| stereo RMS (px) | 0." in table
