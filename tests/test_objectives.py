"""Tests of llmbook.objectives: BERT's masking (80/10/10) and losses, NSP/SOP pairs, T5's span
corruption (against the rules of T5's reference code), and the three objectives in the Trainer."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from llmbook.data import char_data
from llmbook.device import seed_everything
from llmbook.objectives import (
    IGNORE_INDEX,
    CausalLM,
    MaskedLM,
    SpanCorruption,
    TextToText,
    mask_tokens,
    masked_token_accuracy,
    mlm_loss,
    nsp_loss,
    random_spans_noise_mask,
    sentence_pairs,
    span_corruption,
    span_lengths,
)
from llmbook.train import TrainConfig, Trainer

# all-MiniLM-L6-v2's WordPiece special ids
PAD, UNK, CLS, SEP, MASK = 0, 100, 101, 102, 103
WORDPIECE_SPECIALS = (PAD, UNK, CLS, SEP, MASK)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------- mask_tokens


@pytest.fixture(scope="module")
def wordpiece_rows():
    """1000 rows of 128 WordPiece ids of real text (WikiText-2), ``[CLS] ... [SEP]``, every fourth row
    right-padded with [PAD]: about 118k ordinary tokens."""
    tokenizers = pytest.importorskip("tokenizers")
    from llmbook import data
    from llmbook.pretrained import minilm_dir

    tokenizer = tokenizers.Tokenizer.from_file(str(minilm_dir() / "tokenizer.json"))
    tokenizer.no_padding()  # the saved tokenizer pads (and cuts) batches for the sentence encoder
    tokenizer.no_truncation()
    names = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
    assert [tokenizer.token_to_id(t) for t in names] == list(WORDPIECE_SPECIALS)
    lines = [line for line in data.load("wikitext2", "val").split("\n") if line.strip()]
    stream = [i for enc in tokenizer.encode_batch(lines[:2000], add_special_tokens=False) for i in enc.ids]
    n_rows, body = 1000, 126
    assert len(stream) >= n_rows * body
    rows = torch.tensor(stream[: n_rows * body]).reshape(n_rows, body)
    ids = torch.cat([torch.full((n_rows, 1), CLS), rows, torch.full((n_rows, 1), SEP)], dim=1)
    g = _gen(0)
    for r in range(0, n_rows, 4):
        ids[r, 128 - int(torch.randint(1, 60, (1,), generator=g)):] = PAD
    return ids, tokenizer.get_vocab_size()


def test_mask_tokens_follows_bert_rule_on_real_text(wordpiece_rows):
    ids, vocab_size = wordpiece_rows
    inputs, labels = mask_tokens(ids, MASK, vocab_size, [PAD, UNK, CLS, SEP], generator=_gen(1))
    assert inputs.shape == labels.shape == ids.shape and labels.dtype == torch.long
    special = torch.isin(ids, torch.tensor(WORDPIECE_SPECIALS))
    assert int((ids == PAD).sum()) > 5000 and int((~special).sum()) >= 100_000
    selected = labels != IGNORE_INDEX
    # special and padding tokens are never selected nor changed; nothing unselected changes
    assert not bool(selected[special].any())
    assert torch.equal(inputs[~selected], ids[~selected])
    assert torch.equal(labels[selected], ids[selected])  # the label is the original token
    fraction = selected.sum().item() / (~special).sum().item()
    assert abs(fraction - 0.15) < 0.005, fraction
    n = selected.sum().item()
    masked = selected & (inputs == MASK)
    kept = selected & (inputs == ids)
    randomised = selected & (inputs != MASK) & (inputs != ids)
    assert masked.sum() + kept.sum() + randomised.sum() == n
    assert abs(masked.sum().item() / n - 0.8) < 0.01
    assert abs(randomised.sum().item() / n - 0.1) < 0.01
    assert abs(kept.sum().item() / n - 0.1) < 0.01  # includes the rare random draw of the same token
    # random replacements come from the ordinary vocabulary, spread over it
    replacements = inputs[randomised]
    assert not bool(torch.isin(replacements, torch.tensor(WORDPIECE_SPECIALS)).any())
    assert len(replacements.unique()) > 0.9 * len(replacements)


def test_mask_tokens_is_deterministic_with_a_seeded_generator_and_takes_both_shapes(wordpiece_rows):
    ids, vocab_size = wordpiece_rows[0][:50], wordpiece_rows[1]
    a = mask_tokens(ids, MASK, vocab_size, WORDPIECE_SPECIALS, generator=_gen(7))
    b = mask_tokens(ids, MASK, vocab_size, WORDPIECE_SPECIALS, generator=_gen(7))
    c = mask_tokens(ids, MASK, vocab_size, WORDPIECE_SPECIALS, generator=_gen(8))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[1], c[1])
    g = _gen(7)
    first, second = (mask_tokens(ids, MASK, vocab_size, WORDPIECE_SPECIALS, generator=g) for _ in range(2))
    assert torch.equal(first[1], a[1]) and not torch.equal(second[1], a[1])  # the generator advances
    # (seq,) gives what the same row gives as a (1, seq) batch
    row_inputs, row_labels = mask_tokens(ids[3], MASK, vocab_size, WORDPIECE_SPECIALS, generator=_gen(5))
    batch_inputs, batch_labels = mask_tokens(ids[3:4], MASK, vocab_size, WORDPIECE_SPECIALS,
                                             generator=_gen(5))
    assert row_inputs.shape == (128,) and torch.equal(row_inputs, batch_inputs[0])
    assert torch.equal(row_labels, batch_labels[0])
    # int32 ids keep their dtype; labels are int64
    inputs32, labels32 = mask_tokens(ids.int(), MASK, vocab_size, WORDPIECE_SPECIALS, generator=_gen(7))
    assert inputs32.dtype == torch.int32 and torch.equal(inputs32.long(), a[0])
    assert torch.equal(labels32, a[1])


def test_mask_tokens_selects_at_least_one_token_per_row():
    # Rows of 4 ordinary tokens: the draw selects none with probability 0.85^4, then one is added,
    # so the expected selected fraction is p + (1 - p)^n / n (documented).
    g = _gen(3)
    ids = torch.randint(5, 60, (20_000, 6), generator=g)
    ids[:, 0], ids[:, -1] = 1, 2  # [CLS]-like and [SEP]-like
    inputs, labels = mask_tokens(ids, 3, 60, [0, 1, 2], generator=g)
    selected = labels != IGNORE_INDEX
    assert bool(selected.any(dim=1).all())
    assert not bool(selected[:, [0, -1]].any())
    expected = 0.15 + 0.85 ** 4 / 4
    assert abs(selected.sum().item() / (4 * 20_000) - expected) < 0.005
    # random replacements come from the ordinary ids only (here 56 of 60)
    randomised = (labels != IGNORE_INDEX) & (inputs != 3) & (inputs != ids)
    assert int(randomised.sum()) > 1000
    assert not bool(torch.isin(inputs[randomised], torch.tensor([0, 1, 2, 3])).any())
    # rows of special tokens only: nothing to select, no error
    specials_only = torch.tensor([[1, 0, 0, 2], [1, 2, 0, 0]])
    inputs, labels = mask_tokens(specials_only, 3, 60, [0, 1, 2], generator=g)
    assert torch.equal(inputs, specials_only) and bool((labels == IGNORE_INDEX).all())


def test_mask_tokens_refuses_bad_input():
    ids = torch.randint(4, 50, (2, 8))
    cases = [
        (dict(ids=ids.float()), "integer token ids"),
        (dict(ids=ids[None]), r"\(batch, seq\)"),
        (dict(ids=ids.tolist()), "tensor of token ids"),
        (dict(ids=ids + 50), r"ids must be in \[0, vocab_size=50\)"),
        (dict(probability=0.0), r"probability must be a number in \(0, 1\]"),
        (dict(probability=1.5), "probability"),
        (dict(mask_id=50), "mask_id=50 is outside the vocabulary"),
        (dict(special_ids=[0, 99]), "outside the vocabulary"),
        (dict(special_ids=2), "sequence of token ids"),
        (dict(special_ids=list(range(50))), "every id of the vocabulary of 50 is special"),
        (dict(vocab_size=0), "vocab_size must be a positive int"),
    ]
    for overrides, message in cases:
        kwargs = dict(ids=ids, mask_id=3, vocab_size=50, special_ids=[0, 1, 2]) | overrides
        with pytest.raises(ValueError, match=message):
            mask_tokens(**kwargs)


# ---------------------------------------------------------------- losses


def test_mlm_loss_equals_torch_and_hugging_face():
    from transformers.loss.loss_utils import ForMaskedLMLoss

    g = _gen(0)
    logits = torch.randn(3, 11, 40, generator=g) * 3
    labels = torch.randint(0, 40, (3, 11), generator=g)
    labels[torch.rand(3, 11, generator=g) < 0.7] = IGNORE_INDEX
    labels[0, 0] = 5
    loss = mlm_loss(logits, labels)
    assert loss.dtype == torch.float32 and loss.shape == ()
    reference = F.cross_entropy(logits.reshape(-1, 40), labels.reshape(-1), ignore_index=-100)
    torch.testing.assert_close(loss, reference, atol=0, rtol=0)
    torch.testing.assert_close(loss, ForMaskedLMLoss(logits, labels, vocab_size=40), atol=1e-6, rtol=0)
    # the formula: minus the mean log-probability of the original token over the selected positions
    chosen = labels != IGNORE_INDEX
    by_hand = -logits.log_softmax(-1)[chosen].gather(1, labels[chosen][:, None]).mean()
    torch.testing.assert_close(loss, by_hand, atol=1e-6, rtol=0)
    # (seq, vocab) works; bf16 logits are scored in float32
    torch.testing.assert_close(mlm_loss(logits[0], labels[0]), F.cross_entropy(logits[0], labels[0]),
                               atol=0, rtol=0)
    low = logits.bfloat16()
    assert mlm_loss(low, labels).dtype == torch.float32
    torch.testing.assert_close(mlm_loss(low, labels), mlm_loss(low.float(), labels), atol=0, rtol=0)


def test_mlm_loss_refuses_an_all_ignored_batch_and_bad_labels():
    logits = torch.randn(2, 5, 10)
    with pytest.raises(ValueError, match="every label is -100"):
        mlm_loss(logits, torch.full((2, 5), IGNORE_INDEX))
    assert torch.isnan(F.cross_entropy(logits.reshape(-1, 10), torch.full((10,), -100)))  # what it prevents
    with pytest.raises(ValueError, match=r"labels must have shape \(2, 5\)"):
        mlm_loss(logits, torch.zeros(2, 6, dtype=torch.long))
    with pytest.raises(ValueError, match=r"must be in \[0, 10\) or -100"):
        mlm_loss(logits, torch.full((2, 5), 10))
    with pytest.raises(ValueError, match=r"must be in \[0, 10\) or -100"):
        mlm_loss(logits, torch.full((2, 5), -1))
    with pytest.raises(ValueError, match="integer class ids"):
        mlm_loss(logits, torch.zeros(2, 5))
    with pytest.raises(ValueError, match="undefined"):
        masked_token_accuracy(logits, torch.full((2, 5), IGNORE_INDEX))


def test_nsp_loss_equals_cross_entropy_and_accuracy_counts_selected_positions():
    g = _gen(1)
    logits, labels = torch.randn(8, 2, generator=g), torch.randint(0, 2, (8,), generator=g)
    torch.testing.assert_close(nsp_loss(logits, labels), nn.CrossEntropyLoss()(logits, labels),
                               atol=0, rtol=0)
    with pytest.raises(ValueError, match=r"\(batch, 2\)"):
        nsp_loss(torch.randn(8, 3), labels)
    with pytest.raises(ValueError, match=r"must be in \[0, 2\)"):
        nsp_loss(logits, labels + 1)
    with pytest.raises(ValueError, match=r"shape \(8,\)"):
        nsp_loss(logits, labels[:4])
    mlm_logits = torch.zeros(1, 4, 5)
    mlm_logits[0, torch.arange(4), torch.tensor([1, 2, 3, 4])] = 1.0  # argmax: 1, 2, 3, 4
    labels = torch.tensor([[1, 0, IGNORE_INDEX, 4]])
    assert masked_token_accuracy(mlm_logits, labels) == pytest.approx(2 / 3)


# ---------------------------------------------------------------- sentence pairs


def test_nsp_pairs_shapes_segments_and_random_second_halves():
    batch, seq = 400, 10
    x = torch.arange(batch * seq).reshape(batch, seq) + 1000  # every token says where it came from
    input_ids, token_type_ids, labels = sentence_pairs(x, _gen(0), "nsp", cls_id=1, sep_id=2)
    assert input_ids.shape == token_type_ids.shape == (batch, seq + 3) and labels.shape == (batch,)
    assert bool((input_ids[:, 0] == 1).all())  # [CLS]
    assert bool((input_ids[:, 6] == 2).all()) and bool((input_ids[:, -1] == 2).all())  # [SEP] after A and B
    assert torch.equal(token_type_ids, torch.tensor([0] * 7 + [1] * 6).expand(batch, -1))
    assert torch.equal(input_ids[:, 1:6], x[:, :5])  # A: the row's own first half
    second = input_ids[:, 7:-1]
    is_next = labels == 0
    assert torch.equal(second[is_next], x[is_next, 5:])  # IsNext: its own continuation
    source_row = (second[:, 0] - 1000) // seq
    assert bool((source_row[~is_next] != torch.arange(batch)[~is_next]).all())  # NotNext: another row's
    assert torch.equal(second[~is_next], x[source_row[~is_next], 5:])  # ... second half
    assert abs(labels.float().mean().item() - 0.5) < 0.06
    again = sentence_pairs(x, _gen(0), "nsp", cls_id=1, sep_id=2)
    assert all(torch.equal(a, b) for a, b in zip(again, (input_ids, token_type_ids, labels)))
    # In small batches a random permutation often leaves a row in place; the derangement never does.
    g, small = _gen(1), x[:3]
    for _ in range(300):
        input_ids, _, labels = sentence_pairs(small, g, "nsp", cls_id=1, sep_id=2)
        own = (input_ids[:, 7:-1] == small[:, 5:]).all(1)
        assert torch.equal(own, labels == 0)


def test_sop_swaps_exactly_the_labelled_rows():
    batch, seq = 2000, 7  # odd: the first half has 3 tokens, the second 4
    x = torch.randint(10, 100, (batch, seq), generator=_gen(2))
    input_ids, token_type_ids, labels = sentence_pairs(x, _gen(3), "sop", cls_id=1, sep_id=2)
    swapped = labels == 1
    in_order = torch.cat([torch.ones(batch, 1, dtype=torch.long), x[:, :3], torch.full((batch, 1), 2),
                          x[:, 3:], torch.full((batch, 1), 2)], dim=1)
    reversed_ = torch.cat([torch.ones(batch, 1, dtype=torch.long), x[:, 3:], torch.full((batch, 1), 2),
                           x[:, :3], torch.full((batch, 1), 2)], dim=1)
    assert torch.equal(input_ids[~swapped], in_order[~swapped])
    assert torch.equal(input_ids[swapped], reversed_[swapped])
    # segment 0 = [CLS] first [SEP], whichever half comes first
    in_order_types, swapped_types = torch.tensor([0] * 5 + [1] * 5), torch.tensor([0] * 6 + [1] * 4)
    assert bool((token_type_ids[~swapped] == in_order_types).all())
    assert bool((token_type_ids[swapped] == swapped_types).all())
    assert abs(swapped.float().mean().item() - 0.5) < 0.03


def test_sentence_pairs_refuse_bad_input():
    with pytest.raises(ValueError, match="at least 2 rows"):
        sentence_pairs(torch.zeros(1, 8, dtype=torch.long), _gen(0), "nsp", cls_id=1, sep_id=2)
    sentence_pairs(torch.zeros(1, 8, dtype=torch.long), _gen(0), "sop", cls_id=1, sep_id=2)  # one row will do
    with pytest.raises(ValueError, match="at least 2"):
        sentence_pairs(torch.zeros(4, 1, dtype=torch.long), _gen(0), "sop", cls_id=1, sep_id=2)
    with pytest.raises(ValueError, match="'nsp'.*'sop'"):
        sentence_pairs(torch.zeros(4, 8, dtype=torch.long), _gen(0), "mlm", cls_id=1, sep_id=2)
    with pytest.raises(ValueError, match=r"\(batch, seq\)"):
        sentence_pairs(torch.zeros(8, dtype=torch.long), _gen(0), cls_id=1, sep_id=2)


# ---------------------------------------------------------------- span corruption


def t5_counts(length: int, noise_density: float, mean_span_length: float) -> tuple[int, int]:
    """The counts of T5's ``random_spans_noise_mask`` (t5/data/preprocessors.py), restated: the length
    is raised to 2 "to avoid degeneracy"; ``num_noise_tokens = round(length * noise_density)``
    clipped to ``[1, length - 1]``; ``num_noise_spans = round(num_noise_tokens / mean)`` clipped to
    ``>= 1``; arithmetic in float32 (``to_float``) and ``tf.round``, which rounds half to even."""
    length = max(length, 2)
    noise = int(np.round(np.float32(length) * np.float32(noise_density)))
    noise = min(max(noise, 1), length - 1)
    spans = max(int(np.round(np.float32(noise) / np.float32(mean_span_length))), 1)
    return noise, spans


def t5_random_spans_helper(tokens_length: int, noise_density: float,
                           mean_span_length: float) -> tuple[int, int]:
    """T5's ``random_spans_helper`` length arithmetic (Python floats, no clipping), inputs and targets
    each with one EOS."""
    noise = int(round(tokens_length * noise_density))
    spans = int(round(noise / mean_span_length))
    return tokens_length - noise + spans + 1, noise + spans + 1


def fill_in(inputs: list[int], targets: list[int], sentinels: list[int]) -> list[int]:
    """Put back each sentinel's span from the targets into the inputs."""
    sentinel_set, spans, current = set(sentinels), {}, None
    for token in targets:
        if token in sentinel_set:
            assert token not in spans, "a sentinel appears twice in the targets"
            current = spans[token] = []
        else:
            assert current is not None, "the targets must start with a sentinel"
            current.append(token)
    out = []
    for token in inputs:
        out.extend(spans[token] if token in sentinel_set else [token])
    return out


