"""Camera calibration from views of a grid pattern, with OpenCV: `calibrate_views`.

The views' points and their ids become OpenCV's image and object points (the pattern's own
geometry, in millimetres, z = 0; a partial view with relative ids is a board of its own, which
a planar calibration does not mind), and `cv2.calibrateCamera` (pinhole with OpenCV's 5
distortion coefficients, or its 8-coefficient rational model) or `cv2.fisheye.calibrate`
solves for the camera; `weighted` refines the pinhole and rational cameras with each point
weighted by its sigma (calib.weighted; off by default: measured no better on the real sets,
benchmarks/README.md). Views whose reprojection error stands far out (a wrong point, motion
blur) are dropped with the reason and the camera solved again.

The held-out error tells how well the camera predicts views it was not fitted to: each view is
left out in turn (k-fold for many views), the camera is fitted to the others, the left-out
view's pose is solved from its points with that camera (solvePnP) and its reprojection error
measured. The same fits give each intrinsic's spread over the views (a jackknife): OpenCV's
standard deviations assume every point's error independent and the model exact, and on the
real sets they are 1.4-6x smaller than the views' spread (the udacity set's fx: 2.1 px against
7.8 px, a bootstrap over its views 6.4 px), so the larger of the two is the stated `std`. Coverage says where the points fell: the union of each view's convex hull of points,
as a share of the image and of its outer 10% band (where lens distortion is strongest).
"""
from __future__ import annotations

import json
import math
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ..errors import SegmentyError, UsageError
from ..io import atomic_path, atomic_write_text
from ..patterns.grid import GridLayout
from .views import View, spec_hint, unusable_reasons
from .weighted import solve_weighted

CAMERA_MODELS = ("pinhole", "rational", "fisheye")
MIN_VIEWS = 3
# A view whose reprojection RMS is over OUTLIER_FACTOR times the median (and over
# OUTLIER_FLOOR_PX) is dropped and the camera solved again (at most OUTLIER_ROUNDS times).
OUTLIER_FACTOR = 3.0
OUTLIER_FLOOR_PX = 1.0
OUTLIER_ROUNDS = 2
# Leave-one-view-out up to this many views, else this many folds.
MAX_LEAVE_ONE_OUT = 30
BORDER_BAND = 0.10
# A printed board's points fit within about 1 px (0.16-0.92 px on the real sets,
# benchmarks/README.md); a pattern spec that does not match the board (its inner corners
# counted instead of its squares) fit OpenCV's stereo samples at 4 px to 1e43 px.
MAX_PLAUSIBLE_RMS_PX = 2.0
# The views' board normals must differ by this much (degrees) somewhere.
MIN_ATTITUDE_SPREAD = 5.0
FORMAT = "segmenty-camera-1"


