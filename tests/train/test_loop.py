"""Training: schedule, sampler, losses and metrics as units; then tiny real runs at 64×64
(one shared run, a resume, Ctrl-C and SIGKILL of a CLI run, a 2-process gloo DDP run)."""
import csv
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from segmenty.cli import main
from segmenty.errors import SegmentyError
from segmenty.models import build_model
from segmenty.runs import FORMAT, Run, load_checkpoint, load_model
from segmenty.train import TrainConfig, config_for_resume, train
from segmenty.train.data import StreamSampler, network_input
from segmenty.train.loop import lr_at
from segmenty.train.losses import bce_batch_dice_loss, balanced_loss, bce_dice_loss
from segmenty.train.metrics import confusion_counts, mask_metrics

PATTERN = "chessboard:10x7"
TINY = dict(pattern=PATTERN, size=64, batch=8, val_count=16, lr=5e-3, seed=0, loss="balanced")


# ---------------------------------------------------------------- units

def test_schedule_warms_up_then_anneals_to_min_lr():
    c = TrainConfig(lr=1.0, warmup=0.1, min_lr=0.05)
    lrs = [lr_at(c, p / 100) for p in range(101)]
    peak = lrs.index(max(lrs))
    assert lrs[0] == pytest.approx(0.1) and peak == 10 and lrs[peak] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(lrs[peak:], lrs[peak + 1:]))
    assert lrs[-1] == pytest.approx(0.05)


def test_stream_sampler_ranks_are_disjoint_and_resume_continues():
    def take(sampler, n):
        it = iter(sampler)
        return [next(it) for _ in range(n)]
    r0, r1 = take(StreamSampler(0, 4, 0, 2), 12), take(StreamSampler(0, 4, 1, 2), 12)
    assert not set(r0) & set(r1) and sorted(r0 + r1) == list(range(24))
    # after 3 steps (3 * 4 * 2 samples seen) the stream goes on where it stopped
    assert take(StreamSampler(24, 4, 0, 2), 4) == list(range(24, 28))
    assert take(StreamSampler(0, 4, 0, 1), 8) == list(range(8))


def test_losses_are_zero_when_right_and_balanced():
    t = torch.zeros(2, 1, 8, 8)
    t[:, :, :2] = 1  # a quarter of the pixels are positive
    right = (t * 2 - 1) * 20  # confident, correct logits
    assert balanced_loss(right, t) < 1e-6 and bce_dice_loss(right, t) < 1e-3
    # p = 0.5 everywhere: each half contributes 0.25 whatever the class balance
    assert float(balanced_loss(torch.zeros_like(t), t)) == pytest.approx(0.25)
    # missing the small positive class costs as much as a false alarm on everything
    all_neg, all_pos = -20 * torch.ones_like(t), 20 * torch.ones_like(t)
    assert float(balanced_loss(all_neg, t)) == pytest.approx(float(balanced_loss(all_pos, t)), abs=1e-6)


def test_batch_dice_does_not_reward_empty_predictions_on_empty_samples():
    """Half the batch lacks the mask: per-sample Dice scores those samples' empty prediction as
    a perfect 1 and so prefers predicting nothing anywhere; Dice over the batch does not."""
    t = torch.zeros(4, 1, 8, 8)
    t[:2, :, 3:5, 3:5] = 1  # a small mask in two samples of four
    nothing = -20 * torch.ones_like(t)
    right = (t * 2 - 1) * 20
    assert bce_batch_dice_loss(right, t) < 1e-3
    # Dice's share of predicting nothing: per sample only the two samples with the mask count
    # (0.8 each, 0 for the others), over the batch the whole miss (8 of 8 pixels)
    bce = float(torch.nn.functional.binary_cross_entropy_with_logits(nothing, t))
    assert float(bce_dice_loss(nothing, t)) - bce == pytest.approx(0.4, abs=1e-3)
    assert float(bce_batch_dice_loss(nothing, t)) - bce == pytest.approx(8 / 9, abs=1e-3)


def test_metrics_from_counts():
    target = torch.tensor([[1., 1., 0., 0.]]).view(1, 1, 1, 4)
    logits = torch.tensor([[5., -5., 5., -5.]]).view(1, 1, 1, 4)
    m = mask_metrics(confusion_counts(logits, target), ["mask"])
    assert m == {"tpr_mask": 0.5, "tnr_mask": 0.5, "iou_mask": pytest.approx(1 / 3)}


