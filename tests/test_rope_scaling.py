"""RoPE scaling (position interpolation and dynamic NTK) against Hugging Face's ``rope_scaling``
variants: the frequencies and the rotated queries and keys equal Llama's rotary embedding with the
same config."""
from __future__ import annotations

import pytest
import torch

from llmbook.models import GPT, GPTConfig
from llmbook.nn import RotaryEmbedding

ATOL = 1e-6


def _hf_rope(head_dim: int, base: float, max_len: int, scaling: str | None, factor: float):
    from transformers import LlamaConfig
    from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding

    rope_parameters = {"rope_type": scaling or "default", "rope_theta": base}
    if scaling:
        rope_parameters["factor"] = factor
    config = LlamaConfig(hidden_size=head_dim * 2, num_attention_heads=2, head_dim=head_dim,
                         max_position_embeddings=max_len, rope_parameters=rope_parameters)
    return LlamaRotaryEmbedding(config)


def _hf_rotate(hf, q, k, offset):
    from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

    seq = q.shape[-2]
    position_ids = torch.arange(offset, offset + seq)[None].expand(q.shape[0], seq)
    cos, sin = hf(q, position_ids)
    return apply_rotary_pos_emb(q, k, cos, sin)


def _qk(head_dim, seq, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return (torch.randn(2, 3, seq, head_dim, generator=generator),
            torch.randn(2, 3, seq, head_dim, generator=generator))


@pytest.mark.parametrize("head_dim, base, factor",
                         [(16, 10000.0, 2.0), (64, 500000.0, 4.0), (8, 10000.0, 1.5)])
def test_linear_scaling_equals_hf(head_dim, base, factor):
    train_len = 32
    hf = _hf_rope(head_dim, base, train_len, "linear", factor)
    ours = RotaryEmbedding(head_dim, max_len=256, base=base, scaling="linear", factor=factor)
    torch.testing.assert_close(ours.inv_freq, hf.inv_freq, atol=0, rtol=0)
    for offset, seq in ((0, 20), (0, 200), (37, 50)):
        q, k = _qk(head_dim, seq, seed=offset)
        expected_q, expected_k = _hf_rotate(hf, q, k, offset)
        ours_q, ours_k = ours(q, k, offset=offset)
        torch.testing.assert_close(ours_q, expected_q, atol=ATOL, rtol=0)
        torch.testing.assert_close(ours_k, expected_k, atol=ATOL, rtol=0)


@pytest.mark.parametrize("head_dim, base, factor",
                         [(16, 10000.0, 2.0), (64, 10000.0, 4.0), (32, 500000.0, 8.0)])
def test_dynamic_scaling_equals_hf(head_dim, base, factor):
    train_len = 32
    ours = RotaryEmbedding(head_dim, max_len=512, base=base, scaling="dynamic", factor=factor,
                           original_max_len=train_len)
    # Growing lengths: Hugging Face recomputes its frequencies at each new longest call, like ours.
    hf = _hf_rope(head_dim, base, train_len, "dynamic", factor)
    for seq in (10, 32, 33, 64, 200, 500):
        q, k = _qk(head_dim, seq, seed=seq)
        expected_q, expected_k = _hf_rotate(hf, q, k, 0)
        torch.testing.assert_close(ours.frequencies(seq), hf.inv_freq, atol=0, rtol=0)
        ours_q, ours_k = ours(q, k)
        # angles up to 500 rad in float32: the same float32 steps as HF, a little rounding left
        torch.testing.assert_close(ours_q, expected_q, atol=ATOL, rtol=0)
        torch.testing.assert_close(ours_k, expected_k, atol=ATOL, rtol=0)


def test_dynamic_with_offset_uses_the_total_length():
    ours = RotaryEmbedding(16, max_len=256, scaling="dynamic", factor=2.0, original_max_len=32)
    hf = _hf_rope(16, 10000.0, 32, "dynamic", 2.0)
    q, k = _qk(16, 8)
    expected_q, _ = _hf_rotate(hf, q, k, 92)  # positions 92..99: HF's length is 100
    torch.testing.assert_close(ours(q, k, offset=92)[0], expected_q, atol=ATOL, rtol=0)


def test_scaling_within_the_training_length():
    plain = RotaryEmbedding(16, max_len=256)
    dynamic = RotaryEmbedding(16, max_len=256, scaling="dynamic", factor=4.0, original_max_len=64)
    linear = RotaryEmbedding(16, max_len=256, scaling="linear", factor=4.0)
    q, k = _qk(16, 64)
    assert torch.equal(dynamic(q, k)[0], plain(q, k)[0])  # dynamic changes nothing up to L
    assert not torch.allclose(linear(q, k)[0], plain(q, k)[0])  # linear always interpolates
    # linear: position 4j of the scaled module is position j of the plain one (/4 is exact)
    assert torch.equal(linear.cos_sin(64)[0][::4], plain.cos_sin(16)[0])
    # the dynamic base grows with the length, so the slowest pair turns slower
    assert dynamic.frequencies(256)[-1] < dynamic.frequencies(128)[-1] < plain.inv_freq[-1]
    torch.testing.assert_close(dynamic.frequencies(256)[0], plain.inv_freq[0])  # θ_0 = 1 always


def test_scaled_rope_in_the_books_gpt():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=50, block_size=128, n_layer=1, n_head=2, n_embd=16,
                          position="rope"))
    idx = torch.randint(0, 50, (1, 100))
    before = model(idx)[0]
    model.rotary = RotaryEmbedding(8, max_len=128, scaling="dynamic", factor=2.0,
                                   original_max_len=128)
    torch.testing.assert_close(model(idx)[0], before)  # 100 <= 128: unchanged
    model.rotary = RotaryEmbedding(8, max_len=128, scaling="linear", factor=2.0)
    assert not torch.allclose(model(idx)[0], before)


def test_rope_scaling_bad_inputs():
    with pytest.raises(ValueError, match="unknown RoPE scaling 'ntk'"):
        RotaryEmbedding(8, scaling="ntk", factor=2.0)
    with pytest.raises(ValueError, match="factor must be a number >= 1"):
        RotaryEmbedding(8, scaling="linear", factor=0.5)
    with pytest.raises(ValueError, match="has no effect without scaling"):
        RotaryEmbedding(8, factor=2.0)
    with pytest.raises(ValueError, match="original_max_len must be a positive int"):
        RotaryEmbedding(8, scaling="dynamic", factor=2.0, original_max_len=0)
