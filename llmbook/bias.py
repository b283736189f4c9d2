r"""The Word Embedding Association Test (WEAT; Caliskan, Bryson and Narayanan, 2017).

Two sets of *target* words :math:`X, Y` (e.g. flowers, insects) and two sets of *attribute* words
:math:`A, B` (pleasant, unpleasant), all as embedding vectors. The association of one word with the
attributes is the difference of its mean cosine similarities,

.. math:: s(w, A, B) = \operatorname{mean}_{a \in A} \cos(w, a)
                        - \operatorname{mean}_{b \in B} \cos(w, b),

the test statistic is :math:`S(X, Y, A, B) = \sum_{x \in X} s(x, A, B) - \sum_{y \in Y} s(y, A, B)`,
and the **effect size** (a Cohen's d) is

.. math:: d = \frac{\operatorname{mean}_{x \in X} s(x, A, B)
                        - \operatorname{mean}_{y \in Y} s(y, A, B)}
                   {\operatorname{std}_{w \in X \cup Y} s(w, A, B)}

(sample standard deviation, ``ddof=1``, as in the SEAT code of May et al., 2019; ``ddof=0`` gives
the population one). Positive :math:`d`: :math:`X` sits closer to :math:`A` (and :math:`Y` to
:math:`B`) than the other way round.

The one-sided **permutation p-value** asks how often a random re-split :math:`(X_i, Y_i)` of
:math:`X \cup Y` into sets of the same sizes has a statistic at least as large as the observed one:
:math:`p = \Pr_i[S(X_i, Y_i, A, B) \ge S(X, Y, A, B)]`. With few words every split is enumerated (an
exact test); otherwise ``n_permutations`` random splits are drawn (seeded) and
:math:`p = (1 + \#\{S_i \ge S\}) / (1 + n)`, which counts the observed split among them so that a
sampled p-value is never 0. (Caliskan et al. write a strict ``>``; the two differ by the splits
that tie with the observed one.)

:data:`WEAT_TESTS` holds the published word lists of five of the paper's tests (its supplementary
material, lists 1, 2, 6, 7 and 8) with the GloVe effect sizes the paper reports.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["WeatTest", "WeatResult", "WEAT_TESTS", "association", "weat_statistic",
           "weat_effect_size", "weat_p_value", "weat"]


@dataclass(frozen=True)
class WeatTest:
    """One WEAT: target sets ``x`` and ``y``, attribute sets ``a`` and ``b`` (words), their names,
    and the effect size Caliskan et al. (2017, Table 1) report for GloVe (Common Crawl)."""

    name: str
    x_name: str
    x: tuple[str, ...]
    y_name: str
    y: tuple[str, ...]
    a_name: str
    a: tuple[str, ...]
    b_name: str
    b: tuple[str, ...]
    glove_effect_size: float


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_PLEASANT = _words(
    "caress freedom health love peace cheer friend heaven loyal pleasure diamond gentle "
    "honest lucky rainbow diploma gift honor miracle sunrise family happy laughter "
    "paradise vacation")
_UNPLEASANT = _words(
    "abuse crash filth murder sickness accident death grief poison stink assault disaster "
    "hatred pollute tragedy divorce jail poverty ugly cancer kill rotten vomit agony "
    "prison")

# The word lists of Caliskan et al. (2017), supplementary material, as published (capitalisation
# included). The keys are the paper's test numbers.
WEAT_TESTS: dict[str, WeatTest] = {
    "weat1": WeatTest(
        "flowers/insects vs pleasant/unpleasant",
        "flowers", _words(
            "aster clover hyacinth marigold poppy azalea crocus iris orchid rose bluebell daffodil "
            "lilac pansy tulip buttercup daisy lily peony violet carnation gladiola magnolia "
            "petunia zinnia"),
        "insects", _words(
            "ant caterpillar flea locust spider bedbug centipede fly maggot tarantula bee "
            "cockroach gnat mosquito termite beetle cricket hornet moth wasp blackfly dragonfly "
            "horsefly roach weevil"),
        "pleasant", _PLEASANT, "unpleasant", _UNPLEASANT, 1.50),
    "weat2": WeatTest(
        "instruments/weapons vs pleasant/unpleasant",
        "instruments", _words(
            "bagpipe cello guitar lute trombone banjo clarinet harmonica mandolin trumpet bassoon "
            "drum harp oboe tuba bell fiddle harpsichord piano viola bongo flute horn saxophone "
            "violin"),
        "weapons", _words(
            "arrow club gun missile spear axe dagger harpoon pistol sword blade dynamite hatchet "
            "rifle tank bomb firearm knife shotgun teargas cannon grenade mace slingshot whip"),
        "pleasant", _PLEASANT, "unpleasant", _UNPLEASANT, 1.53),
    "weat6": WeatTest(
        "male/female names vs career/family",
        "male names", _words(
            "John Paul Mike Kevin Steve Greg Jeff Bill"),
        "female names", _words(
            "Amy Joan Lisa Sarah Diana Kate Ann Donna"),
        "career", _words(
            "executive management professional corporation salary office business career"),
        "family", _words(
            "home parents children family cousins marriage wedding relatives"), 1.81),
    "weat7": WeatTest(
        "math/arts vs male/female terms",
        "math", _words(
            "math algebra geometry calculus equations computation numbers addition"),
        "arts", _words(
            "poetry art dance literature novel symphony drama sculpture"),
        "male terms", _words(
            "male man boy brother he him his son"),
        "female terms", _words(
            "female woman girl sister she her hers daughter"), 1.06),
    "weat8": WeatTest(
        "science/arts vs male/female terms",
        "science", _words(
            "science technology physics chemistry Einstein NASA experiment astronomy"),
        "arts", _words(
            "poetry art Shakespeare dance literature novel symphony drama"),
        "male terms", _words(
            "brother father uncle grandfather son he his him"),
        "female terms", _words(
            "sister mother aunt grandmother daughter she hers her"), 1.24),
}


@dataclass(frozen=True)
class WeatResult:
    """The outcome of :func:`weat`: the effect size, the statistic, the one-sided p-value, whether
    it was exact (every split enumerated) and how many splits it is based on."""

    effect_size: float
    statistic: float
    p_value: float
    exact: bool
    n_splits: int


def _unit_rows(vectors: Any, name: str, dim: int | None = None) -> np.ndarray:
    array = np.asarray(vectors, dtype=np.float64)
    if array.ndim != 2 or array.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty (n_words, dim) array of embeddings, got "
                         f"shape {array.shape}")
    if dim is not None and array.shape[1] != dim:
        raise ValueError(f"{name} has {array.shape[1]}-dimensional embeddings but the others "
                         f"have {dim}: embed every word set with the same model")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} holds NaN or infinite values")
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    if np.any(norms == 0):
        raise ValueError(f"{name} holds an all-zero vector, whose cosine similarity is "
                         f"undefined: drop that word (was it out of the vocabulary?)")
    return array / norms


def association(w: Any, a: Any, b: Any) -> np.ndarray:
    """``s(w, A, B)`` for every row of ``w`` ``(n, dim)``: mean cosine with ``a`` ``(n_a, dim)``
    minus mean cosine with ``b`` ``(n_b, dim)``; shape ``(n,)``."""
    w = _unit_rows(w, "w")
    a = _unit_rows(a, "A (the first attribute set)", w.shape[1])
    b = _unit_rows(b, "B (the second attribute set)", w.shape[1])
    return (w @ a.T).mean(axis=1) - (w @ b.T).mean(axis=1)


def _associations(x: Any, y: Any, a: Any, b: Any) -> tuple[np.ndarray, np.ndarray]:
    x = _unit_rows(x, "X (the first target set)")
    y = _unit_rows(y, "Y (the second target set)", x.shape[1])
    return association(x, a, b), association(y, a, b)


def weat_statistic(x: Any, y: Any, a: Any, b: Any) -> float:
    """``S(X, Y, A, B) = sum_x s(x, A, B) - sum_y s(y, A, B)``."""
    s_x, s_y = _associations(x, y, a, b)
    return float(s_x.sum() - s_y.sum())


def weat_effect_size(x: Any, y: Any, a: Any, b: Any, ddof: int = 1) -> float:
    """Caliskan et al.'s effect size ``d`` (see the module docstring); ``ddof`` of the standard
    deviation over ``X ∪ Y``: 1 (sample, default) or 0 (population)."""
    if ddof not in (0, 1):
        raise ValueError(f"ddof must be 0 (population std) or 1 (sample std), got {ddof!r}")
    s_x, s_y = _associations(x, y, a, b)
    spread = np.concatenate([s_x, s_y]).std(ddof=ddof)
    if spread == 0:
        raise ValueError("every target word has the same association: the effect size is undefined")
    return float((s_x.mean() - s_y.mean()) / spread)


def _split_statistics(s: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Statistic of each split: ``rows`` ``(n_splits, |X|)`` are the indices of ``X_i`` in ``s``."""
    return 2.0 * s[rows].sum(axis=1) - s.sum()  # sum over X_i minus sum over the rest


