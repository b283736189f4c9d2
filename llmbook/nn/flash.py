"""Memory-efficient attention: tiles and an online softmax (the FlashAttention idea).

Plain attention, ``softmax(Q Kᵀ · scale) V``, builds the whole ``(seq_q, seq_k)`` matrix of scores,
so its memory grows with the square of the sequence. FlashAttention {cite}`dao2022flashattention`
never holds that matrix: it walks over tiles of ``block_size`` queries × ``block_size`` keys and
keeps, for every query row, three running numbers:

* ``m``: the largest score seen so far (for a stable ``exp``);
* ``l``: the sum of ``exp(score - m)`` so far (the softmax's denominator);
* ``acc``: the sum of ``exp(score - m) · v`` so far (the numerator, a vector).

When a new tile raises the maximum from ``m`` to ``m'``, everything summed so far was scaled by
``exp(-m)`` instead of ``exp(-m')``: multiplying ``l`` and ``acc`` by ``exp(m - m')`` corrects it
(the **online softmax**). After the last tile, ``out = acc / l`` is exactly the softmax-weighted
sum. Memory is ``O(seq · head_dim + block_size²)`` instead of ``O(seq²)``.

The backward pass does not keep the tiles either: the forward pass saves only ``out`` and each row's
log-sum-exp ``lse = m + log l``, and the backward pass recomputes each tile's probabilities
``p = exp(score - lse)`` (FlashAttention-2's backward): with ``D = rowsum(dO ∘ O)``,
``dV += pᵀ dO``, ``dS = p ∘ (dO Vᵀ - D)``, ``dQ += dS K · scale``, ``dK += dSᵀ Q · scale``.

Written with PyTorch tensor operations, this shows the algorithm and its memory, not the speed of
the CUDA kernel (which keeps the tiles in on-chip SRAM). :func:`peak_memory` measures the memory a
call allocates.

>>> out = flash_attention(q, k, v, causal=True, block_size=64)   # == F.scaled_dot_product_attention
"""
from __future__ import annotations

import math
import os
from typing import Any, Callable

import torch

__all__ = ["flash_attention", "peak_memory"]


def _tile_scores(q_tile: torch.Tensor, k_tile: torch.Tensor, scale: float, causal: bool,
                 q_start: int, k_start: int) -> torch.Tensor:
    """Scores ``(..., bq, bk)`` of one tile; with ``causal``, -inf where the key comes after the
    query (query ``i`` sees keys ``j <= i``, as ``is_causal=True`` in PyTorch)."""
    scores = (q_tile @ k_tile.transpose(-2, -1)) * scale
    if causal and k_start + k_tile.size(-2) - 1 > q_start:  # the tile reaches past the diagonal
        rows = torch.arange(q_start, q_start + q_tile.size(-2), device=q_tile.device)[:, None]
        cols = torch.arange(k_start, k_start + k_tile.size(-2), device=q_tile.device)[None, :]
        scores = scores.masked_fill(cols > rows, float("-inf"))
    return scores


def _key_tiles(q_start: int, q_end: int, seq_k: int, block: int, causal: bool) -> range:
    """The key tiles a query tile needs: all of them, or with ``causal`` those that start at or
    before its last query."""
    last = min(seq_k, q_end) if causal else seq_k
    return range(0, last, block)


class _FlashAttention(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool,
                block: int, scale: float) -> torch.Tensor:
        seq_q, seq_k = q.size(-2), k.size(-2)
        out = q.new_empty(*q.shape[:-1], v.size(-1))
        lse = q.new_empty(q.shape[:-1])  # (..., seq_q): log of each row's softmax denominator
        for q0 in range(0, seq_q, block):
            q_tile = q[..., q0:q0 + block, :]
            m = q.new_full(q_tile.shape[:-1], float("-inf"))  # running row maximum
            l = q.new_zeros(q_tile.shape[:-1])  # running sum of exp(score - m)
            acc = q.new_zeros(*q_tile.shape[:-1], v.size(-1))  # running sum of exp(score - m) v
            for k0 in _key_tiles(q0, q0 + q_tile.size(-2), seq_k, block, causal):
                scores = _tile_scores(q_tile, k[..., k0:k0 + block, :], scale, causal, q0, k0)
                m_new = torch.maximum(m, scores.amax(dim=-1))
                p = torch.exp(scores - m_new[..., None])
                correction = torch.exp(m - m_new)  # rescale what was summed with the old maximum
                l = l * correction + p.sum(dim=-1)
                acc = acc * correction[..., None] + p @ v[..., k0:k0 + block, :]
                m = m_new
            out[..., q0:q0 + block, :] = acc / l[..., None]
            lse[..., q0:q0 + block] = m + torch.log(l)
        ctx.save_for_backward(q, k, v, out, lse)
        ctx.causal, ctx.block, ctx.scale = causal, block, scale
        return out

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        q, k, v, out, lse = ctx.saved_tensors
        causal, block, scale = ctx.causal, ctx.block, ctx.scale
        seq_q, seq_k = q.size(-2), k.size(-2)
        D = (grad_out * out).sum(dim=-1)  # (..., seq_q): rowsum(dO ∘ O) = rowsum(P ∘ dP)
        grad_q, grad_k, grad_v = torch.zeros_like(q), torch.zeros_like(k), torch.zeros_like(v)
        for q0 in range(0, seq_q, block):
            rows = slice(q0, q0 + block)
            q_tile, dout_tile = q[..., rows, :], grad_out[..., rows, :]
            for k0 in _key_tiles(q0, q0 + q_tile.size(-2), seq_k, block, causal):
                cols = slice(k0, k0 + block)
                scores = _tile_scores(q_tile, k[..., cols, :], scale, causal, q0, k0)
                p = torch.exp(scores - lse[..., rows, None])  # the tile's probabilities, recomputed
                grad_v[..., cols, :] += p.transpose(-2, -1) @ dout_tile
                grad_p = dout_tile @ v[..., cols, :].transpose(-2, -1)
                grad_scores = p * (grad_p - D[..., rows, None])  # the softmax's backward
                grad_q[..., rows, :] += (grad_scores @ k[..., cols, :]) * scale
                grad_k[..., cols, :] += (grad_scores.transpose(-2, -1) @ q_tile) * scale
        return grad_q, grad_k, grad_v, None, None, None


