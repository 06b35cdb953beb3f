"""Small helpers shared by the command modules: option types that validate early."""
from __future__ import annotations

import argparse
import math

class HELP(argparse.ArgumentDefaultsHelpFormatter):
    """Show every option's default, except where there is none (None) or the option is a bare
    flag (--rectify, --no-refine: its default is its absence, whatever the stored value)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default is None or action.nargs == 0 or "default" in (action.help or ""):
            return action.help or ""
        return super()._get_help_string(action)


def _number(cast, kind: str, valid, requirement: str):
    """An argparse type: parse with `cast`, then check `valid(value)` (message: `requirement`)."""
    def parse(text: str):
        try:
            v = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not {kind}") from None
        if not math.isfinite(v):  # inf passes `v > 0`: a budget or a period that never ends
            raise argparse.ArgumentTypeError(f"'{text}' is not a finite number")
        if not valid(v):
            raise argparse.ArgumentTypeError(f"{v} must be {requirement}")
        return v
    return parse


positive_int = _number(int, "a whole number", lambda v: v > 0, "a positive whole number")
non_negative_int = _number(int, "a whole number", lambda v: v >= 0, "0 or more")
positive_float = _number(float, "a number", lambda v: v > 0, "a positive number")
fraction = _number(float, "a number", lambda v: 0 <= v <= 1, "between 0 and 1")


def pixels(high: int, low: int = 32):
    """An argparse type for a --size in pixels, from `low` (the network's coarsest stride) to
    `high`: a size past what memory holds is refused here in one line, not by the system
    killing the process or an allocation failing deep inside."""
    return _number(int, "a whole number", lambda v: low <= v <= high, f"between {low} and {high} pixels")


# The largest working resolution of a prediction: a 12-megapixel photo's own long side (its
# finest look) is about this.
MAX_PREDICT_SIZE = 4096
# The largest training scene: a batch of them, the network's activations and their gradients
# must fit a machine's memory.
MAX_TRAIN_SIZE = 1024
# The largest synthetic sample written to disk (made one at a time).
MAX_SAMPLE_SIZE = 4096


def whole_number_at_least(minimum: int, why: str):
    """An argparse type: a whole number of at least `minimum` (`why`: what needs that many)."""
    return _number(int, "a whole number", lambda v: v >= minimum, f"at least {minimum} ({why})")


def device_name(text: str) -> str:
    """An argparse type for --device: the grammar of segmenty.hardware (presence is checked
    when the device is used)."""
    from ..errors import UsageError
    from ..hardware import check_device_name
    try:
        return check_device_name(text)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc).split(": ", 1)[1]) from None


def add_command(sub, name: str, help: str, func) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help=help, description=help, formatter_class=HELP)
    p.set_defaults(func=func)
    return p

