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
