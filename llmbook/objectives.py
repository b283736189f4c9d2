"""The three pretraining objectives: causal LM (GPT), masked LM with NSP/SOP (BERT, ALBERT) and span
corruption (T5), as plain functions and as :class:`llmbook.train.Trainer` objectives; and T5's
text-to-text training on (source, target) pairs (:class:`TextToText`).

The functions build one training example from token ids; the objective classes apply them to the
trainer's windows ``x`` ``(batch, block_size)`` and return the loss:

>>> trainer = Trainer(bert, train_ids, val_ids, config,
...                   objective=MaskedLM(mask_id, vocab_size, special_ids, sentence_task="nsp",
...                                      cls_id=cls_id, sep_id=sep_id))

Randomness. Every function takes a CPU ``torch.Generator`` and draws all its random numbers from it on
the CPU (then moves them to the device of the ids). In the trainer it is the seeded batch generator in
training and a fixed-seed one in evaluation, so evaluation sees the same corruption every time and a
run stopped, saved and resumed is bit-identical to an uninterrupted one. ``generator=None`` uses
PyTorch's global generator.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "IGNORE_INDEX",
    "mask_tokens",
    "mlm_loss",
    "nsp_loss",
    "masked_token_accuracy",
    "sentence_pairs",
    "random_spans_noise_mask",
    "span_lengths",
    "span_corruption",
    "CausalLM",
    "MaskedLM",
    "SpanCorruption",
    "TextToText",
    "distillation_loss",
    "Distillation",
]

IGNORE_INDEX = -100  # a label that is not predicted (PyTorch's and Hugging Face's convention)


# ---------------------------------------------------------------- checks


def _check_ids(ids: torch.Tensor, name: str, dims: tuple[int, ...]) -> None:
    if not isinstance(ids, torch.Tensor):
        raise ValueError(f"{name} must be a tensor of token ids, got {type(ids).__name__}; "
                         f"wrap it with torch.tensor({name})")
    if ids.dim() not in dims:
        shapes = " or ".join({1: "(seq,)", 2: "(batch, seq)"}[d] for d in dims)
        raise ValueError(f"{name} must have shape {shapes}, got {tuple(ids.shape)}")
    if ids.dtype.is_floating_point or ids.dtype.is_complex or ids.dtype == torch.bool:
        raise ValueError(f"{name} must hold integer token ids, got dtype {ids.dtype}")


def _check_id(value: object, name: str, vocab_size: int | None = None) -> int:
    if isinstance(value, torch.Tensor) and value.dim() == 0 and not value.dtype.is_floating_point:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be a non-negative int token id, got {value!r}")
    if vocab_size is not None and value >= vocab_size:
        raise ValueError(f"{name}={value} is outside the vocabulary [0, {vocab_size})")
    return int(value)


def _id_list(values: Sequence[int] | torch.Tensor, name: str, vocab_size: int | None = None) -> list[int]:
    if isinstance(values, torch.Tensor):
        values = values.reshape(-1).tolist()
    if isinstance(values, (int, np.integer)):
        raise ValueError(f"{name} must be a sequence of token ids, got the single id {values}; "
                         f"write [{values}]")
    return [_check_id(v, f"each of {name}", vocab_size) for v in values]


def _check_probability(value: float, name: str, low_open: bool = True, high_open: bool = False) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    ok = ok and (0 < value if low_open else 0 <= value) and (value < 1 if high_open else value <= 1)
    if not ok:
        interval = f"{'(' if low_open else '['}0, 1{')' if high_open else ']'}"
        raise ValueError(f"{name} must be a number in {interval}, got {value!r}")
    return float(value)


# ---------------------------------------------------------------- BERT: masked LM


def _masking_setup(mask_id: int, vocab_size: int, special_ids: Sequence[int],
                   probability: float) -> tuple[int, list[int], float, torch.Tensor]:
    """Check the arguments of :func:`mask_tokens`; return ``mask_id``, the sorted special ids (with
    ``mask_id``), ``probability`` and the ordinary (non-special) ids that random replacements come from."""
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, (int, np.integer)) or vocab_size < 1:
        raise ValueError(f"vocab_size must be a positive int, got {vocab_size!r}")
    mask_id = _check_id(mask_id, "mask_id", vocab_size)
    special = sorted(set(_id_list(special_ids, "special_ids", vocab_size)) | {mask_id})
    probability = _check_probability(probability, "probability")
    ordinary_vocab = torch.ones(vocab_size, dtype=torch.bool)
    ordinary_vocab[special] = False
    ordinary_ids = ordinary_vocab.nonzero().squeeze(1)
    if len(ordinary_ids) == 0:
        raise ValueError(f"every id of the vocabulary of {vocab_size} is special: nothing can be masked "
                         f"or drawn as a random replacement")
    return mask_id, special, probability, ordinary_ids


def mask_tokens(
    ids: torch.Tensor,
    mask_id: int,
    vocab_size: int,
    special_ids: Sequence[int],
    probability: float = 0.15,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's masking: select tokens to predict and corrupt them with the 80/10/10 rule.

    Each token that is not special is *selected* independently with ``probability`` (Hugging Face's
    ``DataCollatorForLanguageModeling``). A selected token becomes ``mask_id`` with probability 0.8, a
    random token with probability 0.1 (uniform over the *non-special* vocabulary, so it may by chance
    be the original token) and stays itself with probability 0.1. The model must predict the
    original token at every selected position, so it cannot trust an unmasked token either.

    Special ids (``special_ids`` and ``mask_id`` itself: [CLS], [SEP], [PAD], [MASK], ...) are never
    selected and never drawn as random replacements.

    At least one token per row is selected (as in BERT's ``create_pretraining_data.py``, which
    predicts ``max(1, round(n * p))`` tokens): when the draw selects none of a row's ``n`` ordinary
    tokens, one of them, chosen uniformly, is selected. This keeps the MLM loss defined for every row
    and costs an expected extra ``(1 - p)^n / n`` in the selected fraction, below ``1e-9`` at
    ``n = 128`` but large for tiny rows (0.13 at ``n = 4``). Rows with no ordinary token (all special)
    select nothing.

    Args:
        ids: token ids ``(batch, seq)`` or ``(seq,)``, on any device.
        mask_id: the [MASK] token id.
        vocab_size: the size of the vocabulary (random replacements are drawn below it).
        special_ids: ids never to select (e.g. ``tokenizer.all_special_ids``).
        probability: the selection probability ``p`` (BERT: 0.15).
        generator: a CPU generator; all random numbers come from it.

    Returns:
        ``(inputs, labels)``, both shaped like ``ids``: the corrupted ids, and ``labels`` = the original
        id at selected positions and ``-100`` (:data:`IGNORE_INDEX`) elsewhere.
    """
    _check_ids(ids, "ids", (1, 2))
    mask_id, special, probability, ordinary_ids = _masking_setup(mask_id, vocab_size, special_ids,
                                                                 probability)
    if ids.numel() and bool(((ids < 0) | (ids >= vocab_size)).any()):
        raise ValueError(f"ids must be in [0, vocab_size={vocab_size}), got min {int(ids.min())} and max "
                         f"{int(ids.max())}; was vocab_size taken from the tokenizer that encoded them?")

    # Four draws of fixed shapes on the CPU: the generator advances the same way whatever the ids are.
    device = ids.device
    select_draw = torch.rand(ids.shape, generator=generator).to(device)
    action_draw = torch.rand(ids.shape, generator=generator).to(device)  # < 0.8 mask, < 0.9 random, else keep
    fallback_draw = torch.rand(ids.shape, generator=generator).to(device)
    random_tokens = ordinary_ids[torch.randint(len(ordinary_ids), ids.shape, generator=generator)].to(device)

    is_special = torch.isin(ids, torch.tensor(special, device=device))
    selected = (select_draw < probability) & ~is_special
    # At least one selected token per row that has an ordinary token (see the docstring).
    if ids.numel():
        rows, ordinary = selected.reshape(-1, ids.shape[-1]), ~is_special.reshape(-1, ids.shape[-1])
        needs_one = ordinary.any(-1) & ~rows.any(-1)
        pick = fallback_draw.reshape(rows.shape).masked_fill(~ordinary, -1.0).argmax(-1)
        selected = (rows | (F.one_hot(pick, rows.shape[-1]).bool() & needs_one[:, None])).reshape(ids.shape)

    labels = torch.where(selected, ids.long(), torch.full_like(ids, IGNORE_INDEX, dtype=torch.long))
    inputs = torch.where(selected & (action_draw < 0.8), torch.full_like(ids, mask_id), ids)
    randomised = selected & (action_draw >= 0.8) & (action_draw < 0.9)
    inputs = torch.where(randomised, random_tokens.to(ids.dtype), inputs)
    return inputs, labels


