"""Bootstrap confidence intervals and the paired bootstrap test.

A test set is a sample from the population of inputs a system will meet; a score computed on it is an
*estimate*. The bootstrap (Efron & Tibshirani, 1993) measures how much that estimate would move on
another test set of the same size by resampling the test set itself, with replacement:

* :func:`bootstrap_ci` — percentile confidence interval of any metric;
* :func:`paired_bootstrap` — is system A really better than system B on this test set
  (Koehn, 2004)? Both systems are scored on the *same* resampled items, so the comparison is paired.

Resampling indices are drawn as ``numpy.random.default_rng(seed).integers(0, n, (n_resamples, n))``,
the same stream that ``scipy.stats.bootstrap`` and sacrebleu's paired bootstrap draw for one seed, which
is what lets the tests check both functions against those libraries number for number.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

__all__ = ["BootstrapCI", "PairedBootstrapResult", "bootstrap_ci", "paired_bootstrap", "resample_indices"]


@dataclass(frozen=True)
class BootstrapCI:
    """A point estimate with its percentile bootstrap interval ``[low, high]`` at level ``confidence``."""

    estimate: float
    low: float
    high: float
    confidence: float
    n_resamples: int
    standard_error: float  # standard deviation of the bootstrap distribution

    def __str__(self) -> str:
        return f"{self.estimate:.4g} [{self.low:.4g}, {self.high:.4g}] ({self.confidence:.0%} CI)"


@dataclass(frozen=True)
class PairedBootstrapResult:
    """Outcome of :func:`paired_bootstrap`.

    ``delta = score_a - score_b`` on the whole test set; ``p_value`` is the probability, under the null
    hypothesis of no difference, of a difference at least as large as the one observed; ``win_rate_a``
    is the share of resampled test sets on which A scores strictly higher than B (Koehn's criterion: A
    is better "with 95 % confidence" when ``win_rate_a >= 0.95``); ``delta_low`` / ``delta_high`` is the
    percentile interval of the difference.
    """

    score_a: float
    score_b: float
    delta: float
    p_value: float
    win_rate_a: float
    win_rate_b: float
    delta_low: float
    delta_high: float
    confidence: float
    n_resamples: int


def _check_common(n_items: int, n_resamples: int, confidence: float) -> None:
    if n_items == 0:
        raise ValueError("bootstrap needs at least one item, got an empty sequence: pass the per-item values or data")
    if not isinstance(n_resamples, (int, np.integer)) or isinstance(n_resamples, bool) or n_resamples < 1:
        raise ValueError(f"n_resamples must be a positive int, got {n_resamples!r} (1000 is a common choice)")
    if not (isinstance(confidence, (int, float)) and 0 < confidence < 1):
        raise ValueError(f"confidence must be a number strictly between 0 and 1, got {confidence!r} (e.g. 0.95)")


def resample_indices(n_items: int, n_resamples: int, seed: int | None) -> np.ndarray:
    """Indices of ``n_resamples`` bootstrap resamples of ``n_items`` items, shape ``(n_resamples, n_items)``.

    Row ``r`` lists the items (with repetitions) of resampled test set ``r``.
    """
    return np.random.default_rng(seed).integers(0, n_items, size=(n_resamples, n_items))


def _take(data: Any, idx: np.ndarray) -> Any:
    """The items of ``data`` at ``idx``: fancy indexing for arrays, a list otherwise."""
    if isinstance(data, np.ndarray):
        return data[idx]
    return [data[i] for i in idx]


def _as_values(values: Any, name: str) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(
            f"{name} must be a sequence of numbers when no metric is given; to bootstrap a corpus-level "
            f"metric pass metric=callable taking a resampled list of items"
        ) from None
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional (one number per item), got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        where = np.flatnonzero(~np.isfinite(array))[:5].tolist()
        raise ValueError(f"{name} contain NaN or infinity (first at positions {where}): every resample "
                         f"would be NaN; drop or fix those items first")
    return array


def _scores(data: Any, metric: Callable[[Any], float] | None, idx: np.ndarray) -> np.ndarray:
    """The metric on every resample (rows of ``idx``); the mean of the values when ``metric`` is None."""
    if metric is None:
        return data[idx].mean(axis=1)  # vectorised: one row per resample
    return np.array([float(metric(_take(data, row))) for row in idx])


def _percentile_interval(samples: np.ndarray, confidence: float) -> tuple[float, float]:
    alpha = (1 - confidence) / 2
    low, high = np.percentile(samples, [100 * alpha, 100 * (1 - alpha)])
    return float(low), float(high)


def bootstrap_ci(
    data: Sequence[Any] | np.ndarray,
    metric: Callable[[Any], float] | None = None,
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int | None = 0,
) -> BootstrapCI:
    """Percentile bootstrap confidence interval of a metric.

    Two ways to call it:

    * ``bootstrap_ci(values)``: ``values`` holds one number per item (e.g. 0/1 correctness, a sentence
      score); the statistic is their mean.
    * ``bootstrap_ci(data, metric)``: ``data`` is a sequence of items (a list, or a NumPy array whose
      first axis indexes items) and ``metric(resampled_items) -> float`` computes a corpus-level score,
      e.g. ``metric=lambda pairs: corpus_bleu(...)`` on ``(hypothesis, reference)`` pairs.

    With :math:`\\hat\\theta^{*}_1, \\dots, \\hat\\theta^{*}_R` the metric on :math:`R` resamples of the
    :math:`n` items drawn with replacement, the interval at level :math:`1-\\alpha` is

    .. math:: \\left[\\, q_{\\alpha/2}(\\hat\\theta^{*}),\\; q_{1-\\alpha/2}(\\hat\\theta^{*}) \\,\\right],

    the empirical quantiles (linear interpolation, ``numpy.percentile``'s default). The estimate is the
    metric on the full data and ``standard_error`` the standard deviation of the :math:`\\hat\\theta^{*}`.
    Equal to ``scipy.stats.bootstrap(..., method="percentile", rng=default_rng(seed))``.
    """
    if metric is not None and not callable(metric):
        raise ValueError(f"metric must be a callable taking the resampled items, got {type(metric).__name__}")
    if metric is None:
        data = _as_values(data, "values")
    _check_common(len(data), n_resamples, confidence)
    estimate = float(data.mean()) if metric is None else float(metric(data if isinstance(data, np.ndarray) else list(data)))
    samples = _scores(data, metric, resample_indices(len(data), n_resamples, seed))
    low, high = _percentile_interval(samples, confidence)
    return BootstrapCI(estimate, low, high, float(confidence), int(n_resamples), float(samples.std(ddof=1)) if n_resamples > 1 else 0.0)


def paired_bootstrap(
    system_a: Sequence[Any] | np.ndarray,
    system_b: Sequence[Any] | np.ndarray,
    metric: Callable[[Any], float] | None = None,
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int | None = 0,
) -> PairedBootstrapResult:
    """Paired bootstrap test of the difference between two systems on the same test items.

    ``system_a[i]`` and ``system_b[i]`` belong to the same test item ``i`` (per-item scores when
    ``metric`` is None, otherwise items that ``metric(resampled_items) -> float`` scores, e.g. sentence
    sufficient statistics of BLEU). Each resample :math:`r` draws item indices with replacement and
    scores *both* systems on them, giving :math:`\\delta^{*}_r = m_A^{*} - m_B^{*}`.

    * Koehn's win rate (Koehn, 2004): :math:`\\frac{1}{R}\\sum_r [\\delta^{*}_r > 0]`.
    * p-value of :math:`H_0`: no difference, as sacrebleu's ``--paired-bs`` (after Moses'
      ``bootstrap-hypothesis-difference-significance.pl``): the bootstrap distribution of
      :math:`|\\delta^{*}|` is shifted to mean zero (what it would look like under :math:`H_0`) and

      .. math:: p = \\frac{1 + \\#\\{r : |\\delta^{*}_r| - \\overline{|\\delta^{*}|} > |\\delta|\\}}{R + 1}.

    With ``metric`` the BLEU of summed sufficient statistics and the same ``seed``, ``p_value`` equals
    sacrebleu's paired bootstrap p-value (except for two systems that tie on every resample, where
    sacrebleu's formula gives :math:`1/(R+1)` and this function gives 1).
    """
    if metric is not None and not callable(metric):
        raise ValueError(f"metric must be a callable taking the resampled items, got {type(metric).__name__}")
    if metric is None:
        system_a, system_b = _as_values(system_a, "system_a"), _as_values(system_b, "system_b")
    if len(system_a) != len(system_b):
        raise ValueError(
            f"paired bootstrap needs one entry per test item for both systems, got {len(system_a)} for system_a "
            f"and {len(system_b)} for system_b: score both systems on the same items"
        )
    _check_common(len(system_a), n_resamples, confidence)

    def full(data: Any) -> float:
        if metric is None:
            return float(data.mean())
        return float(metric(data if isinstance(data, np.ndarray) else list(data)))

    score_a, score_b = full(system_a), full(system_b)
    idx = resample_indices(len(system_a), n_resamples, seed)
    samples_a, samples_b = _scores(system_a, metric, idx), _scores(system_b, metric, idx)
    deltas = samples_a - samples_b
    delta = score_a - score_b
    shifted = np.abs(deltas) - np.abs(deltas).mean()  # the bootstrap distribution moved to H0
    p_value = (int(np.sum(shifted > abs(delta))) + 1) / (n_resamples + 1)
    if delta == 0 and not np.any(deltas):  # identical scores on every resample: no evidence of a difference
        p_value = 1.0
    low, high = _percentile_interval(deltas, confidence)
    return PairedBootstrapResult(
        score_a=score_a,
        score_b=score_b,
        delta=delta,
        p_value=float(p_value),
        win_rate_a=float(np.mean(deltas > 0)),
        win_rate_b=float(np.mean(deltas < 0)),
        delta_low=low,
        delta_high=high,
        confidence=float(confidence),
        n_resamples=int(n_resamples),
    )
