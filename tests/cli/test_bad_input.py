"""Bad input never crashes segmenty or loses work (issue 8): an adversarial matrix of image
files, options and checkpoints across every command, run in-process through
`segmenty.cli.main` (plus two subprocess runs that prove no traceback end to end).

The contract every row checks: the exit status (2 usage, 1 data, 0 when work went on), each
stderr line is one line naming the file or option, and no "Traceback".

Covered elsewhere and not repeated here: SIGKILL mid-run then --resume, and Ctrl-C saving a
checkpoint and exiting 130 (tests/test_train.py::test_sigkill_then_resume_then_ctrl_c);
--resume on a run of another pattern or model (test_train.py::test_resume_refuses_another_
pattern_or_model); --steps -5, --size 100 for unet-s and a misspelt model or pattern for
train (test_train.py::test_bad_options_give_one_line); synth --count 0, --size 50 and --out
naming a file (test_synth.py); predict --size 0/-5 (test_predict.py).
"""
from __future__ import annotations

import errno
import io
import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import write_checkpoint
import torch
from PIL import Image, ImageFile

import segmenty
import segmenty.io as sio
from segmenty.cli import main
from segmenty.eval.label import mask_path
from segmenty.models import build_model
from segmenty.predict import Predictor
from segmenty.runs import save_checkpoint

PATTERN = "chessboard:10x7"
CLI = [sys.executable, "-c", "from segmenty.cli import run; run()"]
TINY_TRAIN = ["--pattern", PATTERN, "--model", "unet-n", "--size", "64", "--steps", "2",
              "--val-count", "2", "--batch", "2", "--workers", "0", "--threads", "1"]


