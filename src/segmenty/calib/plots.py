"""Pictures of a calibration, drawn with OpenCV (no plotting library): where the points fell in
the image (`coverage_picture`) and each view's reprojection error (`error_plot`)."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..viz import BAND_COLOUR, BAR_COLOURS, VIEW_COLOURS
from .camera import BORDER_BAND, Calibration, coverage_mask
from .views import View

PANEL_WIDTH = 640
FONT = cv2.FONT_HERSHEY_SIMPLEX


def coverage_panel(views: list[View], calibration: Calibration | None, title: str,
                   image_size: tuple[int, int]) -> np.ndarray:
    """One RGB panel: the image area, shaded by how many views' hulls of points cover each
    place, every used point as a dot in its view's colour, the outer 10% band outlined."""
    w, h = image_size
    k = PANEL_WIDTH / w
    size = (PANEL_WIDTH, max(1, round(h * k)))
    used = [v for v in views if v.usable and (calibration is None or calibration.views.get(v.name, {}).get("used"))]
    count = cv2.resize(coverage_mask(used, image_size).astype(np.float32), size, interpolation=cv2.INTER_AREA)
    shade = np.clip(count / max(1.0, float(count.max())), 0, 1)
    panel = (235 - 150 * shade[..., None]).repeat(3, axis=2).astype(np.uint8)
    panel[count == 0] = (250, 250, 250)
    for i, v in enumerate(used):
        colour = VIEW_COLOURS[i % len(VIEW_COLOURS)]
        for x, y in v.points.xy * k:
            cv2.circle(panel, (int(round(x * 16)), int(round(y * 16))), 2 * 16, colour, -1, cv2.LINE_AA, shift=4)
    bx, by = BORDER_BAND * size[0], BORDER_BAND * size[1]
    cv2.rectangle(panel, (int(bx), int(by)), (int(size[0] - bx), int(size[1] - by)), BAND_COLOUR, 1, cv2.LINE_AA)
    cv2.rectangle(panel, (0, 0), (size[0] - 1, size[1] - 1), (0, 0, 0), 1)
    lines = [title]
    if calibration is not None:
        s = calibration.summary()
        lines.append(f"{s['views_used']} views, {s['points_used']} points; covers {s['coverage_image']:.0%} "
                     f"of the image, {s['coverage_border']:.0%} of its outer 10%")
    return _with_caption(panel, lines)


def coverage_picture(panels: list[np.ndarray]) -> np.ndarray:
    """Panels side by side (same height after captions), on white."""
    height = max(p.shape[0] for p in panels)
    padded = [np.pad(p, ((0, height - p.shape[0]), (0, 8), (0, 0)), constant_values=255) for p in panels]
    return np.concatenate(padded, axis=1)