@dataclass
class Calibration:
    """A solved camera.

    model:          pinhole | rational | fisheye.
    image_size:     (width, height).
    camera_matrix:  3×3 K.
    dist_coeffs:    OpenCV's order: k1 k2 p1 p2 k3 (pinhole), k1 k2 p1 p2 k3 k4 k5 k6
                    (rational), k1 k2 k3 k4 (fisheye).
    rms:            reprojection RMS over every point used (px).
    views:          name -> {"used": bool, "points", "rms" | "reason", "held_out_rms", ...}.
    held_out_rms:   the reprojection RMS of views left out of the fit (px; None if not run).
    coverage:       {"image": share of the image inside some view's hull of points,
                     "border": share of the image's outer 10% band}.
    std:            one standard deviation of each intrinsic parameter (fx, fy, cx, cy, then
                    the distortion terms): the larger of `std_formal` and the jackknife over
                    the held-out fits' cameras (module doc; with held_out, 4 views or more).
    std_formal:     OpenCV's own: cv2.calibrateCameraExtended, scaled by the fit's residual
                    (from the weighted Jacobian when the points were weighted); empty for the
                    fisheye model (OpenCV gives none).
    weighted:       whether each point was weighted by its sigma (calib.weighted).
    """

    model: str
    image_size: tuple[int, int]
    camera_matrix: np.ndarray
    dist_coeffs: np.ndarray
    rms: float
    views: dict[str, dict]
    held_out_rms: float | None = None
    coverage: dict = field(default_factory=dict)
    std: dict = field(default_factory=dict)
    std_formal: dict = field(default_factory=dict)
    weighted: bool = False
    rvecs: list = field(default_factory=list, repr=False)
    tvecs: list = field(default_factory=list, repr=False)

    @property
    def used(self) -> list[str]:
        return [n for n, v in self.views.items() if v["used"]]

    @property
    def points_used(self) -> int:
        return int(sum(v["points"] for v in self.views.values() if v["used"]))

    @property
    def focal(self) -> tuple[float, float]:
        return float(self.camera_matrix[0, 0]), float(self.camera_matrix[1, 1])

    @property
    def principal_point(self) -> tuple[float, float]:
        return float(self.camera_matrix[0, 2]), float(self.camera_matrix[1, 2])

    def summary(self) -> dict:
        """The figures a side-by-side compares."""
        return {"views_used": len(self.used), "views": len(self.views), "points_used": self.points_used,
                "coverage_image": round(self.coverage.get("image", 0.0), 4),
                "coverage_border": round(self.coverage.get("border", 0.0), 4),
                "rms": round(self.rms, 4),
                "held_out_rms": None if self.held_out_rms is None else round(self.held_out_rms, 4),
                "fx": round(self.focal[0], 2), "fy": round(self.focal[1], 2),
                "cx": round(self.principal_point[0], 2), "cy": round(self.principal_point[1], 2),
                **{f"std_{k}": round(v, 4) for k, v in self.std.items()}}

    def to_dict(self) -> dict:
        """camera.json: what an OpenCV user loads (camera_matrix, dist_coeffs, image_size)."""
        w, h = self.image_size
        return {"format": FORMAT, "model": self.model, "image_size": [int(w), int(h)],
                "camera_matrix": np.round(self.camera_matrix, 6).tolist(),
                "dist_coeffs": np.round(self.dist_coeffs.ravel(), 8).tolist(),
                "dist_order": _dist_order(self.model),
                "rms": round(self.rms, 4), "weighted": self.weighted,
                "held_out_rms": None if self.held_out_rms is None else round(self.held_out_rms, 4),
                "coverage": {k: round(v, 4) for k, v in self.coverage.items()},
                "std": {k: round(v, 6) for k, v in self.std.items()},
                "std_formal": {k: round(v, 6) for k, v in self.std_formal.items()},
                "views_used": len(self.used), "points_used": self.points_used, "views": self.views}


def _dist_order(model: str) -> list[str]:
    return {"pinhole": ["k1", "k2", "p1", "p2", "k3"],
            "rational": ["k1", "k2", "p1", "p2", "k3", "k4", "k5", "k6"],
            "fisheye": ["k1", "k2", "k3", "k4"]}[model]


def intrinsic_names(model: str) -> list[str]:
    """fx, fy, cx, cy, then the model's distortion terms (std's keys)."""
    return ["fx", "fy", "cx", "cy"] + _dist_order(model)


def focal_and_centre(camera_matrix: np.ndarray) -> dict[str, float]:
    """fx, fy, cx, cy of a 3×3 camera matrix."""
    return {"fx": float(camera_matrix[0, 0]), "fy": float(camera_matrix[1, 1]), "cx": float(camera_matrix[0, 2]),
            "cy": float(camera_matrix[1, 2])}


def correspondences(view: View, layout: GridLayout) -> tuple[np.ndarray, np.ndarray]:
    """(object points N×3 float32 in mm, image points N×2 float32) of a usable view."""
    return layout.object_points(view.points.ids), view.points.xy.astype(np.float32)


