r"""Classification metrics: accuracy, precision / recall / F1, confusion matrix, ROC and PR curves, calibration.

For a class :math:`c`, with true positives :math:`TP_c`, false positives :math:`FP_c` and false negatives
:math:`FN_c`:

.. math:: P_c = \frac{TP_c}{TP_c + FP_c}, \quad R_c = \frac{TP_c}{TP_c + FN_c}, \quad
          F1_c = \frac{2 P_c R_c}{P_c + R_c} = \frac{2\,TP_c}{2\,TP_c + FP_c + FN_c}.

Averages (as scikit-learn defines them): *binary* reports the positive class only; *micro* pools the
counts of all classes before dividing (for single-label multiclass data it equals accuracy); *macro*
is the unweighted mean of the per-class scores; *weighted* weights each class by its support
(number of true instances). A ratio with a zero denominator is ``zero_division`` (default 0).
"""
from __future__ import annotations

import math

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

__all__ = [
    "PRF",
    "ReliabilityBins",
    "accuracy",
    "precision_recall_f1",
    "confusion_matrix",
    "roc_curve",
    "roc_auc",
    "pr_curve",
    "average_precision",
    "reliability_bins",
    "expected_calibration_error",
]

AVERAGES = ("binary", "micro", "macro", "weighted", None)


def _label_kinds(labels: np.ndarray, name: str) -> set[str]:
    """The kinds of label in ``labels`` ("string", "number"); a missing label (None, NaN) is an error."""
    kinds = set()
    for i, label in enumerate(labels.tolist()):
        if label is None or (isinstance(label, float) and math.isnan(label)):
            raise ValueError(f"{name}[{i}] is {label!r}, a missing label: drop those examples or give them "
                             f"a class before scoring")
        kinds.add("string" if isinstance(label, (str, bytes)) else "number")
    return kinds


def _labels_pair(y_true: Any, y_pred: Any, name_pred: str = "y_pred") -> tuple[np.ndarray, np.ndarray]:
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.ndim != 1 or y_pred.ndim != 1:
        raise ValueError(
            f"y_true and {name_pred} must be one-dimensional (one label per example), got shapes {y_true.shape} "
            f"and {y_pred.shape}: for class probabilities take argmax(axis=1) first"
        )
    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true has {len(y_true)} labels but {name_pred} has {len(y_pred)}: they must be aligned one to one")
    if len(y_true) == 0:
        raise ValueError("no examples: y_true and y_pred are empty")
    kinds_true, kinds_pred = _label_kinds(y_true, "y_true"), _label_kinds(y_pred, name_pred)
    if len(kinds_true | kinds_pred) > 1:
        raise ValueError(
            f"mixed label types: y_true holds {' and '.join(sorted(kinds_true))}s, {name_pred} "
            f"{' and '.join(sorted(kinds_pred))}s, so '1' never equals 1: convert one side (int(label) or "
            f"str(label)) so both use the same labels"
        )
    return y_true, y_pred


def accuracy(y_true: Sequence[Any], y_pred: Sequence[Any]) -> float:
    r"""Share of exact matches: :math:`\frac{1}{n}\sum_i [\hat y_i = y_i]`."""
    y_true, y_pred = _labels_pair(y_true, y_pred)
    return float(np.mean(y_true == y_pred))


def _sorted_labels(*arrays: np.ndarray) -> np.ndarray:
    return np.unique(np.concatenate(arrays))


