r"""Diversity of generated text: distinct-n, repetition rate and self-BLEU.

A decoder that always picks the likeliest token writes fluent but repetitive text; one that
samples from a flat distribution writes varied nonsense. These three numbers measure the
*diversity* side of that trade-off (a judge model's perplexity measures the other side):

* **distinct-n** (Li et al., 2016): the share of *distinct* n-grams among all n-grams of a set of
  texts, pooled over the set,

  .. math:: \text{distinct-}n = \frac{|\{\text{n-grams of all texts}\}|}
                                     {\#\,\text{n-grams of all texts}};

  1 means no n-gram occurs twice anywhere; low values mean the texts repeat themselves or each
  other.
* **repetition rate** (Welleck et al., 2020, "seq-rep-n"): within *one* text, the share of n-grams
  that repeat an n-gram seen before in the same text, :math:`1 - |\text{unique n-grams}| /
  \#\,\text{n-grams}`, averaged over the texts. It catches the loops of greedy decoding ("the
  little girl. The little girl. ..."), which distinct-n pools with the other texts.
* **self-BLEU** (Zhu et al., 2018, Texygen): the mean BLEU of each text against all the others as
  references. High when the texts resemble each other (low diversity *across* texts), whatever
  each one looks like inside.

A text is a ``str`` (split on whitespace: words) or a sequence of tokens (a list of ids or
strings, a NumPy array, a 1-D tensor), so the same functions score words or model tokens.
Self-BLEU takes strings only and tokenises them as BLEU does
(:func:`llmbook.metrics.sentence_bleu`, sacrebleu's 13a).
"""
from __future__ import annotations

import numbers
from typing import Any, Hashable, Sequence

from ._checks import check_strings
from .bleu import sentence_bleu

__all__ = ["ngrams", "distinct_n", "repetition_rate", "self_bleu"]


