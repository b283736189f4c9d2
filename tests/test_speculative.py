"""Speculative decoding gives exactly the target's greedy tokens (llmbook.generate.generate), for
every k and every draft, including one that is always wrong."""
from __future__ import annotations

import copy

import pytest
import torch

from llmbook.generate import generate, speculative_generate
from llmbook.models import GPT, GPTConfig

VOCAB = 40


def gpt(seed: int, n_layer: int = 2, n_embd: int = 32, tie: bool = True, block: int = 96) -> GPT:
    torch.manual_seed(seed)
    model = GPT(GPTConfig(vocab_size=VOCAB, block_size=block, n_layer=n_layer, n_head=2,
                          n_embd=n_embd, tie_weights=tie))
    with torch.no_grad():  # larger weights than GPT-2's init: peaked, varied predictions
        for p in model.parameters():
            if p.dim() == 2:
                p.mul_(8)
    return model.eval()


def wrong_draft(target: GPT) -> GPT:
    """The target with its output rows rolled by one: its choice is always the target's + 1."""
    draft = copy.deepcopy(target)
    with torch.no_grad():
        draft.lm_head.weight.copy_(torch.roll(target.lm_head.weight, shifts=1, dims=0))
    return draft


def noisy_draft(target: GPT, noise: float) -> GPT:
    """The target with noise on every weight matrix: it agrees with the target only sometimes."""
    draft = copy.deepcopy(target)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in draft.parameters():
            if p.dim() == 2:
                p.add_(torch.randn(p.shape, generator=generator) * noise * p.std())
    return draft


PROMPT = torch.tensor([[3, 1, 4, 1, 5, 9, 2, 6]])


@pytest.mark.parametrize("k", [1, 2, 4, 7])
def test_equals_the_targets_greedy_tokens_for_every_k(k):
    target = gpt(0, n_layer=3, n_embd=48)
    expected = generate(target, PROMPT, 60)
    for draft in (gpt(1, n_layer=1, n_embd=32), noisy_draft(target, 0.5)):
        result = speculative_generate(target, draft, PROMPT, 60, k=k)
        assert torch.equal(result.tokens, expected)
    assert 0 < result.accepted < result.proposed  # the noisy draft is right only sometimes
    assert result.rounds + result.accepted == 60  # every round adds its accepted guesses + 1
    assert len(result.accepted_per_round) == result.rounds
    assert all(0 <= n <= k for n in result.accepted_per_round)


@pytest.mark.parametrize("k", [1, 3, 5])
def test_a_draft_that_is_always_wrong_changes_nothing_but_the_time(k):
    target = gpt(2, tie=False)
    result = speculative_generate(target, wrong_draft(target), PROMPT, 40, k=k)
    assert torch.equal(result.tokens, generate(target, PROMPT, 40))
    assert result.accepted == 0 and result.rounds == 40 and result.acceptance_rate == 0.0
    assert result.tokens_per_round == 1.0


def test_a_draft_equal_to_the_target_is_always_accepted():
    target = gpt(3)
    result = speculative_generate(target, copy.deepcopy(target), PROMPT, 50, k=4)
    assert torch.equal(result.tokens, generate(target, PROMPT, 50))
    assert result.acceptance_rate == 1.0
    assert result.rounds == 10  # 5 tokens per round: 4 guesses and the target's own
    assert result.tokens_per_round == 5.0


def test_edges_zero_and_one_new_token_and_a_full_context():
    target, draft = gpt(4), gpt(5, n_layer=1)
    assert torch.equal(speculative_generate(target, draft, PROMPT, 0).tokens, PROMPT)
    one = speculative_generate(target, draft, PROMPT, 1, k=4)
    assert torch.equal(one.tokens, generate(target, PROMPT, 1)) and one.proposed == 0
    n_new = target.config.block_size - PROMPT.size(1)
    assert torch.equal(speculative_generate(target, draft, PROMPT, n_new, k=3).tokens,
                       generate(target, PROMPT, n_new))


def test_bad_input_is_a_clear_error():
    target, draft = gpt(6), gpt(7, n_layer=1)
    with pytest.raises(ValueError, match="k \\(draft tokens per round\\) must be an int >= 1"):
        speculative_generate(target, draft, PROMPT, 5, k=0)
    with pytest.raises(ValueError, match="one non-empty prompt"):
        speculative_generate(target, draft, PROMPT.repeat(2, 1), 5)
    with pytest.raises(ValueError, match="block_size"):
        speculative_generate(target, draft, PROMPT, 200)
    small = GPT(GPTConfig(vocab_size=VOCAB + 1, block_size=96, n_layer=1, n_head=1, n_embd=16))
    with pytest.raises(ValueError, match="vocabulary"):
        speculative_generate(target, small.eval(), PROMPT, 5)
    with pytest.raises(ValueError, match="training mode"):
        speculative_generate(target, draft.train(), PROMPT, 5)
    with pytest.raises(TypeError, match="book's GPT"):
        speculative_generate(target, torch.nn.Linear(2, 2), PROMPT, 5)
