"""Tests of the MLP (Bengio 2003) and RNN / LSTM language models in llmbook.models."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from llmbook import data
from llmbook.evaluate import strided_perplexity
from llmbook.models import MLPLM, RNNLM, MLPLMConfig, RNNLMConfig
from llmbook.ngram import Vocabulary
from llmbook.train import TrainConfig, Trainer

V = 23


def _ids(*shape, seed=0):
    return torch.randint(0, V, shape, generator=torch.Generator().manual_seed(seed))


def _mlp(seed=0, **kw) -> MLPLM:
    torch.manual_seed(seed)
    return MLPLM(MLPLMConfig(vocab_size=V, **({"context_size": 3, "n_embd": 8, "n_hidden": 16} | kw)))


def _rnn(cell="lstm", seed=0, **kw) -> RNNLM:
    torch.manual_seed(seed)
    return RNNLM(RNNLMConfig(vocab_size=V, cell=cell, **({"n_embd": 8, "n_hidden": 16} | kw)))


@pytest.fixture
def one_thread():
    """Tiny models train fastest on one thread (two threads on a busy 2-core machine mostly wait for each other)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def shakespeare_ids() -> tuple[int, torch.Tensor]:
    text = data.load("tinyshakespeare", "train")[:60_000]
    vocab = Vocabulary(text)
    return len(vocab), torch.tensor(vocab.encode(text))


# ---------------------------------------------------------------- MLP


@pytest.mark.parametrize("direct", [False, True])
def test_mlp_shapes_and_loss(direct):
    model = _mlp(direct=direct)
    idx, targets = _ids(4, 10), _ids(4, 10, seed=1)
    logits, loss = model(idx)
    assert logits.shape == (4, 10, V) and loss is None
    logits, loss = model(idx, targets)
    torch.testing.assert_close(loss, F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1)))
    assert math.isclose(model.num_params(), sum(p.numel() for p in model.parameters()))
    assert (model.direct is not None) == direct


def test_mlp_equals_the_bengio_formula():
    model = _mlp(direct=True).eval()
    idx = _ids(1, 7)
    c = model.config.context_size
    padded = torch.cat([torch.full((c - 1,), model.pad_id), idx[0]])
    for t in range(idx.size(1)):
        x = model.embed(padded[t: t + c]).flatten()  # [C(w_{t-c+1}); ...; C(w_t)]
        y = model.out.bias + model.direct.weight @ x + model.out.weight @ torch.tanh(model.hidden.weight @ x + model.hidden.bias)
        torch.testing.assert_close(model(idx)[0][0, t], y)


def test_mlp_sees_exactly_its_window():
    model = _mlp(context_size=3).eval()
    idx = _ids(1, 12)
    changed = idx.clone()
    changed[0, 4] = (changed[0, 4] + 1) % V
    a, b = model(idx)[0][0], model(changed)[0][0]
    torch.testing.assert_close(a[:4], b[:4])  # the past does not see the future
    assert not torch.allclose(a[4:7], b[4:7])  # positions 4, 5, 6 have token 4 in their window of 3
    torch.testing.assert_close(a[7:], b[7:])  # from position 7 on, token 4 has left the window


def test_mlp_strided_evaluation_gives_every_token_its_full_window():
    model = _mlp(context_size=4).eval()
    ids = _ids(200, seed=3)
    # direct: every token t >= 1 scored from its exact window (with padding before the start)
    logits = model(ids[None])[0][0]
    direct = F.cross_entropy(logits[:-1], ids[1:])
    window = 32
    strided = strided_perplexity(model, ids, window=window, stride=window - 4)
    assert strided["n_tokens"] == len(ids) - 1
    assert strided["ppl"] == pytest.approx(math.exp(direct.item()), rel=1e-5)