def _check_n(n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int (1 = single tokens, 2 = pairs, ...), got {n!r}")
    return n


def _tokens(text: Any, where: str) -> list[Hashable]:
    """One text as a list of tokens: a str split on whitespace, or a sequence of hashable tokens."""
    if isinstance(text, str):
        return text.split()
    if isinstance(text, bytes):
        raise ValueError(f"{where} is bytes: decode it to str first (text.decode('utf-8'))")
    if hasattr(text, "tolist") and callable(text.tolist):  # a NumPy array or a torch tensor
        if getattr(text, "ndim", 1) != 1:
            raise ValueError(f"{where} has shape {tuple(text.shape)}: a text is one-dimensional "
                             f"(one row of token ids); pass a batch as a list of rows (list(ids))")
        text = text.tolist()
    if not isinstance(text, (list, tuple)):
        raise ValueError(f"{where} is {type(text).__name__}: a text is a str or a list of tokens")
    for token in text:
        if isinstance(token, (list, tuple, dict, set)):
            raise ValueError(f"{where} holds a {type(token).__name__}, not a token: a text is a "
                             f"flat list of tokens (did you pass a list of texts as one text?)")
    return list(text)


def _texts(texts: Any, name: str = "texts") -> list[list[Hashable]]:
    """``texts`` (a list of texts) as lists of tokens, refusing a single text passed alone."""
    if isinstance(texts, (str, bytes)):
        raise ValueError(f"{name} must be a list of texts, got a single {type(texts).__name__}: "
                         f"wrap it in a list ([text])")
    if hasattr(texts, "tolist") and hasattr(texts, "ndim"):  # a NumPy array or a torch tensor
        if texts.ndim != 2:
            raise ValueError(f"{name} has shape {tuple(texts.shape)}: pass a (batch, seq) array "
                             f"(one text per row) or a list of texts; a single row of ids is one "
                             f"text: wrap it in a list ([ids])")
        texts = texts.tolist()
    try:
        items = list(texts)
    except TypeError:
        raise ValueError(f"{name} must be a list of texts (str or token lists), got "
                         f"{type(texts).__name__}") from None
    if not items:
        raise ValueError(f"{name} is empty: pass at least one text")
    if all(isinstance(t, numbers.Integral) and not isinstance(t, bool) for t in items):
        raise ValueError(f"{name} is a list of ints, i.e. one text of token ids: wrap it in a list "
                         f"([ids]) to score it as one text")
    return [_tokens(text, f"{name}[{i}]") for i, text in enumerate(items)]


def ngrams(tokens: Sequence[Hashable], n: int) -> list[tuple[Hashable, ...]]:
    """The ``len(tokens) - n + 1`` n-grams of ``tokens`` in order (none if the text is shorter)."""
    n = _check_n(n)
    return [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]


def distinct_n(texts: Any, n: int = 2) -> float:
    """Distinct-n of a set of texts: distinct n-grams / all n-grams, pooled over ``texts``.

    Args:
        texts: a list of texts, each a ``str`` (words, split on whitespace) or a sequence of
            tokens (ids or strings; a ``(batch, seq)`` array or tensor counts one text per row).
        n: the n-gram order (distinct-1: words, distinct-2: word pairs).

    Returns:
        A float in ``(0, 1]``.

    Raises:
        ValueError: ``texts`` is not a list of texts, or no text has ``n`` tokens (no n-gram).
    """
    n = _check_n(n)
    grams = [gram for tokens in _texts(texts) for gram in ngrams(tokens, n)]
    if not grams:
        raise ValueError(f"no text has {n} tokens, so there is no {n}-gram to count: generate "
                         f"longer texts or use a smaller n")
    return len(set(grams)) / len(grams)


def repetition_rate(texts: Any, n: int = 4) -> float:
    r"""Mean share of repeated n-grams within each text (Welleck et al.'s seq-rep-n).

    For one text with n-grams :math:`g_1 .. g_m`: :math:`1 - |\{g_1 .. g_m\}| / m`, the share of
    its n-grams that already occurred earlier in the same text (0: no repeat; near 1: a loop).
    The result is the mean over the texts that have at least one n-gram (a text shorter than
    ``n`` tokens has nothing to repeat and is left out of the mean).

    Args:
        texts: a list of texts (see :func:`distinct_n`).
        n: the n-gram order (Welleck et al. report n = 4).

    Raises:
        ValueError: ``texts`` is not a list of texts, or no text has ``n`` tokens.
    """
    n = _check_n(n)
    rates = []
    for tokens in _texts(texts):
        grams = ngrams(tokens, n)
        if grams:
            rates.append(1.0 - len(set(grams)) / len(grams))
    if not rates:
        raise ValueError(f"no text has {n} tokens, so no {n}-gram can repeat: generate longer "
                         f"texts or use a smaller n")
    return sum(rates) / len(rates)


def self_bleu(texts: Sequence[str], max_ngram_order: int = 4, tokenize: str = "13a") -> float:
    """Self-BLEU: the mean sentence BLEU (0-100) of each text against all the other texts.

    Each text is the hypothesis once, with the other ``len(texts) - 1`` texts as its references,
    scored by :func:`llmbook.metrics.sentence_bleu` (sacrebleu's sentence BLEU: exponential
    smoothing, effective order). High self-BLEU = the texts resemble each other = low diversity.

    Args:
        texts: at least two strings.
        max_ngram_order: the longest n-gram BLEU counts (4 is BLEU's standard).
        tokenize: BLEU's tokeniser (``"13a"``, ``"zh"``, ``"none"``, ...).

    Raises:
        ValueError: fewer than two texts, or an item that is not a str.
    """
    texts = check_strings(texts, "texts")
    if len(texts) < 2:
        raise ValueError(f"self-BLEU compares each text with the others, so it needs at least two "
                         f"texts, got {len(texts)}")
    scores = [sentence_bleu(text, texts[:i] + texts[i + 1:], tokenize=tokenize,
                            max_ngram_order=max_ngram_order).score
              for i, text in enumerate(texts)]
    return sum(scores) / len(scores)
