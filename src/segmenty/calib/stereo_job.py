"""`segmenty calibrate LEFT... --right RIGHT...` as a function: `run_stereo`.

Both cameras' views are found (segmenty's points and, for the side-by-side, OpenCV's own
detector on the same frames), paired in sorted order, the rig solved (`calibrate_stereo`) from
each detector's points; `out/left` and `out/right` get each camera's files (as a single
camera's calibration, with the rig's rectification and projection in camera_info.yaml and the
pose in camera.cameramodel), `out` the rig's: stereo.json, stereo.yaml, camchain.yaml
(Kalibr), rectified.png, comparison.md. As for one camera, the rig is solved before any file
is written (`on_solved`). A rig refused once both cameras are solved (`RigRefused`: photos
that do not pair up, too few common pairs...) still leaves each camera's own calibration in
`out/left` and `out/right`, as a single camera's folder, and the error says so.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import SegmentyError
from ..io import atomic_write_text, check_out_dir, write_image
from ..patterns.grid import GridLayout
from . import plots
from .formats import kalibr_camchain, kalibr_problem, write_formats
from .job import (OPENCV, SEGMENTY, CalibrationReport, check_fit, check_markers, check_trust, choose, collect_views,
                  solve_camera, write_report)
from .stereo import RigRefused, StereoCalibration, calibrate_stereo, rectify_maps, write_stereo
from .views import View, expand_sources, opencv_detector, read_frame


@dataclass
class StereoReport:
    """What `run_stereo` made: segmenty's rig, OpenCV's (or why there is none), each camera's
    report and the files written."""

    stereo: StereoCalibration
    opencv: StereoCalibration | None
    opencv_detector: str
    opencv_error: str | None
    cameras: dict[str, CalibrationReport]
    files: list[Path]
    skipped: dict

    def comparison(self) -> dict:
        return {SEGMENTY: self.stereo.summary(),
                f"{OPENCV} ({self.opencv_detector})": self.opencv.summary() if self.opencv else self.opencv_error}

    def table(self) -> str:
        """The rig side by side as a Markdown table, then each camera's."""
        columns = [(SEGMENTY, self.stereo)]
        if self.opencv is not None or self.opencv_error:
            columns.append((f"{OPENCV} ({self.opencv_detector})", self.opencv))
        rows = [("pairs used", lambda s: f"{len(s.used)} of {len(s.pairs)}"),
                ("points used (pairs)", lambda s: str(s.summary()["points_used"])),
                ("left / right RMS (px)", lambda s: f"{s.left.rms:.3f} / {s.right.rms:.3f}"),
                ("stereo RMS (px)", lambda s: f"{s.rms:.3f}"),
                ("epipolar error, mean (px)", lambda s: f"{s.epipolar:.3f}"),
                ("rectified rows differ, mean (px)", lambda s: f"{s.rectified_dy:.3f}"),
                ("baseline (mm / squares)", lambda s: f"{s.baseline:.2f} / {s.baseline / s.square:.3f}"),
                ("rotation between the cameras (deg)", lambda s: f"{s.angle:.3f}")]
        lines = ["| rig | " + " | ".join(n for n, _ in columns) + " |", "|---" * (len(columns) + 1) + "|"]
        for label, cell in rows:
            lines.append(f"| {label} | " + " | ".join(cell(s) if s is not None else "-" for _, s in columns) + " |")
        if self.opencv is None and self.opencv_error:  # once, not in every cell (nor again in each camera's)
            lines += ["", f"{columns[1][0]}: no calibration: {self.opencv_error}"]
        for side, report in self.cameras.items():
            lines += ["", f"{side} camera:", "", report.table(reasons=False)]
        unused = [f"{n}: {p['reason']}" for n, p in self.stereo.pairs.items() if not p["used"]]
        if unused:
            lines += ["", "pairs not used (segmenty): " + "; ".join(unused)]
        return "\n".join(lines)


def _pair_choice(left: list[View], right: list[View], count: int | None, layout: GridLayout):
    """Blurred views dropped on each side; with `count`, that many pairs chosen by the left
    camera's views (select_views), the others' right views marked alike."""
    left, right = choose(left, count, layout), choose(right, None, layout)
    if count:
        right = [View(b.name, b.image_size, None, a.reason, b.offset, b.blur)
                 if a.reason.startswith("not chosen") and b.usable else b for a, b in zip(left, right)]
    return left, right


def _camera_reports(sides: dict, layout: GridLayout, model: str, opencv_method: str, solved, opencv=None,
                    opencv_error: str | None = None, weighted: bool = False) -> dict[str, CalibrationReport]:
    """Each camera's report (solve_camera: cross-validation, OpenCV's side) from `sides`
    (side -> (views, OpenCV's views)) and the cameras of `solved` (a rig, or RigRefused) and
    `opencv` (OpenCV's rig), each camera's trust checked (check_trust)."""
    reports = {}
    for side, (views, others) in sides.items():
        reports[side] = solve_camera(views, others, layout, model, opencv_method, calibration=getattr(solved, side),
                                     opencv=None if opencv is None else getattr(opencv, side),
                                     opencv_error=opencv_error, weighted=weighted)
        check_trust(reports[side], f"{side} camera: ")
        check_markers(reports[side].views, layout, f"{side} camera: ")
    return reports


