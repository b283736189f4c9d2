"""Tests of llmbook.train: batching, schedule, optimizer groups, memory, Trainer, checkpoints, DDP."""
from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from llmbook.device import seed_everything
from llmbook.flops import mfu, training_flops, training_flops_per_token
from llmbook.models import GPT, GPTConfig
from llmbook.train import (
    CheckpointError,
    TrainConfig,
    Trainer,
    WarmupCosineSchedule,
    compact_vocabulary,
    configure_optimizer,
    estimate_memory,
    get_batch,
    load_checkpoint,
    lr_at,
    param_groups,
    save_checkpoint,
    shard_rows,
)
from llmbook.data import char_data

ROOT = Path(__file__).resolve().parents[1]
VOCAB, BLOCK = 65, 16


@pytest.fixture(scope="module")
def shakespeare():
    tokenizer, train_ids, val_ids = char_data(max_chars=30_000)
    assert tokenizer.vocab_size == VOCAB
    return train_ids, val_ids


def _trainer(data, seed=0, dropout=0.0, **overrides) -> Trainer:
    seed_everything(seed)
    model = GPT(GPTConfig(vocab_size=VOCAB, block_size=BLOCK, n_layer=2, n_head=2, n_embd=32, dropout=dropout))
    config = dict(max_steps=12, batch_size=8, block_size=BLOCK, warmup_steps=3, lr=3e-3, eval_interval=4, eval_steps=2,
                  progress=False, seed=seed)
    return Trainer(model, data[0], data[1], TrainConfig(**(config | overrides)), device="cpu")


# ------------------------------------------------------------------ batching