def _check_labels(labels: torch.Tensor, n_classes: int, name: str, what: str) -> None:
    """``labels`` must be class ids in ``[0, n_classes)`` or -100, with at least one that is not -100."""
    if labels.dtype.is_floating_point or labels.dtype.is_complex or labels.dtype == torch.bool:
        raise ValueError(f"{name} must hold integer class ids, got dtype {labels.dtype}")
    if torch.compiler.is_compiling():
        return  # the value checks read the data: no data-dependent branch in a compiled graph
    bad, scored = torch.stack([(((labels < 0) & (labels != IGNORE_INDEX)) | (labels >= n_classes)).any(),
                               (labels != IGNORE_INDEX).any()]).tolist()  # one device sync
    if bad:
        raise ValueError(f"{name} must be in [0, {n_classes}) or {IGNORE_INDEX} (not predicted), got min "
                         f"{int(labels.min())} and max {int(labels.max())}")
    if not scored:
        raise ValueError(f"no {what} to score: every label is {IGNORE_INDEX} (or the batch is empty), so the "
                         f"mean loss would be NaN; mask_tokens selects at least one token per row")


def mlm_loss(mlm_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The masked-LM loss: the mean negative log-likelihood of the original tokens at the selected
    positions ``M``,

    ``L_MLM = -(1/|M|) Σ_{i∈M} log p(x_i | x̃)``,

    where ``x̃`` is the corrupted input. The paper writes the sum; the mean over ``M`` (what BERT and
    Hugging Face optimise) keeps the scale independent of how many tokens were selected.

    Args:
        mlm_logits: ``(batch, seq, vocab)`` (or ``(seq, vocab)``).
        labels: ``(batch, seq)`` (or ``(seq,)``): the original id at selected positions, -100 elsewhere.

    Returns:
        A scalar, computed in float32 even under bf16 autocast (a low-precision log-softmax over a
        large vocabulary loses accuracy). Equals ``F.cross_entropy(..., ignore_index=-100)``, Hugging
        Face's ``BertForMaskedLM`` loss. Every label -100 (nothing to predict) is a ``ValueError``,
        not a NaN.
    """
    if not isinstance(mlm_logits, torch.Tensor) or mlm_logits.dim() not in (2, 3):
        raise ValueError(f"mlm_logits must be (batch, seq, vocab) or (seq, vocab), got shape "
                         f"{tuple(getattr(mlm_logits, 'shape', ()))}")
    if not isinstance(labels, torch.Tensor) or labels.shape != mlm_logits.shape[:-1]:
        raise ValueError(f"labels must have shape {tuple(mlm_logits.shape[:-1])} (mlm_logits without the "
                         f"vocab axis), got {tuple(getattr(labels, 'shape', ()))}")
    _check_labels(labels, mlm_logits.size(-1), "labels", "masked position")
    vocab_size = mlm_logits.size(-1)
    return F.cross_entropy(mlm_logits.reshape(-1, vocab_size).float(), labels.reshape(-1).long(),
                           ignore_index=IGNORE_INDEX)


def nsp_loss(nsp_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The next-sentence (or sentence-order) loss ``L_NSP = -(1/B) Σ_b log p(y_b | h_[CLS])``: the
    mean cross-entropy of ``nsp_logits`` ``(batch, 2)`` against ``labels`` ``(batch,)`` in ``{0, 1}``
    (NSP: 0 = B follows A, 1 = B is random; SOP: 1 = swapped). Computed in float32."""
    if not isinstance(nsp_logits, torch.Tensor) or nsp_logits.dim() != 2 or nsp_logits.size(-1) != 2:
        raise ValueError(f"nsp_logits must be (batch, 2), got shape "
                         f"{tuple(getattr(nsp_logits, 'shape', ()))}")
    if not isinstance(labels, torch.Tensor) or labels.shape != nsp_logits.shape[:1]:
        raise ValueError(f"labels must have shape ({nsp_logits.size(0)},), one 0/1 label per row, got "
                         f"{tuple(getattr(labels, 'shape', ()))}")
    _check_labels(labels, 2, "labels", "sentence label")
    return F.cross_entropy(nsp_logits.float(), labels.long(), ignore_index=IGNORE_INDEX)


@torch.no_grad()
def masked_token_accuracy(mlm_logits: torch.Tensor, labels: torch.Tensor) -> float:
    """The share of selected positions (``labels != -100``) whose most likely token (argmax of
    ``mlm_logits`` ``(batch, seq, vocab)``) is the label."""
    if not isinstance(labels, torch.Tensor) or labels.shape != mlm_logits.shape[:-1]:
        raise ValueError(f"labels must have shape {tuple(mlm_logits.shape[:-1])}, got "
                         f"{tuple(getattr(labels, 'shape', ()))}")
    selected = labels != IGNORE_INDEX
    n_selected = int(selected.sum())
    if n_selected == 0:
        raise ValueError("no selected position: every label is -100, so the accuracy is undefined")
    return int((mlm_logits.argmax(-1)[selected] == labels[selected]).sum()) / n_selected


# ---------------------------------------------------------------- BERT / ALBERT: sentence pairs


def _derangement(n: int, generator: torch.Generator | None) -> torch.Tensor:
    """A uniformly random permutation of ``range(n)`` that moves every element (rejection sampling:
    about e draws on average)."""
    while True:
        perm = torch.randperm(n, generator=generator)
        if bool((perm != torch.arange(n)).all()):
            return perm


def sentence_pairs(
    x: torch.Tensor,
    generator: torch.Generator | None = None,
    task: str = "nsp",
    *,
    cls_id: int,
    sep_id: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """BERT's sentence-pair inputs ``[CLS] A [SEP] B [SEP]`` from windows of text, with their labels.

    Each row of ``x`` is cut in two: ``A`` = the first ``seq // 2`` tokens, ``B`` = the rest (its true
    continuation).

    * ``task="nsp"`` (BERT's next-sentence prediction): with probability 0.5 the row keeps its own
      ``B`` (IsNext, label 0, as Hugging Face's ``next_sentence_label``); otherwise ``B`` is the second
      half of *another* row of the batch (NotNext, label 1), given by a random derangement, so never
      the row's own. (Two windows cut from the same stream may overlap; with random offsets into a
      long corpus this is rare, and BERT's random documents have the same small chance.)
    * ``task="sop"`` (ALBERT's sentence-order prediction): with probability 0.5 the two halves are
      swapped, ``[CLS] B [SEP] A [SEP]`` (label 1); otherwise in order (label 0). Both segments come
      from the same text, so topic cannot give the answer away, unlike NSP's random ``B``.

    Args:
        x: windows ``(batch, seq)`` with ``seq >= 2`` (NSP also needs ``batch >= 2``).
        generator: a CPU generator; all random numbers come from it.
        task: ``"nsp"`` or ``"sop"``.
        cls_id, sep_id: the [CLS] and [SEP] token ids.

    Returns:
        ``(input_ids (batch, seq + 3), token_type_ids (batch, seq + 3), labels (batch,))``:
        ``token_type_ids`` is 0 over ``[CLS] first [SEP]`` and 1 over ``second [SEP]``; ``labels`` are
        int64 in ``{0, 1}``. All on ``x``'s device.
    """
    _check_ids(x, "x", (2,))
    if task not in ("nsp", "sop"):
        raise ValueError(f"task must be 'nsp' (next-sentence prediction) or 'sop' (sentence-order "
                         f"prediction), got {task!r}")
    cls_id, sep_id = _check_id(cls_id, "cls_id"), _check_id(sep_id, "sep_id")
    batch, seq = x.shape
    if seq < 2:
        raise ValueError(f"x has {seq} token(s) per row: a sentence pair needs at least 2 (one per segment)")
    if task == "nsp" and batch < 2:
        raise ValueError("NSP draws a NotNext second segment from another row of the batch, so it needs "
                         f"at least 2 rows, got {batch}; use a larger batch (or task='sop')")
    device, half = x.device, seq // 2
    flip = (torch.rand(batch, generator=generator) < 0.5).to(device)  # NotNext (NSP) or swapped (SOP)
    first, second = x[:, :half], x[:, half:]
    cls = torch.full((batch, 1), cls_id, dtype=x.dtype, device=device)
    sep = torch.full((batch, 1), sep_id, dtype=x.dtype, device=device)
    if task == "nsp":
        partner = _derangement(batch, generator).to(device)
        second = torch.where(flip[:, None], second[partner], second)
        input_ids = torch.cat([cls, first, sep, second, sep], dim=1)
        first_length = torch.full((batch,), half, device=device)
    else:
        in_order = torch.cat([cls, first, sep, second, sep], dim=1)
        swapped = torch.cat([cls, second, sep, first, sep], dim=1)
        input_ids = torch.where(flip[:, None], swapped, in_order)
        first_length = torch.where(flip, seq - half, half)  # the halves differ by one when seq is odd
    positions = torch.arange(seq + 3, device=device)
    token_type_ids = (positions[None, :] >= first_length[:, None] + 2).long()  # after [CLS] first [SEP]
    return input_ids, token_type_ids, flip.long()


# ---------------------------------------------------------------- T5: span corruption


def _span_counts(length: int, noise_density: float, mean_span_length: float) -> tuple[int, int]:
    """``(num_noise_tokens, num_noise_spans)`` of T5's ``random_spans_noise_mask`` for a sequence of
    ``length >= 2``, with its float32 arithmetic and round-half-to-even (``tf.round``)."""
    num_noise = int(np.rint(np.float32(length) * np.float32(noise_density)))
    num_noise = min(max(num_noise, 1), length - 1)  # at least one noise and one non-noise token
    num_spans = max(int(np.rint(np.float32(num_noise) / np.float32(mean_span_length))), 1)
    if num_spans > length - num_noise:
        raise ValueError(
            f"a sequence of {length} tokens with noise_density={noise_density} and mean_span_length="
            f"{mean_span_length} has {num_noise} noise tokens in {num_spans} spans, but the {num_spans} "
            f"non-noise spans between them have only {length - num_noise} tokens; lower noise_density or "
            f"raise mean_span_length")
    return num_noise, num_spans


def _check_span_arguments(length: int, noise_density: float, mean_span_length: float) -> None:
    if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < 1:
        raise ValueError(f"length must be a positive int (the number of tokens), got {length!r}")
    _check_probability(noise_density, "noise_density", high_open=True)
    if isinstance(mean_span_length, bool) or not isinstance(mean_span_length, (int, float)) \
            or not mean_span_length >= 1:
        raise ValueError(f"mean_span_length must be a number >= 1 (spans are at least one token long), "
                         f"got {mean_span_length!r}")


def _random_segmentation(num_items: int, num_segments: int,
                         generator: torch.Generator | None) -> torch.Tensor:
    """Cut ``num_items`` items into ``num_segments`` non-empty consecutive pieces, all cuts equally
    likely; return the piece lengths ``(num_segments,)`` (they add up to ``num_items``).

    T5 shuffles a 0/1 vector with ``num_segments - 1`` ones over the ``num_items - 1`` gaps; a uniformly
    random subset of ``num_segments - 1`` gaps is the same distribution."""
    cuts = torch.randperm(num_items - 1, generator=generator)[: num_segments - 1] + 1
    bounds = torch.cat([torch.tensor([0]), cuts.sort().values, torch.tensor([num_items])])
    return bounds.diff()


def random_spans_noise_mask(
    length: int,
    noise_density: float = 0.15,
    mean_span_length: float = 3.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """T5's noise mask of random spans (``t5.data.preprocessors.random_spans_noise_mask``, without the
    optional random roll): a bool tensor ``(length,)``, True at the tokens to corrupt.

    The counts are deterministic (float32 products, rounded half to even as ``tf.round``):

    * ``num_noise_tokens = round(length * noise_density)``, clipped to ``[1, length - 1]``;
    * ``num_noise_spans = round(num_noise_tokens / mean_span_length)``, clipped to ``>= 1``;
    * ``num_nonnoise_tokens = length - num_noise_tokens``.

    The noise tokens and the non-noise tokens are each cut into ``num_noise_spans`` non-empty pieces
    at random (all cuts equally likely), and the pieces alternate, *starting with non-noise*: the
    sequence always ends with a noise span, and when one span suffices (``length <= 30`` at the
    defaults) the noise is always the last tokens. A sequence of one token is treated as T5 does: the
    mask is drawn for length 2 and cut back to 1, which leaves that token uncorrupted.

    Raises ``ValueError`` when the spans cannot be formed (more spans than non-noise tokens, e.g. a
    high ``noise_density`` with ``mean_span_length=1``).
    """
    _check_span_arguments(length, noise_density, mean_span_length)
    padded_length = max(int(length), 2)  # T5: "increase length to avoid degeneracy"
    num_noise, num_spans = _span_counts(padded_length, noise_density, mean_span_length)
    noise_span_lengths = _random_segmentation(num_noise, num_spans, generator)
    nonnoise_span_lengths = _random_segmentation(padded_length - num_noise, num_spans, generator)
    interleaved = torch.stack([nonnoise_span_lengths, noise_span_lengths], dim=1).reshape(-1)
    is_noise = torch.tensor([False, True]).repeat(num_spans)
    return is_noise.repeat_interleave(interleaved)[:length]


def span_lengths(
    length: int,
    noise_density: float = 0.15,
    mean_span_length: float = 3.0,
    *,
    with_eos: bool = False,
) -> tuple[int, int]:
    """``(inputs_length, targets_length)`` of :func:`span_corruption` for a sequence of ``length``
    tokens: the same for every draw, so a batch of equal-length rows gives rectangular tensors.

    ``inputs = num_nonnoise_tokens + num_noise_spans`` (one sentinel per span) and
    ``targets = num_noise_tokens + num_noise_spans``, plus one each ``with_eos``. For ``length = 1``
    both are 1 (the token, and a lone sentinel). 568 tokens give T5's 512 inputs and 114 targets
    with EOS.

    These are the counts of the mask itself. T5's ``random_spans_helper``, which T5 uses to choose its
    lengths, predicts them in float64 and without the clipping, so it differs for short sequences
    (``length <= 9`` at the defaults) and, rarely, where float32 and float64 round ``length *
    noise_density`` differently (at 0.15: 190, 350, 390, ... tokens; ``190 * 0.15`` is exactly 28.5
    in float64, rounded half to even to 28, but 28.500002 in float32, rounded to 29).
    """
    _check_span_arguments(length, noise_density, mean_span_length)
    if length == 1:
        inputs_length, targets_length = 1, 1
    else:
        num_noise, num_spans = _span_counts(int(length), noise_density, mean_span_length)
        inputs_length, targets_length = length - num_noise + num_spans, num_noise + num_spans
    return inputs_length + bool(with_eos), targets_length + bool(with_eos)


def _spans_to_sentinels(tokens: torch.Tensor, mask: torch.Tensor, sentinels: torch.Tensor) -> torch.Tensor:
    """Replace the ``k``-th run of True in ``mask`` by ``sentinels[k]`` (T5's
    ``noise_span_to_unique_sentinel``); the other tokens stay."""
    previous = torch.cat([mask.new_zeros(1), mask[:-1]])
    span_start = mask & ~previous
    span_number = (span_start.long().cumsum(0) - 1).clamp(min=0)
    replaced = torch.where(span_start, sentinels[span_number], tokens)
    return replaced[~(mask & previous)]  # drop the rest of each span


def span_corruption(
    ids: torch.Tensor,
    sentinel_ids: Sequence[int] | torch.Tensor,
    noise_density: float = 0.15,
    mean_span_length: float = 3.0,
    generator: torch.Generator | None = None,
    eos_id: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """T5's span corruption of one sequence ``ids`` ``(length,)`` (Raffel et al. 2020, section 3.1.4).

    A :func:`random_spans_noise_mask` picks spans of noise; then (T5's ``noise_span_to_unique_sentinel``
    for the inputs, ``nonnoise_span_to_unique_sentinel`` for the targets):

    * ``inputs`` = the sequence with the ``k``-th noise span replaced by ``sentinel_ids[k]``;
    * ``targets`` = the complement: each sentinel followed by the span it hides,
      ``s_0 span_0 s_1 span_1 ... s_{n-1} span_{n-1}``.

    Example (the paper's Figure 2): "Thank you for inviting me to your party last week" ->
    inputs "Thank you <X> me to your party <Y> week", targets "<X> for inviting <Y> last <Z>". The
    figure's final ``<Z>`` marks the trailing non-noise span "week"; T5's code always ends the sequence
    with a noise span, so its targets end with the last span, and the end is marked by the EOS token
    that T5 appends to both inputs and targets. Here ``eos_id`` appends it; ``eos_id=None`` appends
    nothing (e.g. when the windows already end with EOS, or for a fixed-length stream).

    A sequence of one token is never corrupted (as in T5): ``inputs = ids`` and ``targets`` is the
    lone sentinel ``s_0`` that stands for it.

    Args:
        ids: token ids ``(length,)`` with ``length >= 1``; they must not contain a sentinel id.
        sentinel_ids: the ids of ``<extra_id_0>, <extra_id_1>, ...`` in order; at least
            ``num_noise_spans`` of them.
        noise_density, mean_span_length: the share of corrupted tokens (0.15) and the mean span length (3).
        generator: a CPU generator; all random numbers come from it.
        eos_id: appended to inputs and targets when given.

    Returns:
        ``(inputs, targets)``, 1-D, of the lengths :func:`span_lengths` gives, on ``ids``' device.
    """
    _check_ids(ids, "ids", (1,))
    length = len(ids)
    if length == 0:
        raise ValueError("ids is empty: span corruption needs at least one token")
    sentinels = _id_list(sentinel_ids, "sentinel_ids")
    if len(set(sentinels)) != len(sentinels):
        raise ValueError("sentinel_ids has repeated ids: each span needs its own sentinel")
    _check_span_arguments(length, noise_density, mean_span_length)
    num_spans = 1 if length == 1 else _span_counts(length, noise_density, mean_span_length)[1]
    if len(sentinels) < num_spans:
        raise ValueError(
            f"a sequence of {length} tokens has {num_spans} noise spans (noise_density={noise_density}, "
            f"mean_span_length={mean_span_length}), so it needs {num_spans} sentinel ids, got "
            f"{len(sentinels)}; pass more sentinels (T5 has 100: <extra_id_0> ... <extra_id_99>) or "
            f"use shorter sequences")
    sentinel_tensor = torch.tensor(sentinels, dtype=ids.dtype, device=ids.device)
    if bool(torch.isin(ids, sentinel_tensor).any()):
        raise ValueError("ids contain a sentinel id, which would make the targets ambiguous; reserve the "
                         "sentinel ids for span corruption (encoding text never produces T5's <extra_id_k>)")
    if eos_id is not None:
        eos_id = _check_id(eos_id, "eos_id")
    noise = random_spans_noise_mask(length, noise_density, mean_span_length, generator).to(ids.device)
    inputs = _spans_to_sentinels(ids, noise, sentinel_tensor)
    targets = _spans_to_sentinels(ids, ~noise, sentinel_tensor)
    if eos_id is not None:
        eos = ids.new_full((1,), eos_id)
        inputs, targets = torch.cat([inputs, eos]), torch.cat([targets, eos])
    return inputs, targets


# ---------------------------------------------------------------- Trainer objectives


class CausalLM:
    """GPT's objective, the trainer's default: the model's own next-token loss ``model(x, y)[1]``,
    ``L = -(1/BT) Σ log p(x_{t+1} | x_{<=t})``. It exists so that the three objectives read alike."""

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        return model(x, y)[1]

    def __repr__(self) -> str:
        return "CausalLM()"


class MaskedLM:
    """BERT's objective: masked LM (:func:`mask_tokens`, :func:`mlm_loss`), optionally with NSP or SOP.

    ``objective(model, x, y, generator)`` ignores ``y``; with ``sentence_task`` set it first turns each
    window into ``[CLS] A [SEP] B [SEP]`` (:func:`sentence_pairs`, so the model sees ``block_size + 3``
    positions) and returns ``mlm_loss + nsp_weight * nsp_loss``; without it the windows are masked as
    they are and the loss is ``mlm_loss``. [CLS] and [SEP] are never masked.

    ``model(input_ids, token_type_ids=...)`` must return ``(mlm_logits, nsp_logits)`` like
    :class:`llmbook.models.BertForPreTraining` (or the MLM logits alone). Without a sentence task the
    NSP head is unused; it is added to the loss times zero so that DDP, which expects a gradient for
    every parameter, still works.
    """

    def __init__(self, mask_id: int, vocab_size: int, special_ids: Sequence[int], probability: float = 0.15,
                 sentence_task: str | None = None, cls_id: int | None = None, sep_id: int | None = None,
                 nsp_weight: float = 1.0):
        if sentence_task not in (None, "nsp", "sop"):
            raise ValueError(f"sentence_task must be None (MLM alone), 'nsp' or 'sop', got {sentence_task!r}")
        if sentence_task is not None and (cls_id is None or sep_id is None):
            raise ValueError(f"sentence_task={sentence_task!r} builds [CLS] A [SEP] B [SEP]: "
                             f"give cls_id and sep_id")
        if isinstance(nsp_weight, bool) or not isinstance(nsp_weight, (int, float)) or nsp_weight < 0:
            raise ValueError(f"nsp_weight must be a non-negative number, got {nsp_weight!r}")
        pair_ids = {i for i in (cls_id, sep_id) if i is not None}  # [CLS] and [SEP] are never masked
        special = sorted(set(_id_list(special_ids, "special_ids")) | pair_ids)
        _masking_setup(mask_id, vocab_size, special, probability)  # fail now, not at the first batch
        self.mask_id, self.vocab_size, self.probability = mask_id, vocab_size, probability
        self.special_ids = tuple(special)
        self.sentence_task, self.nsp_weight = sentence_task, nsp_weight
        self.cls_id, self.sep_id = cls_id, sep_id

    def corrupt(self, x: torch.Tensor, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """The model's inputs and the labels for windows ``x`` ``(batch, seq)``: ``input_ids``,
        ``labels`` (MLM, -100 where not predicted), and with a sentence task ``token_type_ids`` and
        ``sentence_labels``."""
        batch: dict[str, torch.Tensor] = {}
        ids = x
        if self.sentence_task is not None:
            ids, batch["token_type_ids"], batch["sentence_labels"] = sentence_pairs(
                x, generator, self.sentence_task, cls_id=self.cls_id, sep_id=self.sep_id)
        batch["input_ids"], batch["labels"] = mask_tokens(ids, self.mask_id, self.vocab_size,
                                                          self.special_ids, self.probability, generator)
        return batch

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor | None = None,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        batch = self.corrupt(x, generator)
        out = model(batch["input_ids"], token_type_ids=batch.get("token_type_ids"))
        mlm_logits, nsp_logits = out if isinstance(out, (tuple, list)) else (out, None)
        loss = mlm_loss(mlm_logits, batch["labels"])
        if self.sentence_task is not None:
            loss = loss + self.nsp_weight * nsp_loss(nsp_logits, batch["sentence_labels"])
        elif nsp_logits is not None:
            loss = loss + 0.0 * nsp_logits.sum()  # keeps the NSP head in the graph (DDP; see the class doc)
        return loss

    def __repr__(self) -> str:
        task = ""
        if self.sentence_task is not None:
            task = (f", sentence_task={self.sentence_task!r}, cls_id={self.cls_id}, sep_id={self.sep_id}, "
                    f"nsp_weight={self.nsp_weight}")
        return (f"MaskedLM(mask_id={self.mask_id}, probability={self.probability}, "
                f"vocab_size={self.vocab_size}, special_ids={self.special_ids}{task})")


class SpanCorruption:
    """T5's objective: span-corrupt each window (:func:`span_corruption`), feed the corrupted window to
    the encoder and the targets shifted right to the decoder (:func:`llmbook.models.t5.shift_right`,
    starting with ``decoder_start_id``), and return the mean cross-entropy over the targets (float32).

    ``model(input_ids, decoder_input_ids)`` must return logits ``(batch, targets_length, vocab)`` like
    :class:`llmbook.models.T5`. All windows have ``block_size`` tokens, so every row has the lengths
    of :func:`span_lengths` and the batch is rectangular (no padding). ``y`` is ignored.
    """

    def __init__(self, sentinel_ids: Sequence[int] | torch.Tensor, decoder_start_id: int, pad_id: int,
                 noise_density: float = 0.15, mean_span_length: float = 3.0, eos_id: int | None = None):
        self.sentinel_ids = tuple(_id_list(sentinel_ids, "sentinel_ids"))
        if not self.sentinel_ids:
            raise ValueError("sentinel_ids is empty: span corruption needs one sentinel id per span")
        self.decoder_start_id = _check_id(decoder_start_id, "decoder_start_id")
        self.pad_id = _check_id(pad_id, "pad_id")
        self.eos_id = None if eos_id is None else _check_id(eos_id, "eos_id")
        _check_span_arguments(2, noise_density, mean_span_length)
        self.noise_density, self.mean_span_length = noise_density, mean_span_length

    def corrupt(self, x: torch.Tensor,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Span-corrupt each row of ``x`` ``(batch, seq)``: ``(inputs (batch, inputs_length), targets
        (batch, targets_length))`` with the lengths of :func:`span_lengths`, on ``x``'s device."""
        _check_ids(x, "x", (2,))
        rows = [span_corruption(row, self.sentinel_ids, self.noise_density, self.mean_span_length,
                                generator, self.eos_id) for row in x.cpu()]
        inputs = torch.stack([inp for inp, _ in rows]).to(x.device)
        targets = torch.stack([tgt for _, tgt in rows]).to(x.device)
        return inputs, targets

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor | None = None,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        from .models.t5 import shift_right  # on use: the functions above need no model code

        inputs, targets = self.corrupt(x, generator)
        decoder_input_ids = shift_right(targets, self.decoder_start_id, self.pad_id)
        logits = model(inputs, decoder_input_ids)
        if logits.shape[:-1] != targets.shape:
            raise ValueError(f"the model returned logits {tuple(logits.shape)} for targets "
                             f"{tuple(targets.shape)}: it must return (batch, targets_length, vocab)")
        return F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), targets.reshape(-1).long())

    def __repr__(self) -> str:
        n = len(self.sentinel_ids)
        sentinels = f"{self.sentinel_ids[0]}..{self.sentinel_ids[-1]}" if n > 1 else str(self.sentinel_ids[0])
        return (f"SpanCorruption(noise_density={self.noise_density}, "
                f"mean_span_length={self.mean_span_length}, {n} sentinel_ids={sentinels}, "
                f"decoder_start_id={self.decoder_start_id}, pad_id={self.pad_id}, eos_id={self.eos_id})")


class TextToText:
    """T5's text-to-text fine-tuning as a Trainer objective: teacher-forced cross-entropy of each
    target given its source, over a fixed list of (source, target) pairs.

    The Trainer cuts windows from a token stream; here the stream is the list of example numbers
    (:meth:`example_ids`), so with ``TrainConfig(block_size=1)`` each window ``x`` ``(batch, 1)`` names
    the examples of one batch, drawn at random (with replacement) by the trainer's generator:

    >>> task = TextToText(sources, targets, pad_id=0, decoder_start_id=0, max_source=64)
    >>> Trainer(t5, task.example_ids(), None, replace(config, block_size=1), objective=task).train()

    A batch (:meth:`collate`) pads the sources with ``pad_id`` (and an attention mask), pads the
    targets with -100 (ignored by the loss), feeds ``shift_right(targets)`` to the decoder and returns
    the mean cross-entropy over the real target tokens, like Hugging Face's
    ``T5ForConditionalGeneration(labels=...)``. End each target with the EOS id yourself, so that the
    model learns where to stop; sources longer than ``max_source`` (targets longer than ``max_target``)
    are cut. Nothing here is random.
    """

    def __init__(self, sources: Sequence[Sequence[int] | torch.Tensor],
                 targets: Sequence[Sequence[int] | torch.Tensor], pad_id: int, decoder_start_id: int,
                 max_source: int | None = None, max_target: int | None = None):
        if len(sources) != len(targets):
            raise ValueError(f"got {len(sources)} sources but {len(targets)} targets: "
                             f"give one target per source")
        if len(sources) == 0:
            raise ValueError("no examples: give at least one (source, target) pair")
        for name, limit in (("max_source", max_source), ("max_target", max_target)):
            if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
                raise ValueError(f"{name} must be a positive int or None (no limit), got {limit!r}")
        self.pad_id = _check_id(pad_id, "pad_id")
        self.decoder_start_id = _check_id(decoder_start_id, "decoder_start_id")
        self.max_source, self.max_target = max_source, max_target
        self.sources = [self._example(ids, f"sources[{i}]")[:max_source] for i, ids in enumerate(sources)]
        self.targets = [self._example(ids, f"targets[{i}]")[:max_target] for i, ids in enumerate(targets)]

    @staticmethod
    def _example(ids: Sequence[int] | torch.Tensor, name: str) -> torch.Tensor:
        ids = torch.as_tensor(ids)
        if ids.numel() == 0:  # checked first: an empty list becomes a float tensor
            raise ValueError(f"{name} is empty: every source and target needs at least one token")
        if ids.dim() != 1 or ids.dtype.is_floating_point or ids.dtype == torch.bool:
            raise ValueError(f"{name} must be a 1-D sequence of integer token ids, got shape "
                             f"{tuple(ids.shape)} and dtype {ids.dtype}")
        return ids.long()

    def __len__(self) -> int:
        return len(self.sources)

    def example_ids(self) -> torch.Tensor:
        """The stream for the Trainer: ``0, 1, ..., len(self)``. The Trainer cuts windows of
        ``block_size + 1`` entries and uses the first ``block_size``, so the last entry (``len(self)``,
        never an ``x``) is there only to let every example be drawn."""
        return torch.arange(len(self) + 1)

    def collate(self, indices: Sequence[int] | torch.Tensor) -> dict[str, torch.Tensor]:
        """The padded batch of the examples ``indices``: ``input_ids`` and ``attention_mask``
        ``(batch, longest source)``, ``labels`` ``(batch, longest target)`` with -100 after each target."""
        indices = torch.as_tensor(indices).reshape(-1).tolist()
        if any(not 0 <= i < len(self) for i in indices):
            raise ValueError(f"example numbers must be in [0, {len(self)}), got "
                             f"{min(indices)}..{max(indices)}: train on task.example_ids() with "
                             f"TrainConfig(block_size=1)")
        sources = [self.sources[i] for i in indices]
        targets = [self.targets[i] for i in indices]
        input_ids = nn.utils.rnn.pad_sequence(sources, batch_first=True, padding_value=self.pad_id)
        lengths = torch.tensor([len(s) for s in sources])
        attention_mask = (torch.arange(input_ids.size(1))[None, :] < lengths[:, None]).long()
        labels = nn.utils.rnn.pad_sequence(targets, batch_first=True, padding_value=IGNORE_INDEX)
        return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor | None = None,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        from .models.t5 import shift_right  # on use, as in SpanCorruption

        batch = {k: v.to(x.device) for k, v in self.collate(x.cpu()).items()}
        labels = batch["labels"]
        logits = model(batch["input_ids"], shift_right(labels, self.decoder_start_id, self.pad_id),
                       attention_mask=batch["attention_mask"])
        return mlm_loss(logits, labels)  # the same float32 cross-entropy, ignoring the -100 padding

    def __repr__(self) -> str:
        return (f"TextToText({len(self)} examples, pad_id={self.pad_id}, "
                f"decoder_start_id={self.decoder_start_id}, max_source={self.max_source}, "
                f"max_target={self.max_target})")


# ---------------------------------------------------------------- knowledge distillation


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                      labels: torch.Tensor, temperature: float = 2.0,
                      alpha: float = 0.5) -> torch.Tensor:
    """Hinton et al.'s distillation loss {cite}`hinton2015distilling`: soft targets and hard labels.

    ``alpha · T² · KL(p_teacher^T ‖ p_student^T) + (1 - alpha) · CE(student, labels)``, where
    ``p^T = softmax(logits / T)``. A temperature ``T > 1`` flattens the teacher's distribution, so
    that the student also learns which wrong answers the teacher finds nearly right; the ``T²``
    keeps the soft term's gradients the same size whatever ``T`` (they shrink as ``1 / T²``). Both
    terms are means over the positions whose label is not ``-100`` (:data:`IGNORE_INDEX`).

    Args:
        student_logits, teacher_logits: ``(..., vocab)``; the teacher's are not differentiated.
        labels: ``(...)`` token ids, ``-100`` = not scored.
        temperature: ``T > 0``.
        alpha: weight of the soft term in ``[0, 1]`` (1: soft targets only, 0: labels only).

    Returns:
        The scalar loss.
    """
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(f"student logits {tuple(student_logits.shape)} and teacher logits "
                         f"{tuple(teacher_logits.shape)} must have the same shape (..., vocab): "
                         f"the two models need the same vocabulary")
    if labels.shape != student_logits.shape[:-1]:
        raise ValueError(f"labels of shape {tuple(labels.shape)} must be the logits' shape without "
                         f"the vocabulary, {tuple(student_logits.shape[:-1])}")
    if not (isinstance(temperature, (int, float)) and temperature > 0):
        raise ValueError(f"temperature must be a positive number, got {temperature!r}")
    _check_probability(alpha, "alpha", low_open=False)
    vocab = student_logits.size(-1)
    if not bool((labels != IGNORE_INDEX).any()):
        raise ValueError(f"every label is {IGNORE_INDEX} (not scored): the mean loss would be NaN; "
                         f"give at least one position a token id")
    _check_labels(labels, vocab, "labels", "token ids")
    scored = (labels != IGNORE_INDEX).reshape(-1)
    student = student_logits.reshape(-1, vocab)[scored].float()
    teacher = teacher_logits.reshape(-1, vocab)[scored].detach().float()
    log_p_student = F.log_softmax(student / temperature, dim=-1)
    log_p_teacher = F.log_softmax(teacher / temperature, dim=-1)
    # KL(teacher ‖ student) = Σ p_teacher (log p_teacher - log p_student), averaged over positions
    soft = (log_p_teacher.exp() * (log_p_teacher - log_p_student)).sum(-1).mean()
    hard = F.cross_entropy(student, labels.reshape(-1)[scored])
    return alpha * temperature ** 2 * soft + (1 - alpha) * hard


class Distillation:
    """A :class:`llmbook.train.Trainer` objective that trains a causal LM (the student) on a
    teacher's soft targets: ``objective(student, x, y, generator)`` runs the frozen teacher on the
    same windows and returns :func:`distillation_loss` against the next tokens ``y``.

    >>> trainer = Trainer(student, train_ids, val_ids, config,
    ...                   objective=Distillation(teacher, temperature=2.0, alpha=0.9))

    The validation loss the trainer reports is then this loss too; measure the student's own
    cross-entropy separately to compare it with a student trained on labels.
    """

    def __init__(self, teacher: nn.Module, temperature: float = 2.0, alpha: float = 0.5):
        self.teacher = teacher.eval()
        for p in self.teacher.parameters():
            p.requires_grad_(False)
        self.temperature, self.alpha = temperature, alpha

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        with torch.no_grad():
            teacher_logits, _ = self.teacher(x)
        student_logits, _ = model(x)
        return distillation_loss(student_logits, teacher_logits, y, self.temperature, self.alpha)

    def __repr__(self) -> str:
        return f"Distillation(temperature={self.temperature}, alpha={self.alpha})"
