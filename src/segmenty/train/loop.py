"""The training loop: endless synthetic scenes in, a run folder out.

Read `train()` top to bottom: resolve the options, build model / EMA / optimizer, restore a
checkpoint when resuming, make the fixed validation set, then loop: decide (stop? validate?
checkpoint?), set the learning rate, take a batch, step, update the EMA.

Time is the budget that matters on a CPU, so a `--minutes` run schedules its learning rate by
the fraction of *training* time spent (validation pauses the clock), and a `--steps` run by the
fraction of steps. The data stream is indexed: sample i is made from (seed, i) alone, so a
resumed run continues at index `samples_seen` instead of repeating scenes, and DDP ranks take
disjoint indices.
"""
from __future__ import annotations

import contextlib
import copy
import csv
import json
import math
import os
import random
import re
import signal
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Sampler
from tqdm import tqdm

from ..errors import SegmentyError, UsageError
from ..io import atomic_write_text, list_images, read_images_skipping
from ..models import DEFAULT_MODEL, MODELS, build_model
from ..patterns import Pattern, load_pattern
from .checkpoint import LoadedModel, load_checkpoint, save_checkpoint, state_dict_mismatch
from .distributed import DistInfo, broadcast_from_main, init_distributed, shutdown_distributed, sum_across_ranks
from .losses import get_loss
from .metrics import confusion_counts, mask_metrics, metric_names

# The validation scenes come from their own seed, the same for every run, so runs (and presets)
# are compared on the same 64 scenes and never on scenes they trained on.
VAL_SEED = 1_000_003
DEFAULT_MINUTES = 10.0


