"""The position-wise feed-forward network of a Transformer block."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["FeedForward", "ACTIVATIONS"]

ACTIVATIONS = ("relu", "gelu", "gelu_tanh", "swiglu")


class FeedForward(nn.Module):
    """FFN(x) = act(x W1 + b1) W2 + b2, applied to every position independently.

    ``activation``:
      * ``"relu"``: max(0, ·), the original Transformer;
      * ``"gelu"``: x Φ(x) with the exact normal CDF (BERT, ``torch.nn.GELU()``);
      * ``"gelu_tanh"``: GPT-2's tanh approximation of GELU (needed for exact parity with HF GPT-2);
      * ``"swiglu"``: SwiGLU(x) = (SiLU(x W_gate) ⊙ x W_up) W2, as in Llama; it has submodules ``gate`` and
        ``up`` instead of ``fc1``.

    Shapes: ``(batch, seq, d_model)`` → ``(batch, seq, d_model)``. ``dropout`` is applied to the output.
    """

    def __init__(self, d_model: int, d_ff: int, activation: str = "gelu", dropout: float = 0.0, bias: bool = True):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}: use one of {ACTIVATIONS}")
        self.activation = activation
        if activation == "swiglu":
            self.gate = nn.Linear(d_model, d_ff, bias=bias)
            self.up = nn.Linear(d_model, d_ff, bias=bias)
        else:
            self.fc1 = nn.Linear(d_model, d_ff, bias=bias)
        self.fc2 = nn.Linear(d_ff, d_model, bias=bias)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.activation == "swiglu":
            hidden = F.silu(self.gate(x)) * self.up(x)
        elif self.activation == "relu":
            hidden = F.relu(self.fc1(x))
        elif self.activation == "gelu":
            hidden = F.gelu(self.fc1(x))
        else:
            hidden = F.gelu(self.fc1(x), approximate="tanh")
        return self.dropout(self.fc2(hidden))
