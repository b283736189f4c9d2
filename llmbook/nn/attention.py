"""Scaled dot-product attention, masks, the KV cache and multi-head attention.

Layout is batch-first everywhere: activations are ``(batch, seq, d_model)`` and per-head tensors are
``(batch, heads, seq, head_dim)``. Boolean attention masks follow PyTorch's ``scaled_dot_product_attention``:
**True means "may attend"**. The one exception is ``key_padding_mask``, which follows
``torch.nn.MultiheadAttention``: **True means "padding, ignore"**.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

if TYPE_CHECKING:  # pragma: no cover - imported for type hints only
    from .position import RotaryEmbedding

__all__ = ["scaled_dot_product_attention", "causal_mask", "KVCache", "LayerKVCache", "MultiHeadAttention"]


def _shape(t: torch.Tensor) -> tuple[int, ...]:
    return tuple(t.shape)


def scaled_dot_product_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None = None,
    dropout_p: float = 0.0,
    return_weights: bool = False,
    bias: torch.Tensor | None = None,
    scale: float | None = None,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Attention(Q, K, V) = softmax(Q Kᵀ / √d_k) V, written out step by step (the readable reference).

    With ``bias`` and ``scale`` it is softmax(scale · Q Kᵀ + bias) V: T5 adds a learned relative-position
    bias to the scores and does not divide them by √d_k (``scale=1.0``).

    Args:
        q: queries ``(..., seq_q, d_k)``.
        k: keys ``(..., seq_k, d_k)``.
        v: values ``(..., seq_k, d_v)``.
        mask: optional boolean mask broadcastable to ``(..., seq_q, seq_k)``; **True = may attend**
            (the convention of ``torch.nn.functional.scaled_dot_product_attention``). A query row whose
            keys are all masked gets an output of zeros, as in PyTorch, instead of NaN.
        dropout_p: dropout probability applied to the attention weights (use 0 at evaluation).
        return_weights: also return the attention weights ``(..., seq_q, seq_k)``.
        bias: optional float tensor broadcastable to ``(..., seq_q, seq_k)``, added to the scores before
            the mask and the softmax (e.g. :class:`~llmbook.nn.RelativePositionBias`).
        scale: the factor of the scores; None means 1/√d_k.

    Returns:
        ``(..., seq_q, d_v)``, or ``(output, weights)`` if ``return_weights``.
    """
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(
            f"queries and keys must have the same last dimension d_k: q has shape {_shape(q)}, k has shape {_shape(k)}"
        )
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(
            f"keys and values must have the same number of positions (dim -2): k has shape {_shape(k)}, v has shape {_shape(v)}"
        )
    d_k = q.shape[-1]
    if scale is None:
        scores = q @ k.transpose(-2, -1) / math.sqrt(d_k)  # (..., seq_q, seq_k)
    else:
        scores = (q @ k.transpose(-2, -1)) * scale
    if bias is not None:
        scores = scores + _check_float_bias(bias, tuple(scores.shape), "bias")
    if mask is not None:
        mask = _check_bool_mask(mask, tuple(scores.shape), "mask")
        # A masked score becomes -inf, so its softmax weight is exactly 0.
        scores = scores.masked_fill(~mask, float("-inf"))
        # A row with nothing to attend to would be softmax(-inf, ..., -inf) = NaN: give it zero weights.
        any_allowed = mask.any(dim=-1, keepdim=True)
        scores = scores.masked_fill(~any_allowed, 0.0)
    weights = torch.softmax(scores, dim=-1)
    if mask is not None:
        weights = weights * any_allowed
    if dropout_p > 0.0:
        weights = F.dropout(weights, p=dropout_p)
    out = weights @ v  # (..., seq_q, d_v)
    return (out, weights) if return_weights else out


def _check_bool_mask(mask: torch.Tensor, target: tuple[int, ...], name: str) -> torch.Tensor:
    """Check that ``mask`` is boolean and broadcastable to ``target``; return it unchanged."""
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
        got = mask.dtype if isinstance(mask, torch.Tensor) else type(mask).__name__
        raise TypeError(f"{name} must be a boolean tensor (True = may attend), got {got}; use mask.bool() or a comparison")
    return _check_broadcastable(mask, target, name)