def calibrate_views(views: list[View], layout: GridLayout, model: str = "pinhole", held_out: bool = True,
                    reject_outliers: bool = True, weighted: bool = False) -> Calibration:
    """Solve the camera from the usable views (see the module doc); with `weighted`, each
    point weighted by its sigma (View.sigma, measured on every view; calib.weighted).
    SegmentyError when fewer than MIN_VIEWS views are usable, a view lacks its sigmas for a
    weighted solve or the solver fails; the message names the views."""
    if model not in CAMERA_MODELS:
        raise UsageError(f"--camera {model}: unknown camera model (valid: {', '.join(CAMERA_MODELS)})")
    sizes = {v.image_size for v in views if v.usable}
    if len(sizes) > 1:
        first = next(v for v in views if v.usable)
        other = next(v for v in views if v.usable and v.image_size != first.image_size)
        # Photos one pixel larger (some cameras' odd frames) are the same camera.
        if max(abs(a - b) for a, b in zip(first.image_size, other.image_size)) > 2:
            raise SegmentyError(f"{other.name}: is {other.image_size[0]}x{other.image_size[1]}, but {first.name} is "
                                f"{first.image_size[0]}x{first.image_size[1]}; calibrate one camera (one photo size) "
                                "at a time")
    records = {v.name: ({"used": False, "reason": v.reason} if not v.usable else
                        {"used": True, "points": len(v.points), "partial": v.points.partial,
                         "identity": v.points.identity}) for v in views}
    usable = [v for v in views if v.usable]
    weighted = weighted and model != "fisheye"  # OpenCV's fisheye solver stays unweighted (module doc)
    unmeasured = [v.name for v in usable if v.sigma is None] if weighted else []
    if unmeasured:
        raise SegmentyError(f"{unmeasured[0]}: its points carry no sigma to weight by (weighted.point_sigma)")
    image_size = Counter(v.image_size for v in usable).most_common(1)[0][0] if usable else (0, 0)
    for _ in range(OUTLIER_ROUNDS + 1):
        _check_enough(usable, views, layout)
        result = _solve(usable, layout, model, image_size, weighted)
        errors = _per_view_rms(usable, layout, model, result)
        median = float(np.median(errors))
        limit = max(OUTLIER_FLOOR_PX, OUTLIER_FACTOR * median)
        outliers = [v for v, e in zip(usable, errors) if e > limit] if reject_outliers else []
        if not outliers or len(usable) - len(outliers) < MIN_VIEWS:
            break
        for v, e in zip(usable, errors):
            if e > limit:
                records[v.name] = {"used": False, "points": len(v.points),
                                   "reason": f"reprojection error {e:.2f} px, over {OUTLIER_FACTOR:g}x the "
                                             f"median {median:.2f} px"}
        usable = [v for v, e in zip(usable, errors) if e <= limit]
    rms, camera, dist, rvecs, tvecs, std = result
    _check_attitudes(rvecs, len(usable))
    for v, e in zip(usable, errors):
        records[v.name]["rms"] = round(float(e), 4)
    calibration = Calibration(model, image_size, camera, dist, float(rms), records, std=std, std_formal=std,
                              rvecs=list(rvecs), tvecs=list(tvecs), weighted=weighted)
    calibration.coverage = coverage(usable, image_size)
    if held_out:
        folds = _fold_fits(usable, layout, model, image_size, weighted)
        calibration.held_out_rms = _held_out(folds, layout, model, records)
        calibration.std = _larger(std, _jackknife_std(folds, model))
    return calibration


def _check_enough(usable: list[View], views: list[View], layout: GridLayout) -> None:
    if len(usable) >= MIN_VIEWS:
        return
    reasons, hint = unusable_reasons(views), spec_hint(views, layout)
    raise SegmentyError(f"calibrate: {len(usable)} usable view(s) of {len(views)}, need at least {MIN_VIEWS}"
                        + (f" ({reasons})" if reasons else "") + (f"; {hint}" if hint else ""))


