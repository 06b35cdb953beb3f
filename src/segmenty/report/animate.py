"""``segmenty animate RUN``: the wild-photo snapshots through training as one animated GIF.

Pillow only (no external program). Every frame is a grid of the wild photos' overlays at one
snapshot step, with the step and elapsed training time written above it. All frames share
one palette, so consecutive frames differ only where the masks changed and Pillow's GIF
writer stores little more than those regions.

The tiles, captions and grids are drawn by segmenty.viz.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import SegmentyError
from ..io import atomic_path, read_image
from ..viz import caption, fit_width, grid, header

TILE_WIDTH = 240          # px per wild photo in a frame: 50 frames of 6 photos stay well under 10 MB
MAX_COLUMNS = 3
FRAME_MS = 400            # per frame; the last frame is held longer so the result can be read
LAST_FRAME_MS = 2500
PALETTE_COLORS = 128
SNAPSHOT_META = "meta.json"


def format_elapsed(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h {m:02d}m {s:02d}s" if h else f"{m}m {s:02d}s"


def snapshot_steps(run_dir: str | os.PathLike) -> list[tuple[int, Path, dict]]:
    """(step, folder, meta) of every complete snapshot of a run, oldest first.

    A folder counts once its meta.json exists: save_snapshots writes that file last."""
    root = Path(run_dir) / "snapshots"
    found = []
    if root.is_dir():
        for folder in root.iterdir():
            meta_path = folder / SNAPSHOT_META
            if not meta_path.is_file():
                continue
            try:
                meta = json.loads(meta_path.read_text())
                found.append((int(meta["step"]), folder, meta))
            except (ValueError, KeyError, TypeError, OSError):
                continue  # a damaged snapshot is left out of the animation, not fatal
    return sorted(found, key=lambda item: item[0])


def frame_images(run_dir: str | os.PathLike) -> list[tuple[dict, dict[str, np.ndarray]]]:
    """(meta, {photo name: overlay}) per snapshot step, oldest first."""
    frames = []
    for _step, folder, meta in snapshot_steps(run_dir):
        images = {}
        for name in meta.get("images", []):
            path = folder / f"{name}.jpg"
            if path.is_file():
                images[name] = read_image(path)
        frames.append((meta, images))
    return frames


def render_frames(frames: list[tuple[dict, dict[str, np.ndarray]]], tile_width: int = TILE_WIDTH,
                  columns: int = MAX_COLUMNS) -> list[np.ndarray]:
    """One RGB frame per snapshot: the grid of every photo seen in any snapshot (a photo
    missing at some step is left blank there), the step and elapsed time on top."""
    names: list[str] = []
    for _meta, images in frames:
        names.extend(n for n in images if n not in names)
    # Every cell gets the tallest tile's height, so the grid (and every frame) has one size.
    tiles_by_name = {}
    for _meta, images in frames:
        for name, rgb in images.items():
            tiles_by_name.setdefault(name, fit_width(rgb, tile_width).shape)
    blank = {name: np.zeros(shape, np.uint8) for name, shape in tiles_by_name.items()}
    out = []
    for meta, images in frames:
        tiles = [caption(fit_width(images[n], tile_width), n, 12) if n in images else blank[n] for n in names]
        body = grid(tiles, columns)
        title = f"step {int(meta['step']):,}   {format_elapsed(float(meta.get('elapsed_s', 0)))}"
        out.append(np.concatenate([header(body.shape[1], title), body]))
    return out


def write_gif(frames: list[np.ndarray], out: str | os.PathLike, frame_ms: int = FRAME_MS) -> Path:
    """Write RGB frames as a looping GIF with one shared palette (from the first, middle and
    last frames: the mask colours change through training), no dithering (noise does not
    compress)."""
    if not frames:
        raise ValueError("no frames")
    sample = np.concatenate([frames[0], frames[len(frames) // 2], frames[-1]])
    palette_source = Image.fromarray(sample).quantize(PALETTE_COLORS, method=Image.Quantize.MEDIANCUT)
    images = [Image.fromarray(f).quantize(palette=palette_source, dither=Image.Dither.NONE) for f in frames]
    durations = [frame_ms] * (len(images) - 1) + [LAST_FRAME_MS]
    out = Path(out)
    with atomic_path(out) as tmp:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=durations,
                       loop=0, optimize=True, disposal=1)
    return out


def make_animation(run_dir: str | os.PathLike, out: str | os.PathLike | None = None,
                   tile_width: int = TILE_WIDTH) -> Path:
    """Animate a run's wild-photo snapshots into `out` (default RUN/progress.gif)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise SegmentyError(f"{run_dir}: no such run folder")
    frames = frame_images(run_dir)
    if not frames:
        raise SegmentyError(f"{run_dir}: no snapshots in {run_dir / 'snapshots'} (train with --wild "
                            "photos to record them)")
    if not any(images for _meta, images in frames):
        raise SegmentyError(f"{run_dir / 'snapshots'}: snapshot folders hold no overlay images")
    return write_gif(render_frames(frames, tile_width), out or run_dir / "progress.gif")
