"""Checks for chapter 5, "BERT and T5". Each checker runs the learner's code or recomputes the answer
with the package (llmbook.objectives)."""
from __future__ import annotations

from typing import Any

import torch

from ... import objectives
from . import exercise, integer


def _masking_statistics(corrupt: Any, mask_id: int, vocab_size: int, special_ids: list[int]) -> bool:
    """Run ``corrupt(ids, generator)`` on 200,000 random ids with specials mixed in and check the rule."""
    generator = torch.Generator().manual_seed(2024)
    ids = torch.randint(vocab_size, (200_000,), generator=generator)
    ids[::7] = torch.tensor(special_ids)[torch.randint(len(special_ids), (len(ids[::7]),), generator=generator)]
    inputs, labels = corrupt(ids.clone(), torch.Generator().manual_seed(0))
    inputs, labels = torch.as_tensor(inputs), torch.as_tensor(labels)
    if inputs.shape != ids.shape or labels.shape != ids.shape:
        return False
    special = torch.isin(ids, torch.tensor(special_ids))
    chosen = labels != -100
    if bool((chosen & special).any()) or not torch.equal(labels[chosen], ids[chosen]):
        return False  # a special token was chosen, or a label is not the original token
    if not torch.equal(inputs[~chosen], ids[~chosen]):
        return False  # a token that was not chosen was changed
    n = chosen.sum().item()
    if n == 0:
        return False  # nothing selected (e.g. the unchanged placeholder)
    rate = n / (~special).sum().item()
    masked = (inputs[chosen] == mask_id).sum().item() / n
    kept = (inputs[chosen] == ids[chosen]).sum().item() / n
    expected_kept = 0.1 + 0.1 / vocab_size  # a random replacement may draw the original token
    return abs(rate - 0.15) < 0.005 and abs(masked - 0.8) < 0.01 and abs(kept - expected_kept) < 0.01


@exercise("05.1", hint="chosen = (torch.rand(ids.shape, generator=g) < 0.15) & ~torch.isin(ids, specials); a second "
                       "uniform number per position decides: < 0.8 -> MASK, < 0.9 -> torch.randint(V, ...), else keep; "
                       "labels = torch.where(chosen, ids, -100).")
def _eighty_ten_ten(answer) -> bool:
    corrupt, mask_id, vocab_size, special_ids = answer
    return _masking_statistics(corrupt, int(mask_id), int(vocab_size), [int(i) for i in special_ids])


@exercise("05.2", hint="labels = (torch.rand(n, generator=g) < 0.5).long(); for label 1 take the second half of "
                       "row (i + k) % n with k drawn from 1..n-1 (never the row itself); first halves stay in place.")
def _nsp_pairs(nsp) -> bool:
    n, half = 4000, 6
    windows = torch.arange(n * 2 * half).view(n, 2 * half)  # every token unique: the row is readable
    first, second, labels = nsp(windows.clone(), torch.Generator().manual_seed(0))
    first, second, labels = torch.as_tensor(first), torch.as_tensor(second), torch.as_tensor(labels)
    if first.shape != (n, half) or second.shape != (n, half) or labels.shape != (n,):
        return False
    if not torch.equal(first, windows[:, :half]):
        return False
    source_row = second[:, 0] // (2 * half)
    is_next = (source_row == torch.arange(n)) & (second[:, 0] % (2 * half) == half)
    if not bool(((second - second[:, :1]) == torch.arange(half)).all()):  # a contiguous second half
        return False
    return torch.equal(labels.long(), (~is_next).long()) and abs(labels.float().mean().item() - 0.5) < 0.03


@exercise("05.3", hint="noise = round(568 * 0.15) tokens in round(noise / 3) spans; the input keeps the other "
                       "tokens plus one sentinel per span, the target holds each span's sentinel and tokens: "
                       "llmbook.objectives.span_lengths(568).")
def _span_counts(answer) -> bool:
    noise, spans, targets = (integer(a) for a in answer)
    inputs_length, targets_length = objectives.span_lengths(568)
    # inputs = 568 - noise + spans and targets = noise + spans: solve for noise and spans
    expected_noise = (568 + targets_length - inputs_length) // 2
    expected_spans = targets_length - expected_noise
    return (noise, spans, targets) == (expected_noise, expected_spans, targets_length)
