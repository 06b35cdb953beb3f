"""Detectors shipped inside the package: a family run put there by `segmenty export --ship`,
found by a board's spec (Predictor.for_pattern, `segmenty predict SPEC`, `segmenty calibrate`
without --model), and the layout a Predictor is told to look for."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

import segmenty
from segmenty.cli import main
from segmenty.errors import UsageError
from segmenty.models import build_model
from segmenty import runs
from segmenty.predict import Predictor
from tests.conftest import write_checkpoint

FAMILY_MASKS = ["mask", "circles", "corners"]


def _checkpoint(path, mask_names, pattern, config):
    return write_checkpoint(path, pattern, "unet-n", mask_names, config, optimizer={"state": {}})


@pytest.fixture(scope="module")
def family_run(tmp_path_factory):
    return _checkpoint(tmp_path_factory.mktemp("family") / "model.pt", FAMILY_MASKS, "chessboard:10x7:25",
                       {"family": "boards", "recipe": "family"})


@pytest.fixture()
def detectors(tmp_path, monkeypatch):
    """An empty detectors folder in place of the package's."""
    monkeypatch.setattr(runs, "DETECTORS_DIR", tmp_path / "detectors")
    return tmp_path / "detectors"


@pytest.fixture()
def installed(family_run, detectors):
    assert main(["export", str(family_run), "--ship"]) == 0
    return detectors / "boards"


def test_ship_writes_weights_onnx_its_int8_copy_and_config(installed):
    assert sorted(p.name for p in installed.iterdir()) == ["config.json", "model.int8.onnx", "model.onnx", "model.pt"]
    state = torch.load(installed / "model.pt", weights_only=True)
    assert "optimizer" not in state and state["mask_names"] == FAMILY_MASKS
    assert json.loads((installed / "config.json").read_text())["family"] == "boards"


def test_ship_refuses_a_single_pattern_run(tmp_path, detectors, capsys):
    run = _checkpoint(tmp_path / "model.pt", ["mask", "corners"], "chessboard:10x7:25", {})
    assert main(["export", str(run), "--ship"]) == 1
    assert "not a family run" in capsys.readouterr().err
    assert not detectors.exists()


@pytest.mark.parametrize("spec", ["chessboard:8x6", "charuco:5x7:4x4_50", "circles:4x11:asym"])
def test_for_pattern_finds_the_family_detector_with_the_given_layout(installed, spec):
    predictor = Predictor.for_pattern(spec, device="cpu")
    # the layout asked for, in full (not the board the family run was made with, chessboard:10x7:25)
    asked = segmenty.load_pattern(spec).spec
    assert predictor.backend.family == "boards" and predictor.pattern_spec == asked
    assert predictor.pattern.spec == asked
    result = predictor.predict(np.zeros((96, 128, 3), np.uint8))
    assert result.masks["mask"].shape == (96, 128)
    # the board's own masks: a chessboard has no circles, a circle grid no corners; the other
    # channels are not even judged (the look holds the board's alone)
    assert sorted(result.masks) == sorted(predictor.pattern.mask_names) == sorted(predictor.mask_names)
    assert predictor._run([np.zeros((96, 128, 3), np.uint8)])[0].shape[0] == len(predictor.pattern.mask_names) < 3


def test_for_pattern_runs_the_int8_copy_on_the_cpu_the_float_model_when_asked(installed):
    from segmenty.predict.backend import _TorchModel

    assert Predictor.for_pattern("chessboard:8x6", device="cpu").backend.path.name == "model.int8.onnx"
    assert Predictor.for_pattern("chessboard:8x6", device="cpu", backend="onnx").backend.path.name == "model.onnx"
    assert isinstance(Predictor.for_pattern("chessboard:8x6", device="cpu", backend="torch").backend, _TorchModel)
    (installed / "model.int8.onnx").unlink()  # an installation without one: the float model
    assert Predictor.for_pattern("chessboard:8x6", device="cpu").backend.path.name == "model.onnx"


def test_a_ship_whose_quantizing_fails_leaves_no_old_int8_copy(installed, family_run, monkeypatch, capsys):
    import segmenty.jobs
    from segmenty.errors import SegmentyError

    def strays(*args, **kwargs):
        raise SegmentyError("model.onnx: its int8 copy strays from it; not written")

    monkeypatch.setattr(segmenty.jobs, "quantize_model", strays)
    assert main(["export", str(family_run), "--ship"]) == 1
    assert "strays" in capsys.readouterr().err
    assert not (installed / "model.int8.onnx").exists()  # the old network's copy would run on every CPU
    assert Predictor.for_pattern("chessboard:8x6", device="cpu").backend.path.name == "model.onnx"


