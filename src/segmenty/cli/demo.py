"""``segmenty demo``: the main job on built-in defaults (train, evaluate on real photos, report)."""
from __future__ import annotations

from .common import add_command, device_name, positive_float


def register(sub) -> None:
    p = add_command(sub, "demo", "train a chessboard:10x7 detector on synthetic scenes, evaluate it on "
                    "real example photos shipped with segmenty, and write an HTML report", cmd_demo)
    p.add_argument("--out", default="runs/demo", help="folder for the run, labels and report")
    p.add_argument("--minutes", type=positive_float, default=10.0, help="training time")
    p.add_argument("--images", help="folder of real photos of the board (default: shipped examples)")
    p.add_argument("--negatives", help="folder of real photos without the board (default: shipped examples)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted demo run")
    p.add_argument("--device", default="auto", type=device_name, help="where to train: auto, cpu, cuda or cuda:N")


def cmd_demo(args) -> int:
    from ..jobs import run_demo

    result = run_demo(args.out, args.minutes, images=args.images, negatives=args.negatives,
                      resume=args.resume, device=args.device)
    print(result.table)
    print(f"report: {result.report}")
    return 0
