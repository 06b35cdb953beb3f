"""Procedural textures: the built-in backgrounds and the content of distractor patches.

Each generator makes an h×w×3 uint8 RGB image from a numpy Generator and nothing else, so a
texture is reproducible from its seed. They imitate what fills real photos and can fool a
detector: smooth and multi-scale noise, gradients, stripes, clutter of shapes, printed text,
foliage, scattered dots, tiled grids, building fronts, fabric (plaid), and other printed targets (fiducial
marker sheets, circle grids). A texture that could be the pattern itself is left out for that
pattern (see `texture_kinds`): a chessboard detector must never be taught that checkers are
background, nor a circle-grid detector that circle grids are.
"""
from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

Texture = Callable[[np.random.Generator, int, int], np.ndarray]

# Texture kinds that look like a pattern kind, and the only pattern kinds they may show for
# (a folder pattern is unknown: none of them). Checkers are a fair distractor for a circle
# grid, a circle grid for a chessboard; fiducial marker sheets for any pattern but ChArUco.
LOOKALIKES = {
    "checkers": frozenset({"segmenty", "circles"}),
    "circle_grid": frozenset({"segmenty", "chessboard", "charuco"}),
    "markers": frozenset({"segmenty", "chessboard", "circles"}),
}


def random_colour(rng: np.random.Generator, low: int = 0, high: int = 256) -> tuple[int, int, int]:
    c = rng.integers(low, high, 3)
    return int(c[0]), int(c[1]), int(c[2])


def _palette_image(values: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """Map values in [0, 1] (h×w float32) through a piecewise-linear palette (n×3 uint8)."""
    lut = np.empty((256, 3), np.uint8)
    stops = np.linspace(0, 255, len(colours))
    for c in range(3):
        lut[:, c] = np.interp(np.arange(256), stops, colours[:, c]).astype(np.uint8)
    index = np.clip(values * 255, 0, 255).astype(np.uint8)
    return cv2.LUT(cv2.merge([index, index, index]), lut.reshape(256, 1, 3))


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cells: int) -> np.ndarray:
    """Random values on a cells×cells grid, smoothly interpolated to h×w (float32)."""
    grid = rng.random((cells + 1, cells + 1), dtype=np.float32)
    return cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)


