"""llmbook.tokenizers against Hugging Face on real text, plus round trips and bad input.

References: ``GPT2TokenizerFast`` built from OpenAI's two GPT-2 files, ``BertTokenizerFast`` of
all-MiniLM-L6-v2, and the ``tokenizers`` library's BPE trainer.
"""
from __future__ import annotations

import json
import shutil
import unicodedata
import warnings
from collections import Counter

import pytest
import torch
import regex
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from llmbook import data, pretrained
from llmbook.tokenizers import (
    GPT2_SPLIT_PATTERN,
    BPETokenizer,
    ByteLevelBPE,
    CharTokenizer,
    GPT2Tokenizer,
    TrimmedVocabulary,
    WordPieceTokenizer,
    basic_tokenize,
    bytes_to_unicode,
    merge_pair,
    pair_counts,
    pretokenize,
)

GPT2_FILES = ("gpt2-bpe/encoder.json", "gpt2-bpe/vocab.bpe")


# ------------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def gpt2() -> GPT2Tokenizer:
    return GPT2Tokenizer.from_files(*(data.path(f) for f in GPT2_FILES))


@pytest.fixture(scope="module")
def hf_gpt2(tmp_path_factory):
    from transformers import GPT2TokenizerFast

    # transformers 5 builds an EMPTY tokenizer from GPT2TokenizerFast(vocab_file=..., merges_file=...):
    # load the reference from a folder holding the two files under their Hugging Face names.
    folder = tmp_path_factory.mktemp("gpt2")
    shutil.copy(data.path(GPT2_FILES[0]), folder / "vocab.json")
    shutil.copy(data.path(GPT2_FILES[1]), folder / "merges.txt")
    reference = GPT2TokenizerFast.from_pretrained(folder)
    assert len(reference) == 50257
    assert reference.encode("Hello world") == [15496, 995], "the reference tokenizer produces no tokens"
    return reference


@pytest.fixture(scope="module")
def wordpiece() -> WordPieceTokenizer:
    return WordPieceTokenizer.from_vocab(pretrained.minilm_dir() / "vocab.txt")


@pytest.fixture(scope="module")
def hf_bert():
    from transformers import BertTokenizerFast

    reference = BertTokenizerFast.from_pretrained(pretrained.minilm_dir())
    assert reference("Hello world", add_special_tokens=False)["input_ids"] == [7592, 2088], "empty reference"
    return reference


@pytest.fixture(scope="module")
def shakespeare_bpe() -> BPETokenizer:
    return BPETokenizer.train(data.load("tinyshakespeare", "train")[:200_000], vocab_size=512)


