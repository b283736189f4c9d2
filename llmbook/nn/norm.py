"""Normalisation layers. LayerNorm is ``torch.nn.LayerNorm``; RMSNorm is written out here."""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["RMSNorm", "make_norm", "NORMS"]

NORMS = ("layernorm", "rmsnorm")


class RMSNorm(nn.Module):
    """RMSNorm(x) = x / sqrt(mean(x²) + eps) · g (Zhang & Sennrich 2019): LayerNorm without re-centring or bias.

    Shapes: ``(..., d_model)`` → same. The statistic is computed in float32 even for half-precision inputs,
    as in Llama, because a mean of squares overflows or loses precision in fp16/bf16.
    """

    def __init__(self, d_model: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d_model))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x32 = x.float()
        normed = x32 * torch.rsqrt(x32.pow(2).mean(dim=-1, keepdim=True) + self.eps)
        return self.weight * normed.to(x.dtype)


def make_norm(norm: str, d_model: int, eps: float, bias: bool = True) -> nn.Module:
    """``"layernorm"`` → ``nn.LayerNorm(d_model, eps, bias=bias)``; ``"rmsnorm"`` → ``RMSNorm(d_model, eps)``."""
    if norm == "layernorm":
        return nn.LayerNorm(d_model, eps=eps, bias=bias)
    if norm == "rmsnorm":
        return RMSNorm(d_model, eps=eps)
    raise ValueError(f"unknown norm {norm!r}: use one of {NORMS}")
