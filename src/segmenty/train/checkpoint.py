"""Checkpoints: plain dicts of tensors and plain values, written atomically, read safely.

A checkpoint is loaded with ``torch.load(weights_only=True)``, so a file carrying a pickled
object that would run code is refused before anything in it executes.
"""
from __future__ import annotations

import os
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
        state = torch.load(path, map_location=map_location, weights_only=True)
    except PermissionError:
        raise SegmentyError(f"{path}: permission denied") from None
    except Exception as exc:  # truncated zip, pickled code objects, garbage...
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "weights_only" in str(exc) or "Unsupported global" in str(exc):
            reason = "it holds Python objects other than tensors and plain values (refused unloaded)"
        raise SegmentyError(f"{path}: not a readable segmenty checkpoint: {reason[:200]}") from None
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
        model.load_state_dict(state.get("ema") or state["model"])
    except SegmentyError as exc:
        raise SegmentyError(f"{file}: {exc}") from None
    except (KeyError, RuntimeError) as exc:
        raise SegmentyError(f"{file}: checkpoint does not match model "
                            f"'{state.get('model_name')}': {str(exc).splitlines()[0][:160]}") from None
    model.eval().to(device)
    return LoadedModel(model, state["model_name"], list(state["mask_names"]), state.get("pattern", ""),
                       int(state.get("size", 256)), dict(state.get("config", {})),
                       int(state.get("step", 0)), file)
