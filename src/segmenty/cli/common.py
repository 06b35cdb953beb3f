"""Small helpers shared by the command modules: option types that validate early."""
from __future__ import annotations

import argparse

class HELP(argparse.ArgumentDefaultsHelpFormatter):
    """Show every option's default, except where there is none (None or a bare flag)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default is None or action.default is False or "default" in (action.help or ""):
            return action.help or ""
        return super()._get_help_string(action)


def _number(cast, kind: str, valid, requirement: str):
    """An argparse type: parse with `cast`, then check `valid(value)` (message: `requirement`)."""
    def parse(text: str):
        try:
            v = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not {kind}") from None
        if not valid(v):
            raise argparse.ArgumentTypeError(f"{v} must be {requirement}")
        return v
    return parse


positive_int = _number(int, "a whole number", lambda v: v > 0, "a positive whole number")
non_negative_int = _number(int, "a whole number", lambda v: v >= 0, "0 or more")
positive_float = _number(float, "a number", lambda v: v > 0, "a positive number")
fraction = _number(float, "a number", lambda v: 0 <= v <= 1, "between 0 and 1")


def add_command(sub, name: str, help: str, func) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help=help, description=help, formatter_class=HELP)
    p.set_defaults(func=func)
    return p