def multiscale_noise(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Fractal value noise (2 to 6 octaves) through a random 2–4 colour palette."""
    octaves = int(rng.integers(2, 7))
    base = int(rng.integers(2, 6))
    persistence = rng.uniform(0.4, 0.8)
    total = np.zeros((h, w), np.float32)
    amplitude, norm = 1.0, 0.0
    for o in range(octaves):
        total += np.float32(amplitude) * _smooth_noise(rng, h, w, min(base << o, max(h, w) // 2))
        norm += amplitude
        amplitude *= persistence
    total /= np.float32(norm)
    total = (total - total.min()) / max(float(np.ptp(total)), 1e-6)
    return _palette_image(total, rng.integers(0, 256, (int(rng.integers(2, 5)), 3)))


def gradient(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A linear gradient between two colours with faint low-frequency blotches (walls, sky)."""
    angle = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    t = (np.cos(angle) * xx / w + np.sin(angle) * yy / h)
    t = (t - t.min()) / max(float(np.ptp(t)), 1e-6)
    t = np.clip(t + np.float32(rng.uniform(0, 0.3)) * (_smooth_noise(rng, h, w, 3) - 0.5), 0, 1)
    return _palette_image(t, rng.integers(0, 256, (2, 3)))


def stripes(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Parallel stripes (hard or soft) at a random angle and period: fences, blinds, fabric."""
    angle = rng.uniform(0, np.pi)
    period = rng.uniform(4, max(6.0, min(h, w) / 4))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    phase = (np.cos(angle) * xx + np.sin(angle) * yy) * np.float32(2 * np.pi / period)
    wave = np.float32(0.5) + np.float32(0.5) * np.sin(phase + np.float32(rng.uniform(0, 2 * np.pi)))
    if rng.random() < 0.5:  # hard-edged with a random duty cycle
        wave = (wave > rng.uniform(0.2, 0.8)).astype(np.float32)
    return _palette_image(wave, rng.integers(0, 256, (2, 3)))


def shape_clutter(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Overlapping filled rectangles, circles, triangles and thick lines in random colours."""
    img = np.empty((h, w, 3), np.uint8)
    img[:] = random_colour(rng)
    scale = max(h, w)
    for _ in range(int(rng.integers(8, 40))):
        colour = random_colour(rng)
        kind = rng.integers(0, 4)
        cx, cy = int(rng.integers(0, w)), int(rng.integers(0, h))
        r = int(rng.integers(2, max(3, scale // 6)))
        if kind == 0:
            box = cv2.boxPoints(((cx, cy), (r * rng.uniform(0.5, 2), r * rng.uniform(0.5, 2)),
                                 rng.uniform(0, 180)))
            cv2.fillConvexPoly(img, box.astype(np.int32), colour, cv2.LINE_AA)
        elif kind == 1:
            cv2.circle(img, (cx, cy), r, colour, -1, cv2.LINE_AA)
        elif kind == 2:
            pts = np.array([cx, cy]) + rng.integers(-r, r + 1, (3, 2))
            cv2.fillConvexPoly(img, pts.astype(np.int32), colour, cv2.LINE_AA)
        else:
            end = (cx + int(rng.integers(-2 * r, 2 * r + 1)), cy + int(rng.integers(-2 * r, 2 * r + 1)))
            cv2.line(img, (cx, cy), end, colour, int(rng.integers(1, 6)), cv2.LINE_AA)
    return img


_LETTERS = np.array(list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,:;-!?"))
_FONTS = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX,
          cv2.FONT_HERSHEY_TRIPLEX, cv2.FONT_HERSHEY_PLAIN, cv2.FONT_HERSHEY_SCRIPT_SIMPLEX)


def text_marks(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Lines of random letters in a random font on light paper: pages, posters, signs."""
    paper = rng.integers(170, 256)
    img = np.empty((h, w, 3), np.uint8)
    img[:] = (paper + rng.integers(-15, 16, 3)).clip(0, 255).astype(np.uint8)
    ink = random_colour(rng, 0, 90)
    font = int(_FONTS[rng.integers(len(_FONTS))])
    font_scale = rng.uniform(0.25, 1.2) * max(h, w) / 256
    thickness = int(rng.integers(1, 3))
    line_height = max(6, int(cv2.getTextSize("Ag", font, font_scale, thickness)[0][1] * rng.uniform(1.6, 2.4)))
    margin = int(rng.integers(0, max(1, w // 8)))
    for y in range(line_height, h + line_height, line_height):
        words = rng.integers(1, 10)
        line = " ".join("".join(rng.choice(_LETTERS, rng.integers(1, 9))) for _ in range(words))
        cv2.putText(img, line, (margin, y), font, font_scale, ink, thickness, cv2.LINE_AA)
    return img


def foliage(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Leaves: many small overlapping ellipses in greens, olives and browns over dark shade,
    with some bright gaps (sky through a tree), blurred a little: trees, shrubs, hedges."""
    hue = rng.uniform(25, 95)  # OpenCV hue units (0..180): yellow-green to green-cyan
    img_hsv = np.empty((h, w, 3), np.uint8)
    img_hsv[:] = (int(hue), int(rng.integers(60, 200)), int(rng.integers(10, 70)))
    count = int(h * w / rng.uniform(15, 60))
    leaf = max(2.0, max(h, w) / rng.uniform(25, 80))
    centres = rng.integers(0, (w, h), (count, 2))
    axes = (rng.uniform(0.4, 1.0, (count, 2)) * leaf * np.array([1.0, rng.uniform(0.3, 0.8)])).astype(int) + 1
    angles = rng.integers(0, 180, count)
    hues = np.clip(hue + rng.normal(0, 12, count), 0, 179).astype(int)
    sats = rng.integers(40, 256, count)
    vals = np.clip(rng.gamma(2.0, 45, count), 0, 255).astype(int)
    gaps = rng.random(count) < rng.uniform(0, 0.08)  # sky or light between the leaves
    for (cx, cy), (a, b), ang, hh, ss, vv, gap in zip(centres, axes, angles, hues, sats, vals, gaps):
        colour = (100, 20, 240) if gap else (int(hh), int(ss), int(vv))
        cv2.ellipse(img_hsv, (int(cx), int(cy)), (int(a), int(b)), int(ang), 0, 360, colour, -1)
    img = cv2.cvtColor(img_hsv, cv2.COLOR_HSV2RGB)
    return cv2.GaussianBlur(img, (3, 3), 0) if rng.random() < 0.5 else img


def scattered_dots(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Dots and rings of random sizes at random (never regular) places: gravel, spots, bokeh."""
    img = np.empty((h, w, 3), np.uint8)
    img[:] = random_colour(rng)
    count = int(h * w / rng.uniform(100, 800))
    radius = max(1.5, max(h, w) / rng.uniform(30, 120))
    for _ in range(count):
        r = max(1, int(radius * rng.uniform(0.3, 1.5)))
        thickness = -1 if rng.random() < 0.7 else max(1, r // 3)
        cv2.circle(img, (int(rng.integers(0, w)), int(rng.integers(0, h))), r, random_colour(rng),
                   thickness, cv2.LINE_AA)
    return img


def tiled_grid(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Lines in two directions with jittered spacing: tiles, windows, shelves, brickwork.
    Cells are all filled alike, never alternately, so this is never a checkerboard."""
    img = np.empty((h, w, 3), np.uint8)
    img[:] = random_colour(rng)
    line = random_colour(rng)
    thickness = int(rng.integers(1, 5))
    for axis in (0, 1):
        extent = w if axis == 0 else h
        spacing = rng.uniform(8, max(10.0, extent / 3))
        offset = rng.uniform(0, 20)
        while offset < extent:
            p = int(offset)
            if axis == 0:
                cv2.line(img, (p, 0), (p, h), line, thickness)
            else:
                cv2.line(img, (0, p), (w, p), line, thickness)
            offset += spacing * rng.uniform(0.8, 1.2)
    angle = rng.uniform(-30, 30)
    rot = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    return cv2.warpAffine(img, rot, (w, h), borderMode=cv2.BORDER_REFLECT)


def facade(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A building's front: a wall under soft light with floors of windows, each a frame around
    glass that reflects a smooth sky or shade, some with mullions, some lit. The windows
    of a facade are alike, never alternating, so this is never a checkerboard; their regular
    rows of dark rectangles with light frames are what a board detector fires on in streets."""
    grey = rng.uniform(40, 230)
    wall = np.float32(0.6) * grey + np.float32(0.4) * np.array(random_colour(rng, 40, 240), np.float32)  # walls are dull
    shade = 0.75 + 0.5 * _smooth_noise(rng, h, w, 2)[..., None]
    img = np.clip(wall * shade, 0, 255).astype(np.uint8)
    cell_w = rng.uniform(10, max(12.0, w / 3))
    cell_h = cell_w * rng.uniform(0.8, 1.6)
    fill = rng.uniform(0.35, 0.8, 2)  # a window's width and height, fraction of its cell
    frame = random_colour(rng, 150, 256) if rng.random() < 0.6 else random_colour(rng, 0, 90)
    frame_px = max(1, int(cell_w * rng.uniform(0.03, 0.1)))
    mullions = rng.random() < 0.5
    glass_base = np.array(random_colour(rng, 10, 140), np.float32)
    sky = np.clip(glass_base + 90 * _smooth_noise(rng, h, w, 3)[..., None], 0, 255).astype(np.uint8)
    mask = np.zeros((h, w), np.uint8)
    windows = []
    ww, wh = cell_w * fill[0], cell_h * fill[1]
    y = rng.uniform(-cell_h, 0)
    while y < h:
        x = rng.uniform(-cell_w, 0)
        while x < w:
            x0, y0 = int(x + (cell_w - ww) / 2), int(y + (cell_h - wh) / 2)
            x1, y1 = int(x0 + ww), int(y0 + wh)
            cv2.rectangle(mask, (x0, y0), (x1, y1), 255, -1)
            cv2.rectangle(img, (x0, y0), (x1, y1), frame, frame_px)
            windows.append((x0, y0, x1, y1))
            x += cell_w
        y += cell_h
    inner = cv2.erode(mask, np.ones((2 * frame_px + 1,) * 2, np.uint8)) > 0
    img[inner] = sky[inner]
    if rng.random() < 0.3:  # a few windows lit from inside (evenings, offices)
        count, labels = cv2.connectedComponents(inner.astype(np.uint8))
        on = np.flatnonzero(rng.random(count) < 0.2)
        img[np.isin(labels, on[on > 0])] = random_colour(rng, 180, 256)
    if mullions:  # a vertical bar and a transom in every window
        for x0, y0, x1, y1 in windows:
            cv2.line(img, ((x0 + x1) // 2, y0), ((x0 + x1) // 2, y1), frame, frame_px)
            cv2.line(img, (x0, y0 + (y1 - y0) // 3), (x1, y0 + (y1 - y0) // 3), frame, frame_px)
    angle = rng.uniform(-20, 20)
    rot = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    return cv2.warpAffine(img, rot, (w, h), borderMode=cv2.BORDER_REFLECT)


def checkers(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A checkerboard in two random colours with random cell size and angle (only used for
    patterns without checkers; see LOOKALIKES)."""
    cell = rng.uniform(4, max(6.0, min(h, w) / 4))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = rng.uniform(0, np.pi / 2)
    u = (np.cos(angle) * xx + np.sin(angle) * yy) / np.float32(cell)
    v = (-np.sin(angle) * xx + np.cos(angle) * yy) / np.float32(cell)
    board = ((np.floor(u) + np.floor(v)) % 2).astype(np.float32)
    return _palette_image(board, rng.integers(0, 256, (2, 3)))


def plaid(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Woven fabric: two crossing sets of translucent stripes over a base colour, so the cells
    take three or four tones (shirts, blankets, tablecloths), never a two-tone checkerboard."""
    base, warp, weft = (np.array(random_colour(rng), np.float32) for _ in range(3))
    period = rng.uniform(6, max(8.0, min(h, w) / 5))
    duty = rng.uniform(0.25, 0.6, 2)
    angle = rng.uniform(0, np.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    u = (np.cos(angle) * xx + np.sin(angle) * yy) / np.float32(period)
    v = (-np.sin(angle) * xx + np.cos(angle) * yy) / np.float32(period * rng.uniform(0.7, 1.4))
    a = ((u % 1) < duty[0]).astype(np.float32)[..., None] * np.float32(rng.uniform(0.35, 0.65))
    b = ((v % 1) < duty[1]).astype(np.float32)[..., None] * np.float32(rng.uniform(0.35, 0.65))
    img = base * (1 - a) + warp * a
    img = img * (1 - b) + weft * b
    return np.clip(img, 0, 255).astype(np.uint8)


def _target_sheet(rng: np.random.Generator, h: int, w: int) -> tuple[np.ndarray, int, int, float]:
    """White paper and a regular grid on it: the image, columns, rows and cell size."""
    img = np.empty((h, w, 3), np.uint8)
    img[:] = int(rng.integers(200, 256))
    cell = rng.uniform(10, max(12.0, min(h, w) / 4))
    return img, max(1, int(w / cell) - 1), max(1, int(h / cell) - 1), cell


def fiducial_markers(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A sheet of square fiducial markers (ArUco / AprilTag style): black-bordered squares
    with a random binary code inside, in a grid with white gaps."""
    img, cols, rows, cell = _target_sheet(rng, h, w)
    bits = int(rng.integers(4, 7))
    marker = cell * rng.uniform(0.6, 0.85)
    for r in range(rows):
        for c in range(cols):
            code = np.zeros((bits + 2, bits + 2), np.uint8)
            code[1:-1, 1:-1] = (rng.random((bits, bits)) < 0.5) * 255
            x0, y0 = (c + 0.5) * cell + (cell - marker) / 2, (r + 0.5) * cell + (cell - marker) / 2
            side = int(round(marker))
            if side < 4 or x0 + side > w or y0 + side > h:
                continue
            tile = cv2.resize(code, (side, side), interpolation=cv2.INTER_NEAREST)
            img[int(y0):int(y0) + side, int(x0):int(x0) + side] = tile[..., None]
    return img


def circle_grid(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A calibration grid of filled dark circles on white, symmetric or staggered."""
    img, cols, rows, cell = _target_sheet(rng, h, w)
    radius = cell * rng.uniform(0.2, 0.4)
    staggered = rng.random() < 0.5
    ink = random_colour(rng, 0, 60)
    for r in range(rows):
        for c in range(cols):
            x = (c + 1 + (0.5 if staggered and r % 2 else 0.0)) * cell
            y = (r + 1) * cell
            cv2.circle(img, (int(x * 16), int(y * 16)), int(radius * 16), ink, -1, cv2.LINE_AA, shift=4)
    return img


TEXTURES: dict[str, Texture] = {
    "noise": multiscale_noise,
    "gradient": gradient,
    "stripes": stripes,
    "shapes": shape_clutter,
    "text": text_marks,
    "foliage": foliage,
    "dots": scattered_dots,
    "grid": tiled_grid,
    "facade": facade,
    "checkers": checkers,
    "plaid": plaid,
    "markers": fiducial_markers,
    "circle_grid": circle_grid,
}


def texture_kinds(pattern_kind: str | tuple[str, ...]) -> list[str]:
    """The texture kinds that are safe as background for a pattern of `pattern_kind` (for a
    family of several kinds, safe for every one of them)."""
    kinds = (pattern_kind,) if isinstance(pattern_kind, str) else tuple(pattern_kind)
    return [k for k in TEXTURES if k not in LOOKALIKES or all(p in LOOKALIKES[k] for p in kinds)]
