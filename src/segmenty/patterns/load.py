"""`load_pattern`: a spec string to a Pattern, from the registry of built-in kinds or a folder.

Above base.py (the Pattern type and the registry) and folder.py (user patterns), so that
neither of those imports the other.
"""
from __future__ import annotations

import difflib
from pathlib import Path

from ..errors import UsageError, unknown_name
from .base import DEFAULT_DPI, MAX_DPI, MIN_DPI, PATTERN_KINDS, Pattern
from .folder import load_folder_pattern


def load_pattern(spec: str, dpi: float | None = None) -> Pattern:
    """Build a pattern from a spec string (``segmenty``, ``chessboard:10x7``, a folder path...).

    `dpi` is the rendering resolution of built-in patterns (default 100); a folder pattern
    keeps the resolution of its own files.
    """
    if not spec or not spec.strip():
        raise UsageError("pattern spec is empty (try 'segmenty patterns' for the list)")
    if not spec.isprintable():  # a newline or NUL would break the one-line error messages
        raise UsageError(f"pattern spec {spec!r} contains unprintable characters")
    dpi = DEFAULT_DPI if dpi is None else float(dpi)
    if not MIN_DPI <= dpi <= MAX_DPI:  # also refuses NaN
        raise UsageError(f"--dpi {dpi:g} is out of range ({MIN_DPI:g} to {MAX_DPI:g})")
    if looks_like_path(spec):
        return load_folder_pattern(Path(spec), dpi)
    return PATTERN_KINDS[pattern_kind(spec)].build(spec.split(":")[1:], dpi)


def pattern_kind(spec: str) -> str:
    """The kind a built-in pattern's spec names (``chessboard`` of ``chessboard:10x7``); an
    unknown one is a UsageError listing the kinds, with the whole spec spelt with the closest
    kind and the user's own fields (``chessbord:10x7`` -> try ``chessboard:10x7``)."""
    name, *args = spec.split(":")
    if name in PATTERN_KINDS:
        return name
    error = unknown_name("pattern", name, PATTERN_KINDS)
    close = difflib.get_close_matches(name, list(PATTERN_KINDS), n=1, cutoff=0.5)
    if not (close and args):
        raise error
    raise UsageError(f"{error}; try '{':'.join([close[0], *args])}'")


def looks_like_path(spec: str) -> bool:
    """A spec names a pattern folder when it exists or is written like a path."""
    if "/" in spec or "\\" in spec or spec.startswith("."):
        return True
    try:
        return Path(spec).exists()
    except (OSError, ValueError):  # a NUL byte or a name too long for the file system
        return False
