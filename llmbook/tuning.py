r"""Hyperparameter search: grid search, random search and Bayesian optimisation (Snoek et al., 2012).

An *objective* maps a dict of hyperparameters to a score, **higher is better** (to minimise a
validation loss, return its negative). A *space* names the hyperparameters and where each may lie:

>>> space = {"lr": LogUniform(1e-5, 1e-2), "rank": Choice([1, 2, 4, 8])}
>>> result = bayesian_optimization(lambda p: -validation_loss(p), space, budget=12)
>>> result.best_params, result.best_score, result.best_so_far()

Every method spends at most ``budget`` evaluations and returns a :class:`SearchResult`:

* :func:`grid_search` evaluates a regular grid, about ``budget ** (1 / d)`` values per hyperparameter;
* :func:`random_search` draws each trial independently (Bergstra and Bengio, 2012): with the same budget
  it tries more distinct values of each hyperparameter than a grid, which pays when only a few matter;
* :func:`bayesian_optimization` fits a Gaussian process to the scores seen so far and evaluates next
  the point with the largest *expected improvement* over the best score,

  .. math:: \mathrm{EI}(x) = \mathbb{E}\left[\max(f(x) - f^* - \xi, 0)\right]
            = (\mu - f^* - \xi)\,\Phi(z) + \sigma\,\varphi(z), \qquad z = \frac{\mu - f^* - \xi}{\sigma},

  where :math:`\mu(x), \sigma(x)` are the process's posterior mean and standard deviation: large where
  the model expects a good score (exploitation) or is unsure (exploration).

The Gaussian process works in the unit cube: each hyperparameter is mapped to ``[0, 1]`` linearly
(:class:`Uniform`), on a log scale (:class:`LogUniform`: 1e-5 → 1e-4 is as far as 1e-4 → 1e-3) or by
its index (:class:`Choice`: index / (n - 1)). NumPy only.
"""
from __future__ import annotations

import itertools
import math
from numbers import Real
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["LogUniform", "Uniform", "Choice", "Space", "GaussianProcess", "expected_improvement",
           "SearchResult", "grid_search", "random_search", "bayesian_optimization"]


# ---------------------------------------------------------------- the search space


def _check_bounds(kind: str, low: float, high: float) -> None:
    for name, value in (("low", low), ("high", high)):
        if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
            raise ValueError(f"{kind}.{name} must be a finite number, got {value!r}")
    if not low < high:
        raise ValueError(f"{kind} needs low < high, got low={low!r}, high={high!r}; for a fixed value leave "
                         f"it out of the space (or use Choice([value]))")


@dataclass(frozen=True)
class Uniform:
    """A real hyperparameter in ``[low, high]``, searched on a linear scale (e.g. dropout)."""

    low: float
    high: float

    def __post_init__(self) -> None:
        _check_bounds("Uniform", self.low, self.high)

    def to_unit(self, value: Any) -> float:
        return (float(value) - self.low) / (self.high - self.low)

    def from_unit(self, u: float) -> float:
        return self.low + float(u) * (self.high - self.low)

    def sample(self, rng: np.random.Generator, n: int) -> list[float]:
        return [self.from_unit(u) for u in rng.random(n)]

    def grid(self, k: int) -> list[float]:
        # the centres of k equal cells: a grid point never sits on a bound (often the worst value)
        return [self.from_unit((i + 0.5) / k) for i in range(k)]

    @property
    def size(self) -> float:
        return math.inf


@dataclass(frozen=True)
class LogUniform(Uniform):
    """A positive real hyperparameter in ``[low, high]``, searched on a log scale (learning rates, weight
    decay): each factor of 10 gets the same share of the trials."""

    def __post_init__(self) -> None:
        _check_bounds("LogUniform", self.low, self.high)
        if self.low <= 0:
            raise ValueError(f"LogUniform needs 0 < low (a log scale has no zero), got low={self.low!r}; use "
                             f"Uniform for a range that includes 0")

    def to_unit(self, value: Any) -> float:
        return math.log(float(value) / self.low) / math.log(self.high / self.low)

    def from_unit(self, u: float) -> float:
        return self.low * (self.high / self.low) ** float(u)


