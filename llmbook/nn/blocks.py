"""Transformer blocks and stacks: the encoder block, the decoder block, the encoder and the decoder."""
from __future__ import annotations

import torch
from torch import nn

from .attention import KVCache, LayerKVCache, MultiHeadAttention
from .feedforward import FeedForward
from .norm import make_norm
from .position import RotaryEmbedding

__all__ = ["TransformerBlock", "TransformerEncoder", "TransformerDecoder"]


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
    ) -> torch.Tensor:
        """``x`` ``(batch, seq, d_model)``; ``context`` ``(batch, seq_ctx, d_model)`` for cross-attention.

        Padding masks are bool, True = padding (``key_padding_mask`` over ``x``'s keys, including cached
        ones; ``context_padding_mask`` ``(batch, seq_ctx)``). ``kv_cache`` is this block's slot
        (``cache.layer(i)``) and caches the self-attention keys and values.
        """
        if self.cross_attn is not None and context is None:
            raise ValueError("this block has cross-attention: pass context=(batch, seq_ctx, d_model), e.g. the encoder output")
        if self.cross_attn is None and context is not None:
            raise ValueError("this block has no cross-attention sub-layer: build it with cross_attention=True to use context")

        def self_attention(h: torch.Tensor) -> torch.Tensor:
            out = self.attn(h, causal=causal, key_padding_mask=key_padding_mask, kv_cache=kv_cache, rotary=rotary)
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
        return x


class TransformerEncoder(nn.Module):
    """A stack of ``n_layers`` bidirectional :class:`TransformerBlock` s, with a final norm for pre-LN.

    (Pre-LN leaves the residual stream un-normalised, so a last norm is needed; post-LN blocks already end
    with one.) Keyword arguments after ``n_heads`` are those of :class:`TransformerBlock`.
    Shapes: ``(batch, seq, d_model)`` → ``(batch, seq, d_model)``.
    """

    def __init__(
        self,
        n_layers: int,
        d_model: int,
        n_heads: int,
        d_ff: int | None = None,
        dropout: float = 0.0,
        activation: str = "gelu",
        norm_first: bool = True,
        norm: str = "layernorm",
        norm_eps: float = 1e-5,
        bias: bool = True,
    ):
        super().__init__()
        self.layers = nn.ModuleList(
            TransformerBlock(d_model, n_heads, d_ff, dropout, activation, norm_first, norm, norm_eps, bias)
            for _ in range(n_layers)
        )
        self.norm = make_norm(norm, d_model, norm_eps, bias) if norm_first else nn.Identity()

    def forward(
        self,
        x: torch.Tensor,
        *,
        causal: bool = False,
        key_padding_mask: torch.Tensor | None = None,
        kv_cache: KVCache | None = None,
        rotary: RotaryEmbedding | None = None,
    ) -> torch.Tensor:
        """``x`` ``(batch, seq, d_model)``; ``key_padding_mask`` ``(batch, seq)`` True = padding."""
        for i, layer in enumerate(self.layers):
            slot = kv_cache.layer(i) if kv_cache is not None else None
            x = layer(x, causal=causal, key_padding_mask=key_padding_mask, kv_cache=slot, rotary=rotary)
        return self.norm(x)


class TransformerDecoder(nn.Module):
    """A stack of ``n_layers`` decoder blocks: causal self-attention, cross-attention to ``context``
    (the encoder output), feed-forward; a final norm for pre-LN.

    With ``cross_attention=False`` it is a decoder-only stack (GPT). Shapes:
    ``(batch, seq, d_model)`` and context ``(batch, seq_ctx, d_model)`` → ``(batch, seq, d_model)``.
    """

    def __init__(
        self,
        n_layers: int,
        d_model: int,
        n_heads: int,
        d_ff: int | None = None,
        dropout: float = 0.0,
        activation: str = "gelu",
        norm_first: bool = True,
        norm: str = "layernorm",
        norm_eps: float = 1e-5,
        bias: bool = True,
        cross_attention: bool = True,
    ):
        super().__init__()
        self.layers = nn.ModuleList(
            TransformerBlock(
                d_model, n_heads, d_ff, dropout, activation, norm_first, norm, norm_eps, bias, cross_attention=cross_attention
            )
            for _ in range(n_layers)
        )
        self.norm = make_norm(norm, d_model, norm_eps, bias) if norm_first else nn.Identity()

    def forward(
        self,
        x: torch.Tensor,
        context: torch.Tensor | None = None,
        *,
        key_padding_mask: torch.Tensor | None = None,
        context_padding_mask: torch.Tensor | None = None,
        kv_cache: KVCache | None = None,
        rotary: RotaryEmbedding | None = None,
    ) -> torch.Tensor:
        """Decode ``x`` ``(batch, seq, d_model)`` attending causally to itself and fully to ``context``."""
        for i, layer in enumerate(self.layers):
            slot = kv_cache.layer(i) if kv_cache is not None else None
            x = layer(
                x,
                causal=True,
                key_padding_mask=key_padding_mask,
                context=context,
                context_padding_mask=context_padding_mask,
                kv_cache=slot,
                rotary=rotary,
            )
        return self.norm(x)