def runs(mask: torch.Tensor) -> int:
    """Number of runs of True."""
    m = mask.long()
    return int(m[0]) + int(((m[1:] - m[:-1]) == 1).sum()) if len(m) else 0


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(length=st.one_of(st.integers(1, 12), st.integers(13, 400)),
       noise_density=st.sampled_from([0.15, 0.05, 0.3, 0.5]),
       mean_span_length=st.sampled_from([3.0, 1.0, 2.0, 5.5]),
       seed=st.integers(0, 2**31 - 1), with_eos=st.booleans())
def test_span_corruption_round_trip_and_t5_counts(length, noise_density, mean_span_length, seed, with_eos):
    ids = torch.randint(1000, 1100, (length,), generator=_gen(seed))
    noise, spans = t5_counts(length, noise_density, mean_span_length)
    sentinels = list(range(10, 10 + spans + 3))
    eos_id = 1 if with_eos else None
    if spans > max(length, 2) - noise:  # T5 cannot cut the non-noise tokens into that many spans
        with pytest.raises(ValueError, match="lower noise_density or raise mean_span_length"):
            span_corruption(ids, sentinels, noise_density, mean_span_length, _gen(seed), eos_id)
        return
    inputs, targets = span_corruption(ids, sentinels, noise_density, mean_span_length, _gen(seed), eos_id)
    expected_lengths = span_lengths(length, noise_density, mean_span_length, with_eos=with_eos)
    assert (len(inputs), len(targets)) == expected_lengths
    if with_eos:
        assert inputs[-1] == targets[-1] == 1
        inputs, targets = inputs[:-1], targets[:-1]
    assert fill_in(inputs.tolist(), targets.tolist(), sentinels) == ids.tolist()
    mask = random_spans_noise_mask(length, noise_density, mean_span_length, _gen(seed))  # the same draw
    assert mask.shape == (length,) and mask.dtype == torch.bool
    assert torch.equal(inputs[inputs < 1000], torch.tensor(sentinels[:runs(mask)]))  # in order, one per span
    if length == 1:  # T5 draws for length 2 and cuts back: the token is never noise
        assert not bool(mask.any()) and torch.equal(inputs, ids) and targets.tolist() == [sentinels[0]]
        return
    assert int(mask.sum()) == noise and runs(mask) == spans
    assert not bool(mask[0]) and bool(mask[-1])  # non-noise first, noise last (T5 without random_roll)
    assert targets[0] == sentinels[0]
    assert len(inputs) == length - noise + spans and len(targets) == noise + spans


