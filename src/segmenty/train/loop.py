"""The training loop: endless synthetic scenes in, a run folder out.

Read `_train()` top to bottom: build model / EMA / optimizer, restore a checkpoint when
resuming, make the fixed validation set and the data stream, then loop: decide (stop?
validate? checkpoint?), set the learning rate, take a batch, step, update the EMA. The pieces
live beside it: config.py (the options), data.py (the stream and the validation scenes),
state.py (what a checkpoint carries), ema.py, and segmenty.runs (the run folder itself).

Time is the budget that matters on a CPU, so a `--minutes` run schedules its learning rate by
the fraction of *training* time spent (validation pauses the clock), and a `--steps` run by the
fraction of steps.

What to do with the model at each validation beyond logging (snapshots of real photos, say)
is the caller's: `train(config, callbacks=[...])`, each called with a `Validation` (the run
folder, the EMA model, the step, the training seconds, the metrics) — at step 0 too, so that
a record of training starts from the untrained network.
"""
from __future__ import annotations

import contextlib
import math
import signal
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from ..errors import SegmentyError
from ..hardware import autocast, resolve_device
from ..models import build_model
from ..patterns import Pattern
from ..runs import LATEST_CHECKPOINT, LoadedModel, RunWriter
from ..synth import Recipe
from .config import FRESH_INIT, TrainConfig, resolve_config
from .data import network_input, training_batches, validation_set
from .distributed import DistInfo, broadcast_from_main, init_distributed, shutdown_distributed, sum_across_ranks
from .ema import EMA
from .losses import get_loss
from .metrics import mask_metrics, metric_names, scene_confusion
from .state import Progress, init_weights, restore, training_state



@dataclass(frozen=True)
class Validation:
    """What a validation callback is told (on the main process only)."""

    run: Path              # the run folder
    model: LoadedModel     # the EMA model, live: callbacks predict with it, never train it
    step: int
    elapsed_s: float       # training seconds so far
    metrics: dict          # the validation row just logged


ValidationCallback = Callable[[Validation], None]


def lr_at(config: TrainConfig, progress: float) -> float:
    """Linear warm-up, then cosine decay to min_lr·lr; `progress` is the fraction of the run."""
    if progress < config.warmup:
        # start at 10% rather than 0 so the first steps are not wasted
        return config.lr * (0.1 + 0.9 * progress / config.warmup)
    t = min(1.0, (progress - config.warmup) / (1 - config.warmup))
    floor = config.min_lr * config.lr
    return floor + 0.5 * (1 + math.cos(math.pi * t)) * (config.lr - floor)


def train(config: TrainConfig, callbacks: Sequence[ValidationCallback] = ()) -> Path:
    """Train a detector; returns the run folder (config.json, model.pt, best.pt, log.csv).

    Raises KeyboardInterrupt after saving a checkpoint when interrupted with Ctrl-C.
    """
    config, pattern = resolve_config(config)
    device, info = _setup_device(config.device, config.threads)
    try:
        return _train(config, pattern, device, info, callbacks)
    finally:
        shutdown_distributed(info)


def _setup_device(name: str, threads: int) -> tuple[torch.device, DistInfo]:
    device = resolve_device(name)
    info = init_distributed(device.type)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed input size: let cuDNN pick its fastest kernels
        # Under torchrun each process takes its own GPU.
        return (torch.device("cuda", info.local_rank) if info.enabled else device), info
    torch.set_num_threads(threads)
    return device, info


