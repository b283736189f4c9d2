"""Logits processors: what decoding does to the next-token logits before a token is picked.

:func:`process_logits` applies, in Hugging Face's order (``GenerationMixin._get_logits_processor``):

1. **repetition penalty** (Keskar et al., CTRL): every token already in the sequence has its logit
   divided by the penalty when positive, multiplied by it when negative, so it becomes less likely
   whatever its sign;
2. **temperature**: logits divided by ``T`` (``T < 1`` sharpens the distribution, ``T > 1``
   flattens it);
3. **top-k**: only the ``k`` largest logits stay (ties with the k-th stay too);
4. **top-p** (nucleus, Holtzman et al.): only the smallest set of most likely tokens whose
   probability reaches ``p`` stays.

A removed token gets the logit ``-inf`` (probability 0 after the softmax). Each step computes what
Hugging Face's processor computes (``RepetitionPenaltyLogitsProcessor``,
``TemperatureLogitsWarper``, ``TopKLogitsWarper``, ``TopPLogitsWarper``) with the same operations
in the same order, so the results are equal bit for bit, not only close.

:func:`sample_logits` picks one token from processed logits; every language model of the package
(``GPT``, ``MLPLM``, ``RNNLM``) decodes with it.
"""
from __future__ import annotations

import math
import numbers

import torch

__all__ = ["process_logits", "sample_logits", "check_sampling_options"]

FILTERED = float("-inf")  # the logit of a token that top-k or top-p removed: probability exactly 0


