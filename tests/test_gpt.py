"""Tests of llmbook.models.GPT and llmbook.hf against Hugging Face's GPT2LMHeadModel."""
from __future__ import annotations

import math

import pytest
import torch
from transformers.generation.logits_process import TopKLogitsWarper, TopPLogitsWarper

from llmbook.hf import from_hf_gpt2, hf_gpt2_config, to_hf_gpt2
from llmbook.models import GPT, GPTConfig
from llmbook.generate import sample_logits
from llmbook.train import TrainConfig, Trainer

TINY = dict(vocab_size=61, block_size=24, n_layer=2, n_head=4, n_embd=32)


def _model(seed: int = 0, **overrides) -> GPT:
    torch.manual_seed(seed)
    return GPT(GPTConfig(**(TINY | overrides)))


def _ids(*shape, seed=0, vocab=TINY["vocab_size"]):
    return torch.randint(0, vocab, shape, generator=torch.Generator().manual_seed(seed))


def _assert_same_logits(ours: GPT, hf, idx: torch.Tensor) -> None:
    ours.eval(), hf.eval()
    with torch.no_grad():
        torch.testing.assert_close(ours(idx)[0], hf(idx).logits, atol=1e-5, rtol=0)


def test_hf_export_fresh_model_gives_identical_logits():
    model = _model()
    hf = to_hf_gpt2(model)
    assert hf.num_parameters() == model.num_params(non_embedding=False)
    assert hf.lm_head.weight.data_ptr() == hf.transformer.wte.weight.data_ptr()  # still tied
    _assert_same_logits(model, hf, _ids(3, TINY["block_size"]))


def test_hf_loss_and_gradients_match():
    model, idx = _model(1), _ids(2, 16, seed=1)
    hf = to_hf_gpt2(model)
    model.eval(), hf.eval()
    targets = torch.cat([idx[:, 1:], torch.full((2, 1), -1)], dim=1)  # HF shifts labels itself; -1 = ignore
    _, loss = model(idx, targets)
    hf_loss = hf(idx, labels=idx).loss
    torch.testing.assert_close(loss, hf_loss, atol=1e-6, rtol=0)
    loss.backward(), hf_loss.backward()
    torch.testing.assert_close(model.blocks[0].ff.fc1.weight.grad, hf.transformer.h[0].mlp.c_fc.weight.grad.t(),
                               atol=1e-6, rtol=0)
    torch.testing.assert_close(model.wte.weight.grad, hf.transformer.wte.weight.grad, atol=1e-6, rtol=0)


@pytest.mark.slow
def test_hf_export_after_training_gives_identical_logits():
    from llmbook.data import char_data

    tokenizer, train_ids, val_ids = char_data(max_chars=20_000)
    model = _model(2, vocab_size=tokenizer.vocab_size)
    before = model.wte.weight.detach().clone()
    config = TrainConfig(max_steps=15, batch_size=8, block_size=TINY["block_size"], warmup_steps=2, lr=3e-3,
                         eval_interval=None, progress=False)
    Trainer(model, train_ids, val_ids, config, device="cpu").train()
    assert not torch.equal(before, model.wte.weight)  # it did train
    hf = to_hf_gpt2(model)
    _assert_same_logits(model, hf, val_ids[: 3 * TINY["block_size"]].view(3, -1))


def test_hf_import_round_trips_the_state_dict_exactly():
    model = _model(3)
    back = from_hf_gpt2(to_hf_gpt2(model))
    assert back.config == model.config
    ours, theirs = model.state_dict(), back.state_dict()
    assert ours.keys() == theirs.keys()
    for name in ours:
        assert torch.equal(ours[name], theirs[name]), name
    assert back.lm_head.weight is back.wte.weight


def test_hf_import_of_a_fresh_hf_model_and_greedy_generation_match():
    from transformers import GPT2LMHeadModel

    torch.manual_seed(4)
    hf = GPT2LMHeadModel(hf_gpt2_config(GPTConfig(**TINY))).eval()
    model = from_hf_gpt2(hf).eval()
    prompt = _ids(2, 5, seed=4)
    _assert_same_logits(model, hf, prompt)
    theirs = hf.generate(prompt, max_new_tokens=12, do_sample=False, pad_token_id=0, attention_mask=torch.ones_like(prompt))
    ours = model.generate(prompt, 12, temperature=0)
    assert torch.equal(ours, theirs)


def test_hf_conversion_errors():
    with pytest.raises(ValueError, match="bias=True"):
        to_hf_gpt2(_model(bias=False))
    with pytest.raises(TypeError, match="expects an llmbook.models.GPT"):
        to_hf_gpt2(torch.nn.Linear(2, 2))
    hf = to_hf_gpt2(_model())
    hf.config.activation_function = "relu"
    with pytest.raises(ValueError, match="activation_function"):
        from_hf_gpt2(hf)


