"""CLI: `segmenty calibrate` (camera calibration from photos or videos of a grid pattern)."""
from __future__ import annotations

from pathlib import Path

from ..errors import UsageError
from .common import add_command, device_name, positive_float, positive_int, whole_number_at_least

DETECTOR_FOLDER = "detector"  # where a detector trained by `calibrate` goes, inside --out


def register(sub) -> None:
    from ..calib import CAMERA_MODELS
    from ..calib.camera import MIN_VIEWS

    p = add_command(sub, "calibrate", "calibrate a camera from photos or videos of a chessboard, ChArUco board "
                    "or circle grid, whole or cut by the frame: camera.json (K, distortion, errors), coverage "
                    "and error pictures, beside the same calibration from OpenCV's own detector", cmd_calibrate)
    p.add_argument("inputs", metavar="PHOTOS_OR_VIDEO", nargs="+", help="photos, folders of photos or video files "
                   "(with --right: the left camera's)")
    p.add_argument("--right", nargs="+", metavar="PHOTOS_OR_VIDEO",
                   help="a stereo rig's right camera: its photos, folder or video, paired with the left camera's "
                        "in sorted order; writes stereo.json (R, T, E, F, errors), rectification and each "
                        "camera's files in OUT/left and OUT/right")
    p.add_argument("--pattern", required=True,
                   help="the printed board with its true square (or spacing) in mm, e.g. chessboard:10x7:25; "
                        "sets the calibration's units")
    p.add_argument("--model", metavar="RUN", help="a detector for this board (run folder, .pt or .onnx); "
                   "default: the detector shipped for the board's family (chessboards, ChArUco, circle grids), "
                   f"else one trained into OUT/{DETECTOR_FOLDER} (or reused from there)")
    p.add_argument("--out", default="calibration", metavar="DIR", help="output folder")
    p.add_argument("--camera", choices=CAMERA_MODELS, default="pinhole",
                   help="pinhole: OpenCV's 5 distortion coefficients; rational: 8; fisheye: cv2.fisheye")
    p.add_argument("--every", type=positive_int, default=1, help="use every Nth frame of a video")
    p.add_argument("--views", type=whole_number_at_least(MIN_VIEWS, "a calibration needs that many views"),
                   metavar="N",
                   help="calibrate from N views chosen for sharpness, coverage of the image (its edges and "
                        "corners) and a range of tilts and distances, instead of all of them")
    p.add_argument("--minutes", type=positive_float, default=10.0,
                   help="training time when a detector has to be trained (no --model)")
    p.add_argument("--no-opencv", dest="compare", action="store_false",
                   help="skip the side-by-side calibration from OpenCV's own detector")
    p.add_argument("--weighted", action="store_true",
                   help="weight each point by its uncertainty (its sigma, measured on the photo and scaled up "
                        "for views that stray) instead of all alike; both sides of the comparison")
    p.add_argument("--device", default="auto", type=device_name, help="auto, cpu, cuda or cuda:N (PyTorch models)")


def cmd_calibrate(args) -> int:
    from ..calib import run_calibration
    from ..io import check_out_dir
    from ..patterns import load_pattern
    from ..predict import Predictor, grid_layout
    from ..runs import detector_folder

    pattern = load_pattern(args.pattern)
    layout = grid_layout(pattern)
    if layout is None:
        raise UsageError(f"--pattern {args.pattern}: has no grid of points to calibrate with "
                         "(use chessboard:CxR:MM, charuco:CxR:DICT:MM or circles:CxR[:asym]:MM)")
    # Checked now, created once the detector is known to be good: a refused model or device
    # leaves no empty folder (a detector trained here goes into it, and makes it).
    out = check_out_dir(args.out, create=False)
    if args.model is None and detector_folder(pattern.spec) is not None:
        predictor = Predictor.for_pattern(pattern.spec, device=args.device)
        model = detector_folder(pattern.spec)
    else:
        model = Path(args.model) if args.model else _trained_detector(args, out / DETECTOR_FOLDER)
        try:
            predictor = Predictor(model, device=args.device, pattern=pattern.spec)
        except UsageError as exc:
            raise UsageError(f"--model {model}: {exc}") from None
    check_out_dir(out)
    describe = {"pattern": pattern.spec, "units": "mm", "detector": str(model)}

    def show(report) -> None:  # before any file is written: a failed write loses no result
        print(report.table(), flush=True)

    if args.right:
        from ..calib import run_stereo

        report = run_stereo(args.inputs, args.right, layout, predictor, out, model=args.camera, every=args.every,
                            compare=args.compare, describe=describe, views_count=args.views,
                            weighted=args.weighted, on_solved=show)
    else:
        report = run_calibration(args.inputs, layout, predictor, out, model=args.camera, every=args.every,
                                 compare=args.compare, describe=describe, views_count=args.views,
                                 weighted=args.weighted, on_solved=show)
    print(written_line(report.files, out))
    for name, why in report.skipped.items():
        print(f"not written: {name} ({why})")
    return 0


def written_line(files: list[Path], out: Path) -> str:
    """'stereo.json, ...; left/ and right/: camera.json, ... -> OUT': the files written, by
    folder (folders holding the same files named together)."""
    folders: dict[Path, list[str]] = {}
    for f in files:
        rel = Path(f).relative_to(out)
        folders.setdefault(rel.parent, []).append(rel.name)
    same: dict[tuple, list[Path]] = {}
    for folder, names in folders.items():
        same.setdefault(tuple(names), []).append(folder)
    parts = [("" if group == [Path(".")] else " and ".join(f"{g}/" for g in group) + ": ") + ", ".join(names)
             for names, group in sorted(same.items(), key=lambda item: item[1] != [Path(".")])]  # OUT's own first
    return "; ".join(parts) + f" -> {out}"


def _trained_detector(args, run: Path) -> Path:
    """The detector in `run` when one is there (reused), else one trained now for --pattern
    (training lives in the CLI layer: the calib package never imports train)."""
    from ..runs import BEST_CHECKPOINT, LATEST_CHECKPOINT

    if (run / BEST_CHECKPOINT).exists() or (run / LATEST_CHECKPOINT).exists():
        print(f"reusing the detector in {run} (delete it to train again)")
        return run
    from ..jobs import fit
    from ..train import TrainConfig

    print(f"training a detector for {args.pattern} for {args.minutes:g} minutes into {run} "
          "(give --model RUN to use one you have)")
    return fit(TrainConfig(pattern=args.pattern, minutes=args.minutes, out=str(run), device=args.device)).path