def test_get_batch_cuts_shifted_windows_from_the_data():
    data = torch.arange(1000) * 3
    x, y = get_batch(data, 10, 6, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (6, 10) and x.dtype == torch.long
    assert torch.equal(x[:, 1:], y[:, :-1])  # targets are the inputs shifted by one
    starts = x[:, 0] // 3
    for row, s in zip(x, starts):
        assert torch.equal(row, data[s:s + 10])  # each row is a contiguous window


def test_data_parallel_shards_reproduce_the_global_batch():
    data = torch.arange(500)
    full = get_batch(data, 8, 6, torch.Generator().manual_seed(1))
    parts = [get_batch(data, 8, 6, torch.Generator().manual_seed(1), rank=r, world_size=3) for r in range(3)]
    assert torch.equal(torch.cat([p[0] for p in parts]), full[0])
    assert torch.equal(torch.cat([p[1] for p in parts]), full[1])
    assert shard_rows(8, 1, 2) == slice(4, 8)


def test_get_batch_bad_inputs():
    with pytest.raises(ValueError, match="1-D tensor"):
        get_batch(torch.zeros(4, 4, dtype=torch.long), 2, 2)
    with pytest.raises(ValueError, match="integer token ids"):
        get_batch(torch.zeros(100), 2, 2)
    with pytest.raises(ValueError, match="too few"):
        get_batch(torch.arange(10), 10, 2)
    with pytest.raises(ValueError, match="not divisible by world_size"):
        get_batch(torch.arange(100), 4, 5, rank=0, world_size=2)
    with pytest.raises(ValueError, match="rank must be"):
        shard_rows(4, rank=2, world_size=2)
    with pytest.raises(ValueError, match="positive"):
        get_batch(torch.arange(100), 0, 2)


# ------------------------------------------------------------------ schedule and optimizer


def nanogpt_get_lr(it, learning_rate, warmup_iters, lr_decay_iters, min_lr):
    """nanoGPT's train.py get_lr (karpathy/nanoGPT), the reference for our schedule."""
    if it < warmup_iters:
        return learning_rate * (it + 1) / (warmup_iters + 1)
    if it > lr_decay_iters:
        return min_lr
    decay_ratio = (it - warmup_iters) / (lr_decay_iters - warmup_iters)
    assert 0 <= decay_ratio <= 1
    coeff = 0.5 * (1.0 + math.cos(math.pi * decay_ratio))
    return min_lr + coeff * (learning_rate - min_lr)


def test_schedule_matches_nanogpt():
    params = [nn.Parameter(torch.zeros(2))]
    optimizer = torch.optim.AdamW(params, lr=1e-3)
    scheduler = WarmupCosineSchedule(optimizer, warmup_steps=20, decay_steps=300, min_lr_ratio=0.1)
    for it in range(330):
        expected = nanogpt_get_lr(it, 1e-3, 20, 300, 1e-4)
        assert optimizer.param_groups[0]["lr"] == pytest.approx(expected, rel=1e-12, abs=1e-15)
        assert lr_at(it, 1e-3, 20, 300, 1e-4) == pytest.approx(expected, rel=1e-12)
        optimizer.step()
        scheduler.step()
    with pytest.raises(ValueError, match="min_lr_ratio"):
        WarmupCosineSchedule(optimizer, 10, 100, min_lr_ratio=2.0)
    with pytest.raises(ValueError, match="non-negative"):
        WarmupCosineSchedule(optimizer, -1, 100)


def test_weight_decay_groups_follow_mingpt():
    model = GPT(GPTConfig(vocab_size=VOCAB, block_size=BLOCK, n_layer=2, n_head=2, n_embd=32))
    decay, no_decay = param_groups(model, 0.1)
    names = {id(p): n for n, p in model.named_parameters()}
    decay_names = {names[id(p)] for p in decay["params"]}
    no_decay_names = {names[id(p)] for p in no_decay["params"]}
    # minGPT's rule, written independently: weights of Linear modules decay, except the one tied to wte
    expected = {f"{m}.weight" for m, mod in model.named_modules() if isinstance(mod, nn.Linear) and m != "lm_head"}
    assert decay_names == expected
    assert "wte.weight" in no_decay_names and "ln_f.weight" in no_decay_names and "blocks.0.attn.q_proj.bias" in no_decay_names
    assert decay_names.isdisjoint(no_decay_names)
    assert decay_names | no_decay_names == set(names.values())
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    with pytest.raises(ValueError, match="learning rate"):
        configure_optimizer(model, lr=0)
    with pytest.raises(ValueError, match="weight_decay"):
        configure_optimizer(model, lr=1e-3, weight_decay=-1)


def test_weight_decay_groups_follow_nanogpt():
    # nanoGPT's shakespeare_char model (6/6/384, block 256, 65 characters, no biases) prints
    # "num decayed parameter tensors: 26, with 10,740,096 parameters" and "num non-decayed parameter
    # tensors: 13, with 4,992 parameters". Our attention splits c_attn into q/k/v (6 x 2 more tensors),
    # so compare parameter counts, and derive them from the shapes rather than quoting the log.
    d, layers, vocab, block = 384, 6, 65, 256
    model = GPT(GPTConfig(vocab_size=vocab, block_size=block, n_layer=layers, n_head=6, n_embd=d, bias=False))
    decay, no_decay = param_groups(model, 0.1, decay_embeddings=True)
    count = lambda group: sum(p.numel() for p in group["params"])  # noqa: E731
    per_layer = 4 * d * d + 2 * 4 * d * d  # attention (q, k, v, out) + MLP (up, down)
    assert count(decay) == vocab * d + block * d + layers * per_layer == 10_740_096
    assert count(no_decay) == (2 * layers + 1) * d == 4_992
    assert all(p.dim() >= 2 for p in decay["params"]) and all(p.dim() < 2 for p in no_decay["params"])
    names = {id(p): n for n, p in model.named_parameters()}
    assert {"wte.weight", "wpe.weight"} <= {names[id(p)] for p in decay["params"]}
    # the two rules differ exactly by the embedding tables
    mingpt_decay, _ = param_groups(model, 0.1)
    assert count(decay) - count(mingpt_decay) == vocab * d + block * d


# ------------------------------------------------------------------ memory estimates


def test_estimate_memory_reproduces_the_zero_paper():
    # ZeRO (Rajbhandari et al. 2020), Figure 1: 7.5B parameters, 64 GPUs, mixed-precision Adam (K = 12)
    expected = {0: 120.0, 1: 31.4, 2: 16.6, 3: 1.9}
    for stage, gb in expected.items():
        estimate = estimate_memory(7.5e9, "adam", "fp16-mixed", zero_stage=stage, n_gpus=64)
        assert round(estimate.total / 1e9, 1) == gb
    fp32 = estimate_memory(1e9, "adamw", "fp32")
    assert fp32.as_dict() == {"weights": 4.0, "grads": 4.0, "optimizer_states": 8.0, "total": 16.0}
    assert estimate_memory(1e9, "sgd", "bf16").total == 4e9


def test_estimate_memory_bad_inputs():
    for kwargs, message in [({"optimizer": "lion"}, "unknown optimizer"), ({"precision": "fp8"}, "unknown precision"),
                            ({"zero_stage": 4}, "zero_stage"), ({"n_gpus": 0}, "n_gpus")]:
        with pytest.raises(ValueError, match=message):
            estimate_memory(1e6, **kwargs)
    with pytest.raises(ValueError, match="n_params"):
        estimate_memory(0)


# ------------------------------------------------------------------ the trainer


def test_same_seed_gives_identical_histories_and_training_learns(shakespeare):
    a, b = _trainer(shakespeare).train(), _trainer(shakespeare).train()
    assert a.train_loss == b.train_loss and a.val_loss == b.val_loss
    assert a.step == list(range(1, 13)) and a.eval_step == [0, 4, 8, 12]
    assert a.val_loss[-1] < a.val_loss[0] - 0.3  # it learns
    assert all(t > 0 for t in a.tokens_per_s)
    c = _trainer(shakespeare, seed=1).train()
    assert c.train_loss != a.train_loss


def test_lr_history_follows_the_schedule(shakespeare):
    history = _trainer(shakespeare).train()
    assert history.lr == pytest.approx([lr_at(s - 1, 3e-3, 3, 12, 3e-4) for s in history.step], rel=1e-12)


def test_resume_is_bit_identical(shakespeare, tmp_path):
    options = dict(dropout=0.1, grad_accum_steps=2, eval_interval=5)
    uninterrupted = _trainer(shakespeare, **options)
    uninterrupted.train()
    first = _trainer(shakespeare, **options)
    first.train(until_step=7)
    first.save_checkpoint(str(tmp_path / "ckpt"))
    resumed = _trainer(shakespeare, seed=0, **options)
    torch.manual_seed(123)  # disturb every RNG: the checkpoint must restore them
    np.random.seed(123)
    resumed.load_checkpoint(str(tmp_path / "ckpt"))
    assert resumed.step == 7
    resumed.train()
    assert resumed.history.train_loss == uninterrupted.history.train_loss
    assert resumed.history.val_loss == uninterrupted.history.val_loss
    for p, q in zip(resumed.model.parameters(), uninterrupted.model.parameters()):
        assert torch.equal(p, q)
    s1, s2 = resumed.optimizer.state_dict(), uninterrupted.optimizer.state_dict()
    for key in s2["state"]:
        for name, value in s2["state"][key].items():
            assert torch.equal(s1["state"][key][name], value)
    assert resumed.scheduler.state_dict() == uninterrupted.scheduler.state_dict()
    assert (resumed.best_loss, resumed.best_step) == (uninterrupted.best_loss, uninterrupted.best_step)


def test_a_checkpoint_of_an_older_trainer_still_loads(shakespeare, tmp_path):
    from llmbook.train import checkpoint

    old = _trainer(shakespeare)
    old.train(until_step=8)
    # What the trainer saved before `best_loss` and `monitored`, plus a key nobody reads any more.
    extra = {"history": old.history.state_dict(), "best_val_loss": old.best_loss, "best_step": old.best_step,
             "evals_without_improvement": 1, "stopped_early": False, "retired_key": 1}
    checkpoint.save_checkpoint(tmp_path / "old", old.model, old.optimizer, old.scheduler, step=old.step,
                               generator=old.generator, scaler=old.scaler, extra=extra)
    resumed = _trainer(shakespeare, seed=1)
    resumed.load_checkpoint(str(tmp_path / "old"))
    assert (resumed.step, resumed.best_loss, resumed.best_step) == (8, old.best_loss, old.best_step)
    assert resumed.best_val_loss == old.best_loss and resumed.evals_without_improvement == 1
    assert resumed.history.val_loss == old.history.val_loss
    old.save_checkpoint(str(tmp_path / "new"))
    without_val = _trainer((shakespeare[0], None))
    with pytest.warns(UserWarning, match="watched val_loss, this trainer watches train_loss"):
        without_val.load_checkpoint(str(tmp_path / "new"))
    assert (without_val.step, without_val.best_loss, without_val.best_step) == (8, math.inf, -1)


def test_best_val_loss_never_holds_a_training_loss(shakespeare):
    without_val = _trainer((shakespeare[0], None))
    history = without_val.train()
    # Without validation data early stopping watches the training loss: `best_val_loss` says there
    # is no validation loss (it used to hold the training loss) and `best_loss` holds the training loss.
    assert without_val.best_val_loss is None
    assert without_val.monitored == "train_loss" and without_val.best_loss == min(history.eval_train_loss)
    assert all(math.isnan(v) for v in history.val_loss)
    with_val = _trainer(shakespeare)
    history = with_val.train()
    assert with_val.monitored == "val_loss"
    assert with_val.best_loss == with_val.best_val_loss == min(history.val_loss)


def test_only_the_training_step_runs_the_wrapped_model(shakespeare):
    """Evaluation, sampling and clipping use `trainer.model`; the DDP / compile wrapper serves the
    training step's forward and backward only."""

    class Counting(nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner, self.calls = inner, 0

        def forward(self, idx, targets=None):
            self.calls += 1
            return self.inner(idx, targets)

    trainer = _trainer(shakespeare, grad_accum_steps=2, eval_interval=4)
    wrapper = trainer._step_model = Counting(trainer.model)
    trainer.train()
    assert trainer.history.eval_step == [0, 4, 8, 12]  # four evaluations did not call the wrapper
    assert wrapper.calls == 12 * 2  # one call per micro-batch
    with pytest.warns(DeprecationWarning, match="use Trainer.model"):
        assert trainer.raw_model is trainer.model


def test_evaluation_and_sampling_do_not_change_the_trajectory(shakespeare):
    plain = _trainer(shakespeare, eval_interval=None, dropout=0.1).train()

    def sample(model):
        out = model.generate(torch.zeros(1, 1, dtype=torch.long), 5)  # uses the global RNG on purpose
        return "".join(map(str, out[0].tolist()))

    busy = _trainer(shakespeare, eval_interval=2, dropout=0.1, sample_interval=3)
    busy.sample_fn = sample
    history = busy.train()
    assert history.train_loss == plain.train_loss
    assert [s for s, _ in history.samples] == [3, 6, 9, 12]


def test_gradient_accumulation_equals_a_larger_batch(shakespeare):
    big = _trainer(shakespeare, batch_size=8, eval_interval=None)
    big.train()
    accumulated = _trainer(shakespeare, batch_size=4, grad_accum_steps=2, eval_interval=None)
    accumulated.train()
    np.testing.assert_allclose(accumulated.history.train_loss, big.history.train_loss, atol=1e-5)
    for p, q in zip(accumulated.model.parameters(), big.model.parameters()):
        torch.testing.assert_close(p, q, atol=1e-5, rtol=0)


def test_early_stopping_and_best_weights(shakespeare):
    seen = []
    trainer = _trainer(shakespeare, max_steps=40, eval_interval=2, early_stopping_patience=2,
                       early_stopping_min_delta=10.0, keep_best=True)
    trainer.callbacks.append(lambda t, record: seen.append(record["step"]))
    trainer.train()
    # min_delta=10 means only the first evaluation counts as an improvement
    assert trainer.stopped_early and trainer.step == 4 and trainer.best_step == 0 and seen == [0, 2, 4]
    first_val = trainer.history.val_loss[0]
    trainer.restore_best()
    assert trainer.estimate_loss(trainer.val_data, seed=trainer.config.seed + 2) == pytest.approx(first_val, abs=1e-6)


def test_bf16_mixed_precision_on_cpu_tracks_fp32(shakespeare):
    fp32 = _trainer(shakespeare, eval_interval=None).train()
    bf16 = _trainer(shakespeare, eval_interval=None, precision="bf16-mixed").train()
    assert all(math.isfinite(x) for x in bf16.train_loss)
    assert abs(bf16.train_loss[-1] - fp32.train_loss[-1]) < 0.1


def test_trainer_bad_inputs(shakespeare):
    with pytest.raises(ValueError, match="fp16-mixed' needs a CUDA GPU"):
        _trainer(shakespeare, precision="fp16-mixed")
    with pytest.raises(ValueError, match="unknown precision"):
        TrainConfig(precision="fp8")
    with pytest.raises(ValueError, match="max_steps must be a positive int"):
        TrainConfig(max_steps=0)
    with pytest.raises(ValueError, match="min_lr"):
        TrainConfig(lr=1e-3, min_lr=1e-2)
    with pytest.raises(ValueError, match="grad_clip"):
        TrainConfig(grad_clip=0)
    with pytest.raises(ValueError, match="early stopping needs evaluations"):
        TrainConfig(eval_interval=None, early_stopping_patience=3)
    with pytest.raises(ValueError, match="fewer than block_size"):
        _trainer((shakespeare[0], shakespeare[1][:BLOCK]))
    trainer = _trainer(shakespeare)
    with pytest.raises(ValueError, match="past max_steps"):
        trainer.train(until_step=13)
    with pytest.raises(ValueError, match="no sample_fn"):
        trainer.sample()
    with pytest.raises(ValueError, match="keep_best=True"):
        trainer.restore_best()
    with pytest.raises(ValueError, match="no checkpoint path"):
        trainer.save_checkpoint()


def test_divergence_is_reported(shakespeare):
    trainer = _trainer(shakespeare, eval_interval=None)
    original = trainer.model.forward

    def nan_forward(idx, targets=None):
        logits, loss = original(idx, targets)
        return logits, loss * float("nan")

    trainer.model.forward = nan_forward
    with pytest.raises(FloatingPointError, match="diverged at step"):
        trainer.train()


def test_periodic_checkpoints(shakespeare, tmp_path):
    trainer = _trainer(shakespeare, checkpoint_dir=str(tmp_path / "run"), checkpoint_interval=5)
    trainer.train()
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["step"] == 10
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no temporary directories left behind


# ------------------------------------------------------------------ checkpoints


def _tiny_model(seed=0, n_embd=32):
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=VOCAB, block_size=BLOCK, n_layer=1, n_head=2, n_embd=n_embd))