def flash_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool = False,
                    block_size: int = 64, scale: float | None = None) -> torch.Tensor:
    """``softmax(Q Kᵀ · scale) V`` computed tile by tile, never holding the ``(seq_q, seq_k)``
    matrix, in the forward or the backward pass.

    Args:
        q: queries ``(..., seq_q, head_dim)``.
        k: keys ``(..., seq_k, head_dim)``.
        v: values ``(..., seq_k, d_v)``.
        causal: query ``i`` sees keys ``j <= i`` (PyTorch's ``is_causal=True``).
        block_size: queries and keys per tile.
        scale: the scores' factor; ``None``: ``1 / sqrt(head_dim)``.

    Returns:
        ``(..., seq_q, d_v)``, equal (up to rounding) to
        ``F.scaled_dot_product_attention(q, k, v, is_causal=causal, scale=scale)``.
    """
    for name, t in (("q", q), ("k", k), ("v", v)):
        if not isinstance(t, torch.Tensor) or t.dim() < 2 or not t.dtype.is_floating_point:
            raise TypeError(f"{name} must be a floating-point tensor (..., seq, dim), got "
                            f"{getattr(t, 'dtype', type(t).__name__)} of shape "
                            f"{tuple(getattr(t, 'shape', ()))}")
    if q.size(-1) != k.size(-1) or k.size(-2) != v.size(-2) or not (
            q.shape[:-2] == k.shape[:-2] == v.shape[:-2]):
        raise ValueError(f"shapes q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)} do "
                         f"not fit: q and k need the same head_dim, k and v the same seq_k, and "
                         f"all three the same leading (batch, heads) dimensions")
    if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 1:
        raise ValueError(f"block_size must be a positive int (queries and keys per tile), got "
                         f"{block_size!r}")
    scale = 1.0 / math.sqrt(q.size(-1)) if scale is None else float(scale)
    return _FlashAttention.apply(q, k, v, bool(causal), block_size, scale)


def peak_memory(fn: Callable[[], Any], device: torch.device | str = "cpu") -> int:
    """The most bytes of tensor memory on ``device`` that ``fn()`` held at once beyond what existed
    before it (its own allocations, freed or not).

    On a CUDA device this is ``torch.cuda.max_memory_allocated`` after a reset; on the CPU, where
    PyTorch keeps no such counter, the allocations and frees recorded by ``torch.profiler``
    (``profile_memory=True``) are summed in time order and the highest point is taken.
    """
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        fn()
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) - before
    if device.type != "cpu":
        raise ValueError(f"peak_memory measures 'cpu' or 'cuda' memory, got device {device}")
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    # the profiler's library (kineto) prints every start and stop on stderr unless told otherwise;
    # it reads this when it first starts, and a value the user set wins
    os.environ.setdefault("KINETO_LOG_LEVEL", "6")
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    # every allocation (+bytes) and free (-bytes) as the profiler recorded it (kineto_results:
    # the raw events; prof.events() folds allocations into the operators that made them)
    changes = sorted((event.start_ns(), event.nbytes())
                     for event in prof.profiler.kineto_results.events()
                     if event.name() == "[memory]" and event.device_type() == DeviceType.CPU)
    held = peak = 0
    for _, nbytes in changes:
        held += nbytes
        peak = max(peak, held)
    return peak