def hf_bpe_train(text: str, vocab_size: int):
    """Hugging Face tokenizers' byte-level BPE trainer, set up like ours (GPT-2 regex, no prefix space)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=0, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator([text], trainer)
    return tokenizer


# ------------------------------------------------------------------------------------------ GPT-2


@pytest.mark.slow
@pytest.mark.parametrize("name,split", [("tinyshakespeare", "all"), ("wikitext2", "test")])
def test_gpt2_matches_hugging_face_token_for_token(gpt2, hf_gpt2, name, split):
    text = data.load(name, split)
    ours = gpt2.encode(text)
    reference = hf_gpt2.encode(text)
    assert len(reference) > len(text) / 5  # the reference really tokenized the corpus
    assert ours == reference
    assert gpt2.decode(ours) == text


@pytest.mark.parametrize(
    "text",
    ["Hello world", "I'm sure they'll've done it", "  two  spaces\n\n\tand tabs ", "3.14159 and 1,000,000",
     "naïve café 你好世界 🤗👍🏽", "a<|endoftext|>b <|endoftext|>", "", " ", "\n"],
)
def test_gpt2_matches_hugging_face_on_tricky_strings(gpt2, hf_gpt2, text):
    # Hugging Face's tokenizer always turns "<|endoftext|>" in text into the token: allowed_special="all"
    assert gpt2.encode(text, allowed_special="all") == hf_gpt2.encode(text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(st.characters(exclude_categories=["Cs"])))
@example("emoji 😀🎉 and Chinese 汉字")
def test_gpt2_matches_hugging_face_on_any_unicode(gpt2, hf_gpt2, text):
    assert gpt2.encode(text, allowed_special="all") == hf_gpt2.encode(text)


def test_gpt2_byte_map_is_openais():
    mapping = bytes_to_unicode()
    assert len(set(mapping.values())) == 256  # a bijection
    assert mapping[ord(" ")] == "Ġ" and mapping[ord("\n")] == "Ċ" and mapping[ord("A")] == "A"
    assert all(ch.isprintable() and not ch.isspace() for ch in mapping.values())


def test_gpt2_bad_files(tmp_path):
    encoder = data.path(GPT2_FILES[0])
    with pytest.raises(FileNotFoundError, match="encoder.json not found"):
        GPT2Tokenizer.from_files(tmp_path / "missing.json", data.path(GPT2_FILES[1]))
    bad_merges = tmp_path / "vocab.bpe"
    bad_merges.write_text("#version: 0.2\nĠt h e x\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 2.*not a merge of two tokens"):
        GPT2Tokenizer.from_files(encoder, bad_merges)
    bad_encoder = tmp_path / "encoder.json"
    bad_encoder.write_text(json.dumps({" space": 0}), encoding="utf-8")
    with pytest.raises(ValueError, match="not one of GPT-2's byte characters"):
        GPT2Tokenizer.from_files(bad_encoder, bad_merges)


# ------------------------------------------------------------------------------------------ WordPiece


@pytest.mark.slow
def test_wordpiece_matches_hugging_face_on_every_sst2_sentence(wordpiece, hf_bert):
    sentences = [item["sentence"] for split in data.splits("sst2") for item in data.load("sst2", split)]
    assert len(sentences) > 9000
    reference = hf_bert(sentences, add_special_tokens=False)["input_ids"]
    ours = [wordpiece.encode(s) for s in sentences]
    mismatches = [s for s, a, b in zip(sentences, ours, reference) if a != b]
    assert not mismatches, f"{len(mismatches)} sentences differ, e.g. {mismatches[:3]}"


# HF's Rust character tables (unicode_categories) predate Python's Unicode database: of all code points,
# 503 are classified differently (measured once, exhaustively), all either added after Unicode 3.2 (e.g.
# U+2E4E, Unicode 11 punctuation) or one of the four below, whose category changed since. Draw from the rest.
_RECLASSIFIED = {"\u166d", "\u1734", "\u1885", "\u1886"}
_OLD_UNICODE = st.characters(max_codepoint=0x2FFFF, exclude_categories=["Cs"]).filter(
    lambda c: unicodedata.ucd_3_2_0.category(c) != "Cn" and c not in _RECLASSIFIED
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(_OLD_UNICODE))
@example("Héllo, WORLD! naïve 你好 [MASK] a\u00a0b\u2028c ΟΔΟΣ İstanbul\x0bx unaffable")
def test_wordpiece_matches_hugging_face_on_unicode(wordpiece, hf_bert, text):
    assert wordpiece.encode(text) == hf_bert(text, add_special_tokens=False)["input_ids"]


def test_wordpiece_greedy_longest_match_and_unk(wordpiece):
    assert wordpiece.tokenize("unaffable") == ["una", "##ffa", "##ble"]
    assert wordpiece.tokenize("x" * 101) == ["[UNK]"]  # longer than 100 characters
    assert wordpiece.tokenize("🤗") == ["[UNK]"]
    assert basic_tokenize("Don't STOP—now!") == ["don", "'", "t", "stop", "—", "now", "!"]
    assert wordpiece.decode(wordpiece.encode("Unaffable, naïve")) == "unaffable , naive"
    toy = WordPieceTokenizer(["[UNK]", "a", "##b"])
    assert toy.tokenize("abc ab") == ["[UNK]", "a", "##b"]  # "abc" cannot be covered: the whole word is unknown
    assert len(toy) == toy.vocab_size == 3


def test_wordpiece_bad_input(tmp_path, wordpiece):
    with pytest.raises(ValueError, match="unknown token id 30522"):
        wordpiece.decode([101, 30522])
    with pytest.raises(ValueError, match="unknown token id -1"):
        wordpiece.decode([-1])
    with pytest.raises(ValueError, match="no unknown token"):
        WordPieceTokenizer(["a", "b"])
    with pytest.raises(FileNotFoundError, match="vocabulary file .* not found"):
        WordPieceTokenizer.from_vocab(tmp_path / "vocab.txt")
    with pytest.raises(TypeError, match="takes a str"):
        wordpiece.encode(b"bytes")


# ------------------------------------------------------------------------------------------ BPE training


def naive_bpe_merges(text: str | list[str], n_merges: int) -> list[tuple[int, int]]:
    """BPE by the book: recount every pair of the whole corpus before each merge (slow, obviously right).
    ``text`` may be a list of separate texts (no chunk crosses from one to the next)."""
    texts = [text] if isinstance(text, str) else text
    chunks = [list(c.encode("utf-8")) for t in texts for c in regex.findall(GPT2_SPLIT_PATTERN, t)]
    merges = []
    for new_id in range(256, 256 + n_merges):
        counts = Counter(p for chunk in chunks for p in zip(chunk, chunk[1:]))
        if not counts:
            break
        best = min(counts, key=lambda p: (-counts[p], p))  # most frequent; ties to the smallest pair
        merges.append(best)
        chunks = [merge_pair(c, best, new_id) for c in chunks]
    return merges


def test_incremental_training_equals_recounting():
    text = data.load("tinyshakespeare", "val")[:20_000]
    assert BPETokenizer.train(text, 256 + 60).merges == naive_bpe_merges(text, 60)
    repetitive = "aaaa aaa bbbbbb aaab " * 20  # overlapping pairs (a, a)
    assert BPETokenizer.train(repetitive, 256 + 6).merges == naive_bpe_merges(repetitive, 6)


@pytest.mark.slow
def test_bpe_compresses_like_hugging_face_trainer():
    train, val = data.load("tinyshakespeare", "train"), data.load("tinyshakespeare", "val")
    vocab_size = 1024
    ours = BPETokenizer.train(train, vocab_size)
    reference = hf_bpe_train(train, vocab_size)
    assert reference.get_vocab_size() == vocab_size
    ours_tpc = len(ours.encode(val)) / len(val)
    ref_tpc = len(reference.encode(val).ids) / len(val)
    print(f"tokens per character at vocab {vocab_size}: ours {ours_tpc:.4f}, Hugging Face {ref_tpc:.4f}")
    assert abs(ours_tpc / ref_tpc - 1) < 0.01
    assert 0.3 < ours_tpc < 0.6  # a 1k vocabulary roughly halves the sequence length of English
    # Same algorithm, same counts: the same merges, in an order that may differ only among ties.
    byte_of = {ch: b for b, ch in bytes_to_unicode().items()}
    hf_merges = json.loads(reference.to_str())["model"]["merges"]
    hf_pairs = {tuple(bytes(byte_of[c] for c in side) for side in m) for m in hf_merges}
    our_pairs = {(ours.vocab[a], ours.vocab[b]) for a, b in ours.merges}
    assert len(hf_pairs & our_pairs) >= 0.99 * (vocab_size - 256)


def test_bpe_encode_decode_save_load(tmp_path, shakespeare_bpe):
    tok = shakespeare_bpe
    assert tok.vocab_size == len(tok) == 512 and len(tok.merges) == 256
    text = data.load("tinyshakespeare", "val")[:5000]
    ids = tok.encode(text)
    assert tok.decode(ids) == text
    assert len(ids) < 0.7 * len(text.encode("utf-8"))  # 256 merges compress English text
    # Every token is the concatenation of its merge's two tokens.
    assert all(tok.vocab[256 + i] == tok.vocab[a] + tok.vocab[b] for i, (a, b) in enumerate(tok.merges))
    path = tok.save(tmp_path / "bpe.json")
    loaded = BPETokenizer.load(path)
    assert loaded.merges == tok.merges and loaded.encode(text) == ids
    assert tok.decode(ids[:3]) == text[: len(tok.decode(ids[:3]))]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text())
@example("emoji 😀🎉👨‍👩‍👧 and Chinese 汉字，標點。")
@example("<|endoftext|>")
def test_byte_level_round_trip(shakespeare_bpe, gpt2, text):
    assert shakespeare_bpe.decode(shakespeare_bpe.encode(text)) == text
    assert gpt2.decode(gpt2.encode_ordinary(text)) == text
    assert gpt2.decode(gpt2.encode(text, allowed_special="all")) == text


def test_training_bad_input():
    with pytest.raises(ValueError, match="empty training corpus"):
        BPETokenizer.train("", 300)
    with pytest.raises(ValueError, match="below the byte alphabet.*vocab_size >= 256"):
        BPETokenizer.train("hello", 255)
    with pytest.raises(TypeError, match="vocab_size must be an int"):
        BPETokenizer.train("hello", 300.0)
    with pytest.raises(TypeError, match="corpus as a str"):
        BPETokenizer.train(b"hello", 300)
    with pytest.warns(UserWarning, match="no pair left to merge after 4 merges"):
        tiny = BPETokenizer.train("hello", 300)
    assert tiny.encode("hello") == [259]
    assert BPETokenizer.train("hello", 256).merges == []


def test_bpe_bad_input(tmp_path, shakespeare_bpe):
    with pytest.raises(ValueError, match=r"unknown token id 512: this tokenizer's ids are 0\.\.511"):
        shakespeare_bpe.decode([104, 512])
    with pytest.raises(ValueError, match="token ids must be integers"):
        shakespeare_bpe.decode([1.5])
    with pytest.raises(TypeError, match="takes a str"):
        shakespeare_bpe.encode(b"bytes")
    with pytest.raises(ValueError, match="does not exist yet"):
        BPETokenizer([(256, 1)])
    not_json = tmp_path / "x.json"
    not_json.write_text("{oops", encoding="utf-8")
    with pytest.raises(ValueError, match="invalid JSON"):
        BPETokenizer.load(not_json)
    not_json.write_text("[]", encoding="utf-8")
    with pytest.raises(ValueError, match="not a tokenizer saved by BPETokenizer.save"):
        BPETokenizer.load(not_json)


def test_byte_level_vocabulary_checks():
    vocab = {i: bytes([i]) for i in range(256)}
    with pytest.raises(ValueError, match="256 bytes; 1 are missing"):
        ByteLevelBPE({i: bytes([i]) for i in range(255)}, [])
    with pytest.raises(ValueError, match="not in the vocabulary"):
        ByteLevelBPE(vocab, [(104, 105)])  # b"hi" has no id
    with pytest.raises(ValueError, match="uses a token id that is not in the vocabulary"):
        ByteLevelBPE(vocab, [(104, 999)])
    with pytest.raises(ValueError, match="special token"):
        ByteLevelBPE(vocab, [], special_tokens={"<s>": 300})


def test_helpers():
    assert merge_pair([1, 1, 1, 2], (1, 1), 9) == [9, 1, 2]
    assert pair_counts([1, 1, 1, 2]) == {(1, 1): 2, (1, 2): 1}
    text = "Hello,  world!\n\nIt's 2024 🤗"
    assert "".join(pretokenize(text)) == text
    assert pretokenize("It's a test") == ["It", "'s", " a", " test"]


# ------------------------------------------------------------------------------------------ characters


def test_char_tokenizer_round_trip_and_errors():
    text = data.load("tinyshakespeare", "all")
    tok = CharTokenizer(text)
    assert tok.vocab_size == len(tok) == len(set(text)) == 65  # nanoGPT's shakespeare_char vocabulary
    assert tok.chars == sorted(set(text))
    sample = text[:1000]
    assert tok.decode(tok.encode(sample)) == sample
    with pytest.raises(ValueError, match="character '🤗' is not in the vocabulary of 65 characters"):
        tok.encode("hi 🤗")
    with pytest.raises(ValueError, match="unknown token id 65"):
        tok.decode([0, 65])
    with pytest.raises(ValueError, match="empty training corpus"):
        CharTokenizer("")
    with pytest.raises(TypeError, match="as a str"):
        CharTokenizer(["a"])


# ------------------------------------------------------------------------------------------ exercises


@pytest.mark.slow
def test_chapter_2_exercises_accept_the_reference_answers_only(hf_gpt2, hf_bert):
    from llmbook.book.exercises import check

    train, val = data.load("tinyshakespeare", "train"), data.load("tinyshakespeare", "val")
    (a, b), = naive_bpe_merges(train[:100_000], 1)
    assert check("02.1", bytes([a, b])) and not check("02.1", bytes([b, a]))
    n_tokens = len(hf_gpt2.encode(val))
    assert check("02.2", n_tokens) and not check("02.2", n_tokens + 1)
    words = [w for item in data.load("sst2", "val") for w in hf_bert.backend_tokenizer.pre_tokenizer.pre_tokenize_str(
        hf_bert.backend_tokenizer.normalizer.normalize_str(item["sentence"]))]
    pieces = hf_bert([w for w, _ in words], add_special_tokens=False)["input_ids"]
    share = sum(len(p) > 1 for p in pieces) / len(pieces)
    assert check("02.3", share) and not check("02.3", share + 0.01)
    train_words = set(train.split())
    oov = sum(w not in train_words for w in val.split()) / len(val.split())
    assert check("02.4", oov) and not check("02.4", "not a number")


def test_decode_refuses_bools_and_floats_and_encode_refuses_a_list(gpt2, wordpiece):
    """decode([True]) used to read True as id 1; CharTokenizer.encode(["a", "b"]) returned ids."""
    import numpy as np
    import torch

    char = CharTokenizer("hello world")
    bpe = BPETokenizer.train("low lower lowest " * 20, vocab_size=260)
    for tokenizer in (char, bpe, gpt2, wordpiece):
        for bad in ([True], [np.bool_(True)], [torch.tensor(True)], [1.0], ["1"]):
            with pytest.raises(ValueError, match="token ids must be integers"):
                tokenizer.decode(bad)
        assert tokenizer.decode([np.int64(1), torch.tensor(1)]) == tokenizer.decode([1, 1])
    with pytest.raises(TypeError, match="encode takes a str"):
        char.encode(["h", "e"])


def test_text_never_becomes_a_special_token_unless_allowed(gpt2):
    """encode("a<|endoftext|>b") used to give [64, 50256, 65]: user text could forge the control token."""
    eot = gpt2.special_tokens["<|endoftext|>"]
    with pytest.raises(ValueError, match=r"contains the special token '<\|endoftext\|>' \(at character 1\)"):
        gpt2.encode("a<|endoftext|>b")
    assert gpt2.encode("a<|endoftext|>b", allowed_special={"<|endoftext|>"}) == [64, eot, 65]
    assert gpt2.encode("a<|endoftext|>b", allowed_special="all") == [64, eot, 65]
    ordinary = gpt2.encode_ordinary("a<|endoftext|>b")
    assert eot not in ordinary and gpt2.decode(ordinary) == "a<|endoftext|>b"
    assert gpt2.encode("a<|endoftext|>b", disallowed_special=()) == ordinary
    assert gpt2.encode("plain text") == gpt2.encode_ordinary("plain text") == [25638, 2420]
    with pytest.raises(ValueError, match="not special tokens of this tokenizer"):
        gpt2.encode("x", allowed_special={"<|im_start|>"})



def test_a_pattern_that_skips_characters_is_refused():
    """pattern=r"\\w+" used to decode "hello world!" to "helloworld": the gaps were dropped silently."""
    with pytest.raises(ValueError, match=r"skips ' ' at character 5"):
        BPETokenizer.train("hello world! " * 20, 260, pattern=r"\w+")
    tokenizer = BPETokenizer.train("hello world! " * 20, 260)
    custom = ByteLevelBPE(tokenizer.vocab, tokenizer.merges, pattern=r"\w+")
    with pytest.raises(ValueError, match=r"skips '!' at character 11"):
        custom.encode("hello_world!")
    covering = ByteLevelBPE(tokenizer.vocab, tokenizer.merges, pattern=r"\w+|\s+|.")
    assert covering.decode(covering.encode("hello world!")) == "hello world!"


def test_lone_surrogates_and_malformed_saved_files_are_clear_errors(gpt2, tmp_path):
    """A lone surrogate escaped as UnicodeEncodeError; a malformed saved file as KeyError/TypeError."""
    for call in (lambda: gpt2.encode("a\ud800b"), lambda: BPETokenizer.train("ab\udc80" * 10, 258)):
        with pytest.raises(ValueError, match=r"lone surrogate '\\udc80' at character 2|lone surrogate '\\ud800' at character 1"):
            call()
    tokenizer = BPETokenizer.train("low lower lowest " * 20, vocab_size=260)
    good = json.loads(tokenizer.save(tmp_path / "bpe.json").read_text())
    for broken in ({k: v for k, v in good.items() if k != "merges"}, good | {"pattern": 3},
                   good | {"merges": [[1, 2, 3]]}, good | {"merges": [["a", "b"]]}, good | {"pattern": "("}):
        (tmp_path / "broken.json").write_text(json.dumps(broken))
        with pytest.raises(ValueError, match="not a tokenizer saved by BPETokenizer.save|not a regular expression"):
            BPETokenizer.load(tmp_path / "broken.json")
    (tmp_path / "binary.json").write_bytes(b"\xff\xfe")
    with pytest.raises(ValueError, match="invalid JSON"):
        BPETokenizer.load(tmp_path / "binary.json")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(st.characters(exclude_categories=["Cs"])), st.lists(st.integers(0, 60), max_size=8))
@example("We're  here'll\n\n 12 345", [2, 3, 4, 4, 9])
@example("a'r" + "e", [2])
def test_encode_iterable_equals_encoding_the_whole_text(gpt2, text, cuts):
    """Streaming pieces of a text (here cut at random places) gives the ids of the whole text."""
    cuts = sorted(min(c, len(text)) for c in cuts)
    pieces = [text[a:b] for a, b in zip([0] + cuts, cuts + [len(text)])]
    assert list(gpt2.encode_iterable(iter(pieces))) == gpt2.encode_ordinary(text)


def test_encode_iterable_streams_a_corpus_line_by_line(gpt2):
    text = data.load("wikitext2", "val")[:200_000]
    assert list(gpt2.encode_iterable(text.splitlines(keepends=True))) == gpt2.encode_ordinary(text)
    with pytest.raises(TypeError, match="pieces of text"):
        list(gpt2.encode_iterable([b"bytes"]))


SPECIALS = ["<|endoftext|>", "<|user|>", "<|assistant|>"]


def test_bpe_training_never_splits_or_merges_special_tokens(tmp_path):
    """BPE training had no special tokens: "<|endoftext|>" in the corpus was learnt as merges of its
    characters, and a trained tokenizer could not encode it as one token."""
    lines = data.load("tinyshakespeare", "val")[:6000].split("\n\n")
    corpus = "".join(f"<|user|>{a}<|assistant|>{b}<|endoftext|>" for a, b in zip(lines[::2], lines[1::2]))
    n_merges = 50
    tok = BPETokenizer.train(corpus, 256 + n_merges + len(SPECIALS), special_tokens=SPECIALS)
    # The merges are those of the texts between the special tokens, each text on its own.
    between = regex.split("|".join(regex.escape(s) for s in SPECIALS), corpus)
    assert tok.merges == naive_bpe_merges(between, n_merges)
    plain = BPETokenizer.train(corpus, 256 + n_merges + len(SPECIALS))
    assert any(b"endo" in plain.vocab[i] or b"<|" in plain.vocab[i] for i in range(256, len(plain)))
    assert not any(b"endo" in tok.vocab[i] or b"<|" in tok.vocab[i] for i in range(256, 256 + n_merges))
    # Ids follow the merges; encode refuses them in text by default, encodes each as one token if asked.
    assert tok.special_tokens == {s: 256 + n_merges + k for k, s in enumerate(SPECIALS)}
    assert tok.vocab_size == 256 + n_merges + len(SPECIALS)
    sample = "<|user|>Who art thou?<|assistant|>A friend.<|endoftext|>"
    with pytest.raises(ValueError, match="contains the special token"):
        tok.encode(sample)
    ids = tok.encode(sample, allowed_special="all")
    assert [i for i in ids if i in tok.special_tokens.values()] == [tok.special_tokens[s] for s in ("<|user|>", "<|assistant|>", "<|endoftext|>")]
    assert tok.decode(ids) == sample
    assert not set(tok.encode_ordinary(sample)) & set(tok.special_tokens.values())
    # Saved and loaded with its special tokens; files saved before special tokens existed still load.
    loaded = BPETokenizer.load(tok.save(tmp_path / "chat.json"))
    assert loaded.special_tokens == tok.special_tokens
    assert loaded.encode(sample, allowed_special="all") == ids
    old = json.loads((tmp_path / "chat.json").read_text())
    del old["special_tokens"]
    (tmp_path / "old.json").write_text(json.dumps(old))
    assert BPETokenizer.load(tmp_path / "old.json").special_tokens == {}


def test_special_token_checks_and_a_special_token_that_is_also_ordinary_text():
    with pytest.raises(ValueError, match=r"vocab_size >= 259"):
        BPETokenizer.train("abc", 258, special_tokens=SPECIALS)
    for bad, match in ((["<s>", "<s>"], "more than once"), ([""], "non-empty str"), ([3], "non-empty str"),
                       (["a\ud800"], "lone surrogate")):
        with pytest.raises(ValueError, match=match):
            BPETokenizer.train("abc abc", 260, special_tokens=bad)
    with pytest.raises(TypeError, match=r"write \['<s>'\]"):
        BPETokenizer(special_tokens="<s>")
    # Training cuts a special token's string out of the text: nothing is learnt from it.
    with pytest.warns(UserWarning, match="no pair left to merge after 0 merges"):
        assert BPETokenizer.train("ab ab ab ab", 256 + 1 + 1, special_tokens=["ab"]).merges == []
    # "ab" is a special token and also a token merged from text: ordinary text gets the merged token.
    tok = BPETokenizer(BPETokenizer.train("ab ab ab ab", 257).merges, special_tokens=["ab"])
    assert tok.merges == [(97, 98)] and tok.special_tokens == {"ab": 257}
    assert tok.encode_ordinary("ab") == [256] and tok.encode("ab", allowed_special="all") == [257]
    assert tok.decode([256]) == tok.decode([257]) == "ab"


def test_trimmed_vocabulary_renumbers_a_corpus_and_maps_back(wordpiece):
    sentences = [row["sentence"] for row in data.load("sst2", "val")[:200]]
    ids = [wordpiece.encode(s) for s in sentences]
    unk = wordpiece.unk_id
    trim = TrimmedVocabulary.from_corpus(ids[:150], wordpiece.vocab_size, always=[101, 102, 103], unk_id=unk)
    assert len(trim) == len({i for seq in ids[:150] for i in seq} | {101, 102, 103, unk}) < 3000
    for seq in ids[:150]:  # seen text: the round trip is exact
        assert trim.to_big(trim.to_small(seq)).tolist() == seq
    unseen = [i for seq in ids[150:] for i in seq]
    mapped = trim.to_big(trim.to_small(unseen)).tolist()
    assert all(m == i or m == unk for m, i in zip(mapped, unseen)) and unk in mapped
    assert trim.to_small(torch.tensor([[101, 102]])).shape == (1, 2)
    frequent = TrimmedVocabulary.from_corpus(ids[:150], wordpiece.vocab_size, unk_id=unk, min_count=3)
    counts = Counter(i for seq in ids[:150] for i in seq)
    assert set(frequent.big_ids.tolist()) == {i for i, c in counts.items() if c >= 3} | {unk}
    with pytest.raises(ValueError, match="give unk_id"):
        TrimmedVocabulary.from_corpus(ids, wordpiece.vocab_size, min_count=2)
    strict = TrimmedVocabulary([5, 6], vocab_size=10)
    with pytest.raises(ValueError, match="not in the trimmed vocabulary and there is no unk_id"):
        strict.to_small([7])
    with pytest.raises(ValueError, match=r"must be in \[0, 10\)"):
        strict.to_small([10])
    with pytest.raises(ValueError, match=r"trimmed ids must be in \[0, 2\)"):
        strict.to_big([2])
