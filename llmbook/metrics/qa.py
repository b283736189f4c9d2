r"""Extractive question answering: exact match and token F1 with SQuAD v1.1's answer normalisation
(Rajpurkar et al., 2016), following the official ``evaluate-v1.1.py`` script.

Both answers are normalised: lowercase, drop punctuation (``string.punctuation``), drop the articles
*a*, *an*, *the*, collapse whitespace. Then, for a prediction :math:`p` and gold answers :math:`G`:

.. math:: \mathrm{EM} = \max_{g \in G} [\,\mathrm{norm}(p) = \mathrm{norm}(g)\,], \qquad
          \mathrm{F1} = \max_{g \in G} \frac{2 P_g R_g}{P_g + R_g},

with :math:`P_g = m / |\mathrm{tokens}(p)|`, :math:`R_g = m / |\mathrm{tokens}(g)|` and :math:`m` the size
of the multiset intersection of the whitespace tokens (F1 = 0 when :math:`m = 0`). The corpus scores
are the means over questions, times 100.
"""
from __future__ import annotations

import re
import string
from collections import Counter
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ._checks import check_same_length, check_strings

__all__ = ["SquadScore", "normalize_answer", "squad_em_f1"]

_PUNCTUATION = set(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str) -> str:
    """SQuAD v1.1 normalisation: lowercase, remove punctuation, articles and extra whitespace.

    >>> normalize_answer("The  Norman-French!")
    'normanfrench'
    """
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def _token_f1(prediction: str, gold: str) -> float:
    pred_tokens, gold_tokens = normalize_answer(prediction).split(), normalize_answer(gold).split()
    common = Counter(pred_tokens) & Counter(gold_tokens)
    overlap = sum(common.values())
    if overlap == 0:
        return 0.0
    precision, recall = overlap / len(pred_tokens), overlap / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


@dataclass(frozen=True)
class SquadScore:
    """Corpus exact match and F1 (0-100) and the per-question values (0-1), e.g. for :func:`bootstrap_ci`."""

    exact_match: float
    f1: float
    exact_match_per_item: np.ndarray = field(repr=False)
    f1_per_item: np.ndarray = field(repr=False)


def squad_em_f1(predictions: Sequence[str], references: Sequence[Sequence[str]]) -> SquadScore:
    """Exact match and F1 of ``predictions[i]`` against the gold answers ``references[i]`` (a list of
    strings; the best gold answer counts). Formulas in the module docstring."""
    predictions = check_strings(predictions, "predictions")
    if isinstance(references, str):
        raise ValueError("references must be a list with a list of gold answers per question, got a str")
    references = list(references)
    check_same_length(predictions, references, "predictions", "references")
    em, f1 = np.zeros(len(predictions)), np.zeros(len(predictions))
    for i, (prediction, golds) in enumerate(zip(predictions, references)):
        if isinstance(golds, str):
            golds = [golds]
        if len(golds) == 0:
            raise ValueError(
                f"question {i} has no gold answer (an unanswerable SQuAD 2.0 question?): SQuAD v1.1 EM/F1 "
                f"needs at least one; leave out the items with is_impossible=True"
            )
        golds = check_strings(golds, f"references[{i}]")
        norm = normalize_answer(prediction)
        em[i] = max(float(norm == normalize_answer(g)) for g in golds)
        f1[i] = max(_token_f1(prediction, g) for g in golds)
    return SquadScore(100 * float(em.mean()), 100 * float(f1.mean()), em, f1)