def test_checkpoint_round_trip_stores_tied_weights_once(tmp_path):
    from safetensors.torch import load_file

    model = _tiny_model(0)
    optimizer = configure_optimizer(model, 1e-3)
    save_checkpoint(tmp_path / "c", model, optimizer, step=3, extra={"note": "hi"})
    stored = load_file(tmp_path / "c" / "model.safetensors")
    assert "wte.weight" in stored and "lm_head.weight" not in stored
    other = _tiny_model(1)
    info = load_checkpoint(tmp_path / "c", other, configure_optimizer(other, 1e-3))
    assert info == {"step": 3, "extra": {"note": "hi"}}
    for (n, p), q in zip(model.state_dict().items(), other.state_dict().values()):
        assert torch.equal(p, q), n
    assert other.lm_head.weight is other.wte.weight


def test_missing_and_corrupt_checkpoints_raise_and_change_nothing(tmp_path):
    model = _tiny_model(0)
    save_checkpoint(tmp_path / "good", model)
    victim = _tiny_model(1)
    before = {k: v.clone() for k, v in victim.state_dict().items()}

    with pytest.raises(CheckpointError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "nowhere", victim)
    weights = tmp_path / "good" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])  # truncate
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(tmp_path / "good", victim)
    (tmp_path / "good" / "manifest.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="corrupt manifest.json"):
        load_checkpoint(tmp_path / "good", victim)
    for broken in (b"\xff\xfe not UTF-8", b"[1, 2]", b'{"sha256": "abc"}', b'{"sha256": {"model.safetensors": 1}}',
                   b'{"format": 3}'):  # each used to escape as a UnicodeDecodeError, AttributeError, ...
        (tmp_path / "good" / "manifest.json").write_bytes(broken)
        with pytest.raises(CheckpointError, match="corrupt manifest.json"):
            load_checkpoint(tmp_path / "good", victim)
    (tmp_path / "good" / "manifest.json").unlink()
    with pytest.raises(CheckpointError, match="not a complete checkpoint"):
        load_checkpoint(tmp_path / "good", victim)
    save_checkpoint(tmp_path / "wide", _tiny_model(0, n_embd=64))
    with pytest.raises(CheckpointError, match="does not fit this model"):
        load_checkpoint(tmp_path / "wide", victim)
    save_checkpoint(tmp_path / "noopt", model)
    with pytest.raises(CheckpointError, match="no optimizer state"):
        load_checkpoint(tmp_path / "noopt", victim, configure_optimizer(victim, 1e-3))
    for k, v in victim.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_a_failed_write_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch):
    first = _tiny_model(0)
    save_checkpoint(tmp_path / "c", first, step=1)
    original = (tmp_path / "c" / "model.safetensors").read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(tmp_path / "c", _tiny_model(1), step=2)
    monkeypatch.undo()
    assert (tmp_path / "c" / "model.safetensors").read_bytes() == original
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c"]  # the temporary directory was removed
    assert load_checkpoint(tmp_path / "c", _tiny_model(2))["step"] == 1
    save_checkpoint(tmp_path / "c", _tiny_model(1), step=2)  # overwriting a good checkpoint works
    assert load_checkpoint(tmp_path / "c", _tiny_model(2))["step"] == 2


