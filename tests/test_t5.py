"""T5 (llmbook.models.t5) against Hugging Face's T5ForConditionalGeneration; relative position buckets."""
from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F
from transformers import T5Config as HFT5Config
from transformers import T5ForConditionalGeneration
from transformers.models.t5.modeling_t5 import T5Attention

from llmbook.hf.t5 import from_hf_t5, hf_t5_config, to_hf_t5
from llmbook.models.t5 import T5, T5Config, shift_right
from llmbook.nn import MultiHeadAttention, RMSNorm, scaled_dot_product_attention
from llmbook.nn.position import RelativePositionBias, relative_position_bucket

ATOL = 1e-5
VOCAB = 50


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run fastest on one thread (two threads on a busy 2-core machine mostly wait for each
    other)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _config(**overrides) -> T5Config:
    # 8 buckets up to distance 16: with sequences of 40, relative positions fill the exact buckets, the
    # logarithmic ones and the last one (distances beyond max_distance) in both stacks.
    options = dict(vocab_size=VOCAB, n_layer=2, n_head=4, n_embd=32, d_kv=6, d_ff=48, dropout=0.1,
                   relative_attention_num_buckets=8, relative_attention_max_distance=16)
    options.update(overrides)
    return T5Config(**options)


def _model(seed: int = 0, **overrides) -> T5:
    """A random T5 whose norm weights are N(0, 1) too: a mixed-up norm would show, and (signs broken)
    greedy decoding does not just repeat its last token, as a tied random T5 does."""
    torch.manual_seed(seed)
    model = T5(_config(**overrides)).eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, RMSNorm):
                module.weight.normal_(0.0, 1.0)
    return model