def test_the_shipped_int8_copy_is_the_shipped_models(tmp_path):
    """The package's int8 file was made from its float model (not left from an earlier one) and
    predicts as it does on a rendered board."""
    from segmenty.predict.onnx import OnnxModel
    from segmenty.predict.quantize import MAX_FLIPPED, MAX_MEAN_DIFF, compare
    from segmenty.synth.dataset import SyntheticDataset

    folder = runs.DETECTORS_DIR / "boards"
    float_model, int8 = OnnxModel(folder / runs.SHIPPED_ONNX), OnnxModel(folder / runs.SHIPPED_INT8)
    assert int8.metadata == {**float_model.metadata, "precision": "int8"}
    scenes = SyntheticDataset("chessboard:10x7", size=160, seed=5)
    agreement = compare(float_model, int8, [scenes[i]["image"].numpy()[None] / np.float32(255) for i in range(4)])
    assert agreement["mean_diff"] <= MAX_MEAN_DIFF and agreement["flipped"] <= MAX_FLIPPED


def test_for_pattern_without_a_shipped_detector_says_how_to_train(detectors):
    with pytest.raises(UsageError, match="segmenty train --pattern chessboard:8x6"):
        Predictor.for_pattern("chessboard:8x6")
    with pytest.raises(UsageError, match="no shipped detector"):
        Predictor.for_pattern("segmenty")


def test_for_pattern_names_a_mistyped_pattern_as_such(installed, tmp_path, monkeypatch):
    # not "no shipped detector finds 'logoo'": it is no pattern at all (a folder ./logo is)
    (tmp_path / "logo").mkdir()
    (tmp_path / "logo" / "pattern.svg").write_text("<svg/>")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError, match="neither a pattern kind .* did you mean the folder 'logo'"):
        Predictor.open("chessboard:10x7", pattern="logoo", device="cpu")


def test_a_detector_takes_layouts_of_its_own_kinds_only(family_run, tmp_path):
    assert Predictor(family_run, pattern="charuco:5x7").pattern_spec.startswith("charuco:5x7")
    with pytest.raises(UsageError, match="finds chessboard, charuco, circles"):
        Predictor(family_run, pattern="segmenty")
    single = _checkpoint(tmp_path / "single.pt", ["mask", "corners"], "chessboard:10x7:25", {})
    assert Predictor(single, pattern="chessboard:8x6").pattern_spec == "chessboard:8x6:25"
    with pytest.raises(UsageError, match="was trained for 'chessboard:10x7:25'"):
        Predictor(single, pattern="circles:7x5")


def test_predict_takes_a_board_spec_in_place_of_a_run(installed, tmp_path):
    cv2.imwrite(str(tmp_path / "p.png"), np.full((64, 80, 3), 128, np.uint8))
    assert main(["predict", "chessboard:8x6", str(tmp_path / "p.png"), "--out", str(tmp_path / "o")]) == 0
    record = json.loads((tmp_path / "o" / "predictions.json").read_text())
    assert (tmp_path / "o" / "p_overlay.jpg").is_file() and record
    assert sorted(f.name for f in (tmp_path / "o").glob("p_*.png")) == ["p_corners.png", "p_mask.png"]


def test_evaluate_takes_a_board_spec_in_place_of_a_run(installed, tmp_path, capsys):
    (tmp_path / "photos").mkdir()
    (tmp_path / "masks").mkdir()
    cv2.imwrite(str(tmp_path / "photos" / "p.png"), np.full((64, 80, 3), 128, np.uint8))
    truth = np.zeros((64, 80), np.uint8)
    truth[16:48, 20:60] = 255
    cv2.imwrite(str(tmp_path / "masks" / "p_mask.png"), truth)
    assert main(["evaluate", "chessboard:8x6", "--images", str(tmp_path / "photos"), "--masks",
                 str(tmp_path / "masks"), "--out", str(tmp_path / "o")]) == 0
    saved = json.loads((tmp_path / "o" / "eval.json").read_text())
    assert saved["model"] == "chessboard:8x6" and saved["summary"]["photos"] == 1


def test_calibrate_without_a_model_uses_the_shipped_detector(installed, tmp_path, capsys):
    for i in range(2):
        cv2.imwrite(str(tmp_path / f"p{i}.png"), np.full((48, 64, 3), 60 * i, np.uint8))
    status = main(["calibrate", str(tmp_path / "p0.png"), str(tmp_path / "p1.png"), "--pattern", "chessboard:8x6:30",
                   "--out", str(tmp_path / "o"), "--no-opencv"])
    captured = capsys.readouterr()
    assert status == 1 and "training" not in captured.out and "0 usable view(s) of 2" in captured.err
    assert not (tmp_path / "o" / "detector").exists()


def test_init_carries_weights_over_by_mask_name(family_run, installed):
    from segmenty.train.state import init_weights

    family = torch.load(family_run, weights_only=True)["model"]
    for source in (str(family_run), "boards"):  # a checkpoint, or the shipped family by name
        model = build_model("unet-n", 2)
        init_weights(source, model, "unet-n", ["mask", "corners"])
        ours = model.state_dict()
        assert torch.equal(ours["head.layers.2.weight"], family["head.layers.2.weight"][[0, 2]])
        assert all(torch.equal(ours[k], family[k]) for k in ours if not k.startswith("head.layers.2"))


def test_init_refuses_another_model(family_run):
    from segmenty.errors import SegmentyError
    from segmenty.train.state import init_weights

    with pytest.raises(SegmentyError, match="give --model unet-n"):
        init_weights(str(family_run), build_model("unet-s", 2), "unet-s", ["mask", "corners"])
