"""CLI: `segmenty predict` (photos and videos: masks, overlays, outline, homography) and
`segmenty export` (ONNX).

Photos and video frames are predicted by a worker process a core (predict/pool.py), each
reading, predicting and writing its photos' files (a video's frames are decoded ahead here
and its annotated video written here, in order); the network runs in onnxruntime (a run's
checkpoint exported when its training ended, or by --backend onnx). A single photo, or `--workers 1`, is predicted in
this process, with no start-up cost for workers.
"""
from __future__ import annotations

import contextlib
import json
import os
import sys
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..errors import SegmentyError, UsageError
from ..patterns.chessboard import SPEC_MISMATCH_HINT
from ..scores import MASK_THRESHOLD
from ..io import (VIDEO_SUFFIXES, atomic_write_text, check_out_dir, expand_inputs, flush_to_disk, read_image,
                  write_image)
from .common import MAX_PREDICT_SIZE, add_command, device_name, fraction, pixels, positive_int


def register(sub) -> None:
    p = add_command(sub, "predict", "find the pattern in photos or videos: per photo a mask PNG per mask name, "
                    "an overlay and predictions.json (detected, outline, homography); per video an annotated "
                    "video and one JSON line per frame", _predict)
    p.add_argument("model", metavar="RUN_OR_PATTERN",
                   help="run folder, .pt checkpoint or .onnx file; or a built-in board's spec "
                        "(chessboard:8x6, charuco:5x7, circles:4x11:asym) for the detector shipped for it")
    p.add_argument("inputs", metavar="INPUT", nargs="+",
                   help="image files or folders of images; video files (.mp4, .avi, .mov, .mkv, ...) or a "
                        "camera index (0, 1, ...)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--size", type=pixels(MAX_PREDICT_SIZE), default=None,
                   help="working resolution, long side in pixels (default: the training size; "
                        "rounded up to the network's stride)")
    p.add_argument("--threshold", type=fraction, default=MASK_THRESHOLD,
                   help="mask probability threshold: the board's region, the point blobs, where a cut board goes on")
    p.add_argument("--rectify", action="store_true",
                   help="also write <stem>_rectified.png, the pattern seen front-on (photos)")
    p.add_argument("--raw", action="store_true",
                   help="write the network's masks as they are (not cleared outside the board, "
                        "not snapped to its outline)")
    p.add_argument("--no-refine", dest="refine", action="store_false",
                   help="one pass only: no second, zoomed-in look at a detected board (faster, "
                        "blurrier edges on boards small in the photo)")
    p.add_argument("--single-scale", dest="multiscale", action="store_false",
                   help="no finer looks at a photo in which the first finds nothing (faster; misses "
                        "boards small in the photo)")
    p.add_argument("--every", type=positive_int, default=1, metavar="N",
                   help="videos: predict every Nth frame (the others are skipped, not decoded)")
    p.add_argument("--masks", action="store_true",
                   help="videos: also write each predicted frame's masks as PNGs in <stem>_masks/")
    p.add_argument("--max-frames", type=positive_int, default=None, metavar="N",
                   help="videos and cameras: stop after N predicted frames")
    p.add_argument("--track", type=positive_int, default=30, metavar="N",
                   help="videos and cameras: follow the board's points from frame to frame, with a full "
                        "search when that fails and every N frames (default 30; 1: a full search on every "
                        "frame, shared out over --workers)")
    p.add_argument("--workers", type=positive_int, default=None, metavar="N",
                   help="processes predicting in parallel (default: one a CPU core with onnxruntime, "
                        "1 with PyTorch; a single photo is always predicted in this process)")
    p.add_argument("--pattern", default=None, metavar="SPEC",
                   help="the board to look for with a family detector or another layout of a run's own "
                        "pattern (default: the model's; a spec given in place of the model sets it)")
    p.add_argument("--device", default="auto", type=device_name, help="auto, cpu, cuda or cuda:N (PyTorch models)")
    p.add_argument("--backend", choices=["auto", "onnx", "torch"], default="auto",
                   help="auto: onnxruntime on the CPU where the run's export is there (training ends with "
                        "one and its int8 copy, which runs), else PyTorch (for a board's spec: the shipped "
                        "int8 copy on the CPU); onnx: the float export, made now if missing (for a spec: the "
                        "shipped float model); torch")

    e = add_command(sub, "export", "export a trained model to ONNX (probabilities out, dynamic "
                    "batch, height and width; mask names and pattern in its metadata)", _export)
    e.add_argument("model", metavar="RUN_OR_MODEL", help="run folder or .pt checkpoint")
    target = e.add_mutually_exclusive_group(required=True)
    target.add_argument("--onnx", metavar="FILE", help="the .onnx file to write")
    target.add_argument("--ship", action="store_true",
                        help="a family run (train --family): put its weights, ONNX (and its int8 copy) and "
                             "config.json into the package as the shipped detector of its family")
    e.add_argument("--int8", action="store_true",
                   help="with --onnx: write an int8 copy (its network 1.5-2x faster on a CPU; ranges measured on "
                        "synthetic scenes of the model's own pattern, refused if it strays from the float "
                        "model; training ends by writing one beside the run's checkpoint)")