def test_gpt2_initialisation():
    model = _model(5, n_layer=4, n_embd=256, n_head=4, vocab_size=512, block_size=32)
    stds = {
        "wte": model.wte.weight.std().item(),
        "fc1": model.blocks[0].ff.fc1.weight.std().item(),
        "fc2": model.blocks[0].ff.fc2.weight.std().item(),
        "out_proj": model.blocks[1].attn.out_proj.weight.std().item(),
    }
    residual = 0.02 / math.sqrt(2 * 4)
    assert stds["wte"] == pytest.approx(0.02, rel=0.03) and stds["fc1"] == pytest.approx(0.02, rel=0.03)
    assert stds["fc2"] == pytest.approx(residual, rel=0.03) and stds["out_proj"] == pytest.approx(residual, rel=0.03)
    assert torch.all(model.blocks[0].attn.q_proj.bias == 0) and torch.all(model.ln_f.weight == 1)
    # initial loss ~ ln(vocab): the model starts out guessing uniformly
    _, loss = model(_ids(4, 32, vocab=512), _ids(4, 32, seed=9, vocab=512))
    assert abs(loss.item() - math.log(512)) < 0.1


def test_kv_cache_greedy_generation_equals_no_cache():
    model = _model(6).eval()
    prompt = _ids(3, 4, seed=6)
    new = TINY["block_size"] - 4
    with_cache = model.generate(prompt, new, temperature=0, use_cache=True)
    without = model.generate(prompt, new, temperature=0, use_cache=False)
    assert with_cache.shape == (3, TINY["block_size"])
    assert torch.equal(with_cache, without)
    # the cache and the full forward pass give the same logits position by position
    from llmbook.nn import KVCache

    cache, steps = KVCache(TINY["n_layer"]), []
    steps.append(model(with_cache[:, :4], kv_cache=cache)[0])
    for t in range(4, 10):
        steps.append(model(with_cache[:, t:t + 1], kv_cache=cache)[0])
    torch.testing.assert_close(torch.cat(steps, dim=1), model(with_cache[:, :10])[0], atol=1e-5, rtol=0)


def test_generation_beyond_block_size_and_long_prompts_are_cropped():
    model = _model(7).eval()
    block = TINY["block_size"]
    long_prompt = _ids(2, block + 9, seed=7)
    out = model.generate(long_prompt, 5, temperature=0, use_cache=False)
    assert torch.equal(out[:, : block + 9], long_prompt)  # the whole prompt is kept in the output
    cropped = model.generate(long_prompt[:, -block:], 5, temperature=0, use_cache=False)
    assert torch.equal(out[:, block + 9:], cropped[:, block:])  # ... but the model saw its last block_size tokens
    # with the cache, generation continues past block_size (the cache is rebuilt when full)
    cached = model.generate(long_prompt[:, :3], 3 * block, temperature=0, use_cache=True)
    plain = model.generate(long_prompt[:, :3], 3 * block, temperature=0, use_cache=False)
    assert cached.shape == (2, 3 + 3 * block)
    assert torch.equal(cached[:, : block + 1], plain[:, : block + 1])  # identical until the window is full


def test_sampling_is_reproducible_and_respects_top_k():
    model = _model(8).eval()
    prompt = _ids(4, 3, seed=8)
    a = model.generate(prompt, 20, temperature=0.8, top_k=5, generator=torch.Generator().manual_seed(0))
    b = model.generate(prompt, 20, temperature=0.8, top_k=5, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b)
    logits = torch.randn(4, 61, generator=torch.Generator().manual_seed(1))
    for _ in range(20):
        token = sample_logits(logits, top_k=3, generator=torch.Generator().manual_seed(_))
        top3 = logits.topk(3).indices
        assert (top3 == token).any(dim=-1).all()


@pytest.mark.parametrize("top_k,top_p", [(1, None), (7, None), (None, 0.3), (None, 0.9), (10, 0.5)])
def test_top_k_top_p_filters_agree_with_hugging_face(top_k, top_p):
    logits = torch.randn(5, 61, generator=torch.Generator().manual_seed(2)) * 3
    expected = logits.clone()
    if top_k is not None:
        expected = TopKLogitsWarper(top_k)(None, expected)
    if top_p is not None:
        expected = TopPLogitsWarper(top_p)(None, expected)
    allowed = torch.isfinite(expected)
    for seed in range(30):  # every sampled token is one HF would allow; sampling covers more than one
        token = sample_logits(logits, 1.0, top_k, top_p, torch.Generator().manual_seed(seed))
        assert allowed.gather(1, token).all()


