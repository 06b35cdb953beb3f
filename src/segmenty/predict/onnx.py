"""ONNX export (sigmoid in the graph, dynamic batch/height/width) and an onnxruntime backend.

The exported file carries what prediction needs in its metadata_props, so `segmenty predict
model.onnx` works without the run folder: mask_names (JSON list), pattern, size, stride,
model_name, format; for a user pattern (a folder) also its fingerprint (`Pattern.fingerprint`):
a file copied away finds the folder its pattern names from where it is predicted, and a folder
of that name that is not the pattern the model learned is not used (the Predictor warns, naming
--pattern DIR, and predicts masks without outline and homography).
"""
from __future__ import annotations

import copy
import json
import os
import warnings
from pathlib import Path

import numpy as np

from .. import hardware
from ..errors import SegmentyError
from ..io import atomic_path
from ..runs import FALLBACK_SIZE, LoadedModel, names_pattern_folder, run_pattern_spec

FORMAT = "segmenty-onnx-1"
# The metadata key that ties an ONNX file exported for prediction to its checkpoint.
SOURCE_KEY = "source_checkpoint"
# The metadata key of a user pattern's fingerprint (Pattern.fingerprint), as the model learned it.
FINGERPRINT_KEY = "pattern_fingerprint"
OPSET = 17
PARITY_TOLERANCE = 1e-4
# A checkpoint's int8 copy for CPU prediction, beside it (`best.pt` -> `best.int8.onnx`).
INT8_SUFFIX = ".int8.onnx"


