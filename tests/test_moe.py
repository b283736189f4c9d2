"""The mixture-of-experts layer against Hugging Face's Mixtral sparse-MoE block (outputs and router
logits), the load-balancing loss against Hugging Face's ``load_balancing_loss_func``, a hand-worked
routing, the MoE GPT, and clear errors."""
from __future__ import annotations

import pytest
import torch

from llmbook.hf import from_hf_moe, to_hf_moe
from llmbook.models import GPT, GPTConfig
from llmbook.nn import (FeedForward, MixtureOfExperts, experts_of, load_balancing_loss,
                        moe_aux_loss, moe_objective, use_experts)


def _mixtral_block(d_model=16, d_ff=24, n_experts=4, top_k=2, seed=0):
    from transformers import MixtralConfig
    from transformers.models.mixtral.modeling_mixtral import MixtralSparseMoeBlock

    config = MixtralConfig(hidden_size=d_model, intermediate_size=d_ff, num_local_experts=n_experts,
                           num_experts_per_tok=top_k, router_jitter_noise=0.0,
                           experts_implementation="eager")
    torch.manual_seed(seed)
    block = MixtralSparseMoeBlock(config).eval()
    with torch.no_grad():
        for p in block.parameters():
            p.normal_(0, 0.3)  # HF leaves them empty until a model initialises them
    return block


@pytest.mark.parametrize("n_experts, top_k", [(4, 2), (8, 2), (4, 1), (3, 3)])
def test_from_hf_moe_equals_mixtral(n_experts, top_k):
    block = _mixtral_block(n_experts=n_experts, top_k=top_k)
    ours = from_hf_moe(block)
    x = torch.randn(3, 7, 16, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = block(x.clone())
        hf_logits, hf_weights, hf_experts = block.gate(x.reshape(-1, 16))
        got = ours(x)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(ours.router_logits, hf_logits, atol=1e-5, rtol=0)
    _, weights, experts = ours.route(x.reshape(-1, 16))
    assert torch.equal(experts, hf_experts)
    torch.testing.assert_close(weights, hf_weights, atol=1e-6, rtol=0)
    # and back: the exported block gives the same outputs as the original
    with torch.no_grad():
        torch.testing.assert_close(to_hf_moe(ours)(x.clone()), expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("top_k", [1, 2])
def test_load_balancing_loss_equals_hf(top_k):
    from transformers.models.mixtral.modeling_mixtral import load_balancing_loss_func

    generator = torch.Generator().manual_seed(0)
    layers = tuple(torch.randn(20, 6, generator=generator) * 2 for _ in range(3))
    expected = load_balancing_loss_func(layers, num_experts=6, top_k=top_k)
    torch.testing.assert_close(load_balancing_loss(list(layers), top_k), expected,
                               atol=1e-6, rtol=0)
    torch.testing.assert_close(load_balancing_loss(layers[0], top_k),
                               load_balancing_loss_func(layers[:1], num_experts=6, top_k=top_k))


def test_load_balancing_loss_by_hand():
    # 4 tokens, 2 experts, top-1. Tokens 0-2 choose expert 0, token 3 expert 1: f = (3/4, 1/4).
    probs = torch.tensor([[0.9, 0.1], [0.8, 0.2], [0.6, 0.4], [0.3, 0.7]])
    mean_prob = probs.mean(0)  # P = (0.65, 0.35)
    expected = 2 * (0.75 * mean_prob[0] + 0.25 * mean_prob[1])
    torch.testing.assert_close(load_balancing_loss(probs.log(), 1), expected)
    # an even load (half the tokens each way, mirrored probabilities) gives exactly top_k = 1
    even = torch.tensor([[1.0, 0.0], [0.0, 1.0]]).repeat(5, 1)
    torch.testing.assert_close(load_balancing_loss(even, 1), torch.tensor(1.0))
    # one expert taking every token with certainty gives n_experts * top_k
    collapsed = torch.tensor([[50.0, 0.0]]).repeat(6, 1)
    torch.testing.assert_close(load_balancing_loss(collapsed, 1), torch.tensor(2.0))


def test_routing_by_hand():
    moe = MixtureOfExperts(d_model=4, d_ff=3, n_experts=3, top_k=2)
    x = torch.randn(5, 4, generator=torch.Generator().manual_seed(2))
    out = moe(x)
    probs = moe.router(x).softmax(-1)
    for t in range(5):
        top = probs[t].topk(2)
        expected = sum(w / top.values.sum() * moe.experts[int(e)](x[t])
                       for w, e in zip(top.values, top.indices))
        torch.testing.assert_close(out[t], expected, atol=1e-6, rtol=0)
    load = moe.expert_load()
    assert load.shape == (3,) and torch.isclose(load.sum(), torch.tensor(1.0))


def test_one_expert_is_a_dense_swiglu():
    moe = MixtureOfExperts(8, 16, n_experts=1, top_k=1)
    dense = FeedForward(8, 16, activation="swiglu", bias=False)
    dense.load_state_dict({k.removeprefix("experts.0."): v for k, v in moe.state_dict().items()
                           if k.startswith("experts.0.")})
    x = torch.randn(2, 5, 8)
    torch.testing.assert_close(moe(x), dense(x))


def test_moe_gpt_trains_with_the_aux_loss():
    torch.manual_seed(0)
    config = GPTConfig(vocab_size=30, block_size=16, n_layer=2, n_head=2, n_embd=16)
    model = use_experts(GPT(config), n_experts=4, top_k=2, d_ff=8)
    assert len(experts_of(model)) == 2
    x = torch.randint(0, 30, (3, 16))
    objective = moe_objective(aux_weight=0.5)
    loss = objective(model, x, x)
    lm_loss = model(x, x)[1]
    torch.testing.assert_close(loss, lm_loss + 0.5 * moe_aux_loss(model))
    loss.backward()
    assert model.blocks[0].ff.router.weight.grad.abs().sum() > 0  # the router learns
    model.eval()  # evaluation reports the language-model loss alone
    torch.testing.assert_close(objective(model, x, x), model(x, x)[1])


def test_moe_bad_inputs():
    with pytest.raises(ValueError, match="top_k=3 is more than n_experts=2"):
        MixtureOfExperts(8, 16, n_experts=2, top_k=3)
    with pytest.raises(ValueError, match="n_experts must be a positive int"):
        MixtureOfExperts(8, 16, n_experts=0, top_k=1)
    with pytest.raises(ValueError, match="d_model=8"):
        MixtureOfExperts(8, 16, 2, 1)(torch.zeros(2, 6))
    with pytest.raises(ValueError, match="no router logits yet"):
        MixtureOfExperts(8, 16, 2, 1).aux_loss()
    with pytest.raises(ValueError, match="has no MixtureOfExperts layer"):
        moe_aux_loss(torch.nn.Linear(2, 2))
    with pytest.raises(TypeError, match="needs a model with .blocks"):
        use_experts(torch.nn.Linear(2, 2), 2, 1, 4)
    with pytest.raises(TypeError, match="MixtralSparseMoeBlock"):
        from_hf_moe(torch.nn.Linear(2, 2))
