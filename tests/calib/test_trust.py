"""How far to trust a calibration and the files other tools load (segmenty.calib): the
cross-validation difference, the views chosen for sharpness and coverage, ROS camera_info,
Kalibr camchain and mrcal .cameramodel files (loaded by mrcal itself where it is installed)."""
from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import warnings

import pytest
import yaml

from segmenty.calib import Calibration, calibrate_views, view_from_points
from segmenty.calib.crossval import cross_validation, projection_difference
from segmenty.calib.formats import kalibr_camchain, kalibr_problem, write_formats
from segmenty.calib.select import board_blur, drop_blurred, select_views
from segmenty.calib.stereo import calibrate_stereo
from segmenty.predict import GridPoints

from .test_calibrate import DIST, K, LAYOUT, POSES, SIZE, projected_view, rendered_photos, views
from .test_stereo import RIG_R, RIG_T, rig_views

SYSTEM_PYTHON = "/usr/bin/python3"


def camera(k3=0.0, model="pinhole"):
    dist = np.array([-0.28, 0.09, 0.0005, -0.0003, k3]) if model == "pinhole" else np.array([0.05, -0.01, 0.002, 0.0])
    return Calibration(model, SIZE, K.copy(), dist, 0.1, {})


# -- cross-validation and standard deviations ------------------------------------------------