# ------------------------------------------------------------------ data parallelism


CLI_ARGS = ["--max-steps", "8", "--n-layer", "2", "--n-head", "2", "--n-embd", "32", "--block-size", "16",
            "--batch-size", "8", "--warmup", "2", "--eval-interval", "4", "--eval-steps", "2", "--max-chars", "20000",
            "--quiet"]


@pytest.mark.slow
def test_ddp_two_processes_match_one_process(tmp_path):
    from llmbook.train.cli import main

    single = main(CLI_ARGS + ["--out", str(tmp_path / "one.json")])
    env = os.environ | {"OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "llmbook.train",
         *CLI_ARGS, "--out", str(tmp_path / "two.json")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    double = json.loads((tmp_path / "two.json").read_text())
    assert double["world_size"] == 2 and single["world_size"] == 1
    one, two = single["history"], double["history"]
    assert len(one["train_loss"]) == len(two["train_loss"]) == 8
    np.testing.assert_allclose(two["train_loss"], one["train_loss"], atol=1e-5, rtol=0)
    np.testing.assert_allclose(two["val_loss"], one["val_loss"], atol=1e-5, rtol=0)


def test_compact_vocabulary_renumbers_and_decodes_back():
    a, b = torch.tensor([50256, 7, 7, 300]), torch.tensor([300, 12])
    (ca, cb), kept = compact_vocabulary(a, b)
    assert kept.tolist() == [7, 12, 300, 50256]
    assert torch.equal(kept[ca], a) and torch.equal(kept[cb], b)
    assert int(ca.max()) < len(kept)
    with pytest.raises(ValueError, match="at least one"):
        compact_vocabulary()
    with pytest.raises(ValueError, match="1-D integer"):
        compact_vocabulary(torch.zeros(3))
    with pytest.raises(ValueError, match="non-negative"):
        compact_vocabulary(torch.tensor([-1, 2]))


def test_flop_counts_match_nanogpt():
    model = GPT(GPTConfig(vocab_size=VOCAB, block_size=BLOCK, n_layer=2, n_head=2, n_embd=32))
    assert training_flops(1000, 50) == 6 * 1000 * 50  # Kaplan et al.: C = 6 N D
    # nanoGPT's estimate_mfu: 6N + 12 L H Q T per token, against an A100's 312 TFLOP/s
    per_token = 6 * model.num_params() + 12 * 2 * 2 * 16 * BLOCK
    assert training_flops_per_token(model.num_params(), 2, 32, BLOCK) == per_token
    assert mfu(1e6, per_token, 312.0) == pytest.approx(1e6 * per_token / 312e12)
    with pytest.raises(ValueError, match="n_params=0: n_params, n_layer, d_attn and context_length"):
        training_flops_per_token(0, 2, 32, BLOCK)
    with pytest.raises(ValueError, match="peak_tflops"):
        mfu(1.0, 1.0, 0)


def test_cli_writes_history_and_checkpoint(tmp_path):
    from llmbook.train.cli import main

    summary = main(CLI_ARGS[:1] + ["3"] + CLI_ARGS[2:] + ["--out", str(tmp_path / "h.json"), "--checkpoint",
                                                         str(tmp_path / "ckpt"), "--eval-interval", "0"])
    assert json.loads((tmp_path / "h.json").read_text())["history"]["train_loss"] == summary["history"]["train_loss"]
    assert len(summary["history"]["train_loss"]) == 3 and summary["history"]["val_loss"] == []
    assert (tmp_path / "ckpt" / "model.safetensors").is_file()


def test_distributed_helpers_in_a_single_process(monkeypatch, shakespeare):
    from llmbook.train import DistInfo, all_reduce_mean, cleanup_distributed, init_distributed

    info = init_distributed()
    assert info == DistInfo(0, 0, 1) and info.is_main and not info.enabled
    value = torch.tensor([1.0, 3.0])
    assert all_reduce_mean(value) is value
    cleanup_distributed()  # a no-op without a process group
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    assert DistInfo.from_env() == DistInfo(1, 0, 2)
    with pytest.raises(RuntimeError, match="init_distributed"):
        _trainer(shakespeare)


def test_chapter_4_exercises_accept_the_right_answers_only():
    from llmbook.book.exercises import check

    right = {"04.1": 124_439_808, "04.2": (1e-3 + 1e-4) / 2,
             "04.3": (2 * 1.3e9 + 14 * 1.3e9 / 8) / 1e9, "04.4": 6 * 124e6 * 300e9 / (0.4 * 312e12) / 86400}
    for exercise_id, answer in right.items():  # GPT-2 small has 124,439,808 parameters (HF's count)
        assert check(exercise_id, answer)
        assert not check(exercise_id, answer * 1.1)


def test_a_save_never_deletes_what_it_did_not_write(tmp_path):
    model = _tiny_model(0)
    run = tmp_path / "run"
    run.mkdir()
    (run / "notes.txt").write_text("x")
    with pytest.raises(CheckpointError, match=r"not part of a checkpoint \(notes.txt\)"):
        save_checkpoint(run, model)
    assert (run / "notes.txt").read_text() == "x" and sorted(p.name for p in run.iterdir()) == ["notes.txt"]
    plain = tmp_path / "file"
    plain.write_text("keep me")
    with pytest.raises(CheckpointError, match="exists and is not a checkpoint directory"):
        save_checkpoint(plain, model)
    assert plain.read_text() == "keep me"
    (tmp_path / "empty").mkdir()
    save_checkpoint(tmp_path / "empty", model)  # an empty folder holds nothing to lose
    save_checkpoint(tmp_path / "empty", model, step=2)  # nor does a checkpoint it wrote itself
    assert load_checkpoint(tmp_path / "empty", _tiny_model(1))["step"] == 2


def test_a_kill_between_the_two_renames_of_a_save_leaves_a_loadable_checkpoint(tmp_path):
    """The states a kill can leave: previous checkpoint moved aside, new one complete or not yet."""
    import shutil

    model, target = _tiny_model(0), tmp_path / "ckpt"
    save_checkpoint(tmp_path / "new", model, step=2)
    save_checkpoint(target, model, step=1)
    aside = tmp_path / ".ckpt.old-killed"
    aside.mkdir()
    target.rename(aside / "ckpt")  # killed after the first rename...
    unfinished = tmp_path / ".ckpt.tmp-unfinished"
    unfinished.mkdir()
    (unfinished / "model.safetensors").write_bytes(b"half")  # ...of a save whose new copy is incomplete
    assert load_checkpoint(target, _tiny_model(1))["step"] == 1  # the previous checkpoint
    (tmp_path / "new").rename(tmp_path / ".ckpt.tmp-complete")  # a save whose new copy was complete
    assert load_checkpoint(target, _tiny_model(1))["step"] == 2  # the newer, complete one
    save_checkpoint(target, model, step=3)  # the next save cleans the package's own stale temporaries
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]
    assert load_checkpoint(target, _tiny_model(1))["step"] == 3
    # a folder that merely looks like a temporary but holds other files is never deleted
    foreign = tmp_path / ".ckpt.tmp-mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("x")
    save_checkpoint(target, model, step=4)
    assert (foreign / "notes.txt").is_file()
    shutil.rmtree(foreign)