# ---------------------------------------------------------------- one tiny real run

@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "tiny"
    return train(TrainConfig(**TINY, steps=150, out=str(out)))


def _log(run: Path) -> list[dict]:
    with open(run / "log.csv") as f:
        return list(csv.DictReader(f))


def test_tiny_run_writes_its_files(tiny_run):
    for name in ("config.json", "model.pt", "best.pt", "log.csv"):
        assert (tiny_run / name).is_file(), name
    header = (tiny_run / "log.csv").read_text().splitlines()[0].split(",")
    assert header[:5] == ["step", "elapsed_s", "samples_per_s", "loss", "lr"]
    assert {"tpr_mask", "tnr_mask", "iou_mask", "iou_corners"} <= set(header)
    assert not list(tiny_run.glob(".*.tmp*")), "temporary checkpoint files left behind"


def test_tiny_run_learns(tiny_run):
    # lower loss than the initial weights on scenes it never saw ...
    from segmenty.synth import SyntheticDataset
    from segmenty.patterns import load_pattern
    items = [SyntheticDataset(load_pattern(PATTERN), size=64, seed=77)[i] for i in range(32)]
    x, y = network_input(torch.stack([i["image"] for i in items])), torch.stack([i["masks"] for i in items]).float()
    torch.manual_seed(TINY["seed"])
    initial = build_model(load_model(tiny_run).model_name, 2).eval()
    trained = load_model(tiny_run).model
    with torch.no_grad():
        assert balanced_loss(trained(x), y) < balanced_loss(initial(x), y) - 0.01
    # ... and beats chance on the fixed validation set: any predictor that ignores the image
    # (all "board", all "background", coin flips) has TPR + TNR = 1 in expectation
    last = _log(tiny_run)[-1]
    tpr, tnr = float(last["tpr_mask"]), float(last["tnr_mask"])
    assert tpr > 0.3 and tnr > 0.5 and tpr + tnr > 1.2, last
    assert int(last["step"]) == 150


def test_checkpoint_is_plain_data(tiny_run):
    state = torch.load(tiny_run / "model.pt", weights_only=True)
    assert state["format"] == FORMAT and state["step"] == 150 and state["samples_seen"] == 150 * 8
    for key in ("model", "ema", "optimizer", "rng", "config", "mask_names", "pattern", "size", "elapsed_s"):
        assert key in state, key
    assert state["pattern"] == "chessboard:10x7:25" and state["mask_names"] == ["mask", "corners"]
    loaded = load_model(tiny_run)
    assert loaded.path.name == "best.pt" and not loaded.model.training and loaded.size == 64


def test_config_records_the_full_recipe_and_the_run_reads_it_back(tiny_run, tmp_path):
    import json
    import shutil

    from segmenty.synth import Recipe, recipe_by_name
    config = json.loads((tiny_run / "config.json").read_text())
    assert config["recipe"] == "default"
    assert config["recipe_steps"]["lens"]["step"] == "LensDistortion"
    assert config["recipe_steps"]["lens"]["barrel"] == list(recipe_by_name("default").lens.barrel)
    run = Run(tiny_run)
    assert run.recipe() == recipe_by_name("default") and run.dataset().recipe == run.recipe()
    assert run.size == 64 and run.pattern_spec == "chessboard:10x7:25"
    # A run keeps describing what it trained on after the defaults change: its recorded ranges
    # are read back, not today's preset ...
    changed = tmp_path / "changed"
    shutil.copytree(tiny_run, changed)
    config["recipe_steps"]["lens"]["barrel"] = [0.0, 0.05]
    (changed / "config.json").write_text(json.dumps(config))
    assert Run(changed).recipe().lens.barrel == (0.0, 0.05)
    # ... and a run made before recipes were recorded still loads, by the recipe's name.
    del config["recipe_steps"]
    config["recipe"] = "original"
    (changed / "config.json").write_text(json.dumps(config))
    assert Run(changed).recipe() == Recipe.original()


def test_a_new_run_validates_the_untrained_network_at_step_0(tiny_run):
    steps = [int(r["step"]) for r in _log(tiny_run)]
    assert steps[0] == 0 and steps[-1] == 150
    assert _log(tiny_run)[0]["loss"] == "nan"


