"""Tokenizer fertility: counts equal Hugging Face's tokenizers (GPT-2, MiniLM's WordPiece) on real
parallel sentences, a hand-counted example, and clear errors."""
from __future__ import annotations

import pytest

from llmbook import data
from llmbook.tokenizers import CharTokenizer, GPT2Tokenizer, WordPieceTokenizer, fertility


@pytest.fixture(scope="module")
def sentences():
    rows = data.load("multi30k", "test")[:40]
    return {lang: [row[lang] for row in rows] for lang in ("en", "de", "fr")}


def test_fertility_by_hand():
    tokenizer = CharTokenizer("ab c")
    result = fertility(tokenizer, ["ab c", "c"])
    # "ab c" -> 4 tokens (a, b, space, c), "c" -> 1; characters without spaces: 3 + 1; words: 2 + 1
    assert (result.tokens, result.characters, result.words, result.unknown) == (5, 4, 3, 0)
    assert result.tokens_per_character == 5 / 4 and result.tokens_per_word == 5 / 3


def test_gpt2_fertility_equals_hf(gpt2_tokenizer, sentences):
    ours = GPT2Tokenizer.from_files(data.path("gpt2-bpe/encoder.json"),
                                    data.path("gpt2-bpe/vocab.bpe"))
    for lang, texts in sentences.items():
        expected = sum(len(gpt2_tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts)
        assert fertility(ours, texts).tokens == expected
        assert fertility(gpt2_tokenizer, texts).tokens == expected  # a transformers tokenizer too
    # English is GPT-2's language: fewer tokens per word than German or French
    per_word = {lang: fertility(ours, texts).tokens_per_word for lang, texts in sentences.items()}
    assert per_word["en"] < per_word["de"] and per_word["en"] < per_word["fr"]


def test_wordpiece_fertility_equals_hf_and_counts_unknowns():
    from transformers import AutoTokenizer

    from llmbook.pretrained import minilm_dir

    hf = AutoTokenizer.from_pretrained(str(minilm_dir()))
    ours = WordPieceTokenizer.from_vocab(minilm_dir() / "vocab.txt")
    texts = [row["zh"] for row in data.load("tatoeba", "test")[:30]]
    texts += ["Ein Mann mit Hut.", "ﬀ ☃ 😀"]
    hf_ids = [hf(t, add_special_tokens=False)["input_ids"] for t in texts]
    result = fertility(ours, texts, unk_id=ours.unk_id)
    assert result.tokens == sum(map(len, hf_ids))
    assert result.unknown == sum(i == hf.unk_token_id for ids in hf_ids for i in ids) > 0
    assert fertility(hf, texts, unk_id=hf.unk_token_id) == result


def test_fertility_bad_inputs():
    tokenizer = CharTokenizer("a bc")
    with pytest.raises(TypeError, match="non-empty list of strings"):
        fertility(tokenizer, "abc")
    with pytest.raises(TypeError, match="non-empty list of strings"):
        fertility(tokenizer, [])
    with pytest.raises(TypeError, match="is not a tokenizer"):
        fertility(object(), ["abc"])
    with pytest.raises(ValueError, match="no characters besides whitespace"):
        fertility(tokenizer, ["   "])
