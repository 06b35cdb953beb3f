"""The run folder: what training writes and everything after it reads, as one typed object.

A run folder holds ``config.json`` (the resolved TrainConfig, the full recipe included),
``model.pt`` (latest) and ``best.pt`` checkpoints, ``log.csv`` (a row per validation),
optional TensorBoard events, ``snapshots/`` of real photos and, once evaluated, ``eval/``.
`RunWriter` is the writing side (training, rank 0); `Run` the reading side (predict,
evaluate, report, the CLI): its config, its model, the dataset it trained on and its
evaluation results. This module sits below both train and predict, so neither imports the
other.

A checkpoint is a plain dict of tensors and plain values, written atomically and loaded with
``torch.load(weights_only=True)``, so a file carrying a pickled object that would run code is
refused before anything in it executes.
"""
from __future__ import annotations

import csv
import json
import os
import pickle
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from typing import TYPE_CHECKING

from .errors import SegmentyError
from .io import IMAGE_SUFFIXES, VIDEO_SUFFIXES, atomic_path, atomic_write_text
from .scores import EVAL_FILE, EvalResult

if TYPE_CHECKING:  # torch loads where a checkpoint is read or written: prediction from an
    import torch   # exported ONNX model never pays its ~1.5 s import
    import torch.nn as nn

FORMAT = "segmenty-checkpoint-1"
# How a checkpoint file starts: torch.save writes a zip archive, older PyTorch a pickle
# (protocol 2 or later); other files are no checkpoint.
CHECKPOINT_STARTS = (b"PK\x03\x04", b"\x80")
CONFIG_FILE = "config.json"
LOG_FILE = "log.csv"
LATEST_CHECKPOINT, BEST_CHECKPOINT = "model.pt", "best.pt"  # what a kill loses least / the best validation
RUN_FILES = (CONFIG_FILE, LOG_FILE, LATEST_CHECKPOINT, BEST_CHECKPOINT)  # a run folder holds one at least
# A user pattern's folder is copied into its run: the run then holds the pattern its network
# learned, found from wherever the run (or its ONNX export beside it) is opened and whatever
# became of the folder named at training ('logo' recorded, the run used from another folder).
PATTERN_COPY = "pattern"
# The working size of a checkpoint or ONNX file that does not record one (before sizes were
# recorded, every run trained at 256 px).
FALLBACK_SIZE = 256