def _is_real(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_sampling_options(top_k: int | None = None, top_p: float | None = None,
                           repetition_penalty: float = 1.0) -> None:
    """Refuse a ``top_k`` that is not a positive int, a ``top_p`` outside ``(0, 1]`` and a
    ``repetition_penalty`` that is not a finite number > 0, naming the fix."""
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
        raise ValueError(f"top_k must be a positive int or None, got {top_k!r}: it is how many of "
                         f"the most likely tokens stay candidates (None keeps them all)")
    if top_p is not None and not (_is_real(top_p) and 0.0 < top_p <= 1.0):
        raise ValueError(f"top_p must be in (0, 1] or None, got {top_p!r}: it is the probability "
                         f"mass the kept tokens must reach (1.0 or None keeps them all)")
    if not (_is_real(repetition_penalty) and 0.0 < repetition_penalty < math.inf):
        raise ValueError(f"repetition_penalty must be a finite number > 0, got "
                         f"{repetition_penalty!r} (1.0 = no penalty; a little above 1, e.g. 1.2, "
                         f"discourages repeats)")


def check_temperature(temperature: float) -> None:
    """Refuse a sampling temperature that is not a finite number > 0, naming the fix."""
    if not (_is_real(temperature) and 0.0 < temperature < math.inf):  # NaN fails 0 < NaN
        raise ValueError(f"temperature must be a finite number > 0 when sampling, got "
                         f"{temperature!r}; for greedy decoding pass do_sample=False instead of "
                         f"temperature=0")


def penalize_repetitions(logits: torch.Tensor, input_ids: torch.Tensor, penalty: float,
                         attention_mask: torch.Tensor | None = None) -> torch.Tensor:
    """The logits ``(batch, vocab)`` with every token of ``input_ids`` ``(batch, seq)`` penalised
    (``logit / penalty`` if positive, ``logit * penalty`` if not). Positions where
    ``attention_mask`` is 0 (left padding) are not counted, as Hugging Face skips a prompt's
    leading padding."""
    vocab = logits.size(-1)
    ids = input_ids.clamp(max=vocab)  # an id the output layer cannot produce needs no penalty
    if attention_mask is not None:
        ids = ids.masked_fill(attention_mask == 0, vocab)
    # one extra column collects the ids to ignore, then is dropped
    seen = torch.zeros(logits.size(0), vocab + 1, dtype=torch.bool, device=logits.device)
    seen.scatter_(1, ids, True)
    penalised = torch.where(logits < 0, logits * penalty, logits / penalty)
    return torch.where(seen[:, :vocab], penalised, logits)


def top_k_filter(logits: torch.Tensor, top_k: int) -> torch.Tensor:
    """Keep the ``top_k`` largest logits of each row (and any tied with the k-th); the rest get
    -inf."""
    k = min(top_k, logits.size(-1))
    kth_largest = torch.topk(logits, k).values[..., -1:]
    return logits.masked_fill(logits < kth_largest, FILTERED)


def top_p_filter(logits: torch.Tensor, top_p: float, min_tokens_to_keep: int = 1) -> torch.Tensor:
    """Keep the smallest set of most likely tokens whose probability reaches ``top_p``; the rest
    get -inf.

    Sorted from least to most likely, a token goes when the mass of itself and every less likely
    token is at most ``1 - top_p`` (then the tokens above it already hold ``top_p``). The most
    likely ``min_tokens_to_keep`` tokens always stay.
    """
    ascending, order = torch.sort(logits, descending=False)
    mass_up_to_here = ascending.softmax(dim=-1).cumsum(dim=-1)
    drop_sorted = mass_up_to_here <= (1 - top_p)
    drop_sorted[..., -min_tokens_to_keep:] = False
    drop = drop_sorted.scatter(1, order, drop_sorted)  # back to vocabulary order
    return logits.masked_fill(drop, FILTERED)


def process_logits(
    logits: torch.Tensor,
    input_ids: torch.Tensor | None = None,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    repetition_penalty: float = 1.0,
    attention_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """The next-token logits ``(batch, vocab)`` after the processors, in Hugging Face's order.

    Args:
        logits: ``(batch, vocab)`` scores of the next token (logits; log-probabilities in beam
            search).
        input_ids: ``(batch, seq)`` the tokens so far (prompt and generated); only the repetition
            penalty reads them, so they may be ``None`` when it is 1.
        temperature: divides the logits; 1.0 leaves them.
        top_k: keep the ``top_k`` most likely tokens; ``None`` keeps all.
        top_p: keep the smallest most-likely set with probability ``>= top_p``; ``None`` or 1.0
            keeps all.
        repetition_penalty: > 1 discourages tokens of ``input_ids``; 1.0 does nothing.
        attention_mask: ``(batch, seq)``, 0 at left padding, which the repetition penalty skips.

    Returns:
        A new ``(batch, vocab)`` tensor (the input is not modified); removed tokens hold ``-inf``.
        Steps left at their neutral value are skipped, as Hugging Face leaves their processors out.
    """
    if not isinstance(logits, torch.Tensor) or logits.dim() != 2 or not logits.is_floating_point():
        raise ValueError(f"logits must be a floating-point (batch, vocab) tensor, got "
                         f"{tuple(getattr(logits, 'shape', ()))} "
                         f"{getattr(logits, 'dtype', type(logits))}; for a model's (batch, seq, "
                         f"vocab) output take the last position, logits[:, -1]")
    check_sampling_options(top_k, top_p, repetition_penalty)
    if temperature != 1.0:
        check_temperature(temperature)
    if repetition_penalty != 1.0:
        if not (isinstance(input_ids, torch.Tensor) and input_ids.dim() == 2
                and input_ids.size(0) == logits.size(0)):
            raise ValueError(f"the repetition penalty needs input_ids, a (batch, seq) tensor with "
                             f"the {logits.size(0)} rows of logits; got "
                             f"{tuple(getattr(input_ids, 'shape', ()))}")
        logits = penalize_repetitions(logits, input_ids, repetition_penalty, attention_mask)
    if temperature != 1.0:
        logits = logits / temperature
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    if top_p is not None and top_p < 1.0:
        logits = top_p_filter(logits, top_p)
    return logits


def sample_logits(
    logits: torch.Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Pick the next token from ``logits`` ``(batch, vocab)``; returns ``(batch, 1)`` token ids.

    ``temperature=0`` is greedy decoding (argmax). Otherwise the logits are divided by the
    temperature, restricted to the ``top_k`` most likely tokens and/or to the smallest set whose
    probability reaches ``top_p`` (nucleus sampling) by :func:`process_logits`, and one token is
    drawn from the renormalised distribution (with ``generator``, or the global RNG when ``None``).
    """
    if not (_is_real(temperature) and 0 <= temperature < math.inf):  # NaN fails 0 <= NaN
        raise ValueError(f"temperature must be a finite number >= 0 (0 = greedy), got "
                         f"{temperature!r}")
    check_sampling_options(top_k, top_p)
    if temperature == 0:
        return logits.argmax(dim=-1, keepdim=True)
    logits = process_logits(logits.float(), temperature=temperature, top_k=top_k, top_p=top_p)
    return torch.multinomial(logits.softmax(dim=-1), num_samples=1, generator=generator)
