"""Tests of ``python -m llmbook.chat`` (llmbook/chat.py): scripted standard input, a tiny random
book GPT saved as a checkpoint; every reply must be the one a ChatSession gives directly."""
from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from llmbook import chat
from llmbook.generate import ChatSession, checkpoint_extra
from llmbook.models import GPT, GPTConfig
from llmbook.tokenizers import CharTokenizer
from llmbook.train import save_checkpoint

CHARS = "abcdefghijklmnopqrstuvwxyz :\n?/"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    tokenizer = CharTokenizer(CHARS)
    torch.manual_seed(5)
    model = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, block_size=200, n_layer=2, n_head=2,
                          n_embd=16, init="pytorch")).eval()
    path = save_checkpoint(tmp_path_factory.mktemp("chat") / "gpt", model,
                           extra=checkpoint_extra(model, tokenizer))
    return str(path), model, tokenizer


def _chat(argv, stdin):
    out, err = io.StringIO(), io.StringIO()
    replies = chat.main(argv, stdin=io.StringIO(stdin), stdout=out, stderr=err)
    return replies, out.getvalue(), err.getvalue()


def test_replies_equal_a_chat_session_and_the_commands_work(checkpoint):
    path, model, tokenizer = checkpoint
    script = "hi\n\nhow are you\n/reset\nhi\n/system be brief\nhi\n/nonsense\n//who\n/quit\nbye\n"
    replies, out, err = _chat(["--model", path, "--max-new-tokens", "6"], script)
    session = ChatSession(model, tokenizer, max_new_tokens=6)
    first, second = session.say("hi"), session.say("how are you")
    again = ChatSession(model, tokenizer, max_new_tokens=6).say("hi")  # /reset: a fresh start
    brief = ChatSession(model, tokenizer, system_prompt="be brief", max_new_tokens=6).say("hi")
    session = ChatSession(model, tokenizer, system_prompt="be brief", max_new_tokens=6)
    session.say("hi")
    slash = session.say("/who")  # "//who" sends "/who", in the same conversation
    expected = [first, second, again, brief, slash]
    assert [r["text"] for r in replies] == expected  # nothing after /quit ("bye" unanswered)
    assert out == "".join(text + "\n" for text in expected)  # stdout holds only the replies
    assert first != second and again == first and brief != first  # the test can fail
    assert "[a new conversation]" in err and "system prompt: 'be brief'" in err
    assert "unknown command '/nonsense'" in err and "/reset" in err
    assert err.count("first token after") == 5  # the timings of each reply, on stderr


def test_decoding_options_are_the_generate_commands(checkpoint):
    path, model, tokenizer = checkpoint
    argv = ["--model", path, "--max-new-tokens", "8", "--temperature", "0.9", "--top-k", "5",
            "--top-p", "0.95", "--repetition-penalty", "1.2", "--seed", "3", "--no-cache"]
    replies, out, _ = _chat(argv, "hello\nagain\n")
    torch.manual_seed(3)
    session = ChatSession(model, tokenizer, max_new_tokens=8, use_cache=False, do_sample=True,
                          temperature=0.9, top_k=5, top_p=0.95, repetition_penalty=1.2)
    assert [r["text"] for r in replies] == [session.say("hello"), session.say("again")]
    # /system TEXT then /system alone: back to no system prompt
    replies, _, err = _chat(["--model", path, "--max-new-tokens", "5", "--system", "be kind"],
                            "hi\n/system\nhi\n")
    kind = ChatSession(model, tokenizer, system_prompt="be kind", max_new_tokens=5).say("hi")
    plain = ChatSession(model, tokenizer, max_new_tokens=5).say("hi")
    assert [r["text"] for r in replies] == [kind, plain] and "system prompt: None" in err


def test_bad_options_and_a_full_context_are_refused_clearly(checkpoint, capsys):
    path, _, _ = checkpoint
    for argv, message in [
        (["--model", path, "--num-beams", "2"], "unrecognized arguments: --num-beams"),
        (["--model", path, "--top-p", "1.5"], "top_p must be in"),
        (["--model", path, "--max-new-tokens", "0"], "--max-new-tokens must be at least 1"),
        (["--model", path, "--temperature", "-1"], "--temperature must be 0 (greedy) or above"),
        (["--model", "/no/such/model"], "not 'smollm2', nor a checkpoint folder"),
    ]:
        with pytest.raises(SystemExit) as exit_info:
            _chat(argv, "hi\n")
        assert exit_info.value.code == 2 and message in capsys.readouterr().err
    # a conversation that outgrows the context (200 characters): the turn is refused, the loop
    # goes on, and /reset makes room again
    long = "a" * 100
    replies, out, err = _chat(["--model", path, "--max-new-tokens", "40"],
                              f"{long}\n{long}\n/reset\nhi\n")
    assert len(replies) == 2 and "[no reply:" in err and "context" in err
    assert "/reset starts a new conversation" in err


def test_python_dash_m_llmbook_chat(checkpoint):
    path, model, tokenizer = checkpoint
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run([sys.executable, "-m", "llmbook.chat", "--model", path,
                           "--max-new-tokens", "5"], input="hi\nok\n", capture_output=True,
                          text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    session = ChatSession(model, tokenizer, max_new_tokens=5)
    assert done.stdout == session.say("hi") + "\n" + session.say("ok") + "\n"
    assert "first token after" in done.stderr and "%|" not in done.stderr  # no progress bars