@pytest.fixture(autouse=True)
def one_torch_thread(monkeypatch):
    """Tiny models on a shared 2-core machine: one thread is ~100x faster than two that spin
    against other work (predict sets the thread count to the cores available)."""
    import segmenty.hardware
    threads = torch.get_num_threads()
    monkeypatch.setattr(segmenty.hardware, "available_cores", lambda: 1)
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def noise(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def png_with_forged_size(width: int, height: int) -> bytes:
    """A tiny valid-looking PNG whose IHDR claims width×height pixels (a decompression bomb)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 4096))
            + chunk(b"IEND", b""))


def encoded(rgb: np.ndarray | Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    (rgb if isinstance(rgb, Image.Image) else Image.fromarray(rgb)).save(buf, fmt, **kw)
    return buf.getvalue()


# What the odd images are made of, to know the pixels read_image promises for each.
GRAY, RGB, ALPHA = noise(30, 40)[..., 0], noise(30, 40), noise(30, 40, 1)[..., 0]
INDEX, PALETTE = noise(30, 40, 2)[..., 0], noise(1, 256, 4)[0]  # 256 colours, each pixel one of them


def _palette_png() -> bytes:
    im = Image.fromarray(INDEX, "P")
    im.putpalette(PALETTE.ravel().tolist())
    return encoded(im, "PNG")


def _exif_rotated() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # stored 90 wide x 50 high, shown rotated: 50 wide x 90 high
    return encoded(noise(50, 90, 3), "JPEG", exif=exif)


def make_unreadable(path: Path, monkeypatch) -> None:
    """chmod 000; as root that does not stop reading, so then opening it is refused the way
    the system would refuse it (the behaviour under test is the same either way)."""
    path.chmod(0)
    if os.access(path, os.R_OK):  # root: permissions are not enforced
        real_open = Image.open

        def refusing_open(fp, *a, **k):
            if Path(fp).name == path.name:
                raise PermissionError(errno.EACCES, "Permission denied", str(fp))
            return real_open(fp, *a, **k)
        monkeypatch.setattr(Image, "open", refusing_open)


# name -> (bytes or None for a special file, (width, height) when readable else the needle of
# its one-line refusal)
CASES: dict[str, tuple[bytes | None, tuple[int, int] | str]] = {
    "empty.jpg": (b"", "empty file (0 bytes)"),
    "text.jpg": (b"just some text, not a JPEG\n", "not an image file"),
    "cut.jpg": (encoded(noise(120, 160), "JPEG")[:1500], "truncated"),
    "cut.png": (encoded(noise(120, 160), "PNG")[:3000], "truncated"),
    "deep16.png": (encoded(GRAY.astype(np.uint16) * 257, "PNG"), (40, 30)),
    "rgba.png": (encoded(np.dstack([RGB, ALPHA]), "PNG"), (40, 30)),
    "palette.png": (_palette_png(), (40, 30)),
    "gray.png": (encoded(GRAY, "PNG"), (40, 30)),
    "dot.png": (encoded(noise(1, 1), "PNG"), (1, 1)),
    "exif6.jpg": (_exif_rotated(), (50, 90)),
    "bomb.png": (png_with_forged_size(50_000, 50_000), "refused before decoding"),
    "bomb12k.png": (png_with_forged_size(12_000, 12_000), "refused before decoding"),
    "locked.png": (None, "permission denied"),
    "loop.jpg": (None, "symbolic link loop"),
}
def _on_white(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    a = alpha[..., None] / 255.0
    return np.round(rgb * a + 255.0 * (1 - a)).astype(int)


def _stored_jpeg(path: Path) -> np.ndarray:
    with Image.open(path) as im:  # the JPEG's decoded pixels as stored, unturned
        return np.asarray(im.convert("RGB")).astype(int)


# readable name -> (mode Pillow opens it in, the RGB read_image promises (io.read_image's
# docstring): 16-bit scaled to 8-bit, RGBA composited on white, the palette expanded, grey
# repeated, the EXIF orientation applied)
READ_AS = {
    "deep16.png": ("I;16", lambda path: np.repeat(GRAY[..., None], 3, axis=2)),  # v * 257 -> v
    "rgba.png": ("RGBA", lambda path: _on_white(RGB, ALPHA)),
    "palette.png": ("P", lambda path: PALETTE[INDEX]),
    "gray.png": ("L", lambda path: np.repeat(GRAY[..., None], 3, axis=2)),
    "dot.png": ("RGB", lambda path: noise(1, 1)),
    "exif6.jpg": ("RGB", lambda path: np.rot90(_stored_jpeg(path), -1)),  # 6: turned 90 degrees clockwise
}

BAD = sorted(k for k, (_, want) in CASES.items() if isinstance(want, str))
GOOD = sorted(k for k, (_, want) in CASES.items() if not isinstance(want, str))


def write_case(folder: Path, name: str, monkeypatch) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    data = CASES[name][0]
    if name == "loop.jpg":
        path.symlink_to(name)  # points at itself
    elif name == "locked.png":
        path.write_bytes(encoded(noise(30, 40), "PNG"))
        make_unreadable(path, monkeypatch)
    else:
        path.write_bytes(data)
    return path


def write_good(folder: Path, name: str = "good.png", size=(48, 64)) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(noise(*size, seed=9)).save(folder / name)
    return folder / name


def write_board(folder: Path, name: str = "board.png") -> Path:
    """A photo OpenCV finds a whole chessboard:10x7 in (what `label` needs to label one)."""
    folder.mkdir(parents=True, exist_ok=True)
    sheet = segmenty.load_pattern("chessboard:10x7", dpi=20).image
    Image.fromarray(np.pad(sheet, ((20, 20), (30, 30), (0, 0)), constant_values=128)).save(folder / name)
    return folder / name


def cli(capsys, *argv) -> tuple[int, str, list[str]]:
    """Run `segmenty argv...` in-process: (exit status, stdout, stderr lines)."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse's own usage errors
        code = exc.code
    out, err = capsys.readouterr()
    assert "Traceback" not in err, err
    return code, out, err.splitlines()


def warning_lines(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith("segmenty: warning:")]


def assert_one_line_naming(lines: list[str], name: str, needle: str) -> None:
    assert len(lines) == 1, lines
    assert lines[0].startswith("segmenty: ") and name in lines[0] and needle in lines[0], lines


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """An untrained unet-xs for chessboard:10x7 at 64 px: prediction is what is tested, not quality."""
    return write_checkpoint(tmp_path_factory.mktemp("ckpt") / "model.pt", PATTERN, "unet-xs")


# ------------------------------------------------------------------ the reader itself

@pytest.mark.parametrize("name", sorted(CASES))
def test_read_image_converts_odd_images_and_refuses_bad_ones_in_one_line(name, tmp_path, monkeypatch):
    path = write_case(tmp_path, name, monkeypatch)
    want = CASES[name][1]
    if isinstance(want, tuple):
        rgb = sio.read_image(path)
        assert rgb.dtype == np.uint8 and rgb.shape == (want[1], want[0], 3)
        mode, promised = READ_AS[name]
        with Image.open(path) as im:  # each case is the kind of file it is named for
            assert im.mode == mode
        expected = promised(path)
        assert rgb.shape == expected.shape
        # exact but for RGBA, whose compositing rounds either way
        assert np.abs(rgb.astype(int) - expected).max() <= (1 if mode == "RGBA" else 0)
    else:
        with pytest.raises(segmenty.SegmentyError) as exc:
            sio.read_image(path)
        message = str(exc.value)
        assert "\n" not in message and name in message and want in message, message


@pytest.mark.parametrize("name", ["bomb.png", "bomb12k.png"])
def test_decompression_bomb_is_refused_before_decoding(name, tmp_path, monkeypatch):
    path = write_case(tmp_path, name, monkeypatch)
    assert path.stat().st_size < 2000  # a tiny file claiming 7.5 GB (or 430 MB) of pixels
    decoded = []  # any decoding of the pixels (Pillow's load, its decoder) fails the test

    def spy(what):
        def refuse(*args, **kwargs):
            decoded.append(what)
            raise AssertionError(f"{what} called: the bomb is being decoded")
        return refuse
    monkeypatch.setattr(ImageFile.ImageFile, "load", spy("ImageFile.load"))
    monkeypatch.setattr(Image.Image, "load", spy("Image.load"))
    monkeypatch.setattr(Image, "_getdecoder", spy("Image._getdecoder"))
    with pytest.raises(segmenty.SegmentyError, match="refused before decoding"):
        sio.read_image(path)
    assert decoded == []


def test_exif_orientation_is_applied(tmp_path, monkeypatch):
    path = write_case(tmp_path, "exif6.jpg", monkeypatch)
    stored = np.asarray(Image.open(path).convert("RGB"))
    shown = sio.read_image(path)
    assert stored.shape == (50, 90, 3) and shown.shape == (90, 50, 3)
    # orientation 6 = rotate 90 degrees clockwise to display
    assert np.abs(shown.astype(int) - np.rot90(stored, -1).astype(int)).mean() < 2


def test_folder_symlink_loop_is_walked_once(tmp_path):
    write_good(tmp_path / "photos" / "sub")
    (tmp_path / "photos" / "sub" / "up").symlink_to("..")  # photos/sub/up -> photos
    (tmp_path / "photos" / "self").symlink_to("self")
    assert [p.name for p in sio.list_images(tmp_path / "photos")] == ["good.png"]


# ------------------------------------------------------------------ synth --backgrounds

@pytest.mark.parametrize("name", sorted(CASES))
def test_synth_backgrounds_skip_a_bad_image_with_one_warning(name, tmp_path, capsys, monkeypatch):
    folder = tmp_path / "bg"
    write_good(folder)
    write_case(folder, name, monkeypatch)
    code, _, lines = cli(capsys, "synth", "--pattern", PATTERN, "--count", 1, "--size", 64, "--out",
                         tmp_path / "out", "--backgrounds", folder, "--only-my-backgrounds", "--no-progress")
    assert code == 0 and (tmp_path / "out" / "index.json").is_file()
    if name in BAD:
        assert_one_line_naming(lines, name, CASES[name][1])
        assert lines[0].startswith("segmenty: warning: skipping background")
    else:
        assert lines == []


@pytest.mark.parametrize("setup, needle", [
    (lambda d, mp: None, "no image files"),
    (lambda d, mp: [write_case(d, n, mp) for n in ("empty.jpg", "cut.png")], "2 unreadable image files"),
])
def test_synth_backgrounds_with_no_usable_image_is_one_error(setup, needle, tmp_path, capsys, monkeypatch):
    folder = tmp_path / "bg"
    folder.mkdir()
    setup(folder, monkeypatch)
    code, _, lines = cli(capsys, "synth", "--pattern", PATTERN, "--count", 1, "--size", 64, "--out", tmp_path / "o",
                         "--backgrounds", folder, "--only-my-backgrounds", "--no-progress")
    errors = [line for line in lines if not line.startswith("segmenty: warning:")]
    assert code == 1 and len(errors) == 1 and "--backgrounds" in errors[0] and needle in errors[0], lines
    assert len(warning_lines(lines)) == len(list(folder.iterdir()))  # one per skipped file


def test_synth_backgrounds_that_do_not_exist(tmp_path, capsys):
    code, _, lines = cli(capsys, "synth", "--pattern", PATTERN, "--count", 1, "--size", 64,
                         "--out", tmp_path / "o", "--backgrounds", tmp_path / "nowhere")
    assert code == 1
    assert_one_line_naming(lines, "nowhere", "--backgrounds")


# ------------------------------------------------------------------ train --backgrounds and --wild

def test_train_skips_every_bad_background_and_wild_photo_once(tmp_path, capsys, monkeypatch):
    folder = tmp_path / "all"
    write_good(folder)
    for name in CASES:
        write_case(folder, name, monkeypatch)
    run = tmp_path / "run"
    code, _, lines = cli(capsys, "train", *TINY_TRAIN, "--out", run, "--backgrounds", folder, "--wild", folder)
    assert code == 0 and (run / "model.pt").is_file()
    warned = warning_lines(lines)
    for name in BAD:  # once for the backgrounds (though read for validation and training), once for --wild
        mine = [line for line in warned if f"/{name}:" in line]
        assert len(mine) == 2 and sum("--wild" in line for line in mine) == 1, mine
    assert not any(f"/{name}:" in line for line in warned for name in GOOD)
    snapshot = sorted((run / "snapshots").iterdir())[-1]
    assert {p.stem for p in snapshot.glob("*.jpg")} == {"good", *(Path(n).stem for n in GOOD)}


@pytest.mark.parametrize("option, content, needle", [
    ("--wild", [], "no image files"),
    ("--wild", ["text.jpg", "loop.jpg"], "2 unreadable image files"),
    ("--wild", None, "no such folder"),
    ("--backgrounds", None, "no such folder"),
    ("--backgrounds", [], "no image files"),
])
def test_train_with_no_usable_folder_fails_before_the_run_folder(option, content, needle, tmp_path, capsys,
                                                                  monkeypatch):
    folder = tmp_path / "photos"
    for name in content or []:
        write_case(folder, name, monkeypatch)
    if content == []:
        folder.mkdir()
    code, _, lines = cli(capsys, "train", *TINY_TRAIN, "--out", tmp_path / "run", option, folder)
    errors = [line for line in lines if line.startswith("segmenty: ") and "warning" not in line
              and not line.startswith("segmenty: training ")]
    assert code == 1 and len(errors) == 1 and option in errors[0] and needle in errors[0], lines
    assert not (tmp_path / "run").exists()  # nothing half-made to trip over next time


# ------------------------------------------------------------------ predict

@pytest.mark.parametrize("name", sorted(CASES))
def test_predict_reports_a_bad_photo_and_writes_the_others(name, checkpoint, tmp_path, capsys, monkeypatch):
    photos, out = tmp_path / "photos", tmp_path / "out"
    write_good(photos, "a_good.png")
    write_case(photos, name, monkeypatch)
    # as root a locked file is refused by a monkeypatch, which worker processes do not share
    workers = ["--workers", "1"] if name == "locked.png" else []
    code, stdout, lines = cli(capsys, "predict", checkpoint, photos, "--out", out, *workers)
    report = json.loads((out / "predictions.json").read_text())
    assert Image.open(out / "a_good_mask.png").size == (64, 48)
    if name in BAD:
        assert code == 1 and "could not be read" in stdout
        assert_one_line_naming(lines, name, CASES[name][1])
        assert [f["file"] for f in report["failed"]] == [str(photos / name)]
        assert not list(out.glob(f"{Path(name).stem}_*"))
    else:
        assert code == 0 and lines == [] and not report["failed"]
        assert Image.open(out / f"{Path(name).stem}_mask.png").size == CASES[name][1]
    assert not list(out.glob(".*.tmp*"))


def test_predict_a_missing_photo_among_good_ones(checkpoint, tmp_path, capsys):
    good = write_good(tmp_path)
    code, _, lines = cli(capsys, "predict", checkpoint, tmp_path / "missing.jpg", good, "--out", tmp_path / "out")
    assert code == 1
    assert_one_line_naming(lines, "missing.jpg", "no such file")
    assert (tmp_path / "out" / "good_mask.png").is_file()


def test_predict_a_folder_with_no_image_is_a_data_error(checkpoint, tmp_path, capsys):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "notes.txt").write_text("no photos here")
    code, _, lines = cli(capsys, "predict", checkpoint, tmp_path / "photos", "--out", tmp_path / "out")
    assert code == 1
    assert_one_line_naming(lines, "photos", "no images found")


