"""Tiled attention with an online softmax equals torch's scaled_dot_product_attention, forward and
backward, causal and not; its memory does not grow with seq²."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from llmbook.nn import flash_attention, peak_memory


def qkv(seq_q, seq_k, dtype=torch.float64, seed=0, d=16, d_v=8):
    generator = torch.Generator().manual_seed(seed)
    shapes = [(2, 3, seq_q, d), (2, 3, seq_k, d), (2, 3, seq_k, d_v)]
    return [torch.randn(s, generator=generator, dtype=dtype).requires_grad_() for s in shapes]


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("seq_q,seq_k,block", [(64, 64, 16), (50, 50, 16), (37, 100, 32),
                                               (100, 37, 32), (20, 20, 64), (9, 9, 1)])
def test_equals_sdpa_forward_and_backward(causal, seq_q, seq_k, block):
    q, k, v = qkv(seq_q, seq_k)
    ours = flash_attention(q, k, v, causal=causal, block_size=block)
    reference = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
    torch.testing.assert_close(ours, reference, rtol=0, atol=1e-12)
    grad_out = torch.randn_like(ours)
    ours_grads = torch.autograd.grad(ours, (q, k, v), grad_out)
    reference_grads = torch.autograd.grad(reference, (q, k, v), grad_out)
    for name, a, b in zip("qkv", ours_grads, reference_grads):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12, msg=f"d{name}")


def test_float32_and_a_custom_scale():
    q, k, v = qkv(48, 48, dtype=torch.float32)
    ours = flash_attention(q, k, v, causal=True, block_size=16, scale=0.3)
    reference = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=0.3)
    torch.testing.assert_close(ours, reference, rtol=1e-5, atol=1e-6)
    ours.sum().backward()
    grads = [t.grad.clone() for t in (q, k, v)]
    for t in (q, k, v):
        t.grad = None
    reference.sum().backward()
    for a, t in zip(grads, (q, k, v)):
        torch.testing.assert_close(a, t.grad, rtol=1e-4, atol=1e-5)


def test_gradcheck():
    q, k, v = qkv(7, 7, d=4, d_v=3)
    assert torch.autograd.gradcheck(lambda a, b, c: flash_attention(a, b, c, True, 3), (q, k, v))


def test_peak_memory_grows_with_seq_squared_for_plain_attention_only():
    def plain(n):
        q, k, v = qkv(n, n, dtype=torch.float32)
        return lambda: ((q @ k.transpose(-2, -1)).softmax(-1) @ v).sum().backward()

    def tiled(n):
        q, k, v = qkv(n, n, dtype=torch.float32)
        return lambda: flash_attention(q, k, v, causal=True, block_size=32).sum().backward()

    small, large = 128, 512  # 4x the sequence
    plain_ratio = peak_memory(plain(large)) / peak_memory(plain(small))
    tiled_ratio = peak_memory(tiled(large)) / peak_memory(tiled(small))
    assert plain_ratio > 12  # about 16: the (seq, seq) scores
    assert tiled_ratio < 5  # about 4: only (seq, dim) tensors grow
    scores_bytes = 2 * 3 * large * large * 4
    assert peak_memory(plain(large)) >= scores_bytes


def test_bad_input_is_a_clear_error():
    q, k, v = qkv(8, 8)
    with pytest.raises(ValueError, match="block_size must be a positive int"):
        flash_attention(q, k, v, block_size=0)
    with pytest.raises(ValueError, match="same head_dim"):
        flash_attention(q, k[..., :4], v)
    with pytest.raises(ValueError, match="same seq_k"):
        flash_attention(q, k, v[..., :5, :])
    with pytest.raises(TypeError, match="floating-point"):
        flash_attention(q, k, torch.ones(2, 3, 8, 8, dtype=torch.long))


def test_peak_memory_names_the_devices_it_measures():
    with pytest.raises(ValueError, match="'cpu' or 'cuda'"):
        peak_memory(lambda: None, device="meta")
    assert peak_memory(lambda: torch.zeros(1000)) == 4000  # what the call allocated, freed or not
