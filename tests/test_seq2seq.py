"""The encoder-decoder Transformer (llmbook.models.seq2seq) and its decoding
(llmbook.generate.seq2seq): greedy and beam search equal to Hugging Face's generate on T5, the KV
cache equal to recomputation, one beam equal to greedy, many beams equal to an exhaustive search,
teacher forcing and its loss."""
from __future__ import annotations

import dataclasses
import functools
import itertools

import pytest
import torch

from llmbook.generate import generate_seq2seq
from llmbook.generate.decoding import _beam_search
from llmbook.generate.seq2seq import _EncoderDecoderStep
from llmbook.hf.t5 import to_hf_t5
from llmbook.models import (GPT, T5, GPTConfig, Seq2Seq, Seq2SeqConfig, T5Config, build,
                            seq2seq_example, seq2seq_loss)
from llmbook.nn import KVCache, RMSNorm
from llmbook.train import pad_batch

VOCAB = 48


def _seq2seq(seed: int = 0, **overrides) -> Seq2Seq:
    """A random Seq2Seq whose LayerNorm weights are N(0, 1): with the signs broken, greedy
    decoding does not just repeat one token, as a tied random model tends to."""
    torch.manual_seed(seed)
    config = Seq2SeqConfig(**{**dict(vocab_size=VOCAB, n_layer=2, n_head=2, n_embd=32, dropout=0.0,
                                      max_len=64), **overrides})
    model = Seq2Seq(config).eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.LayerNorm):
                module.weight.normal_(0.0, 1.0)
    return model


def _t5(seed: int = 2, **overrides) -> T5:
    """A random T5 (v1.1's untied output layer, N(0, 1) norm weights: varied greedy output)."""
    torch.manual_seed(seed)
    model = T5(T5Config(**{**dict(vocab_size=VOCAB, n_layer=2, n_head=2, n_embd=32, dropout=0.0,
                                  tie_word_embeddings=False),
                           **overrides})).eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, RMSNorm):
                module.weight.normal_(0.0, 1.0)
    return model


def _sources(seed: int = 1, batch: int = 3, src: int = 9):
    """Source ids (no special ids) right-padded with 0 in two rows, and their mask."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, VOCAB, (batch, src), generator=g)
    mask = torch.ones(batch, src, dtype=torch.long)
    mask[1, src - 3:] = 0
    mask[2, 4:] = 0
    return ids.masked_fill(mask == 0, 0), mask


def _eos_that_ends_a_row(model, ids, mask, steps: int) -> int:
    """A token that greedy decoding first produces at step >= 2 of some row: as the end token it
    stops that row early while the others go on."""
    free = generate_seq2seq(model, ids, steps, attention_mask=mask, eos_token_id=[VOCAB - 1])
    return next(int(free[r, i]) for r in range(len(free)) for i in range(3, free.size(1))
                if free[r, i] not in free[r, :i])


def _filled_after_end(ids: torch.Tensor, eos: int, pad: int) -> torch.Tensor:
    """``ids`` (batch, 1 + n) with every position after a row's first end token set to ``pad``."""
    ended = (ids[:, 1:] == eos).long().cumsum(1)
    after = torch.cat([torch.zeros_like(ids[:, :1]), ended - (ids[:, 1:] == eos).long()], 1) > 0
    return ids.masked_fill(after, pad)


# --------------------------------------------------------------------------------------------------
# the model


def test_teacher_forcing_equals_step_by_step_decoding_with_the_cache():
    model = _seq2seq()
    ids, mask = _sources()
    target = torch.randint(3, VOCAB, (3, 7), generator=torch.Generator().manual_seed(2))
    full = model(ids, target, mask)
    memory = model.encode(ids, mask)
    cache = KVCache(model.config.decoder_layers)
    steps = torch.cat([model.decode(target[:, t:t + 1], memory, mask, kv_cache=cache)
                       for t in range(7)], 1)
    torch.testing.assert_close(steps, full, atol=1e-5, rtol=1e-5)
    # causal: changing the last target token leaves every earlier position's logits unchanged
    changed = target.clone()
    changed[:, -1] = (changed[:, -1] + 1) % VOCAB
    torch.testing.assert_close(model(ids, changed, mask)[:, :-1], full[:, :-1])


def test_source_padding_changes_nothing_and_gets_no_attention():
    model = _seq2seq()
    ids, mask = _sources()
    target = torch.randint(3, VOCAB, (3, 5), generator=torch.Generator().manual_seed(3))
    alone = model(ids[2:, :4], target[2:])  # row 2 has 4 real tokens
    padded = model(ids, target, mask)[2:]
    torch.testing.assert_close(padded, alone, atol=1e-5, rtol=1e-5)
    weights = model.cross_attention(ids, target, mask)  # (layers, batch, heads, tgt, src)
    assert weights.shape == (2, 3, 2, 5, 9)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 3, 2, 5))
    assert weights[:, 2, :, :, 4:].abs().max() == 0 and weights[:, 1, :, :, 6:].abs().max() == 0


