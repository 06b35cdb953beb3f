"""The int8 copy of an exported network (predict/quantize.py): written beside nothing else,
deterministic, close to the float model, refused when it strays."""
from __future__ import annotations

import numpy as np
import pytest

from segmenty.errors import SegmentyError
from segmenty.predict import quantize
from segmenty.predict.onnx import OnnxModel


def _scenes(seed: int, count: int, size: int = 64) -> list[np.ndarray]:
    """Smooth random photos (a network's activations on noise alone are not a photo's)."""
    import cv2

    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        small = rng.random((8, 8, 3)).astype(np.float32)
        out.append(cv2.resize(small, (size, size), interpolation=cv2.INTER_CUBIC).clip(0, 1).transpose(2, 0, 1)[None])
    return out


@pytest.fixture(scope="module")
def int8_copy(checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("int8") / "model.int8.onnx"
    path, agreement = quantize.quantize_onnx(checkpoint.with_suffix(".onnx"), out, _scenes(0, 8), _scenes(1, 4))
    return path, agreement


def test_the_copy_is_int8_keeps_the_metadata_and_predicts_like_the_float_model(checkpoint, int8_copy):
    import onnx

    path, agreement = int8_copy
    source = OnnxModel(checkpoint.with_suffix(".onnx"))
    copy = OnnxModel(path)
    assert copy.metadata == {**source.metadata, "precision": "int8"}
    assert copy.mask_names == source.mask_names and copy.pattern_spec == source.pattern_spec
    graph = onnx.load(str(path)).graph
    assert {"QuantizeLinear", "DequantizeLinear"} <= {n.op_type for n in graph.node}
    # the head stays in float: its convolutions' weights are float initializers, not dequantized
    weights = {i.name for i in graph.initializer}
    head = [n for n in graph.node if quantize.HEAD_MARK in n.name and n.op_type == "Conv"]
    assert head and all(n.input[1] in weights for n in head)
    encoder = [n for n in graph.node if "/encoder/" in n.name and n.op_type == "Conv"]
    assert encoder and not any(n.input[1] in weights for n in encoder)
    again = quantize.compare(source, copy, _scenes(2, 3))
    assert again["mean_diff"] <= quantize.MAX_MEAN_DIFF and again["flipped"] <= quantize.MAX_FLIPPED
    assert 0 < agreement["mean_diff"]  # integer arithmetic: not the float model itself
    x = _scenes(3, 1, 96)[0]
    assert copy.run(x).shape == source.run(x).shape


def test_the_same_scenes_give_the_same_bytes(checkpoint, int8_copy, tmp_path):
    path, _ = int8_copy
    again, _ = quantize.quantize_onnx(checkpoint.with_suffix(".onnx"), tmp_path / "again.onnx", _scenes(0, 8),
                                      _scenes(1, 4))
    assert again.read_bytes() == path.read_bytes()


def test_a_copy_that_strays_is_refused_and_not_written(checkpoint, tmp_path, monkeypatch):
    monkeypatch.setattr(quantize, "MAX_FLIPPED", -1.0)
    with pytest.raises(SegmentyError, match="strays from it .* not written"):
        quantize.quantize_onnx(checkpoint.with_suffix(".onnx"), tmp_path / "m.onnx", _scenes(0, 2), _scenes(1, 1))
    assert list(tmp_path.iterdir()) == []


def test_a_model_without_a_head_is_refused(checkpoint, tmp_path, monkeypatch):
    monkeypatch.setattr(quantize, "HEAD_MARK", "/no-such-module/")
    with pytest.raises(SegmentyError, match="not a segmenty network's export"):
        quantize.quantize_onnx(checkpoint.with_suffix(".onnx"), tmp_path / "m.onnx", _scenes(0, 2), _scenes(1, 1))
    assert list(tmp_path.iterdir()) == []


def test_export_writes_an_int8_copy_of_a_run_that_predicts(checkpoint, tmp_path, capsys):
    from segmenty.cli import main
    from segmenty.predict import Predictor

    out = tmp_path / "m.int8.onnx"
    assert main(["export", str(checkpoint), "--onnx", str(out), "--int8"]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    assert OnnxModel(out).metadata["precision"] == "int8"
    assert Predictor(out).predict(np.zeros((48, 64, 3), np.uint8)).masks["mask"].shape == (48, 64)
    assert main(["export", str(checkpoint), "--ship", "--int8"]) != 0
    assert "--int8 goes with --onnx FILE" in capsys.readouterr().err


def test_a_runs_int8_copy_is_its_cpu_model_while_it_is_the_checkpoints(checkpoint, tmp_path):
    """Training's end writes the checkpoint's float export and its int8 copy (jobs.
    export_for_prediction); the CPU runs the copy; `--backend onnx` the float export; a copy no
    longer the checkpoint's is not used."""
    import shutil

    from segmenty.jobs import export_for_prediction
    from segmenty.predict import Predictor
    from segmenty.runs import Run

    shutil.copy(checkpoint, tmp_path / "best.pt")
    export_for_prediction(Run(tmp_path))
    assert (tmp_path / "best.int8.onnx").is_file() and (tmp_path / "best.onnx").is_file()
    assert Predictor(tmp_path / "best.pt", device="cpu").backend.path.name == "best.int8.onnx"
    assert Predictor(tmp_path / "best.pt", device="cpu", backend="onnx").backend.path.name == "best.onnx"
    (tmp_path / "best.pt").write_bytes((tmp_path / "best.pt").read_bytes())  # a newer best.pt
    assert Predictor(tmp_path / "best.pt", device="cpu", backend="onnx").backend.path.name == "best.onnx"
    assert Predictor(tmp_path / "best.pt", device="cpu").backend.path.name == "best.onnx"  # the stale copy unused


def test_a_failing_int8_copy_leaves_the_float_export_with_one_warning(checkpoint, tmp_path, capsys, monkeypatch):
    import shutil

    import segmenty.jobs
    from segmenty.predict import Predictor
    from segmenty.runs import Run

    def broken(*args, **kwargs):
        raise RuntimeError("quantization tool failed\nmore lines")

    monkeypatch.setattr(segmenty.jobs, "quantize_model", broken)
    shutil.copy(checkpoint, tmp_path / "best.pt")
    segmenty.jobs.export_for_prediction(Run(tmp_path))
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no int8 copy (quantization tool failed)" in err[0]
    assert Predictor(tmp_path / "best.pt", device="cpu").backend.path.name == "best.onnx"
