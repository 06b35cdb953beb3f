"""`segmenty calibrate` as a function: find the points in every photo or frame (segmenty's
predictor and, for the side-by-side, OpenCV's own detector), measure each board's blur, choose
views (--views), calibrate from each, cross-validate, write camera.json / camera.yaml /
points.json, the other tools' files and the pictures.

Solving and writing are two steps (`solve_camera`, `write_report`): the caller is handed the
finished calibration before any file is written, so a failed write (a read-only --out, a full
disk) loses no result."""
from __future__ import annotations

import json
import os
import warnings
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2

from ..errors import SegmentyError
from ..io import atomic_write_text, check_out_dir, write_image
from ..patterns.chessboard import SPEC_MISMATCH_HINT
from ..patterns.grid import GridLayout
from . import crossval, plots
from .camera import MAX_PLAUSIBLE_RMS_PX, Calibration, calibrate_views, write_camera, write_points
from .formats import write_formats
from .select import board_blur, drop_blurred, select_views
from .weighted import point_sigma
from .views import View, detect_views, iter_frames, opencv_detector, opencv_views

# OpenCV's side of the comparison: threads, and frames it may run ahead of segmenty.
COMPARE_THREADS, COMPARE_AHEAD = 2, 4

SEGMENTY, OPENCV = "segmenty", "OpenCV"

# Points covering less of the image's outer 10% band (where lens distortion is strongest) than
# this leave the distortion there extrapolated, not measured (OpenCV's sample rig: 2.1% and
# 4.5%; the 20 udacity photos: 19%).
MIN_BORDER_COVERAGE = 0.05
# Cross-validation halves further apart than this many of the difference their stated std
# allows (crossval.halves_sigmas): the std understates the uncertainty (the udacity photos: 1.6
# with the std over views, 5.9 with OpenCV's alone; 8 of them chosen by --views: 5.0).
MAX_HALVES_SIGMAS = 3.0


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
    cross: dict = None  # name -> crossval.cross_validation result (or None)
    skipped: dict = None  # file -> why it was not written

    def comparison(self) -> dict:
        return {SEGMENTY: self.calibration.summary(),
                f"{OPENCV} ({self.opencv_detector})": self.opencv.summary() if self.opencv else self.opencv_error}

    def columns(self) -> list[tuple[str, Calibration | None, int]]:
        """(name, calibration or None, views) of each side: segmenty's, and OpenCV's when compared."""
        columns = [(SEGMENTY, self.calibration, len(self.views))]
        if self.opencv_views is not None:
            columns.append((f"{OPENCV} ({self.opencv_detector})", self.opencv, len(self.opencv_views)))
        return columns

    def table(self, reasons: bool = True) -> str:
        """The side-by-side as a Markdown table; with `reasons`, why OpenCV's side has no
        calibration (when it has none) below it."""
        columns = self.columns()
        rows = [("views used", lambda c, n: f"{len(c.used)} of {n}"),
                ("points used", lambda c, n: f"{c.points_used}"),
                ("image covered", lambda c, n: f"{c.coverage['image']:.1%}"),
                ("outer 10% covered", lambda c, n: f"{c.coverage['border']:.1%}"),
                ("RMS (px)", lambda c, n: f"{c.rms:.3f}"),
                ("held-out RMS (px)", lambda c, n: "-" if c.held_out_rms is None else f"{c.held_out_rms:.3f}"),
                ("fx, fy (px)", lambda c, n: f"{c.focal[0]:.1f}, {c.focal[1]:.1f}"),
                ("cx, cy (px)", lambda c, n: f"{c.principal_point[0]:.1f}, {c.principal_point[1]:.1f}")]
        rows += trust_rows(self.cross or {})
        lines = ["| | " + " | ".join(name for name, _, _ in columns) + " |",
                 "|---" * (len(columns) + 1) + "|"]
        for label, cell in rows:
            lines.append(f"| {label} | " + " | ".join(cell(c, n) if c is not None else "-" for _, c, n in columns)
                         + " |")
        if reasons and len(columns) > 1 and self.opencv is None and self.opencv_error:
            lines += ["", f"{columns[1][0]}: no calibration: {self.opencv_error}"]  # once, not in every cell
        return "\n".join(lines)


def check_fit(fits: dict[str, float]) -> None:
    """One warning naming the calibrations (name -> reprojection RMS, px) that fit their points
    implausibly badly for a printed board (MAX_PLAUSIBLE_RMS_PX): their figures are not to be
    trusted, and the usual cause is a pattern spec that does not match the board."""
    high = {name: rms for name, rms in fits.items() if not rms <= MAX_PLAUSIBLE_RMS_PX}  # NaN too
    if high:
        warnings.warn("implausible calibration: reprojection RMS "
                      + ", ".join(f"{rms:.3g} px ({name})" for name, rms in high.items())
                      + f", over the {MAX_PLAUSIBLE_RMS_PX:g} px a printed board fits within; do not trust it: "
                      + SPEC_MISMATCH_HINT)


