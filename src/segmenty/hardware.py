"""What this machine offers a process: its CPU cores and its torch devices.

The one owner of the device grammar (``auto``, ``cpu``, ``cuda``, ``cuda:N``) that every
command accepts, and of the core count that thread and worker defaults start from.
"""
from __future__ import annotations

import os

from .errors import UsageError

DEVICE_CHOICES = "auto, cpu, cuda or cuda:N"


def let_idle_threads_sleep() -> None:
    """OpenMP's threads (torch's on a CPU) sleep when they run out of work instead of spinning,
    unless the user chose OMP_WAIT_POLICY. Training runs its synthesis thread beside torch's
    threads on the same cores, and spinning threads take the core it needs between their
    parallel regions (benchmarks/README.md: live training +10-15% samples/s on 2 cores, paired
    runs). OpenMP reads the variable once, so this acts only before torch is first imported."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def available_cores() -> int:
    """CPU cores this process may use (its affinity mask, not the machine's total)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def check_device_name(name: str) -> str:
    """`name` if it is in the grammar (without asking torch whether it is present)."""
    kind, _, index = str(name).partition(":")
    if kind in ("auto", "cpu") and not index or kind == "cuda" and (not index or index.isdigit()):
        return str(name)
    raise UsageError(f"--device {name}: not a device (valid: {DEVICE_CHOICES})")


def cuda_may_be_present() -> bool:
    """Whether a CUDA GPU could be here, answered without importing torch (~1.5 s): the
    NVIDIA driver's device node (Linux) or a GPU-capable torch being configured. False means
    'auto' is the CPU for sure."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return False
    return os.path.exists("/dev/nvidiactl") or os.name == "nt"


def resolve_device(name: str = "auto"):
    """A torch.device for `name`: 'auto' is the first CUDA GPU when there is one, else the CPU.
    UsageError for a name outside the grammar or a CUDA device this machine does not have."""
    import torch

    check_device_name(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UsageError(f"--device {name}: no CUDA GPU is available (use cpu or auto)")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise UsageError(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA GPU(s)")
    return device


PRECISIONS = ("auto", "fp32", "bf16")


def cpu_has_fast_bf16() -> bool:
    """The CPU computes bf16 natively (AVX512-BF16 or AMX), as oneDNN reports it. Without it
    bf16 autocast is emulated: ~7x slower than fp32 (measured on a 2-core CPU); with it ~1.3x
    faster (benchmarks/README.md)."""
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a build without oneDNN
        return False


def resolve_precision(precision: str, device) -> str:
    """'fp32' or 'bf16' for `precision` ('auto': bf16 on CUDA and on CPUs with native bf16)."""
    if precision not in PRECISIONS:
        raise UsageError(f"--precision {precision}: expected one of {', '.join(PRECISIONS)}")
    if precision != "auto":
        return precision
    return "bf16" if device.type == "cuda" or cpu_has_fast_bf16() else "fp32"


def autocast(device, precision: str = "auto"):
    """The autocast context a device trains in: bf16 or none (fp32)."""
    import contextlib

    import torch

    if resolve_precision(precision, device) == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