def test_bad_inputs_raise_clear_errors():
    model = _model(9)
    with pytest.raises(ValueError, match="token ids must be in"):
        model(torch.tensor([[0, 61]]))
    with pytest.raises(ValueError, match="token ids must be in"):
        model.generate(torch.tensor([[-1, 3]]), 2)
    with pytest.raises(ValueError, match="exceeds block_size=24"):
        model(_ids(1, 25))
    with pytest.raises(ValueError, match=r"\(batch, seq\)"):
        model(torch.tensor([1, 2, 3]))
    with pytest.raises(ValueError, match="integer token ids"):
        model(torch.zeros(1, 3))
    with pytest.raises(ValueError, match="targets must have the shape"):
        model(_ids(2, 5), _ids(2, 4))
    with pytest.raises(ValueError, match="temperature"):
        model.generate(_ids(1, 2), 2, temperature=-1)
    with pytest.raises(ValueError, match="top_k"):
        model.generate(_ids(1, 2), 2, top_k=0)
    with pytest.raises(ValueError, match="top_p"):
        model.generate(_ids(1, 2), 2, top_p=1.5)
    with pytest.raises(ValueError, match="max_new_tokens"):
        model.generate(_ids(1, 2), -1)
    with pytest.raises(ValueError, match="divisible"):
        GPTConfig(n_embd=30, n_head=4)
    with pytest.raises(ValueError, match="positive int"):
        GPTConfig(vocab_size=0)
    with pytest.raises(ValueError, match="dropout"):
        GPTConfig(dropout=1.0)


# ----------------------------------------------------------------------------------------------------------
# The variants of chapter 3: rotary positions, post-LN, an untied output layer
# ----------------------------------------------------------------------------------------------------------

VARIANTS = [dict(position="rope"), dict(norm_first=False), dict(tie_weights=False),
            dict(position="rope", norm_first=False, tie_weights=False)]


@pytest.mark.parametrize("options", VARIANTS)
def test_variant_structure_and_initialisation(options):
    model = _model(10, **options)
    names = set(model.state_dict())
    assert ("wpe.weight" in names) == (options.get("position", "learned") == "learned")
    assert (model.rotary is not None) == (options.get("position") == "rope")
    norm_first = options.get("norm_first", True)
    assert all(block.norm_first == norm_first for block in model.blocks)
    assert isinstance(model.ln_f, torch.nn.LayerNorm) == norm_first  # post-LN blocks end with their own norm
    assert (model.lm_head.weight is model.wte.weight) == options.get("tie_weights", True)
    # GPT-2's residual scaling is a pre-LN device; post-LN keeps std 0.02 everywhere
    wide = _model(10, **options | dict(n_layer=4, n_embd=256, vocab_size=512, block_size=32))
    expected = 0.02 / math.sqrt(2 * 4) if norm_first else 0.02
    assert wide.blocks[0].ff.fc2.weight.std().item() == pytest.approx(expected, rel=0.05)
    _, loss = wide(_ids(4, 32, vocab=512), _ids(4, 32, seed=9, vocab=512))
    assert abs(loss.item() - math.log(512)) < 0.15
    embeddings = (0 if model.wpe is None else model.wpe.weight.numel()) + (
        0 if model.config.tie_weights else model.wte.weight.numel())
    assert model.num_params() == model.num_params(non_embedding=False) - embeddings


@pytest.mark.parametrize("options", VARIANTS)
def test_variant_kv_cache_generation_and_logits_match_the_forward_pass(options):
    model = _model(11, **options).eval()
    prompt = _ids(2, 5, seed=11)
    new = TINY["block_size"] - 5
    cached, cached_logits = model.generate(prompt, new, temperature=0, use_cache=True, return_logits=True)
    plain, plain_logits = model.generate(prompt, new, temperature=0, use_cache=False, return_logits=True)
    assert torch.equal(cached, plain) and cached_logits.shape == (2, new, TINY["vocab_size"])
    torch.testing.assert_close(cached_logits, plain_logits, atol=1e-5, rtol=0)
    with torch.no_grad():  # step t's logits are the forward pass's at the position before token t
        torch.testing.assert_close(plain_logits, model(cached[:, :-1])[0][:, 4:], atol=1e-5, rtol=0)
    assert model.generate(prompt, 0, return_logits=True)[1].shape == (2, 0, TINY["vocab_size"])


