"""Diversity metrics (llmbook.metrics.diversity) against independent references: n-grams counted by
NLTK, self-BLEU by sacrebleu itself; hand-worked examples; properties; clear errors."""
from __future__ import annotations

import numpy as np
import pytest
import sacrebleu
import torch
from nltk.util import ngrams as nltk_ngrams

from llmbook.metrics.diversity import distinct_n, ngrams, repetition_rate, self_bleu

STORIES = [
    "Once upon a time, there was a little girl named Lily. She loved to play in the park.",
    "One day, a little dog named Max found a big red ball. Max was very happy.",
    "Lily and Max played with the ball all day. They were very happy. They were very happy.",
    "The sun was hot and the sky was blue. Tom wanted to swim in the lake with his mom.",
    "the little girl. the little girl. the little girl. the little girl.",
]


def reference_distinct(texts: list[str], n: int) -> float:
    grams = [g for text in texts for g in nltk_ngrams(text.split(), n)]
    return len(set(grams)) / len(grams)


def reference_repetition(texts: list[str], n: int) -> float:
    rates = []
    for text in texts:
        grams = list(nltk_ngrams(text.split(), n))
        if grams:
            rates.append(1 - len(set(grams)) / len(grams))
    return float(np.mean(rates))


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_distinct_n_and_repetition_equal_counts_with_nltk(n):
    assert distinct_n(STORIES, n) == pytest.approx(reference_distinct(STORIES, n), abs=1e-15)
    assert repetition_rate(STORIES, n) == pytest.approx(reference_repetition(STORIES, n), abs=1e-15)


def test_hand_worked_examples():
    assert ngrams(["a", "b", "c"], 2) == [("a", "b"), ("b", "c")]
    assert ngrams(["a"], 2) == []
    # "a b a b a b": bigrams ab ba ab ba ab -> 2 distinct of 5
    assert distinct_n(["a b a b a b"], 2) == pytest.approx(0.4)
    assert repetition_rate(["a b a b a b"], 2) == pytest.approx(0.6)
    # pooled over texts: "the cat" appears in both texts
    assert distinct_n(["the cat sat", "the cat ran"], 2) == pytest.approx(3 / 4)
    assert distinct_n(["the cat sat on the mat", "the dog sat"], 1) == pytest.approx(6 / 9)
    # within-text repetition ignores what other texts contain
    assert repetition_rate(["the cat sat", "the cat ran"], 2) == 0.0
    # a text shorter than n has no n-gram: it is left out of the mean, not counted as 0
    assert repetition_rate(["x y x y", "z"], 2) == pytest.approx(1 / 3)


def test_token_ids_arrays_and_tensors_count_like_words():
    words = [text.split() for text in STORIES]
    vocab = {w: i for i, w in enumerate(sorted({w for text in words for w in text}))}
    ids = [[vocab[w] for w in text] for text in words]
    for n in (1, 2, 4):
        expected = distinct_n(STORIES, n)
        assert distinct_n(ids, n) == expected
        assert distinct_n([torch.tensor(row) for row in ids], n) == expected
        assert distinct_n([np.array(row) for row in ids], n) == expected
        assert repetition_rate(ids, n) == repetition_rate(STORIES, n)
    batch = torch.tensor([[1, 2, 3, 1, 2, 3], [4, 4, 4, 4, 4, 4]])
    assert distinct_n(batch, 1) == distinct_n([[1, 2, 3, 1, 2, 3], [4] * 6], 1) == 4 / 12


def test_properties():
    for n in (1, 2, 3):
        value = distinct_n(STORIES, n)
        assert 0 < value <= 1
        # every n-gram twice as often, no new one: exactly half as distinct
        assert distinct_n(STORIES + STORIES, n) == pytest.approx(value / 2)
        # copies of a text do not repeat *within* a text
        assert repetition_rate(STORIES + STORIES, n) == pytest.approx(repetition_rate(STORIES, n))
    assert distinct_n(["a b c d e f"], 2) == 1.0 and repetition_rate(["a b c d e f"], 2) == 0.0
    loop = " ".join(["the little girl."] * 20)
    assert repetition_rate([loop], 4) > 0.9 > distinct_n([loop], 4) * 10


def test_self_bleu_is_the_mean_sacrebleu_sentence_bleu_against_the_others():
    expected = np.mean([sacrebleu.sentence_bleu(text, STORIES[:i] + STORIES[i + 1:]).score
                        for i, text in enumerate(STORIES)])
    assert self_bleu(STORIES) == pytest.approx(expected, abs=1e-9)
    assert self_bleu(["the cat sat on the mat"] * 3) == pytest.approx(100.0)
    assert self_bleu(STORIES) < self_bleu(STORIES[:3] + STORIES[:3])  # copies look alike


@pytest.mark.parametrize("bad, message", [
    ("one text alone", "single str: wrap it in a list"),
    ([], "empty"),
    ([1, 2, 3], "list of ints, i.e. one text"),
    (torch.tensor([1, 2, 3]), "single row of ids is one text"),
    ([["a", ["b"]]], "not a token"),
    ([b"bytes"], "decode it"),
    ([3.5], "a text is a str or a list of tokens"),
])
def test_bad_texts_are_refused_with_the_fix(bad, message):
    with pytest.raises(ValueError, match=message):
        distinct_n(bad, 2)
    with pytest.raises(ValueError, match=message):
        repetition_rate(bad, 2)


def test_bad_n_and_texts_too_short_are_refused():
    for bad_n in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="n must be a positive int"):
            distinct_n(STORIES, bad_n)
    with pytest.raises(ValueError, match="no text has 5 tokens"):
        distinct_n(["a b", "c d e f"], 5)
    with pytest.raises(ValueError, match="no text has 3 tokens"):
        repetition_rate(["a b"], 3)
    with pytest.raises(ValueError, match="at least two texts"):
        self_bleu(["only one"])
    with pytest.raises(ValueError, match="not a string"):
        self_bleu(["a text", 7])
