"""What a training checkpoint carries beyond the weights, so that a resumed run continues
exactly: the progress counters, every random generator's state, optimizer and EMA."""
from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from ..errors import SegmentyError
from ..runs import SHIPPED_CHECKPOINT, detector_folder, load_checkpoint, state_dict_mismatch
from .config import TrainConfig
from .ema import EMA


@dataclass
class Progress:
    """Counters that a checkpoint carries across a resume."""

    step: int = 0
    elapsed_s: float = 0.0      # training time (validation excluded)
    samples_seen: int = 0       # over all ranks: where the data stream continues
    best_iou: float = -1.0      # best validation IoU of `mask` so far (best.pt)
    val_step: int = -1          # step of the last validation


def rng_state() -> dict:
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    return {"torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "numpy": torch.from_numpy(keys.astype(np.int64)), "numpy_pos": int(pos),
            "numpy_gauss": [int(has_gauss), float(gauss)], "python": random.getstate()}


def set_rng_state(s: dict) -> None:
    torch.set_rng_state(s["torch"])
    if s["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(s["cuda"])
    np.random.set_state(("MT19937", s["numpy"].numpy().astype(np.uint32), s["numpy_pos"],
                         s["numpy_gauss"][0], s["numpy_gauss"][1]))
    random.setstate(tuple(v if not isinstance(v, list) else tuple(v) for v in s["python"]))


def training_state(config: TrainConfig, mask_names: list[str], model: nn.Module, ema: EMA,
                   optimizer: torch.optim.Optimizer, progress: Progress, lr: float, world_size: int,
                   device: torch.device) -> dict:
    """A checkpoint of the run as it is now (runs.save_checkpoint writes it)."""
    return {"model": model.state_dict(), "ema": ema.model.state_dict(), "ema_updates": ema.updates,
            "optimizer": optimizer.state_dict(), "lr": lr, "progress": asdict(progress), "rng": rng_state(),
            "step": progress.step, "elapsed_s": progress.elapsed_s, "samples_seen": progress.samples_seen,
            "model_name": config.model, "mask_names": mask_names, "pattern": config.pattern,
            "size": config.size, "config": asdict(config), "world_size": world_size, "device": device.type}


def restore(path: Path, config: TrainConfig, model: nn.Module, ema: EMA,
            optimizer: torch.optim.Optimizer) -> Progress:
    """Load a run's latest checkpoint into the fresh model, EMA, optimizer and RNGs."""
    ckpt = load_checkpoint(path)  # on the CPU: RNG states must be CPU tensors
    for key, ours, option in (("pattern", config.pattern, "--pattern"), ("model_name", config.model, "--model"),
                              ("size", config.size, "--size")):
        if ckpt.get(key) != ours:
            raise SegmentyError(f"--resume {path.parent}: the run was made with {option} {ckpt.get(key)}, "
                                f"not {ours} (drop {option} or choose another --out)")
    problem = state_dict_mismatch(model, ckpt["model"])
    if problem:
        raise SegmentyError(f"--resume {path}: weights do not fit model '{config.model}' ({problem})")
    try:
        model.load_state_dict(ckpt["model"])
        ema.model.load_state_dict(ckpt["ema"])
        ema.updates = int(ckpt["ema_updates"])
        optimizer.load_state_dict(ckpt["optimizer"])
        set_rng_state(ckpt["rng"])
        return Progress(**ckpt["progress"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:  # e.g. a predict-only checkpoint
        raise SegmentyError(f"--resume {path}: not a training checkpoint, cannot continue from it "
                            f"({type(exc).__name__}: {' '.join(str(exc).split())[:120]})") from None


def init_weights(source: str, model: nn.Module, model_name: str, mask_names: list[str]) -> str:
    """Start `model` from another detector's weights (`--init`): a run folder or checkpoint, or
    the name of a family whose detector ships in the package (``boards``). Output channels are
    matched by mask name (a family detector's ``mask`` and ``corners`` become a chessboard's);
    channels of masks the source lacks keep their fresh initialisation. Returns what was loaded."""
    from ..patterns.family import FAMILIES

    path = Path(source)
    if source in FAMILIES:
        folder = detector_folder(source)
        if folder is None:
            raise SegmentyError(f"--init {source}: no '{source}' detector ships in this installation")
        path = folder / SHIPPED_CHECKPOINT
    ckpt = load_checkpoint(path)
    if ckpt.get("model_name") != model_name:
        raise SegmentyError(f"--init {source}: its model is '{ckpt.get('model_name')}', not '{model_name}' "
                            f"(give --model {ckpt.get('model_name')})")
    theirs = ckpt.get("ema") or ckpt["model"]
    names = list(ckpt.get("mask_names", []))
    ours = model.state_dict()
    rows = [names.index(n) if n in names else None for n in mask_names]
    for key, value in ours.items():
        theirs_value = theirs.get(key)
        if theirs_value is None:
            continue
        # The head's last layer has a row per mask: carried over by name.
        per_mask = (key.startswith("head.") and theirs_value.shape[0] == len(names)
                    and value.shape[0] == len(mask_names) and theirs_value.shape[1:] == value.shape[1:])
        if per_mask and names != mask_names:
            for i, row in enumerate(rows):
                if row is not None:
                    value[i] = theirs_value[row]
        elif theirs_value.shape == value.shape:
            ours[key] = theirs_value
    model.load_state_dict(ours)
    shared = [n for n in mask_names if n in names]
    return f"{path} ({ckpt.get('step', 0)} steps; masks {', '.join(shared) or 'none'} carried over)"