def check_trust(report: CalibrationReport, camera: str = "") -> None:
    """One warning each (naming the calibrations; `camera` before it, 'left camera: ') when the
    cross-validation's halves disagree far beyond the stated std (MAX_HALVES_SIGMAS), when
    there are no halves to check it with, and when the points cover very little of the image's
    outer band (MIN_BORDER_COVERAGE)."""
    columns = [(name, c) for name, c, _ in report.columns() if c is not None]
    apart, unchecked = [], []
    for name, c in columns:
        result = (report.cross or {}).get(id(c))
        if result is None:
            unchecked.append(f"{len(c.used)} views ({name})")
        found = crossval.halves_sigmas(result, c)
        if found and found[1] > MAX_HALVES_SIGMAS:
            key, times = found
            a, b = result["intrinsics"][key]
            apart.append(f"{key} {a:.1f} vs {b:.1f} px, {times:.1f}x the {2 * c.std[key]:.2f} px their std "
                         f"{c.std[key]:.2f} px allows ({name})")
    if apart:
        warnings.warn(f"{camera}cross-validation: the two halves of the views give " + "; ".join(apart)
                      + ": the views do not pin the camera down, its std understates the uncertainty; add views "
                      "(the board tilted, near the edges and corners)")
    if unchecked:
        warnings.warn(f"{camera}no cross-validation from {', '.join(unchecked)}: it needs two halves of "
                      f"{crossval.MIN_HALF} views or more that each calibrate, so nothing checks the stated std; add views")
    sparse = [f"{c.coverage['border']:.1%} ({name})" for name, c in columns
              if c.coverage.get("border", 1.0) < MIN_BORDER_COVERAGE]
    if sparse:
        warnings.warn(f"{camera}the points cover {', '.join(sparse)} of the image's outer 10% band: the lens "
                      "distortion there and in the corners is extrapolated, not measured; add views with the board "
                      "near the edges and corners")


def check_markers(views: list[View], layout: GridLayout, camera: str = "") -> None:
    """One warning when a ChArUco board's views read none of its markers: its ids then rest on
    the squares alone (a plain chessboard given a ChArUco spec, or the spec's dictionary not the
    printed one), where the markers would have fixed them."""
    used = [v for v in views if v.usable]
    if layout.charuco and used and not any(v.points.identity == "markers" for v in used):
        warnings.warn(f"{camera}no marker of the spec's dictionary ({layout.charuco[2]}) was read in any of the "
                      f"{len(used)} views: their ids rest on the squares alone; is the board's dictionary "
                      "the spec's (charuco:CxR:DICT)?")


def trust_rows(cross: dict) -> list:
    """Table rows: the intrinsics' standard deviations and the cross-validation difference
    (`cross`: calibration id -> cross_validation result)."""
    def std(c, keys):
        return ", ".join(f"{c.std[k]:.2f}" for k in keys) if c.std else "-"

    def diff(c, key):
        r = cross.get(id(c))
        return "-" if r is None else f"{r[key]:.3f}"

    return [("std fx, fy / cx, cy (px; over views or OpenCV's, the larger)",
             lambda c, n: f"{std(c, ('fx', 'fy'))} / {std(c, ('cx', 'cy'))}"),
            ("halves differ: centre / outer 10% / corners (px)",
             lambda c, n: f"{diff(c, 'centre')} / {diff(c, 'border')} / {diff(c, 'corners')}")]


def collect_views(sources, predictor, layout: GridLayout, every: int, compare: bool, method: str,
                  keep=None) -> tuple[list[View], list[View] | None]:
    """segmenty's views of every frame and (with `compare`) OpenCV's, each with its board's
    blur and each point's sigma (weighted.point_sigma: written to points.json, weighted by with
    --weighted); one pass over the frames (a video is not held in memory). `keep(index, rgb, view)`
    is called for each frame (the caller keeps the frames it wants to draw)."""
    views: list[View] = []
    classical: list[View] | None = [] if compare else None
    # OpenCV's detector (SB takes ~4x segmenty's time a photo) runs in threads while this one
    # predicts (OpenCV and onnxruntime release the GIL), at most COMPARE_AHEAD frames ahead,
    # so the comparison costs little wall time and a video is still not held in memory.
    pending: deque = deque()
    with ThreadPoolExecutor(COMPARE_THREADS) as pool:
        def finish_one() -> None:
            i, frame, view, job = pending.popleft()
            other = job.result()[0] if job is not None else None
            rgb = frame[1]
            if rgb is None:  # the others still calibrate; the user learns which file was left out
                warnings.warn(f"{frame[0]}: {frame[2]}; skipped")
            else:
                gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
                view.blur = board_blur(gray, view)
                for v in (view, other):
                    if v is not None and v.usable:
                        v.sigma = point_sigma(gray, v.points.xy)
                if other is not None:
                    other.blur = board_blur(gray, other)
            views.append(view)
            if classical is not None:
                classical.append(other)
            if keep is not None:
                keep(i, rgb, view)

        for i, frame in enumerate(iter_frames(sources, every)):
            job = pool.submit(opencv_views, [frame], layout, method) if compare else None
            pending.append((i, frame, detect_views(predictor, [frame])[0], job))
            if len(pending) > COMPARE_AHEAD:
                finish_one()
        while pending:
            finish_one()
    return views, classical