def _batch(seed: int = 1, batch: int = 3, src: int = 40, tgt: int = 37):
    """Token ids (no pad or eos ids) and an encoder mask with right padding in two rows."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(2, VOCAB, (batch, src), generator=g)
    mask = torch.ones(batch, src, dtype=torch.long)
    mask[1, src - 10:] = 0
    mask[2, 5:] = 0
    ids = ids.masked_fill(mask == 0, 0)
    dec = torch.randint(2, VOCAB, (batch, tgt), generator=g)
    return ids, mask, dec


def _hf_logits(hf, ids, mask, dec, dec_mask=None):
    with torch.no_grad():
        return hf(input_ids=ids, attention_mask=mask, decoder_input_ids=dec,
                  decoder_attention_mask=dec_mask).logits


# --------------------------------------------------------------------------------------------------
# relative position buckets and bias


@pytest.mark.parametrize("bidirectional", [True, False])
@pytest.mark.parametrize("num_buckets, max_distance", [(32, 128), (8, 16), (4, 5), (6, 20), (33, 100)])
def test_relative_position_bucket_equals_hf(bidirectional, num_buckets, max_distance):
    relative = torch.arange(-300, 301)[:, None] + torch.arange(0, 3)[None, :]  # a (601, 3) grid
    ours = relative_position_bucket(relative, bidirectional, num_buckets, max_distance)
    theirs = T5Attention._relative_position_bucket(relative, bidirectional, num_buckets, max_distance)
    assert ours.dtype == torch.long and ours.shape == relative.shape
    assert torch.equal(ours, theirs)
    assert int(ours.min()) == 0 and int(ours.max()) < num_buckets


def test_relative_position_bucket_layout():
    # Causal, 8 buckets up to 16: distances 0-3 exact, then log-spaced; the last bucket holds 12 and beyond.
    distance = torch.arange(0, 40)
    buckets = relative_position_bucket(-distance, bidirectional=False, num_buckets=8, max_distance=16)
    assert buckets[:4].tolist() == [0, 1, 2, 3]
    # d >= 4: 4 + floor(log(d / 4) / log(16 / 4) * 4), at most 7
    assert buckets[4:13].tolist() == [4, 4, 5, 5, 6, 6, 6, 6, 7]
    assert (buckets[13:] == 7).all()
    assert (buckets.diff() >= 0).all()  # farther never means a nearer bucket
    # Keys after the query are masked in a decoder: all of them share bucket 0.
    assert (relative_position_bucket(distance + 1, False, 8, 16) == 0).all()
    # Bidirectional: the upper half of the buckets is for keys after the query.
    both = relative_position_bucket(torch.tensor([-1, 1, -20, 20]), True, 8, 16)
    assert both.tolist() == [1, 5, 3, 7]


@pytest.mark.parametrize("bidirectional, offset", [(True, 0), (False, 0), (False, 7)])
def test_relative_position_bias_equals_hf_compute_bias(bidirectional, offset):
    torch.manual_seed(0)
    hf_config = HFT5Config(vocab_size=VOCAB, d_model=16, d_kv=4, num_heads=3,
                           relative_attention_num_buckets=8, relative_attention_max_distance=16,
                           is_decoder=not bidirectional)
    theirs = T5Attention(hf_config, has_relative_attention_bias=True, layer_idx=0)
    ours = RelativePositionBias(3, num_buckets=8, max_distance=16, bidirectional=bidirectional)
    ours.embedding.weight.data.copy_(theirs.relative_attention_bias.weight)
    seq_q = 1 if offset else 25
    expected = theirs.compute_bias(seq_q, offset + seq_q, past_seen_tokens=offset)
    torch.testing.assert_close(ours(seq_q, offset + seq_q, offset), expected, atol=0, rtol=0)


def test_relative_position_bucket_refuses_bad_layouts():
    with pytest.raises(ValueError, match="max_distance=4 must exceed the 4 exact buckets"):
        relative_position_bucket(torch.arange(3), bidirectional=False, num_buckets=8, max_distance=4)
    with pytest.raises(ValueError, match="num_buckets=3 is too few"):
        RelativePositionBias(2, num_buckets=3, max_distance=10, bidirectional=True)
    with pytest.raises(TypeError, match="integer tensor"):
        relative_position_bucket(torch.zeros(3))


# --------------------------------------------------------------------------------------------------
# the attention extensions T5 needs: a float bias, a free scale and a head width of its own


def test_sdpa_bias_and_scale_are_added_to_the_scores():
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, 5, 4, generator=g) for _ in range(3))
    bias = torch.randn(1, 3, 5, 5, generator=g)
    mask = torch.rand(2, 1, 5, 5, generator=g) > 0.3
    mask[..., 0] = True
    expected = torch.softmax((q @ k.transpose(-2, -1) * 0.7 + bias).masked_fill(~mask, float("-inf")), -1) @ v
    torch.testing.assert_close(scaled_dot_product_attention(q, k, v, mask, bias=bias, scale=0.7), expected,
                               atol=ATOL, rtol=0)
    with pytest.raises(TypeError, match="bias must be a floating-point tensor"):
        scaled_dot_product_attention(q, k, v, bias=mask)
    with pytest.raises(ValueError, match=r"bias of shape \(4, 5\) cannot be broadcast"):
        scaled_dot_product_attention(q, k, v, bias=torch.zeros(4, 5))


@pytest.mark.parametrize("causal", [False, True])
def test_mha_attn_bias_fast_path_equals_readable_path(causal):
    torch.manual_seed(0)
    mha = MultiHeadAttention(16, 4, bias=False, head_dim=6, scale=1.0).eval()
    assert mha.q_proj.weight.shape == (24, 16) and mha.out_proj.weight.shape == (16, 24)
    x = torch.randn(2, 7, 16)
    bias = torch.randn(1, 4, 7, 7)
    padding = torch.zeros(2, 7, dtype=torch.bool)
    padding[1, 5:] = True
    fast = mha(x, causal=causal, key_padding_mask=padding, attn_bias=bias)
    readable, weights = mha(x, causal=causal, key_padding_mask=padding, attn_bias=bias, need_weights=True)
    torch.testing.assert_close(fast, readable, atol=ATOL, rtol=0)
    q = mha.q_proj(x).unflatten(-1, (4, 6)).transpose(1, 2)
    k = mha.k_proj(x).unflatten(-1, (4, 6)).transpose(1, 2)
    scores = q @ k.transpose(-2, -1) + bias  # scale 1.0: no division by sqrt(6)
    scores = scores.masked_fill(padding[:, None, None, :], float("-inf"))
    if causal:
        scores = scores.masked_fill(~torch.ones(7, 7, dtype=torch.bool).tril(), float("-inf"))
    torch.testing.assert_close(weights, torch.softmax(scores, -1), atol=ATOL, rtol=0)


# --------------------------------------------------------------------------------------------------
# equality with Hugging Face


def test_relative_positions_reach_every_kind_of_bucket():
    # The test inputs below do exercise the logarithmic buckets and distances beyond max_distance.
    c = _config()
    _, _, dec = _batch()
    relative = torch.arange(dec.size(1))[None, :] - torch.arange(dec.size(1))[:, None]
    causal = relative_position_bucket(relative, False, c.relative_attention_num_buckets,
                                      c.relative_attention_max_distance)
    assert c.relative_attention_max_distance < dec.size(1) - 1
    assert set(causal.unique().tolist()) == set(range(c.relative_attention_num_buckets))


@pytest.mark.parametrize("attn_implementation", ["sdpa", "eager"])
def test_to_hf_gives_the_same_logits(attn_implementation):
    model = _model(n_decoder_layer=3)
    hf = to_hf_t5(model, attn_implementation).eval()
    assert isinstance(hf, T5ForConditionalGeneration) and hf.config.num_decoder_layers == 3
    ids, mask, dec = _batch()
    with torch.no_grad():
        ours = model(ids, dec, mask)
    assert ours.shape == (3, 37, VOCAB)
    torch.testing.assert_close(ours, _hf_logits(hf, ids, mask, dec), atol=ATOL, rtol=0)
    # The encoder's states, padded positions included
    with torch.no_grad():
        theirs = hf.encoder(input_ids=ids, attention_mask=mask).last_hidden_state
        torch.testing.assert_close(model.encode(ids, mask), theirs, atol=ATOL, rtol=0)
    # A padded decoder input (decoder_attention_mask), as in a batch of targets of different lengths
    dec_mask = torch.ones_like(dec)
    dec_mask[0, 30:] = 0
    with torch.no_grad():
        ours = model(ids, dec, mask, dec_mask)
    torch.testing.assert_close(ours, _hf_logits(hf, ids, mask, dec, dec_mask), atol=ATOL, rtol=0)


def test_t5_v1_1_variant_gives_the_same_logits():
    # gated-GELU feed-forward and an lm_head of its own, without the d_model**-0.5 rescaling
    model = _model(feed_forward="gated-gelu", tie_word_embeddings=False)
    assert model.lm_head.weight is not model.embed.weight
    hf = to_hf_t5(model).eval()
    assert hf.lm_head.weight.data_ptr() != hf.shared.weight.data_ptr() and not hf.config.scale_decoder_outputs
    ids, mask, dec = _batch()
    with torch.no_grad():
        ours = model(ids, dec, mask)
    theirs = _hf_logits(hf, ids, mask, dec)
    # Its logits are large (an N(0, 1) output layer without rescaling): the tolerance is relative.
    torch.testing.assert_close(ours, theirs, atol=ATOL, rtol=1e-5)
    other = to_hf_t5(_model(seed=1, feed_forward="gated-gelu", tie_word_embeddings=False)).eval()
    assert not torch.allclose(ours, _hf_logits(other, ids, mask, dec))  # the check can fail


def _resolved(config: T5Config) -> dict:
    """A config's fields with the derived widths written out (None and the value it stands for agree)."""
    return dataclasses.asdict(config) | {"n_decoder_layer": config.decoder_layers, "d_kv": config.head_width,
                                         "d_ff": config.ff_width}


