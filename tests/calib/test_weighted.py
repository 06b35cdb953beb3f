"""Each point's uncertainty and the solver weighted by it (segmenty.calib.weighted): the sigma
grows with blur and noise; known sigmas, or views of unequal quality, give a camera nearer the
truth than the same points weighted alike; equal sigmas leave OpenCV's camera."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from .test_calibrate import K, LAYOUT, POSES, ExactPredictor, projected_view, rendered_photos

from segmenty.calib import calibrate_views, run_calibration
from segmenty.errors import SegmentyError
from segmenty.calib.weighted import MODEL_SIGMA_PX, image_noise, point_sigma


def corner_image(contrast=160.0, blur=0.0, motion=0, noise=0.0, seed=0):
    """64x64 grey: four squares meeting at (32, 32), blurred and noised as asked."""
    img = np.full((64, 64), 128 - contrast / 2, np.float32)
    img[:32, :32] = img[32:, 32:] = 128 + contrast / 2
    if blur:
        img = cv2.GaussianBlur(img, (0, 0), blur)
    if motion:
        img = cv2.filter2D(img, -1, np.full((1, motion), 1.0 / motion, np.float32))
    img = img + np.random.default_rng(seed).normal(0, noise, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def _sigma(image):
    return float(point_sigma(image, np.array([[31.5, 31.5], [31.5, 31.5 + 24]]))[0])


def test_noise_estimate_reads_the_added_noise():
    smooth = np.tile(np.linspace(40, 200, 256, dtype=np.float32), (256, 1))
    noisy = np.clip(smooth + np.random.default_rng(1).normal(0, 6.0, smooth.shape), 0, 255).astype(np.uint8)
    assert image_noise(noisy) == pytest.approx(6.0, rel=0.15)
    assert image_noise(smooth.astype(np.uint8)) < 1.0


def test_sigma_grows_with_blur_noise_and_lost_contrast():
    sharp = _sigma(corner_image(noise=2.0))
    assert sharp >= MODEL_SIGMA_PX
    assert _sigma(corner_image(noise=8.0)) > sharp
    assert _sigma(corner_image(noise=8.0, blur=3.0)) > _sigma(corner_image(noise=8.0))
    assert _sigma(corner_image(noise=8.0, motion=9)) > _sigma(corner_image(noise=8.0))
    assert _sigma(corner_image(noise=8.0, contrast=30)) > _sigma(corner_image(noise=8.0))


def test_a_point_without_gradients_is_trusted_like_the_least_trusted():
    image = corner_image(noise=4.0)
    image[:, 48:] = 128  # flat: nothing to locate a point by
    sigma = point_sigma(image, np.array([[31.5, 31.5], [58.0, 50.0], [20.0, 31.5]]))
    assert np.isfinite(sigma).all() and sigma[1] == sigma.max()


def _noisy_views(seed, per_point: bool):
    """The known camera's views with unequal noise: per point (30% of points 1 px, the rest
    0.05 px, each point's sigma known) or per view (every other view 0.8 px, the sigmas all
    alike: the solver must find out which views stray)."""
    views = []
    for i, (r, t) in enumerate(POSES):
        v = projected_view(f"v{i}", r, t, seed=i)
        rng = np.random.default_rng(seed * 1000 + i)
        n = len(v.points)
        noise = np.where(rng.random(n) < 0.3, 1.0, 0.05) if per_point else np.full(n, 0.8 if i % 2 else 0.05)
        v.points.xy = v.points.xy + rng.normal(0, 1, (n, 2)) * noise[:, None]
        v.sigma = np.hypot(noise, MODEL_SIGMA_PX) if per_point else np.full(n, MODEL_SIGMA_PX)
        views.append(v)
    return views


def _errors(views, weighted):
    cal = calibrate_views(views, LAYOUT, held_out=False, reject_outliers=False, weighted=weighted)
    assert cal.weighted == weighted
    return abs(cal.focal[0] / K[0, 0] - 1), float(np.abs(np.array(cal.principal_point) - K[:2, 2]).max())


@pytest.mark.parametrize("per_point", [True, False], ids=["known point sigmas", "views of unequal quality"])
def test_weighting_brings_the_camera_nearer_the_truth(per_point):
    weighted, plain = [], []
    for seed in range(4):
        views = _noisy_views(seed, per_point)
        weighted.append(_errors(views, True))
        plain.append(_errors(views, False))
    weighted, plain = np.mean(weighted, axis=0), np.mean(plain, axis=0)
    assert weighted[0] < 0.6 * plain[0] and weighted[1] < 0.6 * plain[1]


def test_equal_sigmas_leave_opencvs_camera():
    views = [projected_view(f"v{i}", r, t, noise=0.1, seed=i) for i, (r, t) in enumerate(POSES)]
    for v in views:
        v.sigma = np.full(len(v.points), 0.3)
    weighted = calibrate_views(views, LAYOUT, held_out=False, weighted=True)
    plain = calibrate_views(views, LAYOUT, held_out=False)
    assert weighted.focal == pytest.approx(plain.focal, rel=1e-4)
    assert weighted.rms == pytest.approx(plain.rms, rel=1e-3)
    assert weighted.std["fx"] == pytest.approx(plain.std["fx"], rel=0.05)  # the same fit, the same trust


def test_a_weighted_solve_needs_every_views_sigmas():
    views = _noisy_views(0, True)
    views[2].sigma = None
    with pytest.raises(SegmentyError, match="v2: its points carry no sigma"):
        calibrate_views(views, LAYOUT, weighted=True)
    assert not calibrate_views(views, LAYOUT, "fisheye", weighted=True).weighted  # OpenCV's fisheye solver


@pytest.mark.parametrize("weighted", [True, False])
def test_the_job_measures_every_points_sigma_and_weights_when_asked(tmp_path, weighted):
    folder = tmp_path / "photos"
    folder.mkdir()
    truths = rendered_photos(folder)
    report = run_calibration([folder], LAYOUT, ExactPredictor(truths), tmp_path / "out", weighted=weighted)
    assert report.calibration.weighted == weighted and report.opencv.weighted == weighted
    assert all(v.sigma is not None for v in report.views + report.opencv_views if v.usable)
    records = json.loads((tmp_path / "out" / "points.json").read_text())["views"]
    assert records and all(len(r["sigma_px"]) == len(r["ids"]) and min(r["sigma_px"]) >= MODEL_SIGMA_PX
                           for r in records)
    assert json.loads((tmp_path / "out" / "camera.json").read_text())["weighted"] == weighted
    assert report.calibration.camera_matrix[0, 0] == pytest.approx(K[0, 0], rel=0.02)


@pytest.mark.parametrize("flag, weighted", [([], False), (["--weighted"], True)])
def test_the_command_passes_weighted_on(monkeypatch, tmp_path, flag, weighted):
    import segmenty.calib
    from segmenty.cli import main

    seen = {}

    class Stop(Exception):
        pass

    def fake_run_calibration(*args, **kwargs):
        seen.update(kwargs)
        raise Stop

    monkeypatch.setattr(segmenty.calib, "run_calibration", fake_run_calibration)
    with pytest.raises(Stop):
        main(["calibrate", str(tmp_path), "--pattern", "chessboard:10x7", "--out", str(tmp_path / "o"), *flag])
    assert seen["weighted"] is weighted
