"""AdamW with weight-decay parameter groups, and the warmup + cosine learning-rate schedule.

Weight decay pulls weights towards zero. Decoupled from the gradient step (AdamW,
{cite}`loshchilov2019decoupled`) it is a regulariser for the *matrices* that mix features; applying it
to biases, normalisation gains or embedding rows only hurts (a LayerNorm gain decayed towards zero
shrinks its whole output). Following minGPT/nanoGPT's original rule, the weights of ``nn.Linear``
layers decay and every other parameter (biases, norms, embeddings, and a linear weight tied to an
embedding) does not.
"""
from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["param_groups", "configure_optimizer", "lr_at", "WarmupCosineSchedule"]


def param_groups(model: nn.Module, weight_decay: float, decay_embeddings: bool = False) -> list[dict]:
    """Split ``model``'s trainable parameters into a decayed and a non-decayed group.

    Decayed: ``nn.Linear`` weights. Not decayed: everything else, including a linear weight that is
    shared with an embedding (weight tying), since it is an embedding table too (minGPT's rule).
    ``decay_embeddings=True`` is nanoGPT's rule instead: every parameter with two or more dimensions
    decays, embedding tables included; biases and normalisation gains do not.
    Returns ``[{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]``.
    """
    decay: dict[int, nn.Parameter] = {}
    no_decay: dict[int, nn.Parameter] = {}
    for module in model.modules():
        for name, p in module.named_parameters(recurse=False):
            if not p.requires_grad:
                continue
            if decay_embeddings:
                (decay if p.dim() >= 2 else no_decay)[id(p)] = p
            elif isinstance(module, nn.Linear) and name == "weight":
                decay.setdefault(id(p), p)
            else:
                no_decay[id(p)] = p
    for key in no_decay:  # minGPT: a tied lm_head weight is the embedding, so it must not decay
        decay.pop(key, None)
    position = {id(p): i for i, p in enumerate(model.parameters())}  # keep the model's order: reproducible

    def ordered(group: dict[int, nn.Parameter]) -> list[nn.Parameter]:
        return sorted(group.values(), key=lambda p: position[id(p)])

    return [
        {"params": ordered(decay), "weight_decay": weight_decay},
        {"params": ordered(no_decay), "weight_decay": 0.0},
    ]


def configure_optimizer(
    model: nn.Module,
    lr: float,
    weight_decay: float = 0.1,
    betas: tuple[float, float] = (0.9, 0.95),
    eps: float = 1e-8,
    device_type: str = "cpu",
    decay_embeddings: bool = False,
) -> torch.optim.AdamW:
    """AdamW over :func:`param_groups`; the fused CUDA kernel on a GPU (one launch for all parameters)."""
    if lr <= 0:
        raise ValueError(f"the learning rate must be positive, got {lr}")
    if weight_decay < 0:
        raise ValueError(f"weight_decay must be non-negative, got {weight_decay}")
    extra = {"fused": True} if device_type == "cuda" else {}
    return torch.optim.AdamW(param_groups(model, weight_decay, decay_embeddings), lr=lr, betas=betas, eps=eps, **extra)


def lr_at(step: int, max_lr: float, warmup_steps: int, decay_steps: int, min_lr: float) -> float:
    """nanoGPT's schedule: linear warmup, cosine decay to ``min_lr`` at ``decay_steps``, then constant.

    $$\\eta_t = \\begin{cases} \\eta_{\\max}\\,\\frac{t+1}{W+1} & t < W \\\\
      \\eta_{\\min} + \\tfrac12\\left(1 + \\cos\\frac{\\pi (t-W)}{D-W}\\right)(\\eta_{\\max} - \\eta_{\\min}) & W \\le t \\le D \\\\
      \\eta_{\\min} & t > D \\end{cases}$$
    """
    if step < warmup_steps:
        return max_lr * (step + 1) / (warmup_steps + 1)
    if step > decay_steps or decay_steps <= warmup_steps:
        return min_lr
    progress = (step - warmup_steps) / (decay_steps - warmup_steps)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (max_lr - min_lr)


class WarmupCosineSchedule(torch.optim.lr_scheduler.LRScheduler):
    """:func:`lr_at` as a PyTorch scheduler: each group's lr is its initial lr scaled by ``lr_at / max_lr``.

    Call ``scheduler.step()`` once after each ``optimizer.step()``; the state (the step count) is
    saved in checkpoints by ``state_dict()``.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, warmup_steps: int, decay_steps: int, min_lr_ratio: float = 0.1,
                 last_epoch: int = -1):
        if warmup_steps < 0 or decay_steps < 0:
            raise ValueError(f"warmup_steps and decay_steps must be non-negative, got {warmup_steps}, {decay_steps}")
        if not 0.0 <= min_lr_ratio <= 1.0:
            raise ValueError(f"min_lr_ratio = min_lr / max_lr must be in [0, 1], got {min_lr_ratio}")
        self.warmup_steps, self.decay_steps, self.min_lr_ratio = warmup_steps, decay_steps, min_lr_ratio
        super().__init__(optimizer, last_epoch)

    def factor(self, step: int) -> float:
        """The multiplier of the peak learning rate at ``step``."""
        return lr_at(step, 1.0, self.warmup_steps, self.decay_steps, self.min_lr_ratio)

    def get_lr(self) -> list[float]:
        f = self.factor(self.last_epoch)
        return [base * f for base in self.base_lrs]