def _check_two_cameras(left_sources: list, right_sources: list) -> None:
    """A file given for both cameras pairs a photo with itself: a rig with no baseline, whose
    rectification divides by zero."""
    def identity(path: Path) -> tuple[int, int]:  # the same file under two names (links, ./) too
        stat = path.stat()
        return stat.st_dev, stat.st_ino

    left = {identity(p) for p in expand_sources(left_sources)}
    both = [p for p in expand_sources(right_sources) if identity(p) in left]
    if both:
        raise SegmentyError(f"--right {both[0]}: also given for the left camera ({len(both)} file(s) given for "
                            "both); each camera needs its own photos or video, e.g. from one folder: "
                            "DIR/left*.jpg --right DIR/right*.jpg")


def run_stereo(left_sources: list, right_sources: list, layout: GridLayout, predictor, out: str | os.PathLike,
               model: str = "pinhole", every: int = 1, compare: bool = True, opencv_method: str = "sb",
               describe: dict | None = None, views_count: int | None = None, weighted: bool = False,
               on_solved=None) -> StereoReport:
    """Calibrate a two-camera rig from paired photos or videos (see the module doc);
    `on_solved(report)` is called with the finished rig before any file is written."""
    _check_two_cameras(left_sources, right_sources)
    out = check_out_dir(out)
    left, left_cv = collect_views(left_sources, predictor, layout, every, compare, opencv_method)
    right, right_cv = collect_views(right_sources, predictor, layout, every, compare, opencv_method)
    if len(left) != len(right):  # before the work below: the same check calibrate_stereo makes
        calibrate_stereo(left, right, layout, model)
    left, right = _pair_choice(left, right, views_count, layout)
    try:
        stereo = calibrate_stereo(left, right, layout, model, weighted=weighted)
    except RigRefused as refused:  # finished work is kept: each camera alone
        cameras = _camera_reports({"left": (left, left_cv), "right": (right, right_cv)}, layout, model, opencv_method,
                                  refused, weighted=weighted)
        for side, camera in cameras.items():
            write_report(camera, layout, check_out_dir(out / side), describe)
        raise SegmentyError(f"{refused}; each camera's own calibration is in {out / 'left'} and {out / 'right'}") from None
    detector = opencv_detector(layout, opencv_method)
    opencv, opencv_error = None, None
    if compare:
        left_cv, right_cv = _pair_choice(left_cv, right_cv, views_count, layout)
        try:
            opencv = calibrate_stereo(left_cv, right_cv, layout, model, weighted=weighted)
        except SegmentyError as exc:
            opencv_error = str(exc)
    cameras = _camera_reports({"left": (left, left_cv), "right": (right, right_cv)}, layout, model, opencv_method,
                              stereo, opencv, opencv_error)
    # A rig is as trustworthy as the worse of its fits: the pair's and each camera's.
    check_fit({name: max(s.rms, s.left.rms, s.right.rms)
               for name, s in ((SEGMENTY, stereo), (f"{OPENCV} ({detector})", opencv)) if s is not None})
    report = StereoReport(stereo, opencv, detector, opencv_error, cameras, [], {})
    if on_solved is not None:
        on_solved(report)
    files, skipped = report.files, report.skipped
    rect = stereo.rectification
    poses = {"left": (np.eye(3), np.zeros(3)), "right": (stereo.R, stereo.T)}
    for side, rp in (("left", ("R1", "P1")), ("right", ("R2", "P2"))):
        folder = check_out_dir(out / side)
        camera = write_report(cameras[side], layout, folder, describe, formats=False)
        written, missing = write_formats(camera.calibration, folder, side, (rect[rp[0]], rect[rp[1]]), poses[side])
        camera.files += written
        skipped.update({f"{side}/{k}": v for k, v in missing.items()})
        files += camera.files
    extra = {**(describe or {}), "comparison": {SEGMENTY: stereo.summary()}}
    if opencv is not None:
        extra["opencv"] = {"detector": detector, **opencv.to_dict()}
    files += write_stereo(stereo, out, extra)
    problems = [f"{side}: {p}" for side, c in (("left", stereo.left), ("right", stereo.right)) if (p := kalibr_problem(c))]
    if problems:
        skipped["camchain.yaml"] = "; ".join(problems)
    else:
        atomic_write_text(out / "camchain.yaml", kalibr_camchain([stereo.left, stereo.right], [(stereo.R, stereo.T)]))
        files.append(out / "camchain.yaml")
    first = next(p for p in stereo.pairs.values() if p["used"])
    write_image(out / "rectified.png", plots.rectified_picture(read_frame(first["left"]), read_frame(first["right"]),
                                                               rectify_maps(stereo)))
    files.append(out / "rectified.png")
    atomic_write_text(out / "comparison.md", report.table() + "\n")
    files.append(out / "comparison.md")
    return report
