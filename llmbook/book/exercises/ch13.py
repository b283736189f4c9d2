"""Checks for chapter 13, "Summarization and question answering with retrieval". Each checker
recomputes the answer with the package (llmbook.metrics, llmbook.models, llmbook.retrieval)."""
from __future__ import annotations

import torch

from ...metrics import paired_bootstrap, rouge
from ...models.extractive_qa import best_span
from ...retrieval import mrr, recall_at_k
from . import exercise, number

# 13.1: the candidate and reference whose ROUGE-1 F is asked.
CANDIDATE, REFERENCE = "the cat sat on the mat", "the cat lay on the red mat"

# 13.3: gold paragraphs and a retriever's rankings.
GOLD, RANKED = [4, 0, 7], [[4, 1, 2], [3, 0, 5], [1, 2, 3]]

# 13.4: per-article ROUGE-1 of two systems on the same articles.
SYSTEM_A, SYSTEM_B = [30, 25, 40, 20, 35], [28, 26, 33, 18, 30]


@exercise("13.1", hint="Count the overlap with multiplicities (a word counts as often as it "
                       "occurs in both): 'the' twice, 'cat', 'on', 'mat'. Precision divides by "
                       "the candidate's length, recall by the reference's; F is their harmonic "
                       "mean.")
def _rouge1(answer) -> bool:
    expected = rouge([CANDIDATE], [REFERENCE], ["rouge1"])["rouge1"].fmeasure
    return abs(number(answer) - expected) < 1e-6


def _span_cases() -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]]:
    generator = torch.Generator().manual_seed(13)
    cases = []
    for seq in (1, 2, 5, 9, 16, 16, 24):
        start, end = torch.randn(seq, generator=generator), torch.randn(seq, generator=generator)
        allowed = torch.rand(seq, generator=generator) < 0.7
        allowed[seq // 2] = True
        for max_len in (1, 3, 30):
            cases.append((start, end, allowed, max_len))
    return cases


@exercise("13.2", hint="Two loops: i over every position, j from i to i + max_len - 1 (and "
                       "inside the sequence); skip pairs where allowed[i] or allowed[j] is False; "
                       "keep the pair with the highest start[i] + end[j], replacing it only on a "
                       "strictly higher score (so ties keep the earliest).")
def _best_span(my_best_span) -> bool:
    for start, end, allowed, max_len in _span_cases():
        got = my_best_span(start.clone(), end.clone(), allowed.clone(), max_len)
        if tuple(int(x) for x in got) != best_span(start, end, allowed, max_len)[:2]:
            return False
    return True


@exercise("13.3", hint="recall@k: the share of questions with the gold paragraph among the "
                       "first k. MRR: the mean of 1 / (the gold paragraph's rank), 0 when it is "
                       "not retrieved at all.")
def _retrieval_scores(answer) -> bool:
    r1, r3, reciprocal = (number(a) for a in answer)
    expected = (recall_at_k(RANKED, GOLD, 1), recall_at_k(RANKED, GOLD, 3), mrr(RANKED, GOLD))
    return all(abs(x - y) < 1e-6 for x, y in zip((r1, r3, reciprocal), expected))


@exercise("13.4", hint="metrics.paired_bootstrap(a, b, n_resamples=1000, seed=0) returns a "
                       "result whose win_rate_a is the share of resamples where a's mean is "
                       "strictly higher.")
def _win_rate(answer) -> bool:
    expected = paired_bootstrap(SYSTEM_A, SYSTEM_B, n_resamples=1000, seed=0).win_rate_a
    return abs(number(answer) - expected) < 1e-9
