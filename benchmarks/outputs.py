"""Are the outputs the same? Dump what a Predictor says on the real photos, compare two dumps.

    python benchmarks/outputs.py dump --model RUN --out before.npz [--size 640x480] [--predictor-option k=v ...]
    python benchmarks/outputs.py compare before.npz after.npz

`dump` predicts every photo of both real sets (boards and negatives, ../shared/real; 84 photos)
and each board photo's four halves (through its centre: 184 partial views), and stores per
view: the decision, the points' ids and positions, the `mask` (> 0.5), the outline; and the mask's IoU with the truth where there is one (opencv-samples/masks). `compare`
prints what differs: decisions, ids, the largest and median point shift, the mask IoU between
the dumps and the truth IoU of each (a speed change should leave them equal, or say how much
they moved).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
REAL = REPO.parent / "shared" / "real"
HALVED = ("udacity", "opencv")  # the sets of boards whose photos are also cut in halves
SETS = {"udacity": "chessboard-10x7", "udacity-neg": "negatives", "opencv": "opencv-samples/chessboard-10x7",
        "opencv-neg": "opencv-samples/negatives"}


def photos(root: Path = REAL) -> list[tuple[str, Path, Path | None]]:
    from segmenty.io import list_images

    out = []
    for name, sub in SETS.items():
        for f in list_images(root / sub):
            truth = root / "opencv-samples" / "masks" / f"{Path(f).stem}_mask.png" if name == "opencv" else None
            out.append((f"{name}/{Path(f).name}", Path(f), truth if truth is not None and truth.exists() else None))
    return out


def views():
    """(name, RGB, truth mask or None) of every photo, and of each board photo's four halves
    (cut through its centre: partial boards, where the points' region matters most)."""
    from segmenty.io import read_image

    for name, path, truth_path in photos():
        rgb = read_image(path)
        truth = cv2.imread(str(truth_path), cv2.IMREAD_GRAYSCALE) if truth_path is not None else None
        yield name, rgb, truth
        if name.split("/")[0] in HALVED:
            h, w = rgb.shape[:2]
            group, file = name.split("/", 1)
            for side, (ys, xs) in {"left": (slice(0, h), slice(0, w // 2)), "right": (slice(0, h), slice(w // 2, w)),
                                   "top": (slice(0, h // 2), slice(0, w)), "bottom": (slice(h // 2, h), slice(0, w))}.items():
                yield (f"{group}-halves/{file}#{side}", np.ascontiguousarray(rgb[ys, xs]),
                       None if truth is None else np.ascontiguousarray(truth[ys, xs]))


def dump(model: str, out: Path, size: tuple[int, int] | None, options: dict) -> None:
    from segmenty.predict import Predictor

    predictor = Predictor.open(model, **options)  # a run, a checkpoint, or a shipped board's spec
    record = {}
    for name, rgb, truth in views():
        if size:
            rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        p = predictor.predict(rgb)
        mask = p.masks["mask"] > 0.5
        iou = np.nan
        if truth is not None:
            t = cv2.resize(truth, mask.shape[::-1], interpolation=cv2.INTER_NEAREST) > 127
            iou = (mask & t).sum() / max(1, (mask | t).sum())
        pts = p.points
        record[name] = dict(detected=p.detected, iou=iou, mask=np.packbits(mask), shape=mask.shape,
                            ids=pts.ids if pts is not None else np.zeros((0, 2), np.int32),
                            xy=pts.xy if pts is not None else np.zeros((0, 2), np.float32),
                            identity=pts.identity if pts is not None else "",
                            outline=p.outline if p.outline is not None else np.full((4, 2), np.nan))
    with open(out, "wb") as f:  # np.save on a path would append .npy to the name asked for
        np.save(f, record, allow_pickle=True)
    print(f"{len(record)} photos -> {out}")


def _mask(r):
    return np.unpackbits(r["mask"])[:int(np.prod(r["shape"]))].reshape(r["shape"]).astype(bool)


def compare(a_path: Path, b_path: Path) -> int:
    a, b = (np.load(p, allow_pickle=True).item() for p in (a_path, b_path))
    rows, same = [], True
    for group in [*SETS, *(f"{g}-halves" for g in HALVED)]:
        names = [n for n in a if n.startswith(group + "/")]
        decisions = sum(a[n]["detected"] != b[n]["detected"] for n in names)
        ids_diff, shifts, ious, truth_a, truth_b, identity = 0, [], [], [], [], 0
        for n in names:
            ra, rb = a[n], b[n]
            ka = {tuple(i): p for i, p in zip(ra["ids"].tolist(), ra["xy"])}
            kb = {tuple(i): p for i, p in zip(rb["ids"].tolist(), rb["xy"])}
            ids_diff += len(set(ka) ^ set(kb))
            identity += ra["identity"] != rb["identity"]
            shifts += [float(np.linalg.norm(ka[k] - kb[k])) for k in set(ka) & set(kb)]
            ma, mb = _mask(ra), _mask(rb)
            if ma.any() or mb.any():
                ious.append((ma & mb).sum() / (ma | mb).sum())
            if not np.isnan(ra["iou"]):
                truth_a.append(ra["iou"])
                truth_b.append(rb["iou"])
        detected = (sum(bool(a[n]["detected"]) for n in names), sum(bool(b[n]["detected"]) for n in names))
        rows.append((group, len(names), f"{detected[0]} / {detected[1]}", decisions, ids_diff, identity,
                     f"{max(shifts):.4f} / {np.median(shifts):.4f}" if shifts else "-",
                     f"{min(ious):.4f}" if ious else "-",
                     f"{np.mean(truth_a):.4f} / {np.mean(truth_b):.4f}" if truth_a else "-"))
        same &= decisions == 0 and ids_diff == 0 and identity == 0 and (not shifts or max(shifts) < 1e-3) \
            and (not ious or min(ious) > 0.9999)
    print("| set | photos | detected a / b | decisions differ | ids differ | identity differs | "
          "point shift px max / median | mask IoU a vs b, min | truth IoU a / b |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(str(x) for x in r) + " |")
    print("identical" if same else "DIFFERENT")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("dump")
    d.add_argument("--model", required=True)
    d.add_argument("--out", type=Path, required=True)
    d.add_argument("--size", default=None, help="resize every photo to WxH first (e.g. 640x480)")
    d.add_argument("--predictor-option", action="append", default=[], metavar="K=V")
    c = sub.add_parser("compare")
    c.add_argument("a", type=Path)
    c.add_argument("b", type=Path)
    args = ap.parse_args()
    if args.cmd == "compare":
        return compare(args.a, args.b)
    size = tuple(int(v) for v in args.size.split("x")) if args.size else None
    options = {}
    for kv in args.predictor_option:
        k, v = kv.split("=", 1)
        options[k] = {"true": True, "false": False}.get(v.lower(), v)
    dump(args.model, args.out, size, options)
    return 0


if __name__ == "__main__":
    sys.exit(main())