# ---------------------------------------------------------------- RNN and LSTM


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
@pytest.mark.parametrize("n_layer", [1, 2])
def test_rnn_shapes_and_state(cell, n_layer):
    model = _rnn(cell, n_layer=n_layer).eval()
    idx = _ids(3, 9)
    logits, loss = model(idx, _ids(3, 9, seed=2))
    assert logits.shape == (3, 9, V) and loss.ndim == 0
    # reading in two chunks with the carried state equals reading at once
    first, state = model.run(idx[:, :4])
    second, _ = model.run(idx[:, 4:], state)
    torch.testing.assert_close(torch.cat([first, second], dim=1), logits)
    h = state[0] if cell == "lstm" else state
    assert h.shape == (n_layer, 3, 16)


def test_lstm_step_equals_the_gate_equations():
    model = _rnn("lstm").eval()
    idx = _ids(1, 2)
    _, (h1, c1) = model.run(idx[:, :1])
    logits, (h2, c2) = model.run(idx[:, 1:], (h1, c1))
    rnn = model.rnn
    z = rnn.weight_ih_l0 @ model.embed(idx[0, 1]) + rnn.bias_ih_l0 + rnn.weight_hh_l0 @ h1[0, 0] + rnn.bias_hh_l0
    i, f, g, o = z.chunk(4)  # PyTorch's gate order
    c = torch.sigmoid(f) * c1[0, 0] + torch.sigmoid(i) * torch.tanh(g)
    h = torch.sigmoid(o) * torch.tanh(c)
    torch.testing.assert_close(c2[0, 0], c)
    torch.testing.assert_close(h2[0, 0], h)
    torch.testing.assert_close(logits[0, 0], model.out.weight @ h + model.out.bias)
    # forget-gate bias starts at 1 (remember by default)
    assert torch.all(rnn.bias_ih_l0[16:32] == 1) and torch.all(rnn.bias_hh_l0[16:32] == 0)


def test_elman_rnn_step_equals_the_tanh_recurrence():
    model = _rnn("rnn").eval()
    idx = _ids(1, 3)
    logits, _ = model.run(idx)
    h = torch.zeros(16)
    for t in range(3):
        r = model.rnn
        h = torch.tanh(r.weight_ih_l0 @ model.embed(idx[0, t]) + r.bias_ih_l0 + r.weight_hh_l0 @ h + r.bias_hh_l0)
        torch.testing.assert_close(logits[0, t], model.out.weight @ h + model.out.bias)


def test_tied_weights_share_one_matrix():
    model = _rnn("lstm", n_embd=16, n_hidden=16, tie_weights=True)
    assert model.out.weight is model.embed.weight


# ---------------------------------------------------------------- training and generation


@pytest.mark.parametrize("make", [
    lambda v: MLPLM(MLPLMConfig(v, context_size=6, n_embd=16, n_hidden=64)),
    lambda v: RNNLM(RNNLMConfig(v, cell="lstm", n_embd=32, n_hidden=64)),
], ids=["mlp", "lstm"])
def test_loss_decreases_on_real_text(shakespeare_ids, make, one_thread):
    vocab_size, ids = shakespeare_ids
    torch.manual_seed(0)
    model = make(vocab_size)
    trainer = Trainer(model, ids, None, TrainConfig(max_steps=60, batch_size=16, block_size=32, lr=1e-2,
                                                   warmup_steps=3, eval_interval=None, progress=False), device="cpu")
    history = trainer.train()
    first, last = history.train_loss[0], sum(history.train_loss[-5:]) / 5
    assert first == pytest.approx(math.log(vocab_size), abs=0.35)  # an untrained model is near uniform
    assert last < first - 0.7  # it learns character statistics within a few dozen steps


@pytest.mark.parametrize("model", [_mlp(), _rnn("lstm"), _rnn("rnn")], ids=["mlp", "lstm", "rnn"])
def test_generate_shapes_and_reproducibility(model):
    model.eval()
    prompt = _ids(2, 5)
    a = model.generate(prompt, 7, generator=torch.Generator().manual_seed(0))
    b = model.generate(prompt, 7, generator=torch.Generator().manual_seed(0))
    assert a.shape == (2, 12) and torch.equal(a, b) and torch.equal(a[:, :5], prompt)
    greedy = model.generate(prompt, 3, temperature=0)
    logits, _ = model(prompt) if isinstance(model, MLPLM) else model(prompt)
    assert torch.equal(greedy[:, 5], logits[:, -1].argmax(-1))
    with pytest.raises(ValueError, match="max_new_tokens must be a non-negative int"):
        model.generate(prompt, -1)


