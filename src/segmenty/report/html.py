"""``segmenty report RUN``: one self-contained HTML page about a training run.

Everything is inside the one file — images as base64 data URIs, curves as inline SVG drawn
here, CSS in a <style> element, no script — so it can be mailed, archived or opened offline
and never makes a network request.
"""
from __future__ import annotations

import base64
import csv
import html
import json
import math
import os
import warnings
from pathlib import Path

import numpy as np

from ..errors import SegmentyError
from ..io import atomic_write_text, encode_image
from ..runs import LOG_FILE, Run
from ..scores import FOUND_IOU, HALF_SIDES
from ..viz import fit_width, grid, mask_montage
from .animate import make_animation, snapshot_steps

SAMPLE_COUNT = 6
SAMPLE_TILE = 192
X_COLUMNS = ("step", "elapsed_s", "epoch")
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")
# Curves grouped into charts by column name; the first rule that matches wins.
CHART_GROUPS = (
    ("Training loss", lambda c: "loss" in c),
    ("IoU on synthetic validation scenes", lambda c: c.startswith("iou")),
    ("True-positive / true-negative rate (synthetic validation)", lambda c: c.startswith(("tpr", "tnr"))),
    ("Learning rate", lambda c: c == "lr"),
    ("Samples per second", lambda c: "per_s" in c),
)

CSS = """
body { font: 14px/1.45 system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 24px auto;
       max-width: 1150px; color: #222; background: #fafafa; padding: 0 16px; }
h1 { margin-bottom: 0; } h2 { border-bottom: 1px solid #ccc; padding-bottom: 4px; margin-top: 32px; }
.sub { color: #666; margin-top: 4px; }
table { border-collapse: collapse; margin: 8px 0; } td, th { padding: 2px 10px; text-align: left; }
th { background: #eee; } tr:nth-child(even) td { background: #f2f2f2; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.bad { color: #c0392b; font-weight: 600; } .good { color: #1e8449; }
.charts { display: flex; flex-wrap: wrap; gap: 12px; } .charts svg { background: white; border: 1px solid #ddd; }
img { max-width: 100%; border: 1px solid #ddd; background: white; }
.tiles { display: flex; flex-wrap: wrap; gap: 8px; } .tiles figure { margin: 0; }
figcaption { font-size: 12px; color: #555; } .note { color: #777; font-style: italic; }
"""


def write_report(run_dir: str | os.PathLike, out: str | os.PathLike | None = None) -> Path:
    """Write RUN/report.html (or `out`): config, curves, synthetic samples, the animation,
    the latest wild-photo overlays and the real-photo evaluation when RUN/eval exists; a
    folder that holds none of a run's files is a one-line error."""
    run = Run(run_dir).check_is_run()
    run_dir, config = run.path, run.config
    sections = [
        # The result first (real photos), how it got there next, the configuration last.
        _section("Real photos: evaluation", _evaluation(run)),
        _section("Learning to see real photos", _animation(run_dir)),
        _section("Latest wild-photo predictions", _latest_snapshot(run_dir)),
        _section("Training curves", _curves(run_dir / LOG_FILE)),
        _section("Synthetic training samples", _samples(run)),
        _section("Configuration", _config_table(config)),
    ]
    title = f"segmenty run {run_dir.resolve().name}"
    sub = " · ".join(html.escape(str(config[k])) for k in ("pattern", "model", "size") if k in config)
    page = (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>\n"
            f"<h1>{html.escape(title)}</h1><p class=\"sub\">{sub}</p>\n" + "\n".join(sections) +
            "\n</body></html>\n")
    out = Path(out) if out is not None else run_dir / "report.html"
    atomic_write_text(out, page)
    return out


def _section(title: str, body: str) -> str:
    return f"<section><h2>{html.escape(title)}</h2>\n{body}\n</section>"


def _note(text: str) -> str:
    return f"<p class=\"note\">{html.escape(text)}</p>"


def data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _img(data: bytes, mime: str, alt: str) -> str:
    return f"<img src=\"{data_uri(data, mime)}\" alt=\"{html.escape(alt)}\">"


def _rgb_img(rgb: np.ndarray, alt: str) -> str:
    return _img(encode_image(rgb, ".jpg", quality=85), "image/jpeg", alt)


def _config_table(config: dict) -> str:
    if not config:
        return _note("no config.json in the run folder")
    rows = "".join(f"<tr><td>{html.escape(str(k))}</td>"
                   f"<td>{html.escape(v if isinstance(v, str) else json.dumps(v))}</td></tr>"
                   for k, v in config.items() if k != "recipe_steps")
    table = f"<table><tr><th>option</th><th>value</th></tr>{rows}</table>"
    steps = config.get("recipe_steps")
    if not isinstance(steps, dict):
        return table
    recipe = "".join(f"<tr><td>{html.escape(name)}</td><td>"
                     + (html.escape(json.dumps({k: v for k, v in step.items() if k != 'step'}))
                        if isinstance(step, dict) else "off") + "</td></tr>"
                     for name, step in steps.items())
    return (table + "<h3>Synthesis recipe, every step in order with its ranges</h3>"
            f"<table><tr><th>step</th><th>ranges</th></tr>{recipe}</table>")