def test_span_lengths_match_t5():
    # T5's pretraining lengths: 568 tokens -> 512 inputs and 114 targets (with EOS), as
    # random_spans_helper(inputs_length=512, 0.15, 3.0, 1, 1) computes
    assert span_lengths(568, 0.15, 3.0, with_eos=True) == (512, 114) == t5_random_spans_helper(568, 0.15, 3.0)
    assert span_lengths(1) == (1, 1) and span_lengths(2) == (2, 2) and span_lengths(3) == (3, 2)
    # The helper agrees with the mask except where it cannot: the clipping (short sequences) and the
    # lengths where float32 and float64 round length * density to different integers.
    for n in range(10, 3000):
        if span_lengths(n, with_eos=True) != t5_random_spans_helper(n, 0.15, 3.0):
            assert round(n * 0.15) != int(np.round(np.float32(n) * np.float32(0.15))), n
    assert span_lengths(190) == (190 - 29 + 10, 29 + 10)  # float32: 28.500002 -> 29 noise tokens


def test_noise_mask_draws_every_segmentation_alike_and_one_span_sits_at_the_end():
    # 8 tokens at density 0.5, mean 2: 4 noise tokens in 2 spans and 4 others in 2 spans; each
    # of the 3 x 3 segmentations is equally likely
    g = _gen(4)
    counts: dict[tuple[int, ...], int] = {}
    for _ in range(900):
        key = tuple(random_spans_noise_mask(8, 0.5, 2.0, g).int().tolist())
        counts[key] = counts.get(key, 0) + 1
    assert len(counts) == 9 and all(abs(c / 900 - 1 / 9) < 0.04 for c in counts.values())
    # One span is enough for 30 tokens: T5's mask (without random_roll) then always hides the last 4
    for seed in range(5):
        assert random_spans_noise_mask(30, generator=_gen(seed)).int().tolist() == [0] * 26 + [1] * 4


