"""Calibration benchmark (issue 15): segmenty's points and calibrations beside OpenCV's.

    python benchmarks/calibrate.py --run /work/runs/base160           # everything (~5 min, 2 cores)
    python benchmarks/calibrate.py --run RUN --only corners,calibration

Sections (each prints a Markdown table; record results in benchmarks/README.md):

corners      Corner accuracy on whole boards against OpenCV's findChessboardCornersSB on the
             photos where it succeeds (../shared/real/chessboard-10x7 and
             ../shared/real/opencv-samples/chessboard-10x7): median distance, and the share of
             corners given the same identity. OpenCV numbers a 10x7 board from the other end
             (its corner k is our id (8 - k % 9, 5 - k // 9), the same on every photo), so
             identities are compared through that one fixed map; "either end" also accepts the
             board's half-turn photo by photo.
calibration  ../shared/real/chessboard-10x7 calibrated from segmenty's points, from
             findChessboardCornersSB's (falling back to findChessboardCorners, as `segmenty
             label`) and from findChessboardCorners + cornerSubPix alone (the classic
             recipe): views, points, coverage of the image and of its outer 10%, RMS,
             held-out RMS (leave one view out), focal length and principal point. Also each
             camera's held-out RMS on the same test data: OpenCV SB's points of the views both
             found, each left out in turn.
halves       Each photo cut through the board's centre (left, right, top, bottom halves, the
             points shifted back to the whole photo's pixels): a calibration from these
             partial views alone against the whole-photo calibration.
weights      Each point weighted by its sigma (calib.weighted, `calibrate --weighted`) against every
             point alike (the default), on both real sets (Udacity; OpenCV's left and right cameras), as
             photos and with a motion-blurred copy of each photo added (5-11 px, any direction;
             the copies that survive the blur filter kept, as a video's blurred frames would
             be): RMS, held-out RMS on OpenCV SB's points (the camera fitted without that photo
             and its copy), focal length, principal point, std of fx, and the solve's time.
rendered     Rendered scenes (chessboard:10x7, the default recipe without occluders, blur and
             noise of their own) at several levels of added blur and noise: detection rate,
             corners found, median error against the exact corners (the synthesis moves them
             through the same warps as the image), identities right; and OpenCV SB's.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from segmenty.calib import calibrate_views, opencv_points, view_from_points
from segmenty.calib.camera import correspondences, project
from segmenty.io import list_images, read_image
from segmenty.predict import Predictor, grid_layout

REPO = Path(__file__).resolve().parent.parent
DEFAULT_REAL = REPO.parent / "shared" / "real"
SECTIONS = ("corners", "calibration", "halves", "weights", "rendered")


def sb_to_ours(k: np.ndarray) -> np.ndarray:
    """OpenCV SB's corner index on a 10x7 board -> our (col, row) id (the half-turn)."""
    return np.stack([8 - k % 9, 5 - k // 9], axis=1)


# -- corners ------------------------------------------------------------------------------------

def corners_section(predictor, layout, folders: list[Path]) -> None:
    print("\n## Corner accuracy against findChessboardCornersSB (whole boards)\n")
    print("| photos | SB finds | segmenty finds a grid | corners compared | median error (px) | p90 (px) "
          "| same identity | same identity, either end |")
    print("|---|---|---|---|---|---|---|---|")
    for folder in folders:
        photos = list_images(folder)
        sb_found, grids, errors, same, either = 0, 0, [], [], []
        for path in photos:
            rgb = read_image(path)
            sb, _ = opencv_points(rgb, layout, "sb")
            points = predictor.predict(rgb).points
            grids += points is not None
            if sb is None or "SB" not in _method(rgb, layout):
                continue
            sb_found += 1
            if points is None:
                continue
            sb_ids = sb_to_ours(np.arange(len(sb)))
            # Each of our points is compared with the nearest SB corner: its distance, and
            # whether that corner has the same id (or, for "either end", the half-turn's).
            photo_same, turned_same = [], []
            for p, (c, r) in zip(points.xy, points.ids.tolist()):
                d = np.linalg.norm(sb.xy - p, axis=1)
                k = int(np.argmin(d))
                errors.append(float(d[k]))
                photo_same.append(tuple(sb_ids[k]) == (c, r))
                turned_same.append(tuple(sb_ids[k]) == (8 - c, 5 - r))
            same += photo_same
            either += max(photo_same, turned_same, key=np.mean)
        e = np.array(errors)
        print(f"| {folder.relative_to(folder.parent.parent) if folder.parent.name == 'opencv-samples' else folder.name} "
              f"({len(photos)}) | {sb_found} | {grids} | {len(e)} | {np.median(e):.3f} | {np.percentile(e, 90):.3f} "
              f"| {np.mean(same):.1%} | {np.mean(either):.1%} |")


def _method(rgb, layout) -> str:
    from segmenty.classical import Detector, detect_grid

    found = detect_grid(rgb, Detector("chessboard", *layout.grid))
    return found[1] if found else ""


# -- calibration --------------------------------------------------------------------------------

def real_views(predictor, layout, photos: list[Path]) -> dict:
    views = {"segmenty": [], "OpenCV SB": [], "OpenCV classic": []}
    for path in photos:
        rgb = read_image(path)
        size = (rgb.shape[1], rgb.shape[0])
        views["segmenty"].append(view_from_points(str(path), size, predictor.predict(rgb).points))
        for name, method in (("OpenCV SB", "sb"), ("OpenCV classic", "classic")):
            points, detector = opencv_points(rgb, layout, method)
            views[name].append(view_from_points(str(path), size, points, missing=f"{detector} found no board"))
    return views


def cross_held_out(views: list, layout, reference: list, model: str = "pinhole", leave=None,
                   weighted: bool = False) -> float:
    """RMS over the views `reference` (OpenCV SB's) has, each left out in turn: the camera from
    `views` without that photo (`leave(view, ref)`: whether a view is of it; by default the
    same name), the pose from the reference points, their reprojection."""
    leave = leave or (lambda v, ref: v.name == ref.name)
    squared, count = 0.0, 0
    for ref in reference:
        if not ref.usable:
            continue
        train = [v for v in views if v.usable and not leave(v, ref)]
        camera = calibrate_views(train, layout, model, held_out=False, reject_outliers=False, weighted=weighted)
        obj, img = correspondences(ref, layout)
        ok, rvec, tvec = cv2.solvePnP(obj.astype(np.float64), img.astype(np.float64), camera.camera_matrix,
                                      camera.dist_coeffs)
        err = project(obj, rvec, tvec, camera.camera_matrix, camera.dist_coeffs, model) - img
        squared += float(np.sum(err ** 2))
        count += len(err)
    return float(np.sqrt(squared / count))


def calibration_section(predictor, layout, folder: Path) -> dict:
    print(f"\n## Calibration of {folder.name} (pinhole, 5 distortion coefficients)\n")
    views = real_views(predictor, layout, list_images(folder))
    cals = {name: calibrate_views(v, layout) for name, v in views.items()}
    reference = views["OpenCV SB"]
    common = [v for v in reference if v.usable and any(s.usable and s.name == v.name for s in views["segmenty"])]
    cross = {name: cross_held_out(v, layout, common) for name, v in views.items()}
    rows = [("views used", lambda c: f"{len(c.used)} of {len(c.views)}"),
            ("points used", lambda c: str(c.points_used)),
            ("image covered", lambda c: f"{c.coverage['image']:.1%}"),
            ("outer 10% covered", lambda c: f"{c.coverage['border']:.1%}"),
            ("RMS (px)", lambda c: f"{c.rms:.3f}"),
            ("held-out RMS (px), own views", lambda c: f"{c.held_out_rms:.3f}"),
            ("fx, fy (px)", lambda c: f"{c.focal[0]:.1f}, {c.focal[1]:.1f}"),
            ("cx, cy (px)", lambda c: f"{c.principal_point[0]:.1f}, {c.principal_point[1]:.1f}")]
    print("| | " + " | ".join(cals) + " |")
    print("|---" * (len(cals) + 1) + "|")
    for label, cell in rows:
        print(f"| {label} | " + " | ".join(cell(c) for c in cals.values()) + " |")
    print(f"| held-out RMS (px) on SB's points of the {len(common)} views both found | "
          + " | ".join(f"{cross[n]:.3f}" for n in cals) + " |")
    s, o = cals["segmenty"], cals["OpenCV SB"]
    print(f"\nfocal length segmenty / OpenCV SB: fx {s.focal[0] / o.focal[0] - 1:+.2%}, fy {s.focal[1] / o.focal[1] - 1:+.2%}")
    print("unused views: " + "; ".join(f"{name}: {Path(n).name} ({r['reason']})" for name, c in cals.items()
                                        for n, r in c.views.items() if not r["used"]))
    return {"views": views, "calibrations": cals}


# -- halves ---------------------------------------------------------------------------------------

def halves_section(predictor, layout, folder: Path, whole: dict) -> None:
    print("\n## Half views alone (each photo cut through the board's centre)\n")
    views = []
    for path, whole_view in zip(list_images(folder), whole["views"]["segmenty"]):
        rgb = read_image(path)
        h, w = rgb.shape[:2]
        if not whole_view.usable:
            continue
        cx, cy = np.round(whole_view.points.xy.mean(axis=0)).astype(int)
        crops = {"left": (0, 0, cx, h), "right": (cx, 0, w, h), "top": (0, 0, w, cy), "bottom": (0, cy, w, h)}
        for side, (x0, y0, x1, y1) in crops.items():
            if min(x1 - x0, y1 - y0) < 16:
                continue
            points = predictor.predict(np.ascontiguousarray(rgb[y0:y1, x0:x1])).points
            view = view_from_points(f"{path}#{side}", (w, h), points, offset=(x0, y0))
            views.append(view)
    halves = calibrate_views(views, layout)
    ref = whole["calibrations"]["segmenty"]
    sb = whole["calibrations"]["OpenCV SB"]
    partial = sum(1 for v in views if v.usable and v.points.partial)
    print("| | half views (segmenty) | whole photos (segmenty) | whole photos (OpenCV SB) |")
    print("|---|---|---|---|")
    print(f"| views used | {len(halves.used)} of {len(views)} ({partial} partial) | {len(ref.used)} | {len(sb.used)} |")
    print(f"| points used | {halves.points_used} | {ref.points_used} | {sb.points_used} |")
    print(f"| RMS / held-out RMS (px) | {halves.rms:.3f} / {halves.held_out_rms:.3f} | {ref.rms:.3f} / "
          f"{ref.held_out_rms:.3f} | {sb.rms:.3f} / {sb.held_out_rms:.3f} |")
    print(f"| fx, fy (px) | {halves.focal[0]:.1f}, {halves.focal[1]:.1f} | {ref.focal[0]:.1f}, {ref.focal[1]:.1f} "
          f"| {sb.focal[0]:.1f}, {sb.focal[1]:.1f} |")
    print(f"| cx, cy (px) | {halves.principal_point[0]:.1f}, {halves.principal_point[1]:.1f} | "
          f"{ref.principal_point[0]:.1f}, {ref.principal_point[1]:.1f} | {sb.principal_point[0]:.1f}, "
          f"{sb.principal_point[1]:.1f} |")
    print(f"\nfocal length halves / whole (segmenty): fx {halves.focal[0] / ref.focal[0] - 1:+.2%}, "
          f"fy {halves.focal[1] / ref.focal[1] - 1:+.2%}; halves / whole (OpenCV SB): "
          f"fx {halves.focal[0] / sb.focal[0] - 1:+.2%}, fy {halves.focal[1] / sb.focal[1] - 1:+.2%}")


# -- weights ----------------------------------------------------------------------------------------

def _motion_blur(rgb: np.ndarray, length: int, angle: float) -> np.ndarray:
    kernel = np.zeros((length, length), np.float32)
    kernel[length // 2, :] = 1
    centre = (length / 2 - 0.5, length / 2 - 0.5)
    kernel = cv2.warpAffine(kernel, cv2.getRotationMatrix2D(centre, angle, 1), (length, length))
    return cv2.filter2D(rgb, -1, kernel / kernel.sum())


def weights_section(predictor, layout, sets: dict[str, list[Path]], seed: int) -> None:
    from segmenty.calib.select import board_blur, drop_blurred
    from segmenty.calib.weighted import point_sigma

    print("\n## Points weighted by their sigma against points alike\n")
    print("| set | views | solver | views used | RMS (px) | held-out RMS on SB's points (px) | fx, fy (px) "
          "| cx, cy (px) | std fx (px) | calibrate_views (s) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    rng = np.random.default_rng(seed)
    for name, photos in sets.items():
        weighted, reference = {"photos": [], "photos + blurred copies": []}, []
        for path in photos:
            rgb = read_image(path)
            size = (rgb.shape[1], rgb.shape[0])
            sb, _ = opencv_points(rgb, layout, "sb")
            reference.append(view_from_points(str(path), size, sb))
            blurred = _motion_blur(rgb, int(rng.integers(5, 12)), float(rng.uniform(0, 180)))
            for tag, image in (("", rgb), ("#blurred", blurred)):
                view = view_from_points(str(path) + tag, size, predictor.predict(image).points)
                if view.usable:
                    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
                    view.sigma, view.blur = point_sigma(gray, view.points.xy), board_blur(gray, view)
                weighted["photos + blurred copies"].append(view)
                if not tag:
                    weighted["photos"].append(view)
        reference = [r for r in reference if r.usable]
        for label, views in weighted.items():
            views = drop_blurred(views)
            for solver, on in (("points alike", False), ("weighted", True)):
                start = time.perf_counter()
                cal = calibrate_views(views, layout, weighted=on)
                seconds = time.perf_counter() - start
                held = cross_held_out(views, layout, reference, leave=lambda v, ref: v.name.split("#")[0] == ref.name,
                                      weighted=on)
                print(f"| {name} | {label} | {solver} | {len(cal.used)} of {len(cal.views)} | {cal.rms:.3f} | {held:.3f} "
                      f"| {cal.focal[0]:.1f}, {cal.focal[1]:.1f} | {cal.principal_point[0]:.1f}, "
                      f"{cal.principal_point[1]:.1f} | {cal.std_formal['fx']:.2f} | {seconds:.1f} |")


# -- rendered scenes ------------------------------------------------------------------------------

LEVELS = (("clean", 0.0, 0.0), ("blur 1.5", 1.5, 0.0), ("blur 3", 3.0, 0.0), ("noise 10", 0.0, 10.0),
          ("blur 2 + noise 10", 2.0, 10.0))


def rendered_section(predictor, layout, count: int, size: int, seed: int) -> None:
    from segmenty.patterns import load_pattern
    from segmenty.synth import Recipe, SyntheticDataset
    from segmenty.synth.steps import Blank

    pattern = load_pattern("chessboard:10x7")
    recipe = Recipe(occluders=False, blank=Blank(probability=0.0), motion_blur=False, defocus=False, noise=False,
                    jpeg=False)
    data = SyntheticDataset(pattern, size=size, seed=seed, recipe=recipe)
    rows = [pattern.keypoint_names.index(n) for n in layout.names]
    scenes, whole = [], 0
    for i in range(count):
        sample = data.sample(i)
        truth = sample.keypoints[rows].astype(np.float64)
        inside = (truth >= 0).all(axis=1) & (truth[:, 0] <= size - 1) & (truth[:, 1] <= size - 1)
        if inside.mean() >= 0.5:  # at least half the board's corners in the frame
            scenes.append((sample.image, truth, inside))
            whole += bool(inside.all())
    print(f"\n## Rendered scenes ({len(scenes)} of {count} at {size} px with at least half the corners in the "
          f"frame, {whole} with all of them; seed {seed})\n")
    print("| added blur / noise | segmenty: views with a grid | corners found / in frame | median error (px) "
          "| p90 (px) | ids right (absolute views) | OpenCV SB: whole boards | median error (px) | p90 (px) |")
    print("|---|---|---|---|---|---|---|---|---|")
    rng = np.random.default_rng(seed)
    for label, blur, noise in LEVELS:
        found, corners, visible, errors, right, absolute, sb_found, sb_errors = 0, 0, 0, [], 0, 0, 0, []
        for image, truth, inside in scenes:
            img = image.astype(np.float32)
            if blur:
                img = cv2.GaussianBlur(img, (0, 0), blur)
            if noise:
                img = img + rng.normal(0, noise, img.shape)
            img = np.clip(img + 0.5, 0, 255).astype(np.uint8)
            visible += int(inside.sum())
            points = predictor.predict(img).points
            if points is not None:
                found += 1
                step = np.median(np.linalg.norm(np.diff(truth.reshape(6, 9, 2), axis=1), axis=2))
                for p, i in zip(points.xy, points.ids.tolist()):
                    d = np.linalg.norm(truth - p, axis=1)
                    k = int(np.argmin(d))
                    if d[k] < 0.3 * step:
                        corners += 1
                        errors.append(float(d[k]))
                        if points.absolute:
                            absolute += 1
                            right += tuple(layout.ids[k].tolist()) == tuple(i)
            sb, _ = opencv_points(img, layout, "sb")
            if sb is not None and "SB" in _method(img, layout):
                sb_found += 1
                sb_errors += [float(np.min(np.linalg.norm(truth - p, axis=1))) for p in sb.xy]
        e, s = np.array(errors), np.array(sb_errors)
        fmt = lambda a, q: f"{np.percentile(a, q):.3f}" if len(a) else "-"  # noqa: E731
        print(f"| {label} | {found} of {len(scenes)} | {corners} / {visible} | {fmt(e, 50)} | {fmt(e, 90)} "
              f"| {right / absolute if absolute else 0:.1%} of {absolute} | {sb_found} of {len(scenes)} "
              f"| {fmt(s, 50)} | {fmt(s, 90)} |")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", required=True,
                   help="a chessboard:10x7 detector (run folder, .pt or .onnx), or chessboard:10x7 for the shipped one")
    p.add_argument("--real", type=Path, default=DEFAULT_REAL, help="the folder of real photos (../shared/real)")
    p.add_argument("--only", default=",".join(SECTIONS), help=f"sections, comma-separated ({', '.join(SECTIONS)})")
    p.add_argument("--scenes", type=int, default=60, help="rendered scenes drawn (those with half the board in "
                   "the frame are kept)")
    p.add_argument("--size", type=int, default=480, help="rendered scene size")
    p.add_argument("--seed", type=int, default=11)
    args = p.parse_args(argv)
    sections = args.only.split(",")
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        p.error(f"--only: unknown section(s) {', '.join(sorted(unknown))} (valid: {', '.join(SECTIONS)})")
    cv2.setNumThreads(1)
    predictor = Predictor.open(args.run, "chessboard:10x7", device="cpu")
    layout = grid_layout(predictor.pattern)
    if layout is None or layout.grid != (9, 6):
        p.error(f"--run {args.run}: is not a chessboard:10x7 detector")
    start = time.perf_counter()
    udacity = args.real / "chessboard-10x7"
    if "corners" in sections:
        corners_section(predictor, layout, [udacity, args.real / "opencv-samples" / "chessboard-10x7"])
    whole = None
    if "calibration" in sections or "halves" in sections:
        whole = calibration_section(predictor, layout, udacity)
    if "halves" in sections:
        halves_section(predictor, layout, udacity, whole)
    if "weights" in sections:
        samples = args.real / "opencv-samples" / "chessboard-10x7"
        weights_section(predictor, layout, {
            "udacity": list_images(udacity),
            "opencv left": [p for p in list_images(samples) if p.name.startswith("left")],
            "opencv right": [p for p in list_images(samples) if p.name.startswith("right")]}, args.seed)
    if "rendered" in sections:
        rendered_section(predictor, layout, args.scenes, args.size, args.seed)
    print(f"\n({time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
