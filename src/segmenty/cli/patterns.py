"""``segmenty patterns`` and ``segmenty pattern SPEC --out FILE``."""
from __future__ import annotations

from .common import add_command, positive_float


def register(sub) -> None:
    add_command(sub, "patterns", "list the built-in patterns with example specs", cmd_patterns)
    p = add_command(sub, "pattern", "write a pattern's printable sheet (PNG, SVG or PDF) at true scale",
                    cmd_pattern)
    p.add_argument("spec", help="pattern spec, e.g. segmenty, chessboard:10x7:25, or a pattern folder")
    p.add_argument("--out", required=True, help="output file: .png, .svg or .pdf")
    p.add_argument("--dpi", type=positive_float, default=300.0,
                   help="print resolution of built-in patterns (a folder pattern keeps its own)")
    p.add_argument("--masks", action="store_true",
                   help="also write every mask as <stem>_<mask>.png beside the sheet (any format)")


def cmd_patterns(args) -> int:
    from ..patterns import PATTERN_KINDS
    from ..runs import shipped_kinds

    ready = set(shipped_kinds())
    for kind in PATTERN_KINDS.values():
        print(f"{kind.name:<12} {kind.description}")
        detector = "; a detector ships: segmenty predict SPEC PHOTOS --out DIR" if kind.name in ready else ""
        print(f"{'':<12} e.g. {', '.join(kind.examples)}{detector}")
    print(f"{'FOLDER':<12} a user pattern: FOLDER/pattern.png (or .svg), FOLDER/masks/<name>.png, "
          "optional FOLDER/pattern.yaml")
    return 0


def cmd_pattern(args) -> int:
    from ..patterns.render import write_pattern
    for path in write_pattern(args.spec, args.out, dpi=args.dpi, masks=args.masks):
        print(path)
    return 0
