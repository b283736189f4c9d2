"""n-gram contamination (llmbook.evaluate.contamination) against a brute-force reference.

The reference knows nothing of hashing or sets: it slides every window of ``n`` words of an item
over every position of every document and compares word lists.
"""
from __future__ import annotations

import random

import numpy as np
import pytest

from llmbook.evaluate.contamination import (item_texts, ngram_set, ngrams, overlap_table,
                                            overlapping, words)


def plain_words(text: str) -> list[str]:
    return "".join(c.lower() if c.isalnum() else " " for c in text).split()


def brute_force(item: str, documents: list[str], n: int) -> bool:
    item_words = plain_words(item)
    for document in documents:
        doc_words = plain_words(document)
        for i in range(len(item_words) - n + 1):
            for j in range(len(doc_words) - n + 1):
                if item_words[i:i + n] == doc_words[j:j + n]:
                    return True
    return False


def random_texts(rng: random.Random, count: int, length: int, vocabulary: list[str]) -> list[str]:
    punctuation = [" ", " ", " ", ", ", ". ", "! ", "  "]
    def word() -> str:
        chosen = rng.choice(vocabulary)
        return chosen.capitalize() if rng.random() < 0.2 else chosen

    return ["".join(word() + rng.choice(punctuation) for _ in range(length)) for _ in range(count)]


@pytest.mark.parametrize("n", [3, 4, 5, 8])
def test_flags_equal_brute_force(n):
    rng = random.Random(n)
    vocabulary = ["the", "cat", "sat", "on", "mat", "a", "dog", "ran", "in", "sun"] * 2 + [
        "red", "blue", "tree", "house", "river", "fish", "bird", "green"]  # few words: overlaps
    documents = random_texts(rng, 6, 40, vocabulary)
    items = random_texts(rng, 30, 12, vocabulary)
    items += [documents[2][5:80], "the cat", documents[0]]  # a copied span, a short item, a doc
    flags = overlapping(items, ngram_set(documents, n), n)
    expected = np.array([brute_force(item, documents, n) for item in items])
    np.testing.assert_array_equal(flags, expected)
    assert 0 < flags.sum() < len(items)  # the test can fail both ways


def test_ngrams_never_span_documents():
    item = ["end of one start of two"]
    assert not overlapping(item, ngram_set(["x end of one", "start of two y"], 6), 6).any()
    assert overlapping(item, ngram_set(["end of one start of two"], 6), 6).all()


def test_words_ignore_case_punctuation_and_scripts():
    assert words("Hello, World!  It's 2024.") == ["hello", "world", "it", "s", "2024"]
    assert words("答案：北京") == ["答案", "北京"]
    assert ngrams(["a", "b", "c"], 2) == [("a", "b"), ("b", "c")]
    assert ngrams(["a"], 2) == []


def test_table_shape_and_item_texts():
    items = [{"context": "Question: Where is the cat?\nAnswer:", "choices": ["on the mat", "away"],
              "label": 0}]
    assert item_texts(items) == ["Question: Where is the cat?\nAnswer: on the mat"]
    table = overlap_table({"b": item_texts(items)}, {"c1": "where is the cat", "c2": ["no"]}, n=4)
    assert table["b"]["c1"].tolist() == [True] and table["b"]["c2"].tolist() == [False]


@pytest.mark.parametrize("call, error, match", [
    (lambda: ngram_set("a b c", 0), ValueError, "positive int"),
    (lambda: overlapping("one item", set(), 3), TypeError, "list of texts"),
    (lambda: overlap_table({}, {"c": "x"}), ValueError, "at least one benchmark"),
    (lambda: words(3), TypeError, "must be a str"),
])
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()
