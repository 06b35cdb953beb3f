"""Printable sheets at true physical scale: PNG, PDF and SVG.

Every format is sized from the pattern's `size_mm`, which builders derive from their
whole-pixel geometry, so a printed chessboard square measures exactly SQUARE_MM:

- PNG: the pattern's pixels with their real resolution in the metadata;
- PDF: one page of exactly `size_mm` that the image fills, losslessly compressed;
- SVG: `width`/`height` in mm; black-and-white sheets as vector rectangles that reproduce the
  pixels exactly, others as an embedded PNG.

With ``masks=True`` every mask is also written as ``<stem>_<mask>.png`` beside the sheet,
whatever the sheet's format (masks are pixel data, so always PNG).
"""
from __future__ import annotations

import base64
import io
import math
import os
import warnings
import zlib
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
from PIL import Image

from ..errors import SegmentyError, UsageError, unknown_name
from ..io import atomic_write_bytes
from .base import MM_PER_INCH, Pattern
from .load import load_pattern

FORMATS = (".pdf", ".png", ".svg")
PDF_POINTS_PER_INCH = 72.0
# The paper most printers hold, (width, height) in mm. A sheet larger than each, either way
# round, is shrunk by a print dialog's default 'fit to page': every square comes out too small.
PAPERS_MM = {"A4": (210.0, 297.0), "Letter": (215.9, 279.4)}
PAPER_SLACK_MM = 0.01  # a sheet of exactly Letter size (the segmenty page) fits Letter


def write_pattern(spec: str, out: str | os.PathLike, dpi: float = 300, masks: bool = False) -> list[Path]:
    """Write the printable sheet of `spec` to `out` (.png, .pdf or .svg) rendered at `dpi`;
    with `masks`, also ``<stem>_<mask>.png`` beside it. Returns the paths written."""
    out = Path(out)
    suffix = out.suffix.lower()
    if out.is_dir():
        raise UsageError(f"--out {out}: is a folder; give a file name ending in {', '.join(FORMATS)}")
    if suffix not in FORMATS:
        raise UsageError(f"--out {out}: {unknown_name('format', suffix or '(none)', FORMATS)}")
    pattern = load_pattern(spec, dpi)
    warn_if_larger_than_paper(pattern)
    encode = {".png": encode_png, ".pdf": encode_pdf, ".svg": encode_svg}[suffix]
    _write(out, encode(pattern))
    written = [out]
    if masks:
        for name in pattern.mask_names:
            mask_path = out.with_name(f"{out.stem}_{name}.png")
            _write(mask_path, _png_bytes(pattern.masks[name].astype(np.uint8) * 255, pattern.dpi))
            written.append(mask_path)
    return written


def paper_scale(size_mm: tuple[float, float]) -> tuple[float, str]:
    """(the largest scale at which a sheet of `size_mm` fits one of PAPERS_MM either way round,
    that paper's name): a scale of 1 or more fits."""
    w, h = size_mm
    return max((min((pw + PAPER_SLACK_MM) / a, (ph + PAPER_SLACK_MM) / b), name)
               for name, (pw, ph) in PAPERS_MM.items() for a, b in ((w, h), (h, w)))


def warn_if_larger_than_paper(pattern: Pattern) -> None:
    """Warn (one line) when the sheet is larger than A4 and Letter either way round: it must be
    printed at 100% on larger paper, or asked for smaller (a spec that fits is named)."""
    scale, paper = paper_scale(pattern.size_mm)
    if scale >= 1:
        return
    w, h = (round(v, 1) for v in pattern.size_mm)
    circles = pattern.grid is not None and pattern.grid.kind == "circles"
    advice = "a smaller pattern"
    # A board's spec ends with its square size (a circle grid's spacing) in mm: the same spec
    # with that size scaled down to fit, in whole millimetres.
    head, _, tail = pattern.spec.rpartition(":")
    if pattern.grid is not None and tail == f"{pattern.grid.spacing_mm:g}":
        fitting = math.floor(scale * pattern.grid.spacing_mm)
        advice = f"{'a smaller spacing' if circles else 'smaller squares'} in the spec ({head}:{fitting} fits {paper})"
    warnings.warn(f"{pattern.spec}: the sheet is {w:g} x {h:g} mm, larger than A4 and Letter: print it at 100% "
                  f"(not 'fit to page', which shrinks the {'circles' if circles else 'squares'}) on larger paper, "
                  f"or ask for {advice}")


def _write(path: Path, data: bytes) -> None:
    try:
        atomic_write_bytes(path, data)
    except OSError as exc:  # a read-only folder, a parent that is a file, a full disk
        raise SegmentyError(f"{path}: cannot write ({exc.strerror or exc})") from None


def encode_png(pattern: Pattern) -> bytes:
    return _png_bytes(pattern.image, pattern.dpi)


