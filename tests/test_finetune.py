"""llmbook.finetune against the reference libraries: LoRA against peft, chat_tokens against the tokenizer's
own chat template, dpo_loss against TRL's DPOTrainer, sequence_logps against a direct log-softmax."""
from __future__ import annotations

import copy
from collections import defaultdict
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from llmbook.finetune import (LoRALinear, apply_lora, chat_tokens, dpo_loss, lora_disabled, lora_layers,
                              lora_state_dict, merge_lora, sequence_logps, trainable_parameters)
from llmbook.models import GPT, GPTConfig

TARGETS = ["q_proj", "v_proj"]

# peft 0.21 calls a transformers method that transformers 5 has renamed: noise, not a problem of ours
pytestmark = pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing.*:FutureWarning")


# ---------------------------------------------------------------- models


@pytest.fixture(scope="module")
def llama() -> nn.Module:
    """A tiny random Hugging Face Llama (SmolLM2's architecture): 2 layers, hidden size 64, GQA."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=97, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=32)
    return LlamaForCausalLM(config).eval()


def tiny_gpt() -> GPT:
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=61, block_size=16, n_layer=2, n_head=2, n_embd=16)).eval()


def ids_for(vocab_size: int, batch: int = 3, seq: int = 12, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, vocab_size, (batch, seq), generator=torch.Generator().manual_seed(seed))


def logits_of(model: nn.Module, ids: torch.Tensor) -> torch.Tensor:
    out = model(ids)
    return out.logits if hasattr(out, "logits") else out[0]


def ours_and_peft(model: nn.Module, r: int, alpha: float, targets: list[str]):
    """The same base model adapted by apply_lora and by peft, with the same random non-zero A and B."""
    peft = pytest.importorskip("peft")
    ours = apply_lora(copy.deepcopy(model), r, alpha, targets)
    config = peft.LoraConfig(r=r, lora_alpha=alpha, target_modules=targets, lora_dropout=0.0)
    reference = peft.get_peft_model(copy.deepcopy(model), config)
    layers = lora_layers(ours)
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, layer in layers.items():
            theirs = reference.get_submodule("base_model.model." + name)
            assert theirs.scaling["default"] == layer.scaling
            for part in ("lora_A", "lora_B"):
                mine = getattr(layer, part).weight
                # B non-zero too: a trained adapter, not the fresh one (which changes nothing)
                mine.copy_(0.1 * torch.randn(mine.shape, generator=generator))
                getattr(theirs, part)["default"].weight.copy_(mine)
    return ours, reference, layers


# ---------------------------------------------------------------- LoRA against peft


def test_lora_equals_peft_on_a_hugging_face_llama(llama):
    ours, reference, layers = ours_and_peft(llama, r=4, alpha=8, targets=TARGETS)
    assert len(layers) == 2 * 2 and all(name.endswith(tuple(TARGETS)) for name in layers)
    ids = ids_for(97)
    labels = ids_for(97, seed=1)
    mine, theirs = ours(ids, labels=labels), reference(input_ids=ids, labels=labels)
    torch.testing.assert_close(mine.logits, theirs.logits, atol=1e-6, rtol=0)
    mine.loss.backward()
    theirs.loss.backward()
    for name, layer in layers.items():
        peft_layer = reference.get_submodule("base_model.model." + name)
        for part in ("lora_A", "lora_B"):
            grad = getattr(layer, part).weight.grad
            assert grad is not None and grad.abs().sum() > 0
            peft_grad = getattr(peft_layer, part)["default"].weight.grad
            torch.testing.assert_close(grad, peft_grad, atol=1e-6, rtol=0)
    # only the adapters learn; the count is peft's
    assert trainable_parameters(ours) == reference.get_nb_trainable_parameters()
    assert {n for n, p in ours.named_parameters() if p.requires_grad} == {
        f"{name}.{part}.weight" for name in layers for part in ("lora_A", "lora_B")}
    assert all(p.grad is None for n, p in ours.named_parameters() if "lora_" not in n)


def test_merge_and_disable_on_a_hugging_face_llama(llama):
    ours, reference, _ = ours_and_peft(llama, r=4, alpha=8, targets=TARGETS)
    ids = ids_for(97)
    with torch.no_grad():
        adapted = logits_of(ours, ids)
        base = logits_of(llama, ids)
        with lora_disabled(ours):  # the base model's outputs, exactly
            torch.testing.assert_close(logits_of(ours, ids), base, atol=0, rtol=0)
            with reference.disable_adapter():
                torch.testing.assert_close(logits_of(reference, ids), base, atol=0, rtol=0)
        torch.testing.assert_close(logits_of(ours, ids), adapted, atol=0, rtol=0)  # re-enabled on exit
        assert (adapted - base).abs().max() > 1e-3  # the adapter does change the model
        merged = merge_lora(ours)
        assert not lora_layers(merged) and type(merged.model.layers[0].self_attn.q_proj) is nn.Linear
        torch.testing.assert_close(logits_of(merged, ids), adapted, atol=1e-5, rtol=0)
        # the merged weights are peft's merged weights
        peft_merged = reference.merge_and_unload()
        for name, tensor in peft_merged.state_dict().items():
            torch.testing.assert_close(merged.state_dict()[name], tensor, atol=1e-6, rtol=0)


def test_lora_equals_peft_on_llmbook_gpt():
    gpt = tiny_gpt()
    linear_names = {name.rsplit(".", 1)[-1] for name, m in gpt.named_modules() if isinstance(m, nn.Linear)}
    assert linear_names == {"q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2", "lm_head"}
    targets = ["out_proj", "fc1", "fc2"]  # layers the model calls (q/k/v: see the next test)
    ours, reference, layers = ours_and_peft(gpt, r=2, alpha=6, targets=targets)
    assert len(layers) == 3 * 2
    ids = ids_for(61)
    (mine, _), (theirs, _) = ours(ids), reference(ids)
    torch.testing.assert_close(mine, theirs, atol=1e-6, rtol=0)
    mine.square().mean().backward()
    theirs.square().mean().backward()
    for name, layer in layers.items():
        peft_layer = reference.get_submodule("base_model.model." + name)
        for part in ("lora_A", "lora_B"):
            torch.testing.assert_close(getattr(layer, part).weight.grad,
                                       getattr(peft_layer, part)["default"].weight.grad, atol=1e-6, rtol=0)
    assert trainable_parameters(ours) == reference.get_nb_trainable_parameters()
    with torch.no_grad():
        torch.testing.assert_close(logits_of(merge_lora(ours), ids), mine, atol=1e-5, rtol=0)


def test_lora_on_gpts_fused_query_key_value_projection():
    """llmbook's self-attention fuses q_proj / k_proj / v_proj into one matmul only while they are plain
    layers, and calls a wrapped one: the adapter acts. Checked against a plain GPT holding W + (alpha/r)·BA,
    and the chain rule for A's and B's gradients; LoRA's dropout works there too."""
    gpt = tiny_gpt()
    ours = apply_lora(copy.deepcopy(gpt), 2, 6, ["q_proj", "v_proj"])
    plain = copy.deepcopy(gpt)
    generator = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for name, layer in lora_layers(ours).items():
            layer.lora_B.weight.copy_(torch.randn(layer.lora_B.weight.shape, generator=generator))
            plain.get_submodule(name).weight += 3.0 * layer.lora_B.weight @ layer.lora_A.weight
    ids = ids_for(61)
    mine, theirs = logits_of(ours, ids), logits_of(plain, ids)
    torch.testing.assert_close(mine, theirs, atol=1e-6, rtol=0)
    assert (mine - logits_of(gpt, ids)).abs().max() > 1e-3
    mine.square().mean().backward()
    theirs.square().mean().backward()
    for name, layer in lora_layers(ours).items():
        grad_w = plain.get_submodule(name).weight.grad  # dL/dW; W_eff = W + s·B A
        A, B = layer.lora_A.weight, layer.lora_B.weight
        torch.testing.assert_close(A.grad, 3.0 * B.T @ grad_w, atol=1e-6, rtol=0)
        torch.testing.assert_close(B.grad, 3.0 * grad_w @ A.T, atol=1e-6, rtol=0)
    with torch.no_grad(), lora_disabled(ours):
        torch.testing.assert_close(logits_of(ours, ids), logits_of(gpt, ids), atol=0, rtol=0)
    dropped = apply_lora(copy.deepcopy(gpt), 2, 6, ["q_proj"], dropout=0.5)
    with torch.no_grad():
        for layer in lora_layers(dropped).values():
            layer.lora_B.weight.normal_()
        dropped.train()
        assert not torch.equal(logits_of(dropped, ids), logits_of(dropped, ids))  # dropout acts on A's input
        dropped.eval()
        torch.testing.assert_close(logits_of(dropped, ids), logits_of(dropped, ids), atol=0, rtol=0)


