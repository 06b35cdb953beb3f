"""Stages depend one way: patterns -> synth -> models -> train; models -> predict -> eval ->
report; the CLI (and the whole jobs of segmenty.jobs) on top. Drawing (viz) imports no stage.

Every import inside src/segmenty (top-level or inside a function: a lazy import is still a
dependency) is checked against the table below, so a stage that reaches up fails here."""
import ast
from pathlib import Path

import pytest

import segmenty

PACKAGE = Path(segmenty.__file__).parent
BASE = {"errors", "io", "hardware"}          # plain utilities every stage may use
# module or package -> the segmenty modules it may import (besides itself and BASE)
ALLOWED = {
    "errors": set(), "io": set(), "hardware": set(),
    "viz": set(),
    "scores": set(),
    "patterns": set(),
    "video": set(),                      # video files in and out (OpenCV)
    "classical": {"patterns"},           # OpenCV's classical board detectors
    "synth": {"patterns"},
    "models": set(),
    "runs": {"models", "patterns", "synth", "scores"},
    "train": {"models", "patterns", "synth", "runs", "scores"},
    "predict": {"models", "patterns", "runs", "viz", "scores"},
    "eval": {"patterns", "predict", "runs", "scores", "viz", "classical"},
    "report": {"patterns", "synth", "predict", "eval", "runs", "scores", "viz"},
    "jobs": {"patterns", "synth", "models", "runs", "train", "predict", "eval", "report", "scores", "viz"},
    "cli": {"patterns", "synth", "models", "runs", "train", "predict", "eval", "report", "scores", "viz", "jobs",
            "calib", "classical", "video"},
}
ALLOWED["calib"] = {"patterns", "predict", "runs", "viz", "scores", "classical", "video"}


def component(path: Path) -> str:
    """The top-level part of segmenty a file belongs to: its package or module name."""
    rel = path.relative_to(PACKAGE)
    return rel.parts[0].removesuffix(".py")


def imported_components(path: Path, source: str | None = None) -> set[str]:
    """The parts of segmenty the file at `path` imports (its text, or `source` as if it were there)."""
    tree = ast.parse(path.read_text() if source is None else source)
    package = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if path.name != "__init__.py":
        package = package[:-1]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                parts = base + (node.module.split(".") if node.module else [])
            else:
                parts = (node.module or "").split(".")
            if parts[:1] != ["segmenty"]:
                continue
            if len(parts) == 1:  # from segmenty import x / from .. import x
                found.update(alias.name for alias in node.names)
            else:
                found.add(parts[1])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "segmenty" and len(parts) > 1:
                    found.add(parts[1])
    return found


FILES = sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py" or p.parent != PACKAGE)


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_stages_import_only_the_stages_below_them(path):
    own = component(path)
    assert own in ALLOWED, f"{own}: a new part of segmenty; give it its place in ALLOWED"
    wrong = imported_components(path) - ALLOWED[own] - BASE - {own}
    assert not wrong, f"{path.relative_to(PACKAGE)} ({own}) imports {sorted(wrong)}, which it must not"


def test_the_checker_sees_lazy_and_relative_imports():
    """The rule above can fail: a lazy upward import inside a function is found (a module
    that is never written: nothing is put into src/)."""
    sample = PACKAGE / "predict" / "predictor.py"
    assert "runs" in imported_components(sample)
    probe = "def f():\n    from ..train import loop\n    import segmenty.report.html\n"
    assert imported_components(PACKAGE / "predict" / "_probe.py", probe) >= {"train", "report"}


def test_importing_prediction_does_not_load_training():
    import subprocess
    import sys
    code = ("import sys, segmenty.predict, segmenty.eval.evaluate; "
            "print(sorted(m for m in sys.modules if m.startswith(('segmenty.train', 'segmenty.report'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_cli_starts_without_loading_torch():
    """Building every command's parser (what `segmenty predict ...` does first) loads no
    network library: torch alone costs ~1.5 s of start-up."""
    import subprocess
    import sys
    code = "import sys; from segmenty.cli import build_parser; build_parser(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imported_modules(path: Path, source: str | None = None) -> set[str]:
    """The segmenty modules a file imports, lazily or not (`from .x import y` counts as x, or as
    x.y where y is a module)."""
    tree = ast.parse(path.read_text() if source is None else source)
    name = module_name(path)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            target = (package[:len(package) - node.level + 1] if node.level else []) + \
                (node.module.split(".") if node.module else [])
            for alias in node.names:
                full = ".".join(target + [alias.name])
                found.add(full if full in MODULES else ".".join(target))
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m for m in found if m in MODULES and m != name}


def import_circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Circles of modules importing each other; a package importing its own modules (its
    __init__ re-exporting them) is no circle."""
    circles, done = [], set()

    def walk(module: str, stack: list[str]) -> None:
        for other in sorted(graph.get(module, ())):
            if other in stack:
                circle = stack[stack.index(other):]
                if not any(all(m.startswith(c + ".") or m == c for m in circle) for c in circle):
                    circles.append(circle)
            elif other not in done:
                walk(other, stack + [other])
        done.add(module)

    for module in sorted(graph):
        if module not in done:
            walk(module, [module])
    return circles


def test_no_two_modules_import_each_other():
    """Not even lazily: a lazy import is still a dependency, and a circle means two modules
    are one idea split in two or a stage reaching up."""
    graph = {name: imported_modules(path) for name, path in MODULES.items()}
    assert import_circles(graph) == []


def test_the_circle_check_can_fail():
    probe = "def f():\n    from .predictor import Predictor\n"
    graph = {name: imported_modules(path) for name, path in MODULES.items()}
    graph["segmenty.predict.onnx"] = imported_modules(MODULES["segmenty.predict.onnx"], probe)
    assert any("segmenty.predict.onnx" in c for c in import_circles(graph))