def save_checkpoint(path: str | os.PathLike, state: dict) -> None:
    """Write `state` (tensors and plain values) atomically: never a half-written file."""
    import torch

    state = {"format": FORMAT, **state}
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def resolve_checkpoint(path: str | os.PathLike) -> Path:
    """A .pt file as given, or the best (else latest) checkpoint of a run folder."""
    path = Path(path)
    if path.is_dir():
        for name in (BEST_CHECKPOINT, LATEST_CHECKPOINT):
            if (path / name).is_file():
                return path / name
        raise SegmentyError(f"{path}: run folder has no best.pt or model.pt (is training finished "
                            "or started?)")
    if not path.exists():
        raise SegmentyError(f"{path}: no such run folder or checkpoint file")
    return path


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint dict; refuse anything that is not a segmenty checkpoint of plain data."""
    import torch

    path = resolve_checkpoint(path)
    try:
        if path.stat().st_size == 0:
            raise SegmentyError(f"{path}: empty file (0 bytes), not a segmenty checkpoint")
        with open(path, "rb") as f:
            if not f.read(4).startswith(CHECKPOINT_STARTS):
                raise _not_a_checkpoint(path)  # (torch.load's error may call a photo unsafe Python objects)
        state = torch.load(path, map_location=map_location, weights_only=True)
    except SegmentyError:
        raise
    except PermissionError:
        raise SegmentyError(f"{path}: permission denied") from None
    except IsADirectoryError:
        raise SegmentyError(f"{path}: is a folder, expected a run folder or .pt checkpoint") from None
    except Exception as exc:  # truncated zip, pickled code objects, garbage...
        text = str(exc)
        if "weights_only" in text or "Unsupported global" in text:
            reason = "it holds Python objects other than tensors and plain values (refused unloaded)"
        else:
            reason = "the file is truncated or not a checkpoint at all"
            if not (isinstance(exc, (EOFError, pickle.UnpicklingError)) or "zip archive" in text):
                reason += f" ({type(exc).__name__}: {' '.join(text.split())[:120]})"
        raise SegmentyError(f"{path}: not a readable segmenty checkpoint: {reason}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT or "model" not in state:
        raise SegmentyError(f"{path}: not a segmenty checkpoint (no '{FORMAT}' format marker)")
    return state


def _not_a_checkpoint(path: Path) -> SegmentyError:
    """The error for a file that does not start as a checkpoint does (CHECKPOINT_STARTS)."""
    suffix = path.suffix.lower()
    what = "an image" if suffix in IMAGE_SUFFIXES else "a video" if suffix in VIDEO_SUFFIXES else None
    if what:
        return SegmentyError(f"{path}: {what}, not a segmenty checkpoint (a run folder or .pt file is expected)")
    return SegmentyError(f"{path}: not a readable segmenty checkpoint: the file is truncated or not a checkpoint "
                         "at all")


@dataclass
class LoadedModel:
    """A network ready to predict, with what it was trained for."""

    model: nn.Module
    model_name: str
    mask_names: list[str]
    pattern_spec: str
    size: int
    config: dict = field(default_factory=dict)
    step: int = 0
    path: Path | None = None

    @property
    def stride(self) -> int:
        return int(self.model.stride)

    @property
    def own_pattern_spec(self) -> str:
        """The spec its pattern is built from: a user pattern's copy in the checkpoint's run
        folder when it has one (`run_pattern_spec`), else the spec as recorded."""
        return run_pattern_spec(self.pattern_spec, self.path.parent if self.path else None)


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu") -> LoadedModel:
    """Load a run folder or checkpoint as an eval-mode model (EMA weights when present)."""
    from .models import build_model

    file = resolve_checkpoint(path)
    state = load_checkpoint(file)
    try:
        model = build_model(state["model_name"], len(state["mask_names"]))
    except SegmentyError as exc:
        raise SegmentyError(f"{file}: {exc}") from None
    except (KeyError, TypeError) as exc:
        raise SegmentyError(f"{file}: not a segmenty checkpoint (no model name or mask names: {exc})") from None
    weights = state.get("ema") or state["model"]
    problem = state_dict_mismatch(model, weights)
    if problem:
        raise SegmentyError(f"{file}: weights do not fit model '{state['model_name']}' ({problem}); "
                            "the checkpoint was made for another model or is damaged")
    model.load_state_dict(weights)
    model.eval().to(device)
    return LoadedModel(model, state["model_name"], list(state["mask_names"]), state.get("pattern", ""),
                       int(state.get("size", FALLBACK_SIZE)), dict(state.get("config", {})),
                       int(state.get("step", 0)), file)


def state_dict_mismatch(model: nn.Module, weights) -> str:
    """What keeps `weights` from loading into `model`, in a few words ('' when they fit)."""
    import torch

    if not isinstance(weights, dict):
        return f"weights are a {type(weights).__name__}, not a state dict"
    ours = model.state_dict()
    missing = [k for k in ours if k not in weights]
    extra = [k for k in weights if k not in ours]
    shape = [k for k in ours if k in weights and (not isinstance(weights[k], torch.Tensor)
                                                   or weights[k].shape != ours[k].shape)]
    parts = [f"{len(v)} {what}, e.g. {v[0]}" for v, what in ((missing, "missing"), (extra, "unexpected"),
                                                             (shape, "of another shape")) if v]
    return "; ".join(parts)


def names_pattern_folder(spec: str) -> bool:
    """A recorded spec names a user pattern's folder, not a built-in kind (`chessboard:10x7`)."""
    from .patterns import PATTERN_KINDS

    return bool(spec) and spec.split(":")[0] not in PATTERN_KINDS


