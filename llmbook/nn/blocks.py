"""Transformer blocks and stacks: one block (encoder or decoder), one stack of blocks, and the encoder and
the decoder as that stack with their attention pattern fixed."""
from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from .attention import KVCache, LayerKVCache, MultiHeadAttention
from .feedforward import FeedForward
from .norm import make_norm
from .position import RotaryEmbedding

__all__ = ["TransformerBlock", "TransformerStack", "TransformerEncoder", "TransformerDecoder"]


class TransformerBlock(nn.Module):
    """One Transformer block: self-attention, optional cross-attention, feed-forward, each with a residual.

    Pre-LN (``norm_first=True``, GPT-2, Llama)::

        x = x + attn(norm1(x));  [x = x + cross_attn(norm_cross(x), context)];  x = x + ff(norm2(x))

    Post-LN (``norm_first=False``, the original Transformer, BERT)::

        x = norm1(x + attn(x));  [x = norm_cross(x + cross_attn(x, context))];  x = norm2(x + ff(x))

    Args:
        d_model, n_heads: width and number of heads.
        d_ff: hidden width of the feed-forward network (default ``4 * d_model``).
        dropout: on attention weights, on the attention output and on the feed-forward output.
        activation: of the feed-forward network, see :class:`~llmbook.nn.FeedForward`.
        norm_first: pre-LN (True) or post-LN (False).
        norm: ``"layernorm"`` or ``"rmsnorm"``; ``norm_eps`` its epsilon.
        bias: biases in the linear layers and LayerNorms.
        cross_attention: add a cross-attention sub-layer (the decoder block of an encoder-decoder).

    Shapes: ``(batch, seq, d_model)`` → ``(batch, seq, d_model)``.
    """

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        d_ff: int | None = None,
        dropout: float = 0.0,
        activation: str = "gelu",
        norm_first: bool = True,
        norm: str = "layernorm",
        norm_eps: float = 1e-5,
        bias: bool = True,
        cross_attention: bool = False,
    ):
        super().__init__()
        d_ff = 4 * d_model if d_ff is None else d_ff
        self.norm_first = norm_first
        self.attn = MultiHeadAttention(d_model, n_heads, dropout=dropout, bias=bias)
        self.norm1 = make_norm(norm, d_model, norm_eps, bias)
        if cross_attention:
            self.cross_attn = MultiHeadAttention(d_model, n_heads, dropout=dropout, bias=bias)
            self.norm_cross = make_norm(norm, d_model, norm_eps, bias)
        else:
            self.cross_attn = None
        self.ff = FeedForward(d_model, d_ff, activation=activation, dropout=dropout, bias=bias)
        self.norm2 = make_norm(norm, d_model, norm_eps, bias)
        self.dropout = nn.Dropout(dropout)  # on each attention output, before the residual addition

    def forward(
        self,
        x: torch.Tensor,
        *,
        causal: bool = False,
        key_padding_mask: torch.Tensor | None = None,
        context: torch.Tensor | None = None,
        context_padding_mask: torch.Tensor | None = None,
        kv_cache: LayerKVCache | KVCache | None = None,
        rotary: RotaryEmbedding | None = None,
        need_weights: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """``x`` ``(batch, seq, d_model)``; ``context`` ``(batch, seq_ctx, d_model)`` for cross-attention.

        Padding masks are bool, True = padding (``key_padding_mask`` over ``x``'s keys, including cached
        ones; ``context_padding_mask`` ``(batch, seq_ctx)``). ``kv_cache`` is this block's slot
        (``cache.layer(i)``) and caches the self-attention keys and values. ``need_weights`` also returns
        the self-attention weights ``(batch, heads, seq, seq_k)`` (see :class:`MultiHeadAttention`).
        """
        if self.cross_attn is not None and context is None:
            raise ValueError("this block has cross-attention: pass context=(batch, seq_ctx, d_model), e.g. the encoder output")
        if self.cross_attn is None and context is not None:
            raise ValueError("this block has no cross-attention sub-layer: build it with cross_attention=True to use context")
        weights = None

        def self_attention(h: torch.Tensor) -> torch.Tensor:
            nonlocal weights
            out = self.attn(h, causal=causal, key_padding_mask=key_padding_mask, kv_cache=kv_cache, rotary=rotary,
                            need_weights=need_weights)
            if need_weights:
                out, weights = out
            return self.dropout(out)

        def cross_attention(h: torch.Tensor) -> torch.Tensor:
            return self.dropout(self.cross_attn(h, context, key_padding_mask=context_padding_mask))

        if self.norm_first:
            x = x + self_attention(self.norm1(x))
            if self.cross_attn is not None:
                x = x + cross_attention(self.norm_cross(x))
            x = x + self.ff(self.norm2(x))
        else:
            x = self.norm1(x + self_attention(x))
            if self.cross_attn is not None:
                x = self.norm_cross(x + cross_attention(x))
            x = self.norm2(x + self.ff(x))
        return (x, weights) if need_weights else x


class TransformerStack(nn.Module):
    """``n_layers`` :class:`TransformerBlock` s run in turn, then a final norm for pre-LN.

    (Pre-LN leaves the residual stream un-normalised, so a last norm is needed; post-LN blocks already end
    with one.) The encoder and the decoder below are this stack with their attention pattern fixed.
    ``d_ff`` and the keyword arguments ``block_options`` are those of :class:`TransformerBlock`
    (``dropout``, ``activation``, ``norm_first``, ``norm``, ``norm_eps``, ``bias``, ``cross_attention``).
    Shapes: ``(batch, seq, d_model)`` (and context ``(batch, seq_ctx, d_model)``) → ``(batch, seq, d_model)``.
    """

    def __init__(self, n_layers: int, d_model: int, n_heads: int, d_ff: int | None = None, **block_options: Any):
        super().__init__()
        if not isinstance(n_layers, int) or n_layers < 1:
            raise ValueError(f"a stack needs n_layers >= 1, got {n_layers!r}")
        self.layers = nn.ModuleList(
            TransformerBlock(d_model, n_heads, d_ff, **block_options) for _ in range(n_layers)
        )
        # The final norm is of the blocks' kind (LayerNorm or RMSNorm, same eps and bias): a fresh copy of one.
        last = self.layers[-1]
        self.norm = copy.deepcopy(last.norm2) if last.norm_first else nn.Identity()

    def forward(
        self,
        x: torch.Tensor,
        context: torch.Tensor | None = None,
        *,
        causal: bool = False,
        key_padding_mask: torch.Tensor | None = None,
        context_padding_mask: torch.Tensor | None = None,
        kv_cache: KVCache | None = None,
        rotary: RotaryEmbedding | None = None,
    ) -> torch.Tensor:
        """Run ``x`` ``(batch, seq, d_model)`` through every block (see :meth:`TransformerBlock.forward`);
        ``kv_cache`` holds one slot per block."""
        for i, layer in enumerate(self.layers):
            slot = kv_cache.layer(i) if kv_cache is not None else None
            x = layer(x, causal=causal, key_padding_mask=key_padding_mask, context=context,
                      context_padding_mask=context_padding_mask, kv_cache=slot, rotary=rotary)
        return self.norm(x)


class TransformerEncoder(TransformerStack):
    """A stack of bidirectional blocks (BERT, the Transformer's encoder): ``forward(x, key_padding_mask=...)``.

    ``causal=True`` in ``forward`` makes it a decoder-only stack (each position sees itself and the past).
    Keyword arguments are those of :class:`TransformerStack`, without cross-attention.
    """

    def __init__(self, n_layers: int, d_model: int, n_heads: int, d_ff: int | None = None, **options: Any):
        super().__init__(n_layers, d_model, n_heads, d_ff, cross_attention=False, **options)


class TransformerDecoder(TransformerStack):
    """A stack of decoder blocks: causal self-attention, cross-attention to ``context`` (the encoder
    output), feed-forward. With ``cross_attention=False`` it is a decoder-only stack (GPT).

    ``forward(x, context, key_padding_mask=..., context_padding_mask=..., kv_cache=..., rotary=...)``;
    keyword arguments of the constructor are those of :class:`TransformerStack`.
    """

    def __init__(self, n_layers: int, d_model: int, n_heads: int, d_ff: int | None = None,
                 cross_attention: bool = True, **options: Any):
        super().__init__(n_layers, d_model, n_heads, d_ff, cross_attention=cross_attention, **options)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None, **masks_and_cache: Any) -> torch.Tensor:
        """Decode ``x`` ``(batch, seq, d_model)`` attending causally to itself and fully to ``context``."""
        return super().forward(x, context, causal=True, **masks_and_cache)
