"""Character-level tokenization: one token per character, the vocabulary is the set of characters seen.

The simplest tokenizer there is (nanoGPT's ``shakespeare_char``): tiny vocabulary, no unknown words
in the training text, but the longest sequences, and a character never seen in training cannot be
encoded at all.
"""
from __future__ import annotations

from typing import Iterable

from ._ids import token_ids

__all__ = ["CharTokenizer"]


class CharTokenizer:
    """Map each distinct character of ``text`` to an id, in sorted order.

    >>> tok = CharTokenizer("hello")
    >>> tok.chars, tok.encode("hole")
    (['e', 'h', 'l', 'o'], [1, 3, 2, 0])
    """

    def __init__(self, text: str):
        if not isinstance(text, str):
            raise TypeError(f"CharTokenizer takes the training text as a str, got {type(text).__name__}")
        if not text:
            raise ValueError("empty training corpus: a CharTokenizer's vocabulary is the characters of a non-empty text")
        self.chars: list[str] = sorted(set(text))
        self.stoi: dict[str, int] = {c: i for i, c in enumerate(self.chars)}
        self.itos: dict[int, str] = dict(enumerate(self.chars))

    @property
    def vocab_size(self) -> int:
        """Number of distinct characters."""
        return len(self.chars)

    def __len__(self) -> int:
        return self.vocab_size

    def encode(self, text: str) -> list[int]:
        """One id per character: ``str -> list[int]`` of length ``(len(text),)``."""
        if not isinstance(text, str):
            raise TypeError(f"encode takes a str, got {type(text).__name__}: join a list of characters "
                            f"with ''.join(...) first")
        try:
            return [self.stoi[c] for c in text]
        except KeyError as exc:
            raise ValueError(
                f"character {exc.args[0]!r} is not in the vocabulary of {self.vocab_size} characters: a character "
                f"tokenizer can only encode characters of its training text (use a byte-level BPE for open text)"
            ) from None

    def decode(self, ids: Iterable[int]) -> str:
        """The text of ``ids``: ``list[int] -> str``."""
        try:
            return "".join(self.itos[i] for i in token_ids(ids))
        except KeyError as exc:
            raise ValueError(f"unknown token id {exc.args[0]}: ids run from 0 to {self.vocab_size - 1}") from None
