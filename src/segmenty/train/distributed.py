"""Multi-process training through PyTorch's own engine (torchrun sets the environment).

Under ``torchrun --nproc_per_node N`` every process runs the same `train()`; this module
tells it its rank, starts the process group (NCCL on CUDA, gloo on CPU) and offers the two
collectives the loop needs. Without torchrun it is a world of one and every call is a no-op.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0 alone writes files, shows progress and decides when to stop."""
        return self.rank == 0


def init_distributed(device_type: str) -> DistInfo:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1), else a world of one."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    info = DistInfo(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")),
                    int(os.environ.get("LOCAL_WORLD_SIZE", str(world))))
    if device_type == "cuda":
        torch.cuda.set_device(info.local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
    return info


def shutdown_distributed(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()


def broadcast_from_main(values: list[float], info: DistInfo, device: torch.device) -> list[float]:
    """Rank 0's values on every rank: time-based decisions (stop, validate, learning rate) must
    be identical everywhere, or ranks would fall out of step and DDP would hang."""
    if not info.enabled:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.broadcast(t, src=0)
    return t.tolist()


def sum_across_ranks(t: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Element-wise sum over all ranks (e.g. confusion counts of each rank's validation shard)."""
    if info.enabled:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t
