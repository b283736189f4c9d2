"""Multiple-choice scoring by log-likelihood, as lm-evaluation-harness defines it.

The model is not asked to *generate* an answer. Each choice :math:`c_j` of an item (see
:mod:`llmbook.evaluate.tasks`) is scored by the summed log-probability of its tokens given the context
:math:`x` (continuation = ``target_delimiter + c_j``, a space by default), computed by
:func:`llmbook.evaluate.engine.loglikelihoods`:

.. math:: \\ell_j = \\log p(c_j \\mid x) = \\sum_{t=1}^{|c_j|} \\log p(c_{j,t} \\mid x, c_{j,<t}),

and the prediction is :math:`\\arg\\max_j \\ell_j` (``acc``). Longer choices collect more negative
log-probabilities, so ``acc_norm`` divides by the choice's length in characters first,
:math:`\\arg\\max_j \\ell_j / \\mathrm{len}(c_j)` (``acc_bytes``: by its length in UTF-8 bytes), exactly
as lm-evaluation-harness's ``process_results`` (Gao et al., 2021): the length is that of the choice
string, without the delimiter.
"""
from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..metrics import BootstrapCI, bootstrap_ci
from .engine import loglikelihoods
from .tasks import check_items, fewshot_contexts

__all__ = ["MultipleChoiceResult", "multiple_choice", "predict", "NORMALIZATIONS"]

NORMALIZATIONS = (None, "chars", "bytes")  # acc, acc_norm, acc_bytes


def predict(loglikelihoods: Sequence[float], choices: Sequence[str], normalize: str | None = None) -> int:
    """The chosen answer: ``argmax_j ll_j / len_j`` (ties go to the first choice, like ``np.argmax``).

    ``normalize=None`` divides by 1 (``acc``), ``"chars"`` by the choice's length in characters
    (``acc_norm``), ``"bytes"`` by its length in UTF-8 bytes (``acc_bytes``).
    """
    ll = np.asarray(loglikelihoods, dtype=float)
    if ll.shape != (len(choices),):
        raise ValueError(f"got {ll.size} log-likelihoods for {len(choices)} choices: pass one per choice")
    if normalize is None:
        return int(np.argmax(ll))
    if normalize == "chars":
        return int(np.argmax(ll / np.array([len(c) for c in choices], dtype=float)))
    if normalize == "bytes":
        return int(np.argmax(ll / np.array([len(c.encode("utf-8")) for c in choices], dtype=float)))
    raise ValueError(f"unknown normalize={normalize!r}: use None, 'chars' or 'bytes'")


@dataclass(frozen=True)
class MultipleChoiceResult:
    """Outcome of :func:`multiple_choice`; per-item arrays are in the order of the items."""

    loglikelihoods: list[np.ndarray]  # item i: (n_choices_i,) summed log-probabilities in nats
    is_greedy: list[np.ndarray]  # item i: (n_choices_i,) greedy decoding reproduces the choice
    predictions: np.ndarray  # (n_items,) argmax of the log-likelihoods
    predictions_norm: np.ndarray  # (n_items,) argmax of the length-normalised log-likelihoods
    labels: np.ndarray  # (n_items,)
    correct: np.ndarray  # (n_items,) 1.0 where acc counts the item right
    correct_norm: np.ndarray  # (n_items,) the same for acc_norm
    correct_bytes: np.ndarray  # (n_items,) the same for acc_bytes
    acc_ci: BootstrapCI
    acc_norm_ci: BootstrapCI
    contexts: list[str]  # the prompt of each item, few-shot examples included
    num_fewshot: int
    n_tokens: int  # tokens run through the model
    seconds: float

    @property
    def n_items(self) -> int:
        return len(self.labels)

    @property
    def acc(self) -> float:
        """Share of items whose highest-log-likelihood choice is the label."""
        return float(self.correct.mean())

    @property
    def acc_norm(self) -> float:
        """The same after dividing each log-likelihood by its choice's length in characters."""
        return float(self.correct_norm.mean())

    @property
    def acc_bytes(self) -> float:
        """... by its length in UTF-8 bytes."""
        return float(self.correct_bytes.mean())

    def __str__(self) -> str:
        return (
            f"{self.n_items} items, {self.num_fewshot}-shot: acc {self.acc_ci}, acc_norm {self.acc_norm_ci}; "
            f"{self.n_tokens} tokens in {self.seconds:.1f} s"
        )


