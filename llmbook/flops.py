"""Counting compute: FLOPs per token of the forward pass and of training, total compute, and MFU.

A forward pass costs about 2 FLOPs per weight per token (one multiply and one add), the backward pass
twice that, so training costs about ``6 N`` FLOPs per token {cite}`kaplan2020scaling`. Attention adds
the products with the ``T`` earlier positions: ``QKᵀ`` (one dot product of length ``d_attn`` per
position) and the weighted sum ``AV`` (the same size), ``2 T d_attn`` FLOPs each, so
``4 n_layer T d_attn`` per token in the forward pass.

Kaplan et al.'s Table 1 lists ``2 n_layer n_ctx d_attn`` for attention: it counts the ``QKᵀ`` product
only. The book counts both products, as PaLM's appendix B and nanoGPT's ``estimate_mfu`` do, and as
PyTorch's ``FlopCounterMode`` measures (the tests check :func:`model_forward_flops_per_token` against
it). Dense kernels compute the whole ``T x T`` score matrix even under a causal mask, so the count
does not halve it. Training then costs ``6 N + 12 n_layer T d_attn`` per token.

Model FLOPs utilisation (MFU, as defined in the PaLM paper and computed by nanoGPT) divides the FLOPs
the model needs by the time taken and the accelerator's peak rate.
"""
from __future__ import annotations

from typing import Any

from torch import nn

__all__ = ["forward_flops_per_token", "training_flops_per_token", "training_flops", "matmul_parameters",
           "model_forward_flops_per_token", "mfu", "PEAK_TFLOPS"]

# dense bf16 peak rates in TFLOP/s (without sparsity), by device name fragment
PEAK_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "A10": 125.0, "L4": 121.0, "V100": 125.0,
               "T4": 65.0}


def forward_flops_per_token(n_params: int, n_layer: int, d_attn: int, context_length: int) -> float:
    """Forward FLOPs per token: ``2 N + 4 n_layer T d_attn``.

    ``2 N`` for the weight matrix products (one multiply and one add per weight), ``4 n_layer T d_attn``
    for ``QKᵀ`` and ``AV`` against ``T = context_length`` positions. ``N`` is the number of weights used
    in matrix products; the caller decides whether embeddings count (nanoGPT counts the tied output
    layer).
    """
    values = {"n_params": n_params, "n_layer": n_layer, "d_attn": d_attn, "context_length": context_length}
    bad = [f"{name}={value!r}" for name, value in values.items() if value <= 0]
    if bad:
        raise ValueError(f"{', '.join(bad)}: n_params, n_layer, d_attn and context_length must be positive")
    return 2.0 * n_params + 4.0 * n_layer * d_attn * context_length


def training_flops_per_token(n_params: int, n_layer: int, d_attn: int, context_length: int) -> float:
    """Training FLOPs per token: ``6 N + 12 n_layer T d_attn`` (PaLM appendix B; nanoGPT's
    ``estimate_mfu``), the forward pass plus a backward pass that costs twice as much."""
    return 3.0 * forward_flops_per_token(n_params, n_layer, d_attn, context_length)


def training_flops(n_params: int, n_tokens: int) -> float:
    """Kaplan et al.'s estimate of the compute of a training run: ``C = 6 N D`` FLOPs."""
    return 6.0 * n_params * n_tokens


def matmul_parameters(model: nn.Module) -> int:
    """Weights used in a matrix product per token: every ``nn.Linear``'s weight, a tied output head
    included (the embedding lookup costs no multiplications)."""
    return sum(m.weight.numel() for m in model.modules() if isinstance(m, nn.Linear))


def _attention_shape(config: Any) -> tuple[int, int]:
    """``(n_layer, d_attn)`` from a Hugging Face style config (or a :class:`~llmbook.models.GPTConfig`)."""
    n_layer = getattr(config, "num_hidden_layers", None) or getattr(config, "n_layer", None)
    n_head = getattr(config, "num_attention_heads", None) or getattr(config, "n_head", None)
    d_model = getattr(config, "hidden_size", None) or getattr(config, "n_embd", None)
    if not (n_layer and n_head and d_model):
        raise ValueError("the model's config must give the number of layers, heads and the hidden size "
                         "(num_hidden_layers, num_attention_heads, hidden_size)")
    head_dim = getattr(config, "head_dim", None) or d_model // n_head
    return int(n_layer), int(n_head * head_dim)


def model_forward_flops_per_token(model: nn.Module, context_length: int) -> float:
    """:func:`forward_flops_per_token` of ``model`` (its ``config`` gives the shape) at context length
    ``T``, with ``N`` = :func:`matmul_parameters`."""
    if isinstance(context_length, bool) or not isinstance(context_length, int) or context_length < 1:
        raise ValueError(f"context_length must be a positive int, got {context_length!r}")
    n_layer, d_attn = _attention_shape(getattr(model, "config", None))
    return forward_flops_per_token(matmul_parameters(model), n_layer, d_attn, context_length)


def mfu(tokens_per_s: float, flops_per_token: float, peak_tflops: float) -> float:
    """Model FLOPs utilisation: achieved model FLOP/s over the peak rate (a fraction in [0, 1])."""
    if peak_tflops <= 0:
        raise ValueError(f"peak_tflops must be positive, got {peak_tflops}")
    return tokens_per_s * flops_per_token / (peak_tflops * 1e12)