def test_a_run_killed_between_log_intervals_resumes_with_its_whole_history(shakespeare, tmp_path):
    """Checkpoints used to be written before the pending losses were logged: with log_interval=10 and
    checkpoint_interval=3, a resumed run lost the steps since the last log."""
    options = dict(log_interval=10, checkpoint_interval=3, checkpoint_dir=str(tmp_path / "run"))
    uninterrupted = _trainer(shakespeare, **options)
    uninterrupted.train()
    killed = _trainer(shakespeare, **options)
    train_step = killed.train_step

    def dies_at_step_8():
        if killed.step == 7:
            raise KeyboardInterrupt  # like a kill: nothing after this point is saved
        return train_step()

    killed.train_step = dies_at_step_8
    with pytest.raises(KeyboardInterrupt):
        killed.train()
    resumed = _trainer(shakespeare, **options)
    resumed.load_checkpoint(str(tmp_path / "run"))
    assert resumed.step == 6
    resumed.train()
    for name in ("step", "lr", "train_loss", "eval_step", "val_loss"):
        assert getattr(resumed.history, name) == getattr(uninterrupted.history, name), name


def test_resuming_with_a_changed_config_is_refused_or_said(shakespeare, tmp_path):
    """A changed lr, seed or batch size used to be accepted on resume and silently ignored (or used)."""
    first = _trainer(shakespeare)
    first.train(until_step=4)
    first.save_checkpoint(str(tmp_path / "ckpt"))
    for change, fixed in ((dict(lr=1e-3), True), (dict(seed=1), True), (dict(betas=(0.9, 0.99)), True),
                          (dict(batch_size=4), False), (dict(max_steps=20), False)):
        other = _trainer(shakespeare, **change)
        before = [p.clone() for p in other.model.parameters()]
        name, value = next(iter(change.items()))
        with pytest.raises(CheckpointError, match=rf"{name}: .* in the checkpoint, {re.escape(repr(value))} now"):
            other.load_checkpoint(str(tmp_path / "ckpt"))
        assert all(torch.equal(p, q) for p, q in zip(before, other.model.parameters()))  # nothing loaded
        if fixed:
            with pytest.raises(ValueError, match="only .* can change on resume"):
                other.load_checkpoint(str(tmp_path / "ckpt"), allow_changes=(name,))
    longer = _trainer(shakespeare, max_steps=20)
    with pytest.warns(UserWarning, match="max_steps 12 -> 20"):
        longer.load_checkpoint(str(tmp_path / "ckpt"), allow_changes=("max_steps",))
    assert longer.scheduler.decay_steps == 20 and longer.step == 4
    longer.train()
    # the cosine now ends at step 20: the last step's lr is the 20-step schedule's, not the 12-step one's
    assert longer.step == 20 and longer.history.lr[-1] == pytest.approx(lr_at(19, 3e-3, 3, 20, 3e-4))
    same = _trainer(shakespeare, eval_interval=2, log_interval=1)  # cadence only: accepted silently
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        same.load_checkpoint(str(tmp_path / "ckpt"))


