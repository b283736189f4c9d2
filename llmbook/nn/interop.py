"""Copy weights from PyTorch's own Transformer modules into ``llmbook.nn`` modules (for equality checks)."""
from __future__ import annotations

import torch
from torch import nn

from .attention import MultiHeadAttention
from .blocks import TransformerBlock

__all__ = ["load_torch_multihead_attention", "load_torch_encoder_layer", "load_torch_decoder_layer"]


@torch.no_grad()
def load_torch_multihead_attention(ours: MultiHeadAttention, theirs: nn.MultiheadAttention) -> MultiHeadAttention:
    """Copy a ``torch.nn.MultiheadAttention`` into ``ours``: its packed ``in_proj_weight`` ``(3·d_model, d_model)``
    holds W_q, W_k, W_v stacked."""
    if theirs.embed_dim != ours.d_model or theirs.num_heads != ours.n_heads:
        raise ValueError(
            f"shapes differ: torch module has embed_dim={theirs.embed_dim}, num_heads={theirs.num_heads}; "
            f"ours has d_model={ours.d_model}, n_heads={ours.n_heads}"
        )
    if ours.inner_dim != ours.d_model or ours.scale is not None:
        raise ValueError(
            f"ours has head_dim={ours.head_dim} (heads {ours.inner_dim} wide in all) and scale={ours.scale}: "
            f"torch's MultiheadAttention always has heads d_model wide in all and divides by sqrt(head_dim); "
            f"build ours with the default head_dim and scale"
        )
    if theirs.in_proj_weight is None:
        raise ValueError(
            f"the torch module has kdim={theirs.kdim}, vdim={theirs.vdim} != embed_dim={theirs.embed_dim}; "
            "our MultiHeadAttention projects queries, keys and values from d_model"
        )
    w_q, w_k, w_v = theirs.in_proj_weight.chunk(3)
    for proj, w in zip((ours.q_proj, ours.k_proj, ours.v_proj), (w_q, w_k, w_v)):
        proj.weight.copy_(w)
    if theirs.in_proj_bias is not None:
        for proj, b in zip((ours.q_proj, ours.k_proj, ours.v_proj), theirs.in_proj_bias.chunk(3)):
            proj.bias.copy_(b)
    ours.out_proj.weight.copy_(theirs.out_proj.weight)
    if theirs.out_proj.bias is not None:
        ours.out_proj.bias.copy_(theirs.out_proj.bias)
    return ours


@torch.no_grad()
def _copy_linear(dst: nn.Linear, src: nn.Linear) -> None:
    dst.weight.copy_(src.weight)
    if src.bias is not None:
        dst.bias.copy_(src.bias)


@torch.no_grad()
def load_torch_encoder_layer(ours: TransformerBlock, theirs: nn.TransformerEncoderLayer) -> TransformerBlock:
    """Copy a ``torch.nn.TransformerEncoderLayer`` (linear1/linear2, norm1/norm2) into a block."""
    load_torch_multihead_attention(ours.attn, theirs.self_attn)
    _copy_linear(ours.ff.fc1, theirs.linear1)
    _copy_linear(ours.ff.fc2, theirs.linear2)
    ours.norm1.load_state_dict(theirs.norm1.state_dict())
    ours.norm2.load_state_dict(theirs.norm2.state_dict())
    return ours


@torch.no_grad()
def load_torch_decoder_layer(ours: TransformerBlock, theirs: nn.TransformerDecoderLayer) -> TransformerBlock:
    """Copy a ``torch.nn.TransformerDecoderLayer`` into a block with cross-attention.

    PyTorch names its norms by order (norm1: self-attention, norm2: cross-attention, norm3: feed-forward);
    ours by role (norm1, norm_cross, norm2).
    """
    if ours.cross_attn is None:
        raise ValueError("the block has no cross-attention: build it with cross_attention=True")
    load_torch_multihead_attention(ours.attn, theirs.self_attn)
    load_torch_multihead_attention(ours.cross_attn, theirs.multihead_attn)
    _copy_linear(ours.ff.fc1, theirs.linear1)
    _copy_linear(ours.ff.fc2, theirs.linear2)
    ours.norm1.load_state_dict(theirs.norm1.state_dict())
    ours.norm_cross.load_state_dict(theirs.norm2.state_dict())
    ours.norm2.load_state_dict(theirs.norm3.state_dict())
    return ours
