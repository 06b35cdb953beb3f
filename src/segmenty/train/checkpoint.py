"""Checkpoints: plain dicts of tensors and plain values, written atomically, read safely.

A checkpoint is loaded with ``torch.load(weights_only=True)``, so a file carrying a pickled
object that would run code is refused before anything in it executes.
"""
from __future__ import annotations

import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn as nn

from ..errors import SegmentyError
from ..io import atomic_path
from ..models import build_model

FORMAT = "segmenty-checkpoint-1"


def save_checkpoint(path: str | os.PathLike, state: dict) -> None:
    """Write `state` (tensors and plain values) atomically: never a half-written file."""
    state = {"format": FORMAT, **state}
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def resolve_checkpoint(path: str | os.PathLike) -> Path:
    """A .pt file as given, or the best (else latest) checkpoint of a run folder."""
    path = Path(path)
    if path.is_dir():
        for name in ("best.pt", "model.pt"):
            if (path / name).is_file():
                return path / name
        raise SegmentyError(f"{path}: run folder has no best.pt or model.pt (is training finished "
                            "or started?)")
    if not path.exists():
        raise SegmentyError(f"{path}: no such run folder or checkpoint file")
    return path


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint dict; refuse anything that is not a segmenty checkpoint of plain data."""
    path = resolve_checkpoint(path)
    try:
        if path.stat().st_size == 0:
            raise SegmentyError(f"{path}: empty file (0 bytes), not a segmenty checkpoint")
        state = torch.load(path, map_location=map_location, weights_only=True)
    except SegmentyError:
        raise
    except PermissionError:
        raise SegmentyError(f"{path}: permission denied") from None
    except IsADirectoryError:
        raise SegmentyError(f"{path}: is a folder, expected a run folder or .pt checkpoint") from None
    except Exception as exc:  # truncated zip, pickled code objects, garbage...
        text = str(exc)
        if "weights_only" in text or "Unsupported global" in text:
            reason = "it holds Python objects other than tensors and plain values (refused unloaded)"
        else:
            reason = "the file is truncated or not a checkpoint at all"
            if not (isinstance(exc, (EOFError, pickle.UnpicklingError)) or "zip archive" in text):
                reason += f" ({type(exc).__name__}: {' '.join(text.split())[:120]})"
        raise SegmentyError(f"{path}: not a readable segmenty checkpoint: {reason}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT or "model" not in state:
        raise SegmentyError(f"{path}: not a segmenty checkpoint (no '{FORMAT}' format marker)")
    return state


@dataclass
class LoadedModel:
    """A network ready to predict, with what it was trained for."""

    model: nn.Module
    model_name: str
    mask_names: list[str]
    pattern_spec: str
    size: int
    config: dict = field(default_factory=dict)
    step: int = 0
    path: Path | None = None

    @property
    def stride(self) -> int:
        return int(getattr(self.model, "stride", 32))


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu") -> LoadedModel:
    """Load a run folder or checkpoint as an eval-mode model (EMA weights when present)."""
    file = resolve_checkpoint(path)
    state = load_checkpoint(file)
    try:
        model = build_model(state["model_name"], len(state["mask_names"]))
    except SegmentyError as exc:
        raise SegmentyError(f"{file}: {exc}") from None
    except (KeyError, TypeError) as exc:
        raise SegmentyError(f"{file}: not a segmenty checkpoint (no model name or mask names: {exc})") from None
    weights = state.get("ema") or state["model"]
    problem = state_dict_mismatch(model, weights)
    if problem:
        raise SegmentyError(f"{file}: weights do not fit model '{state['model_name']}' ({problem}); "
                            "the checkpoint was made for another model or is damaged")
    model.load_state_dict(weights)
    model.eval().to(device)
    return LoadedModel(model, state["model_name"], list(state["mask_names"]), state.get("pattern", ""),
                       int(state.get("size", 256)), dict(state.get("config", {})),
                       int(state.get("step", 0)), file)


def state_dict_mismatch(model: nn.Module, weights) -> str:
    """What keeps `weights` from loading into `model`, in a few words ('' when they fit)."""
    if not isinstance(weights, dict):
        return f"weights are a {type(weights).__name__}, not a state dict"
    ours = model.state_dict()
    missing = [k for k in ours if k not in weights]
    extra = [k for k in weights if k not in ours]
    shape = [k for k in ours if k in weights and (not isinstance(weights[k], torch.Tensor)
                                                   or weights[k].shape != ours[k].shape)]
    parts = [f"{len(v)} {what}, e.g. {v[0]}" for v, what in ((missing, "missing"), (extra, "unexpected"),
                                                             (shape, "of another shape")) if v]
    return "; ".join(parts)
