"""User patterns from a folder.

::

    FOLDER/pattern.png      the printed sheet (or pattern.svg, rendered with resvg)
    FOLDER/masks/NAME.png   optional masks, white = inside (transparent = outside), the
                            size of the sheet; masks/mask.png (the region to detect)
                            defaults to the whole sheet; PNG only (anything else in masks/
                            is refused: an SVG or JPEG mask is saved as PNG first)
    FOLDER/pattern.yaml     optional:  size_mm: [w, h]    physical size of the sheet
                                       dpi: 100           a PNG's, when size_mm is absent;
                                                          an SVG's rendering resolution
                                       keypoints: {name: [x, y]}   in sheet pixels
                                       description: text

A folder pattern keeps the resolution of its own files (its masks and keypoints are defined
on them); an SVG is rendered at the yaml's `dpi` (default 100) from the width and height its
<svg> element must declare, which are the sheet's size unless the yaml gives `size_mm` (a
sheet too large to hold is refused before rendering: resvg, asked, aborts the process; those
lengths are read here, resvg offers no size without rendering). The outline keypoints
default to a quadrilateral fitted to ``mask`` and ``center`` to its centroid; the yaml may
set any keypoint, these included.
"""
from __future__ import annotations

import io
import math
import os
import re
from pathlib import Path
from xml.etree import ElementTree

import cv2
import numpy as np
import yaml
from PIL import Image

from ..errors import SegmentyError, unknown_name
from ..io import MAX_PIXELS, read_image, read_mask
from .base import DEFAULT_DPI, MAX_DPI, MIN_DPI, MM_PER_INCH, OUTLINE_KEYPOINTS, Pattern

SHEET_NAMES = ("pattern.png", "pattern.svg")
YAML_KEYS = ("size_mm", "dpi", "keypoints", "description")
CSS_DPI = 96.0  # SVG user units: CSS pixels, 96 to the inch
ASPECT_TOLERANCE = 0.01  # size_mm may differ this much (relative) from the image's aspect ratio
SVG_FONT_PX = 16.0  # the font size that em and ex lengths refer to, passed to resvg
# CSS pixels per unit of an SVG length (no unit: user units, which are CSS pixels on the root).
SVG_UNIT_PX = {"": 1.0, "px": 1.0, "in": CSS_DPI, "cm": CSS_DPI / 2.54, "mm": CSS_DPI / MM_PER_INCH,
               "pt": CSS_DPI / 72, "pc": CSS_DPI / 6, "em": SVG_FONT_PX, "ex": SVG_FONT_PX / 2}
SVG_LENGTH = re.compile(r"([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(px|in|cm|mm|pt|pc|em|ex|)", re.I)


def load_folder_pattern(path: Path, dpi: float | None = None) -> Pattern:
    """Load the user pattern in folder `path`. `dpi` is ignored: the files fix the resolution."""
    path = Path(path)
    if not path.exists():
        raise SegmentyError(f"{path}: no such pattern folder (a folder with pattern.png or pattern.svg, "
                            "or a built-in spec: see 'segmenty patterns')")
    if not path.is_dir():
        raise SegmentyError(f"{path}: is a file; a user pattern is a folder with pattern.png or "
                            "pattern.svg (and optional masks/ and pattern.yaml)")
    config = _read_yaml(path / "pattern.yaml")
    native_dpi = config.get("dpi", DEFAULT_DPI)
    image, declared_mm = _read_sheet(path, native_dpi)
    h, w = image.shape[:2]
    masks = _read_masks(path / "masks", (h, w))
    if "size_mm" in config:
        size_mm = config["size_mm"]
        _check_aspect(path / "pattern.yaml", size_mm, w, h)
    else:
        size_mm = declared_mm or (w / native_dpi * MM_PER_INCH, h / native_dpi * MM_PER_INCH)
    keypoints = {**outline_keypoints(masks["mask"]), "center": mask_centroid(masks["mask"])}
    for name, point in config.get("keypoints", {}).items():
        _check_inside(path / "pattern.yaml", name, point, w, h)
        keypoints[name] = point
    return Pattern(image, masks, keypoints, size_mm, str(path),
                   description=config.get("description", f"user pattern {path.name}"),
                   extra={"folder": str(path)})


def pattern_folders_in(folder: Path) -> list[str]:
    """The names of the pattern folders (with a pattern.png or pattern.svg) inside `folder`."""
    try:
        with os.scandir(folder) as entries:
            return [entry.name for entry in entries if entry.is_dir() and not entry.name.startswith(".")
                    and any((Path(entry.path) / sheet).is_file() for sheet in SHEET_NAMES)]
    except OSError:  # an unreadable folder has none to suggest
        return []


