"""`load_pattern`: a spec string to a Pattern, from the registry of built-in kinds or a folder.

Above base.py (the Pattern type and the registry) and folder.py (user patterns), so that
neither of those imports the other.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import UsageError, closest_name, unknown_name
from .base import DEFAULT_DPI, MAX_DPI, MIN_DPI, PATTERN_KINDS, Pattern
from .folder import load_folder_pattern, pattern_folders_in


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
    kind and the user's own fields (``chessbord:10x7`` -> try ``chessboard:10x7``). A bare
    name may as well be a mistyped folder: its error says it is neither and suggests the
    closest kind and the closest pattern folder in the current directory."""
    name, *args = spec.split(":")
    if name in PATTERN_KINDS:
        return name
    kinds = sorted(PATTERN_KINDS)
    close = closest_name(name, kinds)
    if args:
        error = unknown_name("pattern", name, kinds)
        raise UsageError(f"{error}; try '{':'.join([close, *args])}'") if close else error
    folder = closest_name(name, pattern_folders_in(Path.cwd()))
    guesses = [f"'{close}'"] * bool(close) + [f"the folder '{folder}'"] * bool(folder)
    hint = f"; did you mean {' or '.join(guesses)}?" if guesses else ""
    raise UsageError(f"unknown pattern '{name}': neither a pattern kind ({', '.join(kinds)}) nor a "
                     f"pattern folder (none of that name here){hint}")


def looks_like_path(spec: str) -> bool:
    """A spec names a pattern folder when it exists or is written like a path."""
    if "/" in spec or "\\" in spec or spec.startswith("."):
        return True
    try:
        return Path(spec).exists()
    except (OSError, ValueError):  # a NUL byte or a name too long for the file system
        return False