def test_predict_with_a_full_disk_is_one_line_and_leaves_no_temporary_file(checkpoint, tmp_path, capsys,
                                                                          monkeypatch):
    good = write_good(tmp_path / "photos")

    def full_disk(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device", str(dst))
    monkeypatch.setattr(sio.os, "replace", full_disk)
    code, _, lines = cli(capsys, "predict", checkpoint, good, "--out", tmp_path / "out")
    assert code == 1
    assert_one_line_naming(lines, "good_", "No space left on device")
    assert list((tmp_path / "out").iterdir()) == []


# ------------------------------------------------------------------ evaluate

def _truth_for(photos: Path, masks: Path, name: str) -> None:
    want = CASES.get(name, (None, (64, 48)))[1]
    w, h = want if isinstance(want, tuple) else (8, 8)
    truth = np.zeros((h, w), np.uint8)
    truth[h // 4: h - h // 4, w // 4: w - w // 4] = 255
    sio.write_image(mask_path(masks, photos / name), truth)


@pytest.mark.parametrize("name", sorted(CASES))
def test_evaluate_skips_a_bad_photo_with_one_warning(name, checkpoint, tmp_path, capsys, monkeypatch):
    photos, masks, out = tmp_path / "photos", tmp_path / "masks", tmp_path / "eval"
    write_good(photos)
    write_case(photos, name, monkeypatch)
    for photo in ("good.png", name):
        _truth_for(photos, masks, photo)
    code, _, lines = cli(capsys, "evaluate", checkpoint, "--images", photos, "--masks", masks, "--out", out)
    saved = json.loads((out / "eval.json").read_text())
    assert code == 0 and (out / "gallery.jpg").is_file()
    scored = [row["name"] for row in saved["whole"]]
    if name in BAD:
        assert_one_line_naming(lines, name, CASES[name][1])
        assert scored == ["good.png"] and list(saved["skipped"]) == [name]
    else:
        assert lines == [] and sorted(scored) == sorted(["good.png", name]) and not saved["skipped"]


def test_evaluate_skips_an_unreadable_truth_mask_and_a_bad_negative(checkpoint, tmp_path, capsys):
    photos, masks, negatives = tmp_path / "photos", tmp_path / "masks", tmp_path / "negatives"
    for name in ("a.png", "b.png"):
        write_good(photos, name)
        _truth_for(photos, masks, name)
    mask_path(masks, photos / "b.png").write_bytes(b"")  # truth of b lost
    write_good(negatives, "n1.png")
    (negatives / "n2.jpg").write_text("not a photo")
    code, stdout, lines = cli(capsys, "evaluate", checkpoint, "--images", photos, "--masks", masks,
                              "--negatives", negatives, "--out", tmp_path / "eval")
    assert code == 0 and len(lines) == 2 and all(line.startswith("segmenty: warning:") for line in lines)
    assert "b_mask.png" in lines[0] and "n2.jpg" in lines[1]
    assert "unreadable (skipped): b.png, n2.jpg" in stdout


def test_evaluate_with_no_usable_photo_is_one_error(checkpoint, tmp_path, capsys, monkeypatch):
    photos, masks = tmp_path / "photos", tmp_path / "masks"
    write_case(photos, "cut.jpg", monkeypatch)
    _truth_for(photos, masks, "cut.jpg")
    code, _, lines = cli(capsys, "evaluate", checkpoint, "--images", photos, "--masks", masks,
                         "--out", tmp_path / "eval")
    errors = [line for line in lines if "warning" not in line]
    assert code == 1 and len(errors) == 1 and "none of the 1 labelled photos" in errors[0] and "cut.jpg" in errors[0]
    assert not (tmp_path / "eval" / "eval.json").exists()


@pytest.mark.parametrize("option", ["--images", "--masks", "--negatives"])
def test_evaluate_folders_that_do_not_exist(option, checkpoint, tmp_path, capsys):
    folders = {"--images": tmp_path / "photos", "--masks": tmp_path / "masks"}
    write_good(folders["--images"])
    _truth_for(folders["--images"], folders["--masks"], "good.png")
    folders[option] = tmp_path / "nowhere"
    code, _, lines = cli(capsys, "evaluate", checkpoint, *[x for kv in folders.items() for x in kv])
    assert code == 1
    assert_one_line_naming(lines, "nowhere", option)


# ------------------------------------------------------------------ label

@pytest.mark.parametrize("name", sorted(CASES))
def test_label_skips_a_bad_photo_with_one_warning(name, tmp_path, capsys, monkeypatch):
    photos, out = tmp_path / "photos", tmp_path / "labels"
    write_good(photos)
    write_board(photos)
    write_case(photos, name, monkeypatch)
    code, stdout, lines = cli(capsys, "label", photos, "--detector", "chessboard:10x7", "--out", out)
    saved = json.loads((out / "labels.json").read_text())
    assert code == 0 and list(saved["labelled"]) == [str(photos / "board.png")]
    if name in BAD:
        assert_one_line_naming(lines, name, CASES[name][1])
        assert list(saved["unreadable"]) == [str(photos / name)] and "1 could not be read" in stdout
        assert len(saved["not_found"]) == 1  # the good photo was still looked at
    else:
        assert lines == [] and not saved["unreadable"] and len(saved["not_found"]) == 2


def test_label_a_missing_photo_is_skipped_and_nothing_readable_is_an_error(tmp_path, capsys, monkeypatch):
    good = write_board(tmp_path)
    code, _, lines = cli(capsys, "label", tmp_path / "missing.png", good, "--detector", "chessboard:10x7",
                         "--out", tmp_path / "l1")
    assert code == 0
    assert_one_line_naming(lines, "missing.png", "no such file")
    bad = write_case(tmp_path / "bad", "text.jpg", monkeypatch)
    code, _, lines = cli(capsys, "label", bad, "--detector", "chessboard:10x7", "--out", tmp_path / "l2")
    assert code == 1 and len(lines) == 2 and "none of the 1 photos could be read" in lines[1]
    assert all("text.jpg" in line for line in lines)
    (tmp_path / "empty").mkdir()
    code, _, lines = cli(capsys, "label", tmp_path / "empty", "--detector", "chessboard:10x7", "--out", tmp_path / "l3")
    assert code == 1
    assert_one_line_naming(lines, "empty", "no images found")


def test_label_given_a_video_says_it_takes_photos(tmp_path, capsys):
    import cv2

    clip = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 48))
    for _ in range(3):
        writer.write(np.zeros((48, 64, 3), np.uint8))
    writer.release()
    code, _, lines = cli(capsys, "label", clip, "--detector", "chessboard:10x7", "--out", tmp_path / "l")
    assert code == 1 and "a video where an image was expected" in lines[0] and "clip.mp4" in lines[0]


