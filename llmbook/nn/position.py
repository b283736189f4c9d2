"""Positional information: sinusoidal encodings (added to the input) and rotary embeddings (applied to q, k).

Attention by itself is permutation-equivariant: shuffle the tokens and the outputs shuffle the same way.
Positions must therefore be injected. The original Transformer adds fixed sinusoids to the token
embeddings; GPT-2 adds learned vectors (a plain ``nn.Embedding(max_len, d_model)``); Llama rotates
queries and keys by position-dependent angles (RoPE), so that q·k depends only on the relative position.
"""
from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["SinusoidalPositionalEncoding", "RotaryEmbedding", "rotate_half"]


class SinusoidalPositionalEncoding(nn.Module):
    """PE(pos, 2i) = sin(pos / 10000^(2i/d_model)), PE(pos, 2i+1) = cos(pos / 10000^(2i/d_model)).

    ``forward(x)`` returns ``x + PE`` for ``x`` of shape ``(batch, seq, d_model)``; ``encoding(seq_len)``
    returns the table ``(seq_len, d_model)`` itself. Sine and cosine are interleaved, as in Vaswani et al.
    """

    def __init__(self, d_model: int, max_len: int = 4096, base: float = 10000.0):
        super().__init__()
        if d_model % 2 != 0:
            raise ValueError(f"d_model={d_model} must be even: sinusoidal encodings come in (sin, cos) pairs")
        self.d_model, self.max_len = d_model, max_len
        position = torch.arange(max_len, dtype=torch.float64)[:, None]  # (max_len, 1)
        # 1 / base^(2i / d_model), computed in float64 so the table is exact to float32 precision
        inv_freq = torch.exp(-math.log(base) * torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)
        pe = torch.zeros(max_len, d_model, dtype=torch.float64)
        pe[:, 0::2] = torch.sin(position * inv_freq)
        pe[:, 1::2] = torch.cos(position * inv_freq)
        self.register_buffer("pe", pe.float(), persistent=False)

    def encoding(self, seq_len: int, offset: int = 0) -> torch.Tensor:
        """The encodings of positions ``offset … offset + seq_len - 1``: ``(seq_len, d_model)``."""
        if offset < 0 or offset + seq_len > self.max_len:
            raise ValueError(
                f"positions {offset}..{offset + seq_len - 1} exceed max_len={self.max_len}: build the encoding with a larger max_len"
            )
        return self.pe[offset : offset + seq_len]

    def forward(self, x: torch.Tensor, offset: int = 0) -> torch.Tensor:
        """``x`` ``(batch, seq, d_model)`` → ``x + PE[offset : offset + seq]`` (same shape)."""
        if x.shape[-1] != self.d_model:
            raise ValueError(f"x has shape {tuple(x.shape)} but this encoding has d_model={self.d_model}")
        return x + self.encoding(x.shape[-2], offset).to(x.dtype)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """(x1, x2) → (−x2, x1) on the two halves of the last dimension: a 90° turn of each pair (x1_i, x2_i)."""
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


class RotaryEmbedding(nn.Module):
    """Rotary position embedding (RoPE), in the "rotate half" layout of Hugging Face's Llama.

    Dimension pairs ``(i, i + head_dim/2)`` of a query or key at position m are rotated by the angle
    ``m · θ_i``, θ_i = base^(−2i/head_dim). A rotation preserves lengths and
    ⟨R(m) q, R(n) k⟩ = ⟨q, R(n − m) k⟩, so attention scores depend only on the relative position n − m.

    Usage: ``q, k = rotary(q, k, offset=0)`` with q, k ``(batch, heads, seq, head_dim)``; ``offset`` is the
    absolute position of the first token (the number of cached positions when decoding with a KV cache).
    """

    def __init__(self, head_dim: int, max_len: int = 4096, base: float = 10000.0):
        super().__init__()
        if head_dim % 2 != 0:
            raise ValueError(f"head_dim={head_dim} must be even: RoPE rotates pairs of dimensions")
        self.head_dim, self.max_len, self.base = head_dim, max_len, base
        inv_freq = 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.float) / head_dim))  # θ_i
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def cos_sin(self, seq_len: int, offset: int = 0, device=None, dtype=torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
        """cos and sin of the angles of positions ``offset … offset + seq_len - 1``, each ``(seq_len, head_dim)``."""
        if offset < 0 or offset + seq_len > self.max_len:
            raise ValueError(
                f"positions {offset}..{offset + seq_len - 1} exceed max_len={self.max_len}: build RotaryEmbedding with a larger max_len"
            )
        inv_freq = self.inv_freq.to(device=device if device is not None else self.inv_freq.device, dtype=torch.float)
        position = torch.arange(offset, offset + seq_len, device=inv_freq.device, dtype=torch.float)
        angles = position[:, None] * inv_freq[None, :]  # (seq, head_dim/2), in float32 like HF
        angles = torch.cat((angles, angles), dim=-1)  # (seq, head_dim): pair i and i + head_dim/2 share θ_i
        return angles.cos().to(dtype), angles.sin().to(dtype)

    def rotate(self, x: torch.Tensor, offset: int = 0) -> torch.Tensor:
        """Rotate one tensor ``(..., seq, head_dim)`` by the angles of its positions."""
        if x.shape[-1] != self.head_dim:
            raise ValueError(f"x has shape {tuple(x.shape)} but this RotaryEmbedding has head_dim={self.head_dim}")
        cos, sin = self.cos_sin(x.shape[-2], offset, device=x.device, dtype=x.dtype)
        return x * cos + rotate_half(x) * sin

    def forward(self, q: torch.Tensor, k: torch.Tensor, offset: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """Rotate queries and keys ``(batch, heads, seq, head_dim)``; returns ``(q_rotated, k_rotated)``."""
        return self.rotate(q, offset), self.rotate(k, offset)
