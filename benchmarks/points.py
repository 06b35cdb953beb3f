"""The points' stage on real photos, before and after a change, in one run.

    python benchmarks/points.py [--before REV] [--repeat 3]

On every photo of both real board sets (../shared/real) where OpenCV's
`findChessboardCornersSB` finds the 9x6 corners, the network is replaced by what a good one
gives (the `corners` heat map drawn at those corners, each moved by up to 1.5 px as a coarser
network's peaks are, and the `mask` as the board's area), and the points' stage runs as the
Predictor runs it (`find_grid_points`, then `grid_geometry`): real lens distortion, blur and
textures, without depending on a trained network. The same stage of revision `--before`
(default: the base of this branch, 8c751d5) runs on the same inputs in the same process, so:

- outputs: ids, positions, identity and mask equal (or how they differ);
- accuracy against SB's corners (median and largest error over the points both have);
- speed: CPU milliseconds a board, each version's best of `--repeat`, and their ratio, beside
  findChessboardCornersSB's own time on the same photos.
"""
from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

import segmenty
from segmenty.io import list_images, read_image
from segmenty.predict import points as after

REPO = Path(__file__).resolve().parent.parent
REAL = REPO.parent / "shared" / "real"
SETS = {"udacity": REAL / "chessboard-10x7", "opencv": REAL / "opencv-samples" / "chessboard-10x7"}


def load_before(rev: str):
    """The points' stage of revision `rev` (points.py, or the points/ package from the split
    on), imported beside the current one (its relative imports work)."""
    def show(path: str) -> str:
        return subprocess.run(["git", "-C", str(REPO), "show", f"{rev}:{path}"], capture_output=True, text=True,
                              check=True).stdout

    listing = subprocess.run(["git", "-C", str(REPO), "ls-tree", "--name-only", rev, "src/segmenty/predict/points/"],
                             capture_output=True, text=True, check=True).stdout.split()
    folder = Path(tempfile.mkdtemp()) / "_points_before"
    folder.mkdir()
    if listing:  # a package: each module copied, the package imported
        for name in listing:
            (folder / Path(name).name).write_text(show(name))
        path, search = folder / "__init__.py", [str(folder)]
    else:
        path, search = folder / "points.py", None
        path.write_text(show("src/segmenty/predict/points.py"))
    spec = importlib.util.spec_from_file_location("segmenty.predict._points_before", path,
                                                  submodule_search_locations=search)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def heat_from(points: np.ndarray, shape, radius: float = 3.0) -> np.ndarray:
    heat = np.zeros(shape, np.float32)
    for x, y in points:
        if 0 <= x < shape[1] and 0 <= y < shape[0]:
            cv2.circle(heat, (int(round(x * 16)), int(round(y * 16))), int(radius * 16), 1.0, -1, cv2.LINE_AA, shift=4)
    return cv2.GaussianBlur(heat, (0, 0), 1.0)


def cases():
    """(set, name, gray, heat, mask, SB's corners) of every photo SB finds."""
    rng = np.random.default_rng(0)
    out, sb_ms = [], []
    for name, folder in SETS.items():
        for f in list_images(folder):
            gray = cv2.cvtColor(read_image(f), cv2.COLOR_RGB2GRAY)
            t = time.process_time()
            ok, corners = cv2.findChessboardCornersSB(gray, (9, 6))
            sb_ms.append((time.process_time() - t) * 1000)
            if not ok:
                continue
            corners = corners.reshape(-1, 2).astype(np.float64)
            grid = corners.reshape(6, 9, 2)
            # the board's area: the corners' grid one square further out on every side
            ring = np.concatenate([2 * grid[0] - grid[1], 2 * grid[-1] - grid[-2]])
            cols = np.concatenate([2 * grid[:, 0] - grid[:, 1], 2 * grid[:, -1] - grid[:, -2]])
            hull = cv2.convexHull(np.concatenate([corners, ring, cols]).astype(np.float32))
            mask = np.zeros(gray.shape, np.uint8)
            cv2.fillConvexPoly(mask, np.round(hull.reshape(-1, 2)).astype(np.int32), 1)
            heat = heat_from(corners + rng.uniform(-1.5, 1.5, corners.shape), gray.shape)
            out.append((name, Path(f).name, gray, heat, mask.astype(bool), corners))
    return out, float(np.mean(sb_ms))


def run(module, layout, case):
    _, _, gray, heat, mask, _ = case
    reach = max(3, round(0.01 * max(gray.shape)))
    region = cv2.dilate(mask.astype(np.uint8), np.ones((2 * reach + 1,) * 2, np.uint8)).astype(bool)
    found = module.find_grid_points(gray, heat, layout, region)
    if found is None:
        return None, None
    return found, module.grid_geometry(found, layout, gray.shape, mask.astype(np.float32), gray)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--before", default="8c751d5", help="git revision whose points stage is the reference")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    before = load_before(args.before)
    pattern = segmenty.load_pattern("chessboard:10x7")
    layouts = {m: m.grid_layout(pattern) for m in (before, after)}
    boards, sb = cases()
    times = {before: [], after: []}
    results = {before: [], after: []}
    for case in boards:
        for module in (before, after):
            best = np.inf
            for _ in range(args.repeat):
                t = time.process_time()
                res = run(module, layouts[module], case)
                best = min(best, (time.process_time() - t) * 1000)
            times[module].append(best)
            results[module].append(res)
    differ, shifts, errors = [], [], {before: [], after: []}
    for case, a, b in zip(boards, results[before], results[after]):
        (pa, ga), (pb, gb) = a, b
        if (pa is None) != (pb is None):
            differ.append(f"{case[1]}: found by one only")
            continue
        if pa is None:
            continue
        if not (np.array_equal(pa.ids, pb.ids) and pa.identity == pb.identity and np.array_equal(ga[0], gb[0])):
            differ.append(f"{case[1]}: ids, identity or mask differ")
        if pa.xy.shape == pb.xy.shape:
            shifts.append(float(np.abs(pa.xy - pb.xy).max()))
        for module, p in ((before, pa), (after, pb)):
            # SB numbers a 10x7 board from the other end when the board is upright: match by position
            d = np.linalg.norm(p.xy[:, None].astype(np.float64) - case[5][None], axis=2).min(axis=1)
            errors[module] += d.tolist()
    found = sum(r[0] is not None for r in results[after])
    print(f"{len(boards)} photos where findChessboardCornersSB finds the board (of both real sets); the points "
          f"found in {found}; CPU time, best of {args.repeat}\n")
    print("| what | before (" + args.before + ") | after | reference (same run) |")
    print("|---|---|---|---|")
    tb, ta = np.mean(times[before]), np.mean(times[after])
    print(f"| points' stage (find_grid_points + grid_geometry), ms a board (mean) | {tb:.1f} | {ta:.1f} "
          f"({tb / ta:.2f}x faster) | findChessboardCornersSB {sb:.1f} ms a photo |")
    for module, label in ((before, "before"), (after, "after")):
        e = np.array(errors[module])
        print(f"| distance to SB's corners, {label} | median {np.median(e):.3f} px, 95% {np.percentile(e, 95):.3f} px, "
              f"max {e.max():.3f} px | | |")
    print(f"\noutputs: {'identical' if not differ and (not shifts or max(shifts) == 0) else 'DIFFERENT'}"
          f" (largest point shift {max(shifts) if shifts else 0:.2e} px)")
    for line in differ:
        print("  " + line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
