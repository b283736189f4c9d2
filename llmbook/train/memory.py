"""How much GPU memory training needs for weights, gradients and optimizer states (model states).

Activations are left out: they depend on batch size, sequence length and checkpointing, not on the
parameter count alone. The accounting follows ZeRO {cite}`rajbhandari2020zero`:

* ``fp32``: 4 bytes of weights, 4 of gradients and ``4 * s`` of optimizer states per parameter, where
  ``s`` is the number of state tensors (AdamW keeps two moments: ``s = 2``).
* ``bf16-mixed`` / ``fp16-mixed``: 2 bytes of half-precision weights and 2 of gradients; the optimizer
  keeps an fp32 master copy (4 bytes) plus its fp32 moments, so ``K = 4 + 4 s`` (``K = 12`` for Adam:
  the paper's 16 bytes per parameter). PyTorch's ``autocast`` keeps fp32 weights and gradients and casts on
  the fly instead; its total is the same 16 bytes for AdamW, split 4 + 4 + 8.
* ``bf16``: everything in bf16 (2 + 2 + 2 ``s`` bytes), as some large-scale recipes do.

ZeRO stage 1 shards the optimizer states over the ``n_gpus`` data-parallel processes, stage 2 also the
gradients, stage 3 also the weights (PyTorch FSDP's ``FULL_SHARD`` is stage 3, ``SHARD_GRAD_OP`` stage 2).
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MemoryEstimate", "estimate_memory", "OPTIMIZER_STATES", "PRECISIONS"]

# number of per-parameter state tensors each optimizer keeps
OPTIMIZER_STATES = {"adamw": 2, "adam": 2, "sgd-momentum": 1, "sgd": 0}
# precision -> (bytes per weight, bytes per gradient, bytes per optimizer state, fp32 master copy?)
PRECISIONS = {
    "fp32": (4, 4, 4, False),
    "bf16-mixed": (2, 2, 4, True),
    "fp16-mixed": (2, 2, 4, True),
    "bf16": (2, 2, 2, False),
}


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes of model states held by *each* GPU."""

    weights: float
    grads: float
    optimizer_states: float
    n_params: int
    precision: str
    optimizer: str
    zero_stage: int
    n_gpus: int

    @property
    def total(self) -> float:
        return self.weights + self.grads + self.optimizer_states

    def as_dict(self, unit: float = 1e9) -> dict[str, float]:
        """The breakdown in ``unit`` bytes (default GB = 1e9, as in the ZeRO paper; use ``2**30`` for GiB)."""
        return {"weights": self.weights / unit, "grads": self.grads / unit,
                "optimizer_states": self.optimizer_states / unit, "total": self.total / unit}


def estimate_memory(
    n_params: int | float,
    optimizer: str = "adamw",
    precision: str = "fp32",
    zero_stage: int = 0,
    n_gpus: int = 1,
) -> MemoryEstimate:
    """Per-GPU memory of weights, gradients and optimizer states for training ``n_params`` parameters.

    >>> round(estimate_memory(7.5e9, "adam", "fp16-mixed", zero_stage=1, n_gpus=64).total / 1e9, 1)
    31.4
    """
    if n_params <= 0:
        raise ValueError(f"n_params must be positive, got {n_params}")
    if optimizer not in OPTIMIZER_STATES:
        raise ValueError(f"unknown optimizer {optimizer!r}: use one of {sorted(OPTIMIZER_STATES)}")
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}: use one of {sorted(PRECISIONS)}")
    if zero_stage not in (0, 1, 2, 3):
        raise ValueError(f"zero_stage must be 0 (plain data parallel), 1, 2 or 3, got {zero_stage!r}")
    if not isinstance(n_gpus, int) or n_gpus < 1:
        raise ValueError(f"n_gpus must be a positive int, got {n_gpus!r}")
    w_bytes, g_bytes, state_bytes, master = PRECISIONS[precision]
    per_param_states = OPTIMIZER_STATES[optimizer] * state_bytes + (4 if master else 0)
    weights, grads, states = n_params * w_bytes, n_params * g_bytes, n_params * per_param_states
    if zero_stage >= 1:
        states /= n_gpus
    if zero_stage >= 2:
        grads /= n_gpus
    if zero_stage >= 3:
        weights /= n_gpus
    return MemoryEstimate(float(weights), float(grads), float(states), int(n_params), precision, optimizer,
                          zero_stage, n_gpus)
