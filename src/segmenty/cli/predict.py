"""CLI: `segmenty predict` (masks, overlays, outline and homography per photo) and
`segmenty export` (ONNX)."""
from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ..errors import SegmentyError, UsageError
from ..io import atomic_write_text, check_out_dir, expand_inputs, read_image, write_image
from .common import add_command, device_name, fraction, positive_int


def register(sub) -> None:
    p = add_command(sub, "predict", "find the pattern in photos: a mask PNG per mask name, an "
                    "overlay and predictions.json (detected, outline, homography) per photo", _predict)
    p.add_argument("model", metavar="RUN_OR_MODEL", help="run folder, .pt checkpoint or .onnx file")
    p.add_argument("inputs", metavar="INPUT", nargs="+", help="image files or folders of images")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--size", type=positive_int, default=None,
                   help="working resolution, long side in pixels (default: the training size; "
                        "rounded up to the network's stride)")
    p.add_argument("--threshold", type=fraction, default=0.5, help="mask probability threshold")
    p.add_argument("--rectify", action="store_true",
                   help="also write <stem>_rectified.png, the pattern seen front-on")
    p.add_argument("--raw", action="store_true",
                   help="write the network's masks as they are (not cleared outside the board, "
                        "not snapped to its outline)")
    p.add_argument("--no-refine", dest="refine", action="store_false",
                   help="one pass only: no second, zoomed-in look at a detected board (faster, "
                        "blurrier edges on boards small in the photo)")
    p.add_argument("--single-scale", dest="multiscale", action="store_false",
                   help="no finer looks at a photo in which the first finds nothing (faster; misses "
                        "boards small in the photo)")
    p.add_argument("--device", default="auto", type=device_name, help="auto, cpu, cuda or cuda:N (PyTorch models)")

    e = add_command(sub, "export", "export a trained model to ONNX (probabilities out, dynamic "
                    "batch, height and width; mask names and pattern in its metadata)", _export)
    e.add_argument("model", metavar="RUN_OR_MODEL", help="run folder or .pt checkpoint")
    e.add_argument("--onnx", required=True, metavar="FILE", help="the .onnx file to write")


def _predict(args) -> int:
    import torch

    from .. import hardware
    from ..predict import DetectionRule, Predictor
    from ..viz import draw_overlay

    torch.set_num_threads(hardware.available_cores())
    out = check_out_dir(args.out)
    files = expand_inputs(args.inputs, keep_missing=True)  # a missing one is reported below
    if not files:
        raise SegmentyError(f"no images found in {' '.join(args.inputs)} (suffixes: .jpg .png .webp .bmp .tif)")
    predictor = Predictor(args.model, device=args.device, size=args.size, threshold=args.threshold,
                          rule=DetectionRule(suppress=False, snap_fill=None) if args.raw else DetectionRule(),
                          refine=args.refine, multiscale=args.multiscale)
    records, failed = [], []
    for file, stem in zip(files, unique_stems(files)):
        try:
            rgb = read_image(file)
        except SegmentyError as exc:
            sys.stderr.write(f"segmenty: {exc}\n")
            failed.append({"file": str(file), "error": str(exc)})
            continue
        pred = predictor.predict(rgb)
        for name, prob in pred.masks.items():
            write_image(out / f"{stem}_{name}.png", np.round(prob * 255).astype(np.uint8))
        write_image(out / f"{stem}_overlay.jpg", draw_overlay(rgb, pred, predictor.mask_names), quality=90)
        if args.rectify:
            sheet = predictor.rectify(rgb, pred)
            if sheet is not None:
                write_image(out / f"{stem}_rectified.png", sheet)
        records.append({"file": str(file), "stem": stem, "width": rgb.shape[1], "height": rgb.shape[0],
                        **pred.summary()})
    report = {"model": str(args.model), "mask_names": predictor.mask_names, "size": predictor.size,
              "threshold": predictor.threshold, "rule": asdict(predictor.rule), "refine": predictor.refine, "multiscale": predictor.multiscale,
              "photos": records, "failed": failed}
    atomic_write_text(out / "predictions.json", json.dumps(report, indent=1) + "\n")
    found = sum(r["detected"] for r in records)
    print(f"{len(records)} photo(s) -> {out} (pattern found in {found})"
          + (f"; {len(failed)} could not be read" if failed else ""))
    return 1 if failed else 0


def _export(args) -> int:
    from ..predict import export_onnx
    from ..runs import load_model

    if Path(args.model).suffix.lower() == ".onnx":
        raise UsageError(f"{args.model}: is already ONNX; export takes a run folder or .pt checkpoint")
    path = export_onnx(load_model(args.model, "cpu"), args.onnx)
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

