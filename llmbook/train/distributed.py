"""Data-parallel training with PyTorch DDP, launched by ``torchrun``.

``torchrun --nproc_per_node=N script.py`` starts N copies of the script and tells each its place
through environment variables (``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``,
``MASTER_PORT``). Each process holds a full replica of the model, computes gradients on its own
slice of the batch, and DDP averages the gradients across processes (an all-reduce overlapped with
the backward pass) before every optimizer step, so all replicas stay identical. The backend is
``nccl`` between GPUs and ``gloo`` on CPUs.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

__all__ = ["DistInfo", "init_distributed", "cleanup_distributed", "all_reduce_mean"]


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits: ``rank`` of ``world_size`` processes, ``local_rank`` on its machine."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Only the main process prints, logs and writes checkpoints."""
        return self.rank == 0

    @classmethod
    def from_env(cls) -> "DistInfo":
        """Read torchrun's variables (a plain ``python script.py`` gives rank 0 of 1)."""
        if dist.is_available() and dist.is_initialized():
            return cls(dist.get_rank(), int(os.environ.get("LOCAL_RANK", 0)), dist.get_world_size())
        return cls(int(os.environ.get("RANK", 0)), int(os.environ.get("LOCAL_RANK", 0)),
                   int(os.environ.get("WORLD_SIZE", 1)))


def init_distributed(backend: str | None = None) -> DistInfo:
    """Join the process group torchrun set up (no-op for a single process); return this process's place.

    ``backend`` defaults to ``nccl`` when CUDA is available and ``gloo`` otherwise. On CUDA each process
    uses GPU ``local_rank``.
    """
    info = DistInfo.from_env()
    if info.enabled and not dist.is_initialized():
        backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
        if backend == "nccl":
            torch.cuda.set_device(info.local_rank)
        dist.init_process_group(backend=backend)
    return info


def cleanup_distributed() -> None:
    """Leave the process group (call at the end of a torchrun script)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_mean(value: torch.Tensor) -> torch.Tensor:
    """The mean of ``value`` over all processes (``value`` itself for a single process)."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return value
    value = value.clone()
    dist.all_reduce(value, op=dist.ReduceOp.SUM)  # gloo has no AVG
    return value / dist.get_world_size()
