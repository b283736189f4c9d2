"""The TinyStories sample's loader, llmbook.data.load("tinystories", split)."""
from __future__ import annotations

import pytest

from llmbook import data

MARKER = "<|endoftext|>"


@pytest.fixture(scope="module")
def splits():
    return {split: data.load("tinystories", split) for split in ("train", "val")}


def test_every_whole_story_is_in_exactly_one_split(splits):
    raw = data.path("tinystories/tinystories_sample_2MiB.txt").read_text(encoding="utf-8")
    chunks = raw.split(MARKER)
    whole = [c.strip() for c in chunks[:-1] if c.strip()]
    cut = chunks[-1].strip()  # the sample ends inside a story
    assert cut and not cut.endswith((".", "!", '"'))
    train, val = splits["train"], splits["val"]
    assert sorted(train + val) == sorted(whole) and not set(train) & set(val)
    assert cut not in train + val
    assert all(MARKER not in s and s == s.strip() and s for s in train + val)
    assert 0.07 < len(val) / len(whole) < 0.13  # about 10 % validate


def test_the_split_is_stable(splits):
    # by each story's own hash: the same whatever the order of the file
    assert splits["val"][0].startswith("Once upon a time, in a peaceful town, there lived a little "
                                       "boy named Tim.")
    assert (len(splits["train"]), len(splits["val"])) == (2095, 221)
    assert data.load("tinystories", "val") == splits["val"]
    with pytest.raises(data.DataError, match="has no split 'test'"):
        data.load("tinystories", "test")