def _check_broadcastable(t: torch.Tensor, target: tuple[int, ...], name: str) -> torch.Tensor:
    """Check that ``t`` broadcasts to the attention scores' shape ``target``; return it unchanged."""
    try:
        torch.broadcast_shapes(tuple(t.shape), target)
        broadcastable = t.dim() <= len(target)
    except RuntimeError:
        broadcastable = False
    if not broadcastable:
        raise ValueError(
            f"{name} of shape {_shape(t)} cannot be broadcast to the attention scores of shape {target} "
            "(…, seq_q, seq_k)"
        )
    return t


def _check_float_bias(bias: torch.Tensor, target: tuple[int, ...], name: str) -> torch.Tensor:
    """Check that ``bias`` is a floating-point tensor broadcastable to ``target``; return it unchanged."""
    if not isinstance(bias, torch.Tensor) or not bias.dtype.is_floating_point:
        got = bias.dtype if isinstance(bias, torch.Tensor) else type(bias).__name__
        raise TypeError(f"{name} must be a floating-point tensor added to the attention scores, got {got}; "
                        "a boolean tensor is a mask: pass it as the mask instead")
    return _check_broadcastable(bias, target, name)


def causal_mask(seq_q: int, seq_k: int | None = None, device: torch.device | str | None = None) -> torch.Tensor:
    """Boolean causal mask ``(seq_q, seq_k)``: True on and below the diagonal (query i may see key j ≤ i).

    When ``seq_k > seq_q`` (new queries after ``seq_k - seq_q`` cached positions, as with a KV cache) the
    diagonal is aligned to the end: query i sits at absolute position ``seq_k - seq_q + i``.
    """
    seq_k = seq_q if seq_k is None else seq_k
    for name, value in (("seq_q", seq_q), ("seq_k", seq_k)):
        if isinstance(value, (bool, float)):  # not isinstance(value, int): a SymInt under torch.compile is fine
            raise ValueError(f"causal_mask needs whole numbers of positions, got {name}={value!r}")
    if seq_q < 0 or seq_k < seq_q:
        raise ValueError(
            f"causal_mask needs 0 <= seq_q <= seq_k, got seq_q={seq_q}, seq_k={seq_k} "
            "(a query cannot come after more keys than exist)"
        )
    offset = seq_k - seq_q
    return torch.ones(seq_q, seq_k, dtype=torch.bool, device=device).tril(diagonal=offset)