def test_merging_a_tied_lm_head_leaves_the_embedding_alone():
    gpt = tiny_gpt()
    assert gpt.lm_head.weight is gpt.wte.weight
    embedding = gpt.wte.weight.detach().clone()
    apply_lora(gpt, 2, 4, ["lm_head"])
    with torch.no_grad():
        lora_layers(gpt)["lm_head"].lora_B.weight.normal_()
        ids = ids_for(61)
        adapted = logits_of(gpt, ids)
        merge_lora(gpt)
        torch.testing.assert_close(gpt.wte.weight, embedding, atol=0, rtol=0)
        torch.testing.assert_close(logits_of(gpt, ids), adapted, atol=1e-5, rtol=0)


def test_fresh_adapter_changes_nothing_and_starts_like_peft():
    base = nn.Linear(40, 24)
    torch.manual_seed(3)
    layer = LoRALinear(base, r=8, alpha=16)
    assert layer.scaling == 2.0 and layer.base is base
    assert layer.lora_A.weight.shape == (8, 40) and layer.lora_B.weight.shape == (24, 8)
    assert layer.lora_A.bias is None and layer.lora_B.bias is None
    assert torch.all(layer.lora_B.weight == 0)
    # kaiming_uniform(a=sqrt(5)) is U(-1/sqrt(in), 1/sqrt(in)), nn.Linear's default and peft's
    bound = 1 / 40 ** 0.5
    assert layer.lora_A.weight.abs().max() <= bound and layer.lora_A.weight.abs().max() > 0.8 * bound
    x = torch.randn(5, 40)
    torch.testing.assert_close(layer(x), base(x), atol=0, rtol=0)
    with torch.no_grad():
        layer.lora_B.weight.normal_()
    expected = base(x) + 2.0 * x @ layer.lora_A.weight.T @ layer.lora_B.weight.T
    torch.testing.assert_close(layer(x), expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(layer.delta_weight(), 2.0 * layer.lora_B.weight @ layer.lora_A.weight)


def test_lora_state_dict_restores_the_adapter(llama):
    ours, _, layers = ours_and_peft(llama, r=4, alpha=8, targets=TARGETS)
    state = lora_state_dict(ours)
    assert set(state) == {f"{name}.{part}.weight" for name in layers for part in ("lora_A", "lora_B")}
    fresh = apply_lora(copy.deepcopy(llama), 4, 8, TARGETS)
    ids = ids_for(97)
    with torch.no_grad():
        assert not torch.allclose(logits_of(fresh, ids), logits_of(ours, ids))
        result = fresh.load_state_dict(state, strict=False)
        assert not result.unexpected_keys and set(state).isdisjoint(result.missing_keys)
        torch.testing.assert_close(logits_of(fresh, ids), logits_of(ours, ids), atol=0, rtol=0)


def test_lora_bad_input(llama):
    model = copy.deepcopy(llama)
    with pytest.raises(ValueError, match="rank r must be a positive int"):
        apply_lora(model, 0, 8, TARGETS)
    with pytest.raises(ValueError, match="rank r must be a positive int"):
        LoRALinear(nn.Linear(4, 4), -1, 8)
    with pytest.raises(ValueError, match=r"exceeds the layer's smaller side .* use r <= 32"):
        apply_lora(model, 33, 8, ["v_proj"])  # v_proj: 64 -> 32 (two key-value heads of 16)
    with pytest.raises(ValueError, match="alpha must be a positive number"):
        apply_lora(model, 4, 0, TARGETS)
    with pytest.raises(ValueError, match="dropout must be in"):
        apply_lora(model, 4, 8, TARGETS, dropout=1.0)
    with pytest.raises(ValueError, match=r"'qproj' matches no module .* named \['q_proj', 'k_proj'"):
        apply_lora(model, 4, 8, ["qproj"])
    with pytest.raises(TypeError, match=r"'model.layers.0.mlp', a LlamaMLP, not an nn.Linear.*gate_proj"):
        apply_lora(model, 4, 8, ["mlp"])
    with pytest.raises(TypeError, match=r"list of module names.*target_modules=\['q_proj'"):
        apply_lora(model, 4, 8, "q_proj")
    with pytest.raises(TypeError, match="adapts an nn.Linear, got Conv1d"):
        LoRALinear(nn.Conv1d(4, 4, 1), 2, 4)
    assert all(p.requires_grad for p in model.parameters())  # a refused call changed nothing
    apply_lora(model, 4, 8, TARGETS)
    with pytest.raises(ValueError, match="already has LoRA adapters.*merge_lora"):
        apply_lora(model, 4, 8, ["k_proj"])
    plain = tiny_gpt()
    with pytest.raises(ValueError, match="no LoRA adapters.*apply_lora"):
        with lora_disabled(plain):
            pass
    with pytest.raises(ValueError, match="no LoRA adapters.*apply_lora"):
        merge_lora(plain)
    with pytest.raises(ValueError, match="no LoRA adapters.*apply_lora"):
        lora_state_dict(plain)


# ---------------------------------------------------------------- chat templates


CONVERSATIONS = [
    [{"role": "user", "content": "What is the capital of France?"},
     {"role": "assistant", "content": "Paris."}],
    [{"role": "system", "content": "You answer in one word."},
     {"role": "user", "content": "Is the sky blue?"},
     {"role": "assistant", "content": "Yes"},
     {"role": "user", "content": "And grass?"},
     {"role": "assistant", "content": "Green, mostly.\nUsually."}],
    [{"role": "user", "content": "Count to three."},
     {"role": "assistant", "content": "1, 2, 3"},
     {"role": "user", "content": "Thanks"},
     {"role": "assistant", "content": " You're welcome! "},
     {"role": "user", "content": "Bye"}],  # ends with a user turn: no label after the last reply
]


def labelled_runs(labels: list[int]) -> list[tuple[int, int]]:
    runs, start = [], None
    for t, label in enumerate(labels + [-100]):
        if label != -100 and start is None:
            start = t
        elif label == -100 and start is not None:
            runs.append((start, t))
            start = None
    return runs


@pytest.mark.parametrize("messages", CONVERSATIONS)
def test_chat_tokens_equals_the_chat_template(smollm2_tokenizer, messages):
    tok = smollm2_tokenizer
    input_ids, labels = chat_tokens(tok, messages)
    expected = tok.apply_chat_template(messages, tokenize=True)
    expected = expected["input_ids"] if hasattr(expected, "keys") else expected
    assert input_ids == list(expected)
    assert len(labels) == len(input_ids)
    assert all(label in (-100, token) for label, token in zip(labels, input_ids))
    # one labelled run per assistant turn: exactly its content and the end-of-turn token
    replies = [m["content"] for m in messages if m["role"] == "assistant"]
    runs = labelled_runs(labels)
    assert [tok.decode(input_ids[a:b]) for a, b in runs] == [reply + "<|im_end|>" for reply in replies]
    for a, _ in runs:  # the header before each run is the template's assistant header, unlabelled
        assert tok.decode(input_ids[:a]).endswith("<|im_end|>\n<|im_start|>assistant\n")
    assert sum(b - a for a, b in runs) == sum(
        len(tok(reply + "<|im_end|>", add_special_tokens=False)["input_ids"]) for reply in replies)


def test_chat_tokens_bad_input(smollm2_tokenizer, monkeypatch):
    tok = smollm2_tokenizer
    user = {"role": "user", "content": "Hi"}
    with pytest.raises(ValueError, match="conversation is empty"):
        chat_tokens(tok, [])
    with pytest.raises(ValueError, match="no assistant turn.*end it with"):
        chat_tokens(tok, [{"role": "system", "content": "Be nice."}, user])
    with pytest.raises(ValueError, match=r"role 'bot'.*'bot' -> 'assistant'"):
        chat_tokens(tok, [user, {"role": "bot", "content": "Hello"}])
    with pytest.raises(ValueError, match="starts with an assistant turn"):
        chat_tokens(tok, [{"role": "assistant", "content": "Hello"}, user])
    with pytest.raises(ValueError, match="must be a dict with 'role' and 'content'"):
        chat_tokens(tok, [user, {"role": "assistant"}])
    reply = {"role": "assistant", "content": "Hello"}
    # a template that numbers the messages up front: adding one changes the start, not only the end
    numbered = ("{{ messages | length }}{% for m in messages %}{{ m['content'] }}{% endfor %}"
                "{% if add_generation_prompt %}>{% endif %}")
    monkeypatch.setattr(tok, "chat_template", numbered)
    with pytest.raises(ValueError, match="not prefix-stable"):
        chat_tokens(tok, [user, reply])
    monkeypatch.setattr(tok, "chat_template", "{% for m in messages %}{{ m['content'] }}{% endfor %}")
    with pytest.raises(ValueError, match="ignores add_generation_prompt"):
        chat_tokens(tok, [user, reply])
    monkeypatch.setattr(tok, "chat_template", None)
    with pytest.raises(ValueError, match="no chat template.*load_smollm2"):
        chat_tokens(tok, [user, reply])


# ---------------------------------------------------------------- sequence log-probabilities


def direct_logps(model: nn.Module, ids: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """sum_t log_softmax(logits[t-1])[labels[t]] over labelled t, one row at a time, by hand."""
    out = []
    for row, row_labels in zip(ids, labels):
        logprobs = torch.log_softmax(logits_of(model, row[None])[0].double(), dim=-1)
        out.append(sum(logprobs[t - 1, row_labels[t]] for t in range(1, len(row)) if row_labels[t] != -100))
    return torch.stack(out).float()


@pytest.mark.parametrize("which", ["llama", "gpt"])
def test_sequence_logps_is_a_gather_of_log_softmax(llama, which):
    model, vocab = (llama, 97) if which == "llama" else (tiny_gpt(), 61)
    ids = ids_for(vocab, batch=3, seq=10)
    labels = ids.clone()
    labels[:, :4] = -100  # the prompt is not scored
    labels[1, 6] = -100
    with torch.no_grad():
        torch.testing.assert_close(sequence_logps(model, ids, labels), direct_logps(model, ids, labels),
                                   atol=1e-5, rtol=1e-6)


@pytest.mark.parametrize("which", ["llama", "gpt"])
def test_sequence_logps_ignores_right_padding(llama, which):
    model, vocab = (llama, 97) if which == "llama" else (tiny_gpt(), 61)
    rows = [ids_for(vocab, 1, n, seed=n)[0] for n in (9, 5, 7)]
    prompt = 2
    width = max(len(r) for r in rows)
    ids = torch.full((3, width), 7)  # padding: a real token id, its label not -100; the mask decides
    mask = torch.zeros(3, width, dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, :len(row)] = row
        mask[i, :len(row)] = 1
    labels = ids.clone()
    labels[:, :prompt] = -100
    with torch.no_grad():
        padded = sequence_logps(model, ids, labels, attention_mask=mask)
        alone = []
        for row in rows:
            row_labels = torch.cat([torch.full((prompt,), -100), row[prompt:]])
            alone.append(sequence_logps(model, row[None], row_labels[None]))
        alone = torch.cat(alone)
    torch.testing.assert_close(padded, alone, atol=1e-5, rtol=1e-6)
    with pytest.raises(ValueError, match="pad on the right"):
        sequence_logps(model, ids, labels, attention_mask=mask.flip(1))


def test_sequence_logps_bad_input(llama):
    ids = ids_for(97, 2, 6)
    with pytest.raises(ValueError, match="labels must have input_ids' shape"):
        sequence_logps(llama, ids, ids[:, :5])
    with pytest.raises(ValueError, match=r"input_ids\[None\]"):
        sequence_logps(llama, ids[0], ids[0])
    labels = ids.clone()
    labels[1, 1:] = -100
    with pytest.raises(ValueError, match=r"rows \[1\] have no labelled token.*label the response"):
        sequence_logps(llama, ids, labels)


# ---------------------------------------------------------------- DPO against TRL


def trl_sigmoid_dpo(pc, pr, rc, rr, beta):
    """TRL's own DPO loss and rewards (trl/trainer/dpo_trainer.py, DPOTrainer._compute_loss, loss_type
    "sigmoid"), reached without building a trainer: the method runs on a stand-in for the trainer that
    holds the attributes it reads, with precomputed reference log-probabilities, and on a stand-in policy
    whose per-token log-probabilities are one token per sequence holding the sequence's summed
    log-probability (TRL sums them over the completion mask). Returns (mean loss, logged metrics)."""
    from trl.trainer.dpo_trainer import DPOTrainer

    n = pc.size(0)
    per_token = torch.cat([pc, pr])[:, None]  # TRL's batch is [chosen; rejected]

    class Policy:
        training = True

        def __call__(self, **kwargs):
            zeros = torch.zeros_like(per_token)
            return SimpleNamespace(log_probs=per_token, entropy=zeros, mean_logits=zeros,
                                   is_top1=zeros.bool())

    identity = lambda x: x  # noqa: E731 - one process: gathering is the identity
    trainer = SimpleNamespace(
        model=Policy(), accelerator=SimpleNamespace(device=torch.device("cpu"), gather=identity,
                                                    gather_for_metrics=identity),
        aux_loss_enabled=False, precompute_ref_logps=True, ld_alpha=None, f_divergence_type="reverse_kl",
        loss_types=["sigmoid"], loss_weights=[1.0], beta=beta, use_weighting=False, label_smoothing=0.0,
        _metrics=defaultdict(lambda: defaultdict(list)), _total_train_tokens=0, _tp_size=1)
    inputs = {"input_ids": torch.zeros(2 * n, 2, dtype=torch.long),
              "attention_mask": torch.ones(2 * n, 2, dtype=torch.long),
              "completion_mask": torch.tensor([[0, 1]] * (2 * n)),  # the second token is the completion
              "ref_chosen_logps": rc, "ref_rejected_logps": rr}
    loss = DPOTrainer._compute_loss(trainer, trainer.model, inputs, return_outputs=False)
    return loss, trainer._metrics["train"]


@pytest.mark.parametrize("beta", [0.1, 0.5])
def test_dpo_loss_equals_trl(beta):
    pytest.importorskip("trl")
    g = torch.Generator().manual_seed(int(beta * 10))
    pc, pr, rc, rr = (-40 * torch.rand(6, generator=g, dtype=torch.float64) for _ in range(4))
    losses, chosen_rewards, rejected_rewards = dpo_loss(pc, pr, rc, rr, beta=beta)
    assert losses.shape == chosen_rewards.shape == rejected_rewards.shape == (6,)
    for i in range(6):  # TRL logs batch means: one pair at a time gives each pair's values
        loss, metrics = trl_sigmoid_dpo(pc[i:i + 1], pr[i:i + 1], rc[i:i + 1], rr[i:i + 1], beta)
        torch.testing.assert_close(losses[i], loss, atol=1e-12, rtol=0)
        assert metrics["rewards/chosen"][0] == pytest.approx(chosen_rewards[i].item(), abs=1e-12)
        assert metrics["rewards/rejected"][0] == pytest.approx(rejected_rewards[i].item(), abs=1e-12)
    loss, metrics = trl_sigmoid_dpo(pc, pr, rc, rr, beta)
    torch.testing.assert_close(losses.mean(), loss, atol=1e-12, rtol=0)
    accuracy = (chosen_rewards > rejected_rewards).double().mean().item()
    assert metrics["rewards/accuracies"][0] == pytest.approx(accuracy)


def test_dpo_gradient_raises_chosen_and_lowers_rejected():
    g = torch.Generator().manual_seed(0)
    pc = (-20 * torch.rand(5, generator=g)).requires_grad_()
    pr = (-20 * torch.rand(5, generator=g)).requires_grad_()
    rc, rr = -20 * torch.rand(5, generator=g), -20 * torch.rand(5, generator=g)
    beta = 0.1
    losses, _, _ = dpo_loss(pc, pr, rc, rr, beta=beta)
    losses.mean().backward()
    # d loss_i / d pc_i = -beta * sigmoid(-beta * margin_i) / n, and the opposite for the rejected
    weight = beta * torch.sigmoid(-beta * ((pc - rc) - (pr - rr))).detach() / 5
    torch.testing.assert_close(pc.grad, -weight)
    torch.testing.assert_close(pr.grad, weight)
    with torch.no_grad():  # one SGD step
        new_pc, new_pr = pc - 10.0 * pc.grad, pr - 10.0 * pr.grad
    assert torch.all(new_pc > pc) and torch.all(new_pr < pr)
    assert dpo_loss(new_pc, new_pr, rc, rr, beta=beta)[0].mean() < losses.mean()


def test_dpo_with_lora_disabled_as_the_reference(llama):
    """A fresh adapter is the reference: loss log 2 and zero rewards; after a few steps on the DPO loss
    the policy prefers the chosen responses more than the reference does."""
    model = apply_lora(copy.deepcopy(llama), 4, 8, TARGETS)
    chosen, rejected = ids_for(97, 4, 8, seed=5), ids_for(97, 4, 8, seed=6)
    labels_c, labels_r = chosen.clone(), rejected.clone()
    labels_c[:, :3] = labels_r[:, :3] = -100
    with torch.no_grad(), lora_disabled(model):
        ref_c, ref_r = sequence_logps(model, chosen, labels_c), sequence_logps(model, rejected, labels_r)
    policy_c, policy_r = sequence_logps(model, chosen, labels_c), sequence_logps(model, rejected, labels_r)
    losses, rc, rr = dpo_loss(policy_c, policy_r, ref_c, ref_r)
    torch.testing.assert_close(losses, torch.full((4,), torch.log(torch.tensor(2.0)).item()))
    assert torch.all(rc == 0) and torch.all(rr == 0)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    for _ in range(8):
        losses, rc, rr = dpo_loss(sequence_logps(model, chosen, labels_c),
                                  sequence_logps(model, rejected, labels_r), ref_c, ref_r)
        optimizer.zero_grad()
        losses.mean().backward()
        optimizer.step()
    assert losses.mean() < 0.6 and torch.all(rc > rr)


def test_dpo_loss_bad_input():
    x = torch.zeros(4)
    with pytest.raises(ValueError, match="policy_rejected_logps has batch size 3 but policy_chosen_logps"):
        dpo_loss(x, torch.zeros(3), x, x)
    with pytest.raises(ValueError, match="ref_rejected_logps has batch size 5"):
        dpo_loss(x, x, x, torch.zeros(5))
    with pytest.raises(ValueError, match=r"\(batch,\) tensor of summed log-probabilities"):
        dpo_loss(torch.zeros(4, 3), x, x, x)
    with pytest.raises(ValueError, match="beta must be a positive number.*0.1"):
        dpo_loss(x, x, x, x, beta=0.0)
    with pytest.raises(ValueError, match="beta must be a positive number"):
        dpo_loss(x, x, x, x, beta=-1)


def test_a_lora_layer_on_its_own_freezes_its_base_and_starts_as_the_identity_update():
    base = nn.Linear(8, 6)
    layer = LoRALinear(base, r=2, alpha=4)
    assert [n for n, p in layer.named_parameters() if p.requires_grad] == ["lora_A.weight", "lora_B.weight"]
    x = torch.randn(3, 8)
    torch.testing.assert_close(layer(x), base(x), atol=0, rtol=0)