def test_span_corruption_refuses_bad_input():
    ids = torch.arange(100, 200)
    with pytest.raises(ValueError, match="needs 5 sentinel ids, got 4"):
        span_corruption(ids, [1, 2, 3, 4], generator=_gen(0))
    with pytest.raises(ValueError, match="contain a sentinel id"):
        span_corruption(ids, [150, 1, 2, 3, 4, 5], generator=_gen(0))
    with pytest.raises(ValueError, match="repeated"):
        span_corruption(ids, [1, 1, 2, 3, 4, 5], generator=_gen(0))
    with pytest.raises(ValueError, match="empty"):
        span_corruption(ids[:0], [1, 2])
    with pytest.raises(ValueError, match=r"\(seq,\)"):
        span_corruption(ids[None], [1, 2])
    for density in (0.0, 1.0, -0.1):
        with pytest.raises(ValueError, match="noise_density"):
            span_corruption(ids, list(range(30)), noise_density=density)
    with pytest.raises(ValueError, match="mean_span_length must be a number >= 1"):
        span_lengths(100, 0.15, 0.5)
    with pytest.raises(ValueError, match="length must be a positive int"):
        random_spans_noise_mask(0)


def test_span_corruption_objective_batches_rows_and_shifts_targets_like_hugging_face():
    transformers = pytest.importorskip("transformers")
    objective = SpanCorruption(list(range(3, 13)), decoder_start_id=0, pad_id=0, eos_id=1)
    x = torch.randint(20, 50, (5, 40), generator=_gen(0))
    inputs, targets = objective.corrupt(x, _gen(1))
    assert (inputs.shape[1], targets.shape[1]) == span_lengths(40, with_eos=True)
    assert len(inputs) == len(targets) == 5
    g = _gen(1)
    for row, inp, tgt in zip(x, inputs, targets):
        expected = span_corruption(row, list(range(3, 13)), generator=g, eos_id=1)
        assert torch.equal(inp, expected[0]) and torch.equal(tgt, expected[1])

    class Recorder(nn.Module):  # a T5-like model that remembers what it was given
        def __init__(self):
            super().__init__()
            self.head = nn.Linear(1, 60)

        def forward(self, input_ids, decoder_input_ids, attention_mask=None):
            self.seen = (input_ids, decoder_input_ids)
            self.logits = self.head(decoder_input_ids[..., None].float())
            return self.logits

    model = Recorder()
    loss = objective(model, x, None, _gen(1))
    hf = transformers.T5ForConditionalGeneration(transformers.T5Config(
        vocab_size=60, d_model=8, d_kv=4, d_ff=8, num_layers=1, num_heads=2, decoder_start_token_id=0,
        pad_token_id=0))
    assert torch.equal(model.seen[0], inputs) and torch.equal(model.seen[1], hf._shift_right(targets))
    reference = F.cross_entropy(model.logits.reshape(-1, 60), targets.reshape(-1))
    torch.testing.assert_close(loss, reference, atol=0, rtol=0)
    assert "100" not in repr(objective) and "SpanCorruption(noise_density=0.15" in repr(objective)
    with pytest.raises(ValueError, match="needs 15 sentinel ids, got 10"):  # 300 tokens: 45 noise in 15 spans
        objective.corrupt(torch.randint(20, 50, (2, 300)), _gen(0))


