"""Checks for chapter 11, "Evaluation you can trust". Each checker runs the learner's code or
recomputes the answer with the package (llmbook.evaluate.contamination, llmbook.evaluate.judges)."""
from __future__ import annotations

import math
import random

import numpy as np

from . import exercise, number

# 11.2: a judge's margins log p(A) - log p(B) on three pairs; column 0: the human-preferred reply
# shown as A, column 1: shown as B.
JUDGE_MARGINS = [[2.0, 1.5], [0.5, 1.0], [-0.2, -1.0]]

# 11.3: a benchmark subset of this many items, and the accuracy measured on it.
SUBSET_ITEMS, SUBSET_ACCURACY = 12, 0.5


def _overlap_cases() -> list[tuple[str, str, int]]:
    """(item, document, n) cases: copied spans, shuffled words, case and punctuation changes."""
    rng = random.Random(11)
    vocabulary = "the a cat dog sat ran on in mat sun red tree river fish".split()
    cases = []
    for n in (2, 3, 5, 8):
        for _ in range(12):
            document = " ".join(rng.choice(vocabulary) for _ in range(30))
            item = " ".join(rng.choice(vocabulary) for _ in range(10))
            if rng.random() < 0.4:  # copy a span of the document, changing case and punctuation
                start = rng.randrange(0, 20)
                item = document.split()[start:start + 10]
                item = ", ".join(item).upper()
            cases.append((item, document, n))
    return cases


@exercise("11.1", hint="Lower-case both texts and keep runs of letters and digits "
                       "(re.findall(r'[^\\W_]+', text.lower())); build the set of the document's "
                       "tuples of n consecutive words and test each of the item's.")
def _shares_an_ngram(answer) -> bool:
    from ...evaluate.contamination import ngram_set, overlapping

    if not callable(answer):
        return False
    def reference(item: str, document: str, n: int) -> bool:
        return bool(overlapping([item], ngram_set(document, n), n)[0])

    return all(bool(answer(item, document, n)) == reference(item, document, n)
               for item, document, n in _overlap_cases())


@exercise("11.2", hint="A verdict is 'A' when the margin is > 0. Agreement: the chosen reply is "
                       "picked when column 0 says A and when column 1 says B (6 verdicts). Says-A: "
                       "the share of the 6 verdicts that are A. Swap-averaged: the sign of "
                       "column 0 minus column 1, per pair.")
def _judge_figures(answer) -> bool:
    margins = np.array(JUDGE_MARGINS)
    says_a = margins > 0
    agreement = np.concatenate([says_a[:, 0], ~says_a[:, 1]]).mean()
    expected = (agreement, says_a.mean(), (margins[:, 0] - margins[:, 1] > 0).mean())
    try:
        return len(answer) == 3 and all(abs(number(a) - e) < 1e-3 for a, e in zip(answer, expected))
    except (TypeError, ValueError):
        return False


@exercise("11.3", hint="The standard error of a proportion p on n items is sqrt(p (1 - p) / n); "
                       "the 95 % half-width is 1.96 times it.")
def _half_width(answer) -> bool:
    expected = 1.96 * math.sqrt(SUBSET_ACCURACY * (1 - SUBSET_ACCURACY) / SUBSET_ITEMS)
    return abs(number(answer) - expected) < 2e-3