def test_truncated_checkpoint_is_refused(tiny_run, tmp_path):
    data = (tiny_run / "model.pt").read_bytes()
    bad = tmp_path / "truncated.pt"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(SegmentyError, match="truncated.pt: not a readable segmenty checkpoint"):
        load_checkpoint(bad)


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_checkpoint_with_pickled_code_is_refused_unrun(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"format": FORMAT, "model": {}, "model_name": "unet-s", "x": _Evil(marker)}, path)
    with pytest.raises(SegmentyError, match="refused unloaded"):
        load_model(path)
    assert not marker.exists()


def test_resume_continues_the_step_count(tiny_run, tmp_path):
    run = tmp_path / "resumed"
    shutil.copytree(tiny_run, run)
    config = config_for_resume({"out": str(run), "resume": True, "steps": 160})
    assert config.pattern == "chessboard:10x7:25" and config.lr == TINY["lr"]  # the run's own options
    assert config.recipe_steps == load_checkpoint(run / "model.pt")["config"]["recipe_steps"]  # its recorded recipe
    train(config)
    state = load_checkpoint(run / "model.pt")
    assert state["step"] == 160 and state["samples_seen"] == 160 * 8
    assert [int(r["step"]) for r in _log(run)][-2:] == [150, 160]


def _files(run: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}


def test_resume_refuses_another_pattern_or_model(tiny_run, tmp_path, capsys):
    run = tmp_path / "run"  # a copy: a regression that trains on must not change the shared run
    shutil.copytree(tiny_run, run)
    for option in (["--pattern", "segmenty"], ["--model", "unet-xs"]):
        rc = main(["train", "--out", str(run), "--resume", "--steps", "151", *option])
        err = capsys.readouterr().err
        assert rc == 1 and err.count("\n") == 1 and "the run was made with" in err, err
    assert _files(run) == _files(tiny_run)  # refused before anything was written


# ---------------------------------------------------------------- the command line

CLI = [sys.executable, "-c", "from segmenty.cli import run; run()"]
SMALL = ["--pattern", PATTERN, "--size", "64", "--batch", "4", "--val-count", "4", "--workers", "0"]


def _wait_for_step(path: Path, proc: subprocess.Popen, above: int = 0, timeout: float = 60) -> dict:
    """Poll a run's model.pt until its step passes `above`; that checkpoint."""
    end = time.time() + timeout
    while time.time() < end:
        assert proc.poll() is None, proc.communicate()
        if path.exists():
            try:
                state = load_checkpoint(path)
            except SegmentyError:
                state = {"step": -1}
            if state["step"] > above:
                return state
        time.sleep(0.3)
    proc.kill()
    raise AssertionError(f"no checkpoint past step {above} in {timeout}s")


def test_sigkill_then_resume_then_ctrl_c(tmp_path):
    run = tmp_path / "killed"
    args = [*CLI, "train", *SMALL, "--steps", "100000", "--checkpoint-every", "0.5", "--out", str(run)]
    # SIGKILL mid-run: no clean-up possible; the last checkpoint survives, unbroken, with the
    # data stream's position (4 samples a step, one process)
    proc = subprocess.Popen(args, stderr=subprocess.PIPE, text=True)
    _wait_for_step(run / "model.pt", proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    killed = load_checkpoint(run / "model.pt")
    step = killed["step"]
    assert step > 0 and killed["samples_seen"] == step * 4
    # --resume continues from that step, the stream's position and the training clock
    proc = subprocess.Popen([*args, "--resume"], stderr=subprocess.PIPE, text=True)
    resumed = _wait_for_step(run / "model.pt", proc, above=step)
    assert resumed["samples_seen"] == resumed["step"] * 4 and resumed["elapsed_s"] > killed["elapsed_s"]
    # Ctrl-C saves and exits 130
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 130
    err = proc.stderr.read()
    assert "segmenty: interrupted" in err and "Traceback" not in err, err[-2000:]
    state = load_checkpoint(run / "model.pt")
    assert state["step"] >= resumed["step"] and state["samples_seen"] == state["step"] * 4
    # the untrained network was validated once, at step 0: the resumed run did not start over
    steps = [int(r["step"]) for r in _log(run)]
    assert steps[0] == 0 and steps.count(0) == 1 and steps == sorted(steps), steps
    assert not list(run.glob(".*.tmp*")), "temporary checkpoint files left behind"


def test_two_process_gloo_ddp_run(tmp_path):
    run = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "--no-python", sys.executable, "-c", "from segmenty.cli import run; run()",
           "train", *SMALL, "--steps", "4", "--device", "cpu", "--out", str(run)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-3000:]
    state = load_checkpoint(run / "model.pt")
    assert state["world_size"] == 2 and state["step"] == 4 and state["samples_seen"] == 4 * 4 * 2
    # one row for the untrained network at step 0, one at the end
    assert [int(r["step"]) for r in _log(run)] == [0, 4] and (run / "best.pt").is_file()


