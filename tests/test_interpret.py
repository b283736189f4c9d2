"""llmbook.interpret: the residual stream, the logit lens, probes, steering and attention maps,
on the book's GPT and on a tiny random Hugging Face Llama (SmolLM2's architecture)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from llmbook import interpret
from llmbook.models import GPT, GPTConfig


@pytest.fixture(scope="module")
def gpt():
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=50, block_size=32, n_layer=3, n_head=2, n_embd=32)).eval()


@pytest.fixture(scope="module")
def llama():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=60, hidden_size=32, intermediate_size=64, num_hidden_layers=3,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                         tie_word_embeddings=True)
    return LlamaForCausalLM(config).eval()


class CharTokenizer:
    """Enough of a tokenizer for layer_states: encode(text) -> ids."""

    def encode(self, text: str) -> list[int]:
        return [1 + ord(c) % 40 for c in text]


def ids(vocab: int, shape=(2, 7), seed: int = 1) -> torch.Tensor:
    return torch.randint(0, vocab, shape, generator=torch.Generator().manual_seed(seed))


def logits_of(model, input_ids):
    with torch.no_grad():
        out = model(input_ids)
    return out[0] if isinstance(out, tuple) else out.logits


def hooks(model) -> int:
    """Forward hooks on the model (transformers keeps a few of its own once it has captured hidden
    states: the tools must leave the count as they found it)."""
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def test_residual_stream_of_gpt_ends_where_the_final_norm_starts(gpt):
    x = ids(50)
    before = hooks(gpt)
    stream = interpret.residual_stream(gpt, x)
    assert stream.shape == (4, 2, 7, 32)
    with torch.no_grad():
        torch.testing.assert_close(gpt.ln_f(stream[-1]), gpt.hidden_states(x), rtol=0, atol=1e-6)
        embeddings = gpt.wte(x) + gpt.wpe(torch.arange(7))
    torch.testing.assert_close(stream[0], embeddings, rtol=0, atol=0)
    assert hooks(gpt) == before


def test_residual_stream_of_llama_equals_transformers_hidden_states(llama):
    x = ids(60)
    with torch.no_grad():
        reference = llama(x, output_hidden_states=True).hidden_states
    ours = interpret.residual_stream(llama, x)
    assert ours.shape == (4, 2, 7, 32) and len(reference) == 4
    for layer in range(3):
        torch.testing.assert_close(ours[layer], reference[layer], rtol=0, atol=0)
    # transformers' last hidden state is the final norm's output; ours is the stream before it
    with torch.no_grad():
        torch.testing.assert_close(llama.model.norm(ours[3]), reference[3], rtol=0, atol=0)


@pytest.mark.parametrize("which", ["gpt", "llama"])
def test_the_last_layer_of_the_logit_lens_is_the_models_own_prediction(which, gpt, llama):
    model, vocab = (gpt, 50) if which == "gpt" else (llama, 60)
    x = ids(vocab)
    lens = interpret.logit_lens(model, x)
    assert lens.shape == (4, 2, 7, vocab)
    torch.testing.assert_close(lens[-1], logits_of(model, x).log_softmax(-1), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(lens.exp().sum(-1), torch.ones(4, 2, 7))
    assert not torch.allclose(lens[1], lens[-1], atol=1e-3)  # an earlier layer predicts otherwise
    last = interpret.logit_lens(model, x, positions=[-1])
    torch.testing.assert_close(last[:, :, 0], lens[:, :, -1], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("which", ["gpt", "llama"])
def test_steering_with_alpha_zero_changes_nothing(which, gpt, llama):
    model, vocab = (gpt, 50) if which == "gpt" else (llama, 60)
    x = ids(vocab)
    before, n_hooks = logits_of(model, x), hooks(model)
    for layer in (0, 2, 3):
        with interpret.steer(model, layer, torch.randn(32), alpha=0.0):
            assert torch.equal(logits_of(model, x), before)
    assert hooks(model) == n_hooks


@pytest.mark.parametrize("which", ["gpt", "llama"])
@pytest.mark.parametrize("layer", [0, 1, 3])
def test_steering_adds_alpha_times_the_direction_at_its_layer(which, layer, gpt, llama):
    model, vocab = (gpt, 50) if which == "gpt" else (llama, 60)
    x, direction = ids(vocab), torch.randn(32, generator=torch.Generator().manual_seed(3))
    base = interpret.residual_stream(model, x)
    with interpret.steer(model, layer, direction, alpha=2.5):
        steered = interpret.residual_stream(model, x)
        changed = logits_of(model, x)
    torch.testing.assert_close(steered[:layer], base[:layer], rtol=0, atol=0)  # before: untouched
    torch.testing.assert_close(steered[layer], base[layer] + 2.5 * direction, rtol=0, atol=1e-6)
    assert not torch.allclose(changed, logits_of(model, x))
    assert torch.equal(interpret.residual_stream(model, x), base)  # gone after the context


def test_the_steering_hook_is_removed_even_when_the_body_raises(gpt, llama):
    for model, vocab in ((gpt, 50), (llama, 60)):
        x = ids(vocab)
        before, n_hooks = logits_of(model, x), hooks(model)
        with pytest.raises(KeyError):
            with interpret.steer(model, 2, torch.ones(32), alpha=5.0):
                assert hooks(model) == n_hooks + 1
                raise KeyError("boom")
        assert hooks(model) == n_hooks
        assert torch.equal(logits_of(model, x), before)


def test_steering_refuses_bad_layers_and_directions(gpt):
    n_hooks = hooks(gpt)
    with pytest.raises(ValueError, match="layer must be an int in"):
        with interpret.steer(gpt, 4, torch.ones(32)):
            pass
    with pytest.raises(ValueError, match="1-D tensor"):
        with interpret.steer(gpt, 1, torch.ones(2, 32)):
            pass
    with pytest.raises(ValueError, match="has 16 dims"):
        with interpret.steer(gpt, 1, torch.ones(16)):
            logits_of(gpt, ids(50))
    assert hooks(gpt) == n_hooks


def test_unknown_models_and_bad_ids_are_refused(gpt):
    with pytest.raises(TypeError, match="not a model these tools know"):
        interpret.logit_lens(torch.nn.Linear(3, 3), ids(50))
    with pytest.raises(ValueError, match="torch.long"):
        interpret.residual_stream(gpt, ids(50).float())


@pytest.mark.parametrize("which", ["gpt", "llama"])
@pytest.mark.parametrize("pooling", ["mean", "last"])
def test_layer_states_of_a_padded_batch_equal_one_text_at_a_time(which, pooling, gpt, llama):
    model = gpt if which == "gpt" else llama
    texts = ["a short one", "a longer text than the first", "mid length text", "x"]
    batched = interpret.layer_states(model, CharTokenizer(), texts, pooling=pooling, batch_size=4)
    single = interpret.layer_states(model, CharTokenizer(), texts, pooling=pooling, batch_size=1)
    assert batched.shape == (4, 4, 32)
    torch.testing.assert_close(batched, single, rtol=1e-5, atol=1e-5)
    x = torch.tensor([CharTokenizer().encode(texts[2])])
    stream = interpret.residual_stream(model, x)
    expected = stream[:, 0].mean(1) if pooling == "mean" else stream[:, 0, -1]
    torch.testing.assert_close(batched[:, 2], expected, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="pooling"):
        interpret.layer_states(model, CharTokenizer(), texts, pooling="max")


def test_a_linear_probe_finds_the_layer_that_holds_the_label():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 200)
    noise = rng.normal(size=(200, 8))
    signal = noise.copy()
    signal[:, 3] += 3.0 * (2 * labels - 1)  # linearly readable in layer 1 only
    states = np.stack([noise, signal])
    accuracy = interpret.linear_probe(states[:, :150], labels[:150], states[:, 150:], labels[150:])
    assert accuracy.shape == (2,)
    assert accuracy[1] > 0.95 and accuracy[0] < 0.75
    with pytest.raises(ValueError, match="single class"):
        interpret.linear_probe(states[:, :10], np.zeros(10), states[:, 10:20], labels[10:20])


def test_attention_maps_of_gpt_and_llama(gpt, llama):
    x = ids(50)
    maps = interpret.attention_maps(gpt, x)
    assert maps.shape == (3, 2, 2, 7, 7)
    torch.testing.assert_close(maps.sum(-1), torch.ones(3, 2, 2, 7))
    assert torch.all(maps.triu(diagonal=1) == 0)  # causal: no query looks ahead
    before = llama.config._attn_implementation
    x = ids(60)
    llama_maps = interpret.attention_maps(llama, x)
    assert llama_maps.shape == (3, 2, 4, 7, 7)
    assert llama.config._attn_implementation == before  # switched back
    llama.set_attn_implementation("eager")
    try:
        with torch.no_grad():
            reference = llama(x, output_attentions=True).attentions
    finally:
        llama.set_attn_implementation(before)
    torch.testing.assert_close(llama_maps, torch.stack(reference), rtol=0, atol=0)
