"""The detectors that ship inside the package: one per board family, trained once, long.

``assets/detectors/<family>/`` holds ``model.pt`` (the EMA weights, plain data), its
``model.onnx`` (what the CPU runs: no torch import, no export on a user's machine) and
``config.json`` (the resolved training config: the command that made it, reproducible). A
built-in board's spec finds its family's detector (`patterns.family.family_for_kind`), and the
spec itself gives the layout the points' identities are read on.
"""
from __future__ import annotations

from pathlib import Path

from ..patterns.family import FAMILIES, family_for_kind

DETECTORS_DIR = Path(__file__).resolve().parents[1] / "assets" / "detectors"
CHECKPOINT_FILE, ONNX_FILE, CONFIG_FILE = "model.pt", "model.onnx", "config.json"


def detector_folder(spec: str) -> Path | None:
    """The shipped detector's folder for a pattern spec (``chessboard:8x6``), or None when no
    family covers the pattern's kind or its files are not in this installation."""
    family = family_for_kind(spec.split(":")[0])
    if family is None:
        return None
    folder = DETECTORS_DIR / family.name
    return folder if (folder / ONNX_FILE).is_file() and (folder / CHECKPOINT_FILE).is_file() else None


def shipped_kinds() -> list[str]:
    """The pattern kinds a shipped detector finds in this installation."""
    return [kind for f in FAMILIES.values() if (DETECTORS_DIR / f.name / ONNX_FILE).is_file() for kind in f.kinds]


def ship_detector(run: str | Path) -> Path:
    """Put a family run's detector into the package (what `segmenty export RUN --ship` does):
    the EMA weights alone as model.pt, its ONNX export and the run's config.json, into
    assets/detectors/<family>/. Refuses a run that is not a family run."""
    import json

    from ..errors import SegmentyError
    from ..io import atomic_write_text
    from ..runs import load_checkpoint, load_model, resolve_checkpoint, save_checkpoint
    from .onnx import export_onnx

    checkpoint = resolve_checkpoint(run)
    state = load_checkpoint(checkpoint)
    family = state.get("config", {}).get("family")
    if not family:
        raise SegmentyError(f"{run}: not a family run (train one with: segmenty train --family NAME)")
    folder = DETECTORS_DIR / family
    folder.mkdir(parents=True, exist_ok=True)
    kept = {k: state[k] for k in ("model_name", "mask_names", "pattern", "size", "config", "step") if k in state}
    save_checkpoint(folder / CHECKPOINT_FILE, {**kept, "model": state.get("ema") or state["model"]})
    export_onnx(load_model(folder / CHECKPOINT_FILE, "cpu"), folder / ONNX_FILE)
    atomic_write_text(folder / CONFIG_FILE, json.dumps(state["config"], indent=2) + "\n")
    return folder
