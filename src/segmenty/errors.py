"""Errors a user can cause. The CLI turns them into one line on stderr and an exit status."""
from __future__ import annotations

import difflib
from collections.abc import Iterable


class SegmentyError(Exception):
    """Bad data or a failed operation the user can fix (exit status 1).

    The message names the file or option and what is wrong, in one line.
    """

    exit_code = 1


class UsageError(SegmentyError):
    """A bad option or argument (exit status 2)."""

    exit_code = 2


def unknown_name(kind: str, name: str, valid: Iterable[str]) -> UsageError:
    """An error for an unknown registry name that lists the valid ones and suggests the closest."""
    valid = sorted(valid)
    close = closest_name(name, valid)
    hint = f"; did you mean '{close}'?" if close else ""
    return UsageError(f"unknown {kind} '{name}'{hint} (valid: {', '.join(valid)})")


def closest_name(name: str, valid: Iterable[str]) -> str | None:
    """The name of `valid` closest to `name` (a likely typo of it), or None when none is close."""
    close = difflib.get_close_matches(name, list(valid), n=1, cutoff=0.5)
    return close[0] if close else None