def test_from_hf_gives_hf_logits_and_round_trips():
    torch.manual_seed(3)
    hf_config = HFT5Config(vocab_size=VOCAB, d_model=32, d_kv=8, d_ff=40, num_layers=2, num_decoder_layers=1,
                           num_heads=2, relative_attention_num_buckets=8, relative_attention_max_distance=16,
                           dropout_rate=0.0)
    hf = T5ForConditionalGeneration(hf_config).eval()
    model = from_hf_t5(hf)
    assert model.config.decoder_layers == 1 and model.config.head_width == 8 and model.config.tie_word_embeddings
    ids, mask, dec = _batch(seed=4)
    with torch.no_grad():
        torch.testing.assert_close(model(ids, dec, mask), _hf_logits(hf, ids, mask, dec), atol=ATOL, rtol=0)
    # HF → ours → HF gives back every tensor; ours → HF → ours too.
    again = to_hf_t5(model).state_dict()
    for name, tensor in hf.state_dict().items():
        assert torch.equal(again[name], tensor), name
    ours = _model(feed_forward="gated-gelu")
    back = from_hf_t5(to_hf_t5(ours)).state_dict()
    assert back.keys() == ours.state_dict().keys()
    for name, tensor in ours.state_dict().items():
        assert torch.equal(back[name], tensor), name
    assert _resolved(from_hf_t5(to_hf_t5(ours)).config) == _resolved(ours.config)


