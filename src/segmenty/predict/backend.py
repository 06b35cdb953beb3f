"""The network behind a Predictor: the `Backend` protocol (probabilities for a batch, what the
channels are, the board, the training size, the stride) and `open_backend`, which picks
onnxruntime or PyTorch for a run folder, checkpoint, .onnx file or loaded model."""
from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from ..errors import UsageError
from ..hardware import check_device_name, cuda_may_be_present, resolve_device
from ..runs import LoadedModel, load_model, resolve_checkpoint
from .onnx import OnnxModel, cached_onnx, export_for_checkpoint


@runtime_checkable
class Backend(Protocol):
    """What a Predictor needs of a network: probabilities for a batch, what its channels are,
    the board it was trained for, its training size and the multiple its input must be."""

    mask_names: list[str]
    pattern_spec: str
    size: int
    stride: int

    def run(self, batch: np.ndarray) -> np.ndarray:
        """N×3×H×W float32 in [0, 1] -> N×M×H×W probabilities."""


class _TorchModel:
    """A LoadedModel behind the same small interface as OnnxModel (probabilities out)."""

    def __init__(self, loaded: LoadedModel, device):
        self.loaded = loaded
        self.device = device
        self.mask_names = loaded.mask_names
        self.pattern_spec = loaded.own_pattern_spec
        self.size, self.stride, self.model_name = loaded.size, loaded.stride, loaded.model_name
        self.family: str | None = loaded.config.get("family")

    def run(self, batch: np.ndarray) -> np.ndarray:
        import torch

        model = self.loaded.model
        was_training = model.training  # the training loop may hand in its live model
        model.eval()
        try:
            with torch.inference_mode():
                x = torch.from_numpy(batch).to(self.device)
                return torch.sigmoid(model(x)).float().cpu().numpy()
        finally:
            model.train(was_training)


def open_backend(run_or_model, device: str = "auto", backend: str = "auto") -> Backend:
    """The Backend for a run folder, .pt checkpoint, .onnx file, LoadedModel or Backend (see
    Predictor): for a run or checkpoint, 'auto' is onnxruntime on the CPU where the checkpoint's
    own export is there (`<checkpoint>.onnx`, written when training ends: ~2x faster than
    PyTorch, no torch import), else PyTorch; 'onnx' exports it when it is missing (asked for);
    'torch' is PyTorch. (A file from `segmenty export --onnx` is predicted with directly.)"""
    if backend not in ("auto", "onnx", "torch"):
        raise UsageError(f"--backend {backend}: expected auto, onnx or torch")
    if isinstance(run_or_model, Backend):  # an OnnxModel, or any network (a test's stand-in)
        return run_or_model
    if isinstance(run_or_model, LoadedModel):
        return _TorchModel(run_or_model, _model_device(run_or_model))
    check_device_name(device)
    if Path(run_or_model).suffix.lower() == ".onnx":
        _cpu_only(device, f"{run_or_model} is an ONNX model, which onnxruntime runs on the CPU here; for a "
                          "GPU give its run folder or .pt checkpoint")
        return OnnxModel(run_or_model)
    if backend == "onnx":
        _cpu_only(device, "--backend onnx runs on the CPU here (onnxruntime); for a GPU use --backend auto or torch")
    on_cpu = device == "cpu" or (device == "auto" and not cuda_may_be_present())
    if backend == "onnx" or (backend == "auto" and on_cpu):
        checkpoint = resolve_checkpoint(run_or_model)
        found = export_for_checkpoint(checkpoint) if backend == "onnx" else cached_onnx(checkpoint)
        if found is not None:
            return found
        if backend == "onnx":
            raise UsageError("--backend onnx needs onnx and onnxruntime: pip install 'onnx>=1.15' "
                             "'onnxruntime>=1.17'")
    d = resolve_device(device)
    return _TorchModel(load_model(run_or_model, d), d)


def _cpu_only(device: str, why: str) -> None:
    """A GPU asked of onnxruntime (CPU only here) is refused, not silently ignored: as for any
    model when this machine has no such GPU, else with `why`."""
    if device.startswith("cuda"):
        resolve_device(device)
        raise UsageError(f"--device {device}: {why}")


def _model_device(loaded: LoadedModel):
    try:
        return next(loaded.model.parameters()).device
    except StopIteration:
        return resolve_device("cpu")