def _predict(args) -> int:
    from ..predict import DetectionRule, Predictor
    from ..video import is_video, open_video

    check_out_dir(args.out, create=False)  # a file in the way fails before anything is loaded
    videos = [s for s in args.inputs if is_video(str(s))]
    photos = expand_inputs([s for s in args.inputs if not is_video(str(s))], keep_missing=True) \
        if len(videos) < len(args.inputs) else []
    if not photos and not videos:
        raise SegmentyError(_no_images(args.inputs))
    predictor = Predictor.open(args.model, args.pattern, device=args.device, size=args.size,
                               threshold=args.threshold,
                               rule=DetectionRule(suppress=False, snap_fill=None) if args.raw else DetectionRule(),
                               refine=args.refine, multiscale=args.multiscale, backend=args.backend)
    for video in videos:  # a video file that cannot be opened fails now, before any work (cameras when used)
        if not video.isdigit():
            open_video(video).release()
    out = check_out_dir(args.out)  # only now: a refused model, pattern, device or video leaves no folder
    failed = 0
    if photos:
        failed += _predict_photos(predictor, photos, out, args)
    # two videos of one name (from different folders) must not write over each other's files
    for video, stem in zip(videos, unique_stems([Path(f"camera{v}" if v.isdigit() else v) for v in videos])):
        _predict_video(predictor, video, stem, out, args)
    return 1 if failed else 0


def _no_images(inputs: list[str]) -> str:
    """What to say when the inputs hold no photo and name no video: a folder of videos is
    named (folders are searched for photos only; a video is given as a file)."""
    for item in map(Path, inputs):
        videos = sorted(f for f in item.rglob("*") if f.name.lower().endswith(VIDEO_SUFFIXES)) if item.is_dir() else []
        if videos:
            return (f"{item}: holds videos ({videos[0].name}{' ...' if len(videos) > 1 else ''}) but no images: "
                    f"give videos as files (e.g. {item / ('*' + videos[0].suffix)}); folders are searched for images")
    return f"no images found in {' '.join(inputs)} (suffixes: .jpg .png .webp .bmp .tif)"


@dataclass(frozen=True)
class _PhotoJob:
    """One photo to predict and the files to write for it (what a worker needs)."""

    file: Path
    stem: str
    out: Path
    rectify: bool


def _predict_photo(predictor, job: _PhotoJob) -> dict:
    """Read, predict and write one photo's files (in a worker); its predictions.json record."""
    from ..viz import draw_overlay

    try:
        rgb = read_image(job.file)
    except SegmentyError as exc:
        return {"file": str(job.file), "error": str(exc)}
    pred = predictor.predict(rgb)
    # Not flushed one by one: predictions.json, written last and durably, follows one flush.
    for name, prob in pred.masks.items():
        write_image(job.out / f"{job.stem}_{name}.png", np.round(prob * 255).astype(np.uint8), durable=False)
    write_image(job.out / f"{job.stem}_overlay.jpg", draw_overlay(rgb, pred, predictor.mask_names), quality=90,
                durable=False)
    if job.rectify:
        sheet = predictor.rectify(rgb, pred)
        if sheet is not None:
            write_image(job.out / f"{job.stem}_rectified.png", sheet, durable=False)
    return {"file": str(job.file), "stem": job.stem, "width": rgb.shape[1], "height": rgb.shape[0], **pred.summary()}


