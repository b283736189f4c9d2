"""Checks for chapter 6, "Metrics". Each checker recomputes the answer with llmbook.metrics."""
from __future__ import annotations

import math
from collections import Counter

import numpy as np

from ... import data, metrics
from . import exercise


def _close(answer, expected: float, tol: float = 1e-6) -> bool:
    return abs(float(answer) - expected) <= tol * max(1.0, abs(expected))


@exercise("06.1", hint="The total NLL is 1200 * ln(20) nats; divide it by the number of words instead of tokens and exponentiate: 20 ** (1200 / 1000).")
def _word_perplexity(answer) -> bool:
    return _close(answer, metrics.perplexity([math.log(20)] * 1200, n_units=1000))


@exercise("06.2", hint="metrics.corpus_bleu(german_sentences, [english_sentences]).score with data.load('multi30k', 'test'): hypotheses are the 'de' fields, the one reference stream the 'en' fields.")
def _copy_source_bleu(answer) -> bool:
    rows = data.load("multi30k", "test")
    return _close(answer, metrics.corpus_bleu([r["de"] for r in rows], [[r["en"] for r in rows]]).score, 1e-9)


@exercise("06.3", hint="Keep the rows of data.load('squad', 'val') with is_impossible False; predict ' '.join(context.split()[:3]); metrics.squad_em_f1(predictions, [row['answers'] ...]) gives .exact_match and .f1.")
def _lazy_squad(answer) -> bool:
    rows = [r for r in data.load("squad", "val") if not r["is_impossible"]]
    score = metrics.squad_em_f1([" ".join(r["context"].split()[:3]) for r in rows], [r["answers"] for r in rows])
    em, f1 = answer
    return _close(em, score.exact_match, 1e-9) and _close(f1, score.f1, 1e-9)


@exercise("06.4", hint="correct = (y_val == majority_label) as floats, with the majority label counted on SST-2 train; then metrics.bootstrap_ci(correct, n_resamples=1000, confidence=0.95, seed=0) and its .low, .high.")
def _majority_ci(answer) -> bool:
    majority = Counter(r["label"] for r in data.load("sst2", "train")).most_common(1)[0][0]
    correct = np.array([r["label"] == majority for r in data.load("sst2", "val")], dtype=float)
    ci = metrics.bootstrap_ci(correct, n_resamples=1000, confidence=0.95, seed=0)
    low, high = answer
    return _close(low, ci.low, 1e-9) and _close(high, ci.high, 1e-9)
