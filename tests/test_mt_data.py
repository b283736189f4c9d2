"""The translation chapter's loaders: Tatoeba English-Chinese (a hash split) and WMT21 en->zh."""
from __future__ import annotations

import pytest

from llmbook import data
from llmbook.data import DataError


def test_tatoeba_split_is_disjoint_stable_and_keeps_every_pair():
    splits = data.load("tatoeba")
    assert set(splits) == {"train", "test"}
    train, test = splits["train"], splits["test"]
    assert len(train) + len(test) == 29155  # every line of the file but the final empty one
    assert 0.08 < len(test) / (len(train) + len(test)) < 0.12
    # One English sentence with several translations stays in one split: the test is unseen.
    assert not {r["en"] for r in train} & {r["en"] for r in test}
    assert all(data._hash_bucket(r["en"], 10) == 0 for r in test)
    assert set(test[0]) == {"en", "zh", "attribution"}
    # The byte-order mark is gone from the first sentence, and every pair credits its authors.
    assert train[0]["en"] == "Hi." and train[0]["zh"] == "嗨。"
    assert all(r["attribution"].startswith("CC-BY 2.0 (France) Attribution: tatoeba.org #")
               for r in train + test)
    assert all(r["en"] and r["zh"] and r["en"] == r["en"].strip() for r in test)
    assert "CC-BY 2.0 FR" in data.DATASETS["tatoeba"].description


def test_wmt21_enzh_has_a_source_and_two_references_per_line():
    test = data.load("wmt21_enzh", "test")
    assert data.splits("wmt21_enzh") == ("test",) and len(test) == 1002
    assert test[0]["en"].startswith("Dominic Raab")
    assert test[0]["zh"] != test[0]["zh_b"] and "拉布" in test[0]["zh_b"]
    assert all(set(r) == {"en", "zh", "zh_b"} and r["en"] and r["zh"] and r["zh_b"] for r in test)


def test_malformed_translation_files_are_reported(monkeypatch, tmp_path):
    bad = tmp_path / "cmn.txt"
    bad.write_text("\ufeffHi.\t嗨。\tCC-BY\nno tab here\n", encoding="utf-8")
    monkeypatch.setattr(data, "path", lambda name: bad)
    with pytest.raises(DataError, match=r"line 2: expected 'English<TAB>Chinese<TAB>attribution'"):
        data._tatoeba("train")
    monkeypatch.setattr(data, "_read_text",
                        lambda name: "x\n" if name.endswith("B.zh") else "x\ny\n")
    with pytest.raises(DataError, match="different line counts"):
        data._wmt21_enzh("test")
