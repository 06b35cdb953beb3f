"""The command line: a thin layer over the Python API.

Each command group lives in its own module with a ``register(subparsers)`` function that adds
its parser and sets ``func``; this module only dispatches and turns SegmentyError into one
line on stderr (exit 1 for data errors, 2 for usage errors). ``--debug`` shows tracebacks.
"""
from __future__ import annotations

import argparse
import sys
import warnings

from ..errors import SegmentyError
from . import patterns as _patterns, synth as _synth, train as _train, predict as _predict
from . import evaluate as _evaluate, report as _report, demo as _demo
from . import calibrate as _calibrate

COMMAND_MODULES = (_demo, _patterns, _synth, _train, _predict, _evaluate, _report, _calibrate)


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors in one line with exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: {message}\n")  # prog is "segmenty" or "segmenty COMMAND"
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="segmenty", description="Find a printed pattern in real photos with a "
                     "segmentation network trained on synthetic scenes only.")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    # Library warnings (e.g. a skipped background) are printed as one plain line each, once:
    # a folder read twice (validation and training scenes) warns about each bad file once.
    shown: set[str] = set()

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        text = " ".join(str(message).split())
        if text not in shown:
            shown.add(text)
            sys.stderr.write(f"segmenty: warning: {text}\n")

    with warnings.catch_warnings():
        warnings.simplefilter("always", UserWarning)
        warnings.showwarning = show
        try:
            return int(args.func(args) or 0)
        except SegmentyError as exc:
            if args.debug:
                raise
            sys.stderr.write(f"segmenty: {' '.join(str(exc).split())}\n")
            return exc.exit_code
        except OSError as exc:  # the system refused a read or write: full disk, read-only folder...
            if args.debug:
                raise
            where = f"{exc.filename}: " if exc.filename else ""
            sys.stderr.write(f"segmenty: {where}{exc.strerror or exc} (run with --debug for details)\n")
            return 1
        except MemoryError as exc:  # an allocation this machine cannot hold (numpy says how much)
            if args.debug:
                raise
            detail = " ".join(str(exc).split())
            sys.stderr.write(f"segmenty: out of memory{': ' + detail if detail else ''} "
                             "(a smaller --size, --batch or --workers needs less)\n")
            return 1
        except KeyboardInterrupt as exc:
            if args.debug:
                raise
            kept = " ".join(str(exc).split())  # what a command kept of its work, when it says
            sys.stderr.write(f"segmenty: interrupted{': ' + kept if kept else ''}\n")
            return 130


def run() -> None:
    sys.exit(main())
