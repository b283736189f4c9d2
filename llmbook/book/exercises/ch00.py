"""Checks for chapter 0, "How to use this book"."""
from __future__ import annotations

from collections import Counter

from ... import data
from . import exercise, integer


@exercise("00.1", hint="len(set(text)) counts the distinct characters of the whole corpus: load it with llmbook.data.load('tinyshakespeare', 'all').")
def _vocabulary_size(answer) -> bool:
    return integer(answer) == len(set(data.load("tinyshakespeare", "all")))


@exercise("00.2", hint="Split the training text on whitespace with str.split() and take Counter(...).most_common(1)[0][0].")
def _most_common_word(answer) -> bool:
    return answer == Counter(data.load("tinyshakespeare", "train").split()).most_common(1)[0][0]


@exercise("00.3", hint="The share of characters that are newlines: text.count('\\n') / len(text), on the 'all' split.")
def _newline_share(answer) -> bool:
    text = data.load("tinyshakespeare", "all")
    return abs(float(answer) - text.count("\n") / len(text)) < 1e-9