def test_ignore_index_in_targets():
    model = _rnn("rnn")
    idx, targets = _ids(2, 6), _ids(2, 6, seed=5)
    masked = targets.clone()
    masked[:, :3] = -1
    logits, loss = model(idx, masked)
    torch.testing.assert_close(loss, F.cross_entropy(logits[:, 3:].reshape(-1, V), targets[:, 3:].reshape(-1)))


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("kwargs, match", [
    ({"vocab_size": 0}, "vocab_size must be a positive int"),
    ({"vocab_size": 10, "context_size": 0}, "context_size must be a positive int"),
    ({"vocab_size": 10, "dropout": 1.0}, r"dropout must be in \[0, 1\)"),
])
def test_bad_mlp_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MLPLMConfig(**kwargs)


@pytest.mark.parametrize("kwargs, match", [
    ({"vocab_size": 10, "cell": "gru"}, "unknown cell 'gru'"),
    ({"vocab_size": 10, "n_layer": 0}, "n_layer must be a positive int"),
    ({"vocab_size": 10, "dropout": -0.1}, r"dropout must be in \[0, 1\)"),
    ({"vocab_size": 10, "n_embd": 8, "n_hidden": 16, "tie_weights": True}, "tie_weights needs n_embd == n_hidden"),
])
def test_bad_rnn_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RNNLMConfig(**kwargs)


@pytest.mark.parametrize("model", [_mlp(), _rnn()], ids=["mlp", "lstm"])
def test_bad_inputs_to_forward(model):
    with pytest.raises(ValueError, match="add a batch dimension"):
        model(_ids(5))
    with pytest.raises(ValueError, match=r"token ids must be in \[0, vocab_size=23\)"):
        model(torch.tensor([[0, 23]]))
    with pytest.raises(ValueError, match="targets must have the shape of idx"):
        model(_ids(2, 4), _ids(2, 3))


def test_bad_inputs_of_the_models_are_clear_errors():
    """Each used to escape as a RuntimeError/IndexError/ZeroDivisionError deep in PyTorch, or return NaN."""
    from llmbook import nn as lnn
    from llmbook.generate import sample_logits
    from llmbook.models import GPT, GPTConfig

    torch.manual_seed(0)
    gpt = GPT(GPTConfig(vocab_size=10, block_size=8, n_layer=1, n_head=1, n_embd=8))
    models = [gpt, MLPLM(MLPLMConfig(vocab_size=10)), RNNLM(RNNLMConfig(vocab_size=10))]
    x = torch.randint(0, 10, (2, 4))
    for model in models:
        assert torch.equal(model(x, x.int())[1], model(x, x)[1])  # int32 targets are ids too
        cases = [
            (lambda: model(x, torch.full((2, 4), 12)), r"targets must be token ids in \[0, 10\) or -1"),
            (lambda: model(x, torch.full((2, 4), -1)), "no target to score"),
            (lambda: model(x, x.float()), "targets must hold integer token ids"),
            (lambda: model(x.float()), "idx must hold integer token ids"),
            (lambda: model.generate(x[:, :0], 3), "the prompt is empty"),
            (lambda: model.generate(x, True), "max_new_tokens must be a non-negative int"),
        ]
        for call, message in cases:
            with pytest.raises(ValueError, match=message):
                call()
    for call, message in [
        (lambda: sample_logits(torch.randn(1, 10), float("nan")), "temperature must be a finite number"),
        (lambda: sample_logits(torch.randn(1, 10), 1.0, top_k=True), "top_k must be a positive int"),
        (lambda: lnn.MultiHeadAttention(32, 0), "positive int n_heads"),
        (lambda: lnn.causal_mask(3.5), "whole numbers of positions"),
        (lambda: GPTConfig(vocab_size=True), "vocab_size must be a positive int"),
    ]:
        with pytest.raises(ValueError, match=message):
            call()
