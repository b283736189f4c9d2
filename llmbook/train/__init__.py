"""Training: the loop, batching, schedules, checkpoints, memory estimates and data parallelism
(FLOP counts and MFU: :mod:`llmbook.flops`).

>>> from llmbook.train import Trainer, TrainConfig, get_batch, estimate_memory
>>> from llmbook.train import Examples, pad_batch      # fine-tuning on separate examples
"""
from __future__ import annotations

from .batching import compact_vocabulary, get_batch, shard_rows
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .examples import IGNORE_INDEX, Examples, pad_batch
from .distributed import DistInfo, all_reduce_mean, cleanup_distributed, init_distributed
from .memory import MemoryEstimate, estimate_memory
from .optim import WarmupCosineSchedule, configure_optimizer, lr_at, param_groups
from .trainer import History, TrainConfig, Trainer

__all__ = [
    "get_batch", "shard_rows", "compact_vocabulary", "CheckpointError", "save_checkpoint", "load_checkpoint", "DistInfo",
    "init_distributed", "cleanup_distributed", "all_reduce_mean", "MemoryEstimate", "estimate_memory",
    "WarmupCosineSchedule", "configure_optimizer", "lr_at", "param_groups", "History", "TrainConfig", "Trainer",
    "Examples", "pad_batch", "IGNORE_INDEX",
]