def choose(views: list[View], count: int | None, layout: GridLayout) -> list[View]:
    """Blurred views dropped; with `count`, that many chosen (select.select_views)."""
    return select_views(views, count, layout) if count else drop_blurred(views)


def run_calibration(sources: list[str | os.PathLike], layout: GridLayout, predictor, out: str | os.PathLike,
                    model: str = "pinhole", every: int = 1, compare: bool = True, opencv_method: str = "sb",
                    describe: dict | None = None, views_count: int | None = None,
                    weighted: bool = False, on_solved=None) -> CalibrationReport:
    """Calibrate the camera that took `sources` (photos, folders, videos: every `every`-th
    frame) from the points `predictor` (a Predictor of a model for this pattern) finds; with
    `compare`, also from OpenCV's own detector on the same frames; with `views_count`, from
    that many views chosen for sharpness and coverage; with `weighted`, each point weighted by its
    sigma (calib.weighted; both sides of the comparison alike). `on_solved(report)` is called
    with the finished calibration before any file is written. Writes into `out`: camera.json,
    camera.yaml, camera_info.yaml (ROS), camera.cameramodel (mrcal), camchain.yaml (Kalibr),
    points.json, coverage.png, errors.png, crossval.png, comparison.md."""
    out = check_out_dir(out)
    views, classical = collect_views(sources, predictor, layout, every, compare, opencv_method)
    report = solve_camera(views, classical, layout, model, opencv_method, views_count, weighted=weighted)
    check_fit({name: c.rms for name, c, _ in report.columns() if c is not None})
    check_trust(report)
    check_markers(report.views, layout)
    if on_solved is not None:
        on_solved(report)
    return write_report(report, layout, out, describe)


def solve_camera(views: list[View], classical: list[View] | None, layout: GridLayout, model: str = "pinhole",
                 opencv_method: str = "sb", views_count: int | None = None, calibration: Calibration | None = None,
                 opencv: Calibration | None = None, opencv_error: str | None = None,
                 weighted: bool = False) -> CalibrationReport:
    """One camera's calibrations (unless given: a rig's refined cameras) and their
    cross-validation, nothing written (see run_calibration)."""
    views = choose(views, views_count, layout)
    detector = opencv_detector(layout, opencv_method)
    if classical is not None:
        classical = choose(classical, views_count, layout)
    calibration = calibration or calibrate_views(views, layout, model, weighted=weighted)
    if classical is not None and opencv is None and opencv_error is None:
        try:
            opencv = calibrate_views(classical, layout, model, weighted=weighted)
        except SegmentyError as exc:
            opencv_error = str(exc).removeprefix("calibrate: ")
    cross = {id(calibration): crossval.cross_validation(calibration, views, layout)}
    if opencv is not None:
        cross[id(opencv)] = crossval.cross_validation(opencv, classical, layout)
    return CalibrationReport(calibration, views, opencv, classical, detector, opencv_error, [], cross, {})


def write_report(report: CalibrationReport, layout: GridLayout, out: Path, describe: dict | None = None,
                 formats: bool = True) -> CalibrationReport:
    """`report`'s files and pictures in `out` (see run_calibration), added to report.files (the
    other tools' files not written, with why, to report.skipped)."""
    calibration, views, opencv, classical, cross = (report.calibration, report.views, report.opencv,
                                                    report.opencv_views, report.cross)
    detector = report.opencv_detector
    extra = {**(describe or {}), "comparison": report.comparison(),
             "cross_validation": crossval.summary(cross[id(calibration)])}
    if opencv is not None:
        extra["opencv"] = {"detector": detector, **opencv.to_dict(),
                           "cross_validation": crossval.summary(cross[id(opencv)])}
    report.files += write_camera(calibration, out, extra)
    if formats:
        written, report.skipped = write_formats(calibration, out)
        report.files += written
    write_points(views, layout, out / "points.json")
    panels = [plots.coverage_panel(views, calibration, SEGMENTY, calibration.image_size)]
    if classical is not None:
        panels.append(plots.coverage_panel(classical, opencv, f"{OPENCV} ({detector})", calibration.image_size))
    write_image(out / "coverage.png", plots.coverage_picture(panels))
    calibrations = {SEGMENTY: calibration, **({OPENCV: opencv} if opencv is not None else {})}
    write_image(out / "errors.png", plots.error_plot(calibrations, [v.name for v in views]))
    write_image(out / "crossval.png", plots.coverage_picture(
        [plots.crossval_panel(cross[id(c)], c, name) for name, c in calibrations.items()]))
    atomic_write_text(out / "comparison.md", report.table() + "\n")
    report.files += [out / "points.json", out / "coverage.png", out / "errors.png", out / "crossval.png",
                     out / "comparison.md"]
    return report


def load_camera(path: str | os.PathLike) -> tuple:
    """(camera_matrix, dist_coeffs, (width, height)) from a camera.json, as numpy arrays."""
    import numpy as np

    data = json.loads(Path(path).read_text())
    return np.array(data["camera_matrix"]), np.array(data["dist_coeffs"]), tuple(data["image_size"])