def error_plot(calibrations: dict[str, Calibration], views: list[str]) -> np.ndarray:
    """Grouped bars per view: each calibration's reprojection RMS and held-out RMS (px); a
    view a calibration did not use gets an 'x'."""
    names = list(calibrations)
    series = [(n, key) for n in names for key in ("rms", "held_out_rms")]
    top = max([c.views.get(v, {}).get(key) or 0.0 for c in calibrations.values() for v in views
               for key in ("rms", "held_out_rms")] + [0.1])
    top = float(np.ceil(top * 10) / 10)
    bar = 6
    group = bar * len(series) + 6
    left, bottom, plot_h = 50, 110, 240
    width = left + group * len(views) + 20
    height = plot_h + bottom + 40 + 16 * len(series)
    img = np.full((height, max(width, 420), 3), 255, np.uint8)
    y0 = 20 + plot_h
    for t in np.linspace(0, top, 5):
        y = int(round(y0 - plot_h * t / top))
        cv2.line(img, (left, y), (img.shape[1] - 10, y), (225, 225, 225), 1)
        cv2.putText(img, f"{t:.2f}", (4, y + 4), FONT, 0.35, (0, 0, 0), 1, cv2.LINE_AA)
    # the first calibration's bars in their colours, the second's darker
    colours = [BAR_COLOURS[key] if j < 2 else tuple(int(c * 0.6) for c in BAR_COLOURS[key])
               for j, (_, key) in enumerate(series)]
    for i, view in enumerate(views):
        x = left + i * group
        for j, (name, key) in enumerate(series):
            record = calibrations[name].views.get(view, {})
            colour = colours[j]
            value = record.get(key)
            bx = x + j * bar
            if not record.get("used"):
                cv2.putText(img, "x", (bx, y0 - 2), FONT, 0.3, colour, 1, cv2.LINE_AA)
            elif value is not None:
                cv2.rectangle(img, (bx, int(round(y0 - plot_h * min(value, top) / top))), (bx + bar - 2, y0), colour, -1)
        label = Path(view.split("#")[0]).stem + (f"#{view.split('#')[1]}" if "#" in view else "")
        _vertical_text(img, label[-16:], (x + group // 2 - 4, y0 + 6))
    cv2.line(img, (left, y0), (img.shape[1] - 10, y0), (0, 0, 0), 1)
    cv2.putText(img, "reprojection RMS per view (px)", (left, 14), FONT, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    for j, (name, key) in enumerate(series):
        colour = colours[j]
        y = height - 16 * (len(series) - j) + 4
        cv2.rectangle(img, (left, y - 8), (left + 10, y), colour, -1)
        what = "fitted" if key == "rms" else "held out"
        cv2.putText(img, f"{name}: {what}", (left + 16, y), FONT, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    return img


def _vertical_text(img: np.ndarray, text: str, origin: tuple[int, int]) -> None:
    (tw, th), base = cv2.getTextSize(text, FONT, 0.35, 1)
    patch = np.full((th + base + 2, tw + 2, 3), 255, np.uint8)
    cv2.putText(patch, text, (1, th + 1), FONT, 0.35, (0, 0, 0), 1, cv2.LINE_AA)
    patch = cv2.rotate(patch, cv2.ROTATE_90_CLOCKWISE)
    x, y = origin
    h, w = patch.shape[:2]
    h, w = min(h, img.shape[0] - y), min(w, img.shape[1] - x)
    if h > 0 and w > 0:
        img[y:y + h, x:x + w] = np.minimum(img[y:y + h, x:x + w], patch[:h, :w])


def _with_caption(panel: np.ndarray, lines: list[str]) -> np.ndarray:
    line_h = 18
    caption = np.full((line_h * len(lines) + 6, panel.shape[1], 3), 255, np.uint8)
    for i, text in enumerate(lines):
        cv2.putText(caption, text, (4, line_h * (i + 1)), FONT, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([caption, panel], axis=0)


CROSSVAL_SCALE_PX = 1.0  # the colour scale's top (px) unless the differences go higher


def crossval_panel(result: dict | None, calibration: Calibration | None, title: str) -> np.ndarray:
    """One RGB panel: how far the two halves' cameras project apart across the image
    (crossval.cross_validation), coloured (viridis, 0 to the scale's top), with contours at
    0.1, 0.25, 0.5 and 1 px, the outer 10% band outlined; the caption gives the medians and
    the intrinsics' standard deviations."""
    lines = [title]
    if calibration is None or result is None:
        blank = np.full((PANEL_WIDTH * 3 // 4, PANEL_WIDTH, 3), 250, np.uint8)
        return _with_caption(blank, lines + ["too few views for two halves"])
    w, h = calibration.image_size
    size = (PANEL_WIDTH, max(1, round(h * PANEL_WIDTH / w)))
    diff = cv2.resize(result["difference"].astype(np.float32), size, interpolation=cv2.INTER_LINEAR)
    top = max(CROSSVAL_SCALE_PX, float(np.percentile(result["difference"], 99)))
    scaled = np.clip(diff / top * 255, 0, 255).astype(np.uint8)
    panel = cv2.cvtColor(cv2.applyColorMap(scaled, cv2.COLORMAP_VIRIDIS), cv2.COLOR_BGR2RGB)
    for level in (0.1, 0.25, 0.5, 1.0):
        contours, _ = cv2.findContours((diff >= level).astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(panel, contours, -1, (255, 255, 255), 1, cv2.LINE_AA)
        for c in contours[:1]:
            x, y = c.reshape(-1, 2)[0]
            cv2.putText(panel, f"{level:g}", (int(x) + 2, int(y) + 12), FONT, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
    bx, by = BORDER_BAND * size[0], BORDER_BAND * size[1]
    cv2.rectangle(panel, (int(bx), int(by)), (int(size[0] - bx), int(size[1] - by)), BAND_COLOUR, 1, cv2.LINE_AA)
    lines.append(f"two halves' projections differ: centre {result['centre']:.3f} px, outer 10% "
                 f"{result['border']:.3f} px, corners {result['corners']:.3f} px (colour top {top:.2f} px)")
    if calibration.std:
        s = calibration.std
        lines.append(f"1 std: fx {s['fx']:.2f} fy {s['fy']:.2f} cx {s['cx']:.2f} cy {s['cy']:.2f} px, "
                     f"k1 {s.get('k1', 0):.4f}")
    return _with_caption(panel, lines)


def rectified_picture(left: np.ndarray, right: np.ndarray, maps: tuple, step: int = 32) -> np.ndarray:
    """The pair rectified (`maps` from stereo.rectify_maps) side by side with horizontal
    epipolar lines every `step` px: a point and its partner lie on one line."""
    a = cv2.remap(left, maps[0], maps[1], cv2.INTER_LINEAR)
    b = cv2.remap(right, maps[2], maps[3], cv2.INTER_LINEAR)
    pair = np.concatenate([a, b], axis=1)
    if pair.ndim == 2:
        pair = cv2.cvtColor(pair, cv2.COLOR_GRAY2RGB)
    for y in range(step // 2, pair.shape[0], step):
        colour = VIEW_COLOURS[(y // step) % len(VIEW_COLOURS)]
        cv2.line(pair, (0, y), (pair.shape[1] - 1, y), colour, 1, cv2.LINE_AA)
    return _with_caption(pair, ["rectified pair (stereoRectify): epipolar lines are the image rows"])
