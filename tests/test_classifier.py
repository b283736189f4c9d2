"""Tests of llmbook.models.classifier: the LSTM classifier and the classification head on a backbone,
against torch and Hugging Face transformers (LlamaForSequenceClassification, BertModel)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import transformers

from llmbook.models import BERT, BERTConfig, mean_pool
from llmbook.models.classifier import (LSTMClassifier, LSTMClassifierConfig, SequenceClassifier,
                                       classification_loss, predict)

V = 40
PAD = 0


def _lstm(seed=0, **kw) -> LSTMClassifier:
    torch.manual_seed(seed)
    return LSTMClassifier(LSTMClassifierConfig(**({"vocab_size": V, "n_classes": 3, "n_embd": 8,
                                                    "hidden_size": 12, "pad_id": PAD} | kw)))


def _rows(lengths, seed=0, vocab=V) -> list[list[int]]:
    """Random token rows of the given lengths, never the padding id (ids 1 .. vocab-1)."""
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(1, vocab, (n,), generator=g).tolist() for n in lengths]


def _right_pad(rows, pad=PAD) -> tuple[torch.Tensor, torch.Tensor]:
    longest = max(map(len, rows))
    ids = torch.tensor([r + [pad] * (longest - len(r)) for r in rows])
    mask = torch.tensor([[1] * len(r) + [0] * (longest - len(r)) for r in rows])
    return ids, mask


def _tiny_llama(n_labels=3, seed=0) -> transformers.LlamaForSequenceClassification:
    torch.manual_seed(seed)
    config = transformers.LlamaConfig(vocab_size=V, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                                      num_attention_heads=4, num_key_value_heads=2, pad_token_id=PAD,
                                      num_labels=n_labels, max_position_embeddings=64)
    return transformers.LlamaForSequenceClassification(config).eval()


def _tiny_bert(seed=0) -> transformers.BertModel:
    torch.manual_seed(seed)
    config = transformers.BertConfig(vocab_size=V, hidden_size=16, num_hidden_layers=2, num_attention_heads=4,
                                     intermediate_size=32, max_position_embeddings=64, pad_token_id=PAD)
    return transformers.BertModel(config, add_pooling_layer=False).eval()


# ---------------------------------------------------------------- LSTMClassifier


@pytest.mark.parametrize("bidirectional,n_layer", [(False, 1), (True, 1), (True, 2)])
def test_lstm_padding_invariance(bidirectional, n_layer):
    model = _lstm(bidirectional=bidirectional, n_layer=n_layer).eval()
    rows = _rows([3, 9, 1, 6])
    ids, mask = _right_pad(rows)
    batched = model(ids, mask)
    assert batched.shape == (4, 3)
    for i, row in enumerate(rows):  # each sentence alone (no padding, no mask) == its row in the batch
        alone = model(torch.tensor([row]))
        torch.testing.assert_close(batched[i: i + 1], alone, atol=1e-6, rtol=0)
    # the padding's values do not matter either (pad with a real token id instead)
    other = ids.masked_fill(mask == 0, 7)
    torch.testing.assert_close(model(other, mask), batched, atol=1e-6, rtol=0)


@pytest.mark.parametrize("n_layer", [1, 2])
def test_lstm_final_states_are_the_lstm_outputs_at_the_ends(n_layer):
    """The features are the top layer's output at the last real token (forward) and at the first token
    (backward direction), read off an unpacked nn.LSTM run of the unpadded sentence."""
    model = _lstm(bidirectional=True, n_layer=n_layer).eval()
    rows = _rows([5, 2, 8], seed=1)
    ids, mask = _right_pad(rows)
    logits = model(ids, mask)
    H = model.config.hidden_size
    for i, row in enumerate(rows):
        out, _ = model.lstm(model.embed(torch.tensor([row])))  # (1, len, 2H)
        features = torch.cat([out[0, -1, :H], out[0, 0, H:]])
        assert model.head.in_features == 2 * H
        torch.testing.assert_close(logits[i], model.head(features), atol=1e-6, rtol=0)


def test_lstm_unidirectional_uses_the_last_real_token():
    model = _lstm().eval()
    rows = _rows([4, 7], seed=2)
    ids, mask = _right_pad(rows)
    out, _ = model.lstm(model.embed(ids))  # unpacked: runs on through the padding
    want = model.head(torch.stack([out[0, 3], out[1, 6]]))
    torch.testing.assert_close(model(ids, mask), want, atol=1e-6, rtol=0)
    assert not torch.allclose(model(ids, mask)[0], model.head(out[0, -1]), atol=1e-4)  # padding would matter


def test_lstm_padding_embedding_is_zero_and_untrained():
    model = _lstm()
    assert model.embed.padding_idx == PAD and float(model.embed.weight[PAD].detach().abs().sum()) == 0.0
    ids, mask = _right_pad(_rows([2, 5]))
    model(ids, mask).sum().backward()
    assert float(model.embed.weight.grad[PAD].abs().sum()) == 0.0


def test_lstm_learns_a_simple_rule_with_the_trainer():
    """Trainer + Examples + classification_loss on 'does the sentence contain token 3?': the held-out
    accuracy from predict is high (gradients flow through the packed sequences)."""
    from llmbook.train import Examples, TrainConfig, Trainer

    torch.manual_seed(0)
    model = LSTMClassifier(LSTMClassifierConfig(vocab_size=V, n_embd=8, hidden_size=8))
    g = torch.Generator().manual_seed(0)
    lengths = torch.randint(2, 8, (576,), generator=g)
    rows = [torch.randint(4, V, (int(n),), generator=g).tolist() for n in lengths]
    labels = torch.randint(0, 2, (576,), generator=g).tolist()
    for row, y in zip(rows, labels):
        if y:
            row[int(torch.randint(0, len(row), (1,), generator=g))] = 3
    items = [{"input_ids": row, "label": y} for row, y in zip(rows, labels)]
    config = TrainConfig(max_steps=60, batch_size=32, lr=0.03, warmup_steps=0, eval_interval=30, eval_steps=2,
                         progress=False)
    history = Trainer(model, Examples(items[:512], pad_id=PAD), Examples(items[512:], pad_id=PAD), config,
                      objective=classification_loss).train()
    assert history.val_loss[-1] < 0.5 * history.val_loss[0]
    predicted, _ = predict(model, items[512:], pad_id=PAD)
    assert (predicted == np.array(labels[512:])).mean() > 0.85


def test_lstm_config_and_input_errors():
    with pytest.raises(ValueError, match="vocab_size must be a positive int"):
        LSTMClassifierConfig(vocab_size=0)
    with pytest.raises(ValueError, match="n_classes must be an int >= 2"):
        LSTMClassifierConfig(vocab_size=V, n_classes=1)
    with pytest.raises(ValueError, match=r"pad_id must be a token id in \[0, vocab_size"):
        LSTMClassifierConfig(vocab_size=V, pad_id=V)
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\)"):
        LSTMClassifierConfig(vocab_size=V, dropout=1.0)
    with pytest.raises(ValueError, match="bidirectional must be True or False"):
        LSTMClassifierConfig(vocab_size=V, bidirectional="yes")
    with pytest.raises(TypeError, match="needs an LSTMClassifierConfig"):
        LSTMClassifier({"vocab_size": V})
    model = _lstm()
    ids, mask = _right_pad(_rows([2, 5]))
    # the source's bug: a vocabulary sized by the number of samples is too small for the token ids
    with pytest.raises(ValueError, match=r"token ids must be in \[0, vocab_size=40\)"):
        model(ids + V)
    with pytest.raises(ValueError, match="right-padded"):
        model(ids.flip(1), mask.flip(1))  # left padding
    with pytest.raises(ValueError, match="attention_mask must have the shape of input_ids"):
        model(ids, mask[:, :-1])
    with pytest.raises(ValueError, match="as padding"):
        model(ids, mask * 0)
    with pytest.raises(ValueError, match="no tokens"):
        model(torch.zeros(2, 0, dtype=torch.long))


# ---------------------------------------------------------------- SequenceClassifier


def test_last_pooling_equals_llama_for_sequence_classification():
    hf = _tiny_llama()
    ours = SequenceClassifier(hf.model, 16, 3, pooling="last", bias=False).eval()
    with torch.no_grad():
        ours.score.weight.copy_(hf.score.weight)
    ids, mask = _right_pad(_rows([6, 3, 9, 1], seed=3))
    with torch.no_grad():
        want = hf(input_ids=ids, attention_mask=mask).logits
        got = ours(ids, mask)
    assert got.shape == (4, 3)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=0)
    # and each row equals that sentence alone (a causal decoder's last real token ignores right padding)
    with torch.no_grad():
        alone = ours(ids[1:2, :3])
    torch.testing.assert_close(got[1:2], alone, atol=1e-5, rtol=0)


def test_last_pooling_with_left_padding_takes_the_last_position():
    hf = _tiny_llama()
    ours = SequenceClassifier(hf.model, 16, 3, pooling="last", bias=False).eval()
    with torch.no_grad():
        ours.score.weight.copy_(hf.score.weight)
        ids, mask = _right_pad(_rows([6, 3], seed=4))
        ids, mask = ids.flip(1), mask.flip(1)  # left padding, as HF handles it too
        torch.testing.assert_close(ours(ids, mask), hf(input_ids=ids, attention_mask=mask).logits,
                                   atol=1e-5, rtol=0)
        hidden = hf.model(input_ids=ids, attention_mask=mask).last_hidden_state
        torch.testing.assert_close(ours(ids, mask), ours.score(hidden[:, -1]), atol=1e-6, rtol=0)


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_mean_and_cls_pooling_on_bert(pooling):
    bert = _tiny_bert()
    model = SequenceClassifier(bert, 16, 2, pooling=pooling).eval()
    rows = _rows([4, 8, 2], seed=5)
    ids, mask = _right_pad(rows)
    with torch.no_grad():
        hidden = bert(input_ids=ids, attention_mask=mask).last_hidden_state
        pooled = mean_pool(hidden, mask) if pooling == "mean" else hidden[:, 0]
        torch.testing.assert_close(model(ids, mask), model.score(pooled), atol=1e-6, rtol=0)
        for i, row in enumerate(rows):  # padding invariance: a sentence alone gives the same logits
            torch.testing.assert_close(model(torch.tensor([row]))[0], model(ids, mask)[i], atol=1e-5, rtol=0)
    if pooling == "mean":  # the mask matters: a plain mean over the padded batch differs
        assert not torch.allclose(model.score(hidden.mean(1)), model.score(pooled), atol=1e-4)


def test_own_bert_backbone_returning_a_tensor():
    torch.manual_seed(0)
    bert = BERT(BERTConfig(vocab_size=V, max_position=32, n_layer=1, n_head=2, n_embd=8)).eval()
    model = SequenceClassifier(bert, 8, 2, pooling="mean").eval()
    ids, mask = _right_pad(_rows([3, 6], seed=6))
    with torch.no_grad():
        want = model.score(mean_pool(bert(ids, attention_mask=mask), mask))
        torch.testing.assert_close(model(ids, mask), want, atol=1e-6, rtol=0)


def test_sequence_classifier_errors():
    bert = _tiny_bert()
    with pytest.raises(ValueError, match="unknown pooling 'max'"):
        SequenceClassifier(bert, 16, 2, pooling="max")
    with pytest.raises(ValueError, match="n_classes must be an int >= 2"):
        SequenceClassifier(bert, 16, 1)
    with pytest.raises(ValueError, match="hidden_size must be a positive int"):
        SequenceClassifier(bert, 0, 2)
    with pytest.raises(TypeError, match="backbone must be a torch.nn.Module"):
        SequenceClassifier("bert", 16, 2)
    ids, mask = _right_pad(_rows([3, 5]))
    with pytest.raises(ValueError, match="set hidden_size to the backbone's width"):
        SequenceClassifier(bert, 32, 2)(ids, mask)
    with pytest.raises(TypeError, match=r"pass the base model.*smollm\.model"):
        SequenceClassifier(_tiny_llama(), 16, 2)(ids, mask)  # a model with a head has no last_hidden_state
    with pytest.raises(ValueError, match="add a batch dimension"):
        SequenceClassifier(bert, 16, 2)(ids[0])
    with pytest.raises(ValueError, match="must hold only 1"):
        SequenceClassifier(bert, 16, 2)(ids, mask * 2)
    # no mask is fine: every position counts as a token
    assert SequenceClassifier(bert, 16, 2)(ids).shape == (2, 2)


# ---------------------------------------------------------------- loss and predict


def test_classification_loss_equals_cross_entropy():
    model = _lstm()
    ids, mask = _right_pad(_rows([3, 7, 5, 2], seed=7))
    labels = torch.tensor([0, 2, 1, 2])
    batch = {"input_ids": ids, "attention_mask": mask, "label": labels}
    want = F.cross_entropy(model(ids, mask), labels)
    torch.testing.assert_close(classification_loss(model, batch, torch.Generator()), want)
    with pytest.raises(KeyError, match=r"needs batch\['label'\]"):
        classification_loss(model, {"input_ids": ids, "attention_mask": mask})
    with pytest.raises(ValueError, match=r"class ids in \[0, n_classes=3\)"):
        classification_loss(model, batch | {"label": torch.tensor([0, 3, 1, 2])})
    with pytest.raises(ValueError, match="tensor of int class ids"):
        classification_loss(model, batch | {"label": labels.float()})


def test_predict_agrees_with_a_direct_forward_and_restores_train_mode():
    model = _lstm(dropout=0.5, bidirectional=True)  # train mode with dropout: predict must switch it off
    rows = _rows([5, 1, 9, 3, 7, 2, 8], seed=8)
    items = [{"input_ids": r, "label": i % 3} for i, r in enumerate(rows)]
    labels, probs = predict(model, items, pad_id=PAD, batch_size=3)
    assert model.training
    model.eval()
    with torch.no_grad():
        want = torch.softmax(model(*_right_pad(rows)), dim=-1).numpy()
    assert isinstance(labels, np.ndarray) and labels.shape == (7,) and probs.shape == (7, 3)
    np.testing.assert_allclose(probs, want, atol=1e-6)
    np.testing.assert_array_equal(labels, want.argmax(1))
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-6)
    assert not model.training  # eval mode before the call stays eval mode
    predict(model, items, pad_id=PAD)
    assert not model.training
    with pytest.raises(ValueError, match="no items"):
        predict(model, [], pad_id=PAD)
    with pytest.raises(ValueError, match=r"items\[1\] has no tokens"):
        predict(model, [{"input_ids": [1]}, {"input_ids": []}], pad_id=PAD)
    with pytest.raises(ValueError, match=r"items\[0\] must be a dict with an 'input_ids'"):
        predict(model, [{"sentence": "good"}], pad_id=PAD)
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        predict(model, items, pad_id=PAD, batch_size=0)


def test_lora_on_the_backbone_keeps_the_head_trainable():
    """The recipe for LoRA classification: adapt the backbone only (apply_lora(model.backbone, ...)), so the
    new head `score` stays trainable while the pretrained weights are frozen."""
    from llmbook.finetune import apply_lora

    hf = _tiny_llama()
    model = SequenceClassifier(hf.model, 16, 2, pooling="last")
    apply_lora(model.backbone, r=2, alpha=4, target_modules=["q_proj", "v_proj"])
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert {"score.weight", "score.bias"} <= trainable
    assert all("lora_" in name for name in trainable - {"score.weight", "score.bias"})
    assert len(trainable) == 2 + 2 * 2 * 2  # the head, and A and B of q and v in each of 2 layers
    ids, mask = _right_pad(_rows([4, 2], seed=9))
    batch = {"input_ids": ids, "attention_mask": mask, "label": torch.tensor([0, 1])}
    classification_loss(model, batch).backward()
    assert model.score.weight.grad is not None and hf.model.embed_tokens.weight.grad is None
