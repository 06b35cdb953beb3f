"""Every training option in one small dataclass, and its resolution into a complete config.

`resolve_config` validates each option (one-line errors naming it) and fills in what the
user left to the machine (workers, threads, the run folder, the full recipe); config.json in
the run folder is the resolved config, so a run always says exactly what it trained on.
"""
from __future__ import annotations

import math
import os
import re
import warnings
from dataclasses import dataclass, fields, replace
from pathlib import Path

from ..errors import SegmentyError, UsageError
from ..hardware import available_cores, check_device_name, resolve_precision
from ..models.presets import DEFAULT_MODEL, MODELS
from ..patterns import Pattern, load_pattern
from ..patterns.family import PatternFamily, load_family
from ..runs import LATEST_CHECKPOINT, load_checkpoint, names_pattern_folder, run_pattern_spec

# The validation scenes come from their own seed, the same for every run, so runs (and presets)
# are compared on the same 64 scenes and never on scenes they trained on.
VAL_SEED = 1_000_003
DEFAULT_MINUTES = 10.0


@dataclass
class TrainConfig:
    """Every training option; config.json in the run folder is this, resolved."""

    pattern: str = "segmenty"          # pattern spec (stored in its canonical form)
    # or a family of boards (patterns.family.FAMILIES, e.g. "boards"): a detector for every
    # board of those kinds; `pattern` then records the family's spec for snapshots and reports
    family: str | None = None
    backgrounds: str | None = None     # folder of background photos added to the built-in textures
    size: int | None = None            # training scenes are size×size pixels; default_size()
    model: str = DEFAULT_MODEL         # preset name (`segmenty models`)
    batch: int = 16                    # scenes per step (per process under torchrun)
    minutes: float | None = None       # training-time budget; default 10 when steps is not set
    steps: int | None = None           # or a number of optimizer steps
    lr: float = 2e-3                   # peak learning rate (AdamW)
    weight_decay: float = 1e-4
    warmup: float = 0.03               # fraction of the run spent warming the learning rate up
    min_lr: float = 0.05               # final learning rate, as a fraction of lr (cosine decay)
    # "bce-dice" or "balanced" (the original's). BCE+Dice is the default by measurement: on the
    # real photos it gave IoU 0.90 vs 0.83 and 1 vs 6 false detections of 8 (benchmarks/README.md).
    loss: str = "bce-dice"
    ema_decay: float = 0.997           # EMA of weights; warm-up makes it useful from the start
    out: str | None = None             # run folder; default runs/<pattern>-<model>
    wild: str | None = None            # folder of real photos for snapshots at each validation
    resume: bool = False               # continue the run in `out` from its model.pt
    init: str | None = None            # start from these weights: a run, checkpoint or shipped family ("boards"),
                                       # or "none" (FRESH_INIT); None: default_init()
    device: str = "auto"               # auto, cpu, cuda or cuda:N
    precision: str = "auto"            # auto (bf16 where the device computes it natively), fp32, bf16
    seed: int = 0                      # training scenes and initial weights
    recipe: str = "default"            # synthesis recipe by name (segmenty.synth.RECIPES)
    # Every step of the recipe with its ranges (Recipe.to_dict), filled in from `recipe` when
    # not given: config.json keeps what the run trained on after the defaults change.
    recipe_steps: dict | None = None
    workers: int | None = None         # synthesis processes (0: a thread) per training process; default_workers()
    threads: int | None = None         # torch threads on a CPU; default_threads()
    val_count: int = 64                # fixed synthetic validation scenes
    val_every: float = 60.0            # seconds of training between validations
    checkpoint_every: float = 60.0     # wall seconds between checkpoints (the most a kill loses)


def default_size(cuda: bool) -> int:
    """Scene size when --size is not given. On a CPU, 160 px scenes train ~2.5x more samples
    per minute than 256 px ones, and in a 10-minute budget that beat the finer edges on real
    photos (benchmarks/README.md: 0.93-0.95 vs 0.78 IoU); a GPU affords 256."""
    return 256 if cuda else 160


