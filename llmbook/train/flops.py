"""Counting training compute: FLOPs per token, total compute C ≈ 6 N D, and model FLOPs utilisation.

A forward pass costs about 2 FLOPs per parameter per token (one multiply and one add per weight),
the backward pass twice that, so training costs ``6 N`` FLOPs per token {cite}`kaplan2020scaling`.
Attention adds ``12 * n_layer * n_embd * block_size`` per token (the ``QKᵀ`` and ``AV`` products,
forward and backward), which matters when the context is long compared with the width. Model FLOPs
utilisation (MFU, as defined in the PaLM paper and computed by nanoGPT) divides the FLOPs the model needs
by the time taken and the accelerator's peak rate.
"""
from __future__ import annotations

__all__ = ["forward_flops_per_token", "flops_per_token", "training_flops", "mfu", "PEAK_TFLOPS"]

# dense bf16 peak rates in TFLOP/s (without sparsity), by device name fragment
PEAK_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "A10": 125.0, "L4": 121.0, "V100": 125.0, "T4": 65.0}


def forward_flops_per_token(n_params: int, n_layer: int, d_attn: int, context_length: int) -> float:
    """Forward FLOPs per token: ``2 N + 4 n_layer T d_attn``.

    ``2 N`` for the weight matrix products (one multiply and one add per weight), ``4 n_layer T d_attn``
    for ``QKᵀ`` and ``AV`` against ``T`` positions. ``N`` is the number of weights used in matrix
    products; the caller decides whether embeddings count (nanoGPT counts the tied output layer).
    """
    if min(n_params, n_layer, d_attn, context_length) <= 0:
        raise ValueError("n_params, n_layer, n_embd and block_size must be positive")
    return 2.0 * n_params + 4.0 * n_layer * d_attn * context_length


def flops_per_token(n_params: int, n_layer: int, n_embd: int, block_size: int) -> float:
    """Training FLOPs per token: ``6 N + 12 L d T`` (PaLM appendix B; nanoGPT's ``estimate_mfu``), i.e. the
    forward pass plus a backward pass that costs twice as much."""
    return 3.0 * forward_flops_per_token(n_params, n_layer, n_embd, block_size)


def training_flops(n_params: int, n_tokens: int) -> float:
    """Kaplan et al.'s estimate of the compute of a training run: ``C = 6 N D`` FLOPs."""
    return 6.0 * n_params * n_tokens


def mfu(tokens_per_s: float, flops_per_tok: float, peak_tflops: float) -> float:
    """Model FLOPs utilisation: achieved model FLOP/s over the peak rate (a fraction in [0, 1])."""
    if peak_tflops <= 0:
        raise ValueError(f"peak_tflops must be positive, got {peak_tflops}")
    return tokens_per_s * flops_per_tok / (peak_tflops * 1e12)