# ------------------------------------------------------------------ options

@pytest.fixture
def existing_file(tmp_path) -> Path:
    path = tmp_path / "taken.txt"
    path.write_text("not a folder")
    return path


@pytest.mark.parametrize("argv, code, needle", [
    (["synth", "--pattern", PATTERN, "--count", "-3", "--out", "{tmp}/o"], 2, "--count: -3 must be a positive"),
    (["synth", "--pattern", PATTERN, "--count", "1", "--size", "-5", "--out", "{tmp}/o"], 2, "--size: -5 must be"),
    (["synth", "--pattern", PATTERN, "--count", "1", "--size", "0", "--out", "{tmp}/o"], 2, "--size: 0 must be"),
    (["synth", "--pattern", "circle:4x11", "--count", "1", "--out", "{tmp}/o"], 2, "did you mean 'circles'"),
    (["train", "--steps", "0", "--out", "{tmp}/o"], 2, "--steps: 0 must be a positive"),
    (["train", "--minutes", "-1", "--out", "{tmp}/o"], 2, "--minutes: -1.0 must be a positive"),
    (["train", "--batch", "0", "--out", "{tmp}/o"], 2, "--batch: 0 must be"),
    (["train", "--size", "100", "--model", "unet-n", "--out", "{tmp}/o"], 2,
     "--size 100: model 'unet-n' takes multiples of 32 (e.g. 96 or 128)"),
    (["train", "--model", "unet-m", "--out", "{tmp}/o"], 2, "did you mean"),
    (["train", "--recipe", "orignal", "--out", "{tmp}/o"], 2, "did you mean 'original'"),
    (["predict", "{ckpt}", "{tmp}", "--size", "-1", "--out", "{tmp}/o"], 2, "--size: -1 must be"),
    (["predict", "{ckpt}", "{tmp}", "--threshold", "nan", "--out", "{tmp}/o"], 2, "--threshold"),
    (["label", "{tmp}", "--detector", "chesboard:10x7", "--out", "{tmp}/o"], 2, "chessboard"),
    (["evaluate", "{ckpt}", "--images", "{tmp}", "--masks", "{tmp}", "--size", "0"], 2, "--size: 0 must be"),
    # a spec of an unknown kind, where a run or a board's spec goes: as every command names it
    (["predict", "foo:3x3", "{tmp}/photos", "--out", "{tmp}/o"], 2,
     "unknown pattern 'foo' (valid: charuco, chessboard, circles, segmenty)"),
    (["evaluate", "foo:3x3", "--images", "{tmp}/photos", "--masks", "{tmp}/masks", "--out", "{tmp}/o"], 2,
     "unknown pattern 'foo' (valid: charuco, chessboard, circles, segmenty)"),
    (["predict", "chessbord:8x6", "{tmp}/photos", "--out", "{tmp}/o"], 2, "try 'chessboard:8x6'"),
    # a bare name that is neither a kind nor a folder, as --pattern of every command
    (["train", "--pattern", "logoo", "--out", "{tmp}/o"], 2, "neither a pattern kind (charuco, chessboard"),
    (["synth", "--pattern", "logoo", "--count", "1", "--out", "{tmp}/o"], 2, "nor a pattern folder"),
    (["predict", "{ckpt}", "{tmp}/photos", "--pattern", "logoo", "--out", "{tmp}/o"], 2, "nor a pattern folder"),
    (["predict", "chessboard:10x7", "{tmp}/photos", "--pattern", "logoo", "--out", "{tmp}/o"], 2,
     "nor a pattern folder"),
    # a GPU this machine lacks (a test machine has at most one), of a checkpoint and an ONNX model
    (["predict", "{ckpt}", "{tmp}/photos", "--device", "cuda:3", "--out", "{tmp}/o"], 2, "--device cuda:3: "),
    (["predict", "{onnx}", "{tmp}/photos", "--device", "cuda:3", "--out", "{tmp}/o"], 2, "--device cuda:3: "),
    (["calibrate", "{tmp}/photos", "--pattern", "chessboard:10x7:25", "--model", "{ckpt}", "--device", "cuda:3",
      "--out", "{tmp}/o"], 2, "--device cuda:3: "),
    (["calibrate", "{tmp}/photos", "--pattern", "chessboard:10x7:25", "--device", "cuda:3", "--out", "{tmp}/o"],
     2, "--device cuda:3: "),
    # --out naming an existing file
    (["train", *TINY_TRAIN, "--out", "{file}"], 1, "exists and is a file"),
    (["predict", "{ckpt}", "{tmp}", "--out", "{file}"], 1, "exists and is a file"),
    (["evaluate", "{ckpt}", "--images", "{tmp}/photos", "--masks", "{tmp}/masks", "--out", "{file}"], 1,
     "exists and is a file"),
    (["label", "{tmp}/photos", "--detector", "chessboard:10x7", "--out", "{file}"], 1, "exists and is a file"),
    (["export", "{ckpt}", "--onnx", "{tmp}"], 1, "Is a directory"),
])
def test_bad_options_are_one_line_with_the_right_status(argv, code, needle, tmp_path, capsys, checkpoint,
                                                        existing_file):
    write_good(tmp_path / "photos")
    _truth_for(tmp_path / "photos", tmp_path / "masks", "good.png")
    fill = {"{tmp}": str(tmp_path), "{ckpt}": str(checkpoint), "{file}": str(existing_file),
            "{onnx}": str(checkpoint.with_suffix(".onnx"))}
    argv = [next((a.replace(k, v) for k, v in fill.items() if k in a), a) for a in argv]
    got, _, lines = cli(capsys, *argv)
    assert got == code and len(lines) == 1 and needle in lines[0], lines
    assert existing_file.read_text() == "not a folder"  # never written over
    assert not (tmp_path / "o").exists()  # a refused command leaves no empty --out folder


