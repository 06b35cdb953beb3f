"""``segmenty animate RUN`` (training progress GIF) and ``segmenty report RUN`` (one HTML file)."""
from __future__ import annotations

from .common import add_command


def register(sub) -> None:
    p = add_command(sub, "animate", "animate a run's wild-photo snapshots through training as a GIF",
                    cmd_animate)
    p.add_argument("run", metavar="RUN", help="run folder (with snapshots/)")
    p.add_argument("--out", help="GIF file (default: RUN/progress.gif)")

    p = add_command(sub, "report", "write one self-contained HTML report of a run", cmd_report)
    p.add_argument("run", metavar="RUN", help="run folder")
    p.add_argument("--out", help="HTML file (default: RUN/report.html)")


def cmd_animate(args) -> int:
    from ..report.animate import make_animation
    print(make_animation(args.run, args.out))
    return 0


def cmd_report(args) -> int:
    from ..report.html import write_report
    print(write_report(args.run, args.out))
    return 0