def confusion_matrix(y_true: Sequence[Any], y_pred: Sequence[Any], labels: Sequence[Any] | None = None) -> np.ndarray:
    """Counts ``C[i, j]`` of examples of true class ``labels[i]`` predicted as ``labels[j]``.

    Shape ``(n_labels, n_labels)``; rows are true classes, columns predictions; ``labels`` defaults to the
    sorted union of the labels seen (scikit-learn's convention). Examples whose labels are not in
    ``labels`` are left out.
    """
    y_true, y_pred = _labels_pair(y_true, y_pred)
    labels = _sorted_labels(y_true, y_pred) if labels is None else np.asarray(labels)
    if labels.ndim != 1 or len(labels) == 0:
        raise ValueError(f"labels must be a non-empty list of class labels, got {labels!r}")
    if len(np.unique(labels)) != len(labels):
        raise ValueError(f"labels has duplicates: {labels.tolist()}")
    sorter = np.argsort(labels, kind="stable")

    def positions(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Index of each label of ``y`` in ``labels``, and whether it is there at all."""
        at = np.clip(np.searchsorted(labels, y, sorter=sorter), 0, len(labels) - 1)
        return sorter[at], labels[sorter[at]] == y

    t, t_known = positions(y_true)
    p, p_known = positions(y_pred)
    keep = t_known & p_known
    n = len(labels)
    matrix = np.bincount(t[keep] * n + p[keep], minlength=n * n).reshape(n, n).astype(np.int64)
    return matrix


@dataclass(frozen=True)
class PRF:
    """Precision, recall, F1 (floats, or per-class arrays with ``average=None``) and the support."""

    precision: Any
    recall: Any
    f1: Any
    support: Any


def _divide(numerator: np.ndarray, denominator: np.ndarray, zero_division: float) -> np.ndarray:
    numerator, denominator = np.asarray(numerator, dtype=float), np.asarray(denominator, dtype=float)
    safe = np.where(denominator == 0, 1.0, denominator)
    return np.where(denominator == 0, zero_division, numerator / safe)


def precision_recall_f1(
    y_true: Sequence[Any],
    y_pred: Sequence[Any],
    average: str | None = "binary",
    pos_label: Any = 1,
    labels: Sequence[Any] | None = None,
    zero_division: float = 0.0,
) -> PRF:
    """Precision, recall and F1 with the averages of the module docstring (equal to scikit-learn's
    ``precision_recall_fscore_support``). ``support`` is the number of true examples (per class for
    ``average=None``)."""
    if average not in AVERAGES:
        raise ValueError(f"unknown average {average!r}: use one of {AVERAGES}")
    y_true, y_pred = _labels_pair(y_true, y_pred)
    present = _sorted_labels(y_true, y_pred)
    if average == "binary":
        if len(present) > 2:
            raise ValueError(
                f"average='binary' needs two classes but the labels are {present.tolist()}: "
                f"choose average='micro', 'macro' or 'weighted' for multiclass data"
            )
        if pos_label not in present.tolist() and len(present) == 2:
            raise ValueError(f"pos_label={pos_label!r} is not a label; the labels are {present.tolist()}")
        labels = [pos_label]
    elif labels is None:
        labels = present
    labels = np.asarray(labels)
    every = np.unique(np.concatenate([present, labels]))
    matrix = confusion_matrix(y_true, y_pred, labels=every)
    at = np.searchsorted(every, labels)
    tp = np.diag(matrix)[at].astype(float)
    predicted = matrix.sum(axis=0)[at].astype(float)  # TP + FP
    support = matrix.sum(axis=1)[at].astype(float)  # TP + FN
    if average == "micro":
        tp, predicted, support = tp.sum(keepdims=True), predicted.sum(keepdims=True), support.sum(keepdims=True)
    precision = _divide(tp, predicted, zero_division)
    recall = _divide(tp, support, zero_division)
    f1 = _divide(2 * tp, predicted + support, zero_division)  # 2TP / (2TP + FP + FN)
    if average is None:
        return PRF(precision, recall, f1, support.astype(np.int64))
    if average == "weighted":
        if support.sum() == 0:
            return PRF(float(zero_division), float(zero_division), float(zero_division), 0)
        weights = support / support.sum()
        return PRF(float(precision @ weights), float(recall @ weights), float(f1 @ weights), int(support.sum()))
    return PRF(float(precision.mean()), float(recall.mean()), float(f1.mean()), int(support.sum()))


def _binary_scores(y_true: Any, scores: Any, pos_label: Any) -> tuple[np.ndarray, np.ndarray]:
    y_true, scores = np.asarray(y_true), np.asarray(scores, dtype=float)
    if y_true.ndim != 1 or scores.ndim != 1:
        raise ValueError(
            f"y_true and scores must be one-dimensional, got shapes {y_true.shape} and {scores.shape}: "
            f"pass the score of the positive class, e.g. probabilities[:, 1]"
        )
    if len(y_true) != len(scores):
        raise ValueError(f"y_true has {len(y_true)} labels but scores has {len(scores)}: they must be aligned one to one")
    if len(y_true) == 0:
        raise ValueError("no examples: y_true and scores are empty")
    if not np.all(np.isfinite(scores)):
        raise ValueError("scores contain NaN or infinity: pass finite scores (probabilities or logits)")
    present = np.unique(y_true).tolist()
    if len(present) > 2 and pos_label is None:  # with pos_label: that class against the rest, as sklearn
        raise ValueError(f"ROC and PR curves need binary labels, got {present}: score one class against "
                         f"the rest with pos_label=...")
    if pos_label is None:  # scikit-learn's rule: only labels {0, 1} or {-1, 1} say which class is positive
        if not (set(present) <= {0, 1} or set(present) <= {-1, 1}):
            raise ValueError(f"y_true's labels are {present}: say which one is the positive class with "
                             f"pos_label=... (it defaults to 1 only for labels 0/1 or -1/1)")
        pos_label = 1
    return (y_true == pos_label).astype(np.int64), scores


def _curve_counts(positive: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cumulative false and true positives when predicting positive for scores >= each distinct threshold
    (thresholds decreasing)."""
    order = np.argsort(-scores, kind="mergesort")
    scores, positive = scores[order], positive[order]
    last = np.r_[np.where(np.diff(scores))[0], len(scores) - 1]  # last index of each distinct score
    tps = np.cumsum(positive)[last]
    fps = (last + 1) - tps
    return fps, tps, scores[last]


def roc_curve(y_true: Sequence[Any], scores: Sequence[float], pos_label: Any = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ROC curve: ``(fpr, tpr, thresholds)``, one point per distinct score plus the origin (threshold +inf).

    Predicting positive when ``score >= threshold`` gives :math:`TPR = TP/P` and :math:`FPR = FP/N`.
    Equal to scikit-learn's ``roc_curve(..., drop_intermediate=False)``. ``pos_label`` names the positive
    class; left out, it is 1 for labels 0/1 or -1/1 and an error for any other pair (as in scikit-learn),
    since guessing would turn an AUC of 1 into 0 (the curves and AP of this module follow the same rule).
    """
    positive, scores = _binary_scores(y_true, scores, pos_label)
    n_pos, n_neg = positive.sum(), len(positive) - positive.sum()
    if n_pos == 0 or n_neg == 0:
        raise ValueError(
            f"the ROC curve needs both classes, got {n_pos} positive and {n_neg} negative examples: use a larger sample"
        )
    fps, tps, thresholds = _curve_counts(positive, scores)
    return np.r_[0.0, fps / n_neg], np.r_[0.0, tps / n_pos], np.r_[np.inf, thresholds]


def roc_auc(y_true: Sequence[Any], scores: Sequence[float], pos_label: Any = None) -> float:
    r"""Area under the ROC curve (trapezoidal rule), equal to the probability that a random positive
    scores higher than a random negative, ties counting one half (the Mann-Whitney U statistic):
    :math:`\mathrm{AUC} = \frac{1}{PN}\sum_{i \in +}\sum_{j \in -}\big([s_i > s_j] + \tfrac12 [s_i = s_j]\big)`."""
    fpr, tpr, _ = roc_curve(y_true, scores, pos_label)
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))


def pr_curve(y_true: Sequence[Any], scores: Sequence[float], pos_label: Any = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision-recall curve ``(precision, recall, thresholds)`` as scikit-learn's
    ``precision_recall_curve``: one point per distinct score, thresholds increasing (recall decreasing),
    and a final point ``(precision=1, recall=0)`` without a threshold. Predicting positive when
    ``score >= threshold`` gives :math:`P = TP / (TP + FP)` and :math:`R = TP / (TP + FN)`."""
    positive, scores = _binary_scores(y_true, scores, pos_label)
    n_pos = positive.sum()
    if n_pos == 0:
        raise ValueError("the PR curve needs at least one positive example (recall is undefined without positives)")
    fps, tps, thresholds = _curve_counts(positive, scores)
    precision = tps / (tps + fps)
    recall = tps / n_pos
    return np.r_[precision[::-1], 1.0], np.r_[recall[::-1], 0.0], thresholds[::-1]


def average_precision(y_true: Sequence[Any], scores: Sequence[float], pos_label: Any = None) -> float:
    r"""Area under the PR curve as a step function (scikit-learn's definition):
    :math:`\mathrm{AP} = \sum_k (R_k - R_{k-1})\, P_k` over thresholds in decreasing order."""
    precision, recall, _ = pr_curve(y_true, scores, pos_label)
    return float(-np.sum(np.diff(recall) * precision[:-1]))


@dataclass(frozen=True)
class ReliabilityBins:
    """Per-bin data of a reliability diagram: bin edges, example counts, accuracy and mean confidence
    (NaN for empty bins)."""

    edges: np.ndarray  # (n_bins + 1,)
    counts: np.ndarray  # (n_bins,)
    accuracy: np.ndarray  # (n_bins,)
    confidence: np.ndarray  # (n_bins,)


def _storage_eps(values: Any) -> float:
    """The relative rounding of the dtype ``values`` are stored in (0 for float32/64 and plain lists)."""
    name = str(getattr(values, "dtype", "")).replace("torch.", "")
    return {"float16": 2.0**-11, "bfloat16": 2.0**-8}.get(name, 0.0)


def _confidences(probabilities: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    """Top-label confidence and correctness from class probabilities ``(n, k)`` (or ``(n,)`` = P(class 1)).

    Each row must sum to 1 within the rounding of the dtype it came in: a float16 or bfloat16 softmax
    (NumPy or torch) rounds every probability to 11 or 8 significant bits."""
    eps = _storage_eps(probabilities)
    if hasattr(probabilities, "detach"):  # a torch tensor: NumPy has no bfloat16
        probabilities = probabilities.detach().float().cpu().numpy()
    probabilities, labels = np.asarray(probabilities, dtype=float), np.asarray(labels)
    if probabilities.ndim == 1:
        probabilities = np.stack([1 - probabilities, probabilities], axis=1)
    if probabilities.ndim != 2:
        raise ValueError(f"probabilities must have shape (n,) or (n, n_classes), got {probabilities.shape}")
    if labels.ndim != 1 or len(labels) != len(probabilities):
        raise ValueError(
            f"labels must hold one class index per example: got shape {labels.shape} for {len(probabilities)} examples"
        )
    if len(labels) == 0:
        raise ValueError("no examples: probabilities and labels are empty")
    n_classes = probabilities.shape[1]
    whole = labels.dtype.kind in "iu" or (labels.dtype.kind == "f" and bool(np.all(np.mod(labels, 1) == 0)))
    if labels.dtype.kind == "b" or not whole or np.any(labels < 0) or np.any(labels >= n_classes):
        raise ValueError(f"labels must be class indices 0 .. {n_classes - 1} (one per column of "
                         f"probabilities), got {np.unique(labels).tolist()[:10]}")
    tolerance = max(1e-6, probabilities.shape[1] * eps)  # k roundings of at most eps each
    if np.any(probabilities < 0) or np.any(probabilities > 1) or not np.allclose(probabilities.sum(axis=1), 1,
                                                                                  rtol=0, atol=tolerance):
        raise ValueError("probabilities must lie in [0, 1] and each row must sum to 1: apply softmax to logits first "
                         "(rows computed in float16 or bfloat16 may be off by their rounding: pass them in that "
                         "dtype, not converted to float32)")
    return probabilities.max(axis=1), probabilities.argmax(axis=1) == labels


def reliability_bins(confidences: Sequence[float], correct: Sequence[bool], n_bins: int = 15) -> ReliabilityBins:
    """Group predictions into ``n_bins`` equal-width confidence bins :math:`B_m = (\\frac{m-1}{M}, \\frac{m}{M}]`
    (the first bin also holds confidence 0) and report each bin's accuracy and mean confidence."""
    confidences, correct = np.asarray(confidences, dtype=float), np.asarray(correct, dtype=float)
    if not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive int, got {n_bins!r} (15 is the usual choice)")
    if confidences.ndim != 1 or confidences.shape != correct.shape:
        raise ValueError(f"confidences and correct must be 1-D and aligned, got shapes {confidences.shape} and {correct.shape}")
    if len(confidences) == 0:
        raise ValueError("no examples: confidences are empty")
    if not np.all(np.isfinite(confidences)) or np.any(confidences < 0) or np.any(confidences > 1):
        raise ValueError("confidences must lie in [0, 1] (no NaN): check the probabilities they came from")
    if not np.all((correct == 0) | (correct == 1)):
        raise ValueError("correct must hold 0/1 (or False/True) per example, with no NaN")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.searchsorted(edges, confidences, side="left") - 1, 0, n_bins - 1)
    counts = np.bincount(which, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.bincount(which, weights=correct, minlength=n_bins) / counts
        conf = np.bincount(which, weights=confidences, minlength=n_bins) / counts
    return ReliabilityBins(edges, counts, acc, conf)


def expected_calibration_error(probabilities: Any, labels: Sequence[int], n_bins: int = 15) -> float:
    r"""Expected calibration error (Guo et al., 2017) of the top-label confidence:

    .. math:: \mathrm{ECE} = \sum_{m=1}^{M} \frac{|B_m|}{n}\, \big|\mathrm{acc}(B_m) - \mathrm{conf}(B_m)\big|,

    with :math:`M` equal-width bins of the confidence :math:`\max_k p_{ik}`, :math:`\mathrm{acc}(B_m)` the
    share of correct argmax predictions and :math:`\mathrm{conf}(B_m)` the mean confidence in bin
    :math:`m`. ``probabilities``: shape ``(n, n_classes)``, or ``(n,)`` for the probability of class 1.
    """
    confidences, correct = _confidences(probabilities, labels)
    bins = reliability_bins(confidences, correct, n_bins)
    filled = bins.counts > 0
    gaps = np.abs(bins.accuracy[filled] - bins.confidence[filled])
    return float(np.sum(bins.counts[filled] / len(confidences) * gaps))