def _predict_photos(predictor, files: list[Path], out: Path, args) -> int:
    """Masks, overlay (and rectified view) per photo, predictions.json for all; the number of
    photos that could not be read."""
    from ..predict.pool import PredictorPool

    jobs = [_PhotoJob(f, stem, out, args.rectify) for f, stem in zip(files, unique_stems(files))]
    records, failed = [], []
    try:
        with PredictorPool(predictor, 1 if len(jobs) == 1 else args.workers) as pool:
            for record in pool.map(_predict_photo, jobs):
                if "error" in record:
                    sys.stderr.write(f"segmenty: {record['error']}\n")
                    failed.append(record)
                else:
                    records.append(record)
    except KeyboardInterrupt:  # Ctrl-C: the photos done so far are listed as a whole run's are
        _write_predictions(predictor, args, out, records, failed)
        raise KeyboardInterrupt(f"kept {len(records)} of {len(jobs)} photo(s) in {out / 'predictions.json'}"
                                ) from None
    _write_predictions(predictor, args, out, records, failed)
    found = sum(r["detected"] for r in records)
    print(f"{len(records)} photo(s) -> {out} (pattern found in {found})"
          + (f"; {len(failed)} could not be read" if failed else ""))
    seen = sum(r["board_without_grid"] for r in records)
    _hint_at_the_spec(predictor, str(out), "photo", seen, found, len(records))
    return len(failed)


def _hint_at_the_spec(predictor, where: str, unit: str, seen: int, found: int, total: int) -> None:
    """`calibrate`'s hint at the commonest mistake (inner corners typed for squares) when more
    photos or frames showed a board without a grid of the spec (`Prediction.board_without_grid`,
    as calibrate's views) than with one, and at least half of them did (a folder of photos
    without a board shows a few such regions; measured: the 20 udacity photos of a 10x7 board as
    chessboard:9x6 showed 20, found 0; as chessboard:10x7 with their 8 negatives 1 against 20
    found; the opencv set with its 30 negatives 3 against 26)."""
    pattern = predictor.pattern
    if seen > found and 2 * seen >= total and pattern is not None and pattern.grid is not None and predictor.points:
        warnings.warn(f"{where}: a board was seen in {seen} {unit}(s) without a grid of {pattern.spec} (found in "
                      f"{found}): " + SPEC_MISMATCH_HINT)


def _write_predictions(predictor, args, out: Path, records: list[dict], failed: list[dict]) -> None:
    """predictions.json: the run's settings, a record per photo predicted, the photos that
    could not be read; after the photos' files reach the disk."""
    report = {"model": str(args.model), "mask_names": predictor.mask_names, "size": predictor.size,
              "threshold": predictor.threshold, "rule": asdict(predictor.rule), "refine": predictor.refine,
              "multiscale": predictor.multiscale, "photos": records, "failed": failed}
    flush_to_disk()  # the photos' files reach the disk before the record that lists them
    atomic_write_text(out / "predictions.json", json.dumps(report, indent=1) + "\n")


@dataclass(frozen=True)
class FrameDrawer:
    """`predict_stream`'s `then` for a video: a predicted frame's masks written when asked, and
    (its frame index, its annotated frame, its prediction's summary), made where the frame was
    predicted (a worker), so the masks need not cross back."""

    masks_dir: Path | None
    every: int

    def __call__(self, predictor, position: int, rgb, pred) -> tuple:
        from ..viz import draw_overlay

        index = position * self.every
        if self.masks_dir is not None:
            for name, prob in pred.masks.items():
                write_image(self.masks_dir / f"{index:07d}_{name}.png", np.round(prob * 255).astype(np.uint8),
                            durable=False)
        return index, draw_overlay(rgb, pred, predictor.mask_names), pred.summary()


