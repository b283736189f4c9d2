"""Positional information: sinusoidal encodings (added to the input) and rotary embeddings (applied to q, k).

Attention by itself is permutation-equivariant: shuffle the tokens and the outputs shuffle the same way.
Positions must therefore be injected. The original Transformer adds fixed sinusoids to the token
embeddings; GPT-2 adds learned vectors (a plain ``nn.Embedding(max_len, d_model)``); Llama rotates
queries and keys by position-dependent angles (RoPE), so that q·k depends only on the relative position.
T5 adds nothing to the tokens at all: each head adds a learned scalar to the score of query i and key j,
looked up by the bucket of the relative position j − i (:class:`RelativePositionBias`).
"""
from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["SinusoidalPositionalEncoding", "RotaryEmbedding", "ROPE_SCALINGS", "rotate_half",
           "relative_position_bucket", "RelativePositionBias"]


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


ROPE_SCALINGS = (None, "linear", "dynamic")


class RotaryEmbedding(nn.Module):
    """Rotary position embedding (RoPE), in the "rotate half" layout of Hugging Face's Llama.

    Dimension pairs ``(i, i + head_dim/2)`` of a query or key at position m are rotated by the angle
    ``m · θ_i``, θ_i = base^(−2i/head_dim). A rotation preserves lengths and
    ⟨R(m) q, R(n) k⟩ = ⟨q, R(n − m) k⟩, so attention scores depend only on the relative position n − m.

    Usage: ``q, k = rotary(q, k, offset=0)`` with q, k ``(batch, heads, seq, head_dim)``; ``offset`` is the
    absolute position of the first token (the number of cached positions when decoding with a KV cache).

    Longer context than the model was trained on (``scaling``, Hugging Face's ``rope_scaling``):

    * ``None``: the angles above, also beyond the training length (extrapolation);
    * ``"linear"``: position interpolation (Chen et al., 2023): θ_i / ``factor``, i.e. position m is
      read as m / factor, so ``factor`` times the training length falls on angles seen in training;
    * ``"dynamic"``: dynamic NTK-aware scaling (bloc97, emozilla): for a sequence of total length
      L' = offset + seq longer than ``original_max_len`` = L, the base grows to
      base · (factor · L' / L − (factor − 1))^(head_dim / (head_dim − 2)), which stretches the slow
      (low-frequency) pairs most and leaves the fastest ones almost unchanged; up to L nothing
      changes.

    The frequencies of "dynamic" depend on the length of the call, as in Hugging Face (which caches
    the longest length seen and keeps its frequencies until a call falls back under L; here every
    call uses its own length).

    Args:
        head_dim: the width of one head (even).
        max_len: the most positions this module will rotate (a guard against silent misuse).
        base: the base of the frequencies (Llama 2: 10000, Llama 3: 500000).
        scaling: one of ``ROPE_SCALINGS``.
        factor: the scaling factor (≥ 1) of "linear" and "dynamic".
        original_max_len: L for "dynamic", the context length the model was trained with (Hugging
            Face's ``max_position_embeddings``); default ``max_len``.
    """

    def __init__(self, head_dim: int, max_len: int = 4096, base: float = 10000.0,
                 scaling: str | None = None, factor: float = 1.0,
                 original_max_len: int | None = None):
        super().__init__()
        if head_dim % 2 != 0:
            raise ValueError(f"head_dim={head_dim} must be even: RoPE rotates pairs of dimensions")
        if scaling not in ROPE_SCALINGS:
            raise ValueError(f"unknown RoPE scaling {scaling!r}: use one of {ROPE_SCALINGS}")
        if isinstance(factor, bool) or not isinstance(factor, (int, float)) or factor < 1:
            raise ValueError(f"factor must be a number >= 1 (how many times longer the context "
                             f"gets), got {factor!r}")
        if scaling is None and factor != 1:
            raise ValueError(f"factor={factor} has no effect without scaling: pass "
                             f"scaling='linear' or 'dynamic' as well")
        original_max_len = max_len if original_max_len is None else original_max_len
        if (isinstance(original_max_len, bool) or not isinstance(original_max_len, int)
                or original_max_len < 1):
            raise ValueError(f"original_max_len must be a positive int (the training context "
                             f"length), got {original_max_len!r}")
        if scaling == "dynamic" and head_dim < 4:
            raise ValueError("dynamic scaling raises the base to the power head_dim / "
                             "(head_dim - 2): it needs head_dim >= 4")
        self.head_dim, self.max_len, self.base = head_dim, max_len, base
        self.scaling, self.factor, self.original_max_len = scaling, float(factor), original_max_len
        inv_freq = self._inv_freq(float(base))  # θ_i
        if scaling == "linear":
            inv_freq = inv_freq / self.factor  # position m is read as m / factor
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def _inv_freq(self, base: float | torch.Tensor) -> torch.Tensor:
        """θ_i = base^(−2i/head_dim), ``(head_dim/2,)``, in float32 like Hugging Face."""
        device = base.device if isinstance(base, torch.Tensor) else None
        pairs = torch.arange(0, self.head_dim, 2, dtype=torch.float, device=device)
        exponents = pairs / self.head_dim
        return 1.0 / (base ** exponents)

    def frequencies(self, seq_len: int, device=None) -> torch.Tensor:
        """The θ_i ``(head_dim/2,)`` of a call whose positions end at ``seq_len`` (offset + seq)."""
        inv_freq = self.inv_freq.to(device=device if device is not None else self.inv_freq.device,
                                    dtype=torch.float)
        if self.scaling != "dynamic" or seq_len <= self.original_max_len:
            return inv_freq
        # NTK-aware: a larger base for a longer sequence; float32 steps in Hugging Face's order
        length = torch.tensor(seq_len, device=inv_freq.device)
        stretch = self.factor * length / self.original_max_len
        stretch = stretch - (self.factor - 1)
        base = self.base * stretch ** (self.head_dim / (self.head_dim - 2))
        return self._inv_freq(base)

    def cos_sin(self, seq_len: int, offset: int = 0, device=None, dtype=torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
        """cos and sin of the angles of positions ``offset … offset + seq_len - 1``, each ``(seq_len, head_dim)``."""
        if offset < 0 or offset + seq_len > self.max_len:
            raise ValueError(
                f"positions {offset}..{offset + seq_len - 1} exceed max_len={self.max_len}: build RotaryEmbedding with a larger max_len"
            )
        inv_freq = self.frequencies(offset + seq_len, device)
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

    def extra_repr(self) -> str:
        scaled = f", scaling={self.scaling!r}, factor={self.factor}" if self.scaling else ""
        return f"head_dim={self.head_dim}, max_len={self.max_len}, base={self.base}{scaled}"


def _check_buckets(num_buckets: int, max_distance: int, bidirectional: bool) -> int:
    """Validate the bucket layout; return ``max_exact``, the number of exact (one-position-wide) buckets."""
    for name, value in (("num_buckets", num_buckets), ("max_distance", max_distance)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"relative position buckets need a positive int {name}, got {value!r}")
    per_direction = num_buckets // 2 if bidirectional else num_buckets
    max_exact = per_direction // 2
    if max_exact < 1:
        raise ValueError(
            f"num_buckets={num_buckets} is too few: half the buckets of each direction are exact, so at "
            f"least {4 if bidirectional else 2} are needed "
            f"({'bidirectional' if bidirectional else 'causal'} attention)"
        )
    if max_distance <= max_exact:
        raise ValueError(
            f"max_distance={max_distance} must exceed the {max_exact} exact buckets: the logarithmic buckets "
            f"cover the distances {max_exact}..max_distance; raise max_distance or lower num_buckets"
        )
    return max_exact


def relative_position_bucket(
    relative_position: torch.Tensor,
    bidirectional: bool = True,
    num_buckets: int = 32,
    max_distance: int = 128,
) -> torch.Tensor:
    """T5's bucket of each relative position ``key_position − query_position`` (any shape, integer).

    Near positions get a bucket each; farther ones share buckets whose width grows logarithmically up to
    ``max_distance``, beyond which every distance falls in the last bucket. With ``bidirectional=True``
    (the encoder) half of the buckets are for keys before the query and half for keys after it; with
    ``False`` (the causal decoder) only keys at or before the query count, and later ones (masked anyway)
    share bucket 0. For a distance d ≥ ``max_exact`` (half the buckets of one direction)::

        bucket = min(max_exact + ⌊log(d / max_exact) / log(max_distance / max_exact) · (n − max_exact)⌋,
                     n − 1)

    where n is the number of buckets of one direction. Returns int64 buckets in ``[0, num_buckets)``, same
    shape as ``relative_position``.
    """
    if not isinstance(relative_position, torch.Tensor) or relative_position.dtype.is_floating_point:
        raise TypeError("relative_position must be an integer tensor of key_position - query_position")
    max_exact = _check_buckets(num_buckets, max_distance, bidirectional)
    relative_position = relative_position.long()
    if bidirectional:
        num_buckets //= 2
        offset = (relative_position > 0).long() * num_buckets  # keys after the query: the upper half
        distance = relative_position.abs()
    else:
        offset = torch.zeros_like(relative_position)
        distance = (-relative_position).clamp(min=0)  # only the past counts; future keys get bucket 0
    is_small = distance < max_exact
    # The clamp only keeps log(0) out of the small distances, whose result torch.where discards anyway.
    log_ratio = (torch.log(distance.clamp(min=max_exact).float() / max_exact)
                 / math.log(max_distance / max_exact))
    log_bucket = max_exact + (log_ratio * (num_buckets - max_exact)).long()  # .long() truncates, like ⌊·⌋
    log_bucket = log_bucket.clamp(max=num_buckets - 1)  # distances ≥ max_distance share the last bucket
    return offset + torch.where(is_small, distance, log_bucket)


class RelativePositionBias(nn.Module):
    """T5's relative position bias: one learned scalar per (bucket, head), added to the attention scores.

    ``forward(seq_q, seq_k, offset=0)`` returns ``(1, n_heads, seq_q, seq_k)``: entry (h, i, j) is the bias
    of head h for query position ``offset + i`` and key position j, looked up by
    :func:`relative_position_bucket` of ``j − (offset + i)``. ``offset`` is the number of cached positions
    when decoding with a KV cache. Pass it as ``attn_bias`` to :class:`~llmbook.nn.MultiHeadAttention`.

    Args:
        n_heads: number of attention heads (one bias per head and bucket).
        num_buckets, max_distance: see :func:`relative_position_bucket` (T5: 32 and 128).
        bidirectional: True for an encoder, False for a causal decoder.
    """

    def __init__(self, n_heads: int, num_buckets: int = 32, max_distance: int = 128,
                 bidirectional: bool = True):
        super().__init__()
        if isinstance(n_heads, bool) or not isinstance(n_heads, int) or n_heads < 1:
            raise ValueError(f"RelativePositionBias needs a positive int n_heads, got {n_heads!r}")
        _check_buckets(num_buckets, max_distance, bidirectional)
        self.n_heads, self.num_buckets, self.max_distance = n_heads, num_buckets, max_distance
        self.bidirectional = bidirectional
        self.embedding = nn.Embedding(num_buckets, n_heads)  # the learned bias of each bucket, per head

    def forward(self, seq_q: int, seq_k: int, offset: int = 0) -> torch.Tensor:
        """The bias ``(1, n_heads, seq_q, seq_k)`` of queries at ``offset …`` and keys at
        ``0 … seq_k − 1``."""
        device = self.embedding.weight.device
        query_position = torch.arange(offset, offset + seq_q, device=device)[:, None]
        key_position = torch.arange(seq_k, device=device)[None, :]
        buckets = relative_position_bucket(key_position - query_position, self.bidirectional,
                                           self.num_buckets, self.max_distance)  # (seq_q, seq_k)
        return self.embedding(buckets).permute(2, 0, 1).unsqueeze(0)  # (1, n_heads, seq_q, seq_k)