# ---------------------------------------------------------------- the objectives in the Trainer

CHAR_VOCAB = 65
BERT_PAD, BERT_CLS, BERT_SEP, BERT_MASK = 65, 66, 67, 68  # appended to the 65 characters
BERT_VOCAB = 69
T5_PAD, T5_EOS, T5_SENTINELS = 0, 1, list(range(67, 75))  # characters become ids 2..66
T5_VOCAB = 75
BLOCK = 16


class TinyBertLike(nn.Module):
    """A stand-in with BertForPreTraining's signature: each position sees the mean of the sequence."""

    def __init__(self, vocab_size: int, max_len: int = 32, d: int = 16, dropout: float = 0.1):
        super().__init__()
        self.tokens, self.positions = nn.Embedding(vocab_size, d), nn.Embedding(max_len, d)
        self.segments, self.mix, self.drop = nn.Embedding(2, d), nn.Linear(d, d), nn.Dropout(dropout)
        self.mlm, self.nsp = nn.Linear(d, vocab_size), nn.Linear(d, 2)

    def forward(self, input_ids, token_type_ids=None, attention_mask=None):
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        positions = torch.arange(input_ids.size(1))
        h = self.tokens(input_ids) + self.positions(positions) + self.segments(token_type_ids)
        h = self.drop(h + torch.tanh(self.mix(h.mean(1, keepdim=True))))
        return self.mlm(h), self.nsp(h[:, 0])


