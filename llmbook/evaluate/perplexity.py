r"""Sliding-window (strided) perplexity of a causal language model on a long text.

A model with a context of ``window`` tokens cannot see a whole book at once. Cutting the text into
disjoint windows (``stride == window``) scores the first tokens of every window with almost no context,
which inflates perplexity. The sliding window of the Hugging Face guide "Perplexity of fixed-length
models" moves the window by ``stride < window`` tokens and scores only the tokens that are *new* in each
window, so every scored token keeps at least ``window - stride`` tokens of context:

.. math:: \text{window } k = x_{[b_k,\, e_k)}, \quad b_k = k \cdot \text{stride}, \quad
          e_k = \min(b_k + \text{window}, N), \qquad
          \text{scored: } x_t,\ t \in [\max(e_{k-1}, b_k + 1),\, e_k),

and :math:`\mathrm{PPL} = \exp\big(\frac{1}{T} \sum_t -\ln p(x_t \mid x_{[b_k, t)})\big)` over the
:math:`T` scored tokens: :math:`T = N - 1` when ``stride < window`` (only the very first token has no
prediction); with disjoint windows the first token of every window is left unscored, as in the guide.
Smaller strides give more
context and lower perplexity, at ``window / stride`` times the compute.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import torch

from .engine import model_device, next_token_logprobs, token_logprobs

__all__ = ["strided_perplexity", "window_spans"]


def window_spans(n_tokens: int, window: int, stride: int) -> list[tuple[int, int, int]]:
    """``(begin, end, first_scored)`` of each window: tokens ``[begin, end)`` go in, and the tokens
    ``[first_scored, end)`` are scored (the ones no earlier window scored)."""
    spans, previous_end = [], 0
    for begin in range(0, n_tokens, stride):
        end = min(begin + window, n_tokens)
        spans.append((begin, end, max(previous_end, begin + 1)))
        previous_end = end
        if end == n_tokens:
            break
    return spans


@torch.no_grad()
def strided_perplexity(
    model: Any,
    token_ids: Sequence[int] | torch.Tensor,
    window: int,
    stride: int,
    device: str | torch.device | None = None,
    batch_size: int = 1,
) -> dict[str, float | int]:
    """Perplexity of ``token_ids`` under a causal LM, evaluated with a sliding window (module docstring).

    Args:
        model: any callable mapping ids ``(batch, seq)`` to logits ``(batch, seq, vocab)`` (a tensor, a
            tuple starting with it, or an output with ``.logits`` such as a Hugging Face model's).
        token_ids: the whole text's token ids, shape ``(n_tokens,)`` (or ``(1, n_tokens)``).
        window: tokens per forward pass (at most the model's context length).
        stride: how far the window moves; ``stride == window`` gives disjoint chunks.
        device: where to run the forward passes; default: the model's device.
        batch_size: how many full-length windows go through the model together.

    Returns:
        ``{"nll_sum", "n_tokens", "ppl", "n_windows"}``: the summed negative log-likelihood in nats over
        the ``n_tokens`` scored tokens (``len(token_ids) - 1`` when ``stride < window``), the number of
        forward windows, and ``ppl = exp(nll_sum / n_tokens)``.
    """
    ids = torch.as_tensor(token_ids)
    if ids.ndim == 2 and ids.shape[0] == 1:
        ids = ids[0]
    if ids.ndim != 1:
        raise ValueError(f"token_ids must have shape (n_tokens,) or (1, n_tokens), got {tuple(ids.shape)}")
    if ids.dtype.is_floating_point or ids.dtype == torch.bool:
        raise ValueError(f"token_ids must be integer ids, got dtype {ids.dtype}: tokenize the text first")
    for name, value in (("window", window), ("stride", stride), ("batch_size", batch_size)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if stride > window:
        raise ValueError(f"stride ({stride}) must not exceed window ({window}): tokens between windows would never be scored")
    if len(ids) < 2:
        raise ValueError(f"need at least 2 tokens to score one prediction, got {len(ids)}")
    device = torch.device(device) if device is not None else model_device(model)
    ids = ids.to(device=device, dtype=torch.long)

    spans = window_spans(len(ids), window, stride)
    nll_sum, n_scored = 0.0, 0
    for group in _same_length_groups(spans, batch_size):
        batch = torch.stack([ids[begin:end] for begin, end, _ in group])  # (batch, length)
        keep = min(first - 1 - begin for begin, _, first in group)  # earlier positions score nothing
        logprobs = next_token_logprobs(model, batch, keep)  # (batch, length - keep, vocab)
        rows, positions, targets = [], [], []
        for row, (begin, end, first) in enumerate(group):
            # Position p predicts token p + 1: targets first..end-1 are read at positions first-1..end-2.
            rows += [row] * (end - first)
            positions += range(first - 1 - begin - keep, end - 1 - begin - keep)
            targets.append(ids[first:end])
        logprob, _ = token_logprobs(logprobs, rows, positions, torch.cat(targets))
        nll_sum -= logprob.double().sum().item()
        n_scored += len(rows)
    return {"nll_sum": nll_sum, "n_tokens": n_scored, "ppl": math.exp(nll_sum / n_scored), "n_windows": len(spans)}


def _same_length_groups(spans: list[tuple[int, int, int]], batch_size: int) -> list[list[tuple[int, int, int]]]:
    """Consecutive windows of the same length (all but possibly the last), at most ``batch_size`` each."""
    groups: list[list[tuple[int, int, int]]] = []
    for span in spans:
        same_length = groups and span[1] - span[0] == groups[-1][0][1] - groups[-1][0][0]
        if same_length and len(groups[-1]) < batch_size:
            groups[-1].append(span)
        else:
            groups.append([span])
    return groups
