"""The calibration in the files other tools load: ROS `camera_info` YAML
(camera_calibration_parsers), Kalibr's camchain YAML and mrcal's `.cameramodel`.

A format is written only where the camera model maps onto one of the tool's models exactly;
otherwise `write_formats` says why it was not written (never an approximate camera file):

- ROS: plumb_bob (pinhole, k1 k2 p1 p2 k3), rational_polynomial (8), equidistant (fisheye);
  a rig camera's projection matrix in metres (its Tx = -fx' * baseline, REP 103's units).
- Kalibr: pinhole-radtan (k1 k2 p1 p2; written when the pinhole's k3 moves no pixel of the image
  by more than KALIBR_K3_PX) and pinhole-equidistant (fisheye); translations in metres.
- mrcal: LENSMODEL_OPENCV5 (pinhole) and LENSMODEL_OPENCV8 (rational); no fisheye model of
  mrcal's is OpenCV's; extrinsics rt_cam_ref in metres, the left camera the reference.

The pattern's units are millimetres; ROS, Kalibr and mrcal get metres.
"""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import yaml

from ..io import atomic_write_text
from .camera import Calibration, undistort

KALIBR_K3_PX = 0.05
ROS_MODELS = {"pinhole": "plumb_bob", "rational": "rational_polynomial", "fisheye": "equidistant"}
MRCAL_MODELS = {"pinhole": "LENSMODEL_OPENCV5", "rational": "LENSMODEL_OPENCV8"}
MM_PER_M = 1000.0


def _matrix(m: np.ndarray) -> dict:
    m = np.asarray(m, np.float64)
    m = m.reshape(1, -1) if m.ndim == 1 else m
    return {"rows": int(m.shape[0]), "cols": int(m.shape[1]), "data": [float(x) for x in m.ravel()]}


def ros_camera_info(cal: Calibration, name: str, rectification: np.ndarray | None = None,
                    projection: np.ndarray | None = None) -> str:
    """camera_calibration_parsers' YAML. A single camera: rectification = identity,
    projection = [K | 0]; one camera of a rig: stereoRectify's R1/P1 (or R2/P2), whose last
    column (Tx, Ty = -f' * baseline, in the pattern's mm) is converted to metres, as ROS reads it."""
    w, h = cal.image_size
    rect = np.eye(3) if rectification is None else rectification
    proj = np.column_stack([cal.camera_matrix, np.zeros(3)]) if projection is None else _in_metres(projection)
    data = {"image_width": int(w), "image_height": int(h), "camera_name": name,
            "camera_matrix": _matrix(cal.camera_matrix), "distortion_model": ROS_MODELS[cal.model],
            "distortion_coefficients": _matrix(cal.dist_coeffs), "rectification_matrix": _matrix(rect),
            "projection_matrix": _matrix(proj)}
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=None)


def _in_metres(projection: np.ndarray) -> np.ndarray:
    """A 3×4 projection matrix [K' | K' t] with t in mm -> the same with t in metres."""
    out = np.array(projection, np.float64)
    out[:, 3] /= MM_PER_M
    return out


def kalibr_problem(cal: Calibration) -> str:
    """Why the camera has no Kalibr model ('' when it has one)."""
    if cal.model == "rational":
        return "Kalibr has no rational (8-coefficient) model; calibrate with --camera pinhole or fisheye"
    if cal.model == "pinhole":
        moved = _k3_shift(cal)
        if moved > KALIBR_K3_PX:
            return (f"Kalibr's radtan model has no k3, and this camera's k3 moves points by up to {moved:.2f} px "
                    f"(over {KALIBR_K3_PX} px)")
    return ""


def _k3_shift(cal: Calibration) -> float:
    """How far (px) dropping k3 moves the projection of the image's own pixels."""
    w, h = cal.image_size
    xs, ys = np.meshgrid(np.linspace(0, w - 1, 17), np.linspace(0, h - 1, 13))
    pixels = np.stack([xs.ravel(), ys.ravel()], 1).reshape(-1, 1, 2)
    rays = undistort(pixels, cal.camera_matrix, cal.dist_coeffs)
    rays = np.column_stack([rays, np.ones(len(rays))])
    zero = np.zeros(3)
    a = cv2.projectPoints(rays, zero, zero, cal.camera_matrix, cal.dist_coeffs)[0].reshape(-1, 2)
    dropped = cal.dist_coeffs.copy()
    dropped[4:] = 0
    b = cv2.projectPoints(rays, zero, zero, cal.camera_matrix, dropped)[0].reshape(-1, 2)
    return float(np.abs(a - b).max())


