"""Contamination: which benchmark items share long word sequences (n-grams) with a training corpus.

A model that saw a test item during training may answer it from memory, and its score then measures
recall, not skill. GPT-3's check (Brown et al., 2020, appendix C) flags an item as *dirty* when any
of its n-grams of words (13-grams, shorter for benchmarks of short items) also occurs anywhere in
the training data, then compares the score on the clean items with the score on all of them. Here:

* :func:`words` — lower-cased runs of letters and digits (punctuation, case and spacing ignored);
* :func:`ngram_set` — the set of a corpus's word n-grams (hashed: a corpus of a few million words
  fits in memory), built once per corpus and ``n``;
* :func:`overlapping` — for each benchmark item, whether one of its n-grams is in the set;
* :func:`overlap_table` — the share of items of each benchmark flagged against each corpus.

An item shorter than ``n`` words has no n-gram and is never flagged: lower ``n`` for benchmarks of
short items (GPT-3 used the 5th percentile of the items' lengths, at least 8). The check finds
verbatim reuse only; a paraphrased or translated item passes unseen.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

__all__ = ["words", "ngrams", "ngram_set", "overlapping", "overlap_table", "item_texts",
           "book_corpora", "squad_texts", "DEFAULT_N"]

DEFAULT_N = 13  # GPT-3's n-gram length
_WORD = re.compile(r"[^\W_]+")  # letters and digits of any script


def words(text: str) -> list[str]:
    """``text`` as lower-cased words: runs of letters and digits; everything else separates them."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    return _WORD.findall(text.lower())


def _check_n(n: int) -> None:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive int (GPT-3 used 13), got {n!r}")


def ngrams(tokens: Sequence[str], n: int) -> list[tuple[str, ...]]:
    """The ``len(tokens) - n + 1`` contiguous n-grams of ``tokens`` (none when it is shorter)."""
    _check_n(n)
    return [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]


def ngram_set(corpus: str | Iterable[str], n: int = DEFAULT_N) -> set[int]:
    """The hashed word n-grams of ``corpus``: a text, or an iterable of documents.

    n-grams never span two documents. Python hashes the n-gram tuples (64 bits: a false match is
    negligible), so the set is only valid in the process that built it.
    """
    _check_n(n)
    documents = [corpus] if isinstance(corpus, str) else corpus
    seen: set[int] = set()
    for document in documents:
        tokens = words(document)
        seen.update(hash(tuple(tokens[i:i + n])) for i in range(len(tokens) - n + 1))
    return seen


def overlapping(items: Sequence[str], corpus_ngrams: set[int], n: int = DEFAULT_N) -> np.ndarray:
    """``(n_items,)`` booleans: item ``i`` shares at least one word n-gram with the corpus.

    ``corpus_ngrams`` is :func:`ngram_set` of the corpus built with the same ``n``; an item is its
    text (e.g. a question and its right answer).
    """
    _check_n(n)
    if isinstance(items, str):
        raise TypeError("items must be a list of texts, not one str: wrap it in a list")
    flags = np.zeros(len(items), dtype=bool)
    for i, item in enumerate(items):
        tokens = words(item)
        flags[i] = any(hash(tuple(tokens[j:j + n])) in corpus_ngrams
                       for j in range(len(tokens) - n + 1))
    return flags


def overlap_table(benchmarks: Mapping[str, Sequence[str]],
                  corpora: Mapping[str, str | Iterable[str]],
                  n: int = DEFAULT_N) -> dict[str, dict[str, np.ndarray]]:
    """For each corpus and benchmark, the per-item flags of :func:`overlapping`.

    Returns ``{benchmark: {corpus: (n_items,) bool}}``; ``flags.mean()`` is the share of the
    benchmark's items that overlap the corpus, ``np.logical_or.reduce`` over corpora the items that
    overlap any of them. Each corpus's n-grams are built once.
    """
    if not benchmarks or not corpora:
        raise ValueError("pass at least one benchmark {name: [item text, ...]} and one corpus "
                         "{name: text or [document, ...]}")
    table: dict[str, dict[str, np.ndarray]] = {name: {} for name in benchmarks}
    for corpus_name, corpus in corpora.items():
        seen = ngram_set(corpus, n)
        for name, items in benchmarks.items():
            table[name][corpus_name] = overlapping(items, seen, n)
    return table


# ---------------------------------------------------------------- the book's benchmarks and corpora


def item_texts(items: Sequence[Mapping[str, object]]) -> list[str]:
    """The text of multiple-choice items (:mod:`llmbook.evaluate.tasks`) as a corpus would hold it:
    the context, then the right choice (an MMLU lettered context already lists every choice)."""
    return [f"{item['context']} {item['choices'][item['label']]}"  # type: ignore[index]
            for item in items]


def book_corpora() -> dict[str, list[str]]:
    """The training text of the book's models, as documents: ``{name: [document, ...]}``.

    TinyShakespeare (all of it, one document), WikiText-2 (the mirrored validation and test
    splits; its training split is not mirrored), the TinyStories sample (one story per document),
    Alpaca (instruction, input and output of each record, both splits) and SST-2's training
    sentences.
    """
    from .. import data

    stories = data.path("tinystories/tinystories_sample_2MiB.txt").read_text(encoding="utf-8")
    alpaca = data.load("alpaca", "train") + data.load("alpaca", "val")
    return {
        "tinyshakespeare": [data.load("tinyshakespeare", "all")],
        "wikitext2": [data.load("wikitext2", "val"), data.load("wikitext2", "test")],
        "tinystories": stories.split("<|endoftext|>"),
        "alpaca": [f"{r['instruction']}\n{r['input']}\n{r['output']}" for r in alpaca],
        "sst2": [row["sentence"] for row in data.load("sst2", "train")],
    }


def squad_texts(n: int | None = None, seed: int = 0) -> list[str]:
    """SQuAD validation questions after their Wikipedia paragraph (``n`` seeded; ``None``: all)."""
    from .. import data
    from .tasks import seeded_subset

    rows = seeded_subset(data.load("squad", "val"), n, seed)
    return [f"{row['context']} {row['question']}" for row in rows]