def run_pattern_spec(spec: str, folder: str | os.PathLike | None) -> str:
    """The pattern a model recorded as `spec` looks for, its files in `folder`: a user pattern's
    copy there (PATTERN_COPY) when it has one, else `spec` as recorded."""
    if folder is not None and names_pattern_folder(spec) and (Path(folder) / PATTERN_COPY).is_dir():
        return str((Path(folder) / PATTERN_COPY).resolve())
    return spec


def copy_pattern(spec: str, run: Path) -> None:
    """A user pattern's folder copied into `run` (PATTERN_COPY), once: a resumed run keeps the
    pattern it first learned. Written under a temporary name, then renamed."""
    source, target = Path(spec), run / PATTERN_COPY
    if not names_pattern_folder(spec) or not source.is_dir() or target.exists() \
            or source.resolve() == target.resolve():
        return
    temporary = run / f".{PATTERN_COPY}.{os.getpid()}.tmp"
    shutil.rmtree(temporary, ignore_errors=True)
    shutil.copytree(source, temporary, ignore=shutil.ignore_patterns(".*"))
    os.replace(temporary, target)


class Run:
    """A run folder, read: its configuration, its model, the dataset it trained on and its
    evaluation results. `Run(path)` checks only that the folder exists; what is missing is
    reported by the method that needs it."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if not self.path.is_dir():
            raise SegmentyError(f"{self.path}: no such run folder")
        self._config: dict | None = None

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    def check_is_run(self) -> "Run":
        """This Run, when its folder holds something training writes; else a one-line error
        saying what a run folder holds (a folder of photos is no run to report on)."""
        if not any((self.path / name).is_file() for name in RUN_FILES):
            raise SegmentyError(f"{self.path}: not a training run folder (a run holds {', '.join(RUN_FILES)}, "
                                "as 'segmenty train --out RUN' writes them)")
        return self

    def __fspath__(self) -> str:  # a Run goes wherever a run folder's path does
        return str(self.path)

    @property
    def config(self) -> dict:
        """config.json ({} when the run has none yet); a damaged file is a one-line error."""
        if self._config is None:
            path = self.path / CONFIG_FILE
            try:
                data = json.loads(path.read_text()) if path.is_file() else {}
            except (OSError, ValueError) as exc:
                raise SegmentyError(f"{path}: not readable JSON ({exc})") from None
            self._config = data if isinstance(data, dict) else {}
        return self._config

    @property
    def pattern_spec(self) -> str:
        return run_pattern_spec(str(self.config.get("pattern", "")), self.path)

    @property
    def size(self) -> int:
        return int(self.config.get("size", FALLBACK_SIZE))

    def checkpoint(self) -> Path:
        """best.pt, else model.pt."""
        return resolve_checkpoint(self.path)

    def load(self, device: str | torch.device = "cpu") -> LoadedModel:
        """The network, ready to predict (EMA weights when present)."""
        return load_model(self.path, device)

    def recipe(self):
        """The synthesis recipe the run trained on: config.json's full recipe, or for runs made
        before it was recorded, the named preset as it is today."""
        from .synth.recipe import recorded_recipe

        return recorded_recipe(self.config.get("recipe_steps"), str(self.config.get("recipe", "default")))

    def dataset(self, seed: int | None = None):
        """The SyntheticDataset the run trained on (pattern, size, recipe, backgrounds, seed)."""
        from .synth import SyntheticDataset

        if not self.pattern_spec:
            raise SegmentyError(f"{self.path / CONFIG_FILE}: names no pattern; cannot make its training scenes")
        backgrounds = self.config.get("backgrounds")
        if backgrounds is not None and not Path(backgrounds).is_dir():
            backgrounds = None  # the run moved to another machine: built-in backgrounds only
        return SyntheticDataset(self.pattern_spec, size=self.size,
                                seed=int(self.config.get("seed", 0)) if seed is None else seed,
                                recipe=self.recipe(), backgrounds=backgrounds)

    def eval_dir(self, name: str = "eval") -> Path:
        return self.path / name

    def eval_result(self, name: str = "eval") -> EvalResult | None:
        """The scores `segmenty evaluate` wrote into RUN/<name>/, or None before evaluation."""
        path = self.eval_dir(name) / EVAL_FILE
        return EvalResult.from_json(path) if path.is_file() else None


class RunWriter:
    """Everything a training run writes, by rank 0 only (on other ranks every method does
    nothing): config.json, model.pt (latest) and best.pt, both atomic; log.csv; TensorBoard
    events when tensorboard is installed."""

    def __init__(self, path: str | os.PathLike, config: dict, enabled: bool = True):
        self.path, self.enabled = Path(path), enabled
        self.tensorboard = None
        if not enabled:
            return
        self.path.mkdir(parents=True, exist_ok=True)
        copy_pattern(str(config.get("pattern") or ""), self.path)
        atomic_write_text(self.path / CONFIG_FILE, json.dumps(config, indent=2) + "\n")
        self.tensorboard = _tensorboard(self.path)

    def save(self, state: dict, best: bool = False) -> None:
        if self.enabled:
            save_checkpoint(self.path / (BEST_CHECKPOINT if best else LATEST_CHECKPOINT), state)

    def log(self, row: dict) -> None:
        """One row per validation, header first; flushed and synced each time so a kill loses
        nothing already logged."""
        if not self.enabled:
            return
        path = self.path / LOG_FILE
        new = not path.exists()
        with open(path, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(row))
            if new:
                w.writeheader()
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
            f.flush()
            os.fsync(f.fileno())
        if self.tensorboard is not None:
            for k, v in row.items():
                if k != "step":
                    self.tensorboard.add_scalar(k, v, row["step"])
            self.tensorboard.flush()

    def close(self) -> None:
        if self.tensorboard is not None:
            self.tensorboard.close()


def _tensorboard(out: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard not installed: log.csv is the record
        return None
    return SummaryWriter(str(out))


# ---------------------------------------------------------------------------- shipped detectors
# The detectors that ship inside the package, one per board family, trained once, long:
# ``assets/detectors/<family>/`` holds ``model.pt`` (the EMA weights, plain data), its
# ``model.onnx`` (no torch import, no export on a user's machine), ``model.int8.onnx`` (its
# int8 copy, what the CPU runs where it is there: jobs.quantize_detector) and ``config.json``
# (the resolved training config: reproducible). A built-in board's spec finds its family's
# detector; the spec itself gives the layout the points' identities are read on.
DETECTORS_DIR = Path(__file__).resolve().parent / "assets" / "detectors"
SHIPPED_CHECKPOINT, SHIPPED_ONNX, SHIPPED_INT8 = LATEST_CHECKPOINT, "model.onnx", "model.int8.onnx"


def detector_folder(spec: str) -> Path | None:
    """The shipped detector's folder for a pattern spec (``chessboard:8x6``) or a family name
    (``boards``), or None when no family covers it or its files are not in this installation."""
    from .patterns.family import FAMILIES, family_for_kind

    family = FAMILIES.get(spec) or family_for_kind(spec.split(":")[0])
    if family is None:
        return None
    folder = DETECTORS_DIR / family.name
    return folder if (folder / SHIPPED_ONNX).is_file() and (folder / SHIPPED_CHECKPOINT).is_file() else None


def shipped_kinds() -> list[str]:
    """The pattern kinds a shipped detector finds in this installation."""
    from .patterns.family import FAMILIES

    return [kind for name, f in FAMILIES.items() if detector_folder(name) for kind in f.kinds]
