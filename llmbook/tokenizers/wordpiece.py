"""WordPiece, BERT's tokenizer: basic tokenization, then greedy longest-match subwords marked with ``##``.

WordPiece (Schuster & Nakajima, 2012; Wu et al., 2016) is the subword vocabulary of BERT (Devlin et al.,
2019). Given a vocabulary, tokenization has two stages, reproduced here as Hugging Face's
``BertTokenizerFast`` does them (its ``BertNormalizer``, ``BertPreTokenizer`` and ``WordPiece`` model):

1. *Basic tokenization* (:func:`basic_tokenize`): drop control characters and map every whitespace to a
   space; put spaces around CJK ideographs (so each becomes a word); strip accents (Unicode NFD, then
   drop the non-spacing marks) and lowercase; split on whitespace and isolate each punctuation mark.
2. *WordPiece* (:meth:`WordPieceTokenizer.wordpiece`): cut each word greedily into the longest prefix
   in the vocabulary, then the longest continuation ``##...`` and so on. A word that cannot be covered
   this way, or that is longer than 100 characters, becomes the single token ``[UNK]``.

Character classes (control, punctuation, accents) come from Python's :mod:`unicodedata`. Hugging Face's
Rust tables are older, so the two disagree on about 500 of the 1.1 M code points (characters added or
reclassified by recent Unicode versions); on real text, e.g. every SST-2 sentence, they agree exactly.
"""
from __future__ import annotations

import unicodedata
from pathlib import Path
from typing import Iterable

import regex

from ._ids import token_ids

__all__ = ["WordPieceTokenizer", "basic_tokenize", "BERT_SPECIAL_TOKENS"]

BERT_SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
MAX_INPUT_CHARS_PER_WORD = 100

# Unicode White_Space characters that survive the removal of control characters (Rust's char::is_whitespace).
_WHITESPACE = frozenset("\t\n\r \u00a0\u1680\u2028\u2029\u202f\u205f\u3000" + "".join(map(chr, range(0x2000, 0x200B))))
# CJK ideograph blocks, as in BERT and Hugging Face tokenizers' BertNormalizer.
_CJK_RANGES = (
    (0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F), (0x2B920, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F),
)  # fmt: skip


def _is_control(c: str) -> bool:
    # Control (Cc), format (Cf) and private-use (Co) characters, except the tab and newlines.
    return c not in "\t\n\r" and unicodedata.category(c) in ("Cc", "Cf", "Co")


def _is_cjk(c: str) -> bool:
    cp = ord(c)
    return any(lo <= cp <= hi for lo, hi in _CJK_RANGES)


def _is_punctuation(c: str) -> bool:
    # ASCII punctuation (which includes symbols such as $ + < = > ^ ` | ~) or any Unicode P* character.
    return (c.isascii() and not c.isalnum() and 33 <= ord(c) <= 126) or unicodedata.category(c).startswith("P")


def normalize(text: str, lowercase: bool = True) -> str:
    """BERT's normalizer: clean control characters and whitespace, space out CJK ideographs, and (uncased
    models) strip accents and lowercase, in that order."""
    out = []
    for c in text:
        if c == "\0" or c == "\ufffd" or _is_control(c):
            continue
        if c in _WHITESPACE:
            out.append(" ")
        elif _is_cjk(c):
            out.append(f" {c} ")
        else:
            out.append(c)
    text = "".join(out)
    if lowercase:
        text = "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")
        text = "".join(c.lower() for c in text)  # character by character, as Rust's to_lowercase
    return text


def basic_tokenize(text: str, lowercase: bool = True) -> list[str]:
    """BERT's basic tokenization: :func:`normalize`, split on whitespace, then isolate punctuation.

    >>> basic_tokenize("Héllo, World! 你好")
    ['hello', ',', 'world', '!', '你', '好']
    """
    words = []
    for piece in normalize(text, lowercase).split():
        start = 0
        for i, c in enumerate(piece):
            if _is_punctuation(c):
                if start < i:
                    words.append(piece[start:i])
                words.append(c)
                start = i + 1
        if start < len(piece):
            words.append(piece[start:])
    return words