def outline_keypoints(mask: np.ndarray) -> dict[str, tuple[float, float]]:
    """The four corners of a quadrilateral fitted to the mask's largest region, clockwise from
    top-left, on the region's pixel edges (OpenCV's convention: half a pixel beyond the centres
    of its outermost pixels)."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    contour = max(contours, key=cv2.contourArea)
    quad = _approx_quad(contour)
    centre = quad.mean(axis=0)
    # Clockwise on screen is increasing angle when y points down; start from the top-left.
    quad = quad[np.argsort(np.arctan2(quad[:, 1] - centre[1], quad[:, 0] - centre[0]))]
    quad = np.roll(quad, -int(np.argmin(quad.sum(axis=1))), axis=0)
    # The contour runs through the centres of the boundary pixels; the outline runs along their
    # outer edges (exact for axis-aligned rectangles, within half a pixel otherwise).
    quad = quad + 0.5 * np.sign(quad - centre)
    return {name: (float(x), float(y)) for name, (x, y) in zip(OUTLINE_KEYPOINTS, quad)}


def _approx_quad(contour: np.ndarray) -> np.ndarray:
    """Four corners of a contour: a polygon simplified to four vertices when one fits, else the
    minimum-area rectangle around it."""
    perimeter = cv2.arcLength(contour, True)
    for tolerance in (0.005, 0.01, 0.02, 0.04, 0.08):
        poly = cv2.approxPolyDP(contour, tolerance * perimeter, True).reshape(-1, 2)
        if len(poly) == 4 and cv2.isContourConvex(poly):
            return poly.astype(np.float64)
        if len(poly) < 4:
            break
    return cv2.boxPoints(cv2.minAreaRect(contour)).astype(np.float64)


def mask_centroid(mask: np.ndarray) -> tuple[float, float]:
    ys, xs = np.nonzero(mask)
    return float(xs.mean()), float(ys.mean())


def _read_sheet(folder: Path, dpi: float) -> tuple[np.ndarray, tuple[float, float] | None]:
    """The sheet's pixels and, for an SVG, the size in mm it declares, which is the sheet's:
    resvg rounds the pixel count up, so a size taken from the pixels printed an A4 SVG
    210.06 x 297.18 mm (and warned it larger than A4)."""
    png, svg = (folder / name for name in SHEET_NAMES)
    if png.exists() and svg.exists():
        raise SegmentyError(f"{folder}: has both pattern.png and pattern.svg; keep only one")
    if png.exists():
        return read_image(png), None
    if svg.exists():
        width_in, height_in = svg_size_inches(svg)
        return render_svg(svg, dpi), (width_in * MM_PER_INCH, height_in * MM_PER_INCH)
    raise SegmentyError(f"{folder}: a folder without pattern.png (a user pattern needs pattern.png "
                        "or pattern.svg)")


def render_svg(path: Path, dpi: float) -> np.ndarray:
    """Render an SVG file on white at `dpi` (its physical units honoured) as RGB uint8."""
    import resvg_py

    # resvg aborts the whole process when it cannot allocate the canvas, so the size the SVG
    # declares is checked before rendering.
    width_in, height_in = svg_size_inches(path)
    _check_svg_pixels(path, math.ceil(width_in * dpi), math.ceil(height_in * dpi), dpi)
    try:
        # Units follow CSS (96 px to the inch, so mm are physical), then zoom to `dpi`.
        png = resvg_py.svg_to_bytes(svg_path=str(path), background="#ffffff", dpi=CSS_DPI,
                                    zoom=dpi / CSS_DPI, resources_dir=str(path.parent),
                                    font_size=SVG_FONT_PX)
    except (ValueError, OSError, RuntimeError) as exc:
        raise SegmentyError(f"{path}: cannot render SVG ({_one_line(exc)})") from None
    with Image.open(io.BytesIO(bytes(png))) as im:
        # Again on what came out, should resvg size the sheet otherwise than its attributes say.
        _check_svg_pixels(path, im.width, im.height, dpi)
        return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()


def svg_size_inches(path: Path) -> tuple[float, float]:
    """The physical (width, height) that the root <svg> element of file `path` declares.

    A sheet without both, or with a relative size (%), has no physical size: resvg would fall
    back to the viewBox in CSS pixels and silently give a sheet of a few pixels, so it is refused.
    """
    try:
        # Only the root element's start tag is read, however large the file.
        with open(path, "rb") as file:
            _, root = next(ElementTree.iterparse(file, events=("start",)))
    except (ElementTree.ParseError, StopIteration) as exc:
        raise SegmentyError(f"{path}: cannot render SVG (not valid XML: {_one_line(exc)})") from None
    except OSError as exc:
        raise SegmentyError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if root.tag.rpartition("}")[2] != "svg":
        raise SegmentyError(f"{path}: cannot render SVG (the root element is <{root.tag}>, not <svg>)")
    hint = 'give the sheet\'s physical size on <svg>, e.g. width="210mm" height="297mm"'
    size = []
    for name in ("width", "height"):
        value = root.get(name)
        if value is None:
            raise SegmentyError(f"{path}: <svg> has no {name}, so the sheet has no physical size ({hint})")
        match = SVG_LENGTH.fullmatch(value.strip())
        if not match or float(match.group(1)) <= 0 or not math.isfinite(float(match.group(1))):
            raise SegmentyError(f"{path}: <svg> {name}=\"{value}\" is not a usable physical size ({hint})")
        size.append(float(match.group(1)) * SVG_UNIT_PX[match.group(2).lower()] / CSS_DPI)
    return size[0], size[1]


def _check_svg_pixels(path: Path, width: int, height: int, dpi: float) -> None:
    if width * height > MAX_PIXELS:
        raise SegmentyError(f"{path}: renders to {width}x{height} pixels at {dpi:g} dpi, more than "
                            f"{MAX_PIXELS:,} (check its width and height, or lower dpi in pattern.yaml)")


def _read_masks(folder: Path, shape: tuple[int, int]) -> dict[str, np.ndarray]:
    """masks/*.png. Anything else there is refused, not skipped: a mask drawn as SVG (or saved
    as JPEG) would otherwise vanish silently; PNG alone leaves no doubt about what is inside
    (white, opaque) and keeps the sheet's exact pixels."""
    masks: dict[str, np.ndarray] = {}
    if folder.is_dir():
        for file in sorted(folder.iterdir()):
            if file.name.startswith("."):  # hidden files such as macOS's ._mask.png
                continue
            if file.suffix.lower() != ".png" or not file.is_file():
                raise SegmentyError(f"{file}: masks must be PNG files the size of the sheet ({shape[1]}x{shape[0]} "
                                    f"px, white inside), e.g. {file.stem}.png; masks/ holds nothing else")
            mask = read_mask(file, shape)
            if not mask.any():
                raise SegmentyError(f"{file}: mask is empty (no pixel brighter than mid-grey; "
                                    "white marks the inside)")
            masks[file.stem] = mask
    region = masks.pop("mask") if "mask" in masks else np.ones(shape, bool)
    return {"mask": region, **masks}


def _read_yaml(path: Path) -> dict:
    """pattern.yaml, checked: unknown keys and malformed values are errors naming the file."""
    if not path.exists():
        return {}
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise SegmentyError(f"{path}: not valid YAML ({_one_line(exc)})") from None
    except OSError as exc:
        raise SegmentyError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise SegmentyError(f"{path}: expected a mapping of {', '.join(YAML_KEYS)}")
    for key in config:
        if key not in YAML_KEYS:
            raise SegmentyError(f"{path}: {unknown_name('key', str(key), YAML_KEYS)}")
    checked: dict = {}
    if "size_mm" in config:
        checked["size_mm"] = _number_pair(path, "size_mm", config["size_mm"], positive=True)
    if "dpi" in config:
        dpi = config["dpi"]
        if not _is_real(dpi) or not MIN_DPI <= dpi <= MAX_DPI:
            raise SegmentyError(f"{path}: dpi must be a number from {MIN_DPI:g} to {MAX_DPI:g}, got {dpi!r}")
        checked["dpi"] = float(dpi)
    if "keypoints" in config:
        keypoints = config["keypoints"] or {}
        if not isinstance(keypoints, dict):
            raise SegmentyError(f"{path}: keypoints must be a mapping of name: [x, y]")
        checked["keypoints"] = {str(name): _number_pair(path, f"keypoint '{name}'", value)
                                for name, value in keypoints.items()}
    if "description" in config:
        checked["description"] = str(config["description"])
    return checked


def _number_pair(path: Path, what: str, value, *, positive: bool = False) -> tuple[float, float]:
    if (not isinstance(value, (list, tuple)) or len(value) != 2 or not all(_is_real(v) for v in value)
            or (positive and min(value) <= 0)):
        kind = "two positive numbers" if positive else "two numbers"
        raise SegmentyError(f"{path}: {what} must be {kind} [x, y], got {value!r}")
    return float(value[0]), float(value[1])


def _is_real(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_aspect(path: Path, size_mm: tuple[float, float], w: int, h: int) -> None:
    image_aspect, paper_aspect = w / h, size_mm[0] / size_mm[1]
    if abs(paper_aspect / image_aspect - 1) > ASPECT_TOLERANCE:
        raise SegmentyError(f"{path}: size_mm {size_mm[0]:g}x{size_mm[1]:g} has aspect ratio "
                            f"{paper_aspect:.3f} but the image is {w}x{h} ({image_aspect:.3f})")


def _check_inside(path: Path, name: str, point: tuple[float, float], w: int, h: int) -> None:
    """A keypoint off the sheet is almost always given in the wrong unit (mm, not pixels)."""
    x, y = point
    if not (-1 <= x <= w and -1 <= y <= h):
        raise SegmentyError(f"{path}: keypoint '{name}' at ({x:g}, {y:g}) lies outside the "
                            f"{w}x{h} image (keypoints are in image pixels)")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())