@dataclass(frozen=True)
class Choice:
    """One of a list of ``values`` (LoRA ranks, batch sizes, names). For the Gaussian process the
    ``i``-th value sits at ``i / (n - 1)``, so give ordered values in order."""

    values: tuple

    def __init__(self, values: Sequence[Any]):
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or len(values) == 0:
            raise ValueError(f"Choice needs a non-empty list of values, got {values!r}")
        object.__setattr__(self, "values", tuple(values))

    def index(self, value: Any) -> int:
        for i, v in enumerate(self.values):
            if v == value:
                return i
        raise ValueError(f"{value!r} is not one of the Choice's values {list(self.values)}")

    def to_unit(self, value: Any) -> float:
        n = len(self.values)
        return self.index(value) / (n - 1) if n > 1 else 0.0

    def sample(self, rng: np.random.Generator, n: int) -> list[Any]:
        return [self.values[i] for i in rng.integers(0, len(self.values), n)]

    def grid(self, k: int) -> list[Any]:
        # k values spread evenly over the list, first and last included
        k = min(k, len(self.values))
        if k == 1:
            return [self.values[(len(self.values) - 1) // 2]]
        return [self.values[round(i * (len(self.values) - 1) / (k - 1))] for i in range(k)]

    @property
    def size(self) -> float:
        return len(self.values)


Dimension = Uniform | LogUniform | Choice
Space = Mapping[str, Dimension]


def _check_space(space: Space) -> None:
    if not isinstance(space, Mapping) or len(space) == 0:
        raise ValueError(f"the search space must be a non-empty dict of name -> Uniform / LogUniform / "
                         f"Choice, got {space!r}")
    for name, dimension in space.items():
        if not isinstance(name, str):
            raise ValueError(f"hyperparameter names must be strings, got {name!r}")
        if not isinstance(dimension, (Uniform, Choice)):
            raise TypeError(f"space[{name!r}] must be a Uniform, LogUniform or Choice, got {dimension!r}; "
                            f"for a list of values write Choice({dimension!r})")


def _check_budget(budget: int) -> None:
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
        raise ValueError(f"budget (the number of evaluations) must be a positive int, got {budget!r}")


def _to_unit(space: Space, params: Mapping[str, Any]) -> np.ndarray:
    """``params`` as a point of the unit cube ``(d,)``, in the order of ``space``."""
    return np.array([dimension.to_unit(params[name]) for name, dimension in space.items()])


# ---------------------------------------------------------------- the surrogate and the acquisition


class GaussianProcess:
    r"""Gaussian-process regression with a fixed RBF kernel, as scikit-learn's
    ``GaussianProcessRegressor(kernel=RBF(length_scale, "fixed"), alpha=noise, optimizer=None,
    normalize_y=normalize_y)``.

    .. math:: k(x, x') = \exp\left(-\frac{\lVert x - x' \rVert^2}{2\ell^2}\right), \qquad
              \mu_* = K_*^\top (K + \sigma_n^2 I)^{-1} y, \qquad
              \sigma_*^2 = k(x_*, x_*) - K_*^\top (K + \sigma_n^2 I)^{-1} K_*.

    The targets are standardised first (``normalize_y``: mean 0, standard deviation 1; the kernel's
    signal variance is 1 on that scale) and the predictions scaled back. ``noise`` is added to the
    diagonal of the training kernel only (observation noise, and numerical jitter for the Cholesky
    factorisation); the predicted ``std`` is that of the noise-free function.
    """

    def __init__(self, length_scale: float = 0.2, noise: float = 1e-6, normalize_y: bool = True):
        if not (isinstance(length_scale, Real) and length_scale > 0 and math.isfinite(length_scale)):
            raise ValueError(f"length_scale must be a positive number, got {length_scale!r}")
        if not (isinstance(noise, Real) and noise >= 0 and math.isfinite(noise)):
            raise ValueError(f"noise must be a non-negative number (e.g. 1e-6), got {noise!r}")
        self.length_scale = float(length_scale)
        self.noise = float(noise)
        self.normalize_y = normalize_y
        self._X: np.ndarray | None = None

    def kernel(self, A: np.ndarray, B: np.ndarray) -> np.ndarray:
        """The RBF kernel matrix ``(len(A), len(B))`` of points ``A`` ``(n, d)`` and ``B`` ``(m, d)``."""
        sq_dist = ((A[:, None, :] - B[None, :, :]) ** 2).sum(-1)
        return np.exp(-0.5 * sq_dist / self.length_scale ** 2)

    def fit(self, X: np.ndarray, y: np.ndarray) -> GaussianProcess:
        """Condition on points ``X`` ``(n, d)`` with targets ``y`` ``(n,)``; returns ``self``."""
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        if X.ndim != 2 or y.ndim != 1 or len(X) != len(y) or len(X) == 0:
            raise ValueError(f"fit needs X (n, d) and y (n,) with n >= 1, got shapes {X.shape} and {y.shape}")
        if not (np.isfinite(X).all() and np.isfinite(y).all()):
            raise ValueError("fit needs finite X and y (no NaN or inf)")
        if self.normalize_y:
            self._y_mean = y.mean()
            std = y.std()
            self._y_std = std if std > 0 else 1.0  # constant targets: nothing to scale (as sklearn)
        else:
            self._y_mean, self._y_std = 0.0, 1.0
        K = self.kernel(X, X) + self.noise * np.eye(len(X))
        try:
            self._L = np.linalg.cholesky(K)  # K = L L^T
        except np.linalg.LinAlgError as error:
            raise ValueError(f"the kernel matrix is not positive definite (repeated points with noise="
                             f"{self.noise}?): raise noise, e.g. to 1e-6") from error
        z = (y - self._y_mean) / self._y_std
        # alpha = K^{-1} z by two triangular solves with the Cholesky factor
        self._alpha = np.linalg.solve(self._L.T, np.linalg.solve(self._L, z))
        self._X = X
        return self

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean ``(m,)`` and standard deviation ``(m,)`` at points ``X`` ``(m, d)``."""
        if self._X is None:
            raise RuntimeError("call fit(X, y) before predict")
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self._X.shape[1]:
            raise ValueError(f"predict needs X (m, d={self._X.shape[1]}), got shape {X.shape}")
        K_star = self.kernel(self._X, X)  # (n, m)
        mean = K_star.T @ self._alpha
        v = np.linalg.solve(self._L, K_star)  # (n, m): the part of the prior variance the data explain
        variance = np.clip(1.0 - (v ** 2).sum(0), 0.0, None)  # k(x, x) = 1; clip rounding below zero
        return mean * self._y_std + self._y_mean, np.sqrt(variance) * self._y_std


def _normal_cdf(z: np.ndarray) -> np.ndarray:
    return 0.5 * np.vectorize(math.erfc, otypes=[float])(-z / math.sqrt(2.0))


def _normal_pdf(z: np.ndarray) -> np.ndarray:
    return np.exp(-0.5 * z ** 2) / math.sqrt(2.0 * math.pi)


def expected_improvement(mean: np.ndarray, std: np.ndarray, best: float, xi: float = 0.0) -> np.ndarray:
    r"""Expected improvement over ``best`` (maximisation) of a normal ``N(mean, std^2)``, elementwise:
    :math:`\mathbb{E}[\max(f - best - \xi, 0)] = (\mu - best - \xi)\Phi(z) + \sigma\varphi(z)`, with
    :math:`z = (\mu - best - \xi) / \sigma`; where ``std`` is 0, ``max(mean - best - xi, 0)``.
    ``xi`` ≥ 0 asks for a margin of improvement (more exploration)."""
    mean = np.asarray(mean, dtype=np.float64)
    std = np.asarray(std, dtype=np.float64)
    if mean.shape != std.shape:
        raise ValueError(f"mean and std must have the same shape, got {mean.shape} and {std.shape}")
    if (std < 0).any():
        raise ValueError("std must be >= 0 (a standard deviation)")
    improvement = mean - best - xi
    positive = std > 0
    safe_std = np.where(positive, std, 1.0)
    z = improvement / safe_std
    ei = improvement * _normal_cdf(z) + safe_std * _normal_pdf(z)
    return np.where(positive, np.maximum(ei, 0.0), np.maximum(improvement, 0.0))


# ---------------------------------------------------------------- the searches


@dataclass
class SearchResult:
    """The trials of a search, in the order they were evaluated: ``(params, score)`` pairs (higher is
    better). ``method`` names the search."""

    trials: list[tuple[dict[str, Any], float]] = field(default_factory=list)
    method: str = ""

    @property
    def best_params(self) -> dict[str, Any]:
        return self._best()[0]

    @property
    def best_score(self) -> float:
        return self._best()[1]

    def _best(self) -> tuple[dict[str, Any], float]:
        if not self.trials:
            raise ValueError("no trials were evaluated")
        return max(self.trials, key=lambda trial: trial[1])  # the first of equal scores

    def best_so_far(self) -> list[float]:
        """The best score after each trial ``(n_trials,)``: the curve that compares searches."""
        return list(itertools.accumulate((score for _, score in self.trials), max))


def _evaluate(objective: Callable[[dict[str, Any]], float], params: dict[str, Any]) -> float:
    score = objective(dict(params))
    try:
        score = float(score)
    except (TypeError, ValueError) as error:
        raise TypeError(f"the objective must return a number (the score, higher is better), got "
                        f"{type(score).__name__} for {params}") from error
    if not math.isfinite(score):
        raise ValueError(f"the objective returned {score} for {params}: return a finite score (for a "
                         f"diverged run, e.g. the negative of a large loss)")
    return score


def grid_search(objective: Callable[[dict[str, Any]], float], space: Space, budget: int) -> SearchResult:
    """Evaluate a regular grid of at most ``budget`` points, in order.

    Each hyperparameter gets about ``budget ** (1 / d)`` values (``d`` = the number of hyperparameters):
    all start at the largest ``k`` with ``k ** d <= budget``, then hyperparameters one at a time get one
    more value while the grid still fits the budget (20 trials in 2-D: a 5 × 4 grid). Real ranges get
    the centres of ``k`` equal cells (on a log scale for :class:`LogUniform`); a :class:`Choice` gets
    ``k`` of its values spread evenly (at most all of them, so a small discrete space may use fewer
    trials than the budget).
    """
    _check_space(space)
    _check_budget(budget)
    d = len(space)
    dimensions = list(space.values())
    k = int(math.floor(budget ** (1.0 / d) + 1e-9))
    counts = [max(1, int(min(k, dim.size))) for dim in dimensions]
    grown = True
    while grown:  # add a value to one dimension at a time while the grid fits the budget
        grown = False
        for i, dim in enumerate(dimensions):
            if counts[i] < dim.size and math.prod(counts) // counts[i] * (counts[i] + 1) <= budget:
                counts[i] += 1
                grown = True
    grids = [dim.grid(n) for dim, n in zip(dimensions, counts)]
    result = SearchResult(method="grid")
    for values in itertools.product(*grids):
        params = dict(zip(space, values))
        result.trials.append((params, _evaluate(objective, params)))
    return result


def random_search(objective: Callable[[dict[str, Any]], float], space: Space, budget: int,
                  seed: int = 0) -> SearchResult:
    """Evaluate ``budget`` points drawn independently (uniformly on each hyperparameter's scale) with
    NumPy's generator seeded by ``seed``."""
    _check_space(space)
    _check_budget(budget)
    rng = np.random.default_rng(seed)
    result = SearchResult(method="random")
    for _ in range(budget):
        params = {name: dim.sample(rng, 1)[0] for name, dim in space.items()}
        result.trials.append((params, _evaluate(objective, params)))
    return result


def _candidates(space: Space, rng: np.random.Generator, n: int) -> list[dict[str, Any]]:
    """``n`` random points of the space; a discrete space with at most ``n`` points: all of them."""
    if math.prod(dim.size for dim in space.values()) <= n:
        return [dict(zip(space, values)) for values in itertools.product(*(d.values for d in space.values()))]
    columns = {name: dim.sample(rng, n) for name, dim in space.items()}
    return [{name: columns[name][i] for name in space} for i in range(n)]


def bayesian_optimization(objective: Callable[[dict[str, Any]], float], space: Space, budget: int,
                          n_initial: int = 3, seed: int = 0, candidates: int = 2048, *,
                          length_scale: float = 0.2, noise: float = 1e-6, xi: float = 0.0) -> SearchResult:
    """Bayesian optimisation with a Gaussian-process surrogate and expected improvement.

    The first ``n_initial`` trials are random; each later one fits a :class:`GaussianProcess`
    (``length_scale``, ``noise``, in the unit cube) to all scores so far and evaluates the candidate
    with the largest :func:`expected_improvement` (``xi``) over the best score. The ``candidates``
    points are drawn at random each step (a discrete space small enough is enumerated instead). A
    point already evaluated is never evaluated again; if a discrete space runs out of new points the
    search stops early. Everything random comes from NumPy's generator seeded by ``seed``, so the same
    call (with a deterministic objective) gives the same trials.
    """
    _check_space(space)
    _check_budget(budget)
    for name, value in (("n_initial", n_initial), ("candidates", candidates)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    rng = np.random.default_rng(seed)
    gp = GaussianProcess(length_scale=length_scale, noise=noise, normalize_y=True)
    result = SearchResult(method="bayesian")
    seen: set[tuple[float, ...]] = set()
    points: list[np.ndarray] = []

    def key(x: np.ndarray) -> tuple[float, ...]:
        return tuple(np.round(x, 12))

    while len(result.trials) < budget:
        pool = _candidates(space, rng, 1 if len(result.trials) < n_initial else candidates)
        unit = np.array([_to_unit(space, params) for params in pool])  # (n_candidates, d)
        fresh = np.array([key(x) not in seen for x in unit])
        if not fresh.any():
            if math.prod(dim.size for dim in space.values()) <= len(seen):
                break  # every point of a discrete space has been evaluated
            continue  # a random draw repeated a point: draw again
        if len(result.trials) < n_initial:
            choice = int(np.flatnonzero(fresh)[0])
        else:
            gp.fit(np.array(points), np.array([score for _, score in result.trials]))
            mean, std = gp.predict(unit)
            ei = expected_improvement(mean, std, result.best_score, xi)
            ei[~fresh] = -np.inf
            choice = int(np.argmax(ei))
        params = pool[choice]
        result.trials.append((params, _evaluate(objective, params)))
        points.append(unit[choice])
        seen.add(key(unit[choice]))
    return result
