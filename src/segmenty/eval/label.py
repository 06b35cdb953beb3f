"""Ground truth for real photos from a classical detector: ``segmenty label``.

OpenCV finds a chessboard's (or ChArUco board's) inner corners to sub-pixel accuracy but says
nothing about the board's edge. The squares area ends one square beyond the outermost inner
corners, so we extrapolate one more ring of points along the detected corner grid — a
quadratic through three neighbours follows perspective foreshortening and lens distortion —
and fill the polygon through that ring, densely resampled so its sides bend with the lens
instead of being straight lines between four corners.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ..classical import Detector, detect_grid, parse_detector
from ..errors import SegmentyError
from ..io import atomic_write_text, check_out_dir, read_images_skipping, write_image

MASK_SUFFIX = "_mask.png"
SAMPLES_PER_SIDE_SEGMENT = 8  # points between two ring points: enough for a smooth curved side


def extend_grid(grid: np.ndarray) -> np.ndarray:
    """Add one ring of points around a rows×cols×2 grid by extrapolating along its rows and
    columns: quadratic (p[-1] = 3 p0 - 3 p1 + p2, which follows perspective and lens
    curvature) where three points exist, else linear (p[-1] = 2 p0 - p1).

    The four new corners are extrapolated twice; doing that quadratically multiplies the
    corner-detection noise (and model error) by ~19, so they are extrapolated linearly in
    both directions. On the real calibration photos, predicting the detected outer ring from
    the grid inside it, this cut the worst corner error from 14 to 12 px and the mean error
    from 1.3 to 1.2 px (all-linear: 2.1 px mean).
    """
    out = _extend(grid, quadratic=True)
    out[[0, 0, -1, -1], [0, -1, 0, -1]] = _extend(grid, quadratic=False)[[0, 0, -1, -1], [0, -1, 0, -1]]
    return out


def _extend(grid: np.ndarray, quadratic: bool) -> np.ndarray:
    # Columns first, then rows of the widened grid: the new corners are extrapolated twice.
    for axis in (1, 0):
        n = grid.shape[axis]
        ends = []
        for end, step in ((0, 1), (n - 1, -1)):
            p0, p1, p2 = (np.take(grid, [min(max(end + k * step, 0), n - 1)], axis=axis) for k in range(3))
            ends.append(3 * p0 - 3 * p1 + p2 if quadratic and n >= 3 else 2 * p0 - p1)
        grid = np.concatenate([ends[0], grid, ends[1]], axis=axis)
    return grid


def ring(grid: np.ndarray) -> list[np.ndarray]:
    """The four sides of a grid's outer ring, clockwise, each an N×2 polyline sharing its end
    points with the next side."""
    return [grid[0, :], grid[:, -1], grid[-1, ::-1], grid[::-1, 0]]


def densify(side: np.ndarray, per_segment: int = SAMPLES_PER_SIDE_SEGMENT) -> np.ndarray:
    """Resample a polyline with a Catmull-Rom spline through its points, so a side bent by the
    lens is filled as a curve. End tangents come from mirrored phantom points."""
    if len(side) < 3:
        return side
    pts = np.concatenate([2 * side[:1] - side[1:2], side, 2 * side[-1:] - side[-2:-1]])
    t = np.linspace(0, 1, per_segment, endpoint=False)[:, None]
    out = []
    for i in range(1, len(pts) - 2):
        p0, p1, p2, p3 = pts[i - 1], pts[i], pts[i + 1], pts[i + 2]
        out.append(0.5 * (2 * p1 + (p2 - p0) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t ** 2
                          + (3 * p1 - p0 - 3 * p2 + p3) * t ** 3))
    out.append(side[-1:])
    return np.concatenate(out)


def grid_mask(grid: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """H×W bool mask of the squares area of a board whose inner corners are `grid`."""
    outline = np.concatenate([densify(side)[:-1] for side in ring(extend_grid(grid))])
    mask = np.zeros(shape, np.uint8)
    shift = 4  # sub-pixel vertices: coordinates in 1/16 pixel
    cv2.fillPoly(mask, [np.round(outline * (1 << shift)).astype(np.int32)], 1, cv2.LINE_8, shift)
    return mask.astype(bool)


def label_image(rgb: np.ndarray, detector: Detector) -> tuple[np.ndarray, str] | None:
    """(mask, method) for one photo, or None when the whole board is not found."""
    found = detect_grid(rgb, detector)
    if found is None:
        return None
    grid, method = found
    return grid_mask(grid, rgb.shape[:2]), method


@dataclass
class LabelResult:
    """What `label_images` wrote (photo path -> mask path), the photos where the board was not
    found and those that could not be read (path -> why)."""

    detector: str
    labelled: dict[str, str] = field(default_factory=dict)
    methods: dict[str, str] = field(default_factory=dict)
    not_found: list[str] = field(default_factory=list)
    unreadable: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"detector": self.detector, "labelled": self.labelled, "methods": self.methods,
                "not_found": self.not_found, "unreadable": self.unreadable}


def mask_path(masks_dir: str | os.PathLike, image: str | os.PathLike) -> Path:
    """Where the truth mask of `image` lives: ``<masks_dir>/<stem>_mask.png``."""
    return Path(masks_dir) / f"{Path(image).stem}{MASK_SUFFIX}"


def is_mask_file(path: str | os.PathLike) -> bool:
    return Path(path).name.endswith(MASK_SUFFIX)


def _inner_corners_hint(detector: Detector) -> str:
    """For a chessboard none of whose photos showed it: how a spec counts, in case its numbers
    were the inner corners (`label` read them so before it counted squares like every spec)."""
    if detector.kind != "chessboard":
        return ""
    cols, rows = detector.squares
    return (f" (a spec counts squares: chessboard:{cols}x{rows} has {cols - 1}x{rows - 1} inner corners; "
            f"a board of {cols}x{rows} inner corners is chessboard:{cols + 1}x{rows + 1})")


def label_images(images: list[Path], detector: Detector | str, out_dir: str | os.PathLike) -> LabelResult:
    """Write ``<stem>_mask.png`` (255 inside the board) into `out_dir` for every photo where
    the whole board is found, and ``labels.json`` listing what was and was not labelled.

    An unreadable photo is skipped with a warning naming it (the others are still labelled);
    SegmentyError when no photo at all could be read, or the board is found in none."""
    if isinstance(detector, str):
        detector = parse_detector(detector)
    images = [p for p in images if not is_mask_file(p)]  # a labelled folder can be relabelled
    if not images:
        raise SegmentyError("label: no images given (expected photos: .jpg, .png, ...)")
    stems: dict[str, Path] = {}
    for p in images:
        if p.stem in stems:
            raise SegmentyError(f"{p}: same name as {stems[p.stem]}; their masks would overwrite "
                                "each other (label them into different --out folders)")
        stems[p.stem] = p
    out_dir = check_out_dir(out_dir)
    result = LabelResult(detector.spec)
    for path, rgb in read_images_skipping(images, skipped=result.unreadable):
        found = label_image(rgb, detector)
        if found is None:
            result.not_found.append(str(path))
            continue
        mask, method = found
        target = mask_path(out_dir, path)
        write_image(target, mask.astype(np.uint8) * 255)
        result.labelled[str(path)] = str(target)
        result.methods[str(path)] = method
    if len(result.unreadable) == len(images):
        raise SegmentyError(f"label: none of the {len(images)} photos could be read "
                            f"(first: {next(iter(result.unreadable.values()))})")
    if not result.labelled:
        raise SegmentyError(f"--detector {detector.spec}: no whole board found in any of the {len(result.not_found)} "
                            f"photos{_inner_corners_hint(detector)}")
    atomic_write_text(out_dir / "labels.json", json.dumps(result.to_dict(), indent=2) + "\n")
    return result