class WordPieceTokenizer:
    """BERT's WordPiece tokenizer for a ``vocab.txt`` (one token per line, the line number is its id).

    ``encode`` gives the ids without ``[CLS]``/``[SEP]`` (Hugging Face's ``add_special_tokens=False``).
    The special tokens themselves (``[MASK]`` ...) are recognised in the text, as in Hugging Face.
    """

    def __init__(self, vocab: list[str], lowercase: bool = True, unk_token: str = "[UNK]", prefix: str = "##"):
        self.itos: list[str] = list(vocab)
        self.stoi: dict[str, int] = {}
        for i, token in enumerate(self.itos):
            self.stoi.setdefault(token, i)  # a duplicated line keeps its first id
        if unk_token not in self.stoi:
            raise ValueError(
                f"the vocabulary has no unknown token {unk_token!r}: WordPiece maps words it cannot cover to it, "
                f"so add it to the vocabulary (BERT's vocab.txt has '[UNK]' at id 100)"
            )
        self.lowercase, self.unk_token, self.prefix = lowercase, unk_token, prefix
        self.unk_id = self.stoi[unk_token]
        self.special_tokens = [t for t in BERT_SPECIAL_TOKENS if t in self.stoi]
        self._special_split = regex.compile("(" + "|".join(regex.escape(t) for t in self.special_tokens) + ")")
        self._cache: dict[str, list[int]] = {}

    @classmethod
    def from_vocab(cls, vocab_txt: str | Path, lowercase: bool = True) -> "WordPieceTokenizer":
        """Read a BERT ``vocab.txt``; ``lowercase=True`` for uncased models (which also strip accents)."""
        vocab_txt = Path(vocab_txt)
        if not vocab_txt.is_file():
            raise FileNotFoundError(
                f"vocabulary file {vocab_txt} not found: pass a BERT vocab.txt "
                f"(llmbook.pretrained.minilm_dir() / 'vocab.txt' is all-MiniLM-L6-v2's)"
            )
        lines = vocab_txt.read_text(encoding="utf-8").split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        return cls([line.rstrip("\r") for line in lines], lowercase=lowercase)

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    def __len__(self) -> int:
        return self.vocab_size

    def wordpiece(self, word: str) -> list[int]:
        """Greedy longest-match-first ids of one word; ``[UNK]`` if the word cannot be covered."""
        if len(word) > MAX_INPUT_CHARS_PER_WORD:
            return [self.unk_id]
        ids, start = [], 0
        while start < len(word):
            for end in range(len(word), start, -1):
                piece = word[start:end] if start == 0 else self.prefix + word[start:end]
                if piece in self.stoi:
                    ids.append(self.stoi[piece])
                    break
            else:  # no prefix of the rest is in the vocabulary
                return [self.unk_id]
            start = end
        return ids

    def _encode_ordinary(self, text: str) -> list[int]:
        out: list[int] = []
        for word in basic_tokenize(text, self.lowercase):
            ids = self._cache.get(word)
            if ids is None:
                ids = self._cache[word] = self.wordpiece(word)
            out.extend(ids)
        return out

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` (no ``[CLS]``/``[SEP]``): ``str -> list[int]``."""
        if not isinstance(text, str):
            raise TypeError(f"encode() takes a str, got {type(text).__name__}")
        out: list[int] = []
        for i, part in enumerate(self._special_split.split(text)):
            if i % 2:
                out.append(self.stoi[part])
            elif part:
                out.extend(self._encode_ordinary(part))
        return out

    def tokenize(self, text: str) -> list[str]:
        """The token strings of ``text`` (``##`` marks a piece that continues a word)."""
        return [self.itos[i] for i in self.encode(text)]

    def decode(self, ids: Iterable[int]) -> str:
        """Join the tokens of ``ids``, gluing ``##`` pieces to the word before: ``list[int] -> str``.

        Lowercasing and accent stripping cannot be undone, so this is not an exact inverse of ``encode``.
        """
        words: list[str] = []
        for i in token_ids(ids):
            token = self.itos[i] if 0 <= i < len(self.itos) else None
            if token is None:
                raise ValueError(f"unknown token id {i!r}: this vocabulary's ids are 0..{self.vocab_size - 1}")
            if token.startswith(self.prefix) and words:
                words[-1] += token[len(self.prefix):]
            else:
                words.append(token)
        return " ".join(words)
