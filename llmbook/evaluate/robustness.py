"""Perturbations for robustness tests: typos and word order, seeded and reproducible.

A benchmark measures a model on clean, well-formed text; users type with typos and in unusual word
orders. Perturbing the *inputs* of a benchmark while keeping its labels shows how fast accuracy falls
as the text gets noisier (Belinkov & Bisk, 2018, for character noise; Sinha et al., 2021, for word
order). Both functions return a new string and never touch the original.
"""
from __future__ import annotations

import random
import string

__all__ = ["char_noise", "shuffle_words", "CHAR_EDITS"]

CHAR_EDITS = ("delete", "replace", "insert", "swap")


def _rng(seed: int | random.Random) -> random.Random:
    return seed if isinstance(seed, random.Random) else random.Random(seed)


def _check_rate(rate: float) -> float:
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0.0 <= rate <= 1.0:
        raise ValueError(f"rate must be a number between 0 and 1 (the share of characters or words perturbed), got {rate!r}")
    return float(rate)


def char_noise(text: str, rate: float, seed: int | random.Random = 0) -> str:
    """Typo noise: each letter is, with probability ``rate``, hit by one edit chosen uniformly from
    deleting it, replacing it by a random lowercase letter, inserting a random letter after it, or
    swapping it with the next character. Non-letters (spaces, digits, punctuation) are left alone, so
    word boundaries survive.

    >>> char_noise("keep bread fresh", 0.0)
    'keep bread fresh'
    """
    rate = _check_rate(rate)
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    rng = _rng(seed)
    chars = list(text)
    out: list[str] = []
    i = 0
    while i < len(chars):
        c = chars[i]
        if not c.isalpha() or rng.random() >= rate:
            out.append(c)
            i += 1
            continue
        edit = rng.choice(CHAR_EDITS)
        if edit == "delete":
            pass
        elif edit == "replace":
            out.append(rng.choice([x for x in string.ascii_lowercase if x != c.lower()]))
        elif edit == "insert":
            out += [c, rng.choice(string.ascii_lowercase)]
        elif i + 1 < len(chars):  # swap with the next character, which is then consumed too
            out += [chars[i + 1], c]
            i += 1
        else:  # the last character has nobody to swap with: delete it instead
            pass
        i += 1
    return "".join(out)


def shuffle_words(text: str, rate: float, seed: int | random.Random = 0) -> str:
    """Word-order noise: ``round(rate * n_words)`` randomly chosen words (whitespace-separated) trade
    places by a cyclic shift, so every chosen word moves (at least two when ``rate > 0``); the
    multiset of words is unchanged and whitespace becomes single spaces. ``rate=1`` moves every word.

    >>> sorted(shuffle_words("a b c d", 1.0).split())
    ['a', 'b', 'c', 'd']
    """
    rate = _check_rate(rate)
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    words = text.split()
    if rate == 0 or len(words) < 2:
        return text
    rng = _rng(seed)
    k = max(2, round(rate * len(words)))  # a positive rate moves at least two words
    chosen = sorted(rng.sample(range(len(words)), k))
    moved = list(words)
    for src, dst in zip(chosen, chosen[1:] + chosen[:1]):  # each chosen word moves to the next chosen slot
        moved[dst] = words[src]
    return " ".join(moved)
