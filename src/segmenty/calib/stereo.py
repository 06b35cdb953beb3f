"""Stereo calibration of a two-camera rig from paired views: `calibrate_stereo`.

Each camera is calibrated on its own views first (`calibrate_views`: outliers dropped,
held-out error, standard deviations); then `cv2.stereoCalibrate`, with both cameras'
intrinsics fixed, solves the right camera's pose in the left camera's frame (x_right = R x_left
+ T, T in the pattern's units) from the pairs in which both cameras see the same points. A pair
counts when both views have absolute ids (whole chessboards read from their squares, ChArUco
boards from their markers, even partial ones): a partial chessboard's ids are relative to its
visible grid and cannot be matched across the cameras, so such pairs are left out with that
reason. The points both views share are used (a board cut differently by each frame still
counts). A pair whose stereo reprojection error stands far out is dropped and the pose solved
again, as `calibrate_views` does for single views.

Left and right photos that do not pair up (not taken at the same instant: a list shifted by
one, photos of two sessions) leave no pose that most pairs agree on, so no pair stands out:
when one pose fits the pairs far worse than each camera fits its own views (UNPAIRED_FACTOR),
the rig is refused (`RigRefused`, which carries the two cameras, each solved on its own views).
The joint refinement of the cameras with the pose is kept only where it leaves each camera
fitting its own views about as well (JOINT_MAX_WORSENING).

The epipolar error is the mean distance (px) of each point from the epipolar line of its
partner (both ways, on undistorted points), as in OpenCV's stereo_calib sample; `stereoRectify`
gives the rectification (R1, R2, P1, P2, Q) and the rectified rows' vertical disparity is
reported too.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np

from ..errors import SegmentyError, UsageError
from ..io import atomic_path, atomic_write_text
from ..patterns.grid import GridLayout
from .camera import (MAX_PLAUSIBLE_RMS_PX, OUTLIER_FACTOR, OUTLIER_FLOOR_PX, Calibration, calibrate_views,
                     correspondences, project, undistort)
from .views import View, join_reasons

MIN_PAIRS = 3
MIN_PAIR_POINTS = 6  # points both views of a pair must share
# Two cameras nearer than this (in the board's squares) are one camera's photos given twice (or
# copied): a rig's rectification divides by the baseline (Q[3][2] = -1/Tx).
MIN_BASELINE_SQUARES = 0.01
# Pairs that show the board at one instant fit one pose of the rig about as well as each camera
# fits its own views (OpenCV's sample rig: 0.178 px against 0.164 / 0.162 px); its left photos
# paired with the right ones shifted by one fit at 54 px. A rig fitting over this many times
# the worse camera's RMS (and over MAX_PLAUSIBLE_RMS_PX) is refused: the photos do not pair up.
UNPAIRED_FACTOR = 5.0
# The joint refinement fits the pairs with both cameras free; it is kept only when each camera
# still fits its own views within this factor of its own calibration's RMS (the sample rig:
# 0.6% worse; on the shifted pairs it had made the left camera's 0.17 px 10.8 px).
JOINT_MAX_WORSENING = 1.25
# A joint refinement is kept only when it fits the pairs no worse than this factor of the fixed one's.
JOINT_MAX_PAIR_RMS = 1.05
STEREO_FORMAT = "segmenty-stereo-1"


class RigRefused(SegmentyError):
    """No rig from these pairs, though each camera was solved on its own views: `left` and
    `right` (finished work a caller may keep)."""

    def __init__(self, message: str, left: Calibration, right: Calibration):
        super().__init__(message)
        self.left, self.right = left, right


@dataclass
class StereoCalibration:
    """A solved rig: the two cameras and the right camera's pose in the left's frame.

    R, T:          x_right = R @ x_left + T (T in the pattern's units, mm).
    E, F:          essential and fundamental matrices (OpenCV's, pixels of the distorted images
                   for F after undistortion with the same K).
    rms:           stereoCalibrate's reprojection RMS over both cameras' points (px).
    epipolar:      mean distance of a point from its partner's epipolar line (px).
    rectified_dy:  mean |y_left - y_right| of the pairs' points after rectification (px).
    pairs:         name -> {"used", "left", "right", "points", "rms" | "reason"}.
    rectification: R1, R2, P1, P2, Q (numpy) and the valid regions roi1, roi2.
    square:        the pattern's square (or spacing) in its units: the baseline in squares.
    joint:         whether the cameras were refined together with the pose (JOINT_MAX_WORSENING).
    """

    left: Calibration
    right: Calibration
    R: np.ndarray
    T: np.ndarray
    E: np.ndarray
    F: np.ndarray
    rms: float
    epipolar: float
    rectified_dy: float
    pairs: dict[str, dict]
    rectification: dict = field(repr=False)
    square: float = 1.0
    joint: bool = False

    @property
    def used(self) -> list[str]:
        return [n for n, p in self.pairs.items() if p["used"]]

    @property
    def baseline(self) -> float:
        return float(np.linalg.norm(self.T))

    @property
    def angle(self) -> float:
        """The rotation between the cameras (degrees)."""
        return _angle(self.R)

    def summary(self) -> dict:
        return {"pairs_used": len(self.used), "pairs": len(self.pairs),
                "points_used": int(sum(p["points"] for p in self.pairs.values() if p["used"])),
                "left_rms": round(self.left.rms, 4), "right_rms": round(self.right.rms, 4),
                "rms": round(self.rms, 4), "epipolar_px": round(self.epipolar, 4),
                "rectified_dy_px": round(self.rectified_dy, 4), "baseline": round(self.baseline, 4),
                "baseline_squares": round(self.baseline / self.square, 4), "angle_deg": round(self.angle, 4),
                "joint": self.joint}

    def to_dict(self) -> dict:
        """stereo.json."""
        rect = self.rectification
        return {"format": STEREO_FORMAT, "R": self.R.round(9).tolist(), "T": self.T.ravel().round(6).tolist(),
                "E": self.E.round(9).tolist(), "F": self.F.round(12).tolist(), **self.summary(),
                "rectification": {k: np.asarray(rect[k]).round(9).tolist() for k in ("R1", "R2", "P1", "P2", "Q")}
                | {"roi1": list(rect["roi1"]), "roi2": list(rect["roi2"])},
                "image_size": list(self.left.image_size), "pairs": self.pairs}


def pair_views(left: list[View], right: list[View]) -> list[tuple[str, View, View]]:
    """(pair name, left view, right view) in order; SegmentyError when the two sides do not
    pair up one to one."""
    if len(left) != len(right):
        raise SegmentyError(f"--right: {len(right)} photos or frames, but the left camera has {len(left)}; give "
                            "both cameras the same number, paired in sorted order")
    return [(f"{Path(a.name).name} + {Path(b.name).name}", a, b) for a, b in zip(left, right)]


def _mono(views: list[View], layout: GridLayout, model: str, side: str, held_out: bool,
          weighted: bool = False) -> Calibration:
    try:
        return calibrate_views(views, layout, model, held_out=held_out, weighted=weighted)
    except SegmentyError as exc:
        raise SegmentyError(f"{side} camera: {str(exc).removeprefix('calibrate: ')}") from None


def common_points(a: View, b: View, layout: GridLayout) -> tuple[np.ndarray, np.ndarray, np.ndarray] | str:
    """(object points, left image points, right image points) of the ids both views show, or
    the reason the pair cannot serve a stereo calibration."""
    for side, v in (("left", a), ("right", b)):
        if not v.usable:
            return f"{side}: {v.reason}"
        if not v.points.absolute:
            return f"{side}: partial board with ids relative to its visible grid (cannot be matched across cameras)"
    shared, ia, ib = np.intersect1d(_keys(a.points.ids, layout), _keys(b.points.ids, layout), return_indices=True)
    if len(shared) < MIN_PAIR_POINTS:
        return f"the two views share {len(shared)} points (need {MIN_PAIR_POINTS})"
    obj = layout.object_points(a.points.ids[ia])
    return obj, a.points.xy[ia].astype(np.float32), b.points.xy[ib].astype(np.float32)


def _left_out(view: View, cal: Calibration, side: str) -> str:
    """Why a usable view was left out of its camera's calibration ('' when it was not)."""
    record = cal.views.get(view.name, {})
    return f"{side}: left out of its camera's calibration ({record['reason']})" \
        if view.usable and not record.get("used") else ""


def _keys(ids: np.ndarray, layout: GridLayout) -> np.ndarray:
    return ids[:, 1].astype(np.int64) * (layout.grid[0] + 1) + ids[:, 0]


def calibrate_stereo(left: list[View], right: list[View], layout: GridLayout, model: str = "pinhole",
                     held_out: bool = True, joint: bool = True, weighted: bool = False) -> StereoCalibration:
    """Solve both cameras and the rig (see the module doc). With `joint` (the default) the
    pose found with the cameras fixed is refined together with both cameras' intrinsics on the
    common pairs (as Kalibr and mrcal solve a rig), which halves the pose's error from the
    intrinsics' own; the cameras' RMS is then their views' with the refined intrinsics, their
    held-out error and standard deviations stay their own calibration's. SegmentyError, naming
    the camera or the pairs, when either camera cannot be calibrated; `RigRefused` (with both
    cameras) when the cameras are solved but no rig is: the photos do not pair up, too few
    pairs share points, two image sizes, no baseline. `weighted`: each camera's own calibration
    weights its points by their sigmas (the rig's pose is OpenCV's stereoCalibrate, unweighted)."""
    if model == "fisheye":
        raise UsageError("--camera fisheye: stereo calibration supports pinhole and rational cameras")
    pairs = pair_views(left, right)
    left_cal = _mono(left, layout, model, "left", held_out, weighted)
    right_cal = _mono(right, layout, model, "right", held_out, weighted)
    try:
        return _rig(pairs, left_cal, right_cal, layout, joint, left, right)
    except SegmentyError as exc:
        raise RigRefused(str(exc), left_cal, right_cal) from None


def _rig(pairs: list[tuple[str, View, View]], left_cal: Calibration, right_cal: Calibration, layout: GridLayout,
         joint: bool, left: list[View], right: list[View]) -> StereoCalibration:
    """The rig from the two solved cameras (calibrate_stereo); SegmentyError when there is none."""
    if left_cal.image_size != right_cal.image_size:
        (lw, lh), (rw, rh) = left_cal.image_size, right_cal.image_size
        raise SegmentyError(f"--right: the right camera's photos are {rw}x{rh}, the left camera's {lw}x{lh}; "
                            "stereo calibration needs both cameras at one image size")
    records, data = _pair_points(pairs, left_cal, right_cal, layout)
    _check_pairs(data, records, len(pairs))
    solved = _drop_far_pairs(data, records, left_cal, right_cal)
    _check_paired(data, solved, left_cal, right_cal)
    refined = False
    if joint:
        left_cal, right_cal, solved, refined = _joint(data, solved, left_cal, right_cal, left, right, layout)
    errors = _pair_rms(data, left_cal, right_cal, solved)
    rms, R, T, E, F, k1, d1, k2, d2 = solved
    square = float(layout.step_px * layout.mm_per_px)
    if np.linalg.norm(T) < MIN_BASELINE_SQUARES * square:
        raise SegmentyError(f"stereo: the two cameras are {np.linalg.norm(T):.2f} mm apart, so the left and right "
                            "photos were taken from one place (the same photos for both cameras?); a rig needs two "
                            "cameras apart")
    for n, e in errors.items():
        records[n]["rms"] = round(e, 4)
    R1, R2, P1, P2, Q, roi1, roi2 = cv2.stereoRectify(k1, d1, k2, d2, left_cal.image_size, R, T, alpha=0)
    rect = {"R1": R1, "R2": R2, "P1": P1, "P2": P2, "Q": Q, "roi1": tuple(map(int, roi1)),
            "roi2": tuple(map(int, roi2))}
    epipolar, dy = [], []
    for obj, a, b in data.values():
        ua, ub = undistort(a, k1, d1, P=k1), undistort(b, k2, d2, P=k2)
        epipolar.append((_line_distance(ub, cv2.computeCorrespondEpilines(ua.reshape(-1, 1, 2), 1, F))
                         + _line_distance(ua, cv2.computeCorrespondEpilines(ub.reshape(-1, 1, 2), 2, F))) / 2)
        ra, rb = undistort(a, k1, d1, R1, P1), undistort(b, k2, d2, R2, P2)
        dy.append(np.abs(ra[:, 1] - rb[:, 1]))
    return StereoCalibration(left_cal, right_cal, R, T.reshape(3, 1), E, F, float(rms),
                             float(np.mean(np.concatenate(epipolar))), float(np.mean(np.concatenate(dy))), records,
                             rect, square=square, joint=refined)


def _pair_points(pairs: list[tuple[str, View, View]], left_cal: Calibration, right_cal: Calibration,
                 layout: GridLayout) -> tuple[dict, dict]:
    """(records: name -> {"used", "left", "right", "points" | "reason"}, data: name -> the
    common points of each pair that can serve)."""
    records, data = {}, {}
    for name, a, b in pairs:
        found = _left_out(a, left_cal, "left") or _left_out(b, right_cal, "right") or common_points(a, b, layout)
        if isinstance(found, str):
            records[name] = {"used": False, "left": a.name, "right": b.name, "reason": found}
        else:
            records[name] = {"used": True, "left": a.name, "right": b.name, "points": len(found[0])}
            data[name] = found
    return records, data


def _drop_far_pairs(data: dict, records: dict, left_cal: Calibration, right_cal: Calibration) -> tuple:
    """The pose with both cameras fixed (_stereo_solve), after dropping (from `data`, with the
    reason in `records`) the pairs far from the pose most pairs agree on: a pair whose ids do
    not match across the cameras (a board numbered from the other end in one of them) or a wrong
    point would pull the solver away. Dropped first from the pairs' own poses, then again after
    each solve."""
    consensus = _consensus(_pair_poses(data, left_cal, right_cal))
    for _ in range(3):
        errors = _pair_rms(data, left_cal, right_cal, consensus)
        median = float(np.median(list(errors.values())))
        limit = max(OUTLIER_FLOOR_PX, OUTLIER_FACTOR * median)
        outliers = [n for n, e in errors.items() if e > limit]
        if len(data) - len(outliers) < MIN_PAIRS:
            outliers = []
        for n in outliers:
            records[n].update(used=False, reason=f"stereo reprojection error {errors[n]:.2f} px, over "
                                                 f"{OUTLIER_FACTOR:g}x the median {median:.2f} px")
            del data[n]
        solved = _stereo_solve(data, left_cal, right_cal)
        if not outliers and consensus is solved:
            break
        consensus = solved
    return solved


def _check_paired(data: dict, solved: tuple, left: Calibration, right: Calibration) -> None:
    """SegmentyError when one pose fits the pairs far worse than each camera fits its own
    views (UNPAIRED_FACTOR): the left and right photos were not taken at the same instants."""
    limit = max(MAX_PLAUSIBLE_RMS_PX, UNPAIRED_FACTOR * max(left.rms, right.rms))
    if solved[0] <= limit:
        return
    poses = _pair_poses(data, left, right)
    medoid = poses[_medoid(poses)][0]
    spread = np.median([_angle(medoid.T @ rot) for rot, _ in poses])
    errors = _pair_rms(data, left, right, solved)
    far = next(((n, e) for n, e in errors.items() if not e <= limit), max(errors.items(), key=lambda item: item[1]))
    raise SegmentyError(
        f"stereo: the left and right photos do not pair up (they do not show the board at the same instants): one "
        f"rig pose fits the {len(data)} pairs at {solved[0]:.3g} px, each camera its own views at {left.rms:.2f} / "
        f"{right.rms:.2f} px, and the pairs' camera-to-camera rotations differ by {spread:.3g} degrees (median); "
        f"give each left photo the right one taken at the same instant, in sorted order (the first pair far off: "
        f"{far[0]}, at {far[1]:.3g} px)")


def _joint(data: dict, solved: tuple, left: Calibration, right: Calibration, left_views: list[View],
           right_views: list[View], layout: GridLayout) -> tuple[Calibration, Calibration, tuple, bool]:
    """(left, right, solved, refined): the pose refined together with both cameras' intrinsics,
    kept when it fits the pairs no worse (JOINT_MAX_PAIR_RMS) and leaves each camera fitting its
    own views about as well (JOINT_MAX_WORSENING); else the cameras and pose as they were."""
    refined = _stereo_solve(data, left, right, joint=True)
    if not refined[0] <= solved[0] * JOINT_MAX_PAIR_RMS:
        return left, right, solved, False
    cameras = _refined(left, right, refined, left_views, right_views, layout)
    if not all(new.rms <= JOINT_MAX_WORSENING * own.rms for new, own in zip(cameras, (left, right))):
        return left, right, solved, False
    return *cameras, refined, True


def _check_pairs(data: dict, records: dict, total: int) -> None:
    if len(data) < MIN_PAIRS:
        reasons = join_reasons([f"{n}: {r['reason']}" for n, r in records.items() if not r["used"]])
        raise SegmentyError(f"stereo: {len(data)} pair(s) of {total} where both cameras see the same "
                            f"points, need at least {MIN_PAIRS}" + (f" ({reasons})" if reasons else ""))


def _pair_poses(data: dict, left: Calibration, right: Calibration) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each pair's own (R, T) of the right camera in the left's frame, from the board's pose in
    each camera (solvePnP with the camera's own calibration)."""
    poses = []
    for obj, a, b in data.values():
        ra, ta = _board_pose(obj, a, left)
        rb, tb = _board_pose(obj, b, right)
        rot = rb @ ra.T
        poses.append((rot, tb - rot @ ta))
    return poses


def _medoid(poses: list[tuple[np.ndarray, np.ndarray]]) -> int:
    """The index of the pose with the smallest summed rotation and translation distance to the others'."""
    scale = np.median([np.linalg.norm(t) for _, t in poses]) or 1.0
    cost = [sum(np.radians(_angle(r.T @ r2)) + np.linalg.norm(t - t2) / scale for r2, t2 in poses) for r, t in poses]
    return int(np.argmin(cost))


def _consensus(poses: list[tuple[np.ndarray, np.ndarray]]) -> tuple:
    """(None, R, T): the pose most pairs agree on (their medoid), in _stereo_solve's shape."""
    rot, t = poses[_medoid(poses)]
    return None, rot, t


def _angle(rot: np.ndarray) -> float:
    """The angle (degrees) of a rotation matrix."""
    return float(np.degrees(np.linalg.norm(cv2.Rodrigues(rot)[0])))


def _board_pose(obj: np.ndarray, img: np.ndarray, cal: Calibration) -> tuple[np.ndarray, np.ndarray]:
    _, rvec, tvec = cv2.solvePnP(obj.astype(np.float64), img.astype(np.float64), cal.camera_matrix, cal.dist_coeffs)
    return cv2.Rodrigues(rvec)[0], tvec.reshape(3, 1)


def _stereo_solve(data: dict, left: Calibration, right: Calibration, joint: bool = False):
    """(rms, R, T, E, F, K1, D1, K2, D2): the pose with both cameras fixed, or with `joint`
    the pose and both cameras refined together from theirs."""
    obj, a, b = zip(*data.values())
    flags = cv2.CALIB_USE_INTRINSIC_GUESS | (cv2.CALIB_RATIONAL_MODEL if left.model == "rational" else 0) \
        if joint else cv2.CALIB_FIX_INTRINSIC
    try:
        rms, k1, d1, k2, d2, R, T, E, F = cv2.stereoCalibrate(
            [o.astype(np.float32) for o in obj], list(a), list(b), left.camera_matrix.copy(),
            left.dist_coeffs.copy(), right.camera_matrix.copy(), right.dist_coeffs.copy(), left.image_size,
            flags=flags, criteria=(cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-9))
    except cv2.error as exc:
        raise SegmentyError(f"stereo: OpenCV's stereoCalibrate failed on {len(data)} pairs "
                            f"({' '.join(str(exc).split())[-160:]})") from None
    if not (np.isfinite(R).all() and np.isfinite(T).all()) or np.linalg.norm(T) == 0:
        raise SegmentyError(f"stereo: stereoCalibrate returned no valid pose from {len(data)} pairs; "
                            "add pairs with the board at more places and angles")
    n = left.dist_coeffs.size
    return float(rms), R, T, E, F, k1, np.ravel(d1)[:n], k2, np.ravel(d2)[:n]


def _refined(left: Calibration, right: Calibration, solved, left_views: list[View], right_views: list[View],
             layout: GridLayout) -> tuple[Calibration, Calibration]:
    """The two cameras with the jointly refined intrinsics, their RMS over their own used views
    (each view's pose solved again with them)."""
    out = []
    for cal, views, camera, dist in ((left, left_views, *solved[5:7]), (right, right_views, *solved[7:9])):
        squared, count = 0.0, 0
        for v in views:
            if v.usable and cal.views.get(v.name, {}).get("used"):
                obj, img = correspondences(v, layout)
                _, rvec, tvec = cv2.solvePnP(obj.astype(np.float64), img.astype(np.float64), camera, dist)
                err = project(obj, rvec, tvec, camera, dist, cal.model) - img
                squared, count = squared + float(np.sum(err ** 2)), count + len(err)
        out.append(replace(cal, camera_matrix=np.asarray(camera, np.float64), dist_coeffs=np.asarray(dist, np.float64),
                           rms=float(np.sqrt(squared / max(count, 1)))))
    return out[0], out[1]


def _pair_rms(data: dict, left: Calibration, right: Calibration, solved) -> dict[str, float]:
    """Each pair's RMS with the rig's pose: the board's pose from the left view (solvePnP), the
    right view's from it through R, T."""
    R, T = solved[1], solved[2]
    out = {}
    for name, (obj, a, b) in data.items():
        ok, rvec, tvec = cv2.solvePnP(obj.astype(np.float64), a.astype(np.float64), left.camera_matrix,
                                      left.dist_coeffs)
        rot = cv2.Rodrigues(rvec)[0]
        r2, t2 = R @ rot, R @ tvec + T.reshape(3, 1)
        pa = cv2.projectPoints(obj.astype(np.float64), rvec, tvec, left.camera_matrix, left.dist_coeffs)[0]
        pb = cv2.projectPoints(obj.astype(np.float64), cv2.Rodrigues(r2)[0], t2, right.camera_matrix,
                               right.dist_coeffs)[0]
        err = np.concatenate([pa.reshape(-1, 2) - a, pb.reshape(-1, 2) - b])
        out[name] = float(np.sqrt(np.mean(np.sum(err ** 2, axis=1))))
    return out


def _line_distance(points: np.ndarray, lines: np.ndarray) -> np.ndarray:
    lines = lines.reshape(-1, 3)  # a x + b y + c = 0 with a² + b² = 1
    return np.abs(np.sum(np.column_stack([points, np.ones(len(points))]) * lines, axis=1))


def rectify_maps(stereo: StereoCalibration) -> tuple:
    """(left map1, map2, right map1, map2) for cv2.remap onto the rectified images."""
    rect, size = stereo.rectification, stereo.left.image_size
    maps = []
    for cal, r, p in ((stereo.left, rect["R1"], rect["P1"]), (stereo.right, rect["R2"], rect["P2"])):
        maps += cv2.initUndistortRectifyMap(cal.camera_matrix, cal.dist_coeffs, r, p, size, cv2.CV_32FC1)
    return tuple(maps)


def write_stereo(stereo: StereoCalibration, out: str | os.PathLike, extra: dict | None = None) -> list[Path]:
    """stereo.json and stereo.yaml (OpenCV FileStorage: R, T, E, F, R1, R2, P1, P2, Q and both
    cameras' K1, D1, K2, D2) in `out`."""
    out = Path(out)
    atomic_write_text(out / "stereo.json", json.dumps({**stereo.to_dict(), **(extra or {})}, indent=1) + "\n")
    with atomic_path(out / "stereo.yaml") as tmp:
        fs = cv2.FileStorage(str(tmp), cv2.FILE_STORAGE_WRITE | cv2.FILE_STORAGE_FORMAT_YAML)
        fs.write("image_width", int(stereo.left.image_size[0]))
        fs.write("image_height", int(stereo.left.image_size[1]))
        for key, value in (("K1", stereo.left.camera_matrix), ("D1", stereo.left.dist_coeffs.reshape(1, -1)),
                           ("K2", stereo.right.camera_matrix), ("D2", stereo.right.dist_coeffs.reshape(1, -1)),
                           ("R", stereo.R), ("T", stereo.T), ("E", stereo.E), ("F", stereo.F)):
            fs.write(key, np.asarray(value, np.float64))
        for key in ("R1", "R2", "P1", "P2", "Q"):
            fs.write(key, np.asarray(stereo.rectification[key], np.float64))
        fs.write("rms", float(stereo.rms))
        fs.release()
    return [out / "stereo.json", out / "stereo.yaml"]