def attitude_spread(rvecs) -> float:
    """The largest angle (degrees) between two views' board normals (the boards' attitudes
    in the camera's frame)."""
    normals = np.array([cv2.Rodrigues(np.asarray(r, np.float64).reshape(3, 1))[0][:, 2] for r in rvecs])
    return float(np.degrees(np.arccos(np.clip(normals @ normals.T, -1, 1))).max())


def _check_attitudes(rvecs, count: int) -> None:
    """Boards all parallel to each other (all face-on, say) leave the focal length undetermined
    (Zhang's degenerate case): the solver returns a camera, but a wrong one."""
    spread = attitude_spread(rvecs)
    if spread < MIN_ATTITUDE_SPREAD:
        raise SegmentyError(f"calibrate: the board is parallel in all {count} views (their attitudes differ by "
                            f"{spread:.1f} degrees at most, need {MIN_ATTITUDE_SPREAD:g}), so the focal length cannot "
                            "be found; add views with the board tilted 20-45 degrees from the others")


def _solve(views: list[View], layout: GridLayout, model: str, image_size: tuple[int, int], weighted: bool = False):
    """(rms, K, dist, rvecs, tvecs, std) from OpenCV's solver for the model; std names each
    intrinsic's standard deviation (calibrateCameraExtended; none for fisheye)."""
    obj, img = zip(*(correspondences(v, layout) for v in views))
    try:
        if model == "fisheye":
            flags = cv2.fisheye.CALIB_RECOMPUTE_EXTRINSIC | cv2.fisheye.CALIB_FIX_SKEW
            criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-9)
            rms, camera, dist, rvecs, tvecs = cv2.fisheye.calibrate(
                [o.reshape(1, -1, 3).astype(np.float64) for o in obj],
                [i.reshape(1, -1, 2).astype(np.float64) for i in img], image_size, None, None,
                flags=flags, criteria=criteria)
            std = {}
        else:
            flags = cv2.CALIB_RATIONAL_MODEL if model == "rational" else 0
            rms, camera, dist, rvecs, tvecs, deviations, _, _ = cv2.calibrateCameraExtended(
                list(obj), list(img), image_size, None, None, flags=flags)
            deviations = np.asarray(deviations).ravel()
            # OpenCV returns zeros for the terms the flags leave out (thin prism, tilt): keep the model's.
            dist = np.asarray(dist, np.float64).ravel()[:len(_dist_order(model))]
            if weighted:
                camera, dist, rvecs, tvecs, deviations = solve_weighted(obj, img, [v.sigma for v in views], camera,
                                                                        dist, rvecs, tvecs)
                rms = _rms(np.concatenate([project(o, r, t, camera, dist, model) for o, r, t in zip(obj, rvecs, tvecs)]),
                           np.concatenate(img))
            std = {n: float(d) for n, d in zip(intrinsic_names(model), deviations)}
    except cv2.error as exc:
        detail = " ".join(str(exc).split())[-160:]
        raise SegmentyError(f"calibrate: OpenCV's {model} solver failed on {len(views)} views ({detail}); "
                            "try more views, views at more angles, or another --camera model") from None
    if not np.isfinite(camera).all() or camera[0, 0] <= 0 or camera[1, 1] <= 0:
        raise SegmentyError(f"calibrate: the {model} solver returned no valid camera from {len(views)} views; "
                            "try more views at more angles")
    return float(rms), np.asarray(camera, np.float64), np.asarray(dist, np.float64).ravel(), rvecs, tvecs, std


