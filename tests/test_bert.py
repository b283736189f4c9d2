"""Tests of llmbook.models.bert (BERT, BertForPreTraining, mean_pool) and llmbook.hf.bert against Hugging
Face's BertModel / BertForPreTraining, on random weights and on all-MiniLM-L6-v2 with real SST-2 sentences."""
from __future__ import annotations

import dataclasses
import warnings

import pytest
import torch
import torch.nn.functional as F

transformers = pytest.importorskip("transformers")

from llmbook.hf.bert import from_hf_bert, hf_bert_config, to_hf_bert  # noqa: E402
from llmbook.models.bert import BERT, BERTConfig, BertForPreTraining, mean_pool  # noqa: E402

# Widths that catch a mix-up: d_ff differs from 4 * n_embd, several heads, two segments, short table
TINY = BERTConfig(vocab_size=97, max_position=24, n_layer=2, n_head=4, n_embd=32, d_ff=48, dropout=0.1)


def _randomised(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """``model`` with every parameter moved off its initialisation (LayerNorms 1/0 and zero biases would
    hide a converter that swaps two norms or two biases)."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():  # tied parameters appear once
            p.add_(0.1 * torch.randn_like(p))
    return model.eval()


def _batch(config: BERTConfig, batch: int = 3, seq: int = 20, seed: int = 1) -> dict[str, torch.Tensor]:
    """Random ids with a [CLS]-like first token, two segments and right padding of different lengths."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, config.vocab_size, (batch, seq), generator=g)
    token_type_ids = torch.zeros_like(ids)
    token_type_ids[:, seq // 2:] = 1
    attention_mask = torch.ones_like(ids)
    for row, length in enumerate(range(seq, seq - 7 * batch, -7)):
        attention_mask[row, length:] = 0
    ids = ids.masked_fill(attention_mask == 0, config.pad_id)
    token_type_ids = token_type_ids.masked_fill(attention_mask == 0, 0)
    return {"input_ids": ids, "token_type_ids": token_type_ids, "attention_mask": attention_mask}


def _states_equal(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


# ---------------------------------------------------------------- config and construction


def test_config_validates_its_fields():
    assert BERTConfig().vocab_size is None  # allowed until the tokenizer is known
    assert TINY.ff_width == 48 and BERTConfig(n_embd=16).ff_width == 64
    for bad, message in [({"n_layer": 0}, "n_layer must be a positive int"),
                         ({"vocab_size": 0}, "vocab_size must be a positive int"),
                         ({"n_embd": 30, "n_head": 4}, "divisible by n_head"),
                         ({"dropout": 1.0}, "dropout must be in"),
                         ({"layer_norm_eps": 0.0}, "layer_norm_eps"),
                         ({"d_ff": 2.5}, "d_ff must be a positive int"),
                         ({"vocab_size": 10, "pad_id": 10}, "pad_id=10 is not in the vocabulary")]:
        with pytest.raises(ValueError, match=message):
            BERTConfig(**bad)
    for model_class in (BERT, BertForPreTraining):
        with pytest.raises(ValueError, match=r"vocab_size is None.*dataclasses.replace"):
            model_class(BERTConfig())
    with pytest.raises(TypeError, match="BERTConfig"):
        BERT(dataclasses.asdict(TINY))


def test_initialisation_is_berts():
    torch.manual_seed(0)
    model = BertForPreTraining(dataclasses.replace(TINY, n_embd=64, n_head=2, d_ff=None))
    assert model.mlm_decoder.weight is model.bert.word_embeddings.weight  # tied
    assert model.bert.word_embeddings.weight[TINY.pad_id].abs().sum() == 0  # as Hugging Face's padding row
    fc1 = model.bert.encoder.layers[0].ff.fc1
    assert fc1.weight.shape == (256, 64) and abs(fc1.weight.std().item() - 0.02) < 0.002
    assert torch.all(fc1.bias == 0) and torch.all(model.mlm_decoder.bias == 0)
    norm = model.bert.encoder.layers[1].norm2
    assert torch.all(norm.weight == 1) and torch.all(norm.bias == 0) and norm.eps == 1e-12
    assert isinstance(model.bert.encoder.norm, torch.nn.Identity)  # post-LN: no final norm


def test_num_params_counts_like_hugging_face():
    torch.manual_seed(0)
    model = BertForPreTraining(TINY)
    hf = to_hf_bert(model)
    assert hf.num_parameters() == model.num_params(non_embedding=False)
    tables = (TINY.max_position + TINY.type_vocab_size) * TINY.n_embd
    assert model.num_params() == model.num_params(non_embedding=False) - tables
    encoder = BERT(TINY)
    assert to_hf_bert(encoder).num_parameters() == encoder.num_params(non_embedding=False)
    word_table = TINY.vocab_size * TINY.n_embd
    assert encoder.num_params() == encoder.num_params(non_embedding=False) - tables - word_table


# ---------------------------------------------------------------- equality with Hugging Face, random weights


@pytest.mark.parametrize("attn_implementation", ["sdpa", "eager"])
def test_pretraining_logits_and_loss_equal_hugging_face(attn_implementation):
    model = _randomised(BertForPreTraining(TINY))
    hf = to_hf_bert(model, attn_implementation=attn_implementation).eval()
    assert isinstance(hf, transformers.BertForPreTraining)
    word_table = hf.bert.embeddings.word_embeddings.weight
    assert hf.cls.predictions.decoder.weight.data_ptr() == word_table.data_ptr()  # still tied
    batch = _batch(TINY)
    g = torch.Generator().manual_seed(2)
    labels = torch.full_like(batch["input_ids"], -100)
    chosen = (torch.rand(labels.shape, generator=g) < 0.3) & (batch["attention_mask"] == 1)
    labels[chosen] = torch.randint(0, TINY.vocab_size, (int(chosen.sum()),), generator=g)
    next_sentence_label = torch.tensor([0, 1, 1])

    mlm_logits, nsp_logits = model(**batch)
    assert mlm_logits.shape == (3, 20, TINY.vocab_size) and nsp_logits.shape == (3, 2)
    out = hf(**batch, labels=labels, next_sentence_label=next_sentence_label)
    torch.testing.assert_close(mlm_logits, out.prediction_logits, atol=1e-5, rtol=0)
    torch.testing.assert_close(nsp_logits, out.seq_relationship_logits, atol=1e-5, rtol=0)
    # Our loss, written out: MLM cross-entropy over the chosen positions + NSP cross-entropy
    mlm_loss = F.cross_entropy(mlm_logits[labels != -100], labels[labels != -100])
    nsp_loss = F.cross_entropy(nsp_logits, next_sentence_label)
    torch.testing.assert_close(mlm_loss + nsp_loss, out.loss, atol=1e-5, rtol=0)


def test_encoder_exports_as_bert_model_with_pooler():
    model = _randomised(BERT(TINY))
    hf = to_hf_bert(model).eval()
    assert isinstance(hf, transformers.BertModel) and hf.pooler is not None
    batch = _batch(TINY)
    with torch.no_grad():
        hidden = model(**batch)
        out = hf(**batch)
    assert hidden.shape == (3, 20, TINY.n_embd)
    torch.testing.assert_close(hidden, out.last_hidden_state, atol=1e-5, rtol=0)
    torch.testing.assert_close(model.pool(hidden), out.pooler_output, atol=1e-5, rtol=0)
    # No token_type_ids and no attention_mask: both default to one unpadded sentence, as in Hugging Face
    ids = batch["input_ids"][:, :9].clamp(min=1)
    with torch.no_grad():
        torch.testing.assert_close(model(ids), hf(input_ids=ids).last_hidden_state, atol=1e-5, rtol=0)


@pytest.mark.parametrize("model_class", [BERT, BertForPreTraining])
def test_round_trip_keeps_the_state(model_class):
    model = _randomised(model_class(TINY))
    back = from_hf_bert(to_hf_bert(model))
    assert type(back) is model_class and back.config == model.config
    assert _states_equal(model, back)
    if model_class is BertForPreTraining:
        assert back.mlm_decoder.weight is back.bert.word_embeddings.weight  # still tied
    model.train()
    assert from_hf_bert(to_hf_bert(model)).training  # the mode travels both ways


def test_hf_config_maps_every_field():
    cfg = hf_bert_config(TINY)
    assert (cfg.vocab_size, cfg.hidden_size, cfg.num_hidden_layers, cfg.num_attention_heads) == (97, 32, 2, 4)
    assert (cfg.intermediate_size, cfg.max_position_embeddings, cfg.type_vocab_size) == (48, 24, 2)
    assert cfg.hidden_act == "gelu" and cfg.layer_norm_eps == 1e-12 and cfg.pad_token_id == 0
    assert cfg.hidden_dropout_prob == cfg.attention_probs_dropout_prob == 0.1
    with pytest.raises(ValueError, match="vocab_size is None"):
        hf_bert_config(BERTConfig())


def test_from_hf_refuses_what_has_no_equivalent():
    base = hf_bert_config(TINY)
    for change, message in [({"hidden_act": "relu"}, "hidden_act='relu'"),
                            ({"hidden_act": "gelu_new"}, "hidden_act='gelu_new'"),
                            ({"position_embedding_type": "relative_key"}, "position_embedding_type"),
                            ({"is_decoder": True}, "is_decoder")]:
        cfg = transformers.BertConfig(**{**base.to_dict(), **change})
        with pytest.raises(ValueError, match=message):
            from_hf_bert(transformers.BertModel(cfg))
    with pytest.raises(TypeError, match="BertModel or BertForPreTraining"):
        from_hf_bert(transformers.BertForMaskedLM(base))
    with pytest.raises(TypeError, match="BERT or BertForPreTraining"):
        to_hf_bert(torch.nn.Linear(2, 2))
    untied_config = transformers.BertConfig(**{**base.to_dict(), "tie_word_embeddings": False})
    untied = transformers.BertForPreTraining(untied_config)
    with torch.no_grad():
        untied.cls.predictions.decoder.weight.add_(1.0)
    with pytest.raises(ValueError, match="not tied"):
        from_hf_bert(untied)


def test_bert_model_without_pooler_loads_with_a_warning():
    torch.manual_seed(0)
    hf = transformers.BertModel(hf_bert_config(TINY), add_pooling_layer=False).eval()
    with pytest.warns(UserWarning, match="no pooler"):
        model = from_hf_bert(hf)
    batch = _batch(TINY)
    with torch.no_grad():
        torch.testing.assert_close(model(**batch), hf(**batch).last_hidden_state, atol=1e-5, rtol=0)


# ---------------------------------------------------------------- the real pretrained encoder: MiniLM


@pytest.fixture(scope="module")
def minilm():
    """(Hugging Face BertModel, our BERT, tokenizer, 8 SST-2 validation sentences), loaded once."""
    from llmbook import data
    from llmbook.pretrained import load_minilm

    try:
        hf, tokenizer = load_minilm(device="cpu")
    except Exception as exc:  # pragma: no cover - the package is installed in CI
        pytest.skip(f"MiniLM unavailable: {exc}")
    sentences = [row["sentence"] for row in data.load("sst2", "val")[:8]]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # MiniLM ships its pooler: no "no pooler" warning
        ours = from_hf_bert(hf).eval()
    return hf, ours, tokenizer, sentences


def test_minilm_hidden_states_equal_hugging_face_on_sst2(minilm):
    hf, ours, tokenizer, sentences = minilm
    assert isinstance(ours, BERT) and ours.config.n_embd == 384 and ours.config.n_layer == 6
    single = tokenizer(sentences, padding=True, return_tensors="pt")  # one segment, padded
    pairs = tokenizer(sentences[:4], sentences[4:], padding=True, return_tensors="pt")  # two segments
    assert (single["attention_mask"] == 0).any() and (pairs["token_type_ids"] == 1).any()
    for batch in (single, pairs):
        inputs = {k: batch[k] for k in ("input_ids", "token_type_ids", "attention_mask")}
        with torch.no_grad():
            hidden = ours(**inputs)
            out = hf(**inputs)
        torch.testing.assert_close(hidden, out.last_hidden_state, atol=1e-5, rtol=0)
        torch.testing.assert_close(ours.pool(hidden), out.pooler_output, atol=1e-5, rtol=0)


def test_minilm_mean_pool_is_sentence_transformers(minilm):
    hf, ours, tokenizer, sentences = minilm
    batch = tokenizer(sentences, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = ours(batch["input_ids"], batch["token_type_ids"], batch["attention_mask"])
        token_embeddings = hf(**batch).last_hidden_state
    # sentence-transformers' Pooling(mode="mean"), by hand
    mask = batch["attention_mask"].unsqueeze(-1).expand(token_embeddings.size()).float()
    expected = (token_embeddings * mask).sum(1) / torch.clamp(mask.sum(1), min=1e-9)
    embeddings = mean_pool(hidden, batch["attention_mask"])
    assert embeddings.shape == (8, 384)
    torch.testing.assert_close(embeddings, expected, atol=1e-5, rtol=0)
    # Padding changes nothing: the longest-padded sentence alone gives the same embedding
    shortest = int(batch["attention_mask"].sum(1).argmin())
    alone = tokenizer(sentences[shortest:shortest + 1], return_tensors="pt")
    with torch.no_grad():
        alone_hidden = ours(alone["input_ids"], alone["token_type_ids"])
        alone_embedding = mean_pool(alone_hidden, alone["attention_mask"])
    torch.testing.assert_close(alone_embedding[0], embeddings[shortest], atol=1e-5, rtol=0)
    # ... which a plain mean over the padded batch gets wrong
    assert not torch.allclose(hidden.mean(1)[shortest], expected[shortest], atol=1e-3)
    torch.testing.assert_close(mean_pool(hidden), hidden.mean(1))  # no mask: every token


# ---------------------------------------------------------------- bad input


def test_bad_inputs_raise_clear_errors():
    model = BertForPreTraining(TINY).eval()
    ids = torch.randint(1, TINY.vocab_size, (2, 10))
    ones = torch.ones_like(ids)
    too_long = torch.randint(1, 97, (1, 25))
    out_of_vocab = ids.masked_fill(ids == ids[0, 3], TINY.vocab_size)
    cases = [
        ((ids.float(),), {}, "integer token ids"),
        ((ids[0],), {}, r"\(batch, seq\).*\[None\]"),
        ((out_of_vocab,), {}, r"token ids must be in \[0, vocab_size=97\)"),
        ((too_long,), {}, "25 positions but the position table has 24: cut the sequence"),
        ((ids,), {"token_type_ids": ones[:, :9]}, r"token_type_ids must have the shape of input_ids \(2, 10"),
        ((ids,), {"token_type_ids": ones * 2}, r"token_type_ids must be in \[0, type_vocab_size=2\)"),
        ((ids,), {"token_type_ids": ones.float()}, "integer segment ids"),
        ((ids,), {"attention_mask": ones[:1]}, r"attention_mask must have the shape of input_ids"),
        ((ids,), {"attention_mask": ones * 2}, "only 1 .real token. and 0 .padding."),
        ((ids,), {"attention_mask": torch.cat([ones[:1], ones[1:] * 0])},
         r"marks every position of row\(s\) \[1\] as padding"),
    ]
    for args, kwargs, message in cases:
        with pytest.raises(ValueError, match=message):
            model(*args, **kwargs)
    with pytest.raises(ValueError, match=r"attention_mask must be \(batch, seq\)"):
        mean_pool(torch.zeros(2, 10, 32), ones[:, :5])
    with pytest.raises(ValueError, match=r"hidden must be \(batch, seq, n_embd\)"):
        mean_pool(torch.zeros(2, 10), ones)
    # A boolean mask (True = real token) is accepted like 1/0
    with torch.no_grad():
        as_bool = model(ids, attention_mask=ones.bool())[0]
        torch.testing.assert_close(as_bool, model(ids, attention_mask=ones)[0])


# ---------------------------------------------------------------- dropout and training


def test_dropout_is_off_in_eval_and_on_in_train():
    model = _randomised(BERT(dataclasses.replace(TINY, dropout=0.3)))
    no_dropout = BERT(dataclasses.replace(TINY, dropout=0.0))
    no_dropout.load_state_dict(model.state_dict())
    no_dropout.eval()
    batch = _batch(TINY)
    with torch.no_grad():
        torch.testing.assert_close(model(**batch), no_dropout(**batch), atol=0, rtol=0)
        model.train()
        first, second = model(**batch), model(**batch)
    assert not torch.allclose(first, second)


def test_masked_lm_training_reduces_the_loss():
    torch.manual_seed(0)
    config = dataclasses.replace(TINY, n_layer=1, dropout=0.1)
    model = BertForPreTraining(config).train()
    batch = _batch(config, batch=4, seq=12)
    labels = batch["input_ids"].clone()
    masked = (torch.rand(labels.shape) < 0.3) & (batch["attention_mask"] == 1)
    masked[:, 1] = True  # at least one prediction per row
    labels[~masked] = -100
    inputs = batch["input_ids"].masked_fill(masked, 3)  # 3 stands for [MASK]
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(25):
        mlm_logits, _ = model(inputs, batch["token_type_ids"], batch["attention_mask"])
        loss = F.cross_entropy(mlm_logits[labels != -100], labels[labels != -100])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[0] > 4.0  # about log(97) at the start
    assert losses[-1] < 0.5 * losses[0]
