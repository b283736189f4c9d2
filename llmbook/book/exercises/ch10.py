"""Checks for chapter 10, "Decoding: from logits to text". Each checker runs the learner's code or
recomputes the answer with the package (llmbook.generate, llmbook.metrics.diversity)."""
from __future__ import annotations

import math

import torch

from ...generate import process_logits
from ...metrics.diversity import distinct_n
from . import exercise, integer, number

# 10.2: a SmolLM2-135M-shaped model (30 layers, 3 key/value heads of 64 dimensions) continues a
# 100-token prompt by 50 tokens.
KV_SHAPE = dict(n_layer=30, n_kv_head=3, head_dim=64, prompt=100, new=50)

# 10.3: the texts whose distinct-2 is asked.
DISTINCT_TEXTS = ["the cat sat on the mat", "the cat sat on the hat", "a dog ran"]

# 10.4: two finished beams, (new tokens, summed log-probability).
SHORT_BEAM, LONG_BEAM = (4, -2.4), (10, -4.5)


def _distributions() -> list[tuple[torch.Tensor, float]]:
    """Next-token distributions to test a top-p filter on: small, peaked, with ties (never at the
    cut, where the order of equal tokens is arbitrary) and random; none is cut exactly at p."""
    generator = torch.Generator().manual_seed(10)
    small, peaked = torch.tensor([0.5, 0.3, 0.15, 0.05]), torch.tensor([0.97, 0.01, 0.01, 0.01])
    cases = [(small, 0.75), (small, 0.85), (peaked, 0.9),
             (torch.tensor([0.4, 0.2, 0.2, 0.1, 0.1]), 0.7)]
    for p in (0.1, 0.3, 0.5, 0.9, 0.95, 0.99):
        logits = torch.randn(200, generator=generator) * 3
        cases.append((logits.softmax(-1), p))
    return cases


@exercise("10.1", hint="Sort the probabilities in decreasing order (torch.sort), take the "
                       "cumulative sum, and keep a token while the mass *before* it is still "
                       "below p: keep_sorted = cumsum - sorted < p. Scatter the mask back to "
                       "vocabulary order.")
def _top_p(nucleus) -> bool:
    for probs, p in _distributions():
        keep = torch.as_tensor(nucleus(probs.clone(), p)).bool()
        expected = process_logits(probs.log()[None].double(), top_p=p)[0] > -math.inf
        if keep.shape != probs.shape or not torch.equal(keep, expected):
            return False
    return True


def kv_answer(n_layer: int, n_kv_head: int, head_dim: int, prompt: int,
              new: int) -> tuple[int, int, int]:
    """(positions run with the cache, positions run without it, numbers in the cache at the end)."""
    with_cache = prompt + (new - 1)  # the prefill, then one new position per later step
    without = sum(prompt + step for step in range(new))  # every step reruns the whole sequence
    cached_positions = prompt + new - 1  # the last token's keys and values were never needed
    return with_cache, without, cached_positions * 2 * n_layer * n_kv_head * head_dim


@exercise("10.2", hint="With the cache, the first step runs the whole prompt (the prefill) and "
                       "each later step one new position; without it step t runs prompt + t "
                       "positions. The cache keeps a key and a value vector per layer, key/value "
                       "head and position, for every position but the last.")
def _kv_counts(answer) -> bool:
    with_cache, without, numbers = (integer(a) for a in answer)
    return (with_cache, without, numbers) == kv_answer(**KV_SHAPE)


@exercise("10.3", hint="List every pair of neighbouring words of every text (pooled over the "
                       "texts), then divide the number of distinct pairs by the number of pairs.")
def _distinct_two(answer) -> bool:
    return abs(number(answer) - distinct_n(DISTINCT_TEXTS, 2)) < 1e-6


@exercise("10.4", hint="A finished beam scores log_p / length ** alpha. Set the two scores equal "
                       "and solve for alpha: (10 / 4) ** alpha = 4.5 / 2.4.")
def _length_penalty(answer) -> bool:
    (short_len, short_logp), (long_len, long_logp) = SHORT_BEAM, LONG_BEAM
    threshold = math.log(long_logp / short_logp) / math.log(long_len / short_len)

    def long_wins(alpha: float) -> bool:
        return long_logp / long_len ** alpha > short_logp / short_len ** alpha

    assert long_wins(threshold + 1e-3) and not long_wins(threshold - 1e-3)
    return abs(number(answer) - threshold) < 1e-3