class TinyT5Like(nn.Module):
    """A stand-in with T5's signature: the decoder sees its inputs and the mean of the encoder's."""

    def __init__(self, vocab_size: int, max_len: int = 32, d: int = 16, dropout: float = 0.1):
        super().__init__()
        self.embed, self.positions = nn.Embedding(vocab_size, d), nn.Embedding(max_len, d)
        self.mix, self.drop, self.head = nn.Linear(d, d), nn.Dropout(dropout), nn.Linear(d, vocab_size)

    def forward(self, input_ids, decoder_input_ids, attention_mask=None):
        context = torch.tanh(self.mix(self.embed(input_ids).mean(1, keepdim=True)))
        h = self.embed(decoder_input_ids) + self.positions(torch.arange(decoder_input_ids.size(1))) + context
        return self.head(self.drop(h))


def _gpt():
    from llmbook.models import GPT, GPTConfig

    return GPT(GPTConfig(vocab_size=CHAR_VOCAB, block_size=BLOCK, n_layer=1, n_head=2, n_embd=16,
                         dropout=0.1))


def _bert():
    from llmbook.models.bert import BERTConfig, BertForPreTraining

    return BertForPreTraining(BERTConfig(vocab_size=BERT_VOCAB, max_position=BLOCK + 3, n_layer=1, n_head=2,
                                         n_embd=16, pad_id=BERT_PAD))


def _t5():
    from llmbook.models.t5 import T5, T5Config

    return T5(T5Config(vocab_size=T5_VOCAB, n_layer=1, n_head=2, n_embd=16, d_ff=32))


def _masked(task=None):
    return MaskedLM(BERT_MASK, BERT_VOCAB, [BERT_PAD], sentence_task=task, cls_id=BERT_CLS, sep_id=BERT_SEP)


def _span():
    return SpanCorruption(T5_SENTINELS, decoder_start_id=T5_PAD, pad_id=T5_PAD, eos_id=T5_EOS)


# name: (objective, model factory, token offset of the data)
CASES = {
    "causal-gpt": (CausalLM, _gpt, 0),
    "mlm-standin": (_masked, lambda: TinyBertLike(BERT_VOCAB), 0),
    "mlm+nsp-standin": (lambda: _masked("nsp"), lambda: TinyBertLike(BERT_VOCAB), 0),
    "mlm+sop-standin": (lambda: _masked("sop"), lambda: TinyBertLike(BERT_VOCAB), 0),
    "span-standin": (_span, lambda: TinyT5Like(T5_VOCAB), 2),
    "mlm+nsp-bert": (lambda: _masked("nsp"), _bert, 0),
    "mlm-bert": (_masked, _bert, 0),
    "span-t5": (_span, _t5, 2),
}


@pytest.fixture(scope="module")
def chars():
    _, train_ids, val_ids = char_data(max_chars=20_000)
    return train_ids, val_ids


def _trainer(case: str, data, **overrides) -> Trainer:
    make_objective, make_model, offset = CASES[case]
    seed_everything(0)
    model = make_model()
    config = dict(max_steps=6, batch_size=4, block_size=BLOCK, warmup_steps=2, lr=3e-3, eval_interval=3,
                  eval_steps=2, progress=False, seed=0) | overrides
    return Trainer(model, data[0] + offset, data[1] + offset, TrainConfig(**config), device="cpu",
                   objective=make_objective())