def project(obj: np.ndarray, rvec, tvec, camera: np.ndarray, dist: np.ndarray, model: str) -> np.ndarray:
    """Object points -> image points with the model's projection."""
    if model == "fisheye":
        out, _ = cv2.fisheye.projectPoints(obj.reshape(1, -1, 3).astype(np.float64), rvec, tvec, camera, dist)
    else:
        out, _ = cv2.projectPoints(obj.astype(np.float64), rvec, tvec, camera, dist)
    return out.reshape(-1, 2)


UNDISTORT_CRITERIA = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-12)


def undistort(points: np.ndarray, camera: np.ndarray, dist: np.ndarray, R=None, P=None) -> np.ndarray:
    """N×2 px -> N×2 normalised (or, with P, new-camera px) points, iterated to convergence
    (cv2.undistortPoints' default 5 iterations leave up to 0.1 px under strong distortion)."""
    return cv2.undistortPoints(points.reshape(-1, 1, 2).astype(np.float64), camera, dist, None, R, P,
                               UNDISTORT_CRITERIA).reshape(-1, 2)


def _rms(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.sum((a - b) ** 2, axis=1))))


def _per_view_rms(views: list[View], layout: GridLayout, model: str, result) -> list[float]:
    _, camera, dist, rvecs, tvecs, _ = result
    out = []
    for v, r, t in zip(views, rvecs, tvecs):
        obj, img = correspondences(v, layout)
        out.append(_rms(project(obj, r, t, camera, dist, model), img))
    return out


def _pose(obj: np.ndarray, img: np.ndarray, camera: np.ndarray, dist: np.ndarray, model: str):
    if model == "fisheye":
        undistorted = cv2.fisheye.undistortPoints(img.reshape(1, -1, 2).astype(np.float64), camera, dist)
        ok, rvec, tvec = cv2.solvePnP(obj.astype(np.float64), undistorted.reshape(-1, 2), np.eye(3), None)
    else:
        ok, rvec, tvec = cv2.solvePnP(obj.astype(np.float64), img.astype(np.float64), camera, dist)
    return (rvec, tvec) if ok else None


def _fold_fits(views: list[View], layout: GridLayout, model: str, image_size: tuple[int, int],
               weighted: bool = False) -> list[tuple[list[View], np.ndarray, np.ndarray] | None]:
    """(left-out views, camera, dist) of each fold, the camera fitted to the other views (each
    view left out in turn up to MAX_LEAVE_ONE_OUT views, else 10 folds); None where that fit
    failed; [] with too few views to leave any out."""
    n = len(views)
    if n < MIN_VIEWS + 1:
        return []
    folds = n if n <= MAX_LEAVE_ONE_OUT else 10
    fits = []
    for fold in range(folds):
        train = [v for i, v in enumerate(views) if i % folds != fold]
        try:
            _, camera, dist, *_ = _solve(train, layout, model, image_size, weighted)
        except SegmentyError:
            fits.append(None)
            continue
        fits.append((views[fold::folds], camera, dist))
    return fits


def _held_out(folds: list, layout: GridLayout, model: str, records: dict) -> float | None:
    """Reprojection RMS of each view left out with its fold's camera (_fold_fits); per-view
    figures go into `records`."""
    squared, count = 0.0, 0
    for test, camera, dist in filter(None, folds):
        for v in test:
            obj, img = correspondences(v, layout)
            pose = _pose(obj, img, camera, dist, model)
            if pose is None:
                continue
            projected = project(obj, *pose, camera, dist, model)
            records[v.name]["held_out_rms"] = round(_rms(projected, img), 4)
            squared += float(np.sum((projected - img) ** 2))
            count += len(img)
    return math.sqrt(squared / count) if count else None


def _jackknife_std(folds: list, model: str) -> dict:
    """Each intrinsic's standard deviation over the views: the (grouped) jackknife of the
    folds' cameras, sqrt((g - 1) / g * sum((theta_i - mean)^2)) over g folds; {} when a fold's
    fit failed or there are none."""
    if not folds or None in folds:
        return {}
    theta = np.array([[*focal_and_centre(camera).values(), *np.ravel(dist)] for _, camera, dist in folds])
    g = len(theta)
    spread = np.sqrt((g - 1) / g * np.sum((theta - theta.mean(axis=0)) ** 2, axis=0))
    return {n: float(v) for n, v in zip(intrinsic_names(model), spread)}


