"""Views for a calibration: the board's points in every photo or video frame, found by segmenty
(`detect_views`) or by OpenCV's own classical detector (`opencv_views`), for a side-by-side.

A `View` is one photo (or frame) with its points (`GridPoints`), or the reason it gives none.
Points are in the full photo's pixels even for a crop (`View.offset` says where the crop was),
so that crops of one camera's photos calibrate that camera.
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ..classical import Detector, detect_grid, find_charuco, find_chessboard_classic, find_circles
from ..errors import SegmentyError
from ..io import IMAGE_SUFFIXES, VIDEO_SUFFIXES, read_image
from ..video import open_video, read_video_frame, video_frames
from ..patterns.grid import BLOB, GridLayout
from ..predict.points import MIN_GRID_POINTS, GridPoints

# A view with fewer points (or all on one row) cannot constrain a camera model well.
MIN_VIEW_POINTS = MIN_GRID_POINTS
# How much of a message the views' reasons may take (whole reasons, then how many more).
REASONS_CHARS = 200


@dataclass
class View:
    """One photo or frame for a calibration.

    name:        the file (``video.mp4#120`` for frame 120 of a video).
    image_size:  (width, height) of the photo the points are in.
    points:      the board's points (GridPoints), or None when the view gives none.
    reason:      why the view gives no points ('' when it does).
    offset:      (x, y) of the crop the points were found in (they are already shifted by it).
    blur:        the width (px) of the board's edges in the photo (select.board_blur), when measured.
    sigma:       each point's positional standard deviation (px; weighted.point_sigma), when
                 measured: the calibration weights each point by it.
    board_seen:  no points, but the detector saw a board (Prediction.board_without_grid): its
                 points form no grid of the pattern (most often a spec that counts the board's
                 inner corners).
    """

    name: str
    image_size: tuple[int, int]
    points: GridPoints | None = None
    reason: str = ""
    offset: tuple[int, int] = (0, 0)
    blur: float | None = None
    sigma: np.ndarray | None = field(default=None, repr=False)
    board_seen: bool = False

    @property
    def usable(self) -> bool:
        return self.points is not None


def iter_frames(sources: Iterable[str | os.PathLike], every: int = 1) -> Iterator[tuple[str, np.ndarray | None, str]]:
    """(name, RGB uint8 or None, problem) for every photo and every `every`-th frame of every
    video among `sources` (files or folders of photos). An unreadable photo or video yields
    None and the problem (without the file's name, which the caller puts before it), so the
    caller can list it and go on."""
    if every < 1:
        raise SegmentyError(f"--every {every}: must be 1 or more")
    for source in expand_sources(sources):
        if source.suffix.lower() in VIDEO_SUFFIXES:
            yield from _video_frames(source, every)
            continue
        try:
            yield str(source), read_image(source), ""
        except SegmentyError as exc:
            yield str(source), None, str(exc).removeprefix(f"{source}: ")


def expand_sources(sources: Iterable[str | os.PathLike]) -> list[Path]:
    """The photos and videos `sources` name: files as given, folders' photos and videos in
    sorted order; SegmentyError for a missing one or when there are none."""
    out = []
    for item in sources:
        p = Path(item)
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES + VIDEO_SUFFIXES))
        elif p.exists():
            out.append(p)
        else:
            raise SegmentyError(f"{p}: no such file or folder")
    if not out:
        raise SegmentyError(f"no photos or videos found in {' '.join(map(str, sources))} "
                            f"(photos: {' '.join(IMAGE_SUFFIXES)}; videos: {' '.join(VIDEO_SUFFIXES)})")
    return out


def _video_frames(path: Path, every: int) -> Iterator[tuple[str, np.ndarray | None, str]]:
    try:
        capture = open_video(str(path))
    except SegmentyError:
        yield str(path), None, "cannot be opened as a video"
        return
    read_any = False
    try:
        for index, rgb in video_frames(capture, every):
            read_any = True
            yield f"{path}#{index}", rgb, ""
    finally:
        capture.release()
    if not read_any:
        yield str(path), None, "no frame could be decoded"


def view_from_points(name: str, image_size: tuple[int, int], points: GridPoints | None,
                     offset: tuple[int, int] = (0, 0), missing: str = "no board found") -> View:
    """A View, with the reason when its points cannot serve a calibration."""
    if points is None:
        return View(name, image_size, None, missing, offset)
    if len(points) < MIN_VIEW_POINTS:
        return View(name, image_size, None, f"only {len(points)} points (need {MIN_VIEW_POINTS})", offset)
    if len(np.unique(points.ids[:, 0])) < 2 or len(np.unique(points.ids[:, 1])) < 2:
        return View(name, image_size, None, "points on one line of the grid", offset)
    if any(offset):
        points = GridPoints(points.xy + np.array(offset, np.float32), points.ids, points.confidence, points.grid,
                            points.partial, points.identity)
    return View(name, image_size, points, "", offset)


def detect_views(predictor, frames: Iterable[tuple[str, np.ndarray | None, str]]) -> list[View]:
    """segmenty's views: the predictor's points on each frame."""
    views = []
    for name, rgb, problem in frames:
        if rgb is None:
            views.append(View(name, (0, 0), None, problem))
            continue
        prediction = predictor.predict(rgb)
        size = (rgb.shape[1], rgb.shape[0])
        seen = prediction.board_without_grid
        missing = (f"a board seen (score {prediction.score:.2f}) but no grid of the pattern's points" if seen
                   else f"no board found (score {prediction.score:.2f})")
        view = view_from_points(name, size, prediction.points, missing=missing)
        view.board_seen = seen
        views.append(view)
    return views


def unusable_reasons(views: list[View]) -> str:
    """'name: reason; ...' of the views without points, whole ones up to REASONS_CHARS, then
    how many more (a message never ends inside a name)."""
    return join_reasons([f"{Path(v.name).name}: {v.reason}" for v in views if not v.usable])


def join_reasons(items: list[str], limit: int = REASONS_CHARS) -> str:
    """`items` joined by '; ', as many whole ones as fit in `limit` characters (at least one),
    then '; N more'."""
    shown: list[str] = []
    for item in items:
        if shown and len("; ".join(shown + [item])) > limit:
            break
        shown.append(item)
    rest = len(items) - len(shown)
    return "; ".join(shown + ([f"{rest} more"] if rest else []))


def spec_hint(views: list[View], layout: GridLayout) -> str:
    """What to check in the pattern spec when most views without points showed a board with
    no grid of the spec's points ('' otherwise): a chessboard spec counts squares, and typing
    the inner corners instead is the commonest mistake."""
    unusable = [v for v in views if not v.usable]
    if not unusable or 2 * sum(v.board_seen for v in unusable) < len(unusable):
        return ""
    if layout.kind == BLOB:
        return "boards seen but no grid of the spec's circles: circles:CxR counts circles (:asym for an asymmetric grid)"
    cols, rows = layout.grid  # a chessboard's or ChArUco board's inner corners
    kind = "charuco" if layout.charuco is not None else "chessboard"
    return (f"boards seen but no grid of the spec's {cols}x{rows} inner corners: {kind} specs count squares; a board "
            f"with {cols + 1}x{rows + 1} inner corners is {kind}:{cols + 2}x{rows + 2}")


# -- OpenCV's own detectors, for the side-by-side ---------------------------------------------

def opencv_detector(layout: GridLayout, method: str = "sb") -> str:
    """The name of OpenCV's detector `opencv_points` uses for this pattern and method."""
    if layout.charuco is not None:
        return "CharucoDetector"
    if layout.kind == BLOB:
        return "findCirclesGrid"
    return "findChessboardCorners" if method == "classic" else "findChessboardCornersSB"


def opencv_points(rgb: np.ndarray, layout: GridLayout, method: str = "sb") -> tuple[GridPoints | None, str]:
    """The whole board's points as OpenCV's classical detector finds them, in OpenCV's own
    order (point k of a C-wide grid gets id (k % C, k // C), as an OpenCV user's object points
    would), and the detector's name; (None, name) when it does not find the whole board.

    method "sb": findChessboardCornersSB (falling back to findChessboardCorners + cornerSubPix),
    the detector `segmenty label` uses; "classic": findChessboardCorners + cornerSubPix only,
    the one most calibration tutorials use. ChArUco: CharucoDetector (partial boards too, ids
    from the markers). Circle grids: findCirclesGrid."""
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) if rgb.ndim == 3 else rgb
    cols, rows = layout.grid
    name = opencv_detector(layout, method)
    if layout.charuco is not None:
        found = find_charuco(gray, *layout.charuco)
        if found is None:
            return None, name
        xy, ids = found
        return GridPoints(xy, ids, np.ones(len(ids)), layout.grid, len(ids) < layout.count, "markers"), name
    if layout.kind == BLOB:
        xy = find_circles(gray, (cols, rows), asymmetric=layout.basis[0, 1] != 0)
        if xy is None:
            return None, name
    elif method == "classic":
        corners = find_chessboard_classic(gray, (cols, rows))
        if corners is None:
            return None, name
        xy = corners.reshape(-1, 2)
    else:
        found = detect_grid(gray, Detector("chessboard", cols, rows))
        if found is None:
            return None, name
        grid, name = found
        xy = grid.reshape(-1, 2)
    k = np.arange(len(xy))
    ids = np.stack([k % cols, k // cols], axis=1)
    return GridPoints(xy, ids, np.ones(len(xy)), layout.grid, False, "layout"), name


def opencv_views(frames: Iterable[tuple[str, np.ndarray | None, str]], layout: GridLayout,
                 method: str = "sb") -> list[View]:
    """OpenCV's views of the same frames (see `opencv_points`)."""
    views = []
    for name, rgb, problem in frames:
        if rgb is None:
            views.append(View(name, (0, 0), None, problem))
            continue
        points, detector = opencv_points(rgb, layout, method)
        views.append(view_from_points(name, (rgb.shape[1], rgb.shape[0]), points, missing=f"{detector} found no board"))
    return views


def read_frame(name: str) -> np.ndarray:
    """The RGB photo or video frame a View's name (`photo.jpg`, `video.mp4#120`) stands for."""
    path, _, index = name.rpartition("#")
    if path and index.isdigit() and Path(path).suffix.lower() in VIDEO_SUFFIXES:
        return read_video_frame(path, int(index))
    return read_image(name)