def _predict_video(predictor, source: str, stem: str, out: Path, args) -> None:
    """`<stem>_overlay.mp4` (the predicted frames annotated), `<stem>.jsonl` (a line per
    predicted frame) and with --masks `<stem>_masks/<frame>_<mask>.png`: the frames through
    `predict_stream` (workers, or tracking with --track), written in order behind. Each frame's
    line is written as the frame is (a camera stops only by Ctrl-C, a long video may be
    stopped so): the frames done are kept."""
    import itertools

    import cv2

    from ..predict.stream import BackgroundWriter, predict_stream
    from ..video import VIDEO_CODEC, VideoWriter, open_video, video_frames

    capture = open_video(source)
    fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
    masks_dir = out / f"{stem}_masks" if args.masks else None
    if masks_dir is not None:
        masks_dir.mkdir(exist_ok=True)
    video = VideoWriter(str(out / f"{stem}_overlay.mp4"), fps / args.every)
    lines_path = out / f"{stem}.jsonl"
    done = {"frames": 0, "found": 0, "seen": 0}  # counted as written (the writer's thread)
    try:
        with _lines_file(lines_path) as lines:
            def write(job) -> None:
                index, overlay, summary = job
                video.write(overlay)
                lines.write(json.dumps({"frame": index, "time_s": round(index / fps, 4), **summary}) + "\n")
                done["frames"] += 1
                done["found"] += summary["detected"]
                done["seen"] += summary["board_without_grid"]

            frames = (rgb for _, rgb in video_frames(capture, args.every))
            if args.max_frames:
                frames = itertools.islice(frames, args.max_frames)
            # Closed before the capture is released: a Ctrl-C leaves the stream's reading thread
            # inside the capture until the stream is closed (its traceback keeps it alive).
            stream = predict_stream(predictor, frames, args.workers, args.track,
                                    then=FrameDrawer(masks_dir, args.every))
            try:
                with contextlib.closing(stream), BackgroundWriter(write) as writer:
                    for job in stream:
                        writer.submit(job)
            finally:
                video.close()
                capture.release()
    except KeyboardInterrupt:
        raise KeyboardInterrupt(f"kept {done['frames']} frame(s) of {source} in {video.path} and {lines_path}"
                                ) from None
    finally:
        if masks_dir is not None:
            flush_to_disk()  # the frames' masks, as their lines are
    if done["frames"] == 0:
        raise SegmentyError(f"{source}: no frame could be read")
    print(f"{source}: {done['frames']} frame(s) -> {video.path} ({VIDEO_CODEC}) and {lines_path} "
          f"(pattern found in {done['found']})")
    _hint_at_the_spec(predictor, source, "frame", done["seen"], done["found"], done["frames"])


@contextlib.contextmanager
def _lines_file(path: Path) -> Iterator:
    """`path` open for text a line at a time, each line handed to the system as it is written
    (a run stopped by Ctrl-C, or failing, keeps the lines written), flushed to disk when closed."""
    with open(path, "w", buffering=1) as lines:
        try:
            yield lines
        finally:
            lines.flush()
            os.fsync(lines.fileno())


def _export(args) -> int:
    from ..predict import export_onnx
    from ..runs import load_model

    if Path(args.model).suffix.lower() == ".onnx":
        raise UsageError(f"{args.model}: is already ONNX; export takes a run folder or .pt checkpoint")
    if args.int8 and not args.onnx:
        raise UsageError("--int8 goes with --onnx FILE (--ship always writes the int8 copy)")
    if args.ship:
        from ..jobs import quantize_detector
        from ..predict.shipped import ship_detector
        folder = ship_detector(args.model)
        quantize_detector(folder)
        print(f"shipped the detector in {folder}")
        return 0
    loaded = load_model(args.model, "cpu")
    if args.int8:
        import tempfile

        from ..jobs import quantize_model
        with tempfile.TemporaryDirectory(prefix="segmenty-export-") as tmp:
            quantize_model(export_onnx(loaded, Path(tmp) / "model.onnx"), loaded.config, args.onnx,
                           loaded.path.parent if loaded.path else None)
        return 0
    path = export_onnx(loaded, args.onnx)
    print(f"wrote {path}")
    return 0


def unique_stems(files: list[Path]) -> list[str]:
    """Output name stems, one per file: the file's stem, suffixed -2, -3... where two inputs
    (from different folders) would otherwise write over each other."""
    used: set[str] = set()
    stems = []
    for f in files:
        stem, k = f.stem, 1
        while stem in used:
            k += 1
            stem = f"{f.stem}-{k}"
        used.add(stem)
        stems.append(stem)
    return stems
