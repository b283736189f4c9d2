"""Tests of llmbook.nn against PyTorch's and Hugging Face's reference implementations."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from llmbook.nn import (
    FeedForward,
    KVCache,
    LayerKVCache,
    MultiHeadAttention,
    RMSNorm,
    RotaryEmbedding,
    SinusoidalPositionalEncoding,
    TransformerBlock,
    TransformerDecoder,
    TransformerEncoder,
    TransformerStack,
    causal_mask,
    load_torch_decoder_layer,
    load_torch_encoder_layer,
    load_torch_multihead_attention,
    scaled_dot_product_attention,
)

ATOL = 1e-6  # fp32, as the issue asks for the attention function
BLOCK_ATOL = 1e-5  # whole blocks: several matmuls and norms accumulate rounding


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _randn(*shape, seed=0, dtype=torch.float32):
    return torch.randn(*shape, generator=_gen(seed), dtype=dtype)


# ----------------------------------------------------------------------------------------------------------
# scaled_dot_product_attention (the readable reference) vs torch SDPA
# ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mask_kind", ["none", "causal", "random", "broadcast_keys", "fully_masked_row"])
def test_reference_attention_equals_torch_sdpa(mask_kind):
    q, k, v = _randn(2, 3, 7, 16, seed=1), _randn(2, 3, 9, 16, seed=2), _randn(2, 3, 9, 8, seed=3)
    mask = None
    if mask_kind == "causal":
        mask = causal_mask(7, 9)
    elif mask_kind == "random":
        mask = torch.rand(2, 3, 7, 9, generator=_gen(4)) > 0.4
        mask[..., 0] = True  # every query sees at least one key
    elif mask_kind == "broadcast_keys":
        mask = torch.rand(2, 1, 1, 9, generator=_gen(5)) > 0.3
        mask[..., 0] = True
    elif mask_kind == "fully_masked_row":
        mask = torch.ones(7, 9, dtype=torch.bool)
        mask[2] = False  # PyTorch returns zeros for a query with nothing to attend to; so must we
    ours = scaled_dot_product_attention(q, k, v, mask)
    theirs = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    torch.testing.assert_close(ours, theirs, atol=ATOL, rtol=0)
    if mask_kind == "fully_masked_row":
        assert torch.all(ours[..., 2, :] == 0)


@settings(max_examples=25, deadline=None)
@given(
    batch=st.integers(1, 3),
    seq_q=st.integers(1, 12),
    seq_k=st.integers(1, 12),
    d_k=st.sampled_from([1, 4, 8, 32]),
    d_v=st.sampled_from([1, 5, 16]),
    seed=st.integers(0, 10_000),
    use_mask=st.booleans(),
)
def test_reference_attention_property_equals_torch(batch, seq_q, seq_k, d_k, d_v, seed, use_mask):
    g = _gen(seed)
    q, k, v = (torch.randn(batch, s, d, generator=g) for s, d in ((seq_q, d_k), (seq_k, d_k), (seq_k, d_v)))
    mask = torch.rand(batch, seq_q, seq_k, generator=g) > 0.5 if use_mask else None
    out, weights = scaled_dot_product_attention(q, k, v, mask, return_weights=True)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask), atol=ATOL, rtol=0)
    # each row of weights is a distribution over the keys it may see (or all zeros if it sees none)
    row_sums = weights.sum(-1)
    expected = torch.ones_like(row_sums) if mask is None else mask.any(-1).float()
    torch.testing.assert_close(row_sums, expected)
    if mask is not None:
        assert torch.all(weights[~mask] == 0)


def test_reference_attention_weights_are_softmax_of_scaled_scores():
    q, k, v = _randn(4, 8, seed=1), _randn(6, 8, seed=2), _randn(6, 3, seed=3)
    _, weights = scaled_dot_product_attention(q, k, v, return_weights=True)
    expected = torch.softmax(q @ k.T / math.sqrt(8), dim=-1)
    torch.testing.assert_close(weights, expected)


def test_reference_attention_dropout_zeroes_and_rescales_weights():
    q, k, v = _randn(1, 16, 8, seed=1), _randn(1, 16, 8, seed=2), torch.eye(16)[None]  # v = I exposes the weights
    _, clean = scaled_dot_product_attention(q, k, v, return_weights=True)
    torch.manual_seed(0)
    out, dropped = scaled_dot_product_attention(q, k, v, dropout_p=0.5, return_weights=True)
    kept = dropped != 0
    assert 0.3 < kept.float().mean() < 0.7
    torch.testing.assert_close(dropped[kept], clean[kept] / 0.5)
    torch.testing.assert_close(out, dropped)  # out = weights @ I


def test_reference_attention_gradcheck_float64():
    q = _randn(2, 5, 4, seed=1, dtype=torch.float64).requires_grad_()
    k = _randn(2, 6, 4, seed=2, dtype=torch.float64).requires_grad_()
    v = _randn(2, 6, 3, seed=3, dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(scaled_dot_product_attention, (q, k, v))
    mask = causal_mask(5, 6)
    mask[0] = False  # a fully masked row must have finite (zero) gradients too
    assert torch.autograd.gradcheck(lambda q, k, v: scaled_dot_product_attention(q, k, v, mask), (q, k, v))


def test_causal_mask():
    assert torch.equal(causal_mask(4), torch.ones(4, 4, dtype=torch.bool).tril())
    # 2 new queries after 3 cached positions: query 0 is at absolute position 3
    expected = torch.tensor([[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)
    assert torch.equal(causal_mask(2, 5), expected)
    with pytest.raises(ValueError, match="seq_q <= seq_k"):
        causal_mask(5, 3)


@pytest.mark.parametrize(
    "shapes, match",
    [
        (((2, 5, 8), (2, 6, 4), (2, 6, 4)), r"same last dimension d_k: q has shape \(2, 5, 8\), k has shape \(2, 6, 4\)"),
        (((2, 5, 4), (2, 6, 4), (2, 7, 4)), r"same number of positions.*k has shape \(2, 6, 4\), v has shape \(2, 7, 4\)"),
    ],
)
def test_reference_attention_bad_shapes(shapes, match):
    q, k, v = (torch.zeros(s) for s in shapes)
    with pytest.raises(ValueError, match=match):
        scaled_dot_product_attention(q, k, v)


def test_reference_attention_bad_masks():
    q = k = v = torch.zeros(2, 5, 4)
    with pytest.raises(ValueError, match=r"mask of shape \(4, 4\) cannot be broadcast to the attention scores of shape \(2, 5, 5\)"):
        scaled_dot_product_attention(q, k, v, torch.ones(4, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"mask of shape \(1, 1, 5, 5\) cannot be broadcast"):
        scaled_dot_product_attention(q, k, v, torch.ones(1, 1, 5, 5, dtype=torch.bool))
    with pytest.raises(TypeError, match="boolean tensor"):
        scaled_dot_product_attention(q, k, v, torch.ones(5, 5))


# ----------------------------------------------------------------------------------------------------------
# MultiHeadAttention vs torch.nn.MultiheadAttention
# ----------------------------------------------------------------------------------------------------------


def _mha_pair(d_model=32, n_heads=4, bias=True, seed=0):
    torch.manual_seed(seed)
    theirs = nn.MultiheadAttention(d_model, n_heads, batch_first=True, bias=bias).eval()
    ours = load_torch_multihead_attention(MultiHeadAttention(d_model, n_heads, bias=bias), theirs).eval()
    return ours, theirs


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("padding", [False, True])
def test_mha_self_attention_equals_torch(bias, padding):
    ours, theirs = _mha_pair(bias=bias)
    x = _randn(3, 10, 32, seed=1)
    kpm = None
    if padding:
        lengths = torch.tensor([10, 7, 3])
        kpm = torch.arange(10)[None, :] >= lengths[:, None]  # True = padding
    expected, expected_w = theirs(x, x, x, key_padding_mask=kpm, need_weights=True, average_attn_weights=False)
    torch.testing.assert_close(ours(x, key_padding_mask=kpm), expected, atol=BLOCK_ATOL, rtol=0)
    out, weights = ours(x, key_padding_mask=kpm, need_weights=True)
    torch.testing.assert_close(out, expected, atol=BLOCK_ATOL, rtol=0)
    torch.testing.assert_close(weights, expected_w, atol=ATOL, rtol=0)


def test_mha_causal_equals_torch_with_causal_mask():
    ours, theirs = _mha_pair()
    x = _randn(2, 12, 32, seed=1)
    torch_mask = nn.Transformer.generate_square_subsequent_mask(12)  # float, -inf above the diagonal
    expected, _ = theirs(x, x, x, attn_mask=torch_mask, need_weights=False)
    torch.testing.assert_close(ours(x, causal=True), expected, atol=BLOCK_ATOL, rtol=0)
    torch.testing.assert_close(ours(x, causal=True, need_weights=True)[0], expected, atol=BLOCK_ATOL, rtol=0)
    # the same mask given explicitly (True = may attend) in each accepted shape
    for mask in (causal_mask(12), causal_mask(12).expand(2, 12, 12), causal_mask(12)[None, None]):
        torch.testing.assert_close(ours(x, attn_mask=mask), expected, atol=BLOCK_ATOL, rtol=0)


def test_mha_cross_attention_equals_torch():
    ours, theirs = _mha_pair()
    x, ctx = _randn(2, 5, 32, seed=1), _randn(2, 9, 32, seed=2)
    kpm = torch.zeros(2, 9, dtype=torch.bool)
    kpm[1, 6:] = True
    expected, expected_w = theirs(x, ctx, ctx, key_padding_mask=kpm, average_attn_weights=False)
    torch.testing.assert_close(ours(x, ctx, key_padding_mask=kpm), expected, atol=BLOCK_ATOL, rtol=0)
    out, weights = ours(x, ctx, key_padding_mask=kpm, need_weights=True)
    torch.testing.assert_close(weights, expected_w, atol=ATOL, rtol=0)
    assert weights.shape == (2, 4, 5, 9)


def test_mha_gradients_equal_torch():
    ours, theirs = _mha_pair()
    x = _randn(2, 6, 32, seed=1)
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    ours(x1, causal=True).square().sum().backward()
    theirs(x2, x2, x2, attn_mask=nn.Transformer.generate_square_subsequent_mask(6), need_weights=False)[0].square().sum().backward()
    torch.testing.assert_close(x1.grad, x2.grad, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(ours.out_proj.weight.grad, theirs.out_proj.weight.grad, atol=1e-4, rtol=1e-4)


def test_mha_dropout_only_in_training():
    torch.manual_seed(0)
    mha = MultiHeadAttention(16, 2, dropout=0.5)
    x = _randn(1, 8, 16, seed=1)
    mha.eval()
    assert torch.equal(mha(x), mha(x))
    mha.train()
    assert not torch.allclose(mha(x), mha.eval()(x))


def test_mha_bad_inputs():
    with pytest.raises(ValueError, match="d_model=30 is not divisible by n_heads=4"):
        MultiHeadAttention(30, 4)
    mha = MultiHeadAttention(16, 4)
    x = torch.zeros(2, 5, 16)
    with pytest.raises(ValueError, match=r"x must have shape \(batch, seq, d_model=16\), got \(2, 5, 12\)"):
        mha(torch.zeros(2, 5, 12))
    with pytest.raises(ValueError, match=r"context must have shape \(batch=2, seq_ctx, d_model=16\), got \(3, 7, 16\)"):
        mha(x, torch.zeros(3, 7, 16))
    with pytest.raises(ValueError, match=r"key_padding_mask must have shape \(batch, seq_k\) = \(2, 5\), got \(2, 4\)"):
        mha(x, key_padding_mask=torch.zeros(2, 4, dtype=torch.bool))
    with pytest.raises(TypeError, match="key_padding_mask must be boolean"):
        mha(x, key_padding_mask=torch.zeros(2, 5))
    with pytest.raises(ValueError, match=r"attn_mask has shape \(5, 4\); expected \(seq_q, seq_k\) = \(5, 5\)"):
        mha(x, attn_mask=torch.ones(5, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"attn_mask has shape \(2, 3, 5, 5\)"):
        mha(x, attn_mask=torch.ones(2, 3, 5, 5, dtype=torch.bool))
    with pytest.raises(TypeError, match="attn_mask must be boolean"):
        mha(x, attn_mask=torch.ones(5, 5))
    with pytest.raises(ValueError, match="self-attention only"):
        mha(x, x, rotary=RotaryEmbedding(4))
    with pytest.raises(TypeError, match=r"pass its own slot, kv_cache=cache.layer\(i\)"):
        mha(x, kv_cache=KVCache(2))
    with pytest.raises(TypeError, match="kv_cache must be a KVCache slot"):
        mha(x, kv_cache="cache")


# ----------------------------------------------------------------------------------------------------------
# KV cache
# ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("use_rotary", [False, True])
def test_kv_cache_incremental_equals_full_causal(use_rotary):
    torch.manual_seed(0)
    mha = MultiHeadAttention(32, 4).eval()
    rotary = RotaryEmbedding(8) if use_rotary else None
    x = _randn(2, 11, 32, seed=1)
    full = mha(x, causal=True, rotary=rotary)
    cache = KVCache(1)
    steps = [mha(x[:, :4], causal=True, kv_cache=cache.layer(0), rotary=rotary)]  # prefill 4 tokens at once
    for t in range(4, 11):  # then one token at a time
        steps.append(mha(x[:, t : t + 1], causal=True, kv_cache=cache.layer(0), rotary=rotary))
        assert cache.seq_len == t + 1
    torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=BLOCK_ATOL, rtol=0)
    # the readable path gives the same
    cache.reset()
    assert cache.seq_len == 0
    mha(x[:, :10], causal=True, kv_cache=cache, rotary=rotary)  # a one-layer KVCache is accepted as its slot
    last, weights = mha(x[:, 10:], causal=True, kv_cache=cache, rotary=rotary, need_weights=True)
    torch.testing.assert_close(last, full[:, 10:], atol=BLOCK_ATOL, rtol=0)
    assert weights.shape == (2, 4, 1, 11)


def test_kv_cache_through_encoder_stack_with_padding():
    torch.manual_seed(0)
    stack = TransformerEncoder(3, 32, 4, activation="swiglu", norm="rmsnorm").eval()
    rotary = RotaryEmbedding(8)
    x = _randn(2, 7, 32, seed=1)
    kpm = torch.zeros(2, 7, dtype=torch.bool)
    kpm[1, 0] = True  # left padding of the second row
    full = stack(x, causal=True, key_padding_mask=kpm, rotary=rotary)
    cache = KVCache(3)
    outs = [stack(x[:, :5], causal=True, key_padding_mask=kpm[:, :5], kv_cache=cache, rotary=rotary)]
    for t in range(5, 7):
        outs.append(stack(x[:, t : t + 1], causal=True, key_padding_mask=kpm[:, : t + 1], kv_cache=cache, rotary=rotary))
    torch.testing.assert_close(torch.cat(outs, 1), full, atol=BLOCK_ATOL, rtol=0)
    assert cache.seq_len == 7 and len(cache) == 3 and cache[2] is cache.layer(2)


def test_kv_cache_reorder_and_errors():
    cache = KVCache(2)
    k = torch.arange(3.0)[:, None, None, None].expand(3, 2, 4, 8)
    cache.layer(0).update(k, k)
    cache.reorder(torch.tensor([2, 0]))
    assert cache.layer(0).keys[:, 0, 0, 0].tolist() == [2.0, 0.0] and cache.layer(1).seq_len == 0
    with pytest.raises(ValueError, match=r"new keys of shape \(3, 2, 1, 8\) do not match the cached keys of shape \(2, 2, 4, 8\)"):
        cache.layer(0).update(torch.zeros(3, 2, 1, 8), torch.zeros(3, 2, 1, 8))
    with pytest.raises(IndexError, match="KVCache has 2 layers, asked for layer 5"):
        cache.layer(5)
    with pytest.raises(ValueError, match="n_layers >= 1"):
        KVCache(0)
    assert isinstance(cache.layer(1), LayerKVCache)


# ----------------------------------------------------------------------------------------------------------
# Blocks vs torch.nn.TransformerEncoderLayer / DecoderLayer
# ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_encoder_block_equals_torch_encoder_layer(norm_first, activation):
    torch.manual_seed(0)
    theirs = nn.TransformerEncoderLayer(
        32, 4, dim_feedforward=64, dropout=0.0, activation=activation, batch_first=True, norm_first=norm_first
    ).eval()
    ours = TransformerBlock(32, 4, d_ff=64, activation=activation, norm_first=norm_first).eval()
    load_torch_encoder_layer(ours, theirs)
    x = _randn(3, 9, 32, seed=1)
    kpm = torch.arange(9)[None, :] >= torch.tensor([9, 6, 2])[:, None]
    torch.testing.assert_close(ours(x, key_padding_mask=kpm), theirs(x, src_key_padding_mask=kpm), atol=BLOCK_ATOL, rtol=0)
    torch.testing.assert_close(ours(x), theirs(x), atol=BLOCK_ATOL, rtol=0)


@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_stack_equals_torch_encoder(norm_first):
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(32, 4, 64, dropout=0.0, activation="gelu", batch_first=True, norm_first=norm_first)
    theirs = nn.TransformerEncoder(
        layer, 2, norm=nn.LayerNorm(32) if norm_first else None, enable_nested_tensor=False
    ).eval()
    ours = TransformerEncoder(2, 32, 4, d_ff=64, norm_first=norm_first).eval()
    for ours_layer, their_layer in zip(ours.layers, theirs.layers):
        load_torch_encoder_layer(ours_layer, their_layer)
    if norm_first:
        ours.norm.load_state_dict(theirs.norm.state_dict())
    x = _randn(2, 8, 32, seed=1)
    torch.testing.assert_close(ours(x), theirs(x), atol=BLOCK_ATOL, rtol=0)


@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_equals_torch_decoder(norm_first):
    torch.manual_seed(0)
    layer = nn.TransformerDecoderLayer(32, 4, 64, dropout=0.0, activation="relu", batch_first=True, norm_first=norm_first)
    theirs = nn.TransformerDecoder(layer, 2, norm=nn.LayerNorm(32) if norm_first else None).eval()
    ours = TransformerDecoder(2, 32, 4, d_ff=64, activation="relu", norm_first=norm_first).eval()
    for ours_layer, their_layer in zip(ours.layers, theirs.layers):
        load_torch_decoder_layer(ours_layer, their_layer)
    if norm_first:
        ours.norm.load_state_dict(theirs.norm.state_dict())
    tgt, memory = _randn(2, 6, 32, seed=1), _randn(2, 9, 32, seed=2)
    memory_kpm = torch.zeros(2, 9, dtype=torch.bool)
    memory_kpm[0, 5:] = True
    expected = theirs(
        tgt, memory, tgt_mask=nn.Transformer.generate_square_subsequent_mask(6), tgt_is_causal=True,
        memory_key_padding_mask=memory_kpm,
    )
    torch.testing.assert_close(ours(tgt, memory, context_padding_mask=memory_kpm), expected, atol=BLOCK_ATOL, rtol=0)
    # incremental decoding with a KV cache gives the same outputs
    cache = KVCache(2)
    steps = [ours(tgt[:, t : t + 1], memory, context_padding_mask=memory_kpm, kv_cache=cache) for t in range(6)]
    torch.testing.assert_close(torch.cat(steps, 1), expected, atol=BLOCK_ATOL, rtol=0)


def test_decoder_only_block_and_bad_inputs():
    block = TransformerBlock(16, 2, cross_attention=True)
    with pytest.raises(ValueError, match="pass context="):
        block(torch.zeros(1, 3, 16))
    with pytest.raises(ValueError, match="cross_attention=True"):
        TransformerBlock(16, 2)(torch.zeros(1, 3, 16), context=torch.zeros(1, 2, 16))
    with pytest.raises(ValueError, match="cross_attention=True"):
        load_torch_decoder_layer(TransformerBlock(16, 2), nn.TransformerDecoderLayer(16, 2, batch_first=True))
    with pytest.raises(ValueError, match="unknown norm 'batchnorm'"):
        TransformerBlock(16, 2, norm="batchnorm")
    with pytest.raises(ValueError, match=r"embed_dim=16, num_heads=2; ours has d_model=16, n_heads=4"):
        load_torch_multihead_attention(MultiHeadAttention(16, 4), nn.MultiheadAttention(16, 2))
    with pytest.raises(ValueError, match=r"kdim=8, vdim=8 != embed_dim=16"):
        load_torch_multihead_attention(MultiHeadAttention(16, 2), nn.MultiheadAttention(16, 2, kdim=8, vdim=8))
    # a decoder without cross-attention is a GPT-style stack: causal, so a prefix's outputs ignore the future
    gpt = TransformerDecoder(2, 16, 2, cross_attention=False).eval()
    x = _randn(1, 6, 16, seed=3)
    torch.testing.assert_close(gpt(x)[:, :4], gpt(x[:, :4]), atol=BLOCK_ATOL, rtol=0)


@pytest.mark.parametrize("norm_first", [False, True])
def test_block_returns_its_self_attention_weights(norm_first):
    torch.manual_seed(0)
    block = TransformerBlock(32, 4, cross_attention=True, norm_first=norm_first).eval()
    rotary = RotaryEmbedding(8)
    x, context = _randn(2, 6, 32, seed=1), _randn(2, 3, 32, seed=2)
    out, weights = block(x, context=context, causal=True, rotary=rotary, need_weights=True)
    torch.testing.assert_close(out, block(x, context=context, causal=True, rotary=rotary), atol=BLOCK_ATOL, rtol=0)
    h = block.norm1(x) if norm_first else x
    _, expected = block.attn(h, causal=True, rotary=rotary, need_weights=True)
    torch.testing.assert_close(weights, expected)
    assert weights.shape == (2, 4, 6, 6)


def test_encoder_and_decoder_are_one_stack():
    torch.manual_seed(0)
    encoder = TransformerEncoder(2, 16, 2, d_ff=32)
    torch.manual_seed(0)
    stack = TransformerStack(2, 16, 2, d_ff=32)
    assert isinstance(encoder, TransformerStack) and isinstance(TransformerDecoder(1, 16, 2), TransformerStack)
    x = _randn(2, 5, 16, seed=1)
    for causal in (False, True):
        torch.testing.assert_close(encoder.eval()(x, causal=causal), stack.eval()(x, causal=causal))
    torch.manual_seed(0)
    decoder = TransformerDecoder(2, 16, 2, d_ff=32, cross_attention=False).eval()
    torch.testing.assert_close(decoder(x), stack(x, causal=True))
    with pytest.raises(TypeError):
        TransformerEncoder(2, 16, 2, cross_attention=True)


def test_block_dropout_is_active_in_training():
    torch.manual_seed(0)
    block = TransformerBlock(16, 2, dropout=0.3, norm_first=False)
    x = _randn(2, 5, 16, seed=1)
    assert not torch.allclose(block.train()(x), block.eval()(x))


# ----------------------------------------------------------------------------------------------------------
# Positions
# ----------------------------------------------------------------------------------------------------------


def _llama_rope(head_dim, base, max_len=64):
    from transformers import LlamaConfig
    from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding

    config = LlamaConfig(
        hidden_size=head_dim * 2, num_attention_heads=2, head_dim=head_dim, max_position_embeddings=max_len,
        rope_theta=base,
    )
    return LlamaRotaryEmbedding(config)


@pytest.mark.parametrize("head_dim, base, offset", [(8, 10000.0, 0), (64, 10000.0, 5), (16, 500000.0, 17)])
def test_rope_equals_hf_llama(head_dim, base, offset):
    from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

    hf = _llama_rope(head_dim, base)
    assert hf.inv_freq.shape == (head_dim // 2,)  # the config gave the head_dim and base we asked for
    ours = RotaryEmbedding(head_dim, max_len=64, base=base)
    q, k = _randn(2, 3, 10, head_dim, seed=1), _randn(2, 3, 10, head_dim, seed=2)
    position_ids = torch.arange(offset, offset + 10)[None].expand(2, 10)
    cos, sin = hf(q, position_ids)
    expected_q, expected_k = apply_rotary_pos_emb(q, k, cos, sin)
    ours_q, ours_k = ours(q, k, offset=offset)
    torch.testing.assert_close(ours_q, expected_q, atol=ATOL, rtol=0)
    torch.testing.assert_close(ours_k, expected_k, atol=ATOL, rtol=0)


@settings(max_examples=20, deadline=None)
@given(m=st.integers(0, 200), n=st.integers(0, 200), shift=st.integers(0, 200), seed=st.integers(0, 1000))
def test_rope_scores_depend_only_on_relative_position(m, n, shift, seed):
    rope = RotaryEmbedding(16, max_len=512)
    q, k = torch.randn(2, 1, 16, generator=_gen(seed), dtype=torch.float64).unbind(0)
    rope = rope.double()
    score = rope.rotate(q, m) @ rope.rotate(k, n).T
    shifted = rope.rotate(q, m + shift) @ rope.rotate(k, n + shift).T
    # The cos/sin table is built in float32 (as Llama's is), so at positions near 400 the angles carry
    # errors of about 400 * 6e-8 rad: hypothesis found a score off by 1.07e-5 with a 1e-5 tolerance.
    torch.testing.assert_close(score, shifted, atol=1e-4, rtol=1e-4)
    # rotations preserve length
    torch.testing.assert_close(rope.rotate(q, m).norm(), q.norm(), atol=1e-5, rtol=1e-5)


def test_sinusoidal_encoding_matches_formula():
    d_model, max_len = 16, 50
    pe = SinusoidalPositionalEncoding(d_model, max_len)
    table = pe.encoding(max_len)
    for pos in (0, 1, 7, 49):
        for i in range(d_model // 2):
            angle = pos / 10000 ** (2 * i / d_model)
            assert math.isclose(table[pos, 2 * i].item(), math.sin(angle), abs_tol=1e-6)
            assert math.isclose(table[pos, 2 * i + 1].item(), math.cos(angle), abs_tol=1e-6)
    x = _randn(2, 5, d_model, seed=1)
    torch.testing.assert_close(pe(x, offset=3), x + table[3:8])


def test_position_bad_inputs():
    with pytest.raises(ValueError, match="d_model=7 must be even"):
        SinusoidalPositionalEncoding(7)
    with pytest.raises(ValueError, match="exceed max_len=10"):
        SinusoidalPositionalEncoding(8, max_len=10).encoding(8, offset=5)
    with pytest.raises(ValueError, match=r"x has shape \(1, 3, 6\) but this encoding has d_model=8"):
        SinusoidalPositionalEncoding(8)(torch.zeros(1, 3, 6))
    with pytest.raises(ValueError, match="head_dim=5 must be even"):
        RotaryEmbedding(5)
    with pytest.raises(ValueError, match="exceed max_len=8"):
        RotaryEmbedding(4, max_len=8).rotate(torch.zeros(1, 1, 4, 4), offset=6)
    with pytest.raises(ValueError, match=r"x has shape \(1, 1, 4, 6\) but this RotaryEmbedding has head_dim=4"):
        RotaryEmbedding(4).rotate(torch.zeros(1, 1, 4, 6))


# ----------------------------------------------------------------------------------------------------------
# Feed-forward and norms
# ----------------------------------------------------------------------------------------------------------


def test_feedforward_activations_equal_references():
    from transformers import LlamaConfig
    from transformers.activations import ACT2FN
    from transformers.models.llama.modeling_llama import LlamaMLP

    x = _randn(2, 5, 16, seed=1)
    for name, reference in (("relu", torch.relu), ("gelu", nn.GELU()), ("gelu_tanh", ACT2FN["gelu_new"])):
        torch.manual_seed(0)
        ff = FeedForward(16, 32, activation=name)
        torch.testing.assert_close(ff(x), ff.fc2(reference(ff.fc1(x))), atol=ATOL, rtol=0)
    # SwiGLU equals Llama's MLP with the same weights
    hf = LlamaMLP(LlamaConfig(hidden_size=16, intermediate_size=32, num_attention_heads=2, mlp_bias=False, hidden_act="silu"))
    ff = FeedForward(16, 32, activation="swiglu", bias=False)
    with torch.no_grad():
        ff.gate.weight.copy_(hf.gate_proj.weight)
        ff.up.weight.copy_(hf.up_proj.weight)
        ff.fc2.weight.copy_(hf.down_proj.weight)
    torch.testing.assert_close(ff(x), hf(x), atol=ATOL, rtol=0)
    with pytest.raises(ValueError, match="unknown activation 'tanh'"):
        FeedForward(16, 32, activation="tanh")


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_rmsnorm_equals_torch_and_llama(dtype):
    from transformers.models.llama.modeling_llama import LlamaRMSNorm

    x = (_randn(2, 5, 16, seed=1) * 3).to(dtype)
    ours, hf = RMSNorm(16, eps=1e-6), LlamaRMSNorm(16, eps=1e-6)
    with torch.no_grad():
        weight = torch.rand(16, generator=_gen(2)) + 0.5
        ours.weight.copy_(weight)
        hf.weight.copy_(weight)
    torch.testing.assert_close(ours(x), hf(x))
    if dtype == torch.float32:
        reference = nn.RMSNorm(16, eps=1e-6)
        with torch.no_grad():
            reference.weight.copy_(weight)
        torch.testing.assert_close(ours(x), reference(x), atol=ATOL, rtol=0)


def test_block_with_rmsnorm_swiglu_rotary_runs_and_is_causal():
    torch.manual_seed(0)
    block = TransformerBlock(32, 4, activation="swiglu", norm="rmsnorm", bias=False).eval()
    assert isinstance(block.norm1, RMSNorm) and block.ff.activation == "swiglu"
    x = _randn(1, 8, 32, seed=1)
    rotary = RotaryEmbedding(8)
    full = block(x, causal=True, rotary=rotary)
    torch.testing.assert_close(full[:, :5], block(x[:, :5], causal=True, rotary=rotary), atol=BLOCK_ATOL, rtol=0)


# ----------------------------------------------------------------------------------------------------------
# Chapter 3 exercise checkers accept the right answers and reject wrong ones
# ----------------------------------------------------------------------------------------------------------


def test_chapter3_exercise_checkers():
    from llmbook.book.exercises import check

    assert check("03.1", torch.ones(3, 5, dtype=torch.bool).tril(diagonal=2))
    assert not check("03.1", torch.ones(3, 5, dtype=torch.bool).tril())  # aligned to the start: wrong
    assert not check("03.1", torch.ones(3, 5).tril(diagonal=2))  # not boolean
    assert check("03.2", 4 * (512 * 512 + 512))
    assert not check("03.2", 4 * 512 * 512)
    assert check("03.3", 2048)
    assert not check("03.3", 2047) and not check("03.3", 2048.5)
    assert check("03.4", 2 * 12 * 1024 * 768 * 4)
    assert not check("03.4", 12 * 1024 * 768 * 4)


def test_torch_interop_refuses_an_attention_torch_cannot_express():
    """A T5-style attention (unscaled, or heads not d_model wide) has no torch.nn.MultiheadAttention twin."""
    from llmbook.nn import load_torch_multihead_attention

    theirs = torch.nn.MultiheadAttention(16, 4, batch_first=True)
    for ours in (MultiHeadAttention(16, 4, head_dim=8), MultiHeadAttention(16, 4, scale=1.0)):
        with pytest.raises(ValueError, match="build ours with the default head_dim and scale"):
            load_torch_multihead_attention(ours, theirs)
