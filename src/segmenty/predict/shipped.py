"""Putting a family run into the package as its shipped detector (`segmenty export RUN --ship`).

Where shipped detectors live and how a board's spec finds one is runs.py's ("shipped
detectors"): training (`--init boards`) and prediction both read them.
"""
from __future__ import annotations

import json
from pathlib import Path

from .. import runs
from ..errors import SegmentyError
from ..io import atomic_write_text
from .onnx import export_onnx


def ship_detector(run: str | Path) -> Path:
    """The EMA weights alone as model.pt, their ONNX export and the run's config.json, into
    assets/detectors/<family>/. Refuses a run that is not a family run."""
    checkpoint = runs.resolve_checkpoint(run)
    state = runs.load_checkpoint(checkpoint)
    family = state.get("config", {}).get("family")
    if not family:
        raise SegmentyError(f"{run}: not a family run (train one with: segmenty train --family NAME)")
    folder = runs.DETECTORS_DIR / family
    folder.mkdir(parents=True, exist_ok=True)
    # The int8 copy is the old network's until quantized again (jobs.quantize_detector, the
    # next step): gone now, the CPU runs the new float model should that step fail.
    (folder / runs.SHIPPED_INT8).unlink(missing_ok=True)
    kept = {k: state[k] for k in ("model_name", "mask_names", "pattern", "size", "config", "step") if k in state}
    runs.save_checkpoint(folder / runs.SHIPPED_CHECKPOINT, {**kept, "model": state.get("ema") or state["model"]})
    export_onnx(runs.load_model(folder / runs.SHIPPED_CHECKPOINT, "cpu"), folder / runs.SHIPPED_ONNX)
    atomic_write_text(folder / runs.CONFIG_FILE, json.dumps(state["config"], indent=2) + "\n")
    return folder