def weat_p_value(x: Any, y: Any, a: Any, b: Any, n_permutations: int = 10_000, seed: int = 0,
                 max_exact: int = 100_000) -> tuple[float, bool, int]:
    """One-sided permutation p-value of the WEAT statistic: ``(p, exact, n_splits)``.

    Every split of ``X ∪ Y`` into sets of sizes ``|X|`` and ``|Y|`` is enumerated when there are at
    most ``max_exact`` of them (``exact=True``); otherwise ``n_permutations`` random splits are
    drawn with ``numpy.random.default_rng(seed)``.
    """
    for name, value in (("n_permutations", n_permutations), ("max_exact", max_exact)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    s_x, s_y = _associations(x, y, a, b)
    s = np.concatenate([s_x, s_y])
    n, n_x = len(s), len(s_x)
    n_splits = math.comb(n, n_x)
    if n_splits <= max_exact:
        # combinations() yields index tuples in lexicographic order: the first is X itself
        rows = np.fromiter(itertools.chain.from_iterable(itertools.combinations(range(n), n_x)),
                           dtype=np.int64, count=n_splits * n_x).reshape(n_splits, n_x)
        exact = True
    else:
        rng = np.random.default_rng(seed)
        drawn = rng.permuted(np.tile(np.arange(n), (n_permutations, 1)), axis=1)[:, :n_x]
        rows = np.vstack([np.arange(n_x)[None], drawn])  # the observed split first
        exact = False
    statistics = _split_statistics(s, rows)
    # Sums of the same numbers in another order can differ in the last bits: a tie is a tie.
    tolerance = 1e-12 * max(1.0, float(np.abs(s).sum()))
    at_least = statistics >= statistics[0] - tolerance
    if exact:
        return float(at_least.mean()), True, n_splits
    return float(at_least.sum() / len(rows)), False, n_permutations


def weat(x: Any, y: Any, a: Any, b: Any, n_permutations: int = 10_000, seed: int = 0,
         max_exact: int = 100_000, ddof: int = 1) -> WeatResult:
    """Run one WEAT on embeddings ``x`` ``(|X|, dim)``, ``y``, ``a``, ``b``: effect size, statistic
    and one-sided permutation p-value (see :func:`weat_effect_size`, :func:`weat_p_value`)."""
    p_value, exact, n_splits = weat_p_value(x, y, a, b, n_permutations, seed, max_exact)
    return WeatResult(weat_effect_size(x, y, a, b, ddof), weat_statistic(x, y, a, b), p_value,
                      exact, n_splits)