def test_initialisation_matches_hf_statistics():
    # Each tensor's spread is that of Hugging Face's T5 initialisation (factor 1.0).
    config = _config(n_embd=64, d_kv=16, d_ff=256, relative_attention_num_buckets=32,
                     relative_attention_max_distance=128)
    torch.manual_seed(0)
    ours = to_hf_t5(T5(config)).state_dict()  # our weights, under HF's names
    torch.manual_seed(0)
    theirs = T5ForConditionalGeneration(hf_t5_config(config)).state_dict()
    for name, tensor in theirs.items():
        if name.endswith("layer_norm.weight"):
            assert torch.equal(ours[name], tensor), name
        else:
            ratio = ours[name].std() / tensor.std()
            assert 0.8 < ratio < 1.25, (name, float(ratio))


# --------------------------------------------------------------------------------------------------
# generation and teacher forcing


def test_greedy_generate_equals_hf_token_for_token():
    model = _model(dropout=0.0)
    ids, mask, _ = _batch(seed=5, src=30)
    free = model.generate(ids, 12, mask)
    assert free.shape == (3, 12)
    # Make a token that first appears at step >= 2 of some row the end token: that row then stops there
    # and pads while the others go on.
    row, stop_at = next((r, i) for r in range(3) for i in range(2, 12) if free[r, i] not in free[r, :i])
    eos = int(free[row, stop_at])
    ended = T5(dataclasses.replace(model.config, eos_id=eos)).eval()
    ended.load_state_dict(model.state_dict())
    ours = ended.generate(ids, 12, mask)
    assert ours[row, stop_at] == eos and (ours[row, stop_at + 1:] == ended.config.pad_id).all()
    assert torch.equal(ours, ended.generate(ids, 12, mask, use_cache=False))
    hf = to_hf_t5(ended).eval()
    theirs = hf.generate(input_ids=ids, attention_mask=mask, do_sample=False, num_beams=1, max_new_tokens=12)
    assert (theirs[:, 0] == ended.config.decoder_start_id).all()
    assert torch.equal(ours, theirs[:, 1:])


