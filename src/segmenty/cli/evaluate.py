"""``segmenty label`` (classical ground truth for real photos) and ``segmenty evaluate``."""
from __future__ import annotations

from ..scores import MASK_THRESHOLD
from .common import MAX_PREDICT_SIZE, add_command, fraction, pixels


def register(sub) -> None:
    p = add_command(sub, "label", "write <stem>_mask.png ground truth for real photos where OpenCV's "
                    "classical detector finds the whole board", cmd_label)
    p.add_argument("images", nargs="+", help="photos or folders of photos")
    p.add_argument("--detector", required=True,
                   help="chessboard:COLSxROWS or charuco:COLSxROWS[:DICT], squares as in the pattern spec "
                        "(chessboard:10x7 has OpenCV's 9x6 inner corners)")
    p.add_argument("--out", required=True, help="folder for the masks and labels.json")

    p = add_command(sub, "evaluate", "score a model on labelled real photos: IoU on whole photos and "
                    "half views, false detections on negatives", cmd_evaluate)
    p.add_argument("model", metavar="RUN_OR_PATTERN",
                   help="run folder, .pt checkpoint or .onnx file; or a built-in board's spec (chessboard:10x7, "
                        "charuco:5x7, circles:4x11:asym) for the detector shipped for it, as predict takes")
    p.add_argument("--images", required=True, help="folder of photos with the board")
    p.add_argument("--masks", required=True, help="folder of <stem>_mask.png truth (from 'segmenty label')")
    p.add_argument("--negatives", help="folder of photos without the board")
    p.add_argument("--out", help="folder for eval.json and gallery.jpg (default: RUN/eval, or eval/ beside a checkpoint; "
                                 "./eval for a board's spec)")
    p.add_argument("--size", type=pixels(MAX_PREDICT_SIZE), help="prediction size (default: the training size)")
    p.add_argument("--threshold", type=fraction, default=MASK_THRESHOLD, help="mask probability threshold")
    p.add_argument("--no-refine", dest="refine", action="store_false",
                   help="score the first pass alone (no zoomed-in second look at a detected board)")
    p.add_argument("--single-scale", dest="multiscale", action="store_false",
                   help="no finer looks at a photo in which the first finds nothing (faster; misses "
                        "boards small in the photo)")


def cmd_label(args) -> int:
    from pathlib import Path

    from ..errors import SegmentyError
    from ..classical import parse_detector
    from ..eval.label import label_images
    from ..io import expand_inputs

    detector = parse_detector(args.detector)  # before reading any photo: a typo fails fast
    # a missing or unreadable photo is skipped with a warning and the others labelled; when
    # nothing named exists, that is the one error
    images = expand_inputs(args.images, keep_missing=any(Path(p).exists() for p in args.images))
    if not images:
        raise SegmentyError(f"no images found in {' '.join(args.images)} (expected photos: .jpg, .png, ...)")
    result = label_images(images, detector, args.out)
    print(f"labelled {len(result.labelled)} of {len(result.labelled) + len(result.not_found)} photos "
          f"with {detector.spec} into {args.out}"
          + (f"; {len(result.unreadable)} could not be read" if result.unreadable else ""))
    if result.not_found:
        print("board not found in:")
        for path in result.not_found:
            print(f"  {path}")
    return 0


def cmd_evaluate(args) -> int:
    from pathlib import Path

    from ..eval.evaluate import evaluate

    model = Path(args.model)
    # A run's results live in the run (the report picks them up); a checkpoint's beside it, a
    # board spec's (no file) in ./eval.
    out = Path(args.out) if args.out else (model if model.is_dir() else model.parent) / "eval"
    result = evaluate(args.model, args.images, args.masks, args.negatives, out, args.size, args.threshold,
                      refine=args.refine, multiscale=args.multiscale)
    print(result.table())
    print(f"wrote {out / 'eval.json'} and {out / 'gallery.jpg'}")
    return 0
