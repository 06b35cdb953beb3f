"""Writing a synthetic data set to disk: what ``segmenty synth`` does.

DIR/000000.jpg, DIR/000000_<mask>.png for each mask (1-bit PNG), DIR/index.json (per sample:
file names, keypoints in pixels or null when blank, the blank flag, every step's params) and
DIR/preview.png (the first samples beside their masks).

Files are never seen half-written: each is written to a temporary name and renamed. Sample
files skip the per-file fsync (it would cost more than making the sample); instead everything
is flushed to disk once (os.sync) before index.json, which is written last and durably, so an
index.json on disk always lists complete files. With several workers each makes and writes
its own samples; the output is the same bytes for any worker count.
"""
from __future__ import annotations

import json
import multiprocessing
import os
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from ..io import atomic_write_bytes, atomic_write_text, check_out_dir, flush_to_disk, write_renamed
from .dataset import Sample, SyntheticDataset

INDEX_FORMAT = "segmenty-synth-1"
JPEG_QUALITY = 95
PREVIEW_SAMPLES = 8
PREVIEW_TILE = 160  # px, at most
# Masks as 1-bit PNGs with light compression: half the time of OpenCV's default, and
# still a few hundred bytes each.
_PNG_1BIT = [cv2.IMWRITE_PNG_BILEVEL, 1, cv2.IMWRITE_PNG_COMPRESSION, 1]


def write_dataset(dataset: SyntheticDataset, out_dir: str | os.PathLike, count: int, workers: int = 1,
                  progress: bool = True) -> Path:
    """Write samples 0..count-1 of `dataset` to `out_dir` (created if needed); returns the
    path of index.json. `workers` processes make samples in parallel."""
    out = check_out_dir(out_dir)
    jobs = [(i, max(6, len(str(count - 1)))) for i in range(count)]
    entries: list[dict] = []
    preview_rows: list[np.ndarray] = []
    # One OpenCV thread per process: every call here is on a small image, and processes are
    # the parallelism. It is set here, before forking: a forked child that changes OpenCV's
    # thread count after its parent used threads deadlocks.
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        with tqdm(total=count, unit="sample", disable=not progress, desc="synth") as bar:
            if workers <= 1:
                _worker_init(dataset, out)
                results = map(_write_sample, jobs)
            else:
                # fork shares the prepared dataset with the workers at no cost; elsewhere it is pickled.
                methods = multiprocessing.get_all_start_methods()
                pool = multiprocessing.get_context("fork" if "fork" in methods else None).Pool(
                    workers, initializer=_worker_init, initargs=(dataset, out))
                results = pool.imap(_write_sample, jobs, chunksize=max(1, min(32, count // (workers * 8))))
            try:
                for entry, row in results:
                    entries.append(entry)
                    if row is not None:
                        preview_rows.append(row)
                    bar.update()
            finally:
                if workers > 1:
                    pool.terminate()
    finally:
        cv2.setNumThreads(threads)
    flush_to_disk()  # the sample files reach the disk before the index that lists them
    montage = cv2.cvtColor(np.concatenate(preview_rows), cv2.COLOR_RGB2BGR)
    atomic_write_bytes(out / "preview.png", cv2.imencode(".png", montage)[1].tobytes())
    index = {
        "format": INDEX_FORMAT, "pattern": dataset.pattern.spec, "size": dataset.size, "seed": dataset.seed,
        "count": count, "mask_names": dataset.mask_names, "keypoint_names": dataset.keypoint_names,
        "recipe": dataset.recipe.to_dict(), "samples": entries,
    }
    index_path = out / "index.json"
    atomic_write_text(index_path, json.dumps(index, separators=(",", ":")))
    return index_path


# The dataset and output folder of this process (set by the pool's initializer in workers).
_worker: dict = {}


def _worker_init(dataset: SyntheticDataset, out: Path) -> None:
    _worker["dataset"], _worker["out"] = dataset, out


def _write_sample(job: tuple[int, int]) -> tuple[dict, np.ndarray | None]:
    """Make and write sample `index`: its index.json entry, and its preview row if it is
    one of the first samples."""
    index, digits = job
    out: Path = _worker["out"]
    dataset: SyntheticDataset = _worker["dataset"]
    sample = dataset.sample(index)
    stem = f"{index:0{digits}d}"
    files = {"image": f"{stem}.jpg", "masks": {name: f"{stem}_{name}.png" for name in sample.masks}}
    jpeg = cv2.imencode(".jpg", cv2.cvtColor(sample.image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])[1]
    write_renamed(out / files["image"], jpeg)
    for name, mask in sample.masks.items():
        png = cv2.imencode(".png", mask.view(np.uint8) * np.uint8(255), _PNG_1BIT)[1]
        write_renamed(out / files["masks"][name], png)
    keypoints = None if sample.keypoints is None else np.round(sample.keypoints.astype(np.float64), 3).tolist()
    entry = {"index": index, **files, "blank": sample.blank, "keypoints": keypoints, "params": sample.params}
    return entry, preview_row(sample, dataset.sheet.outline_index) if index < PREVIEW_SAMPLES else None


def preview_row(s: Sample, outline_index: list[int]) -> np.ndarray:
    """One row of the preview montage: the image, the image with the first mask tinted and the
    outline keypoints (rows `outline_index`) marked, then every mask."""
    image = s.image.copy()
    first = next(iter(s.masks.values()))
    image[first] = (0.5 * image[first] + (0, 127, 0)).astype(np.uint8)
    if s.keypoints is not None:
        for x, y in s.keypoints[outline_index]:
            cv2.circle(image, (int(round(x * 4)), int(round(y * 4))), 8, (255, 0, 0), -1, cv2.LINE_AA, shift=2)
    side = min(s.image.shape[0], PREVIEW_TILE)
    return np.concatenate([_tile(t, side) for t in (s.image, image, *s.masks.values())], axis=1)


def _tile(image: np.ndarray, side: int) -> np.ndarray:
    if image.dtype == bool:
        image = cv2.cvtColor(image.view(np.uint8) * np.uint8(255), cv2.COLOR_GRAY2RGB)
    if image.shape[0] != side:
        image = cv2.resize(image, (side, side), interpolation=cv2.INTER_AREA)
    image = image.copy()
    image[:, -1] = image[-1, :] = 64  # a thin grid line between tiles
    return image
