"""Fine-tuning on separate examples: llmbook.train.Examples, pad_batch and the Trainer's objective path."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from llmbook.device import seed_everything
from llmbook.train import IGNORE_INDEX, Examples, TrainConfig, Trainer, pad_batch


def test_pad_batch_pads_ids_masks_labels_and_stacks_scalars():
    items = [{"chosen_input_ids": [1, 2, 3], "labels": [7, 8, 9], "label": 1, "ref": 0.5, "text": "a"},
             {"chosen_input_ids": [4], "labels": [6], "label": 0, "ref": -1.0, "text": "b"}]
    batch = pad_batch(items, pad_id=0)
    assert batch["chosen_input_ids"].tolist() == [[1, 2, 3], [4, 0, 0]]
    assert batch["chosen_attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert batch["labels"].tolist() == [[7, 8, 9], [6, IGNORE_INDEX, IGNORE_INDEX]]
    assert batch["label"].dtype == torch.long and batch["label"].tolist() == [1, 0]
    assert batch["ref"].dtype == torch.float32 and batch["ref"].tolist() == [0.5, -1.0]
    assert "text" not in batch  # display-only fields stay out of the tensors
    with pytest.raises(ValueError, match="needs at least one"):
        pad_batch([], pad_id=0)
    with pytest.raises(ValueError, match="same fields"):
        pad_batch([{"input_ids": [1]}, {"input_ids": [1], "label": 0}], pad_id=0)
    with pytest.raises(ValueError, match="drop empty examples"):
        pad_batch([{"input_ids": []}], pad_id=0)


def test_examples_sample_with_the_generator_and_walk_in_order():
    examples = Examples([{"input_ids": [i + 1] * (1 + i % 3), "label": i % 2} for i in range(10)], pad_id=0)
    a = examples.sample(4, torch.Generator().manual_seed(3))
    b = examples.sample(4, torch.Generator().manual_seed(3))
    assert torch.equal(a["input_ids"], b["input_ids"]) and a["input_ids"].shape[0] == 4
    # two data-parallel processes together see exactly one process's batch
    halves = [examples.sample(4, torch.Generator().manual_seed(3), rank=r, world_size=2) for r in (0, 1)]
    assert torch.equal(torch.cat([h["label"] for h in halves]), a["label"])
    walked = list(examples.batches(4))
    assert [len(w["label"]) for w in walked] == [4, 4, 2]
    assert torch.cat([w["label"] for w in walked]).tolist() == [i % 2 for i in range(10)]
    assert Examples.tokens(walked[-1]) == 3 + 1  # items 8 and 9 have 1 + 8 % 3 and 1 + 9 % 3 ids
    with pytest.raises(ValueError, match="pad_id"):
        Examples([{"input_ids": [1]}])
    with pytest.raises(ValueError, match="at least one"):
        Examples([], pad_id=0)


class BagOfWords(nn.Module):
    """A frozen embedding and a trainable head: the smallest model with frozen parameters."""

    def __init__(self, vocab: int = 20, dim: int = 8):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.embed.weight.requires_grad_(False)
        self.head = nn.Linear(dim, 2)

    def forward(self, input_ids, attention_mask):
        mask = attention_mask.unsqueeze(-1).float()
        return self.head((self.embed(input_ids) * mask).sum(1) / mask.sum(1))


def loss_fn(model, batch, generator):
    return F.cross_entropy(model(batch["input_ids"], batch["attention_mask"]), batch["label"])


def _sentiment_items(n: int, seed: int):
    # label 1: the example mostly holds "positive" ids (10..19), label 0: "negative" ones (1..9)
    g = torch.Generator().manual_seed(seed)
    items = []
    for _ in range(n):
        label = int(torch.randint(2, (1,), generator=g))
        length = int(torch.randint(2, 7, (1,), generator=g))
        low = 10 if label else 1
        ids = torch.randint(low, low + 9, (length,), generator=g)
        items.append({"input_ids": ids.tolist(), "label": label})
    return items


def _trainer(seed=0, **overrides):
    seed_everything(seed)
    config = TrainConfig(**{**dict(max_steps=30, batch_size=8, lr=0.05, warmup_steps=2, eval_interval=10,
                                   eval_steps=2, weight_decay=0.0, progress=False), **overrides})
    return Trainer(BagOfWords(), Examples(_sentiment_items(200, 0), pad_id=0),
                   Examples(_sentiment_items(50, 1), pad_id=0), config, objective=loss_fn, device="cpu")


def test_the_trainer_learns_from_examples_and_leaves_frozen_weights_alone():
    trainer = _trainer()
    frozen = trainer.model.embed.weight.clone()
    optimized = {id(p) for group in trainer.optimizer.param_groups for p in group["params"]}
    assert id(trainer.model.embed.weight) not in optimized and id(trainer.model.head.weight) in optimized
    history = trainer.train()
    assert torch.equal(trainer.model.embed.weight, frozen)
    assert history.val_loss[-1] < 0.5 * history.val_loss[0]
    assert len(history.train_loss) == 30 and all(t > 0 for t in history.tokens_per_s)


def test_a_resumed_fine_tuning_run_equals_the_uninterrupted_one(tmp_path):
    options = dict(grad_accum_steps=2)
    uninterrupted = _trainer(**options)
    uninterrupted.train()
    first = _trainer(**options)
    first.train(until_step=13)
    first.save_checkpoint(str(tmp_path / "ckpt"))
    resumed = _trainer(seed=5, **options)
    torch.manual_seed(99)
    resumed.load_checkpoint(str(tmp_path / "ckpt"))
    resumed.train()
    assert resumed.history.train_loss == uninterrupted.history.train_loss
    assert resumed.history.val_loss == uninterrupted.history.val_loss
    for p, q in zip(resumed.model.parameters(), uninterrupted.model.parameters()):
        assert torch.equal(p, q)


def test_gradient_accumulation_averages_the_micro_batches():
    # one step of 2 micro-batches of 4 = the mean of the two micro-batch gradients
    trainer = _trainer(max_steps=1, batch_size=4, grad_accum_steps=2, grad_clip=None, eval_interval=None)
    g = torch.Generator().manual_seed(0)
    batches = [trainer.train_data.sample(4, g) for _ in range(2)]
    model = BagOfWords()
    model.load_state_dict(trainer.model.state_dict())
    expected = sum(torch.autograd.grad(loss_fn(model, b, None), model.head.weight)[0] for b in batches) / 2
    trainer.model.head.weight.register_hook(lambda grad: captured.append(grad.clone()))
    captured: list[torch.Tensor] = []
    trainer.train_step()
    np.testing.assert_allclose(sum(captured).numpy(), expected.numpy(), atol=1e-6)


def test_examples_need_an_objective_and_one_kind_of_data():
    seed_everything(0)
    train = Examples(_sentiment_items(10, 0), pad_id=0)
    with pytest.raises(ValueError, match="objective=loss_fn"):
        Trainer(BagOfWords(), train, None, TrainConfig(progress=False), device="cpu")
    with pytest.raises(TypeError, match="one kind"):
        Trainer(BagOfWords(), train, torch.arange(100), TrainConfig(progress=False), objective=loss_fn,
                device="cpu")


def _lora_trainer(seed=0):
    """A tiny GPT with LoRA on its attention and MLP, fine-tuned on chat-like examples (loss on labels)."""
    from llmbook.finetune import apply_lora, sequence_logps
    from llmbook.models import GPT, GPTConfig

    seed_everything(seed)
    model = apply_lora(GPT(GPTConfig(vocab_size=30, n_layer=2, n_head=2, n_embd=16, block_size=16)),
                       r=2, alpha=4, target_modules=["q_proj", "v_proj", "fc1"], dropout=0.1)
    g = torch.Generator().manual_seed(7)
    items = []
    for _ in range(40):
        prompt = torch.randint(1, 30, (4,), generator=g).tolist()
        reply = torch.randint(1, 30, (3,), generator=g).tolist()
        items.append({"input_ids": prompt + reply, "labels": [IGNORE_INDEX] * 4 + reply})

    def sft_loss(model, batch, generator):
        tokens = (batch["labels"] != IGNORE_INDEX).sum()
        logps = sequence_logps(model, batch["input_ids"], batch["labels"], batch["attention_mask"])
        return -logps.sum() / tokens

    config = TrainConfig(max_steps=12, batch_size=4, lr=0.01, warmup_steps=2, eval_interval=4, eval_steps=2,
                         progress=False)
    return Trainer(model, Examples(items, pad_id=0), None, config, objective=sft_loss, device="cpu")


def test_a_resumed_lora_run_restores_adapters_optimizer_and_history(tmp_path):
    from llmbook.finetune import lora_state_dict

    uninterrupted = _lora_trainer()
    uninterrupted.train()
    first = _lora_trainer()
    first.train(until_step=5)
    first.save_checkpoint(str(tmp_path / "ckpt"))
    resumed = _lora_trainer(seed=3)  # other initial adapters: the checkpoint must replace them
    resumed.load_checkpoint(str(tmp_path / "ckpt"))
    resumed.train()
    assert resumed.history.train_loss == uninterrupted.history.train_loss
    ours, theirs = lora_state_dict(resumed.model), lora_state_dict(uninterrupted.model)
    assert ours.keys() == theirs.keys() and len(ours) == 2 * 2 * 3  # A and B of 3 layers in 2 blocks
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)
    state, reference = resumed.optimizer.state_dict()["state"], uninterrupted.optimizer.state_dict()["state"]
    assert len(reference) == len(ours)  # only the adapters are optimised
    assert all(torch.equal(state[k]["exp_avg_sq"], reference[k]["exp_avg_sq"]) for k in reference)
