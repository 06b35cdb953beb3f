"""Video that tracks, on a real video: tracking against a full search on every frame.

    python benchmarks/tracking.py [--photos 8] [--seconds-per-photo 2.2333] [--every 30]

A virtual camera moves over the board photos of both real sets (benchmarks/video.py: pan, zoom,
turn, motion blur, a moment out of focus, cuts between photos). Each frame's truth is
findChessboardCornersSB's corners on the still, carried by the camera's affine map. The
network is replaced by what a good one gives (the board's area and a `corners` heat map at
the true corners, each moved by up to 1.5 px), so this measures the points' work, not a
network's quality. In one run, on the same frames:

- a full search on every frame (`Predictor.predict`),
- tracking (`Tracker(predictor, every=N)`: the last frame's points followed, a full search
  when that fails and every N frames),
- findChessboardCornersSB on every frame (the reference),

each's CPU milliseconds a frame, frames found (of those with the board in view), the
distance of its points to the true corners, and whether a board point keeps one id through a
clip (the ids of points tracked across the clip's frames).
"""
from __future__ import annotations

import argparse
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from video import DEFAULT_PHOTOS, load_photos, virtual_camera  # noqa: E402

from segmenty.predict import DetectionRule, Predictor  # noqa: E402
from segmenty.predict.track import Tracker  # noqa: E402


class StandIn:
    """A network stand-in: the maps of the frame being predicted (set before each frame)."""

    mask_names, pattern_spec, model_name, stride = ["mask", "corners"], "chessboard:10x7:25", "stand-in", 32

    def __init__(self, size):
        self.size, self.maps = size, None

    def run(self, batch):
        n, _, h, w = batch.shape
        out = np.zeros((n, 2, h, w), np.float32)
        mh, mw = self.maps.shape[1:]
        out[:, :, :min(h, mh), :min(w, mw)] = self.maps[:, :h, :w]
        return out


def heat_at(points, shape, rng):
    heat = np.zeros(shape, np.float32)
    for x, y in points + rng.uniform(-1.5, 1.5, points.shape):
        if 0 <= x < shape[1] and 0 <= y < shape[0]:
            cv2.circle(heat, (int(round(x * 16)), int(round(y * 16))), 48, 1.0, -1, cv2.LINE_AA, shift=4)
    return cv2.GaussianBlur(heat, (0, 0), 1.0)