@pytest.mark.parametrize("argv, needle", [
    (["--steps", "-5"], "--steps: -5 must be a positive"),
    (["--steps", "3", "--minutes", "1"], "not allowed with argument"),
    (["--size", "100", "--model", "unet-s"], "--size 100: model 'unet-s' takes multiples of 32 (e.g. 96 or 128)"),
    (["--size", "100000"], "--size: 100000 must be between 32 and 1024 pixels"),  # not killed for memory
    (["--model", "unet_s"], "unknown model 'unet_s'; did you mean 'unet-s'?"),
    (["--pattern", "chessbord:10x7"], "did you mean 'chessboard'"),
    # inf passed as positive: a traceback from the progress bar and a half-made run folder
    (["--minutes", "inf"], "--minutes: 'inf' is not a finite number"),
    (["--val-every", "Infinity"], "--val-every: 'Infinity' is not a finite number"),
    (["--checkpoint-every", "inf"], "--checkpoint-every: 'inf' is not a finite number"),
    (["--lr", "inf"], "--lr: 'inf' is not a finite number"),
])
def test_bad_options_give_one_line(argv, needle, tmp_path, capsys):
    try:
        rc = main(["train", "--out", str(tmp_path / "r"), *argv])
    except SystemExit as exc:  # argparse's own checks
        rc = exc.code
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and needle in err, err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("option", ["minutes", "lr", "val_every", "checkpoint_every"])
def test_the_api_refuses_non_finite_numbers(option, tmp_path):
    from segmenty.errors import UsageError
    from segmenty.train.config import resolve_config

    with pytest.raises(UsageError, match="must be (a )?positive number"):
        resolve_config(TrainConfig(pattern=PATTERN, out=str(tmp_path / "r"), **{option: float("inf")}))
    assert not (tmp_path / "r").exists()


def _logo_folder(folder: Path) -> None:
    """A user pattern: a red block on a sheet, its mask the whole sheet."""
    from PIL import Image

    (folder / "masks").mkdir(parents=True)
    sheet = np.full((60, 90, 3), 255, np.uint8)
    sheet[15:45, 20:70] = (200, 30, 30)
    Image.fromarray(sheet).save(folder / "pattern.png")
    Image.fromarray(np.full((60, 90), 255, np.uint8)).save(folder / "masks" / "mask.png")


def test_a_pattern_folder_starts_from_the_shipped_detector_unless_told(tmp_path, monkeypatch):
    from segmenty.train.config import resolve_config

    _logo_folder(tmp_path / "logo")
    monkeypatch.chdir(tmp_path)

    def init(**options):
        return resolve_config(TrainConfig(out=str(tmp_path / "run"), **options))[0].init
    assert init(pattern="logo") == "boards"
    assert init(pattern="logo", init="none") == "none"  # fresh weights, as asked
    assert init(pattern="logo", model="unet-s", size=96) == "none"  # not the shipped detector's model
    assert init(pattern=PATTERN) == "none"  # a built-in board: its detector ships already


def test_a_user_patterns_run_finds_its_pattern_from_anywhere(tmp_path, monkeypatch):
    """The run keeps a copy of the pattern folder it learned: opened from another folder, the
    original renamed, the run (and its ONNX export) still knows its pattern; the folder by any
    path is the model's own kind of pattern."""
    import warnings

    from segmenty.predict import Predictor

    work = tmp_path / "work"
    _logo_folder(work / "logo")
    monkeypatch.chdir(work)
    run = train(TrainConfig(pattern="logo", size=64, batch=2, val_count=2, steps=2, workers=0, out="runs/logo"))
    run = run.resolve()
    assert Run(run).config["init"] == "boards"  # a pattern folder starts from the shipped detector
    assert (run / "pattern" / "pattern.png").read_bytes() == (work / "logo" / "pattern.png").read_bytes()
    monkeypatch.chdir(tmp_path)
    (work / "logo").rename(work / "logo-printed")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "pattern 'logo' of the model cannot be built"
        for backend in ("onnx", "torch"):
            predictor = Predictor(run, backend=backend)
            assert predictor.pattern is not None and predictor.pattern_spec == str(run / "pattern")
            assert predictor.options["pattern"] is None  # a worker reads the model's own from its files
        assert Run(run).dataset()[0]["image"].shape == (3, 64, 64)
        assert Predictor(run, pattern=str(work / "logo-printed")).pattern is not None