def default_workers(cuda: bool, local_procs: int = 1) -> int:
    """Synthesis processes per training process when --workers is not given (0: synthesis in
    a background thread of the training process).

    On a GPU synthesis is the bottleneck: use the cores. On a CPU a sample costs ~2 ms to
    synthesise at 160 px and ~7-10 core-ms to train, so synthesis needs about a fifth of the
    training's CPU: on up to 3 cores a thread beside the network's threads does it (measured
    on 2 cores, bf16, 160 px: 119 samples/s, against 90 with 1 worker process and 1 training
    thread, and 104 synthesising between steps; benchmarks/README.md); with more cores, a
    worker process per 4 cores.
    """
    cores = max(1, available_cores() // local_procs)
    return max(1, min(8, cores - 1)) if cuda else cores // 4


def default_threads(workers: int, local_procs: int = 1) -> int:
    """Training threads on a CPU: the cores the synthesis worker processes leave (a synthesis
    thread shares the training's cores: it uses a fifth of one)."""
    return max(1, available_cores() // local_procs - workers)


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise UsageError(message)


def _positive(value: float) -> bool:
    """A positive, finite number (inf would be a budget or a period that never ends)."""
    return value > 0 and math.isfinite(value)


# A user's own pattern (a folder) starts from the shipped board detector's weights, when its
# model is that detector's: a printed logo reached validation IoU 0.71 in a minute, 0.79 in
# three, from them, against 0.38 and 0.52 from fresh weights (benchmarks/README.md).
DEFAULT_INIT = "boards"
FRESH_INIT = "none"


def default_init(c: TrainConfig) -> str | None:
    """The weights a run starts from when --init is not given: the shipped detector's
    (DEFAULT_INIT) for a pattern folder trained with that detector's model; else fresh."""
    from ..runs import Run, detector_folder

    folder = detector_folder(DEFAULT_INIT)
    if c.family or not names_pattern_folder(c.pattern or "") or folder is None:
        return None
    return DEFAULT_INIT if Run(folder).config.get("model") == c.model else None


def resolve_config(config: TrainConfig) -> tuple[TrainConfig, Pattern | PatternFamily]:
    """Validate every option (one-line errors naming it) and fill in the defaults."""
    import torch

    from ..models import build_model
    from ..synth.recipe import recorded_recipe
    from .losses import get_loss

    c = replace(config)
    _check(c.size is None or c.size > 0, f"--size {c.size}: must be a positive number of pixels")
    _check(c.batch > 0, f"--batch {c.batch}: must be a positive whole number")
    _check(c.steps is None or c.minutes is None, "give --minutes or --steps, not both")
    _check(c.steps is None or c.steps > 0, f"--steps {c.steps}: must be a positive whole number")
    _check(c.minutes is None or _positive(c.minutes), f"--minutes {c.minutes}: must be a positive number")
    _check(_positive(c.lr), f"--lr {c.lr}: must be a positive number")
    _check(0 <= c.warmup < 1 and 0 <= c.min_lr <= 1, "warmup and min_lr are fractions in [0, 1)")
    _check(0 <= c.ema_decay < 1, f"ema_decay {c.ema_decay}: must be in [0, 1)")
    _check(c.val_count > 0, f"--val-count {c.val_count}: must be a positive whole number")
    _check(_positive(c.val_every) and _positive(c.checkpoint_every),
           "--val-every and --checkpoint-every must be positive numbers of seconds")
    check_device_name(c.device)
    _check(c.workers is None or c.workers >= 0, f"--workers {c.workers}: must be 0 or more")
    _check(c.threads is None or c.threads > 0, f"--threads {c.threads}: must be a positive whole number")
    _check(c.seed != VAL_SEED, f"--seed {c.seed} is reserved for the validation scenes")
    get_loss(c.loss)
    recipe = recorded_recipe(c.recipe_steps, c.recipe)
    c.recipe_steps = recipe.to_dict()
    if c.model not in MODELS:
        build_model(c.model, 1)  # raises the "unknown model ... did you mean" error
    local_procs = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))  # set by torchrun
    cuda = c.device.startswith("cuda") or (c.device == "auto" and torch.cuda.is_available())
    if c.size is None:
        c.size = default_size(cuda)
    c.precision = resolve_precision(c.precision, torch.device("cuda" if cuda else "cpu"))
    stride = MODELS[c.model].stride
    if c.size % stride:
        lo = max(stride, c.size // stride * stride)
        raise UsageError(f"--size {c.size}: model '{c.model}' takes multiples of {stride} "
                         f"(e.g. {lo} or {lo + stride})")
    copy = resumed_pattern_copy(c)
    pattern = load_family(c.family) if c.family else load_pattern(copy or c.pattern)
    # A resumed run records its pattern as it first did (a folder's spec as load_pattern writes
    # it): the checkpoint's, compared on restoring; the copy is found again from it.
    c.pattern = str(Path(c.pattern)) if copy else pattern.spec
    # Recorded as chosen (config.json): the same config trains the same way again.
    c.init = c.init if c.init is not None else default_init(c) or FRESH_INIT
    if c.steps is None and c.minutes is None:
        c.minutes = DEFAULT_MINUTES
    if c.workers is None:
        c.workers = default_workers(cuda, local_procs)
    if c.threads is None:
        c.threads = default_threads(c.workers, local_procs)
    if c.out is None:
        name = Path(c.pattern).name if os.sep in c.pattern else c.pattern
        name = f"family-{c.family}" if c.family else name
        c.out = str(Path("runs") / f"{re.sub(r'[^A-Za-z0-9._-]+', '-', name)}-{c.model}")
    out = Path(c.out)
    if out.exists() and not out.is_dir():
        raise SegmentyError(f"--out {out}: exists and is a file, expected a run folder")
    if not c.resume and (out / LATEST_CHECKPOINT).exists():
        raise SegmentyError(f"--out {out}: already holds a run (model.pt); add --resume to continue "
                            "it or choose another --out")
    for option, folder in (("--wild", c.wild), ("--backgrounds", c.backgrounds)):
        if folder is not None and not Path(folder).exists():
            raise SegmentyError(f"{option} {folder}: no such folder")
    return c, pattern


def resumed_pattern_copy(c: TrainConfig) -> str | None:
    """The pattern a resumed run goes on learning: its own copy of its pattern folder
    (runs.PATTERN_COPY), not the folder its spec names from here, which may be missing (resumed
    from another folder) or changed since (a mask added: the weights would no longer fit);
    None for a new run, a built-in pattern or a run without a copy."""
    if not (c.resume and c.out and not c.family and names_pattern_folder(c.pattern)
            and (Path(c.out) / LATEST_CHECKPOINT).is_file()):
        return None
    copy = run_pattern_spec(c.pattern, c.out)
    return copy if copy != c.pattern else None


def config_for_resume(given: dict) -> TrainConfig:
    """The configuration a `--resume` continues with: the run's own, overridden by `given`.

    Only the options a user actually gave override, so `--resume --out RUN` alone continues
    RUN exactly (its recorded recipe too); a given --minutes (or --steps) replaces the run's
    budget of either kind, and a given --recipe replaces its recorded steps.
    """
    out = given.get("out") or TrainConfig().out
    if out is None or not (Path(out) / LATEST_CHECKPOINT).is_file():
        # Nothing to continue: a job that always passes --resume starts its run here the first
        # time, saying what to train; without that, a mistyped folder would start a run of the
        # default pattern.
        if not (given.get("pattern") or given.get("family")):
            raise UsageError(f"--resume: {out} holds no run to continue (no {LATEST_CHECKPOINT}); "
                             "check the folder, or give --pattern (or --family) to start a run there")
        if out is not None:
            warnings.warn(f"--resume: {out} has no model.pt yet; starting a new run there")
        return TrainConfig(**given)
    saved = load_checkpoint(Path(out) / LATEST_CHECKPOINT).get("config", {})
    known = {f.name for f in fields(TrainConfig)}
    merged = {k: v for k, v in saved.items() if k in known}
    if "minutes" in given or "steps" in given:
        merged.pop("minutes", None)
        merged.pop("steps", None)
    if "recipe" in given:
        merged.pop("recipe_steps", None)
    merged.update(given)
    return TrainConfig(**merged)
