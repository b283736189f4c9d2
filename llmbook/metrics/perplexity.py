r"""Perplexity from per-token negative log-likelihoods, and its per-word and per-byte forms.

A language model assigns each token :math:`x_t` a probability :math:`p(x_t \mid x_{<t})`; its negative
log-likelihood (in nats) is :math:`\ell_t = -\ln p(x_t \mid x_{<t})`. Over :math:`N` tokens,

.. math:: \mathrm{PPL} = \exp\Big(\frac{1}{N}\sum_{t=1}^{N} \ell_t\Big),

the geometric-mean inverse probability: the model is as uncertain as a uniform choice among PPL
options. Token perplexities of models with different tokenizers cannot be compared, because :math:`N`
differs. Dividing the *same* total NLL by a tokenizer-free count fixes that:

.. math:: \mathrm{PPL}_{\text{word}} = \exp\Big(\frac{\sum_t \ell_t}{N_{\text{words}}}\Big), \quad
          \mathrm{PPL}_{\text{byte}} = \exp\Big(\frac{\sum_t \ell_t}{N_{\text{bytes}}}\Big), \quad
          \mathrm{BPB} = \frac{\sum_t \ell_t}{N_{\text{bytes}} \ln 2}

(words: whitespace-separated; bytes: UTF-8; BPB = bits per byte, lm-evaluation-harness's definitions).
"""
from __future__ import annotations

import math
import sys
from typing import Any

import numpy as np

__all__ = ["perplexity", "word_perplexity", "byte_perplexity", "bits_per_byte", "count_words", "count_bytes"]


def _nll_sum(nlls: Any) -> tuple[float, int]:
    """Sum and count of per-token NLLs (a sequence, NumPy array or CPU tensor of shape ``(n_tokens,)``)."""
    if hasattr(nlls, "detach"):  # a torch tensor: no torch import needed
        nlls = nlls.detach().cpu().numpy()
    array = np.asarray(nlls, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"nlls must be one-dimensional (one NLL per token), got shape {array.shape}: flatten it first")
    if array.size == 0:
        raise ValueError("nlls is empty: perplexity needs at least one scored token")
    if not np.all(np.isfinite(array)):
        raise ValueError("nlls contain NaN or infinity: a token got probability 0 (or the loss diverged)")
    if np.any(array < -1e-6):  # tolerance: -log p of p = 1 can round below 0
        raise ValueError("nlls must be non-negative (they are -log p with p <= 1): did you pass log-probabilities? negate them")
    return float(array.sum()), int(array.size)


def _positive_count(n: Any, name: str) -> int:
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
        raise ValueError(f"{name} must be a positive int, got {n!r}")
    return int(n)


def perplexity(nlls: Any, n_units: int | None = None) -> float:
    """``exp(sum(nlls) / n_units)``: per-token perplexity by default (``n_units = len(nlls)``); pass the
    number of words or bytes of the text for the per-word or per-byte forms (module docstring)."""
    total, n_tokens = _nll_sum(nlls)
    n = n_tokens if n_units is None else _positive_count(n_units, "n_units")
    # exp overflows a float past a mean NLL of about 709 nats: such a perplexity is infinite in floats
    return math.exp(total / n) if total / n < math.log(sys.float_info.max) else math.inf


def count_words(text: str) -> int:
    """Whitespace-separated words of ``text``."""
    if not isinstance(text, str):
        raise ValueError(f"text must be a str, got {type(text).__name__}")
    return len(text.split())


def count_bytes(text: str) -> int:
    """UTF-8 bytes of ``text``."""
    if not isinstance(text, str):
        raise ValueError(f"text must be a str, got {type(text).__name__}")
    return len(text.encode("utf-8"))


def word_perplexity(nlls: Any, text: str) -> float:
    """Perplexity per whitespace word of ``text`` (the text whose tokens ``nlls`` scores)."""
    return perplexity(nlls, _positive_count(count_words(text), "the number of words of text"))


def byte_perplexity(nlls: Any, text: str) -> float:
    """Perplexity per UTF-8 byte of ``text``."""
    return perplexity(nlls, _positive_count(count_bytes(text), "the number of bytes of text"))


def bits_per_byte(nlls: Any, text: str) -> float:
    """Bits per UTF-8 byte: ``sum(nlls) / (n_bytes * ln 2)`` = ``log2(byte_perplexity)``."""
    total, _ = _nll_sum(nlls)
    return total / (_positive_count(count_bytes(text), "the number of bytes of text") * math.log(2))