def _train(config: TrainConfig, pattern: Pattern, device: torch.device, info: DistInfo,
           callbacks: Sequence[ValidationCallback]) -> Path:
    out = Path(config.out)
    mask_names = pattern.mask_names
    recipe = Recipe.from_dict(config.recipe_steps)
    loss_fn = get_loss(config.loss)
    torch.manual_seed(config.seed)  # the same initial weights on every rank

    model = build_model(config.model, len(mask_names))
    latest = out / LATEST_CHECKPOINT
    if config.init not in (None, FRESH_INIT) and not (config.resume and latest.is_file()):
        loaded = init_weights(config.init, model, config.model, mask_names)
        if info.is_main:
            print(f"segmenty: starting from {loaded}", file=sys.stderr)
    model = model.to(device, memory_format=torch.channels_last)
    ema = EMA(model, config.ema_decay)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    prog = Progress()
    if config.resume and latest.is_file():
        prog = restore(latest, config, model, ema, optimizer)
    raw_model = model
    if info.enabled:
        model = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    # OpenCV's thread pool does not survive fork(): a worker that inherits a live pool hangs in
    # its first cv2 call that touches the pool (seen: cv2.setNumThreads in the worker). With one
    # thread in the parent, forked workers never touch the pool; synthesis scales by workers.
    cv2.setNumThreads(1)
    # The validation scenes read --backgrounds: a folder of no usable image fails here, before
    # the run folder is made.
    val_images, val_masks = validation_set(pattern, recipe, config, info)
    run = RunWriter(out, asdict(config), enabled=info.is_main)
    batches = training_batches(pattern, recipe, config, prog.samples_seen, info, pin_memory=device.type == "cuda")

    if info.is_main:
        budget = f"{config.steps} steps" if config.steps else f"{config.minutes:g} min"
        print(f"segmenty: training {config.model} for {pattern.spec} at {config.size}px, {budget}, "
              f"{device.type} x{info.world_size} {config.precision}, {config.workers} synthesis workers, "
              f"{config.threads} threads "
              f"-> {out}", file=sys.stderr)
    bar = progress_bar(config, prog, show=info.is_main)

    def validate(elapsed: float, lr: float) -> None:
        counts = sum_across_ranks(scene_confusion(ema.model, val_images, val_masks, device, config.precision), info)
        metrics = mask_metrics(counts.cpu(), mask_names)
        row = {"step": prog.step, "elapsed_s": round(elapsed, 2),
               "samples_per_s": ((prog.samples_seen - row_samples) / max(elapsed - row_time, 1e-9)
                                 if prog.samples_seen > row_samples else math.nan),
               "loss": (loss_sum.item() / loss_n) if loss_n else math.nan, "lr": lr}
        row.update({k: metrics[k] for k in metric_names(mask_names)})
        if metrics["iou_mask"] > prog.best_iou:
            prog.best_iou = metrics["iou_mask"]
            run.save(state(lr), best=True)
        # checkpoint before logging: a kill in between drops a row, never repeats one
        run.save(state(lr))
        run.log(row)
        if info.is_main:
            event = Validation(out, LoadedModel(ema.model, config.model, mask_names, pattern.spec, config.size,
                                                asdict(config), prog.step, None), prog.step, elapsed, row)
            for callback in callbacks:
                try:
                    callback(event)
                except SegmentyError as exc:  # e.g. a full disk: the training run matters more
                    warnings.warn(f"validation callback skipped at step {prog.step}: {exc}")
        bar.write(f"step {prog.step} ({elapsed:.0f}s): " + " ".join(
            f"{k}={metrics[k]:.3f}" for k in metric_names(mask_names)[:3]))

    def state(lr: float) -> dict:
        return training_state(config, mask_names, raw_model, ema, optimizer, prog, lr, info.world_size, device)

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
                # A new run validates at step 0 too: the untrained network's row and snapshots.
                due = prog.val_step < 0 or elapsed - last_val_elapsed >= config.val_every
                validate_now = (stop and not interrupt.requested and prog.val_step != prog.step) or due
                save = stop or validate_now or time.perf_counter() - last_save >= config.checkpoint_every
                elapsed, progress, stop, validate_now, save = broadcast_from_main(
                    [elapsed, progress, float(stop), float(validate_now), float(save)], info, device)
                prog.elapsed_s = elapsed

                if validate_now:
                    t_val = time.perf_counter()
                    validate(elapsed, lr)
                    prog.val_step, last_val_elapsed = prog.step, elapsed
                    row_time, row_samples, loss_sum, loss_n = elapsed, prog.samples_seen, loss_sum * 0, 0
                    last_save = time.perf_counter()
                    clock_start += time.perf_counter() - t_val
                elif save:
                    run.save(state(lr))
                    last_save = time.perf_counter()
                if stop:
                    break

                lr = lr_at(config, progress)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                batch = next(batches)
                x = network_input(batch["image"].to(device, non_blocking=True)).contiguous(
                    memory_format=torch.channels_last)
                y = batch["masks"].to(device, non_blocking=True).float()
                with autocast(device, config.precision):
                    logits = model(x)
                loss = loss_fn(logits.float(), y)
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
                        bar.set_postfix({"step": prog.step, "samples/s": f"{rate:.1f}", "loss": f"{loss.item():.4f}"},
                                        refresh=False)
            if interrupt.requested:
                raise KeyboardInterrupt
    finally:
        bar.close()
        run.close()
        if hasattr(batches, "close"):  # the synthesis thread's generator: stop its thread now
            batches.close()
        del batches  # stops the synthesis workers
    return out


def progress_bar(config: TrainConfig, prog: Progress, show: bool = True) -> tqdm:
    """The training's progress bar, from where `prog` is (a resumed run's bar starts at the
    steps or training time already done: it neither jumps nor guesses its rate from a jump). A
    step budget counts steps; a time budget shows the training time spent and left, with the
    step count and the rate in the postfix (a bar of seconds per second says nothing)."""
    if config.steps:
        return tqdm(total=config.steps, initial=prog.step, disable=not show, unit="step", dynamic_ncols=True,
                    leave=False)
    total = round(config.minutes * 60)
    return _TrainingClock(total=total, initial=min(int(prog.elapsed_s), total), disable=not show, unit="s",
                          dynamic_ncols=True, leave=False,
                          bar_format="{l_bar}{bar}| {trained} of " + _clock(total) + ", {left} left{postfix}")


class _TrainingClock(tqdm):
    """A bar of training seconds that shows them as clocks: spent (`trained`) and left (`left`).
    tqdm's own elapsed and remaining are this process's wall time and a rate guessed from it:
    a resumed run's would start at 0 and a validation's pause would skew them."""

    @property
    def format_dict(self) -> dict:
        d = super().format_dict
        return {**d, "trained": _clock(d["n"]), "left": _clock(max(0, d["total"] - d["n"]))}


def _clock(seconds: float) -> str:
    """h:mm:ss (or mm:ss), as tqdm shows elapsed time."""
    m, sec = divmod(round(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m:02d}:{sec:02d}"


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