def test_generate_with_other_special_ids_stops_when_every_row_ended():
    model = _model(seed=2, dropout=0.0, pad_id=3, decoder_start_id=2)
    ids, mask, _ = _batch(seed=6, src=12)
    ours = model.generate(ids, 10, mask)
    # (with these seeds) every row produces eos=1 within 9 steps, so generation stops before 10
    assert ours.shape[1] < 10 and ((ours == 1).any(dim=1)).all() and (ours[:, -1] == 1).any()
    for r in range(3):
        end = ours[r].tolist().index(1)
        assert (ours[r, end + 1:] == 3).all()  # padded with pad_id after its end
    hf = to_hf_t5(model).eval()
    theirs = hf.generate(input_ids=ids, attention_mask=mask, do_sample=False, num_beams=1, max_new_tokens=10)
    assert (theirs[:, 0] == 2).all() and torch.equal(ours, theirs[:, 1:])
    assert model.generate(ids, 0, mask).shape == (3, 0)


def test_generate_with_and_without_cache_agree_on_unequal_depths():
    model = _model(n_decoder_layer=3, dropout=0.0)
    ids, mask, _ = _batch(seed=7, src=20)
    cached = model.generate(ids, 25, mask)  # 25 > max_distance: the causal buckets saturate on the way
    assert torch.equal(cached, model.generate(ids, 25, mask, use_cache=False))


def test_shift_right_equals_hf():
    hf = to_hf_t5(_model(decoder_start_id=2, pad_id=3))
    labels = torch.tensor([[5, 6, 7, 1], [8, 1, -100, -100], [-100, 9, 1, -100]])
    ours = shift_right(labels, decoder_start_id=2, pad_id=3)
    assert torch.equal(ours, hf._shift_right(labels))
    assert ours.tolist() == [[2, 5, 6, 7], [2, 8, 1, 3], [2, 3, 9, 1]]


def test_teacher_forcing_loss_equals_hf_loss():
    model = _model()
    hf = to_hf_t5(model).eval()
    ids, mask, _ = _batch(seed=8, tgt=9)
    labels = torch.randint(2, VOCAB, (3, 9))
    labels[1, 6:] = -100
    with torch.no_grad():
        logits = model(ids, shift_right(labels), mask)
        theirs = hf(input_ids=ids, attention_mask=mask, labels=labels).loss
    loss = F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=-100)
    torch.testing.assert_close(loss, theirs, atol=ATOL, rtol=0)


# --------------------------------------------------------------------------------------------------
# bad input


def test_bad_inputs_raise_named_errors():
    model = _model()
    ids, mask, dec = _batch(src=8, tgt=5)
    with pytest.raises(ValueError, match=r"input_ids: token ids must be in \[0, vocab_size=50\)"):
        model(ids.masked_fill(ids == ids[0, 0], 50), dec)
    with pytest.raises(ValueError, match=r"decoder_input_ids: token ids must be in \[0, vocab_size=50\)"):
        model(ids, dec - 10)
    with pytest.raises(ValueError, match=r"decoder_input_ids is empty .*decoder_start_id=0"):
        model(ids, dec[:, :0])
    with pytest.raises(ValueError, match=r"input_ids is empty"):
        model.encode(ids[:, :0])
    with pytest.raises(ValueError, match=r"input_ids must be a \(batch, seq\) tensor .*input_ids\[None\]"):
        model(ids[0], dec)
    with pytest.raises(ValueError, match="input_ids has 3 rows but decoder_input_ids has 2"):
        model(ids, dec[:2])
    with pytest.raises(ValueError, match=r"attention_mask must have the shape of its token ids \(3, 8\)"):
        model(ids, dec, mask[:, :7])
    with pytest.raises(ValueError, match=r"decoder_attention_mask must have the shape of its token ids \(3,"):
        model(ids, dec, mask, torch.ones(3, 4))
    with pytest.raises(ValueError, match=r"must hold only 1 \(real token\) and 0 \(padding\)"):
        model(ids, dec, mask * 2)
    empty_row = mask.clone()
    empty_row[1] = 0
    with pytest.raises(ValueError, match=r"marks every position of row\(s\) \[1\] as padding"):
        model.generate(ids, 3, empty_row)
    with pytest.raises(ValueError, match="max_new_tokens must be a non-negative int"):
        model.generate(ids, -1)