def test_loss_is_the_cross_entropy_of_the_labels_with_label_smoothing():
    model = _seq2seq()
    example = seq2seq_example([7, 8, 9], [5, 6], decoder_start_id=1, eos_id=2)
    assert example == {"input_ids": [7, 8, 9], "decoder_input_ids": [1, 5, 6], "labels": [5, 6, 2]}
    batch = pad_batch([example, seq2seq_example([4], [3, 3, 3, 4], 1, 2)], pad_id=0)
    assert batch["labels"][0].tolist() == [5, 6, 2, -100, -100]
    logits = model(batch["input_ids"], batch["decoder_input_ids"], batch["attention_mask"])
    log_probs = logits.log_softmax(-1)
    keep = batch["labels"] != -100
    gold = log_probs.gather(-1, batch["labels"].clamp(min=0)[..., None])[..., 0][keep]
    eps = 0.1
    # eps / vocab on every token
    by_hand = -((1 - eps) * gold + eps * log_probs[keep].mean(-1)).mean()
    torch.testing.assert_close(seq2seq_loss(model, batch, label_smoothing=eps), by_hand)
    torch.testing.assert_close(seq2seq_loss(model, batch), -gold.mean())
    with pytest.raises(ValueError, match="lacks \\['labels'\\].*seq2seq_example"):
        seq2seq_loss(model, {k: v for k, v in batch.items() if k != "labels"})


def test_config_and_inputs_are_checked():
    assert isinstance(build(Seq2SeqConfig(vocab_size=10, n_embd=16, n_head=2)), Seq2Seq)
    with pytest.raises(ValueError, match="three different ids"):
        Seq2SeqConfig(vocab_size=10, pad_id=0, decoder_start_id=0)
    for n_embd, n_head in ((30, 4), (15, 3)):
        with pytest.raises(ValueError, match="must be even .* and divisible by n_head"):
            Seq2SeqConfig(n_embd=n_embd, n_head=n_head)
    with pytest.raises(ValueError, match="vocab_size is None"):
        Seq2Seq(Seq2SeqConfig())
    model = _seq2seq()
    ids, mask = _sources()
    with pytest.raises(ValueError, match="decoder_input_ids is empty.*decoder_start_id=1"):
        model(ids, ids[:, :0])
    with pytest.raises(ValueError, match="3 rows but decoder_input_ids has 2"):
        model(ids, ids[:2])
    with pytest.raises(ValueError, match=r"token ids must be in \[0, vocab_size=48\)"):
        model(ids + VOCAB, ids)


# --------------------------------------------------------------------------------------------------
# decoding


def test_greedy_and_beam_search_equal_hugging_face_generate_on_t5():
    model = _t5()
    ids, mask = _sources(src=12)
    eos = _eos_that_ends_a_row(model, ids, mask, 10)
    ended = T5(dataclasses.replace(model.config, eos_id=eos)).eval()
    ended.load_state_dict(model.state_dict())
    hf = to_hf_t5(ended).eval()
    options = [dict(num_beams=1), dict(num_beams=4, length_penalty=0.6),
               dict(num_beams=4, length_penalty=1.5, early_stopping=True),
               dict(num_beams=3, length_penalty=-0.5, early_stopping="never")]
    for kwargs in options:
        ours = generate_seq2seq(ended, ids, 10, attention_mask=mask, **kwargs)
        theirs = hf.generate(input_ids=ids, attention_mask=mask, do_sample=False, max_new_tokens=10,
                             **kwargs)
        # Hugging Face's beam search fills a finished row with `pad_token_id or eos_token_id`: with
        # T5's padding id 0 (falsy) that is the end token; ours fills with the padding id.
        assert torch.equal(ours, _filled_after_end(theirs, eos, 0)), kwargs
    # and without an end token: every row runs to max_new_tokens
    ours = generate_seq2seq(model, ids, 6, attention_mask=mask, num_beams=4,
                            eos_token_id=[VOCAB - 1])
    theirs = to_hf_t5(model).eval().generate(input_ids=ids, attention_mask=mask, max_new_tokens=6,
                                             num_beams=4, eos_token_id=VOCAB - 1)
    assert torch.equal(ours, theirs) and ours.shape == (3, 7)


@pytest.mark.parametrize("make", [_seq2seq, _t5])
def test_decoding_with_the_cache_equals_recomputation(make):
    model = make()
    ids, mask = _sources()
    eos = _eos_that_ends_a_row(model, ids, mask, 12)
    for kwargs in (dict(), dict(num_beams=3, length_penalty=0.8), dict(repetition_penalty=1.3)):
        cached = generate_seq2seq(model, ids, 12, attention_mask=mask, eos_token_id=eos, **kwargs)
        again = generate_seq2seq(model, ids, 12, attention_mask=mask, eos_token_id=eos,
                                 use_cache=False, **kwargs)
        assert torch.equal(cached, again), kwargs
    greedy = generate_seq2seq(model, ids, 12, attention_mask=mask, eos_token_id=eos)
    assert (greedy[:, 0] == model.config.decoder_start_id).all()
    ended = [r for r in range(3) if eos in greedy[r, 1:].tolist()]
    assert ended, "the chosen end token ends a row"
    for r in ended:
        end = greedy[r, 1:].tolist().index(eos) + 1
        assert (greedy[r, end + 1:] == model.config.pad_id).all()