def test_cli_resumes_a_killed_run_and_checks_its_paths_first(tmp_path, monkeypatch):
    """The command line had no periodic checkpoints and no --resume (a second run retrained from scratch
    and overwrote the checkpoint), and found an unwritable --out only after training."""
    from llmbook.train import trainer as trainer_module
    from llmbook.train.cli import main

    args = CLI_ARGS[:1] + ["6"] + CLI_ARGS[2:] + ["--checkpoint-interval", "2"]
    whole = main(args + ["--checkpoint", str(tmp_path / "whole")])
    train_step = trainer_module.Trainer.train_step

    def dies_at_step_5(self):
        if self.step == 4:
            raise KeyboardInterrupt  # a kill after the checkpoint of step 4
        return train_step(self)

    with monkeypatch.context() as patch:
        patch.setattr(trainer_module.Trainer, "train_step", dies_at_step_5)
        with pytest.raises(KeyboardInterrupt):
            main(args + ["--checkpoint", str(tmp_path / "killed")])
    with pytest.raises(SystemExit):  # without --resume the saved run is never overwritten
        main(args + ["--checkpoint", str(tmp_path / "killed")])
    resumed = main(args + ["--checkpoint", str(tmp_path / "killed"), "--resume"])
    for name in ("step", "lr", "train_loss", "eval_step", "val_loss"):
        assert resumed["history"][name] == whole["history"][name], name
    (tmp_path / "a-file").write_text("x")
    for bad in (["--resume"], ["--out", str(tmp_path / "a-file" / "h.json")], ["--out", str(tmp_path)]):
        with pytest.raises(SystemExit):
            main(args[:-2] + bad)