def test_predict_with_a_bad_pattern_folder_leaves_no_out_folder(checkpoint, tmp_path, capsys):
    write_good(tmp_path / "photos")
    board = tmp_path / "board"
    (board / "masks").mkdir(parents=True)
    Image.new("RGB", (60, 40), "white").save(board / "pattern.png")
    Image.new("L", (60, 40), 0).save(board / "masks" / "mask.png")
    got, _, lines = cli(capsys, "predict", str(checkpoint), str(tmp_path / "photos"), "--pattern", str(board),
                        "--out", str(tmp_path / "o"))
    assert got == 1 and len(lines) == 1 and "mask is empty" in lines[0], lines
    assert not (tmp_path / "o").exists()


def test_pattern_out_naming_an_existing_file_replaces_it_whole(tmp_path, capsys):
    out = tmp_path / "sheet.png"
    out.write_bytes(b"an older sheet")
    code, stdout, lines = cli(capsys, "pattern", "chessboard:4x3", "--dpi", "20", "--out", out)
    assert code == 0 and lines == [] and Image.open(out).size[0] > 0
    assert [p.name for p in tmp_path.iterdir()] == ["sheet.png"]


# ------------------------------------------------------------------ checkpoints

class _Evil:
    """Unpickling this runs a shell command: a checkpoint carrying it must never be loaded."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _bad_checkpoint(kind: str, good: Path, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "model.pt"
    state = torch.load(good, weights_only=True)
    if kind == "truncated":
        data = good.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("hello, I am not a checkpoint\n")
    elif kind == "other-model":  # says unet-xs, holds unet-s weights
        state["model"] = build_model("unet-s", len(state["mask_names"])).state_dict()
        state["config"] = {"model": "unet-xs", "pattern": PATTERN, "size": 64}
        torch.save(state, path)
    elif kind == "pickled-code":
        state["config"] = {"hook": _Evil(folder / "MARKER")}
        torch.save(state, path)
    return path


CHECKPOINT_NEEDLES = {
    "truncated": "truncated or not a checkpoint",
    "empty": "empty file (0 bytes)",
    "text": "truncated or not a checkpoint",
    "other-model": "weights do not fit model 'unet-xs'",
    "pickled-code": "refused unloaded",
}


@pytest.mark.parametrize("command", ["predict", "evaluate", "export", "train --resume"])
@pytest.mark.parametrize("kind", sorted(CHECKPOINT_NEEDLES))
def test_bad_checkpoints_are_refused_in_one_line_and_nothing_in_them_runs(kind, command, checkpoint, tmp_path,
                                                                         capsys):
    run = tmp_path / "run"
    path = _bad_checkpoint(kind, checkpoint, run)
    photos = tmp_path / "photos"
    write_good(photos)
    _truth_for(photos, tmp_path / "masks", "good.png")
    argv = {"predict": ["predict", path, photos, "--out", tmp_path / "out"],
            "evaluate": ["evaluate", path, "--images", photos, "--masks", tmp_path / "masks", "--out", tmp_path / "out"],
            "export": ["export", run, "--onnx", tmp_path / "out" / "m.onnx"],
            "train --resume": ["train", "--out", run, "--resume", "--steps", "3", "--workers", "0"]}[command]
    code, _, lines = cli(capsys, *argv)
    assert code == 1
    assert_one_line_naming(lines, "model.pt", CHECKPOINT_NEEDLES[kind])
    assert not (run / "MARKER").exists()
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.mark.parametrize("command", ["export", "predict"])
def test_an_image_given_for_a_checkpoint_is_called_an_image(command, tmp_path, capsys):
    """`segmenty export logo/pattern.png` (a pattern folder's image for its run) was refused as
    "holds Python objects other than tensors" (torch's weights-only unpickler on a PNG)."""
    image = write_good(tmp_path / "logo", "pattern.png")
    argv = {"export": ["export", image, "--onnx", tmp_path / "m.onnx"],
            "predict": ["predict", image, image, "--out", tmp_path / "out"]}[command]
    code, _, lines = cli(capsys, *argv)
    assert code == 1
    assert_one_line_naming(lines, "pattern.png", "an image, not a segmenty checkpoint")
    assert "Python objects" not in lines[0]


def test_resume_from_a_checkpoint_without_training_state_is_refused(checkpoint, tmp_path, capsys):
    """A predict-only checkpoint (no optimizer, EMA) in a run folder cannot be continued."""
    run = tmp_path / "run"
    state = torch.load(checkpoint, weights_only=True)
    state["config"] = {"model": "unet-xs", "pattern": PATTERN, "size": 64}
    run.mkdir()
    torch.save(state, run / "model.pt")
    code, _, lines = cli(capsys, "train", "--out", run, "--resume", "--steps", "3", "--workers", "0")
    errors = [line for line in lines if line.startswith("segmenty: ") and not line.startswith("segmenty: training ")]
    assert code == 1 and len(errors) == 1 and "not a training checkpoint" in errors[0], lines


# ------------------------------------------------------------------ atomic writes

class Boom(Exception):
    pass


@pytest.mark.parametrize("failure", [Boom, KeyboardInterrupt])
def test_a_failure_mid_write_leaves_no_file_and_no_temporary(failure, tmp_path):
    target = tmp_path / "out" / "result.png"
    with pytest.raises(failure):
        with sio.atomic_path(target) as tmp:
            tmp.write_bytes(sio.encode_image(noise(20, 20), ".png")[:100])  # half written ...
            raise failure()  # ... then the encoder fails
    assert list((tmp_path / "out").iterdir()) == []
    # and an existing file under the final name keeps its old content
    target.write_bytes(b"old")
    with pytest.raises(failure):
        with sio.atomic_path(target) as tmp:
            tmp.write_bytes(b"new, half")
            raise failure()
    assert target.read_bytes() == b"old" and [p.name for p in target.parent.iterdir()] == ["result.png"]


@pytest.mark.parametrize("failure", [Boom, KeyboardInterrupt])
def test_a_renamed_write_stopped_before_its_rename_leaves_the_old_file(failure, tmp_path, monkeypatch):
    """write_image(durable=False), the photos' and samples' files: not flushed, still never
    half-written under the final name, and no temporary left behind."""
    target = tmp_path / "result.png"
    target.write_bytes(b"old")

    def stopped(*args):
        raise failure()
    monkeypatch.setattr(sio.os, "replace", stopped)
    with pytest.raises(failure):
        sio.write_image(target, noise(20, 20), durable=False)
    monkeypatch.undo()
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["result.png"]
    image = noise(20, 20)
    sio.write_image(target, image, durable=False)
    assert np.array_equal(sio.read_image(target), image) and [p.name for p in tmp_path.iterdir()] == ["result.png"]


@pytest.mark.parametrize("durable", [True, False])
def test_a_refused_write_names_the_file_asked_for_not_its_temporary(durable, tmp_path, monkeypatch):
    target = tmp_path / "camera.png"
    hidden = str(tmp_path / ".camera.png.x1y2.tmp.png")

    def refused(*args, **kwargs):  # a read-only folder, as a user who is not root meets it
        raise PermissionError(errno.EACCES, "Permission denied", str(args[0]) if args else hidden)
    monkeypatch.setattr(sio.tempfile, "mkstemp", refused)  # where a durable write starts
    monkeypatch.setattr(sio, "open", refused, raising=False)  # where a renamed one starts
    with pytest.raises(PermissionError) as caught:
        sio.write_image(target, noise(8, 8), durable=durable)
    assert caught.value.filename == str(target)
    monkeypatch.undo()
    target.mkdir()  # a folder where the file should go
    with pytest.raises(IsADirectoryError) as caught:
        sio.write_image(target, noise(8, 8), durable=durable)
    assert caught.value.filename == str(target) and [p.name for p in tmp_path.iterdir()] == ["camera.png"]


def test_running_out_of_memory_is_one_line(checkpoint, tmp_path, monkeypatch, capsys):
    write_good(tmp_path / "photos")

    def too_large(*args, **kwargs):  # numpy's own words for an allocation the machine cannot hold
        raise MemoryError("Unable to allocate 3.35 GiB for an array with shape (1, 3, 30016, 30016) "
                          "and data type float32")
    monkeypatch.setattr(Predictor, "predict", too_large)
    code, _, lines = cli(capsys, "predict", checkpoint, tmp_path / "photos", "--out", tmp_path / "out", "--workers", 1)
    assert code == 1 and len(lines) == 1 and "out of memory: Unable to allocate 3.35 GiB" in lines[0], lines


def test_write_image_and_checkpoint_with_a_failing_encoder(tmp_path, monkeypatch, checkpoint):
    def half_then_fail(self, data):
        with open(self, "wb") as f:
            f.write(data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device", str(self))
    monkeypatch.setattr(Path, "write_bytes", half_then_fail)
    with pytest.raises(OSError):
        sio.write_image(tmp_path / "a.png", noise(20, 20))
    monkeypatch.undo()

    def torch_save_fails(obj, f, *a, **k):
        Path(f).write_bytes(b"PK\x03\x04 half a zip")
        raise RuntimeError("writer died")
    monkeypatch.setattr(torch, "save", torch_save_fails)
    with pytest.raises(RuntimeError):
        save_checkpoint(tmp_path / "model.pt", {"model": {}, "step": 1})
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ end to end, in a subprocess

def test_subprocess_predict_over_a_folder_of_bad_files(checkpoint, tmp_path, monkeypatch):
    photos = tmp_path / "photos"
    write_good(photos)
    for name in BAD:
        if name != "locked.png":  # the monkeypatch does not reach a subprocess
            write_case(photos, name, monkeypatch)
    res = subprocess.run([*CLI, "predict", str(checkpoint), str(photos), "--out", str(tmp_path / "out")],
                         capture_output=True, text=True, timeout=120)
    lines = res.stderr.splitlines()
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert sorted(Path(line.split(": ")[1]).name for line in lines) == sorted(set(BAD) - {"locked.png"})
    assert (tmp_path / "out" / "good_mask.png").is_file()


def test_subprocess_train_with_bad_backgrounds_and_a_bad_resume(tmp_path, monkeypatch):
    folder = tmp_path / "bg"
    write_good(folder)
    write_case(folder, "cut.jpg", monkeypatch)
    write_case(folder, "bomb.png", monkeypatch)
    run = tmp_path / "run"
    res = subprocess.run([*CLI, "train", *TINY_TRAIN, "--out", str(run), "--backgrounds", str(folder)],
                         capture_output=True, text=True, timeout=180)
    assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr[-2000:]
    warned = warning_lines(res.stderr.splitlines())
    assert len(warned) == 2 and "bomb.png" in warned[0] and "cut.jpg" in warned[1]
    # the same run resumed for another pattern: one line, exit 1
    res = subprocess.run([*CLI, "train", "--out", str(run), "--resume", "--pattern", "segmenty", "--steps", "3"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 1 and res.stderr.count("\n") == 1 and "Traceback" not in res.stderr
    assert "the run was made with --pattern chessboard:10x7:25" in res.stderr