def test_bad_configs_raise_named_errors():
    with pytest.raises(ValueError, match=r"vocab_size is None: set it to the tokenizer's"):
        T5(T5Config())  # a config may wait for its tokenizer (the book's sizes do); a model may not
    wide = dataclasses.replace(T5Config(n_embd=64, n_head=4), n_embd=128)  # derived widths follow
    assert (wide.head_width, wide.ff_width, wide.decoder_layers) == (32, 512, 2)
    with pytest.raises(ValueError, match="n_embd=30 is not divisible by n_head=4"):
        T5Config(vocab_size=10, n_embd=30)
    assert T5Config(vocab_size=10, n_embd=30, d_kv=7).head_width == 7  # a head width of its own: no divisibility
    with pytest.raises(ValueError, match=r"feed_forward must be one of \('relu', 'gated-gelu'\)"):
        T5Config(vocab_size=10, feed_forward="swiglu")
    with pytest.raises(ValueError, match="max_distance > num_buckets // 2 = 16"):
        T5Config(vocab_size=10, relative_attention_max_distance=16)
    with pytest.raises(ValueError, match=r"eos_id must be a token id in \[0, vocab_size=10\)"):
        T5Config(vocab_size=10, eos_id=10)
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\)"):
        T5Config(vocab_size=10, dropout=1.0)
    config = T5Config(vocab_size=10, n_layer=3)
    assert (config.decoder_layers, config.head_width, config.ff_width) == (3, 16, 256)


def test_hf_conversion_refuses_what_has_no_equivalent():
    with pytest.raises(TypeError, match="to_hf_t5 expects an llmbook.models.t5.T5"):
        to_hf_t5(torch.nn.Linear(2, 2))
    small = dict(vocab_size=VOCAB, d_model=16, d_kv=4, d_ff=32, num_layers=1, num_heads=2)
    with pytest.raises(ValueError, match=r"feed_forward_proj='gated-silu'"):
        from_hf_t5(T5ForConditionalGeneration(HFT5Config(feed_forward_proj="gated-silu", **small)))
    with pytest.raises(ValueError, match=r"eos_token_id=\[1, 2\]"):
        from_hf_t5(T5ForConditionalGeneration(HFT5Config(eos_token_id=[1, 2], **small)))
    untied = T5ForConditionalGeneration(HFT5Config(**small))
    untied.config.tie_word_embeddings = False
    untied.lm_head.weight = torch.nn.Parameter(untied.lm_head.weight.detach() + 1)
    with pytest.raises(ValueError, match="its lm_head differs from shared"):
        from_hf_t5(untied)  # still rescaled (scale_decoder_outputs=True), yet not tied


# --------------------------------------------------------------------------------------------------
# it learns


def test_tiny_t5_learns_to_copy():
    # Source: 6 tokens from 3..11; target: the same tokens, then eos. The loss falls well below its start
    # and greedy decoding copies more tokens than chance (1/9) would.
    torch.manual_seed(0)
    config = T5Config(vocab_size=12, n_layer=1, n_head=2, n_embd=32, d_ff=64, dropout=0.0,
                      relative_attention_num_buckets=8, relative_attention_max_distance=16)
    model = T5(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(150):
        src = torch.randint(3, 12, (32, 6), generator=g)
        labels = torch.cat([src, torch.full((32, 1), config.eos_id)], dim=1)
        logits = model(src, shift_right(labels, config.decoder_start_id, config.pad_id))
        loss = F.cross_entropy(logits.flatten(0, 1), labels.flatten())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert last < 0.5 * first, (first, last)
    model.eval()
    src = torch.randint(3, 12, (64, 6), generator=g)
    accuracy = (model.generate(src, 7)[:, :6] == src).float().mean().item()
    assert accuracy > 2 / 9, accuracy
