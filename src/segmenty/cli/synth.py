"""``segmenty synth``: write synthetic photos of a pattern, their masks, keypoints and a preview."""
from __future__ import annotations

from .common import MAX_SAMPLE_SIZE, add_command, non_negative_int, pixels, positive_int


def register(sub) -> None:
    p = add_command(sub, "synth", "write synthetic photos of a pattern with their masks, keypoints "
                    "and a preview", cmd_synth)
    p.add_argument("--pattern", required=True, help="pattern spec, e.g. segmenty, chessboard:10x7, or a pattern folder")
    p.add_argument("--count", required=True, type=positive_int, help="number of samples")
    p.add_argument("--out", required=True, help="output folder (created if needed)")
    p.add_argument("--size", type=pixels(MAX_SAMPLE_SIZE), default=256,
                   help="side of the square samples in px (>= 32, a multiple of 16)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="sample i is made from (seed, i) alone")
    p.add_argument("--backgrounds", metavar="DIR",
                   help="folder of background photos (searched recursively), added to the built-in textures")
    p.add_argument("--only-my-backgrounds", action="store_true",
                   help="use only the --backgrounds images, not the built-in textures")
    p.add_argument("--workers", type=positive_int, default=1, help="processes making samples")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def cmd_synth(args) -> int:
    from ..errors import UsageError
    from ..io import check_out_dir
    from ..patterns import load_pattern
    from ..synth import BackgroundBank, SyntheticDataset, write_dataset
    from ..synth.dataset import check_size
    from ..synth.sheet import pattern_kind

    if args.only_my_backgrounds and not args.backgrounds:
        raise UsageError("--only-my-backgrounds needs --backgrounds DIR")
    pattern = load_pattern(args.pattern)
    size = check_size(args.size)
    check_out_dir(args.out)  # before the slow part: a bad --out fails at once
    bank = None
    if args.backgrounds:
        bank = BackgroundBank(size, [args.backgrounds], builtin=not args.only_my_backgrounds,
                              pattern_kind=pattern_kind(pattern), seed=args.seed)
    dataset = SyntheticDataset(pattern, size=size, seed=args.seed, backgrounds=bank)
    index = write_dataset(dataset, args.out, args.count, workers=args.workers, progress=not args.no_progress)
    print(f"wrote {args.count} samples to {index.parent} (index.json, preview.png)")
    return 0