def multiple_choice(
    model: torch.nn.Module,
    tokenizer: Any,
    items: Sequence[Mapping[str, Any]],
    num_fewshot: int = 0,
    fewshot_items: Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    seed: int = 1234,
    batch_size: int = 16,
    device: str | torch.device | None = None,
    progress: bool = True,
    sampler: str = "random",
    target_delimiter: str = " ",
    n_resamples: int = 1000,
    confidence: float = 0.95,
    max_length: int | None = None,
    share_prefix: bool = True,
) -> MultipleChoiceResult:
    """Evaluate ``model`` on multiple-choice ``items`` by log-likelihood (the harness's ``acc``, ``acc_norm``).

    Args:
        model, tokenizer: a causal LM and its tokenizer (see :func:`llmbook.evaluate.loglikelihoods`).
        items: ``[{"context": str, "choices": [str, ...], "label": int}, ...]`` (optional
            ``"description"``, ``"subject"``); see :mod:`llmbook.evaluate.tasks`.
        num_fewshot: solved examples put before each item, drawn from ``fewshot_items``.
        fewshot_items: the pool of examples (never the test items: e.g. MMLU's dev split), a list or a
            dict ``{subject: list}`` read with each item's ``"subject"``.
        seed: seeds the few-shot draw and the bootstrap, so a result is reproducible.
        batch_size, device, progress, max_length, share_prefix: as in :func:`llmbook.evaluate.loglikelihoods`.
        sampler: ``"random"`` (seeded draw) or ``"first_n"`` (the pool's first examples, as the harness does for MMLU).
        target_delimiter: put between the context and each choice (a space, as in the harness).
        n_resamples, confidence: of the percentile bootstrap intervals (:func:`llmbook.metrics.bootstrap_ci`).

    Returns:
        a :class:`MultipleChoiceResult` with accuracies, their confidence intervals, the per-item
        log-likelihoods and predictions, and the prompts used.
    """
    check_items(items, "items")
    t0 = time.perf_counter()
    contexts = fewshot_contexts(items, fewshot_items, num_fewshot, seed, sampler, target_delimiter)
    requests = [(context, target_delimiter + choice)
                for context, item in zip(contexts, items) for choice in item["choices"]]
    flat_ll, flat_greedy, n_tokens = loglikelihoods(
        model, tokenizer, requests, batch_size=batch_size, device=device, max_length=max_length,
        progress=progress, share_prefix=share_prefix, desc=f"{len(items)} items, {num_fewshot}-shot",
    )
    # Cut the flat arrays back into one slice per item.
    ends = np.cumsum([len(item["choices"]) for item in items])
    lls, greedy = np.split(flat_ll, ends[:-1]), np.split(flat_greedy, ends[:-1])
    labels = np.array([int(item["label"]) for item in items])
    predictions = {normalize: np.array([predict(ll, item["choices"], normalize) for ll, item in zip(lls, items)])
                   for normalize in NORMALIZATIONS}
    correct = {normalize: (p == labels).astype(float) for normalize, p in predictions.items()}
    ci = dict(n_resamples=n_resamples, confidence=confidence, seed=seed)
    return MultipleChoiceResult(
        loglikelihoods=lls,
        is_greedy=greedy,
        predictions=predictions[None],
        predictions_norm=predictions["chars"],
        labels=labels,
        correct=correct[None],
        correct_norm=correct["chars"],
        correct_bytes=correct["bytes"],
        acc_ci=bootstrap_ci(correct[None], **ci),
        acc_norm_ci=bootstrap_ci(correct["chars"], **ci),
        contexts=contexts,
        num_fewshot=num_fewshot,
        n_tokens=n_tokens,
        seconds=time.perf_counter() - t0,
    )
