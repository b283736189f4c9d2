"""Concept diagrams: each one draws what its arguments say, and describes itself in its alt text."""
from __future__ import annotations

import matplotlib
import numpy as np
import pytest

from llmbook import diagrams, plot

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def test_masks_are_the_matrices_the_code_uses():
    import torch

    causal = diagrams.causal_mask(5)
    reference = ~torch.ones(5, 5, dtype=torch.bool).triu(1)  # torch's is_causal pattern
    assert np.array_equal(causal, reference.numpy())
    assert diagrams.padding_mask([2, 4], 4).tolist() == [[True, True, False, False], [True] * 4]
    with pytest.raises(ValueError, match="must lie in"):
        diagrams.padding_mask([5], 4)


def test_each_diagram_describes_what_it_draws():
    block = plot.alt_text(diagrams.transformer_block())
    assert "pre-LN" in block and "LayerNorm; masked multi-head self-attention" in block
    post = plot.alt_text(diagrams.transformer_block(norm_first=False))
    assert "post-LN" in post and post.index("attention") < post.index("LayerNorm")
    masks = diagrams.attention_masks(seq_len=4, length=3)
    assert len(masks.axes) == 3 and "padding (3 real tokens)" in plot.alt_text(masks)
    assert [ax.images[0].get_array().sum() for ax in masks.axes] == [10, 12, 12]
    families = plot.alt_text(diagrams.model_families())
    assert all(name in families for name in ("BERT", "GPT", "T5"))
    pipeline = plot.alt_text(diagrams.training_pipeline()).split("it reads:")[1]
    assert pipeline.index("pretraining") < pipeline.index("supervised") < pipeline.index("preference")
    assert "6 keys and values" in plot.alt_text(diagrams.kv_cache(cached=5))


def test_bpe_merges_follows_a_real_tokenizer():
    from llmbook.tokenizers import BPETokenizer

    tokenizer = BPETokenizer.train("low lower lowest newer wider " * 20, vocab_size=270)
    steps = tokenizer.merge_steps("lower")
    fig = diagrams.bpe_merges(steps)
    assert steps[0] == list("lower") and len(steps[-1]) < len(steps[0])
    assert f"in {len(steps) - 1} merges" in plot.alt_text(fig)
    with pytest.raises(ValueError, match="same word"):
        diagrams.bpe_merges([list("ab"), ["ac"]])
    with pytest.raises(ValueError, match="merges one pair"):
        diagrams.bpe_merges([list("abc"), ["abc"]])