class LayerKVCache:
    """The cached keys and values of one attention layer, each ``(batch, heads, seq_cached, head_dim)``."""

    def __init__(self) -> None:
        self.keys: torch.Tensor | None = None
        self.values: torch.Tensor | None = None

    @property
    def seq_len(self) -> int:
        """Number of cached positions."""
        return 0 if self.keys is None else self.keys.shape[-2]

    def update(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Append new keys/values ``(batch, heads, seq_new, head_dim)``; return all of them so far."""
        if self.keys is None:
            self.keys, self.values = k, v
        else:
            if k.shape[:2] != self.keys.shape[:2] or k.shape[-1] != self.keys.shape[-1]:
                raise ValueError(
                    f"new keys of shape {_shape(k)} do not match the cached keys of shape {_shape(self.keys)} "
                    "(batch, heads and head_dim must agree; call cache.reset() for a new batch)"
                )
            self.keys = torch.cat([self.keys, k], dim=-2)
            self.values = torch.cat([self.values, v], dim=-2)
        return self.keys, self.values

    def reorder(self, index: torch.Tensor) -> None:
        """Keep batch rows ``index`` (e.g. the surviving beams of beam search)."""
        if self.keys is not None:
            self.keys = self.keys.index_select(0, index)
            self.values = self.values.index_select(0, index)

    def reset(self) -> None:
        self.keys = self.values = None


class KVCache:
    """Keys and values of every attention layer, for incremental (token-by-token) decoding.

    ``KVCache(n_layers)``; layer ``i`` uses the slot ``cache.layer(i)`` (also ``cache[i]``). Without a
    cache, generating token t recomputes the keys and values of all t previous tokens; with it, each step
    computes them for the new token only and attends to the stored ones.
    """

    def __init__(self, n_layers: int) -> None:
        if not isinstance(n_layers, int) or n_layers < 1:
            raise ValueError(f"KVCache needs n_layers >= 1, got {n_layers!r}")
        self.layers = [LayerKVCache() for _ in range(n_layers)]

    def layer(self, i: int) -> LayerKVCache:
        """The slot of attention layer ``i``."""
        if not 0 <= i < len(self.layers):
            raise IndexError(f"KVCache has {len(self.layers)} layers, asked for layer {i}")
        return self.layers[i]

    __getitem__ = layer

    def __len__(self) -> int:
        return len(self.layers)

    @property
    def seq_len(self) -> int:
        """Number of cached positions (of layer 0; all layers agree between forward passes)."""
        return self.layers[0].seq_len

    def reorder(self, index: torch.Tensor) -> None:
        """Keep batch rows ``index`` in every layer."""
        for slot in self.layers:
            slot.reorder(index)

    def reset(self) -> None:
        """Forget every cached position."""
        for slot in self.layers:
            slot.reset()


def _layer_slot(kv_cache: KVCache | LayerKVCache | None) -> LayerKVCache | None:
    """Accept a layer slot, or a one-layer ``KVCache``; anything else is an error that names the fix."""
    if kv_cache is None or isinstance(kv_cache, LayerKVCache):
        return kv_cache
    if isinstance(kv_cache, KVCache):
        if len(kv_cache) == 1:
            return kv_cache.layer(0)
        raise TypeError(
            f"this layer got a KVCache of {len(kv_cache)} layers: pass its own slot, kv_cache=cache.layer(i)"
        )
    raise TypeError(f"kv_cache must be a KVCache slot (cache.layer(i)), got {type(kv_cache).__name__}")


class MultiHeadAttention(nn.Module):
    """Multi-head attention: MultiHead(Q, K, V) = Concat(head_1, …, head_h) Wᴼ, head_i = Attention(Q W_iᵠ, K W_iᴷ, V W_iⱽ).

    The h heads are computed at once by one ``d_model → n_heads · head_dim`` projection each for queries,
    keys and values (``q_proj``, ``k_proj``, ``v_proj``), reshaped to ``(batch, heads, seq, head_dim)``;
    ``out_proj`` (``n_heads · head_dim → d_model``) mixes the concatenated heads.

    Args:
        d_model: model width; must be divisible by ``n_heads`` unless ``head_dim`` is given.
        n_heads: number of heads.
        dropout: dropout on the attention weights, in training mode only.
        bias: whether the four projections have biases.
        head_dim: width of each head; None means ``d_model // n_heads``. T5 sets it on its own
            (``d_kv``), so the heads together may be narrower or wider than the model.
        scale: the factor of the scores Q Kᵀ; None means 1/√head_dim. T5 uses 1.0 (the 1/√d_k is folded
            into the initialisation of ``q_proj``).
    """

    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0, bias: bool = True,
                 head_dim: int | None = None, scale: float | None = None):
        super().__init__()
        for name, value in (("d_model", d_model), ("n_heads", n_heads)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"MultiHeadAttention needs a positive int {name}, got {value!r}")
        if head_dim is None:
            if d_model % n_heads != 0:
                raise ValueError(
                    f"d_model={d_model} is not divisible by n_heads={n_heads}: each head gets d_model / "
                    "n_heads dimensions, so choose n_heads that divides d_model (or give head_dim)"
                )
            head_dim = d_model // n_heads
        elif isinstance(head_dim, bool) or not isinstance(head_dim, int) or head_dim < 1:
            raise ValueError(f"MultiHeadAttention needs a positive int head_dim (or None), got {head_dim!r}")
        if scale is not None and (isinstance(scale, bool) or not isinstance(scale, (int, float)) or scale <= 0):
            raise ValueError(f"MultiHeadAttention needs a positive scale (or None for 1/sqrt(head_dim)), "
                             f"got {scale!r}")
        self.d_model, self.n_heads, self.head_dim = d_model, n_heads, head_dim
        self.inner_dim = n_heads * head_dim  # width of the concatenated heads (= d_model by default)
        self.scale = None if scale is None else float(scale)
        self.dropout = dropout
        self.q_proj = nn.Linear(d_model, self.inner_dim, bias=bias)
        self.k_proj = nn.Linear(d_model, self.inner_dim, bias=bias)
        self.v_proj = nn.Linear(d_model, self.inner_dim, bias=bias)
        self.out_proj = nn.Linear(self.inner_dim, d_model, bias=bias)

    def _split_heads(self, x: torch.Tensor) -> torch.Tensor:
        """``(batch, seq, d_model)`` → ``(batch, heads, seq, head_dim)``."""
        batch, seq, _ = x.shape
        return x.unflatten(-1, (self.n_heads, self.head_dim)).transpose(1, 2)

    def _project_qkv(self, x: torch.Tensor, source: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Queries from ``x``, keys and values from ``source``, split into heads ``(batch, heads, seq, head_dim)``."""
        if source is x and all(type(p) is nn.Linear for p in (self.q_proj, self.k_proj, self.v_proj)):
            # Self-attention: one (d_model → 3·inner_dim) matmul instead of three; the same numbers, but the
            # backward pass then also runs one matmul for x's gradient instead of three plus two additions.
            # Only for plain layers: a wrapped projection (e.g. LoRA's) must be called to do its part.
            weight = torch.cat([self.q_proj.weight, self.k_proj.weight, self.v_proj.weight])
            bias = None if self.q_proj.bias is None else torch.cat([self.q_proj.bias, self.k_proj.bias, self.v_proj.bias])
            q, k, v = F.linear(x, weight, bias).split(self.inner_dim, dim=-1)
        else:
            q, k, v = self.q_proj(x), self.k_proj(source), self.v_proj(source)
        return self._split_heads(q), self._split_heads(k), self._split_heads(v)

    def forward(
        self,
        x: torch.Tensor,
        context: torch.Tensor | None = None,
        *,
        causal: bool = False,
        key_padding_mask: torch.Tensor | None = None,
        attn_mask: torch.Tensor | None = None,
        kv_cache: LayerKVCache | KVCache | None = None,
        rotary: RotaryEmbedding | None = None,
        need_weights: bool = False,
        attn_bias: torch.Tensor | None = None,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Attend from ``x`` to itself (``context=None``) or to ``context`` (cross-attention).

        Args:
            x: queries' source ``(batch, seq, d_model)``.
            context: keys'/values' source ``(batch, seq_ctx, d_model)``; None for self-attention.
            causal: position i attends only to positions ≤ i (aligned to the end with a KV cache).
            key_padding_mask: bool ``(batch, seq_k)``, **True = padding (ignore)**, as in
                ``torch.nn.MultiheadAttention``; with a KV cache, seq_k counts the cached positions too.
            attn_mask: bool, **True = may attend**, of shape ``(seq_q, seq_k)``, ``(batch, seq_q, seq_k)``
                or ``(batch or 1, heads or 1, seq_q, seq_k)``.
            kv_cache: this layer's cache slot (``cache.layer(i)``): new keys/values are appended and the
                queries attend to every cached position.
            rotary: a :class:`~llmbook.nn.RotaryEmbedding` applied to queries and keys (self-attention only),
                at positions offset by the number of cached positions.
            need_weights: also return the attention weights ``(batch, heads, seq_q, seq_k)`` (per head, not
                averaged); this takes the readable path instead of PyTorch's fused kernel.
            attn_bias: float, added to the scores before masking and softmax, broadcastable to
                ``(batch, heads, seq_q, seq_k)`` (seq_k includes cached positions), e.g. T5's relative
                position bias ``(1, heads, seq_q, seq_k)`` from :class:`~llmbook.nn.RelativePositionBias`.

        Returns:
            ``(batch, seq, d_model)``, or ``(output, weights)`` if ``need_weights``.
        """
        if x.dim() != 3 or x.shape[-1] != self.d_model:
            raise ValueError(f"x must have shape (batch, seq, d_model={self.d_model}), got {_shape(x)}")
        source = x if context is None else context
        if context is not None:
            if context.dim() != 3 or context.shape[-1] != self.d_model or context.shape[0] != x.shape[0]:
                raise ValueError(
                    f"context must have shape (batch={x.shape[0]}, seq_ctx, d_model={self.d_model}), got {_shape(context)}"
                )
            if rotary is not None:
                raise ValueError("rotary embeddings encode positions within one sequence: use them for self-attention only (context=None)")
        slot = _layer_slot(kv_cache)
        batch, seq_q, _ = x.shape

        q, k, v = self._project_qkv(x, source)  # each (batch, heads, seq, head_dim)
        offset = slot.seq_len if slot is not None else 0  # absolute position of the first new token
        if rotary is not None:
            q, k = rotary(q, k, offset=offset)
        if slot is not None:
            k, v = slot.update(k, v)
        seq_k = k.shape[-2]

        dropout_p = self.dropout if self.training else 0.0
        if attn_bias is not None:
            scores_shape = (batch, self.n_heads, seq_q, seq_k)
            attn_bias = _check_float_bias(attn_bias, scores_shape, "attn_bias").to(q.dtype)
        # A plain causal mask (no cache, no padding) needs no mask tensor on the fast path: is_causal=True.
        plain_causal = (causal and key_padding_mask is None and attn_mask is None and attn_bias is None
                        and seq_q == seq_k)
        if need_weights or not plain_causal:
            mask = self._build_mask(batch, seq_q, seq_k, causal, key_padding_mask, attn_mask, x.device)
        if need_weights:
            out, weights = scaled_dot_product_attention(q, k, v, mask, dropout_p=dropout_p,
                                                        return_weights=True, bias=attn_bias, scale=self.scale)
        elif plain_causal:
            out = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=True,
                                                 scale=self.scale)
        else:
            # Fast path: PyTorch's fused kernel (flash / memory-efficient / math, picked by PyTorch). A
            # bias and a mask travel together as one float mask: the bias where attending is allowed,
            # -inf elsewhere.
            if attn_bias is not None:
                mask = attn_bias if mask is None else torch.where(mask, attn_bias, float("-inf"))
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p,
                                                 scale=self.scale)
        out = out.transpose(1, 2).reshape(batch, seq_q, self.inner_dim)  # concatenate the heads
        out = self.out_proj(out)
        return (out, weights) if need_weights else out

    def _build_mask(
        self,
        batch: int,
        seq_q: int,
        seq_k: int,
        causal: bool,
        key_padding_mask: torch.Tensor | None,
        attn_mask: torch.Tensor | None,
        device: torch.device,
    ) -> torch.Tensor | None:
        """Combine the masks into one bool mask broadcastable to ``(batch, heads, seq_q, seq_k)``, True = attend.

        Returns None when nothing is masked."""
        mask = None
        if key_padding_mask is not None:
            if key_padding_mask.dtype != torch.bool:
                raise TypeError(
                    f"key_padding_mask must be boolean (True = padding), got {key_padding_mask.dtype}; use mask.bool()"
                )
            if tuple(key_padding_mask.shape) != (batch, seq_k):
                raise ValueError(
                    f"key_padding_mask must have shape (batch, seq_k) = {(batch, seq_k)}, got {_shape(key_padding_mask)}"
                )
            mask = ~key_padding_mask[:, None, None, :]  # (batch, 1, 1, seq_k), True = attend
        if attn_mask is not None:
            if attn_mask.dtype != torch.bool:
                raise TypeError(f"attn_mask must be boolean (True = may attend), got {attn_mask.dtype}")
            allowed = {2: (seq_q, seq_k), 3: (batch, seq_q, seq_k), 4: (batch, self.n_heads, seq_q, seq_k)}
            ok = attn_mask.dim() in allowed and all(
                s == t or (s == 1 and attn_mask.dim() == 4 and i < 2)
                for i, (s, t) in enumerate(zip(attn_mask.shape, allowed.get(attn_mask.dim(), ())))
            )
            if not ok:
                raise ValueError(
                    f"attn_mask has shape {_shape(attn_mask)}; expected (seq_q, seq_k) = {(seq_q, seq_k)}, "
                    f"(batch, seq_q, seq_k) = {(batch, seq_q, seq_k)} or (batch or 1, heads or 1, seq_q, seq_k) = "
                    f"{(batch, self.n_heads, seq_q, seq_k)}"
                )
            if attn_mask.dim() == 3:
                attn_mask = attn_mask[:, None]  # one mask per batch row, shared by the heads
            mask = attn_mask if mask is None else mask & attn_mask
        if causal:
            tri = causal_mask(seq_q, seq_k, device=device)
            mask = tri if mask is None else mask & tri
        return mask
