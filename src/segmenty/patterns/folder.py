"""User patterns from a folder (TODO: patterns helper)."""
from __future__ import annotations

from pathlib import Path

from ..errors import SegmentyError
from .base import Pattern


def load_folder_pattern(path: Path, dpi: float | None) -> Pattern:
    raise SegmentyError(f"{path}: folder patterns are not implemented yet")
