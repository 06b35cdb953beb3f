"""Small helpers shared by the command modules: option types that validate early."""
from __future__ import annotations

import argparse

class HELP(argparse.ArgumentDefaultsHelpFormatter):
    """Show every option's default, except where there is none (None or a bare flag)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default is None or action.default is False or "default" in (action.help or ""):
            return action.help or ""
        return super()._get_help_string(action)


def positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"{v} must be a positive whole number")
    return v


def non_negative_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"{v} must be 0 or more")
    return v


def positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if not v > 0:
        raise argparse.ArgumentTypeError(f"{v} must be a positive number")
    return v


def fraction(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if not 0 <= v <= 1:
        raise argparse.ArgumentTypeError(f"{v} must be between 0 and 1")
    return v


def add_command(sub, name: str, help: str, func) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help=help, description=help, formatter_class=HELP)
    p.set_defaults(func=func)
    return p
