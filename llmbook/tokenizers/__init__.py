"""Tokenizers, from characters to the subword vocabularies of GPT-2 and BERT.

Every tokenizer encodes ``str -> list[int]`` and decodes ``list[int] -> str``:

* :class:`CharTokenizer`: one token per character of a training text;
* :class:`BPETokenizer`: byte-level BPE trained from scratch with :meth:`BPETokenizer.train`;
* :class:`GPT2Tokenizer`: GPT-2's byte-level BPE from OpenAI's ``encoder.json`` and ``vocab.bpe``;
* :class:`WordPieceTokenizer`: BERT's WordPiece from a ``vocab.txt``.

:class:`TrimmedVocabulary` renumbers the ids a corpus uses, for small models on small corpora.
"""
from __future__ import annotations

from .bpe import GPT2_SPLIT_PATTERN, BPETokenizer, ByteLevelBPE, merge_pair, pair_counts, pretokenize
from .char import CharTokenizer
from .fertility import Fertility, count_tokens, fertility
from .gpt2 import GPT2Tokenizer, bytes_to_unicode
from .trim import TrimmedVocabulary
from .wordpiece import WordPieceTokenizer, basic_tokenize

__all__ = [
    "CharTokenizer",
    "BPETokenizer",
    "ByteLevelBPE",
    "GPT2Tokenizer",
    "WordPieceTokenizer",
    "TrimmedVocabulary",
    "GPT2_SPLIT_PATTERN",
    "basic_tokenize",
    "bytes_to_unicode",
    "merge_pair",
    "pair_counts",
    "pretokenize",
    "Fertility",
    "fertility",
    "count_tokens",
]