def test_beam_search_with_one_beam_is_greedy_search():
    model = _seq2seq(seed=3)
    ids, mask = _sources()
    eos = _eos_that_ends_a_row(model, ids, mask, 10)
    greedy = generate_seq2seq(model, ids, 10, attention_mask=mask, eos_token_id=eos)
    # num_beams=1 means greedy in generate_seq2seq: run the beam search itself with a single beam
    memory = model.encode(ids, mask)
    step = _EncoderDecoderStep(model, memory, mask, KVCache(model.config.decoder_layers))
    start = torch.full((3, 1), model.config.decoder_start_id)
    with torch.no_grad():
        beam = _beam_search(step, start, None, 10, 1, 1.0, True, 1.0, [eos], model.config.pad_id,
                            VOCAB)
    assert torch.equal(beam, greedy[:, :beam.size(1)]) and (greedy[:, beam.size(1):] == 0).all()


@pytest.mark.parametrize("length_penalty", [0.0, 1.0])
def test_beam_search_with_enough_beams_finds_the_exhaustive_optimum(length_penalty):
    """On a 6-token vocabulary with at most 4 new tokens every possible target can be scored: beam
    search that prunes nothing (enough beams, early_stopping="never") must return the best one."""
    vocab, steps, eos = 6, 4, 2
    model = _seq2seq(seed=4, vocab_size=vocab, n_embd=16)
    ids = torch.tensor([[3, 4, 5, 3, 0, 1]])
    # every target: (steps - 1) tokens that are not EOS then any token, or an earlier EOS ending
    plain = [t for t in range(vocab) if t != eos]
    targets = [list(p) + [eos] for n in range(steps) for p in itertools.product(plain, repeat=n)]
    targets += [list(p) + [last] for p in itertools.product(plain, repeat=steps - 1)
                for last in range(vocab) if last != eos]
    rows = torch.full((len(targets), steps + 1), 0)
    for i, t in enumerate(targets):
        rows[i, 1:len(t) + 1] = torch.tensor(t)
    rows[:, 0] = model.config.decoder_start_id
    with torch.no_grad():
        log_probs = model(ids.expand(len(targets), -1), rows[:, :-1]).log_softmax(-1)
    token_lp = log_probs.gather(-1, rows[:, 1:, None])[..., 0]
    lengths = torch.tensor([len(t) for t in targets])
    real = torch.arange(steps)[None] < lengths[:, None]
    scores = (token_lp * real).sum(1) / lengths.float() ** length_penalty
    best = targets[int(scores.argmax())]
    beam = generate_seq2seq(model, ids, steps, num_beams=150, length_penalty=length_penalty,
                            early_stopping="never", eos_token_id=eos)
    assert beam[0, 1:len(best) + 1].tolist() == best and beam.size(1) == len(best) + 1
    greedy = generate_seq2seq(model, ids, steps, eos_token_id=eos)[0, 1:].tolist()
    assert len(targets) == 781
    assert scores.max() >= scores[targets.index(greedy)]  # greedy is one of the candidates


def test_bad_decoding_input_names_the_fix():
    model = _seq2seq()
    ids, mask = _sources()
    with pytest.raises(ValueError, match="the source is empty"):
        generate_seq2seq(model, ids[:, :0], 5)
    with pytest.raises(ValueError, match="exceed the model's max_len=64: ask for at most 63"):
        generate_seq2seq(model, ids, 64)
    with pytest.raises(ValueError, match="num_beams must be an int >= 1"):
        generate_seq2seq(model, ids, 5, num_beams=0)
    with pytest.raises(ValueError, match="top_p"):
        generate_seq2seq(model, ids, 5, do_sample=True, top_p=1.5)
    with pytest.raises(TypeError, match="for a decoder-only model use generate"):
        gpt = GPT(GPTConfig(vocab_size=VOCAB, n_layer=1, n_head=2, n_embd=16, block_size=8))
        generate_seq2seq(gpt, ids, 5)
    assert generate_seq2seq(model, ids, 0).tolist() == [[1], [1], [1]]
    # seeded sampling is reproducible, and differs from greedy
    g1, g2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    sample = functools.partial(generate_seq2seq, model, ids, 8, attention_mask=mask, do_sample=True)
    a = sample(generator=g1)
    assert torch.equal(a, sample(generator=g2))
    assert not torch.equal(a, generate_seq2seq(model, ids, 8, attention_mask=mask))