def test_a_run_killed_again_and_again_even_inside_a_save_ends_as_the_uninterrupted_one(shakespeare,
                                                                                      tmp_path, monkeypatch):
    """Kills at random steps and between the two renames of a save (where nothing is cleaned up, as with
    kill -9); each restart resumes from whatever is on disk. Weights and history end identical."""
    import random

    from llmbook.train import checkpoint as ckpt

    options = dict(max_steps=14, log_interval=5, checkpoint_interval=2, eval_interval=4)
    whole = _trainer(shakespeare, checkpoint_dir=str(tmp_path / "whole"), **options)
    whole.train()
    target, rng, kills = tmp_path / "run", random.Random(0), 0

    def kill(*args, **kwargs):
        raise KeyboardInterrupt

    while True:
        trainer = _trainer(shakespeare, checkpoint_dir=str(target), **options)
        try:
            trainer.load_checkpoint(str(target))
        except CheckpointError:
            assert kills == 0, "after the first kill there is always a checkpoint to resume from"
        if trainer.step == options["max_steps"] or kills == 6:
            trainer.train()
            break
        with monkeypatch.context() as patch:
            if kills % 2:  # inside a save: the old checkpoint moved aside, the new one complete, not in place
                real_replace = os.replace

                def replace_then_die(src, dst):
                    if Path(dst) == target:
                        raise KeyboardInterrupt
                    return real_replace(src, dst)

                patch.setattr(ckpt.os, "replace", replace_then_die)
                patch.setattr(ckpt.shutil, "rmtree", lambda *a, **k: None)  # a killed process cleans nothing
            else:  # at a random step
                die_at, train_step = rng.randint(trainer.step + 1, options["max_steps"] - 1), trainer.train_step
                patch.setattr(trainer, "train_step",
                              lambda: kill() if trainer.step + 1 == die_at else train_step())
            with pytest.raises(KeyboardInterrupt):
                trainer.train()
        kills += 1
    assert kills == 6
    for p, q in zip(trainer.model.parameters(), whole.model.parameters()):
        assert torch.equal(p, q)
    for name in ("step", "lr", "train_loss", "eval_step", "eval_train_loss", "val_loss"):
        assert getattr(trainer.history, name) == getattr(whole.history, name), name
