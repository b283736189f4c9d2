r"""chrF (Popović, 2015) and chrF++ (Popović, 2017), exactly as sacrebleu computes them.

chrF is an F-score over *character* n-grams, so it gives partial credit for a right stem with a wrong
ending, and needs no tokenizer. For each order :math:`n = 1..N_c` of character n-grams (whitespace
removed) — and, for chrF++, each order :math:`n = 1..N_w` of word n-grams — the corpus precision and
recall are

.. math:: P_n = \frac{\sum_s m_{s,n}}{\sum_s h_{s,n}}, \qquad R_n = \frac{\sum_s m_{s,n}}{\sum_s r_{s,n}},

with :math:`m` the clipped matches, :math:`h` the hypothesis and :math:`r` the reference n-gram counts.
They are averaged over the orders that have both hypothesis and reference n-grams (the *effective*
order), :math:`P = \frac{1}{N}\sum_n P_n`, :math:`R = \frac{1}{N}\sum_n R_n`, and combined with

.. math:: \mathrm{chrF}_\beta = 100 \cdot \frac{(1 + \beta^2)\, P R}{\beta^2 P + R}, \qquad \beta = 2

(recall weighs :math:`\beta` times as much as precision). Defaults: :math:`N_c = 6`, :math:`N_w = 0`;
chrF++ is ``word_order=2``. With several references, each segment uses the reference that gives it the
best sentence-level chrF.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ._checks import check_reference_streams, check_strings

__all__ = ["CHRFScore", "corpus_chrf", "sentence_chrf", "chrf_statistics", "chrf_from_statistics"]

_PUNCTUATION = set("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")


@dataclass(frozen=True)
class CHRFScore:
    """A chrF score on a 0-100 scale; ``name`` is ``chrF2`` or ``chrF2++``."""

    score: float
    char_order: int
    word_order: int
    beta: int

    @property
    def name(self) -> str:
        return f"chrF{self.beta}" + "+" * self.word_order

    def __str__(self) -> str:
        return f"{self.name} = {self.score:.2f}"


def _split_punctuation(sentence: str) -> list[str]:
    """Words for chrF++'s word n-grams: one punctuation mark at a word's end (else start) is split off."""
    words = []
    for w in sentence.split():
        if len(w) == 1:
            words.append(w)
        elif w[-1] in _PUNCTUATION:
            words += [w[:-1], w[-1]]
        elif w[0] in _PUNCTUATION:
            words += [w[0], w[1:]]
        else:
            words.append(w)
    return words


def _all_ngrams(sentence: str, char_order: int, word_order: int, whitespace: bool) -> list[Counter]:
    """Character n-gram counts of orders 1..char_order, then word n-gram counts of orders 1..word_order."""
    chars = sentence if whitespace else "".join(sentence.split())
    counters = [Counter([chars[i : i + n] for i in range(len(chars) - n + 1)]) for n in range(1, char_order + 1)]
    if word_order > 0:
        words = _split_punctuation(sentence)
        for n in range(1, word_order + 1):
            counters.append(Counter([" ".join(words[i : i + n]) for i in range(len(words) - n + 1)]))
    return counters


def chrf_from_statistics(statistics: Sequence[float], beta: int = 2, eps_smoothing: bool = False) -> float:
    """chrF (0-100) from summed statistics ``[h_1, r_1, m_1, h_2, r_2, m_2, ...]`` (one triple per order).

    ``eps_smoothing=True`` averages per-order F-scores with a tiny epsilon for empty orders instead
    (the chrF++.py / NLTK / Moses variant); the default is sacrebleu's effective-order average.
    """
    eps = 1e-16
    factor = beta**2
    n_orders = len(statistics) // 3
    score, effective_order, avg_prec, avg_rec = 0.0, 0, 0.0, 0.0
    for i in range(n_orders):
        n_hyp, n_ref, n_match = statistics[3 * i : 3 * i + 3]
        prec = n_match / n_hyp if n_hyp > 0 else eps
        rec = n_match / n_ref if n_ref > 0 else eps
        denom = factor * prec + rec
        score += ((1 + factor) * prec * rec / denom) if denom > 0 else eps
        if n_hyp > 0 and n_ref > 0:
            avg_prec += prec
            avg_rec += rec
            effective_order += 1
    if eps_smoothing:
        return 100 * score / n_orders
    if effective_order == 0:
        return 0.0
    avg_prec /= effective_order
    avg_rec /= effective_order
    if avg_prec + avg_rec == 0:
        return 0.0
    return 100 * ((1 + factor) * avg_prec * avg_rec) / ((factor * avg_prec) + avg_rec)


def _check_orders(char_order: int, word_order: int, beta: int) -> None:
    for name, value, low in (("char_order", char_order, 0), ("word_order", word_order, 0), ("beta", beta, 0)):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ValueError(f"{name} must be a non-negative int, got {value!r}")
    if char_order + word_order == 0:
        raise ValueError("char_order + word_order must be at least 1 (chrF uses char_order=6, chrF++ adds word_order=2)")


def chrf_statistics(
    hypotheses: Sequence[str],
    references: Sequence[Sequence[str | None]],
    char_order: int = 6,
    word_order: int = 0,
    beta: int = 2,
    remove_whitespace: bool = True,
    eps_smoothing: bool = False,
    lowercase: bool = False,
) -> np.ndarray:
    """Per-segment statistics, shape ``(n_segments, 3 * (char_order + word_order))``: for each order
    ``[hypothesis n-grams, reference n-grams, matches]`` against the segment's best reference.
    (A hypothesis order counts 0 n-grams when the reference has none of that order, as in sacrebleu.)"""
    _check_orders(char_order, word_order, beta)
    hypotheses = check_strings(hypotheses, "hypotheses")
    streams = check_reference_streams(references, len(hypotheses))
    whitespace = not remove_whitespace
    stats = np.zeros((len(hypotheses), 3 * (char_order + word_order)), dtype=np.int64)
    for s, hypothesis in enumerate(hypotheses):
        if lowercase:
            hypothesis = hypothesis.lower()
        hyp_ngrams = _all_ngrams(hypothesis, char_order, word_order, whitespace)
        best, best_f = None, -1.0
        for stream in streams:
            reference = stream[s]
            if reference is None:
                continue
            if lowercase:
                reference = reference.lower()
            row = []
            for hyp, ref in zip(hyp_ngrams, _all_ngrams(reference, char_order, word_order, whitespace)):
                matches = sum(min(count, ref[gram]) for gram, count in hyp.items() if gram in ref)
                row += [sum(hyp.values()) if ref else 0, sum(ref.values()), matches]
            f = chrf_from_statistics(row, beta, eps_smoothing)
            if f > best_f:  # first reference wins ties
                best, best_f = row, f
        stats[s] = best
    return stats


def corpus_chrf(
    hypotheses: Sequence[str],
    references: Sequence[Sequence[str | None]],
    char_order: int = 6,
    word_order: int = 0,
    beta: int = 2,
    remove_whitespace: bool = True,
    eps_smoothing: bool = False,
    lowercase: bool = False,
) -> CHRFScore:
    """Corpus chrF (``word_order=2``: chrF++) with sacrebleu's argument conventions: ``references`` is a
    list of reference streams, ``references[k][i]`` the k-th reference of ``hypotheses[i]``.
    Statistics are summed over segments before the F-score (see the module docstring)."""
    stats = chrf_statistics(
        hypotheses, references, char_order, word_order, beta, remove_whitespace, eps_smoothing, lowercase
    )
    score = chrf_from_statistics([int(x) for x in stats.sum(axis=0)], beta, eps_smoothing)
    return CHRFScore(score, char_order, word_order, beta)


def sentence_chrf(
    hypothesis: str,
    references: Sequence[str],
    char_order: int = 6,
    word_order: int = 0,
    beta: int = 2,
    remove_whitespace: bool = True,
    eps_smoothing: bool = False,
    lowercase: bool = False,
) -> CHRFScore:
    """chrF of one ``hypothesis`` against a list of ``references`` (strings)."""
    if not isinstance(hypothesis, str):
        raise ValueError(f"hypothesis must be a str, got {type(hypothesis).__name__}: for a list use corpus_chrf")
    references = check_strings(references, "references")
    return corpus_chrf(
        [hypothesis], [[r] for r in references], char_order, word_order, beta, remove_whitespace, eps_smoothing, lowercase
    )
