"""``llmbook.nn``: the building blocks of every Transformer in the book (chapter 3).

Layout is batch-first: ``(batch, seq, d_model)``; per-head tensors are ``(batch, heads, seq, head_dim)``.
Boolean attention masks mean **True = may attend** (as in ``F.scaled_dot_product_attention``), except
``key_padding_mask``, which means **True = padding** (as in ``torch.nn.MultiheadAttention``).
"""
from .attention import KVCache, LayerKVCache, MultiHeadAttention, causal_mask, scaled_dot_product_attention
from .blocks import TransformerBlock, TransformerDecoder, TransformerEncoder, TransformerStack
from .feedforward import ACTIVATIONS, FeedForward
from .flash import flash_attention, peak_memory
from .interop import load_torch_decoder_layer, load_torch_encoder_layer, load_torch_multihead_attention
from .moe import (MixtureOfExperts, experts_of, load_balancing_loss, moe_aux_loss, moe_objective,
                  use_experts)
from .norm import NORMS, RMSNorm
from .position import (RelativePositionBias, RotaryEmbedding, SinusoidalPositionalEncoding, relative_position_bucket,
                       rotate_half, ROPE_SCALINGS)

__all__ = [
    "scaled_dot_product_attention",
    "causal_mask",
    "KVCache",
    "LayerKVCache",
    "MultiHeadAttention",
    "SinusoidalPositionalEncoding",
    "RotaryEmbedding",
    "rotate_half",
    "ROPE_SCALINGS",
    "RelativePositionBias",
    "relative_position_bucket",
    "FeedForward",
    "ACTIVATIONS",
    "RMSNorm",
    "NORMS",
    "TransformerBlock",
    "TransformerStack",
    "TransformerEncoder",
    "TransformerDecoder",
    "load_torch_multihead_attention",
    "load_torch_encoder_layer",
    "load_torch_decoder_layer",
    "flash_attention",
    "peak_memory",
    "MixtureOfExperts",
    "load_balancing_loss",
    "use_experts",
    "experts_of",
    "moe_aux_loss",
    "moe_objective",
]
