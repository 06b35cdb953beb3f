"""``segmenty train`` and ``segmenty models``.

Options default to argparse.SUPPRESS so that only the options a user gave reach the
configuration: on --resume the run's own settings fill in the rest. Defaults are shown in
--help from TrainConfig itself, the one place they are declared.
"""
from __future__ import annotations

import argparse

from .common import MAX_TRAIN_SIZE, add_command, device_name, non_negative_int, pixels, positive_float, positive_int

S = argparse.SUPPRESS


def register(sub) -> None:
    from ..models import DEFAULT_MODEL
    from ..train.config import DEFAULT_MINUTES, TrainConfig, default_size, default_threads, default_workers
    d = TrainConfig()
    p = add_command(sub, "train", "train a detector for a pattern on endless synthetic scenes "
                    "(also under torchrun --nproc_per_node N)", cmd_train)
    p.add_argument("--pattern", default=S, help=f"pattern spec, e.g. chessboard:10x7 (default: {d.pattern})")
    p.add_argument("--family", default=S,
                   help="train for every board of a family instead of one pattern (the shipped detectors: "
                        "'boards' = chessboards, ChArUco boards and circle grids of any size)")
    p.add_argument("--init", metavar="RUN_OR_FAMILY", default=S,
                   help="start from a detector's weights: a run folder, a checkpoint, a shipped family "
                        "('boards': fine-tune the board detector for your grid pattern), or 'none' (fresh weights); "
                        "default: 'boards' for a pattern folder (it learns faster from them), else fresh weights")
    p.add_argument("--backgrounds", metavar="DIR", default=S,
                   help="folder of background photos added to the built-in textures (default: built-in only)")
    p.add_argument("--size", type=pixels(MAX_TRAIN_SIZE), default=S,
                   help="training scene size in pixels, a multiple of the model's stride (default: "
                   f"{default_size(False)} on a CPU, {default_size(True)} on a GPU)")
    p.add_argument("--model", default=S, help=f"model preset, see `segmenty models` (default: {DEFAULT_MODEL})")
    p.add_argument("--batch", type=positive_int, default=S,
                   help=f"scenes per step, per process (default: {d.batch})")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--minutes", type=positive_float, default=S,
                        help=f"training-time budget; the learning rate anneals over it (default: {DEFAULT_MINUTES:g})")
    budget.add_argument("--steps", type=positive_int, default=S,
                        help="train for this many optimizer steps instead of --minutes (default: unset)")
    p.add_argument("--lr", type=positive_float, default=S,
                   help=f"peak learning rate, warm-up then cosine decay (default: {d.lr:g})")
    p.add_argument("--loss", choices=["balanced", "bce-dice", "bce-batch-dice"], default=S,
                   help=f"balanced: 50/50 MSE over positive and negative pixels (the original); "
                   "bce-dice: BCE + Dice on logits, Dice per sample; bce-batch-dice: Dice over the batch (masks "
                   f"most samples lack: the family detectors) (default: {d.loss})")
    p.add_argument("--out", metavar="RUN", default=S,
                   help="run folder (default: runs/<pattern>-<model>)")
    p.add_argument("--wild", metavar="DIR", default=S,
                   help="folder of real photos to snapshot predictions on at every validation (default: none)")
    p.add_argument("--resume", action="store_true", default=S,
                   help="continue the run in --out from its last checkpoint; options not given are the run's own "
                   "(default: off)")
    p.add_argument("--device", type=device_name, default=S,
                   help=f"auto: CUDA when present (bf16, channels_last), else the CPU (default: {d.device})")
    p.add_argument("--precision", choices=["auto", "fp32", "bf16"], default=S,
                   help="auto: bf16 autocast on a GPU and on CPUs with native bf16 (AVX512-BF16, AMX), else fp32 "
                   f"(default: {d.precision})")
    p.add_argument("--recipe", default=S, help="synthesis recipe: default (tuned for real photos), physical, family (cameras at their "
                   f"worst; the shipped detectors'), full or original (default: {d.recipe})")
    p.add_argument("--seed", type=int, default=S, help=f"seed of training scenes and weights (default: {d.seed})")
    p.add_argument("--workers", type=non_negative_int, default=S,
                   help="synthesis processes per training process, 0 = a synthesis thread in the training process "
                   f"(default on a CPU: one per 4 cores; here {default_workers(False)})")
    p.add_argument("--threads", type=positive_int, default=S,
                   help="torch threads when training on the CPU (default: the cores the worker processes leave; "
                   f"here {default_threads(default_workers(False))})")
    p.add_argument("--val-count", type=positive_int, default=S,
                   help=f"fixed synthetic validation scenes (default: {d.val_count})")
    p.add_argument("--val-every", type=positive_float, default=S, metavar="SECONDS",
                   help=f"seconds of training between validations (default: {d.val_every:g})")
    p.add_argument("--checkpoint-every", type=positive_float, default=S, metavar="SECONDS",
                   help=f"seconds between checkpoints, the most a kill can lose (default: {d.checkpoint_every:g})")

    add_command(sub, "models", "list the model presets with parameters and MFLOPs at 256x256", cmd_models)


def cmd_train(args) -> int:
    from dataclasses import fields

    from ..hardware import let_idle_threads_sleep

    let_idle_threads_sleep()  # before torch is imported
    from ..jobs import fit
    from ..train import TrainConfig, config_for_resume
    known = {f.name for f in fields(TrainConfig)}
    given = {k: v for k, v in vars(args).items() if k in known}
    config = config_for_resume(given) if given.get("resume") else TrainConfig(**given)
    print(fit(config).path)
    return 0


def cmd_models(args) -> int:
    from ..models import DEFAULT_MODEL, MODELS, build_model, count_mflops, count_parameters
    print(f"{'model':<16} {'params':>10} {'MFLOPs@256':>11}  description")
    for name, cfg in MODELS.items():
        model = build_model(name, 1)
        star = " (default)" if name == DEFAULT_MODEL else ""
        print(f"{name:<16} {count_parameters(model):>10,} {count_mflops(model, 256):>11,.0f}  "
              f"{cfg.description}{star}")
    return 0
