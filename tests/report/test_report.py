"""Snapshots, the training animation and the HTML report, on a tiny fake run folder; the
report is opened in headless Chromium (no console error, not blank)."""
import csv
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import segmenty
from segmenty.cli import main
from segmenty.errors import SegmentyError
from segmenty.io import read_image, write_image
from segmenty.scores import HALF_SIDES, EvalResult, Score
from segmenty.report.animate import make_animation, snapshot_steps
from segmenty.report.html import write_report
from segmenty.report.snapshots import save_snapshots, snapshot_dir

EXAMPLES = Path(segmenty.__file__).parent / "assets" / "examples"
LOG_COLUMNS = ["step", "elapsed_s", "samples_per_s", "loss", "lr", "tpr_mask", "tnr_mask", "iou_mask"]


def _example_photos(width: int = 320) -> dict[str, np.ndarray]:
    photos = {}
    for path in sorted(EXAMPLES.rglob("*.jpg")):
        rgb = read_image(path)
        photos[path.stem] = np.asarray(Image.fromarray(rgb).resize((width, width * rgb.shape[0] // rgb.shape[1])))
    return photos


def _fake_snapshot(run: Path, step: int, photos: dict[str, np.ndarray], progress: float) -> None:
    """What save_snapshots writes, without a model: a green box that grows with `progress`."""
    folder = snapshot_dir(run / "snapshots", step)
    for name, rgb in photos.items():
        out = rgb.copy()
        h, w = out.shape[:2]
        y1, x1 = int(h * (0.2 + 0.6 * progress)), int(w * (0.2 + 0.6 * progress))
        out[h // 5:y1, w // 5:x1] = (out[h // 5:y1, w // 5:x1] * 0.5 + np.array([0, 127, 0])).astype(np.uint8)
        write_image(folder / f"{name}.jpg", out, quality=85)
    meta = {"step": step, "elapsed_s": 12.5 * step / 100, "images": list(photos),
            "predictions": [{"name": n, "detected": True, "score": 0.9, "area": 0.2} for n in photos]}
    (folder / "meta.json").write_text(json.dumps(meta))


def make_fake_run(run: Path, steps: int = 3, photos: dict | None = None) -> Path:
    run.mkdir(parents=True, exist_ok=True)
    (run / "config.json").write_text(json.dumps({"pattern": "chessboard:10x7", "size": 64, "model": "unet-xs",
                                                 "seed": 0, "minutes": 1.0}))
    with open(run / "log.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(LOG_COLUMNS)
        for i in range(1, 9):
            w.writerow([i * 100, i * 10.0, 35.0 + i, 1.0 / i, 2e-3 * (1 - i / 10), 0.5 + i / 20, 0.9, 0.4 + i / 16])
    photos = photos if photos is not None else _example_photos(160)
    for k in range(steps):
        _fake_snapshot(run, (k + 1) * 100, photos, k / max(steps - 1, 1))
    return run


# ------------------------------------------------------------------------------ snapshots

def test_save_snapshots_writes_overlays_and_meta(tmp_path):
    from segmenty.models import build_model
    from segmenty.runs import LoadedModel

    model = build_model("unet-xs", 2).train()
    loaded = LoadedModel(model, "unet-xs", ["mask", "corners"], "chessboard:10x7", 64)
    photos = {"a b": np.full((90, 400, 3), 120, np.uint8), "c": np.zeros((50, 60, 3), np.uint8)}
    folder = save_snapshots(loaded, photos, tmp_path / "snapshots", 1200, 33.3)
    assert folder == tmp_path / "snapshots" / "0001200"
    assert model.training  # put back as it was found
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["step"] == 1200 and meta["elapsed_s"] == 33.3 and meta["images"] == ["a_b", "c"]
    assert read_image(folder / "a_b.jpg").shape[1] == 320 and read_image(folder / "c.jpg").shape[1] == 60


# ------------------------------------------------------------------------------ animation

def test_animate_one_frame_per_snapshot(tmp_path):
    run = make_fake_run(tmp_path / "run", steps=4)
    gif = make_animation(run)
    assert gif == run / "progress.gif"
    with Image.open(gif) as im:
        assert im.n_frames == 4 and im.info.get("loop") == 0


def test_animate_fifty_frames_stays_small(tmp_path):
    run = make_fake_run(tmp_path / "run", steps=50, photos=_example_photos(320))
    assert main(["animate", str(run), "--out", str(tmp_path / "p.gif")]) == 0
    with Image.open(tmp_path / "p.gif") as im:
        assert im.n_frames == 50
    assert (tmp_path / "p.gif").stat().st_size < 10 * 2 ** 20


def test_animate_without_snapshots_is_one_line_error(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    assert main(["animate", str(tmp_path / "run")]) == 1
    assert "no snapshots" in capsys.readouterr().err


def test_incomplete_snapshot_is_left_out(tmp_path):
    run = make_fake_run(tmp_path / "run", steps=2)
    (run / "snapshots" / "0000300").mkdir()  # killed before meta.json was written
    assert [s for s, _f, _m in snapshot_steps(run)] == [100, 200]


# --------------------------------------------------------------------------------- report

def _fake_eval(run: Path) -> None:
    """What `segmenty evaluate` writes, built through the one owner of its schema."""
    whole = Score("calibration2.jpg", "whole", 0.95, 0.6, True, 0.9, 40.0)
    halves = [Score("calibration2.jpg", v, 0.9, 0.3, True, 0.9, 40.0) for v in HALF_SIDES]
    negative = Score("test1.jpg", "negative", None, 0.03, False, 0.1, 40.0)
    result = EvalResult(str(run), 0.5, None, True, True, [whole], halves, [negative], ["calibration1.jpg"])
    (run / "eval").mkdir()
    (run / "eval" / "eval.json").write_text(json.dumps(result.to_dict()))
    write_image(run / "eval" / "gallery.jpg", np.full((60, 90, 3), 200, np.uint8))


def test_eval_json_reads_back_as_the_result_that_wrote_it(tmp_path):
    _fake_eval(tmp_path)
    result = EvalResult.from_json(tmp_path / "eval")
    assert result.summary["mean_iou"] == 0.95 and result.summary["false_detections"] == 1
    assert result.halves_by_photo() == {"calibration2.jpg": dict.fromkeys(HALF_SIDES, 0.9)}
    assert result.to_dict() == json.loads((tmp_path / "eval" / "eval.json").read_text())
    (tmp_path / "eval" / "eval.json").write_text("{}")
    with pytest.raises(SegmentyError, match="not an eval.json"):
        EvalResult.from_json(tmp_path / "eval")


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def test_report_is_self_contained_and_renders(tmp_path):
    run = make_fake_run(tmp_path / "run", steps=3)
    _fake_eval(run)
    out = write_report(run)
    assert out == run / "report.html" and (run / "progress.gif").is_file()  # made on the way
    page = out.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.I)
    assert not re.search(r"<(script|link)\b", page, re.I)
    assert page.count('src="data:image/gif;base64,') == 1
    assert page.count('src="data:image/jpeg;base64,') >= 6 + 1  # 6 wild overlays, gallery (+ samples)
    try:
        from segmenty.synth import SyntheticDataset  # noqa: F401
    except ImportError:
        pass
    else:
        assert "synthetic samples unavailable" not in page
    assert page.count("<svg") >= 3 and "false detection" in page and "calibration1.jpg" in page
    headings = re.findall(r"<h2>(.*?)</h2>", page)
    assert headings[0] == "Real photos: evaluation" and headings[-1] == "Configuration"  # result first

    chromium = _chromium()
    if chromium is None:
        pytest.skip("chromium is not installed (Debian package 'chromium')")
    shot = tmp_path / "shot.png"
    proc = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
         f"--screenshot={shot}", "--window-size=1200,2000", out.resolve().as_uri()],
        capture_output=True, text=True, timeout=90)
    assert shot.is_file(), proc.stderr[-2000:]
    assert "Uncaught" not in proc.stderr and "ERROR:CONSOLE" not in proc.stderr, proc.stderr[-2000:]
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=np.float32)
    assert pixels.std() > 20  # text, charts and photos, not a blank page


def test_report_of_bare_run_and_cli(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "model.pt").write_bytes(b"")  # a run that lost its config.json (not read here)
    assert main(["report", str(tmp_path / "run"), "--out", str(tmp_path / "r.html")]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "r.html")
    page = (tmp_path / "r.html").read_text()
    assert "no config.json" in page and "not evaluated yet" in page
    assert main(["report", str(tmp_path / "missing")]) == 1


def test_report_of_a_folder_that_is_not_a_run_is_one_line_and_writes_nothing(tmp_path, capsys):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "photo.jpg").write_bytes(b"not looked at")
    assert main(["report", str(tmp_path / "photos")]) == 1
    err = capsys.readouterr().err
    assert err == (f"segmenty: {tmp_path / 'photos'}: not a training run folder (a run holds config.json, log.csv, "
                   "model.pt, best.pt, as 'segmenty train --out RUN' writes them)\n")
    assert sorted(p.name for p in (tmp_path / "photos").iterdir()) == ["photo.jpg"]