# ---------------------------------------------------------------------------------- curves

def read_log(path: Path) -> dict[str, list[float]]:
    """log.csv as columns of floats (NaN where a cell is empty or not a number)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    columns: dict[str, list[float]] = {}
    for row in rows:
        for key, value in row.items():
            if key is None:
                continue  # a row longer than the header
            columns.setdefault(key, []).append(_float(value))
    return columns


def _float(text: str | None) -> float:
    try:
        return float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


def _curves(path: Path) -> str:
    if not path.is_file():
        return _note("no log.csv yet (it gets a row at every validation)")
    columns = read_log(path)
    if not columns or not next(iter(columns.values())):
        return _note("log.csv has no rows yet")
    x_name = "step" if "step" in columns else None
    n = len(next(iter(columns.values())))
    x = columns[x_name] if x_name else [float(i) for i in range(n)]
    groups: dict[str, list[str]] = {title: [] for title, _rule in CHART_GROUPS}  # charts in this order
    for name, values in columns.items():
        if name in X_COLUMNS or all(math.isnan(v) for v in values):
            continue
        title = next((t for t, rule in CHART_GROUPS if rule(name)), name)
        groups.setdefault(title, []).append(name)
    charts = [svg_chart(x, {c: columns[c] for c in cols}, title, x_name or "row")
              for title, cols in groups.items() if cols]
    return f"<div class=\"charts\">{''.join(charts)}</div>"


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """About `count` round tick values covering [lo, hi]."""
    if not hi > lo:
        return [lo]
    raw = (hi - lo) / count
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


def _tick_label(v: float) -> str:
    return f"{v:.3g}" if abs(v) < 1e4 else f"{v:.2e}"


def svg_chart(x: list[float], series: dict[str, list[float]], title: str, x_label: str,
              width: int = 540, height: int = 260) -> str:
    """A line chart as an inline SVG element (NaN points are skipped)."""
    left, right, top, bottom = 58, 12, 28, 40
    pw, ph = width - left - right, height - top - bottom
    pts = [(xi, yi) for ys in series.values() for xi, yi in zip(x, ys)
           if not (math.isnan(xi) or math.isnan(yi))]
    if not pts:
        return ""
    xs, ys = zip(*pts)
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    if x1 == x0:
        x0, x1 = x0 - 1, x1 + 1
    if y1 == y0:
        pad = abs(y0) * 0.1 or 1.0
        y0, y1 = y0 - pad, y1 + pad

    def sx(v: float) -> float:
        return left + (v - x0) / (x1 - x0) * pw

    def sy(v: float) -> float:
        return top + (1 - (v - y0) / (y1 - y0)) * ph

    parts = [f"<svg width=\"{width}\" height=\"{height}\" "
             f"viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"11\">",
             f"<text x=\"{left}\" y=\"16\" font-size=\"13\" font-weight=\"bold\">{html.escape(title)}</text>"]
    for t in nice_ticks(y0, y1):
        parts.append(f"<line x1=\"{left}\" x2=\"{left + pw}\" y1=\"{sy(t):.1f}\" y2=\"{sy(t):.1f}\" stroke=\"#eee\"/>"
                     f"<text x=\"{left - 4}\" y=\"{sy(t) + 4:.1f}\" text-anchor=\"end\">{_tick_label(t)}</text>")
    for t in nice_ticks(x0, x1):
        parts.append(f"<text x=\"{sx(t):.1f}\" y=\"{top + ph + 14}\" text-anchor=\"middle\">{_tick_label(t)}</text>")
    parts.append(f"<rect x=\"{left}\" y=\"{top}\" width=\"{pw}\" height=\"{ph}\" fill=\"none\" stroke=\"#999\"/>"
                 f"<text x=\"{left + pw / 2}\" y=\"{height - 6}\" text-anchor=\"middle\">{html.escape(x_label)}</text>")
    for i, (name, values) in enumerate(series.items()):
        color = COLORS[i % len(COLORS)]
        line = [(sx(a), sy(b)) for a, b in zip(x, values) if not (math.isnan(a) or math.isnan(b))]
        if len(line) > 1:
            d = " ".join(f"{a:.1f},{b:.1f}" for a, b in line)
            parts.append(f"<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"1.6\" points=\"{d}\"/>")
        if len(line) <= 40:  # markers while they do not clutter the line
            parts.extend(f"<circle cx=\"{a:.1f}\" cy=\"{b:.1f}\" r=\"2.2\" fill=\"{color}\"/>" for a, b in line)
        # Legend in the title row, right-aligned, one entry per series (about 6.5 px a character).
        legend_x = width - right - sum(len(n) * 6.5 + 14 for n in list(series)[i + 1:])
        parts.append(f"<text x=\"{legend_x:.0f}\" y=\"16\" text-anchor=\"end\" fill=\"{color}\">"
                     f"{html.escape(name)}</text>")
    parts.append("</svg>")
    return "".join(parts)


# --------------------------------------------------------------------------------- images

def _samples(run: Run) -> str:
    """The first scenes of the dataset the run trained on (its recipe, backgrounds and seed)."""
    try:
        dataset = run.dataset()
        tiles = []
        for i in range(SAMPLE_COUNT):
            sample = dataset.sample(i)
            tiles.append(fit_width(sample.image, SAMPLE_TILE))
            tiles.append(fit_width(mask_montage(sample.masks, dataset.mask_names), SAMPLE_TILE))
    except SegmentyError as exc:
        return _note(f"synthetic samples unavailable ({exc})")
    legend = ", ".join(dataset.mask_names)
    return (_rgb_img(grid(tiles, 4, background=255, gap=4), "synthetic samples and masks") +
            _note(f"each scene beside its masks ({legend}); seed {dataset.seed}, samples 0-{SAMPLE_COUNT - 1}"))


def _animation(run_dir: Path) -> str:
    gif = run_dir / "progress.gif"
    steps = snapshot_steps(run_dir)
    newest = max((folder.joinpath("meta.json").stat().st_mtime for _s, folder, _m in steps), default=None)
    if steps and (not gif.is_file() or gif.stat().st_mtime < newest):
        try:
            make_animation(run_dir, gif)
        except SegmentyError as exc:
            warnings.warn(f"report: no animation ({exc})")
    if not gif.is_file():
        return _note("no snapshots (train with --wild photos to record the network's view of them)")
    return _img(gif.read_bytes(), "image/gif", "predictions on wild photos through training") + \
        _note(f"{len(steps)} snapshots; the mask overlay on real photos at every validation")


def _latest_snapshot(run_dir: Path) -> str:
    steps = snapshot_steps(run_dir)
    if not steps:
        return _note("no snapshots")
    step, folder, meta = steps[-1]
    figures = []
    for record in meta.get("predictions", [{"name": n} for n in meta.get("images", [])]):
        path = folder / f"{record['name']}.jpg"
        if not path.is_file():
            continue
        extra = f" · area {record['area']:.1%}" if "area" in record else ""
        extra += " · detected" if record.get("detected") else ""
        figures.append(f"<figure>{_img(path.read_bytes(), 'image/jpeg', record['name'])}"
                       f"<figcaption>{html.escape(record['name'] + extra)}</figcaption></figure>")
    return f"<p>step {step:,}</p><div class=\"tiles\">{''.join(figures)}</div>"


# ------------------------------------------------------------------------------ evaluation

def _cell(v, fmt: str = "{:.3f}") -> str:
    return "<td class=\"num\">" + ("-" if v is None else fmt.format(v)) + "</td>"


def _evaluation(run: Run) -> str:
    result = run.eval_result()
    if result is None:
        return _note("not evaluated yet (segmenty evaluate RUN --images DIR --masks DIR --negatives DIR)")
    m = result.summary
    fd = m["false_detections"]
    summary = ("<table>"
               f"<tr><td>mean IoU, whole photos ({m['photos']})</td>{_cell(m['mean_iou'])}</tr>"
               f"<tr><td>detection rate (IoU &gt; {FOUND_IOU:g})</td>{_cell(m['detection_rate'], '{:.0%}')}</tr>"
               f"<tr><td>mean IoU, half views ({m['halves']})</td>{_cell(m['mean_iou_halves'])}</tr>"
               f"<tr><td>false detections on negatives</td><td class=\"num {'bad' if fd else 'good'}\">"
               f"{fd} of {m['negatives']}</td></tr></table>")
    halves = result.halves_by_photo()
    rows = "".join(f"<tr><td>{html.escape(s.name)}</td>{_cell(s.iou)}" +
                   "".join(_cell(halves.get(s.name, {}).get(v)) for v in HALF_SIDES) + "</tr>"
                   for s in result.whole)
    photos = (f"<table><tr><th>photo</th><th>whole</th>{''.join(f'<th>{v}</th>' for v in HALF_SIDES)}</tr>"
              f"{rows}</table>")
    negatives = "".join(f"<tr><td>{html.escape(s.name)}</td>{_cell(s.area, '{:.1%}')}"
                        f"<td>{'yes' if s.detected else 'no'}</td>"
                        f"<td class=\"{'bad' if s.false_detection else 'good'}\">"
                        f"{'false detection' if s.false_detection else 'ok'}</td></tr>"
                        for s in result.negatives)
    if negatives:
        negatives = f"<table><tr><th>negative</th><th>area</th><th>detected</th><th></th></tr>{negatives}</table>"
    gallery = run.eval_dir() / "gallery.jpg"
    image = _img(gallery.read_bytes(), "image/jpeg", "evaluation gallery") if gallery.is_file() else ""
    note = _note(f"unlabelled, not scored: {', '.join(result.unlabelled)}") if result.unlabelled else ""
    return summary + photos + negatives + note + "<h3>Gallery: photo, truth, prediction</h3>" + image


