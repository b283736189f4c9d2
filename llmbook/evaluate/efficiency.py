"""Efficiency of a model: parameters, FLOPs per token, latency, throughput and peak memory.

The forward pass of a Transformer costs, per token, two FLOPs (a multiply and an add) for every weight
of its linear layers, plus the attention scores and their weighted sum (see :mod:`llmbook.flops`, which also says why the
book counts ``4`` where Kaplan et al.'s Table 1 has ``2``):

.. math:: C_{\\text{forward}} \\approx 2 N_{\\text{matmul}} + 4\\, n_{\\text{layer}}\\, T\\, d_{\\text{attn}}

where :math:`N_{\\text{matmul}}` counts the weights of every linear layer (the output projection onto
the vocabulary included; the embedding lookup costs no multiplications), :math:`T` is the context
length and :math:`d_{\\text{attn}} = n_{\\text{head}} d_{\\text{head}}`. For short contexts the first term
dominates, hence the rule of thumb "2N FLOPs per token". :func:`llmbook.flops.model_forward_flops_per_token`
evaluates the formula; the tests check it against PyTorch's ``FlopCounterMode``.
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..flops import matmul_parameters, model_forward_flops_per_token
from ..timing import median_seconds

__all__ = ["EfficiencyReport", "count_parameters", "profile_model"]


def count_parameters(model: nn.Module) -> int:
    """Number of distinct parameters (tied weights, such as shared input and output embeddings, count once)."""
    return sum(p.numel() for p in model.parameters())


@dataclass(frozen=True)
class EfficiencyReport:
    """What :func:`profile_model` measured (times in seconds, memory in bytes)."""

    parameters: int
    matmul_parameters: int
    flops_per_token: float  # at context length seq_len
    latency_s: float  # one sequence of seq_len tokens (batch 1), median of the repeats
    tokens_per_s: float  # batch_size sequences of seq_len tokens per forward
    peak_memory_bytes: int  # weights + the largest extra memory during the batched forward
    seq_len: int
    batch_size: int
    device: str
    dtype: str

    @property
    def achieved_flops(self) -> float:
        """FLOP/s the batched forward reached: ``flops_per_token * tokens_per_s``."""
        return self.flops_per_token * self.tokens_per_s


def _rss_bytes() -> int | None:
    """Resident memory of this process (Linux ``/proc``; ``None`` elsewhere)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):  # pragma: no cover - not Linux
        return None


class _PeakRSS:
    """Samples the resident memory in a background thread; ``peak - start`` is the memory a block added."""

    def __init__(self, interval_s: float = 0.0005):
        self.interval_s, self.start, self.peak = interval_s, _rss_bytes(), _rss_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            rss = _rss_bytes()
            if rss is not None and self.peak is not None:
                self.peak = max(self.peak, rss)
            time.sleep(self.interval_s)

    def __enter__(self) -> "_PeakRSS":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()


def profile_model(
    model: nn.Module, seq_len: int = 128, batch_size: int = 8, repeats: int = 3, seed: int = 0
) -> EfficiencyReport:
    """Measure ``model``'s parameters, FLOPs per token, latency, throughput and peak memory.

    Inputs are random token ids (the cost of a forward pass does not depend on which tokens). Latency is
    the median time of ``repeats`` forwards of one ``(1, seq_len)`` sequence after a warm-up, throughput
    ``batch_size * seq_len`` tokens over the median time of a ``(batch_size, seq_len)`` forward. Peak memory
    is ``torch.cuda.max_memory_allocated`` on a GPU; on a CPU, the parameter bytes plus the largest growth
    of the process's resident memory during the batched forward (sampled every 0.5 ms, so an estimate).
    """
    for name, value in (("seq_len", seq_len), ("batch_size", batch_size), ("repeats", repeats)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    param = next(model.parameters())
    device = param.device
    vocab = int(model.config.vocab_size)
    generator = torch.Generator().manual_seed(seed)
    single = torch.randint(0, vocab, (1, seq_len), generator=generator).to(device)
    batch = torch.randint(0, vocab, (batch_size, seq_len), generator=generator).to(device)
    was_training = model.training
    model.eval()

    try:
        with torch.inference_mode():
            # one warm-up call: first calls pay for allocation and kernel selection
            latency = median_seconds(lambda: model(single), repeats, warmup=1, device=device)
            weights = sum(p.numel() * p.element_size() for p in model.parameters())
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
                batch_seconds = median_seconds(lambda: model(batch), repeats, warmup=0, device=device)
                peak = int(torch.cuda.max_memory_allocated(device))
            else:
                with _PeakRSS() as rss:
                    batch_seconds = median_seconds(lambda: model(batch), repeats, warmup=0, device=device)
                extra = (rss.peak - rss.start) if rss.peak is not None and rss.start is not None else 0
                peak = weights + max(0, int(extra))
    finally:
        model.train(was_training)
    return EfficiencyReport(
        parameters=count_parameters(model),
        matmul_parameters=matmul_parameters(model),
        flops_per_token=model_forward_flops_per_token(model, seq_len),
        latency_s=latency,
        tokens_per_s=batch_size * seq_len / batch_seconds,
        peak_memory_bytes=peak,
        seq_len=seq_len,
        batch_size=batch_size,
        device=str(device),
        dtype=str(param.dtype).replace("torch.", ""),
    )