@pytest.mark.parametrize("options", [{}, dict(position="rope", norm_first=False)])
def test_hidden_states_with_attention_weights(options):
    model = _model(12, **options).eval()
    idx = _ids(3, 9, seed=12)
    with torch.no_grad():
        h, weights = model.hidden_states(idx, need_weights=True)
        torch.testing.assert_close(h, model.hidden_states(idx), atol=1e-5, rtol=0)
    assert len(weights) == TINY["n_layer"] and weights[0].shape == (3, TINY["n_head"], 9, 9)
    for w in weights:
        torch.testing.assert_close(w.sum(-1), torch.ones(3, TINY["n_head"], 9))
        assert torch.all(w.triu(diagonal=1) == 0)  # causal: nothing on the future
    # layer 0 by hand: softmax of the scaled scores of the normed embeddings, causal mask
    block, x = model.blocks[0], model.wte(idx) + (0 if model.wpe is None else model.wpe.weight[:9])
    h0 = block.norm1(x) if model.config.norm_first else x
    q, k = (block.attn._split_heads(proj(h0)) for proj in (block.attn.q_proj, block.attn.k_proj))
    if model.rotary is not None:
        q, k = model.rotary(q, k)
    scores = (q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])).masked_fill(~torch.ones(9, 9).tril().bool(), -math.inf)
    torch.testing.assert_close(weights[0], scores.softmax(-1), atol=1e-5, rtol=0)


def test_hf_export_refuses_variants_without_a_gpt2_equivalent_and_round_trips_an_untied_head():
    with pytest.raises(ValueError, match="learns its positions"):
        to_hf_gpt2(_model(position="rope"))
    with pytest.raises(ValueError, match="pre-LN"):
        to_hf_gpt2(_model(norm_first=False))
    model = _model(13, tie_weights=False)
    hf = to_hf_gpt2(model)
    assert not hf.config.tie_word_embeddings
    assert hf.lm_head.weight.data_ptr() != hf.transformer.wte.weight.data_ptr()
    _assert_same_logits(model, hf, _ids(2, 10, seed=13))
    back = from_hf_gpt2(hf)
    assert back.config == model.config and back.lm_head.weight is not back.wte.weight
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, back.state_dict()[name]), name


def test_variant_config_errors():
    with pytest.raises(ValueError, match="position must be one of"):
        GPTConfig(position="sinusoidal")
    with pytest.raises(ValueError, match="must be even"):
        GPTConfig(n_embd=36, n_head=12, position="rope")
    with pytest.raises(ValueError, match="norm_first must be True or False"):
        GPTConfig(norm_first="post")
    with pytest.raises(ValueError, match="init must be one of"):
        GPTConfig(init="xavier")


@pytest.mark.parametrize("tie_weights", [True, False])
def test_pytorch_initialisation_keeps_each_layers_default(tie_weights):
    model = _model(15, n_layer=2, n_embd=256, n_head=4, vocab_size=512, block_size=32, init="pytorch",
                   tie_weights=tie_weights)
    bound = 1 / math.sqrt(256)  # nn.Linear: U(±1/√fan_in), weights and biases
    fc1 = model.blocks[0].ff.fc1
    assert fc1.weight.abs().max() <= bound and fc1.weight.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.03)
    assert fc1.bias.abs().max() <= bound and fc1.bias.abs().max() > 0
    fc2 = model.blocks[1].ff.fc2  # no residual scaling
    assert fc2.weight.std().item() == pytest.approx(1 / math.sqrt(3 * 1024), rel=0.03)
    if not tie_weights:  # nn.Embedding: N(0, 1); a tied matrix is initialised as the output layer
        assert model.wte.weight.std().item() == pytest.approx(1.0, rel=0.03)
    assert torch.all(model.ln_f.weight == 1) and torch.all(model.ln_f.bias == 0)
    assert model.wpe.weight.std().item() == pytest.approx(1.0, rel=0.05)


def test_trainer_at_a_constant_learning_rate_is_plain_adam():
    """Chapter 3 trains with Trainer(warmup_steps=0, min_lr=lr, weight_decay=0, grad_clip=None): Adam."""
    from llmbook.train import get_batch

    data = _ids(2000, seed=14)
    config = TrainConfig(max_steps=5, batch_size=4, block_size=16, lr=3e-3, min_lr=3e-3, warmup_steps=0,
                         weight_decay=0.0, betas=(0.9, 0.999), grad_clip=None, eval_interval=None, progress=False,
                         seed=14)
    trained = _model(14, position="rope", tie_weights=False)
    history = Trainer(trained, data, None, config, device="cpu").train()
    plain = _model(14, position="rope", tie_weights=False)
    optimizer = torch.optim.Adam(plain.parameters(), lr=3e-3)
    generator, losses = torch.Generator().manual_seed(14), []
    for _ in range(5):
        _, loss = plain(*get_batch(data, 16, 4, generator))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert history.lr == [3e-3] * 5
    assert history.train_loss == pytest.approx(losses, abs=1e-6)
    for a, b in zip(trained.parameters(), plain.parameters()):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0)