def export_onnx(loaded: LoadedModel, path: str | os.PathLike, extra_meta: dict | None = None) -> Path:
    """Write `loaded`'s network as ONNX (output = probabilities) and check it against PyTorch.

    Uses the TorchScript-based exporter (``dynamo=False``): it needs no extra package and
    exports this plain convolutional network exactly; the dynamo exporter would need
    `onnxscript`. Raises SegmentyError if onnxruntime's output differs from PyTorch's by more
    than 1e-4 on a non-square test input.
    """
    import torch
    try:
        import onnx
    except ImportError:
        raise SegmentyError("ONNX export needs the onnx package, which segmenty installs: "
                            "pip install 'onnx>=1.15' 'onnxruntime>=1.17'") from None

    path = Path(path)
    # A CPU copy in eval mode: exporting must neither move nor switch the caller's model (a
    # wrapper left in training mode would switch batch-norm to batch statistics).
    net = torch.nn.Sequential(copy.deepcopy(loaded.model).cpu(), torch.nn.Sigmoid()).eval()
    stride = loaded.stride
    side = -(-loaded.size // stride) * stride
    example = torch.rand(1, 3, side, side)
    axes = {0: "batch", 2: "height", 3: "width"}
    with atomic_path(path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's deprecation and tracer notices
        torch.onnx.export(net, (example,), str(tmp), dynamo=False, opset_version=OPSET,
                          input_names=["image"], output_names=["probabilities"],
                          dynamic_axes={"image": axes, "probabilities": axes})
        model = onnx.load(str(tmp))
        meta = {"format": FORMAT, "mask_names": json.dumps(loaded.mask_names),
                "pattern": loaded.pattern_spec, "size": str(loaded.size), "stride": str(stride),
                "model_name": loaded.model_name, "family": loaded.config.get("family") or "",
                **_pattern_fingerprint(loaded), **(extra_meta or {})}
        for key, value in meta.items():
            entry = model.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.checker.check_model(model)
        onnx.save(model, str(tmp))
        _check_parity(net, str(tmp), stride)
    return path


def _pattern_fingerprint(loaded: LoadedModel) -> dict[str, str]:
    """{FINGERPRINT_KEY: its user pattern's fingerprint}, from the run's copy of the folder
    where it has one; {} for a built-in pattern (its spec builds it again) or a folder that
    cannot be read now (the export then checks nothing where it is predicted)."""
    from ..patterns import load_pattern

    spec = loaded.own_pattern_spec
    if not names_pattern_folder(spec):
        return {}
    try:
        return {FINGERPRINT_KEY: load_pattern(spec).fingerprint()}
    except SegmentyError:
        return {}


def _check_parity(net, onnx_path: str, stride: int) -> None:
    import torch

    k = -(-64 // stride)  # non-square and at least 64 px: every layer sees more than 1x1
    x = torch.rand(1, 3, k * stride, 2 * k * stride, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        expected = net(x).numpy()
    got = OnnxModel(onnx_path, check_metadata=False).run(x.numpy())
    diff = float(np.abs(got - expected).max())
    if diff > PARITY_TOLERANCE:
        raise SegmentyError(f"{onnx_path}: exported model differs from PyTorch by {diff:.2g} "
                            f"(more than {PARITY_TOLERANCE:g}); not written")


def _fingerprint(checkpoint: Path) -> str:
    stat = checkpoint.stat()
    return f"{checkpoint.name}:{stat.st_size}:{stat.st_mtime_ns}"


def onnx_available() -> bool:
    """onnx and onnxruntime are installed (looked up, not imported: importing onnx costs ~1 s)."""
    import importlib.util

    return importlib.util.find_spec("onnx") is not None and importlib.util.find_spec("onnxruntime") is not None


def cached_onnx(checkpoint: str | os.PathLike, int8: bool = True) -> OnnxModel | None:
    """The checkpoint's own export for CPU prediction when it is there and still the
    checkpoint's: its int8 copy (`<checkpoint>.int8.onnx`, written when training ends:
    jobs.export_for_prediction) first, unless `int8` is False, then `<checkpoint>.onnx` (written
    by `export_for_checkpoint`); None otherwise. Nothing is exported here."""
    if not onnx_available():
        return None
    checkpoint = Path(checkpoint)
    for suffix in (INT8_SUFFIX, ".onnx") if int8 else (".onnx",):
        cached = checkpoint.with_suffix(suffix)
        if not cached.is_file():
            continue
        try:
            model = OnnxModel(cached)
        except SegmentyError:
            continue  # damaged or foreign: not this checkpoint's
        # (the int8 copy carries its float export's metadata, this fingerprint with it)
        if model.metadata.get(SOURCE_KEY) == _fingerprint(checkpoint):
            return model
    return None


def export_for_checkpoint(checkpoint: str | os.PathLike) -> OnnxModel | None:
    """Export the checkpoint for CPU prediction to `<checkpoint>.onnx` beside it (with the parity
    check), tied to it by its fingerprint, and return it; where it is asked for: at the end of
    `segmenty train`/`segmenty.fit`, by `--backend onnx`. A fresh export is reused; a read-only
    run folder gets a private copy. None when onnx or onnxruntime is not installed."""
    if not onnx_available():
        return None
    from ..runs import load_model

    checkpoint = Path(checkpoint)
    fresh = cached_onnx(checkpoint, int8=False)
    if fresh is not None:
        return fresh
    loaded = load_model(checkpoint, "cpu")
    fingerprint = {SOURCE_KEY: _fingerprint(checkpoint)}
    try:
        return OnnxModel(export_onnx(loaded, checkpoint.with_suffix(".onnx"), fingerprint))
    except OSError:  # a read-only run folder: a private copy
        import tempfile
        folder = Path(tempfile.mkdtemp(prefix="segmenty-onnx-"))
        return OnnxModel(export_onnx(loaded, folder / checkpoint.with_suffix(".onnx").name, fingerprint))


class OnnxModel:
    """An exported segmenty model run with onnxruntime on the CPU (probabilities out)."""

    def __init__(self, path: str | os.PathLike, threads: int | None = None, check_metadata: bool = True):
        try:
            import onnxruntime as ort
        except ImportError:
            raise SegmentyError(f"{path}: running .onnx models needs onnxruntime, which segmenty "
                                "installs: pip install 'onnxruntime>=1.17'") from None
        self.path = Path(path)
        options = ort.SessionOptions()
        # Full graph optimisation fuses conv + batch-norm + activation: ~2x faster on CPU.
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads or hardware.available_cores()
        options.inter_op_num_threads = 1
        # Untrained or tiny activations can be denormal floats, which are very slow on x86.
        options.add_session_config_entry("session.set_denormal_as_zero", "1")
        # Its threads sleep between runs instead of spinning: a spinning pool holds both cores
        # after every run, starving the threads beside it (a video's decoding, drawing and
        # writing: 35 -> 47 frames/s tracked on 2 cores) for ~0.4 ms a 160-px pass
        # (benchmarks/README.md, issue 22).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types for bad files
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            raise SegmentyError(f"{self.path}: not a readable ONNX model: {first}") from None
        self.metadata = meta = dict(self.session.get_modelmeta().custom_metadata_map)
        if check_metadata and meta.get("format") != FORMAT:
            raise SegmentyError(f"{self.path}: ONNX model was not written by 'segmenty export' "
                                "(no mask names or pattern in its metadata)")
        self.input_name = self.session.get_inputs()[0].name
        self.mask_names: list[str] = json.loads(meta.get("mask_names", "[]"))
        self.pattern_spec: str = run_pattern_spec(meta.get("pattern", ""), self.path.parent)
        # a user pattern's, as the model learned it: the folder found must be that one
        self.pattern_fingerprint: str | None = meta.get(FINGERPRINT_KEY) or None
        self.size = int(meta.get("size", FALLBACK_SIZE))
        self.stride = int(meta.get("stride", 32))
        self.model_name: str = meta.get("model_name", "")
        self.family: str | None = meta.get("family") or None  # a family detector's family

    def run(self, batch: np.ndarray) -> np.ndarray:
        """N×3×H×W float32 in [0, 1] -> N×M×H×W probabilities."""
        return self.session.run(None, {self.input_name: np.ascontiguousarray(batch, np.float32)})[0]
