"""Checks for chapter 3, "Attention and Transformer math"."""
from __future__ import annotations

import torch

from ... import nn as lnn
from . import exercise, integer


@exercise(
    "03.1",
    hint="Two tokens are already in the KV cache and 3 new queries arrive: the mask is (3, 5) and query i sits at "
    "absolute position 2 + i, so it may see keys 0 … 2 + i. Build it with torch.ones(...).tril(diagonal=...).",
)
def _cached_causal_mask(answer) -> bool:
    answer = torch.as_tensor(answer)
    return answer.dtype == torch.bool and torch.equal(answer, lnn.causal_mask(3, 5))


@exercise(
    "03.2",
    hint="MultiHeadAttention has four d_model × d_model projections (q, k, v, out), each with a bias of d_model; "
    "the number of heads does not change the count.",
)
def _mha_parameters(answer) -> bool:
    module = lnn.MultiHeadAttention(512, 8)
    return integer(answer) == sum(p.numel() for p in module.parameters())


@exercise(
    "03.3",
    hint="A ReLU FFN without biases has 2·d_model·d_ff parameters with d_ff = 4·d_model; SwiGLU has three matrices "
    "(gate, up, fc2), so its d_ff must be 2/3 of that: solve 3·d_model·d_ff' = 2·d_model·4·d_model for d_model = 768.",
)
def _swiglu_width(answer) -> bool:
    d_model = 768
    relu = sum(p.numel() for p in lnn.FeedForward(d_model, 4 * d_model, activation="relu", bias=False).parameters())
    swiglu = sum(p.numel() for p in lnn.FeedForward(d_model, integer(answer), activation="swiglu", bias=False).parameters())
    return swiglu == relu


@exercise(
    "03.4",
    hint="The cache holds a key and a value vector of d_model numbers per layer and per position: "
    "2 · n_layers · seq · d_model numbers for one sequence, times 4 bytes in float32.",
)
def _kv_cache_bytes(answer) -> bool:
    # GPT-2 small: 12 layers, d_model 768, 12 heads; a full 1024-token context, batch 1, float32.
    # Measured on a real cache, scaled down by the sequence length to keep the check light.
    n_layers, d_model, n_heads, seq, probe = 12, 768, 12, 1024, 8
    cache = lnn.KVCache(n_layers)
    layer = lnn.MultiHeadAttention(d_model, n_heads)
    with torch.no_grad():
        x = torch.zeros(1, probe, d_model)
        for i in range(n_layers):
            layer(x, causal=True, kv_cache=cache.layer(i))
    probe_bytes = sum(s.keys.nbytes + s.values.nbytes for s in cache.layers)
    return integer(answer) == probe_bytes * seq // probe
