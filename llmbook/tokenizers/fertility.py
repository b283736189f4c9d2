"""Tokenizer fertility: how many tokens a tokenizer spends on a text, per character and per word.

A tokenizer trained mostly on English splits English words into one or two tokens and other
scripts into many (Rust et al., 2021): the same sentence costs more tokens, so a fixed context
holds less of it, generation is slower and an API billed per token charges more. *Fertility* is
the number of tokens per word (Rust et al.); tokens per character compares scripts without word
boundaries, such as Chinese. On parallel sentences the ratio of a language's token count to
English's (the *premium*, Petrov et al., 2023) says the same thing as one number.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

__all__ = ["Fertility", "fertility", "count_tokens"]


@dataclass(frozen=True)
class Fertility:
    """Counts over a list of texts, and their ratios."""

    tokens: int
    characters: int  # without whitespace
    words: int  # whitespace-separated
    unknown: int  # tokens that are the unknown token (information lost), when the id was given

    @property
    def tokens_per_character(self) -> float:
        return self.tokens / self.characters

    @property
    def tokens_per_word(self) -> float:
        """Rust et al.'s fertility; for a script written without spaces (Chinese) a "word" is a
        whole sentence here, so use :attr:`tokens_per_character` instead."""
        return self.tokens / self.words

    @property
    def unknown_rate(self) -> float:
        return self.unknown / self.tokens if self.tokens else 0.0


def count_tokens(tokenizer: Any, text: str) -> list[int]:
    """The ids of ``text`` without special tokens, for the book's tokenizers (``encode(text)``)
    and Hugging Face's (``tokenizer(text, add_special_tokens=False)``)."""
    if hasattr(tokenizer, "encode_ordinary"):
        # byte-level BPE: a "<|endoftext|>" inside a text is text here
        return list(tokenizer.encode_ordinary(text))
    if callable(tokenizer) and hasattr(tokenizer, "convert_ids_to_tokens"):  # transformers
        return list(tokenizer(text, add_special_tokens=False)["input_ids"])
    if hasattr(tokenizer, "encode"):
        return list(tokenizer.encode(text))
    raise TypeError(f"{type(tokenizer).__name__} is not a tokenizer: give an object with "
                    f"encode(text) -> ids or a transformers tokenizer")


def fertility(tokenizer: Any, texts: Sequence[str], unk_id: int | None = None,
              split_words: Callable[[str], list[str]] = str.split) -> Fertility:
    """Tokens, characters (whitespace excluded) and words of ``texts`` under ``tokenizer``.

    Args:
        tokenizer: one of the book's tokenizers or a transformers tokenizer (special tokens such as
            ``[CLS]`` are not counted).
        texts: the texts, e.g. one language's side of parallel sentences.
        unk_id: the id of the unknown token (WordPiece's ``[UNK]``), to count the tokens that lost
            the text; byte-level BPEs have none.
        split_words: how a text splits into words (default: at whitespace).
    """
    if isinstance(texts, str) or not isinstance(texts, Sequence) or not texts:
        raise TypeError("texts must be a non-empty list of strings (pass [text] for a single text)")
    tokens = characters = words = unknown = 0
    for text in texts:
        if not isinstance(text, str):
            raise TypeError(f"texts must hold strings, got {type(text).__name__}")
        ids = count_tokens(tokenizer, text)
        tokens += len(ids)
        unknown += sum(i == unk_id for i in ids) if unk_id is not None else 0
        characters += sum(not c.isspace() for c in text)
        words += len(split_words(text))
    if characters == 0:
        raise ValueError("the texts have no characters besides whitespace: nothing to measure")
    return Fertility(tokens, characters, words, unknown)