def test_a_resumed_run_goes_on_with_its_own_copy_of_the_pattern(tmp_path, monkeypatch, capsys):
    """Resumed from another folder (its 'logo' is not there: "unknown pattern 'logo'"), or
    where 'logo' has changed since (a mask added: "weights do not fit"), the run goes on with
    the pattern it first learned, and records it as it did."""
    from PIL import Image

    work = tmp_path / "work"
    _logo_folder(work / "logo")
    monkeypatch.chdir(work)
    run = train(TrainConfig(pattern="logo", size=64, batch=2, val_count=2, steps=2, workers=0,
                            out=str(tmp_path / "run")))
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--resume", "--out", str(run), "--steps", "3"]) == 0, capsys.readouterr().err
    monkeypatch.chdir(work)
    Image.fromarray(np.full((60, 90), 255, np.uint8)).save(work / "logo" / "masks" / "extra.png")
    assert main(["train", "--resume", "--out", str(run), "--steps", "4"]) == 0, capsys.readouterr().err
    # a job that always names its pattern (however spelt) and passes --resume
    assert main(["train", "--resume", "--out", str(run), "--steps", "5", "--pattern", "./logo"]) == 0, \
        capsys.readouterr().err
    state = load_checkpoint(run / "model.pt")
    assert state["step"] == 5 and state["mask_names"] == ["mask"] and state["pattern"] == "logo"
    assert Run(run).config["pattern"] == "logo"
    # another pattern is still refused
    assert main(["train", "--resume", "--out", str(run), "--steps", "6", "--pattern", PATTERN]) == 1
    assert "the run was made with --pattern logo" in capsys.readouterr().err


def test_resume_with_no_run_to_continue(tmp_path, capsys):
    # a mistyped folder: one line, nothing started (it used to train the default pattern there)
    assert main(["train", "--resume", "--out", str(tmp_path / "typo")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "holds no run to continue" in err and not (tmp_path / "typo").exists()
    # a job that always passes --resume, saying what to train, starts its run the first time
    with pytest.warns(UserWarning, match="starting a new run there"):
        config = config_for_resume({"out": str(tmp_path / "new"), "resume": True, "pattern": PATTERN})
    assert config.pattern == PATTERN


def test_existing_run_needs_resume(tiny_run, tmp_path, capsys):
    run = tmp_path / "run"  # a copy: a regression that trains over it must not change the shared run
    shutil.copytree(tiny_run, run)
    assert main(["train", "--out", str(run), "--steps", "1"]) == 1
    assert "add --resume" in capsys.readouterr().err
    assert _files(run) == _files(tiny_run)  # the run is left as it was


def test_training_lets_idle_openmp_threads_sleep_unless_the_user_chose(monkeypatch):
    from segmenty.hardware import let_idle_threads_sleep

    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    let_idle_threads_sleep()
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    let_idle_threads_sleep()
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"


def test_a_resumed_runs_bar_shows_the_training_time_spent_and_left():
    """`train --resume` of a 10-minute run at 48 s once showed "00:09 of 10:00, 02:38 left" at
    8% (the bar started at 0 and jumped by the time already trained; tqdm's rate came from
    the jump): it starts where training is and shows the training clock."""
    from segmenty.train.loop import progress_bar
    from segmenty.train.state import Progress

    bar = progress_bar(TrainConfig(minutes=10), Progress(step=500, elapsed_s=48.7))
    try:
        assert bar.n == 48 and str(bar).endswith("| 00:48 of 10:00, 09:12 left")
        bar.update(1)
        assert str(bar).endswith("| 00:49 of 10:00, 09:11 left")
    finally:
        bar.close()
    bar = progress_bar(TrainConfig(steps=1000), Progress(step=80, elapsed_s=48.7))
    try:
        assert bar.n == 80 and "80/1000" in str(bar)
    finally:
        bar.close()