def _check_training_and_resume(make_trainer, tmp_path) -> Trainer:
    """Train 6 steps; losses finite; stopped at 3, saved, loaded and continued = uninterrupted;
    evaluation gives the same numbers twice."""
    uninterrupted = make_trainer()
    history = uninterrupted.train()
    assert history.step == list(range(1, 7)) and history.eval_step == [0, 3, 6]
    assert all(math.isfinite(v) for v in history.train_loss + history.eval_train_loss)

    first = make_trainer()
    first.train(until_step=3)
    first.save_checkpoint(str(tmp_path / "ckpt"))
    resumed = make_trainer()
    torch.manual_seed(123)  # disturb the global RNG (dropout): the checkpoint must restore it
    resumed.load_checkpoint(str(tmp_path / "ckpt"))
    resumed.train()
    assert resumed.history.train_loss == history.train_loss
    assert resumed.history.eval_train_loss == history.eval_train_loss
    assert resumed.history.val_loss == history.val_loss or all(map(math.isnan, history.val_loss))
    for p, q in zip(resumed.model.parameters(), uninterrupted.model.parameters()):
        assert torch.equal(p, q)

    a, b = uninterrupted.evaluate(), uninterrupted.evaluate()  # the same corruption each time
    assert a["train_loss"] == b["train_loss"]
    assert a["val_loss"] == b["val_loss"] or math.isnan(a["val_loss"])
    return uninterrupted


@pytest.mark.parametrize("case", list(CASES))
def test_trainer_with_each_objective_trains_evaluates_alike_and_resumes_exactly(case, chars, tmp_path):
    trainer = _check_training_and_resume(lambda: _trainer(case, chars), tmp_path)
    assert all(math.isfinite(v) for v in trainer.history.val_loss)


# ---------------------------------------------------------------- text to text


def _pairs(n: int = 30):
    g = _gen(9)
    def length(low: int, high: int) -> int:
        return int(torch.randint(low, high, (1,), generator=g))

    sources = [torch.randint(2, 60, (length(1, 12),), generator=g) for _ in range(n)]
    targets = [torch.cat([torch.randint(2, 60, (length(0, 6),), generator=g), torch.tensor([1])])
               for _ in range(n)]  # each ends with EOS = 1
    return sources, targets


def test_text_to_text_batches_and_loss_equal_hugging_face():
    pytest.importorskip("transformers")
    from llmbook.hf.t5 import to_hf_t5

    sources, targets = _pairs()
    task = TextToText(sources, targets, pad_id=0, decoder_start_id=0, max_source=8)
    batch = task.collate([3, 0, 7])
    longest = max(min(len(sources[i]), 8) for i in (3, 0, 7))
    assert batch["input_ids"].shape == batch["attention_mask"].shape == (3, longest)
    for row, i in enumerate((3, 0, 7)):
        n = min(len(sources[i]), 8)
        assert torch.equal(batch["input_ids"][row, :n], sources[i][:n])
        assert bool((batch["input_ids"][row, n:] == 0).all()) and int(batch["attention_mask"][row].sum()) == n
        m = len(targets[i])
        assert torch.equal(batch["labels"][row, :m], targets[i])
        assert bool((batch["labels"][row, m:] == -100).all())
    torch.manual_seed(0)
    model = _t5().eval()
    hf = to_hf_t5(model).eval()
    x = torch.tensor([[3], [0], [7], [12]])
    batch = task.collate(x)
    out = hf(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
             labels=batch["labels"])
    torch.testing.assert_close(task(model, x, None, _gen(0)), out.loss, atol=1e-5, rtol=0)
    assert repr(task) == ("TextToText(30 examples, pad_id=0, decoder_start_id=0, max_source=8, "
                          "max_target=None)")


def test_text_to_text_trains_in_the_trainer_and_every_example_can_be_drawn(tmp_path):
    from llmbook.train import get_batch

    sources, targets = _pairs()
    task = TextToText(sources, targets, pad_id=0, decoder_start_id=0)
    stream = task.example_ids()
    drawn = get_batch(stream, 1, 2000, _gen(0))[0]
    assert set(drawn.reshape(-1).tolist()) == set(range(30))

    def make_trainer():
        seed_everything(0)
        config = TrainConfig(max_steps=6, batch_size=4, block_size=1, warmup_steps=2, lr=3e-3,
                             eval_interval=3, eval_steps=2, progress=False)
        return Trainer(TinyT5Like(T5_VOCAB), stream, None, config, device="cpu", objective=task)

    _check_training_and_resume(make_trainer, tmp_path)


def test_text_to_text_refuses_bad_input():
    sources, targets = _pairs(3)
    with pytest.raises(ValueError, match="3 sources but 2 targets"):
        TextToText(sources, targets[:2], 0, 0)
    with pytest.raises(ValueError, match=r"targets\[1\] is empty"):
        TextToText(sources, [targets[0], [], targets[2]], 0, 0)
    with pytest.raises(ValueError, match="max_source must be a positive int"):
        TextToText(sources, targets, 0, 0, max_source=0)
    with pytest.raises(ValueError, match=r"example numbers must be in \[0, 3\)"):
        TextToText(sources, targets, 0, 0).collate([3])