def board_area(corners: np.ndarray) -> np.ndarray:
    """The board's squares area: the corners' grid extended by one square on every side."""
    grid = corners.reshape(6, 9, 2)
    grid = np.concatenate([2 * grid[:, :1] - grid[:, 1:2], grid, 2 * grid[:, -1:] - grid[:, -2:-1]], axis=1)
    grid = np.concatenate([2 * grid[:1] - grid[1:2], grid, 2 * grid[-1:] - grid[-2:-1]], axis=0)
    return cv2.convexHull(grid.reshape(-1, 2).astype(np.float32)).reshape(-1, 2)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--photos", type=int, default=8, help="board photos filmed (spread over both sets)")
    # 67 frames a photo: the cuts fall between the tracker's searches, as a real video's would
    # (60 frames put every cut on a periodic search and hid that cuts were tracked)
    ap.add_argument("--seconds-per-photo", type=float, default=67 / 30)
    ap.add_argument("--every", type=int, default=30, help="tracking: a full search every N frames")
    args = ap.parse_args()

    stills, truths = [], []
    for rgb in load_photos(DEFAULT_PHOTOS):
        ok, corners = cv2.findChessboardCornersSB(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), (9, 6))
        if ok:
            stills.append(rgb)
            truths.append(corners.reshape(-1, 2).astype(np.float64))
    picks = np.linspace(0, len(stills) - 1, min(args.photos, len(stills))).round().astype(int)
    rng = np.random.default_rng(0)
    frames = []
    for frame, m, k in virtual_camera([stills[i] for i in picks], args.seconds_per_photo, 30.0):
        truth = truths[picks[k]] @ m[:, :2].T + m[:, 2]
        h, w = frame.shape[:2]
        inside = (truth[:, 0] >= 0) & (truth[:, 1] >= 0) & (truth[:, 0] <= w - 1) & (truth[:, 1] <= h - 1)
        area = np.zeros((h, w), np.uint8)
        cv2.fillConvexPoly(area, np.round(board_area(truth) * 16).astype(np.int32), 1, cv2.LINE_8, 4)
        maps = np.stack([area.astype(np.float32), heat_at(truth[inside], (h, w), rng)])
        frames.append((frame, maps, truth, inside, k))
    print(f"{len(frames)} frames (640x480) of {len(picks)} photos, {args.seconds_per_photo:g} s each; "
          f"network replaced by the true maps; CPU time; the machine was shared\n")

    network = StandIn(640)
    predictor = Predictor(_checkpoint(), size=640, refine=False, rule=DetectionRule())
    predictor.backend = network
    tracker = Tracker(predictor, every=args.every)
    runs = {"full search every frame": predictor.predict, f"tracking (full search every {args.every})": tracker.predict}
    rows = []
    for label, fn in runs.items():
        ms, found, errors = [], 0, []
        ids = defaultdict(Counter)
        for frame, maps, truth, inside, clip in frames:
            network.maps = maps
            t = time.process_time()
            pred = fn(frame)
            ms.append((time.process_time() - t) * 1000)
            if pred.detected and pred.points is not None:
                found += inside.sum() >= 6
                d = np.linalg.norm(pred.points.xy[:, None].astype(np.float64) - truth[None], axis=2)
                nearest = d.argmin(axis=1)
                errors += d[np.arange(len(d)), nearest].tolist()
                if pred.points.absolute:
                    for i, n in zip(pred.points.ids.tolist(), nearest):
                        ids[(clip, tuple(i))][int(n)] += 1
        consistent = sum(c.most_common(1)[0][1] for c in ids.values()) / max(1, sum(sum(c.values()) for c in ids.values()))
        e = np.array(errors) if errors else np.zeros(1)
        rows.append((label, f"{np.mean(ms):.1f} ms ({1000 / np.mean(ms):.0f} frames/s)",
                     f"{found} of {sum(f[3].sum() >= 6 for f in frames)}",
                     f"{np.median(e):.3f} / {np.percentile(e, 95):.3f}", f"{100 * consistent:.2f}%"))
    sb_ms, sb_found = [], 0
    for frame, maps, truth, inside, clip in frames:
        t = time.process_time()
        ok, _ = cv2.findChessboardCornersSB(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), (9, 6))
        sb_ms.append((time.process_time() - t) * 1000)
        sb_found += bool(ok)
    rows.append(("findChessboardCornersSB every frame (reference)",
                 f"{np.mean(sb_ms):.1f} ms ({1000 / np.mean(sb_ms):.0f} frames/s)", f"{sb_found} (whole boards only)",
                 "-", "-"))
    print(f"tracked {tracker.tracked} of {len(frames)} frames\n")
    print("| what | CPU a frame (mean) | frames found (of those with >= 6 corners in view) | "
          "distance to the true corners, median / 95% px | a board point keeps its id (absolute ids) |")
    print("|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    return 0


def _checkpoint() -> str:
    """A small untrained checkpoint (its network is replaced; only its pattern and masks count)."""
    import tempfile

    import segmenty
    from segmenty.models import build_model
    from segmenty.runs import save_checkpoint

    pattern = segmenty.load_pattern("chessboard:10x7")
    path = Path(tempfile.mkdtemp()) / "model.pt"
    save_checkpoint(path, {"model": build_model("unet-s", 2).state_dict(), "model_name": "unet-s",
                           "mask_names": pattern.mask_names, "pattern": pattern.spec, "size": 64, "config": {},
                           "step": 0})
    return str(path)


if __name__ == "__main__":
    sys.exit(main())
