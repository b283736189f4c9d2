"""The report card (llmbook.evaluate.report): the command run in-process on a tiny random GPT-2
and a tiny GPT checkpoint; its figures equal the evaluation functions' and a direct computation."""
from __future__ import annotations

import json
import math

import pytest
import torch

from llmbook import data
from llmbook.evaluate import load_task, multiple_choice
from llmbook.evaluate.__main__ import main as evaluate_main
from llmbook.evaluate.report import (card_rows, evaluate_suite, gpt_perplexity, markdown_table,
                                     save_gpt)
from llmbook.models import GPT, GPTConfig


@pytest.fixture(scope="module")
def tiny_hf_folder(tmp_path_factory, gpt2_tokenizer):
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(n_layer=1, n_head=2, n_embd=16, n_positions=512,
                                       vocab_size=50257))
    folder = tmp_path_factory.mktemp("tiny-gpt2")
    model.save_pretrained(folder)
    gpt2_tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_gpt_checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    vocab = data.char_data(max_chars=10)[0].vocab_size  # 65 characters
    model = GPT(GPTConfig(vocab_size=vocab, block_size=32, n_layer=1, n_head=2, n_embd=16)).eval()
    return model, save_gpt(tmp_path_factory.mktemp("ckpt") / "shakespeare_gpt", model)


def test_report_command_writes_the_card(tiny_hf_folder, tiny_gpt_checkpoint, tmp_path):
    _, checkpoint = tiny_gpt_checkpoint
    rows = evaluate_main(["report", "--model", str(tiny_hf_folder), "--tasks", "piqa", "arc_easy",
                          "--limit", "4", "--gpt", str(checkpoint), "--gpt-tokens", "2000",
                          "--out-dir", str(tmp_path), "--quiet", "--device", "cpu"])
    assert [(r["benchmark"], r["metric"]) for r in rows] == [
        ("PIQA", "acc_norm"), ("ARC-Easy", "acc_norm"), ("TinyShakespeare val", "perplexity")]
    assert all(r["published"] is None for r in rows)  # not SmolLM2: no card figure applies
    table = (tmp_path / "report.md").read_text()
    assert table.count("\n| ") == 4 and "TinyShakespeare val" in table  # header + 3 rows
    assert (tmp_path / "report.png").stat().st_size > 1000
    assert json.loads((tmp_path / "report.json").read_text()) == rows

    # the same items scored directly give the same figures
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_hf_folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_hf_folder)
    direct = multiple_choice(model, tokenizer, **load_task("piqa", n=4, seed=0), seed=0,
                             progress=False)
    assert rows[0]["estimate"] == direct.acc_norm and rows[0]["n_items"] == 4
    assert (rows[0]["low"], rows[0]["high"]) == (direct.acc_norm_ci.low, direct.acc_norm_ci.high)


def test_published_figures_only_for_smollm2(tiny_hf_folder):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_hf_folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_hf_folder)
    results = evaluate_suite(model, tokenizer, ["piqa", "mmlu"], limit=3, per_subject=1,
                             subjects={"mmlu": ["anatomy", "virology"]})
    assert results["mmlu"].n_items == 2 and results["mmlu"].num_fewshot == 0
    smol = card_rows("SmolLM2-135M-Instruct", results)
    assert smol[0]["published"] == 0.663 and smol[1]["published"] is None  # 5-shot MMLU: none
    assert card_rows("sft", results)[0]["published"] is None
    assert "| SmolLM2-135M-Instruct | PIQA | acc_norm | 3 | 0 |" in markdown_table(smol)


def test_gpt_perplexity_equals_the_models_own_loss(tiny_gpt_checkpoint):
    model, checkpoint = tiny_gpt_checkpoint
    row = gpt_perplexity(checkpoint, max_tokens=1000)
    _, _, val_ids = data.char_data()
    n = (1000 - 1) // 32 * 32
    with torch.no_grad():
        _, loss = model(val_ids[:n].view(-1, 32), val_ids[1:n + 1].view(-1, 32))
    assert row["estimate"] == pytest.approx(math.exp(float(loss)), rel=1e-5)
    assert row["low"] <= row["estimate"] <= row["high"] and row["n_items"] == n


@pytest.mark.parametrize("argv, match", [
    (["--tasks", "winogrande"], "unknown task"),
    (["--limit", "0"], "--limit must be a positive int"),
    (["--gpt", "/no/such/checkpoint"], "no such checkpoint folder"),
])
def test_bad_command_lines(argv, match, capsys):
    with pytest.raises(SystemExit):
        evaluate_main(["report", *argv])
    assert match in capsys.readouterr().err


def test_bad_checkpoints(tmp_path):
    from llmbook.train import CheckpointError, save_checkpoint

    with pytest.raises(CheckpointError, match="no checkpoint"):
        gpt_perplexity(tmp_path / "missing")
    plain = save_checkpoint(tmp_path / "plain", torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="save it with"):
        gpt_perplexity(plain)
    with pytest.raises(ValueError, match="character-level TinyShakespeare"):
        save_gpt(tmp_path / "x", torch.nn.Linear(2, 2), corpus="tinystories")