@pytest.mark.parametrize("case", ["mlm+nsp-standin", "span-standin"])
def test_objectives_draw_only_from_their_generator(case, chars):
    make_objective, make_model, offset = CASES[case]
    objective, model = make_objective(), make_model().eval()
    x = chars[0][:4 * BLOCK].reshape(4, BLOCK) + offset
    state = torch.get_rng_state()
    g = _gen(5)
    loss = objective(model, x, None, g)
    assert torch.equal(torch.get_rng_state(), state)  # the global RNG is untouched
    assert not torch.equal(g.get_state(), _gen(5).get_state())  # the generator advanced
    assert loss.item() == objective(model, x, None, _gen(5)).item()


def test_masked_lm_loss_equals_hugging_face_bert_pretraining_loss(chars):
    pytest.importorskip("transformers")
    from llmbook.hf.bert import to_hf_bert

    torch.manual_seed(0)
    model = _bert().eval()
    hf = to_hf_bert(model).eval()
    objective = _masked("nsp")
    x = chars[0][:8 * BLOCK].reshape(8, BLOCK)
    batch = objective.corrupt(x, _gen(3))
    out = hf(input_ids=batch["input_ids"], token_type_ids=batch["token_type_ids"], labels=batch["labels"],
             next_sentence_label=batch["sentence_labels"])
    torch.testing.assert_close(objective(model, x, None, _gen(3)), out.loss, atol=1e-5, rtol=0)
    # [CLS] and [SEP] are never masked
    specials = torch.isin(batch["input_ids"], torch.tensor([BERT_CLS, BERT_SEP]))
    assert int(specials.sum()) == 8 * 3 and bool((batch["labels"][specials] == IGNORE_INDEX).all())


def test_span_corruption_loss_equals_hugging_face_t5_loss(chars):
    pytest.importorskip("transformers")
    from llmbook.hf.t5 import to_hf_t5

    torch.manual_seed(0)
    model = _t5().eval()
    hf = to_hf_t5(model).eval()
    objective = _span()
    x = chars[0][:6 * 40].reshape(6, 40) + 2
    inputs, targets = objective.corrupt(x, _gen(4))
    out = hf(input_ids=inputs, labels=targets)  # Hugging Face shifts the labels right itself
    torch.testing.assert_close(objective(model, x, None, _gen(4)), out.loss, atol=1e-5, rtol=0)


def test_objective_reprs_and_arguments():
    assert repr(CausalLM()) == "CausalLM()"
    text = repr(_masked("sop"))
    assert text.startswith("MaskedLM(mask_id=68, probability=0.15") and "sentence_task='sop'" in text
    assert "special_ids=(65, 66, 67)" in text
    assert repr(MaskedLM(BERT_MASK, BERT_VOCAB, [BERT_PAD])) == \
        "MaskedLM(mask_id=68, probability=0.15, vocab_size=69, special_ids=(65,))"
    assert "8 sentinel_ids=67..74" in repr(_span())
    with pytest.raises(ValueError, match="give cls_id and sep_id"):
        MaskedLM(BERT_MASK, BERT_VOCAB, [BERT_PAD], sentence_task="nsp")
    with pytest.raises(ValueError, match="sentence_task must be"):
        MaskedLM(BERT_MASK, BERT_VOCAB, [BERT_PAD], sentence_task="next")
    with pytest.raises(ValueError, match="mask_id=69 is outside"):
        MaskedLM(69, BERT_VOCAB, [BERT_PAD])
    with pytest.raises(ValueError, match="sentinel_ids is empty"):
        SpanCorruption([], 0, 0)


def test_chapter_5_exercise_checkers_accept_right_answers_only():
    """The checks of notebooks/05_bert_t5.ipynb: a correct solution passes, plausible wrong ones fail."""
    from llmbook.book.exercises import check
    from llmbook.objectives import span_lengths

    vocab, mask, specials = 500, 4, [0, 1, 2, 3, 4]

    def corrupt(ids, g, p_mask=0.8, p_random=0.1):
        chosen = (torch.rand(ids.shape, generator=g) < 0.15) & ~torch.isin(ids, torch.tensor(specials))
        action = torch.rand(ids.shape, generator=g)
        inputs = torch.where(chosen & (action < p_mask), mask, ids)
        replace = chosen & (action >= p_mask) & (action < p_mask + p_random)
        inputs = torch.where(replace, torch.randint(vocab, ids.shape, generator=g), inputs)
        return inputs, torch.where(chosen, ids, -100)

    assert check("05.1", (corrupt, mask, vocab, specials))
    assert not check("05.1", (lambda ids, g: corrupt(ids, g, 1.0, 0.0), mask, vocab, specials))  # all [MASK]
    assert not check("05.1", (lambda ids, g: (ids.clone(), torch.full_like(ids, -100)), mask, vocab, specials))

    def nsp(windows, g, avoid_self=True):
        n, half = len(windows), windows.shape[1] // 2
        labels = (torch.rand(n, generator=g) < 0.5).long()
        shift = torch.randint(1, n, (n,), generator=g) if avoid_self else torch.randint(0, n, (n,), generator=g)
        source = torch.where(labels.bool(), (torch.arange(n) + shift) % n, torch.arange(n))
        return windows[:, :half], windows[source, half:], labels

    assert check("05.2", nsp)
    assert not check("05.2", lambda w, g: nsp(w, g, avoid_self=False))  # "NotNext" may be the row itself
    inputs, targets = span_lengths(568)
    assert check("05.3", (85, 28, targets)) and not check("05.3", (85, 28, targets + 1))
