"""`segmenty predict` as a user runs it (cli/predict.py): what an interrupted run keeps, and
its messages. Prediction itself is tested in tests/predict."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

import segmenty.cli.predict as cli_predict
import segmenty.video
from segmenty.cli import main

CLI = [sys.executable, "-c", "from segmenty.cli import run; run()"]


def noise(h: int, w: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def write_video(path: Path, count: int, fps: float = 10.0) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (64, 48))
    for k in range(count):
        writer.write(noise(48, 64, k % 7))
    writer.release()
    return path


def write_photos(folder: Path, count: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(count):
        Image.fromarray(noise(48, 64, k)).save(folder / f"p{k:03d}.png")
    return folder


def run(capsys, *argv) -> tuple[int, str, list[str]]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err, err
    return code, out, err.splitlines()


def read_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def count_frames(path: Path) -> int:
    video, count = cv2.VideoCapture(str(path)), 0
    while video.read()[0]:
        count += 1
    return count


class SlowCapture:
    """A video capture whose reads take a while, which notes a release while a read is on."""

    def __init__(self, capture):
        self.capture, self.reading, self.released_mid_read = capture, False, False

    def __getattr__(self, name):
        return getattr(self.capture, name)

    def read(self):
        self.reading = True
        try:
            time.sleep(0.02)
            return self.capture.read()
        finally:
            self.reading = False

    def release(self):
        self.released_mid_read |= self.reading
        self.capture.release()


@pytest.mark.parametrize("track", ["30", "1"])
def test_ctrl_c_during_prediction_stops_reading_before_the_video_is_released(checkpoint, tmp_path, capsys,
                                                                             monkeypatch, track):
    """Ctrl-C while the network works: the stream's reading thread is stopped before the capture
    is released (it went on reading a released capture: the traceback kept the stream alive)."""
    from segmenty.predict.predictor import Predictor

    opened, calls, predict = [], [0], Predictor.predict_batch
    open_video = segmenty.video.open_video

    def slow_open(source):
        opened.append(SlowCapture(open_video(source)))
        return opened[-1]

    def predict_then_ctrl_c(self, images, multiscale=None):
        calls[0] += 1
        if calls[0] == 4:
            raise KeyboardInterrupt
        return predict(self, images, multiscale)

    monkeypatch.setattr(segmenty.video, "open_video", slow_open)
    monkeypatch.setattr(Predictor, "predict_batch", predict_then_ctrl_c)
    clip = write_video(tmp_path / "clip.mp4", 40)
    code, _, err = run(capsys, "predict", checkpoint, clip, "--out", tmp_path / "out", "--track", track,
                       "--workers", "1")
    assert code == 130 and "interrupted" in err[-1]
    assert len(opened) == 2 and not opened[-1].released_mid_read  # (the first: the check before any work)


@pytest.mark.parametrize("track", ["30", "1"])  # tracking (this process) or a full search a frame
def test_ctrl_c_keeps_the_frames_done_with_one_line_and_exit_130(checkpoint, tmp_path, capsys, monkeypatch, track):
    """A camera stops only by Ctrl-C: the frames predicted before it are kept (their lines in
    the .jsonl, the annotated video), and one line says so. (The .jsonl was written under an
    atomic name and deleted when interrupted: a camera's lines were always lost.)"""
    decode = segmenty.video.video_frames

    def frames_then_ctrl_c(capture, every):
        for k, decoded in enumerate(decode(capture, every)):
            if k == 5:
                raise KeyboardInterrupt
            yield decoded

    monkeypatch.setattr(segmenty.video, "video_frames", frames_then_ctrl_c)
    clip, out = write_video(tmp_path / "clip.mp4", 12), tmp_path / "out"
    code, stdout, err = run(capsys, "predict", checkpoint, clip, "--out", out, "--track", track, "--workers", "1")
    assert code == 130 and stdout == ""
    assert err == [f"segmenty: interrupted: kept 5 frame(s) of {clip} in {out / 'clip_overlay.mp4'} and "
                   f"{out / 'clip.jsonl'}"]
    assert [r["frame"] for r in read_lines(out / "clip.jsonl")] == [0, 1, 2, 3, 4]
    assert count_frames(out / "clip_overlay.mp4") == 5
    assert not list(out.glob(".*"))  # no temporary left


def test_ctrl_c_keeps_the_photos_done_in_predictions_json(checkpoint, tmp_path, capsys, monkeypatch):
    photos, out = write_photos(tmp_path / "photos", 5), tmp_path / "out"
    predict_one = cli_predict._predict_photo

    def third_is_ctrl_c(predictor, job):
        if job.stem == "p002":
            raise KeyboardInterrupt
        return predict_one(predictor, job)

    monkeypatch.setattr(cli_predict, "_predict_photo", third_is_ctrl_c)
    code, stdout, err = run(capsys, "predict", checkpoint, photos, "--out", out, "--workers", "1")
    assert code == 130 and stdout == ""
    assert err == [f"segmenty: interrupted: kept 2 of 5 photo(s) in {out / 'predictions.json'}"]
    report = json.loads((out / "predictions.json").read_text())
    assert [r["stem"] for r in report["photos"]] == ["p000", "p001"] and report["failed"] == []
    assert report["mask_names"] == ["mask", "corners"] and (out / "p001_overlay.jpg").is_file()


def _wait_for(condition, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < end, "nothing written in time"
        time.sleep(0.05)


def _ctrl_c(proc: subprocess.Popen) -> tuple[int, list[str]]:
    """Ctrl-C as a terminal sends it: to the whole process group (workers too)."""
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert "Traceback" not in err, err
    return proc.returncode, err.splitlines()


def test_ctrl_c_in_a_real_process_keeps_a_videos_lines(checkpoint, tmp_path):
    clip, out = write_video(tmp_path / "long.mp4", 4000), tmp_path / "out"
    proc = subprocess.Popen([*CLI, "predict", str(checkpoint), str(clip), "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    lines = out / "long.jsonl"
    _wait_for(lambda: lines.is_file() and lines.read_text().count("\n") >= 5, proc)
    code, err = _ctrl_c(proc)
    kept = read_lines(lines)  # every line whole
    assert code == 130 and len(err) == 1 and err[0].startswith(f"segmenty: interrupted: kept {len(kept)} frame(s)")
    assert 5 <= len(kept) < 4000 and [r["frame"] for r in kept] == list(range(len(kept)))
    assert count_frames(out / "long_overlay.mp4") == len(kept)


def test_ctrl_c_in_a_real_process_with_workers_keeps_the_photos_done(checkpoint, tmp_path):
    photos, out = write_photos(tmp_path / "photos", 400), tmp_path / "out"
    proc = subprocess.Popen([*CLI, "predict", str(checkpoint), str(photos), "--out", str(out), "--workers", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    _wait_for(lambda: len(list(out.glob("*_overlay.jpg"))) >= 10 if out.is_dir() else False, proc)
    code, err = _ctrl_c(proc)
    report = json.loads((out / "predictions.json").read_text())
    done = len(report["photos"])
    assert code == 130 and err == [f"segmenty: interrupted: kept {done} of 400 photo(s) in {out / 'predictions.json'}"]
    assert 0 < done < 400 and all((out / f"{r['stem']}_mask.png").is_file() for r in report["photos"])


def test_a_folder_of_videos_is_told_to_give_them_as_files(checkpoint, tmp_path, capsys):
    """Folders are searched for photos only: a folder holding only videos was "no images found
    in vdir", which said nothing of the videos in it."""
    (tmp_path / "vdir").mkdir()
    write_video(tmp_path / "vdir" / "clip.mp4", 3)
    code, _, err = run(capsys, "predict", checkpoint, tmp_path / "vdir", "--out", tmp_path / "out")
    assert code == 1 and len(err) == 1
    assert err[0].startswith(f"segmenty: {tmp_path / 'vdir'}: holds videos (clip.mp4) but no images")
    assert f"give videos as files (e.g. {tmp_path / 'vdir' / '*.mp4'})" in err[0]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("spec, hint", [("chessboard:9x6", True), ("chessboard:10x7", False)])
def test_boards_seen_without_a_grid_of_the_spec_get_calibrates_hint(spec, hint, tmp_path, capsys, monkeypatch):
    """A 10x7 board predicted as chessboard:9x6 (its inner corners typed for its squares): the
    network sees the board (score 0.99) but its points form no 9x6 grid, so nothing is found.
    The run ends with `calibrate`'s hint at that mistake, once for the photos and once a video;
    the right spec finds the board and gets none. `detected` stays the decision, `score` the
    network's confidence."""
    from segmenty.predict import Predictor
    from tests.predict.test_points import BOARD, BoardNetwork, heat_from, render

    photo, truth, layout, mask = render("chessboard:10x7", BOARD)
    network = BoardNetwork(mask, heat_from(truth, photo.shape[:2]))
    predictor = Predictor(network, size=480, refine=False, pattern=spec)
    monkeypatch.setattr(Predictor, "open", classmethod(lambda cls, *args, **kw: predictor))
    photos = tmp_path / "photos"
    photos.mkdir()
    for k in range(2):
        Image.fromarray(photo).save(photos / f"board{k}.png")
    clip = tmp_path / "clip.avi"  # lossless: the network's maps are the rendered board's
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"FFV1"), 10, (480, 360))
    for _ in range(3):
        writer.write(cv2.cvtColor(photo, cv2.COLOR_RGB2BGR))
    writer.release()
    out = tmp_path / "out"
    code, stdout, err = run(capsys, "predict", spec, photos, clip, "--out", out, "--workers", "1")
    assert code == 0
    report = json.loads((out / "predictions.json").read_text())
    assert all(r["detected"] is not hint and r["score"] > 0.9 for r in report["photos"])
    assert all(r["detected"] is not hint for r in read_lines(out / "clip.jsonl"))
    found = "0" if hint else "2"
    assert f"(pattern found in {found})" in stdout
    if hint:
        assert err == [f"segmenty: warning: {out}: a board was seen in 2 photo(s) without a grid of chessboard:9x6:25 "
                       "(found in 0): the pattern spec may not match the board (chessboard:CxR counts its squares, "
                       "not its inner corners)",
                       f"segmenty: warning: {clip}: a board was seen in 3 frame(s) without a grid of chessboard:9x6:25 "
                       "(found in 0): the pattern spec may not match the board (chessboard:CxR counts its squares, "
                       "not its inner corners)"]
    else:
        assert err == []


@pytest.mark.parametrize("seen, found, total, hinted", [(20, 0, 20, True), (3, 0, 30, False), (1, 20, 28, False)])
def test_the_spec_hint_needs_most_photos_to_show_a_board_without_its_grid(seen, found, total, hinted):
    """A folder of photos without a board shows a few board-like regions without a grid (the
    opencv negatives: 3 of 30): no hint at the spec there."""
    import warnings

    from segmenty.cli.predict import _hint_at_the_spec
    from segmenty.predict import Predictor
    from tests.predict.test_points import BOARD, BoardNetwork, heat_from, render

    photo, truth, layout, mask = render("chessboard:10x7", BOARD)
    predictor = Predictor(BoardNetwork(mask, heat_from(truth, photo.shape[:2])), size=480, pattern="chessboard:9x6")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _hint_at_the_spec(predictor, "photos", "photo", seen, found, total)
    assert bool(caught) == hinted
