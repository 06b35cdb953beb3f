"""`segmenty calibrate` as a function: find the points in every photo or frame (segmenty's
predictor and, for the side-by-side, OpenCV's own detector), calibrate from each, write
camera.json / camera.yaml / points.json and the pictures."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import SegmentyError
from ..io import atomic_write_text, check_out_dir, write_image
from ..predict.points import GridLayout
from . import plots
from .camera import Calibration, calibrate_views, write_camera, write_points
from .views import View, detect_views, iter_frames, opencv_detector, opencv_views

SEGMENTY, OPENCV = "segmenty", "OpenCV"


@dataclass
class CalibrationReport:
    """What `run_calibration` made: segmenty's calibration and views, OpenCV's (or why there is
    none), and the files written."""

    calibration: Calibration
    views: list[View]
    opencv: Calibration | None
    opencv_views: list[View] | None
    opencv_detector: str
    opencv_error: str | None
    files: list[Path]

    def comparison(self) -> dict:
        return {SEGMENTY: self.calibration.summary(),
                f"{OPENCV} ({self.opencv_detector})": self.opencv.summary() if self.opencv else self.opencv_error}

    def table(self) -> str:
        """The side-by-side as a Markdown table."""
        columns = [(SEGMENTY, self.calibration, len(self.views))]
        if self.opencv_views is not None:
            columns.append((f"{OPENCV} ({self.opencv_detector})", self.opencv, len(self.opencv_views)))
        rows = [("views used", lambda c, n: f"{len(c.used)} of {n}"),
                ("points used", lambda c, n: f"{c.points_used}"),
                ("image covered", lambda c, n: f"{c.coverage['image']:.1%}"),
                ("outer 10% covered", lambda c, n: f"{c.coverage['border']:.1%}"),
                ("RMS (px)", lambda c, n: f"{c.rms:.3f}"),
                ("held-out RMS (px)", lambda c, n: "-" if c.held_out_rms is None else f"{c.held_out_rms:.3f}"),
                ("fx, fy (px)", lambda c, n: f"{c.focal[0]:.1f}, {c.focal[1]:.1f}"),
                ("cx, cy (px)", lambda c, n: f"{c.principal_point[0]:.1f}, {c.principal_point[1]:.1f}")]
        lines = ["| | " + " | ".join(name for name, _, _ in columns) + " |",
                 "|---" * (len(columns) + 1) + "|"]
        for label, cell in rows:
            lines.append(f"| {label} | " + " | ".join(
                cell(c, n) if c is not None else (self.opencv_error or "-") for _, c, n in columns) + " |")
        return "\n".join(lines)


def run_calibration(sources: list[str | os.PathLike], layout: GridLayout, predictor, out: str | os.PathLike,
                    model: str = "pinhole", every: int = 1, compare: bool = True, opencv_method: str = "sb",
                    describe: dict | None = None) -> CalibrationReport:
    """Calibrate the camera that took `sources` (photos, folders, videos: every `every`-th
    frame) from the points `predictor` (a Predictor of a model for this pattern) finds; with
    `compare`, also from OpenCV's own detector on the same frames. Writes into `out`:
    camera.json, camera.yaml, points.json, coverage.png, errors.png."""
    out = check_out_dir(out)
    views: list[View] = []
    classical: list[View] | None = [] if compare else None
    detector = opencv_detector(layout, opencv_method)
    # One pass over the frames (a video is not held in memory): both detectors see each.
    for frame in iter_frames(sources, every):
        views.extend(detect_views(predictor, [frame]))
        if classical is not None:
            classical.extend(opencv_views([frame], layout, opencv_method))
    calibration = calibrate_views(views, layout, model)
    opencv, opencv_error = None, None
    if classical is not None:
        try:
            opencv = calibrate_views(classical, layout, model)
        except SegmentyError as exc:
            opencv_error = str(exc).removeprefix("calibrate: ")
    report = CalibrationReport(calibration, views, opencv, classical, detector, opencv_error, [])
    extra = {**(describe or {}), "comparison": report.comparison()}
    if opencv is not None:
        extra["opencv"] = {"detector": detector, **opencv.to_dict()}
    report.files += write_camera(calibration, out, extra)
    write_points(views, layout, out / "points.json")
    panels = [plots.coverage_panel(views, calibration, SEGMENTY, calibration.image_size)]
    if classical is not None:
        panels.append(plots.coverage_panel(classical, opencv, f"{OPENCV} ({detector})", calibration.image_size))
    write_image(out / "coverage.png", plots.coverage_picture(panels))
    calibrations = {SEGMENTY: calibration, **({OPENCV: opencv} if opencv is not None else {})}
    write_image(out / "errors.png", plots.error_plot(calibrations, [v.name for v in views]))
    atomic_write_text(out / "comparison.md", report.table() + "\n")
    report.files += [out / "points.json", out / "coverage.png", out / "errors.png", out / "comparison.md"]
    return report


def load_camera(path: str | os.PathLike) -> tuple:
    """(camera_matrix, dist_coeffs, (width, height)) from a camera.json, as numpy arrays."""
    import numpy as np

    data = json.loads(Path(path).read_text())
    return np.array(data["camera_matrix"]), np.array(data["dist_coeffs"]), tuple(data["image_size"])