@dataclass
class TrainConfig:
    """Every training option; config.json in the run folder is this, resolved."""

    pattern: str = "segmenty"          # pattern spec (stored in its canonical form)
    backgrounds: str | None = None     # folder of background photos added to the built-in ones
    size: int = 256                    # training scenes are size×size pixels
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
    device: str = "auto"               # auto, cpu or cuda
    seed: int = 0                      # training scenes and initial weights
    recipe: str = "default"            # synthesis recipe by name (segmenty.synth.RECIPES)
    workers: int | None = None         # synthesis processes per training process; default_workers()
    threads: int | None = None         # torch threads on a CPU; default_threads()
    val_count: int = 64                # fixed synthetic validation scenes
    val_every: float = 60.0            # seconds of training between validations
    checkpoint_every: float = 60.0     # wall seconds between checkpoints (the most a kill loses)


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def default_workers(cuda: bool, local_procs: int = 1) -> int:
    """Synthesis processes per training process when --workers is not given.

    On a GPU synthesis is the bottleneck: use the cores. On a CPU, training the default preset
    costs about 1.5x synthesising a sample at 256 px (measured: ~58 vs ~25-45 ms on one core),
    so a third of the cores synthesise and the rest train; at least one worker, so synthesis
    overlaps training (2 cores: 1 worker + 1 training thread).
    """
    cores = max(1, available_cores() // local_procs)
    return max(1, min(8, cores - 1) if cuda else cores // 3)


def default_threads(workers: int, local_procs: int = 1) -> int:
    """Training threads on a CPU: the cores the synthesis workers leave (measured on 2 busy
    cores: 2 threads beside a busy worker ran a step ~3x slower than 1, OpenMP threads spin)."""
    return max(1, available_cores() // local_procs - workers)


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise UsageError(message)


def resolve_config(config: TrainConfig) -> tuple[TrainConfig, Pattern]:
    """Validate every option (one-line errors naming it) and fill in the defaults."""
    c = replace(config)
    _check(c.size > 0, f"--size {c.size}: must be a positive number of pixels")
    _check(c.batch > 0, f"--batch {c.batch}: must be a positive whole number")
    _check(c.steps is None or c.minutes is None, "give --minutes or --steps, not both")
    _check(c.steps is None or c.steps > 0, f"--steps {c.steps}: must be a positive whole number")
    _check(c.minutes is None or c.minutes > 0, f"--minutes {c.minutes}: must be a positive number")
    _check(c.lr > 0, f"--lr {c.lr}: must be a positive number")
    _check(0 <= c.warmup < 1 and 0 <= c.min_lr <= 1, "warmup and min_lr are fractions in [0, 1)")
    _check(0 <= c.ema_decay < 1, f"ema_decay {c.ema_decay}: must be in [0, 1)")
    _check(c.val_count > 0, f"--val-count {c.val_count}: must be a positive whole number")
    _check(c.val_every > 0 and c.checkpoint_every > 0,
           "--val-every and --checkpoint-every must be positive numbers of seconds")
    _check(c.device in ("auto", "cpu", "cuda"), f"--device {c.device}: expected auto, cpu or cuda")
    _check(c.workers is None or c.workers >= 0, f"--workers {c.workers}: must be 0 or more")
    _check(c.threads is None or c.threads > 0, f"--threads {c.threads}: must be a positive whole number")
    _check(c.seed != VAL_SEED, f"--seed {c.seed} is reserved for the validation scenes")
    get_loss(c.loss)
    from ..synth import recipe_by_name
    recipe_by_name(c.recipe)  # raises the "unknown recipe ... did you mean" error
    if c.model not in MODELS:
        build_model(c.model, 1)  # raises the "unknown model ... did you mean" error
    stride = 2 ** len(MODELS[c.model].encoder)
    if c.size % stride:
        lo = max(stride, c.size // stride * stride)
        raise UsageError(f"--size {c.size}: model '{c.model}' takes multiples of {stride} "
                         f"(e.g. {lo} or {lo + stride})")
    pattern = load_pattern(c.pattern)
    c.pattern = pattern.spec
    if c.steps is None and c.minutes is None:
        c.minutes = DEFAULT_MINUTES
    local_procs = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))  # set by torchrun
    cuda = c.device == "cuda" or (c.device == "auto" and torch.cuda.is_available())
    if c.workers is None:
        c.workers = default_workers(cuda, local_procs)
    if c.threads is None:
        c.threads = default_threads(c.workers, local_procs)
    if c.out is None:
        name = Path(c.pattern).name if os.sep in c.pattern else c.pattern
        c.out = str(Path("runs") / f"{re.sub(r'[^A-Za-z0-9._-]+', '-', name)}-{c.model}")
    out = Path(c.out)
    if out.exists() and not out.is_dir():
        raise SegmentyError(f"--out {out}: exists and is a file, expected a run folder")
    if not c.resume and (out / "model.pt").exists():
        raise SegmentyError(f"--out {out}: already holds a run (model.pt); add --resume to continue "
                            "it or choose another --out")
    for option, folder in (("--wild", c.wild), ("--backgrounds", c.backgrounds)):
        if folder is not None and not Path(folder).exists():
            raise SegmentyError(f"{option} {folder}: no such folder")
    return c, pattern


def config_for_resume(given: dict) -> TrainConfig:
    """The configuration a `--resume` continues with: the run's own, overridden by `given`.

    Only the options a user actually gave override, so `--resume --out RUN` alone continues
    RUN exactly; a given --minutes (or --steps) replaces the run's budget of either kind.
    """
    out = given.get("out") or TrainConfig().out
    if out is None or not (Path(out) / "model.pt").is_file():
        if out is not None:
            warnings.warn(f"--resume: {out} has no model.pt yet; starting a new run there")
        return TrainConfig(**given)
    saved = load_checkpoint(Path(out) / "model.pt").get("config", {})
    known = {f.name for f in fields(TrainConfig)}
    merged = {k: v for k, v in saved.items() if k in known}
    if "minutes" in given or "steps" in given:
        merged.pop("minutes", None)
        merged.pop("steps", None)
    merged.update(given)
    return TrainConfig(**merged)


def lr_at(config: TrainConfig, progress: float) -> float:
    """Linear warm-up, then cosine decay to min_lr·lr; `progress` is the fraction of the run."""
    if progress < config.warmup:
        # start at 10% rather than 0 so the first steps are not wasted
        return config.lr * (0.1 + 0.9 * progress / config.warmup)
    t = min(1.0, (progress - config.warmup) / (1 - config.warmup))
    floor = config.min_lr * config.lr
    return floor + 0.5 * (1 + math.cos(math.pi * t)) * (config.lr - floor)


class EMA:
    """An exponential moving average of the weights (and batch-norm statistics).

    Short CPU runs are noisy at the end; the average is what gets validated, saved as "ema" and
    loaded for prediction (SIM2REAL-NOTES: +0.06 IoU at 5-10 minutes). The decay warms up as
    (1 + n) / (10 + n) so the average is not dominated by the random initial weights.
    """

    def __init__(self, model: nn.Module, decay: float):
        self.model = copy.deepcopy(model).eval().requires_grad_(False)
        self.decay = decay
        self.updates = 0

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for avg, new in zip(self.model.state_dict().values(), model.state_dict().values()):
            if avg.dtype.is_floating_point:
                avg.lerp_(new, 1 - d)
            else:  # e.g. batch-norm's num_batches_tracked
                avg.copy_(new)


class StreamSampler(Sampler[int]):
    """Endless sample indices from `start` on; each step's global batch is split by rank.

    Step k of rank r takes start + k·batch·world + r·batch + (0 .. batch-1): consecutive,
    disjoint across ranks, and `start` = samples seen so far continues the stream on resume.
    """

    def __init__(self, start: int, batch: int, rank: int = 0, world: int = 1):
        self.start, self.batch, self.rank, self.world = start, batch, rank, world

    def __iter__(self) -> Iterator[int]:
        b, n = self.batch, 0
        while True:
            yield self.start + (n // b) * b * self.world + self.rank * b + n % b
            n += 1


def _worker_init(worker_id: int) -> None:
    # A worker is one synthesis pipeline on one core; more threads would only fight training's.
    # (OpenCV's threads were already limited in the parent before the fork: see _train.)
    torch.set_num_threads(1)
    # Ctrl-C belongs to the main process, which saves a checkpoint before leaving.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _setup_device(name: str, threads: int) -> tuple[torch.device, DistInfo]:
    if name == "cuda" and not torch.cuda.is_available():
        raise SegmentyError("--device cuda: no CUDA device is available (try --device auto)")
    kind = "cuda" if name == "cuda" or (name == "auto" and torch.cuda.is_available()) else "cpu"
    info = init_distributed(kind)
    if kind == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed input size: let cuDNN pick its fastest kernels
        return torch.device("cuda", info.local_rank), info
    # Measured on a 2-core CPU: fp32 channels_last beats bf16 autocast (no native bf16) by ~7x.
    torch.set_num_threads(threads)
    return torch.device("cpu"), info


def _autocast(device: torch.device):
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _rng_state() -> dict:
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    return {"torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "numpy": torch.from_numpy(keys.astype(np.int64)), "numpy_pos": int(pos),
            "numpy_gauss": [int(has_gauss), float(gauss)], "python": random.getstate()}


def _set_rng_state(s: dict) -> None:
    torch.set_rng_state(s["torch"])
    if s["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(s["cuda"])
    np.random.set_state(("MT19937", s["numpy"].numpy().astype(np.uint32), s["numpy_pos"],
                         s["numpy_gauss"][0], s["numpy_gauss"][1]))
    random.setstate(tuple(v if not isinstance(v, list) else tuple(v) for v in s["python"]))


@dataclass
class Progress:
    """Counters that a checkpoint carries across a resume."""

    step: int = 0
    elapsed_s: float = 0.0      # training time (validation excluded)
    samples_seen: int = 0       # over all ranks: where the data stream continues
    best_iou: float = -1.0      # best validation IoU of `mask` so far (best.pt)
    val_step: int = -1          # step of the last validation


def _make_val_set(pattern: Pattern, config: TrainConfig, info: DistInfo) -> tuple[torch.Tensor, torch.Tensor]:
    """This rank's share of the fixed validation scenes, made once per run."""
    from ..synth import SyntheticDataset, recipe_by_name
    ds = SyntheticDataset(pattern, size=config.size, seed=VAL_SEED, backgrounds=config.backgrounds,
                          recipe=recipe_by_name(config.recipe))
    items = [ds[i] for i in range(info.rank, config.val_count, info.world_size)]
    if not items:  # more ranks than scenes
        s, m = config.size, len(pattern.mask_names)
        return torch.zeros(0, 3, s, s), torch.zeros(0, m, s, s, dtype=torch.bool)
    return (torch.stack([it["image"] for it in items]),
            torch.stack([it["masks"] for it in items]) > 0.5)


@torch.no_grad()
def evaluate(model: nn.Module, images: torch.Tensor, masks: torch.Tensor, device: torch.device,
             batch: int = 16) -> torch.Tensor:
    """Confusion counts (M×4: tp, fp, fn, tn) of `model` on a set of scenes."""
    counts = torch.zeros(masks.shape[1], 4, dtype=torch.long, device=device)
    for i in range(0, len(images), batch):
        x = images[i:i + batch].to(device).contiguous(memory_format=torch.channels_last)
        with _autocast(device):
            logits = model(x)
        counts += confusion_counts(logits.float(), masks[i:i + batch].to(device))
    return counts


def _read_wild(folder: str | None) -> dict[str, np.ndarray]:
    """Real photos for snapshots, read once; unreadable files are skipped with a warning.
    SegmentyError when the folder holds no readable photo (a --wild that shows nothing is a
    mistake better caught before training than after)."""
    if folder is None:
        return {}
    photos = {}
    paths = list_images(folder)
    for path, rgb in read_images_skipping(paths, "--wild photo"):
        # Snapshots run the model at training size; keeping 12-megapixel originals in memory
        # for the whole run would only cost RAM.
        scale = 1024 / max(rgb.shape[:2])
        if scale < 1:
            rgb = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        photos[path.stem] = rgb
    if not photos:
        found = f"{len(paths)} unreadable image files" if paths else "no image files"
        raise SegmentyError(f"--wild {folder}: {found}; expected photos (.jpg, .png, ...)")
    return photos


def _snapshot_function():
    """report.snapshots.save_snapshots when that stage is installed, else None (skip quietly)."""
    try:
        from ..report.snapshots import save_snapshots
    except ImportError:
        return None
    return save_snapshots


def _tensorboard(out: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard not installed: log.csv is the record
        return None
    return SummaryWriter(str(out))


class RunFolder:
    """Everything a run writes, by rank 0 only (on other ranks every method does nothing):
    config.json, model.pt (latest) and best.pt, both atomic; log.csv; TensorBoard events when
    tensorboard is installed; snapshots of real photos when --wild is given."""

    def __init__(self, config: TrainConfig, enabled: bool):
        self.path, self.enabled = Path(config.out), enabled
        self.writer, self.snapshot_fn, self.wild = None, None, {}
        if not enabled:
            return
        self.wild = _read_wild(config.wild)  # first: a bad --wild fails before the folder is made
        self.path.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.path / "config.json", json.dumps(asdict(config), indent=2) + "\n")
        self.writer = _tensorboard(self.path)
        self.snapshot_fn = _snapshot_function() if self.wild else None

    def save(self, state: dict, best: bool = False) -> None:
        if self.enabled:
            save_checkpoint(self.path / ("best.pt" if best else "model.pt"), state)

    def log(self, row: dict) -> None:
        """One row per validation, header first; flushed and synced each time so a kill loses
        nothing already logged."""
        if not self.enabled:
            return
        path = self.path / "log.csv"
        new = not path.exists()
        with open(path, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(row))
            if new:
                w.writeheader()
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
            f.flush()
            os.fsync(f.fileno())
        if self.writer is not None:
            for k, v in row.items():
                if k != "step":
                    self.writer.add_scalar(k, v, row["step"])
            self.writer.flush()

    def snapshot(self, loaded: LoadedModel, step: int, elapsed_s: float) -> None:
        if self.enabled and self.snapshot_fn is not None:
            try:
                self.snapshot_fn(loaded, self.wild, self.path / "snapshots", step, elapsed_s)
            except SegmentyError as exc:  # e.g. a full disk: the training run matters more
                warnings.warn(f"snapshots skipped at step {step}: {exc}")

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


class _InterruptFlag:
    """The first Ctrl-C asks the loop to stop at the next step boundary (after saving); a
    second one interrupts at once."""

    def __init__(self) -> None:
        self.requested = False
        self._previous = None

    def _handle(self, signum, frame) -> None:
        self.requested = True
        signal.signal(signal.SIGINT, signal.default_int_handler)

    def __enter__(self) -> _InterruptFlag:
        with contextlib.suppress(ValueError):  # not the main thread: Ctrl-C stays Python's
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def _restore(path: Path, config: TrainConfig, pattern: Pattern, model: nn.Module, ema: EMA,
             optimizer: torch.optim.Optimizer) -> Progress:
    """Load a run's latest checkpoint into the fresh model, EMA, optimizer and RNGs."""
    ckpt = load_checkpoint(path)  # on the CPU: RNG states must be CPU tensors
    for key, ours, option in (("pattern", pattern.spec, "--pattern"), ("model_name", config.model, "--model"),
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
        _set_rng_state(ckpt["rng"])
        return Progress(**ckpt["progress"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:  # e.g. a predict-only checkpoint
        raise SegmentyError(f"--resume {path}: not a training checkpoint, cannot continue from it "
                            f"({type(exc).__name__}: {' '.join(str(exc).split())[:120]})") from None


def train(config: TrainConfig) -> Path:
    """Train a detector; returns the run folder (config.json, model.pt, best.pt, log.csv).

    Raises KeyboardInterrupt after saving a checkpoint when interrupted with Ctrl-C.
    """
    config, pattern = resolve_config(config)
    device, info = _setup_device(config.device, config.threads)
    try:
        return _train(config, pattern, device, info)
    finally:
        shutdown_distributed(info)


def _train(config: TrainConfig, pattern: Pattern, device: torch.device, info: DistInfo) -> Path:
    from ..synth import SyntheticDataset, recipe_by_name

    out = Path(config.out)
    mask_names = pattern.mask_names
    loss_fn = get_loss(config.loss)
    torch.manual_seed(config.seed)  # the same initial weights on every rank

    model = build_model(config.model, len(mask_names)).to(device, memory_format=torch.channels_last)
    ema = EMA(model, config.ema_decay)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    prog = Progress()

    if config.resume and (out / "model.pt").is_file():
        prog = _restore(out / "model.pt", config, pattern, model, ema, optimizer)
    raw_model = model
    if info.enabled:
        model = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    def checkpoint_state(lr: float) -> dict:
        return {"model": raw_model.state_dict(), "ema": ema.model.state_dict(), "ema_updates": ema.updates,
                "optimizer": optimizer.state_dict(), "lr": lr, "progress": asdict(prog), "rng": _rng_state(),
                "step": prog.step, "elapsed_s": prog.elapsed_s, "samples_seen": prog.samples_seen,
                "model_name": config.model, "mask_names": mask_names, "pattern": pattern.spec,
                "size": config.size, "config": asdict(config), "world_size": info.world_size,
                "device": device.type}

    # OpenCV's thread pool does not survive fork(): a worker that inherits a live pool hangs in
    # its first cv2 call that touches the pool (seen: cv2.setNumThreads in the worker). With one
    # thread in the parent, forked workers never touch the pool; synthesis scales by workers.
    cv2.setNumThreads(1)
    # The validation scenes read --backgrounds: a folder of no usable image fails here, before
    # the run folder is made.
    val_images, val_masks = _make_val_set(pattern, config, info)
    run = RunFolder(config, enabled=info.is_main)
    dataset = SyntheticDataset(pattern, size=config.size, seed=config.seed, backgrounds=config.backgrounds,
                               recipe=recipe_by_name(config.recipe))
    loader = DataLoader(
        dataset, batch_size=config.batch, drop_last=True,
        sampler=StreamSampler(prog.samples_seen, config.batch, info.rank, info.world_size),
        num_workers=config.workers, worker_init_fn=_worker_init if config.workers else None,
        persistent_workers=config.workers > 0, prefetch_factor=4 if config.workers else None,
        pin_memory=device.type == "cuda")

    if info.is_main:
        budget = f"{config.steps} steps" if config.steps else f"{config.minutes:g} min"
        print(f"segmenty: training {config.model} for {pattern.spec} at {config.size}px, {budget}, "
              f"{device.type} x{info.world_size}, {config.workers} synthesis workers, {config.threads} threads -> {out}", file=sys.stderr)
    bar = tqdm(total=config.steps or round(config.minutes * 60), initial=0, disable=not info.is_main,
               unit="step" if config.steps else "s", dynamic_ncols=True, leave=False)

    batches = iter(loader)
    loss_sum, loss_n = torch.zeros((), device=device), 0
    row_time, row_samples = prog.elapsed_s, prog.samples_seen
    clock_start = time.perf_counter() - prog.elapsed_s  # training clock; validation pauses it
    last_save = time.perf_counter()
    last_val_elapsed = prog.elapsed_s
    lr = lr_at(config, 0.0)
    try:
        with _InterruptFlag() as interrupt:
            while True:
                # Rank 0 decides from its clock; every rank follows the same decision.
                elapsed = time.perf_counter() - clock_start
                progress = prog.step / config.steps if config.steps else elapsed / (config.minutes * 60)
                stop = progress >= 1 or interrupt.requested
                validate = (stop and not interrupt.requested and prog.val_step != prog.step) or \
                    elapsed - last_val_elapsed >= config.val_every
                save = stop or validate or time.perf_counter() - last_save >= config.checkpoint_every
                elapsed, progress, stop, validate, save = broadcast_from_main(
                    [elapsed, progress, float(stop), float(validate), float(save)], info, device)
                prog.elapsed_s = elapsed

                if validate:
                    t_val = time.perf_counter()
                    counts = sum_across_ranks(evaluate(ema.model, val_images, val_masks, device), info)
                    metrics = mask_metrics(counts.cpu(), mask_names)
                    prog.val_step, last_val_elapsed = prog.step, elapsed
                    row = {"step": prog.step, "elapsed_s": round(elapsed, 2),
                           "samples_per_s": (prog.samples_seen - row_samples) / max(elapsed - row_time, 1e-9),
                           "loss": (loss_sum.item() / loss_n) if loss_n else math.nan, "lr": lr}
                    row.update({k: metrics[k] for k in metric_names(mask_names)})
                    row_time, row_samples, loss_sum, loss_n = elapsed, prog.samples_seen, loss_sum * 0, 0
                    if metrics["iou_mask"] > prog.best_iou:
                        prog.best_iou = metrics["iou_mask"]
                        run.save(checkpoint_state(lr), best=True)
                    # checkpoint before logging: a kill in between drops a row, never repeats one
                    run.save(checkpoint_state(lr))
                    last_save = time.perf_counter()
                    run.log(row)
                    run.snapshot(LoadedModel(ema.model, config.model, mask_names, pattern.spec, config.size,
                                             asdict(config), prog.step, None), prog.step, elapsed)
                    bar.write(f"step {prog.step} ({elapsed:.0f}s): " + " ".join(
                        f"{k}={metrics[k]:.3f}" for k in metric_names(mask_names)[:3]))
                    clock_start += time.perf_counter() - t_val
                elif save:
                    run.save(checkpoint_state(lr))
                    last_save = time.perf_counter()
                if stop:
                    break

                lr = lr_at(config, progress)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                batch = next(batches)
                x = batch["image"].to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)
                y = batch["masks"].to(device, non_blocking=True)
                with _autocast(device):
                    logits = model(x)
                loss = loss_fn(logits, y)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                ema.update(raw_model)
                prog.step += 1
                prog.samples_seen += config.batch * info.world_size
                loss_sum, loss_n = loss_sum + loss.detach(), loss_n + 1

                if info.is_main:
                    done = prog.step if config.steps else int(time.perf_counter() - clock_start)
                    bar.update(max(0, done - bar.n))
                    if prog.step % 5 == 0:  # .item() waits for the device: not every step
                        rate = (prog.samples_seen - row_samples) / max(time.perf_counter() - clock_start - row_time, 1e-9)
                        bar.set_postfix(loss=f"{loss.item():.4f}", samples_s=f"{rate:.1f}", refresh=False)
            if interrupt.requested:
                raise KeyboardInterrupt
    finally:
        bar.close()
        run.close()
        del batches  # stops the synthesis workers
    return out