def kalibr_camchain(cameras: list[Calibration], poses: list[tuple[np.ndarray, np.ndarray]] | None = None) -> str:
    """camchain.yaml: cam0, cam1, ... with T_cn_cnm1 (4x4, metres) from each camera's pose
    (R, T in mm: x_n = R x_n-1 + T) relative to the camera before it."""
    data = {}
    for i, cal in enumerate(cameras):
        fx, fy = cal.focal
        cx, cy = cal.principal_point
        entry = {}
        if i > 0 and poses:
            R, T = poses[i - 1]
            pose = np.eye(4)
            pose[:3, :3], pose[:3, 3] = R, np.ravel(T) / MM_PER_M
            entry["T_cn_cnm1"] = [[float(x) for x in row] for row in pose]
            entry["cam_overlaps"] = [i - 1]
        entry.update({"camera_model": "pinhole", "intrinsics": [float(fx), float(fy), float(cx), float(cy)],
                      "distortion_model": "equidistant" if cal.model == "fisheye" else "radtan",
                      "distortion_coeffs": [float(x) for x in cal.dist_coeffs[:4]],
                      "resolution": [int(cal.image_size[0]), int(cal.image_size[1])],
                      "rostopic": f"/cam{i}/image_raw"})
        data[f"cam{i}"] = entry
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=None)


def mrcal_cameramodel(cal: Calibration, rt_cam_ref: np.ndarray | None = None) -> str:
    """mrcal's .cameramodel (a Python literal): lensmodel, intrinsics (fx fy cx cy, then
    OpenCV's distortion terms), imagersize, extrinsics rt_cam_ref (metres)."""
    fx, fy = cal.focal
    cx, cy = cal.principal_point
    intrinsics = [fx, fy, cx, cy, *cal.dist_coeffs.tolist()]
    extrinsics = np.zeros(6) if rt_cam_ref is None else rt_cam_ref
    return ("# generated by segmenty calibrate\n{\n"
            f"    'lensmodel': '{MRCAL_MODELS[cal.model]}',\n"
            f"    'intrinsics': [ {', '.join(repr(float(x)) for x in intrinsics)} ],\n"
            f"    'imagersize': [ {int(cal.image_size[0])}, {int(cal.image_size[1])} ],\n"
            f"    'extrinsics': [ {', '.join(repr(float(x)) for x in extrinsics)} ],\n"
            "}\n")


def write_formats(cal: Calibration, out: str | os.PathLike, name: str = "camera",
                  rectification: tuple[np.ndarray, np.ndarray] | None = None,
                  pose: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[list[Path], dict[str, str]]:
    """One camera's files in `out`: camera_info.yaml (ROS), camera.cameramodel (mrcal) and,
    without a rig, camchain.yaml (Kalibr; a rig's goes beside stereo.json). `rectification`:
    this camera's (R_n, P_n) from stereoRectify; `pose`: its (R, T in mm) from the reference
    camera. Returns (files written, {file: why it was not written})."""
    out = Path(out)
    written, skipped = [], {}
    rect, proj = rectification if rectification is not None else (None, None)
    atomic_write_text(out / "camera_info.yaml", ros_camera_info(cal, name, rect, proj))
    written.append(out / "camera_info.yaml")
    if cal.model in MRCAL_MODELS:
        rt = None
        if pose is not None:
            rt = np.concatenate([cv2.Rodrigues(np.asarray(pose[0], np.float64))[0].ravel(),
                                 np.ravel(pose[1]) / MM_PER_M])
        atomic_write_text(out / "camera.cameramodel", mrcal_cameramodel(cal, rt))
        written.append(out / "camera.cameramodel")
    else:
        skipped["camera.cameramodel"] = "mrcal has no model equal to OpenCV's fisheye (Kannala-Brandt)"
    if pose is None and rectification is None:
        problem = kalibr_problem(cal)
        if problem:
            skipped["camchain.yaml"] = problem
        else:
            atomic_write_text(out / "camchain.yaml", kalibr_camchain([cal]))
            written.append(out / "camchain.yaml")
    return written, skipped
