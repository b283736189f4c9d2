"""Pairwise LLM-as-judge (llmbook.evaluate.judges): margins read by hand, and the symmetries of
swapping the two replies, on a tiny random GPT-2 with GPT-2's real tokenizer."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from llmbook import data
from llmbook.evaluate.judges import hh_pairs, judge_pairs, judge_prompt

PAIRS = [
    {"conversation": "Human: How do I boil an egg?",
     "chosen": "Put it in boiling water for 8 minutes.", "rejected": "Eggs."},
    {"conversation": "Human: Name a colour.", "chosen": "Blue.",
     "rejected": "I would rather not say."},
    {"conversation": "Human: What is 2 + 2?\n\nAssistant: Let me think.\n\nHuman: Well?",
     "chosen": "It is 4.", "rejected": "It is 5, I believe, but please check."},
    {"conversation": "Human: Suggest a name for a cat.", "chosen": "Whiskers.", "rejected": "Tom."},
    {"conversation": "Human: Is the sun a star?", "chosen": "Yes, it is a star.",
     "rejected": "No, it is a planet that shines."},
]


@pytest.fixture(scope="module")
def tiny_gpt2():
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    config = GPT2Config(n_layer=2, n_head=2, n_embd=32, n_positions=256, vocab_size=50257)
    return GPT2LMHeadModel(config).eval()


def swapped(pairs):
    return [p | {"chosen": p["rejected"], "rejected": p["chosen"]} for p in pairs]


def test_margins_equal_log_probs_read_by_hand(tiny_gpt2, gpt2_tokenizer):
    result = judge_pairs(tiny_gpt2, gpt2_tokenizer, PAIRS, batch_size=3)
    a, b = gpt2_tokenizer.encode(" A"), gpt2_tokenizer.encode(" B")
    assert len(a) == len(b) == 1
    for i, pair in enumerate(PAIRS):
        for order, (first, second) in enumerate([("chosen", "rejected"), ("rejected", "chosen")]):
            prompt = judge_prompt(pair["conversation"], pair[first], pair[second])
            assert prompt == result.prompts[2 * i + order] and prompt.endswith("B.\nAnswer:")
            ids = torch.tensor([gpt2_tokenizer.encode(prompt)])
            with torch.no_grad():
                logprobs = tiny_gpt2(ids).logits[0, -1].log_softmax(-1)
            expected = float(logprobs[a[0]] - logprobs[b[0]])
            assert result.margins[i, order] == pytest.approx(expected, abs=1e-5)
    verdicts = result.picks_chosen
    assert result.agreement.estimate == pytest.approx(verdicts.mean())
    assert result.says_a.estimate == pytest.approx(result.says_a_verdicts.mean())


def test_swapping_the_replies_mirrors_every_figure(tiny_gpt2, gpt2_tokenizer):
    original = judge_pairs(tiny_gpt2, gpt2_tokenizer, PAIRS)
    mirror = judge_pairs(tiny_gpt2, gpt2_tokenizer, swapped(PAIRS))
    np.testing.assert_allclose(mirror.margins, original.margins[:, ::-1], atol=1e-5)
    assert (original.margins != 0).all()  # no ties, so agreement exactly mirrors
    assert mirror.agreement.estimate == pytest.approx(1 - original.agreement.estimate)
    assert mirror.swap_averaged_agreement.estimate == pytest.approx(
        1 - original.swap_averaged_agreement.estimate)
    for name in ("says_a", "consistency", "picks_longer"):  # about the judge, not the humans
        assert getattr(mirror, name).estimate == pytest.approx(getattr(original, name).estimate)
    assert mirror.humans_pick_longer.estimate == pytest.approx(
        1 - original.humans_pick_longer.estimate)


def test_a_judge_that_always_says_a(gpt2_tokenizer):
    a_id = gpt2_tokenizer.encode(" A")[0]

    class AlwaysA(torch.nn.Module):
        def forward(self, ids: torch.Tensor) -> torch.Tensor:  # (batch, seq) -> (batch, seq, vocab)
            logits = torch.zeros(*ids.shape, 50257)
            logits[..., a_id] = 5.0
            return logits

    result = judge_pairs(AlwaysA(), gpt2_tokenizer, PAIRS)
    assert result.says_a.estimate == 1.0 and result.consistency.estimate == 0.0
    assert result.agreement.estimate == 0.5  # right once per pair: when the chosen is shown first
    assert result.picks_longer.estimate == 0.5
    assert result.swap_averaged_agreement.estimate == 0.0  # margins equal: a tie, counted as "B"


def test_hh_pairs_split_real_dialogues():
    rows = data.load("hh_rlhf", "test")[:40]
    pairs = hh_pairs(rows)
    assert 30 <= len(pairs) <= 40
    for pair in pairs:
        assert pair["conversation"].startswith("Human:")
        assert "\n\nAssistant:" not in pair["chosen"] and pair["chosen"] != pair["rejected"]
    short = hh_pairs(rows, max_chars=300)
    assert all(len(p["conversation"]) + len(p["chosen"]) + len(p["rejected"]) <= 300 for p in short)


@pytest.mark.parametrize("pairs, match", [
    ([], "non-empty list"),
    ([{"conversation": "Human: hi", "chosen": "x"}], r"lacks \['rejected'\]"),
    ([{"conversation": "Human: hi", "chosen": "x", "rejected": "x"}], "same chosen and rejected"),
])
def test_bad_pairs(tiny_gpt2, gpt2_tokenizer, pairs, match):
    with pytest.raises(ValueError, match=match):
        judge_pairs(tiny_gpt2, gpt2_tokenizer, pairs)


def test_bad_rows():
    with pytest.raises(ValueError, match="'chosen' and 'rejected'"):
        hh_pairs([{"chosen": "Human: hi"}])
    with pytest.raises(ValueError, match="no '\\\\n\\\\nAssistant:' turn"):
        hh_pairs([{"chosen": "Human: hi", "rejected": "Human: ho"}])
