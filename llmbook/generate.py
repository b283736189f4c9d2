"""Generation: turning a model's next-token logits into text.

:func:`sample_logits` picks the next token (greedy, temperature, top-k, top-p); every language model
of the package (``GPT``, ``MLPLM``, ``RNNLM``) decodes with it. The decoding chapter grows this module
(beam search, logits processors, speculative decoding).
"""
from __future__ import annotations

import math
import numbers

import torch

__all__ = ["sample_logits"]


def sample_logits(
    logits: torch.Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Pick the next token from ``logits`` ``(batch, vocab)``; returns ``(batch, 1)`` token ids.

    ``temperature=0`` is greedy decoding (argmax). Otherwise the logits are divided by the temperature,
    restricted to the ``top_k`` most likely tokens and/or to the smallest set whose probability reaches
    ``top_p`` (nucleus sampling), and one token is drawn from the renormalised distribution.
    """
    finite = isinstance(temperature, numbers.Real) and not isinstance(temperature, bool) and 0 <= temperature < math.inf
    if not finite:  # NaN fails 0 <= NaN
        raise ValueError(f"temperature must be a finite number >= 0 (0 = greedy), got {temperature!r}")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
        raise ValueError(f"top_k must be a positive int or None, got {top_k!r}")
    if top_p is not None and not 0.0 < top_p <= 1.0:
        raise ValueError(f"top_p must be in (0, 1] or None, got {top_p!r}")
    if temperature == 0:
        return logits.argmax(dim=-1, keepdim=True)
    logits = logits.float() / temperature
    if top_k is not None and top_k < logits.size(-1):
        kth = torch.topk(logits, top_k, dim=-1).values[:, [-1]]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        cumulative = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
        # drop a token when the tokens ranked above it already reach top_p (the first one always stays)
        drop_sorted = cumulative - sorted_logits.softmax(dim=-1) >= top_p
        drop = drop_sorted.scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    probs = logits.softmax(dim=-1)
    return torch.multinomial(probs, num_samples=1, generator=generator)