def encode_pdf(pattern: Pattern) -> bytes:
    """One page of exactly `size_mm`, the image filling it, losslessly compressed.

    Written directly rather than through Pillow, whose PDF writer stores colour images as JPEG:
    a 1-bit image for black-and-white sheets, 8-bit RGB for others, both Flate-compressed.
    """
    h, w = pattern.image.shape[:2]
    page_w, page_h = (v / MM_PER_INCH * PDF_POINTS_PER_INCH for v in pattern.size_mm)
    if is_black_and_white(pattern.image):
        # 1 bit per pixel, rows padded to whole bytes; 1 is white in DeviceGray.
        pixels, colour, bits = np.packbits(pattern.image[..., 0] >= 128, axis=1), "/DeviceGray", 1
    else:
        pixels, colour, bits = pattern.image, "/DeviceRGB", 8
    image_data = zlib.compress(np.ascontiguousarray(pixels).tobytes(), 9)
    # The image space is the unit square: scale it to the page.
    content = f"q {_num(page_w)} 0 0 {_num(page_h)} 0 0 cm /Im0 Do Q".encode("ascii")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        (f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {_num(page_w)} {_num(page_h)}] "
         f"/Resources << /XObject << /Im0 4 0 R >> >> /Contents 5 0 R >>").encode("ascii"),
        _pdf_stream(f"/Type /XObject /Subtype /Image /Width {w} /Height {h} /ColorSpace {colour} "
                    f"/BitsPerComponent {bits} /Filter /FlateDecode", image_data),
        _pdf_stream("", content),
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode("ascii") + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode("ascii")
    out += b"".join(f"{offset:010d} 00000 n \n".encode("ascii") for offset in offsets)
    out += (f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\n"
            f"startxref\n{xref}\n%%EOF\n").encode("ascii")
    return bytes(out)


def _pdf_stream(entries: str, data: bytes) -> bytes:
    return (f"<< {entries} /Length {len(data)} >>\nstream\n".encode("ascii") + data
            + b"\nendstream")


def _num(value: float) -> str:
    """A PDF real: plain decimal notation (PDF has no exponents), to a millionth of a point."""
    return f"{value:.6f}".rstrip("0").rstrip(".")


def encode_svg(pattern: Pattern) -> bytes:
    """An SVG whose width and height are the sheet's size in mm, drawn in pixel units."""
    h, w = pattern.image.shape[:2]
    width_mm, height_mm = pattern.size_mm
    if is_black_and_white(pattern.image):
        body = (f'<rect width="{w}" height="{h}" fill="#ffffff"/>\n'
                f'<path fill="#000000" shape-rendering="crispEdges" d="{black_path(pattern.image[..., 0] < 128)}"/>')
    else:
        data = base64.b64encode(_png_bytes(pattern.image, pattern.dpi)).decode("ascii")
        body = (f'<image width="{w}" height="{h}" preserveAspectRatio="none" style="image-rendering:pixelated" '
                f'href="data:image/png;base64,{data}"/>')
    svg = (f'<?xml version="1.0" encoding="UTF-8"?>\n'
           f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" '
           f'width="{_num(width_mm)}mm" height="{_num(height_mm)}mm" viewBox="0 0 {w} {h}">\n'
           f'<title>{escape(pattern.spec)}</title>\n{body}\n</svg>\n')
    return svg.encode("utf-8")


def is_black_and_white(image: np.ndarray) -> bool:
    """True when every pixel is pure black or pure white (chessboards, ChArUco, circle grids)."""
    gray = image[..., 0]
    return bool(((gray == 0) | (gray == 255)).all() and (image == gray[..., None]).all())


def black_path(black: np.ndarray) -> str:
    """SVG path data covering exactly the True pixels, as rectangles: runs of a row, merged
    with the identical runs of the rows below (one rectangle per chessboard square)."""
    h, w = black.shape
    padded = np.zeros((h, w + 2), np.int8)
    padded[:, 1:-1] = black
    edges = np.diff(padded, axis=1)
    open_runs: dict[tuple[int, int], int] = {}  # (x0, x1) -> first row
    parts: list[str] = []

    def close(run: tuple[int, int], y0: int, y1: int) -> None:
        x0, x1 = run
        parts.append(f"M{x0} {y0}h{x1 - x0}v{y1 - y0}h{x0 - x1}z")

    for y in range(h + 1):
        runs = set()
        if y < h:
            starts, ends = np.flatnonzero(edges[y] == 1), np.flatnonzero(edges[y] == -1)
            runs = set(zip(starts.tolist(), ends.tolist()))
        for run in [r for r in open_runs if r not in runs]:
            close(run, open_runs.pop(run), y)
        for run in runs:
            open_runs.setdefault(run, y)
    return "".join(parts)


def _png_bytes(pixels: np.ndarray, dpi: float) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "PNG", dpi=(dpi, dpi))
    return buf.getvalue()

