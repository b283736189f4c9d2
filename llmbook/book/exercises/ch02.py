"""Checks for chapter 2, "Tokenization"."""
from __future__ import annotations

from functools import lru_cache

from ... import data, pretrained
from ...tokenizers import BPETokenizer, GPT2Tokenizer, WordPieceTokenizer, basic_tokenize
from . import exercise, integer


@lru_cache(maxsize=1)
def _gpt2() -> GPT2Tokenizer:
    return GPT2Tokenizer.from_files(data.path("gpt2-bpe/encoder.json"), data.path("gpt2-bpe/vocab.bpe"))


@exercise(
    "02.1",
    hint="Train BPETokenizer.train(text, vocab_size=257) on the first 100,000 characters of the training split: "
    "its one merge makes token 256, whose bytes are tok.vocab[256] (answer with a bytes object such as b'ab').",
)
def _first_merge(answer) -> bool:
    text = data.load("tinyshakespeare", "train")[:100_000]
    return bytes(answer) == BPETokenizer.train(text, 257).vocab[256]


@exercise(
    "02.2",
    hint="Build GPT2Tokenizer.from_files(...) from the two gpt2-bpe files and take len(tok.encode(val_text)) "
    "for the tinyshakespeare validation split.",
)
def _gpt2_tokens_of_val(answer) -> bool:
    return integer(answer) == len(_gpt2().encode(data.load("tinyshakespeare", "val")))


@exercise(
    "02.3",
    hint="For every SST-2 validation sentence, basic_tokenize it; count the words whose tok.wordpiece(word) has "
    "more than one piece and divide by the number of words (all-MiniLM-L6-v2's vocab.txt).",
)
def _split_word_share(answer) -> bool:
    tok = WordPieceTokenizer.from_vocab(pretrained.minilm_dir() / "vocab.txt")
    words = [w for item in data.load("sst2", "val") for w in basic_tokenize(item["sentence"])]
    share = sum(len(tok.wordpiece(w)) > 1 for w in words) / len(words)
    return abs(float(answer) - share) < 1e-9


@exercise(
    "02.4",
    hint="Split both tinyshakespeare splits with str.split(); the out-of-vocabulary rate is the share of the "
    "validation words (counted with repetition) that never occur in the training words.",
)
def _word_oov_rate(answer) -> bool:
    train_words = set(data.load("tinyshakespeare", "train").split())
    val_words = data.load("tinyshakespeare", "val").split()
    rate = sum(w not in train_words for w in val_words) / len(val_words)
    return abs(float(answer) - rate) < 1e-9