def _larger(a: dict, b: dict) -> dict:
    """Each key's larger value of two std dicts (a NaN or missing one gives way to the other)."""
    return {k: float(np.fmax(a.get(k, np.nan), b.get(k, np.nan))) for k in {**a, **b}}


def coverage_mask(views: list[View], image_size: tuple[int, int]) -> np.ndarray:
    """H×W uint16: how many views' convex hulls of points cover each pixel."""
    w, h = image_size
    count = np.zeros((h, w), np.uint16)
    for v in views:
        if v.points is None or len(v.points) < 3:
            continue
        hull = cv2.convexHull(v.points.xy.astype(np.float32))
        layer = np.zeros((h, w), np.uint8)
        cv2.fillConvexPoly(layer, np.round(hull.reshape(-1, 2) * 16).astype(np.int32), 1, cv2.LINE_8, 4)
        count += layer
    return count


def border_band(image_size: tuple[int, int], share: float = BORDER_BAND) -> np.ndarray:
    """H×W bool: the image's outer band, `share` of the width and height on each side."""
    w, h = image_size
    band = np.ones((h, w), bool)
    bx, by = int(round(share * w)), int(round(share * h))
    band[by:h - by, bx:w - bx] = False
    return band


def coverage(views: list[View], image_size: tuple[int, int]) -> dict:
    """Shares of the image and of its outer 10% band inside at least one view's hull of points."""
    covered = coverage_mask(views, image_size) > 0
    band = border_band(image_size)
    return {"image": float(covered.mean()), "border": float(covered[band].mean())}


# -- files ---------------------------------------------------------------------------------------

def write_camera(calibration: Calibration, out: str | os.PathLike, extra: dict | None = None) -> list[Path]:
    """camera.json (plus `extra` entries) and camera.yaml (OpenCV FileStorage: camera_matrix,
    dist_coeffs, image_width, image_height, rms) in folder `out`."""
    out = Path(out)
    data = calibration.to_dict()
    data.update(extra or {})
    atomic_write_text(out / "camera.json", json.dumps(data, indent=1) + "\n")
    with atomic_path(out / "camera.yaml") as tmp:
        fs = cv2.FileStorage(str(tmp), cv2.FILE_STORAGE_WRITE | cv2.FILE_STORAGE_FORMAT_YAML)
        fs.write("model", calibration.model)
        fs.write("image_width", int(calibration.image_size[0]))
        fs.write("image_height", int(calibration.image_size[1]))
        fs.write("camera_matrix", calibration.camera_matrix)
        fs.write("dist_coeffs", calibration.dist_coeffs.reshape(1, -1))
        fs.write("rms", float(calibration.rms))
        fs.release()
    return [out / "camera.json", out / "camera.yaml"]


def write_points(views: list[View], layout: GridLayout, path: str | os.PathLike) -> None:
    """points.json: every usable view's ids, image points, object points (mm) and, when
    measured, each point's sigma (px), enough to run cv2.calibrateCamera (or a weighted solver)
    again without segmenty."""
    records = []
    for v in views:
        if not v.usable:
            continue
        obj, img = correspondences(v, layout)
        record = {"name": v.name, "partial": v.points.partial, "identity": v.points.identity,
                  "ids": v.points.ids.tolist(), "image_points": np.round(img.astype(np.float64), 4).tolist(),
                  "object_points_mm": np.round(obj.astype(np.float64), 4).tolist()}
        if v.sigma is not None:
            record["sigma_px"] = np.round(v.sigma, 4).tolist()
        records.append(record)
    atomic_write_text(path, json.dumps({"views": records}) + "\n")