def test_projection_difference_ignores_a_rotation_and_sees_the_lens():
    a = camera()
    assert projection_difference(a, a).max() < 1e-6
    shifted = replace(a, camera_matrix=a.camera_matrix + [[0, 0, 2], [0, 0, 0], [0, 0, 0]])
    diff = projection_difference(a, shifted)
    assert np.median(diff[20:40, 30:50]) < 0.05  # a principal point 2 px off near the centre: a small rotation
    lens = replace(a, dist_coeffs=a.dist_coeffs + [0.01, 0, 0, 0, 0])
    diff = projection_difference(a, lens)
    assert diff[0, 0] > 1.0 and diff[diff.shape[0] // 2, diff.shape[1] // 2] < 0.05  # k1: the corners move


def test_cross_validation_and_deviations_grow_where_views_are_few():
    vs = views(noise=0.1) + [projected_view(f"extra{i}", r, (t[0] + 15, t[1] + 10, t[2] + 30), noise=0.1, seed=20 + i)
                             for i, (r, t) in enumerate(POSES)]
    cal = calibrate_views(vs, LAYOUT, held_out=False)
    result = cross_validation(cal, vs, LAYOUT)
    assert len(result["halves"][0]) == len(result["halves"][1]) == len(POSES)
    assert 0 <= result["centre"] < result["border"] < result["corners"] < 5
    few = calibrate_views(vs[:4], LAYOUT, held_out=False)
    assert few.std["fx"] > cal.std["fx"] > 0 and set(cal.std) == {"fx", "fy", "cx", "cy", "k1", "k2", "p1", "p2", "k3"}


def _breathing_views(seed):
    """POSES seen by a camera whose focal length and principal point move a little from view
    to view (focus breathing: 0.4% and 1.5 px), so the views' errors are not independent point
    noise, which OpenCV's standard deviations assume."""
    rng = np.random.default_rng(seed)
    obj = LAYOUT.object_points(LAYOUT.ids).astype(np.float64)
    out = []
    for i, (rvec, tvec) in enumerate(POSES):
        k = K.copy()
        k[:2, :2] *= 1 + rng.normal(0, 0.004)
        k[:2, 2] += rng.normal(0, 1.5, 2)
        img = cv2.projectPoints(obj, np.array(rvec, float), np.array(tvec, float), k, DIST)[0].reshape(-1, 2)
        img += rng.normal(0, 0.05, img.shape)
        inside = (img >= 0).all(axis=1) & (img[:, 0] <= SIZE[0] - 1) & (img[:, 1] <= SIZE[1] - 1)
        out.append(view_from_points(f"view{i}", SIZE, GridPoints(img[inside], LAYOUT.ids[inside], np.ones(inside.sum()),
                                                                 LAYOUT.grid, not inside.all(), "squares")))
    return out


def test_stated_std_is_the_spread_over_views_where_opencvs_is_overconfident():
    """Over many sessions, the focal length found varies as the stated std says (the
    jackknife over views), not as OpenCV's formal std (which is 2.4x too small here)."""
    found = [calibrate_views(_breathing_views(seed), LAYOUT) for seed in range(12)]
    actual = np.std([c.camera_matrix[0, 0] for c in found], ddof=1)
    stated, formal = np.mean([c.std["fx"] for c in found]), np.mean([c.std_formal["fx"] for c in found])
    assert formal < 0.6 * actual and 0.7 * actual < stated < 1.5 * actual
    assert all(c.std[k] >= c.std_formal[k] for c in found for k in c.std_formal)
    few = calibrate_views(views(noise=0.1)[:3], LAYOUT)  # no view can be left out: OpenCV's alone
    assert few.std == few.std_formal


@pytest.mark.parametrize("case", ["trusted", "halves apart", "bare border", "too few views"])
def test_trust_warnings(case):
    from segmenty.calib.job import CalibrationReport, check_trust

    vs = views(noise=0.1)
    cal = calibrate_views(vs, LAYOUT)
    cross = {id(cal): cross_validation(cal, vs, LAYOUT)}
    if case == "halves apart":  # the udacity photos' halves with OpenCV's std of their 20 views
        cal.std.update(fx=2.08, fy=2.02, cx=2.56, cy=1.93)
        cross[id(cal)]["intrinsics"].update(fx=(1139.0, 1163.7))
    if case == "bare border":
        cal.coverage["border"] = 0.016
    if case == "too few views":
        cross[id(cal)] = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_trust(CalibrationReport(cal, vs, None, None, "", None, [], cross), "left camera: ")
    messages = [str(w.message) for w in caught]
    expected = {"trusted": [], "halves apart": ["left camera: cross-validation: the two halves of the views give fx "
                                                "1139.0 vs 1163.7 px, 5.9x the 4.16 px their std 2.08 px allows"],
                "bare border": ["left camera: the points cover 1.6% (segmenty) of the image's outer 10% band"],
                "too few views": ["left camera: no cross-validation from 8 views (segmenty)"]}[case]
    assert len(messages) == len(expected) and all(m.startswith(e) for m, e in zip(messages, expected))
    assert all("\n" not in m for m in messages)


# -- views chosen from many --------------------------------------------------------------------

def test_blurred_boards_are_measured_and_dropped(tmp_path):
    truths = rendered_photos(tmp_path)
    photos = sorted(tmp_path.glob("view*.png"))[:4]
    found, blurs = [], []
    for i, path in enumerate(photos):
        rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        if i == 3:  # motion blur along x, 9 px
            gray = cv2.filter2D(gray, -1, np.full((1, 9), 1 / 9))
        view = view_from_points(str(path), SIZE, truths_view(truths, rgb))
        view.blur = board_blur(gray, view)
        found.append(view)
        blurs.append(view.blur)
    assert max(blurs[:3]) < 2.5 < 5 < blurs[3]
    kept = drop_blurred(found)
    assert [v.usable for v in kept] == [True, True, True, False] and "blurred" in kept[3].reason


def truths_view(truths, rgb):
    from .test_calibrate import ExactPredictor

    return ExactPredictor(truths).predict(rgb).points


def test_chosen_views_cover_the_image_and_skip_repeats():
    base = views(noise=0.1)
    repeated = base + [projected_view(f"again{i}", *POSES[0], noise=0.1, seed=40 + i) for i in range(6)]
    chosen = select_views(repeated, 4, LAYOUT)
    used = [v.name for v in chosen if v.usable]
    assert len(used) == 4 and sum(n.startswith("again") or n == "view0" for n in used) <= 1
    assert all(v.reason.startswith("not chosen") for v in chosen if not v.usable)


# -- the files other tools load ------------------------------------------------------------------

def test_ros_camera_info_follows_its_schema(tmp_path):
    written, skipped = write_formats(camera(), tmp_path, "cam")
    info = yaml.safe_load((tmp_path / "camera_info.yaml").read_text())
    assert set(info) == {"image_width", "image_height", "camera_name", "camera_matrix", "distortion_model",
                         "distortion_coefficients", "rectification_matrix", "projection_matrix"}
    for key, shape in (("camera_matrix", (3, 3)), ("rectification_matrix", (3, 3)), ("projection_matrix", (3, 4)),
                       ("distortion_coefficients", (1, 5))):
        assert (info[key]["rows"], info[key]["cols"]) == shape and len(info[key]["data"]) == shape[0] * shape[1]
    assert info["distortion_model"] == "plumb_bob" and (info["image_width"], info["image_height"]) == SIZE
    assert np.allclose(np.reshape(info["projection_matrix"]["data"], (3, 4))[:, :3], K)
    fisheye, _ = write_formats(camera(model="fisheye"), tmp_path / "f" if (tmp_path / "f").mkdir() is None else None)
    assert yaml.safe_load((tmp_path / "f" / "camera_info.yaml").read_text())["distortion_model"] == "equidistant"


def test_ros_camera_info_of_a_rig_is_in_metres(tmp_path):
    """ROS (REP 103, camera_calibration) reads a rig camera's Tx = -fx' * baseline in metres."""
    left, right = rig_views()
    stereo = calibrate_stereo(left, right, LAYOUT, held_out=False)
    rect = stereo.rectification
    write_formats(stereo.right, tmp_path, "right", (rect["R2"], rect["P2"]), (stereo.R, stereo.T))
    projection = np.reshape(yaml.safe_load((tmp_path / "camera_info.yaml").read_text())["projection_matrix"]["data"],
                            (3, 4))
    assert np.allclose(projection[:, :3], rect["P2"][:, :3])
    assert projection[0, 3] == pytest.approx(-projection[0, 0] * np.linalg.norm(RIG_T) / 1000, rel=0.005)


def test_kalibr_camchain_is_written_only_where_its_model_fits(tmp_path):
    assert kalibr_problem(camera()) == "" and "k3" in kalibr_problem(camera(k3=0.2))
    assert "rational" in kalibr_problem(replace(camera(), model="rational", dist_coeffs=np.zeros(8)))
    _, skipped = write_formats(camera(k3=0.2), tmp_path)
    assert "camchain.yaml" in skipped and not (tmp_path / "camchain.yaml").exists()
    chain = yaml.safe_load(kalibr_camchain([camera(), camera()], [(RIG_R, RIG_T)]))
    assert set(chain) == {"cam0", "cam1"} and chain["cam0"]["distortion_model"] == "radtan"
    assert chain["cam1"]["cam_overlaps"] == [0] and chain["cam0"]["intrinsics"] == [K[0, 0], K[1, 1], K[0, 2], K[1, 2]]
    pose = np.array(chain["cam1"]["T_cn_cnm1"])
    assert np.allclose(pose[:3, :3], RIG_R) and np.allclose(pose[:3, 3], RIG_T / 1000) and list(pose[3]) == [0, 0, 0, 1]


def _mrcal(script: str) -> dict:
    if not (Path(SYSTEM_PYTHON).exists() and subprocess.run([SYSTEM_PYTHON, "-c", "import mrcal"],
                                                            capture_output=True).returncode == 0):
        pytest.skip("mrcal is not installed for /usr/bin/python3 (apt-get install python3-mrcal)")
    done = subprocess.run([SYSTEM_PYTHON, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_mrcal_loads_the_rig_and_projects_as_opencv(tmp_path):
    left, right = rig_views()
    stereo = calibrate_stereo(left, right, LAYOUT, held_out=False)
    rect = stereo.rectification
    for side, cal, r, pose in (("left", stereo.left, ("R1", "P1"), (np.eye(3), np.zeros(3))),
                               ("right", stereo.right, ("R2", "P2"), (stereo.R, stereo.T))):
        (tmp_path / side).mkdir()
        written, _ = write_formats(cal, tmp_path / side, side, (rect[r[0]], rect[r[1]]), pose)
        assert tmp_path / side / "camera.cameramodel" in written
    points = np.array([[0.05, -0.03, 0.5], [-0.2, 0.1, 0.8], [0.3, 0.2, 1.2]])  # metres, left camera's frame
    out = _mrcal(f"""
import json, mrcal, numpy as np
p = np.array({points.tolist()})
out = {{}}
for side in ("left", "right"):
    m = mrcal.cameramodel("{tmp_path}/" + side + "/camera.cameramodel")
    q = mrcal.project(mrcal.transform_point_Rt(m.extrinsics_Rt_fromref(), p), *m.intrinsics())
    out[side] = {{"q": q.tolist(), "lensmodel": m.intrinsics()[0], "Rt": m.extrinsics_Rt_fromref().tolist()}}
print(json.dumps(out))
""")
    assert out["left"]["lensmodel"] == "LENSMODEL_OPENCV5"
    for side, cal, R, T in (("left", stereo.left, np.eye(3), np.zeros(3)), ("right", stereo.right, stereo.R,
                                                                               stereo.T.ravel() / 1000)):
        expected = cv2.projectPoints(points, cv2.Rodrigues(R)[0], T, cal.camera_matrix, cal.dist_coeffs)[0]
        assert np.abs(np.array(out[side]["q"]) - expected.reshape(-1, 2)).max() < 1e-6
    assert np.allclose(np.array(out["right"]["Rt"])[3], stereo.T.ravel() / 1000)
