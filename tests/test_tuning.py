"""Tests of llmbook.tuning: the Gaussian process against scikit-learn, expected improvement against
scipy's normal distribution and a Monte-Carlo estimate, and the searches' properties."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF

from llmbook import tuning
from llmbook.tuning import Choice, LogUniform, Uniform


def _branin(params: dict) -> float:
    """The negated Branin-Hoo function on [-5, 10] x [0, 15]: smooth, three maxima of -0.397887."""
    x1, x2 = params["x1"], params["x2"]
    b, c, t = 5.1 / (4 * math.pi ** 2), 5 / math.pi, 1 / (8 * math.pi)
    return -((x2 - b * x1 ** 2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10)


BRANIN = {"x1": Uniform(-5.0, 10.0), "x2": Uniform(0.0, 15.0)}


# ---------------------------------------------------------------- Gaussian process and EI


@pytest.mark.parametrize("length_scale,noise,normalize_y,d", [(0.2, 1e-6, True, 2), (0.5, 1e-3, True, 3),
                                                               (0.3, 1e-4, False, 1)])
def test_gaussian_process_equals_sklearn(length_scale, noise, normalize_y, d):
    rng = np.random.default_rng(d)
    X, X_new = rng.random((12, d)), rng.random((40, d))
    y = 3.0 * np.sin(6 * X).sum(1) + 5.0 + 0.1 * rng.normal(size=12)
    ours = tuning.GaussianProcess(length_scale, noise, normalize_y).fit(X, y)
    mean, std = ours.predict(X_new)
    sk = GaussianProcessRegressor(RBF(length_scale, "fixed"), alpha=noise, optimizer=None,
                                  normalize_y=normalize_y).fit(X, y)
    sk_mean, sk_std = sk.predict(X_new, return_std=True)
    np.testing.assert_allclose(mean, sk_mean, rtol=1e-6)
    np.testing.assert_allclose(std, sk_std, rtol=1e-6)
    if noise <= 1e-6:  # nearly noise-free: the mean interpolates the data, and is sure of it there
        train_mean, train_std = ours.predict(X)
        np.testing.assert_allclose(train_mean, y, atol=1e-3)
        assert train_std.max() < 0.01 * std.max()


def test_gaussian_process_constant_targets_and_errors():
    X = np.random.default_rng(0).random((4, 2))
    mean, std = tuning.GaussianProcess().fit(X, np.full(4, 2.5)).predict(X)
    np.testing.assert_allclose(mean, 2.5)
    with pytest.raises(RuntimeError, match="call fit"):
        tuning.GaussianProcess().predict(X)
    with pytest.raises(ValueError, match=r"fit needs X \(n, d\) and y \(n,\)"):
        tuning.GaussianProcess().fit(X, np.ones(3))
    with pytest.raises(ValueError, match="finite"):
        tuning.GaussianProcess().fit(X, np.array([1.0, np.nan, 0.0, 1.0]))
    with pytest.raises(ValueError, match="not positive definite.*raise noise"):
        tuning.GaussianProcess(noise=0.0).fit(np.vstack([X, X[:1]]), np.arange(5.0))
    with pytest.raises(ValueError, match="length_scale must be a positive number"):
        tuning.GaussianProcess(length_scale=0)
    with pytest.raises(ValueError, match=r"predict needs X \(m, d=2\)"):
        tuning.GaussianProcess().fit(X, np.arange(4.0)).predict(np.ones((3, 3)))


def test_expected_improvement_closed_form_and_monte_carlo():
    rng = np.random.default_rng(0)
    mean, std = rng.normal(size=50), rng.uniform(0.05, 2.0, size=50)
    best, xi = 0.3, 0.05
    ei = tuning.expected_improvement(mean, std, best, xi)
    z = (mean - best - xi) / std
    reference = (mean - best - xi) * norm.cdf(z) + std * norm.pdf(z)
    np.testing.assert_allclose(ei, reference, rtol=1e-10, atol=1e-14)
    # Monte Carlo: E[max(f - best - xi, 0)] with f ~ N(mean, std^2)
    samples = mean[:, None] + std[:, None] * rng.standard_normal((50, 200_000))
    mc = np.maximum(samples - best - xi, 0.0).mean(1)
    np.testing.assert_allclose(ei, mc, atol=5e-3 * std.max())
    assert (ei >= 0).all()


def test_expected_improvement_without_uncertainty_and_errors():
    ei = tuning.expected_improvement(np.array([1.0, -1.0, 0.5]), np.zeros(3), best=0.0, xi=0.1)
    np.testing.assert_allclose(ei, [0.9, 0.0, 0.4])
    # far below the best with a tiny std: no improvement expected, and no NaN
    assert tuning.expected_improvement(np.array([-50.0]), np.array([1e-3]), 0.0)[0] == 0.0
    with pytest.raises(ValueError, match="same shape"):
        tuning.expected_improvement(np.zeros(3), np.ones(2), 0.0)
    with pytest.raises(ValueError, match="std must be >= 0"):
        tuning.expected_improvement(np.zeros(2), -np.ones(2), 0.0)


# ---------------------------------------------------------------- search space


def test_space_maps_to_the_unit_cube():
    lr = LogUniform(1e-5, 1e-1)
    assert lr.to_unit(1e-5) == 0.0 and math.isclose(lr.to_unit(1e-3), 0.5)
    assert math.isclose(lr.to_unit(1e-1), 1.0)
    assert math.isclose(lr.from_unit(0.25), 1e-4)
    assert Uniform(-1, 3).to_unit(0.0) == 0.25
    rank = Choice([1, 2, 4, 8])
    assert [rank.to_unit(v) for v in (1, 2, 4, 8)] == [0.0, 1 / 3, 2 / 3, 1.0]
    assert rank.grid(2) == [1, 8] and rank.grid(4) == [1, 2, 4, 8] and rank.grid(9) == [1, 2, 4, 8]
    np.testing.assert_allclose(lr.grid(2), [10 ** -4, 10 ** -2])  # cell centres on the log scale
    samples = np.array(lr.sample(np.random.default_rng(0), 20_000))
    assert samples.min() >= 1e-5 and samples.max() <= 1e-1
    assert abs(np.mean(samples < 1e-3) - 0.5) < 0.02  # as many draws below 1e-3 as above on a log scale


def test_bad_spaces_and_budgets_raise():
    with pytest.raises(ValueError, match="low < high"):
        Uniform(1.0, 1.0)
    with pytest.raises(ValueError, match="0 < low.*use Uniform"):
        LogUniform(0.0, 1.0)
    with pytest.raises(ValueError, match="finite number"):
        Uniform(0.0, math.inf)
    with pytest.raises(ValueError, match="non-empty list"):
        Choice([])
    with pytest.raises(ValueError, match="not one of the Choice's values"):
        Choice([1, 2]).to_unit(3)
    objective = lambda p: 0.0  # noqa: E731
    for search in (tuning.grid_search, tuning.random_search, tuning.bayesian_optimization):
        with pytest.raises(ValueError, match="non-empty dict"):
            search(objective, {}, 5)
        with pytest.raises(ValueError, match="budget .* must be a positive int"):
            search(objective, BRANIN, 0)
        with pytest.raises(TypeError, match=r"write Choice\(\[1, 2\]\)"):
            search(objective, {"rank": [1, 2]}, 3)
        with pytest.raises(ValueError, match="return a finite score"):
            search(lambda p: float("nan"), BRANIN, 3)
        with pytest.raises(TypeError, match="must return a number"):
            search(lambda p: "good", BRANIN, 3)
    with pytest.raises(ValueError, match="n_initial must be a positive int"):
        tuning.bayesian_optimization(objective, BRANIN, 5, n_initial=0)
    with pytest.raises(ValueError, match="no trials"):
        tuning.SearchResult().best_score


# ---------------------------------------------------------------- searches


def test_grid_search_uses_the_budget_as_a_grid():
    calls = []
    result = tuning.grid_search(lambda p: calls.append(p) or -p["x1"] ** 2, BRANIN, budget=20)
    assert len(result.trials) == len(calls) == 20  # a 5 x 4 grid
    assert sorted({p["x1"] for p, _ in result.trials}) == [-3.5, -0.5, 2.5, 5.5, 8.5]
    assert len({p["x2"] for p, _ in result.trials}) == 4
    assert result.best_params["x1"] == -0.5 and result.best_score == -0.25
    assert len(tuning.grid_search(_branin, BRANIN, budget=10).trials) == 9  # 3 x 3 fits, 4 x 3 does not
    # a discrete dimension gives at most its values; the budget goes to the other one
    space = {"rank": Choice([1, 2]), "lr": LogUniform(1e-4, 1e-2)}
    result = tuning.grid_search(lambda p: 0.0, space, budget=12)
    assert len(result.trials) == 12 and {p["rank"] for p, _ in result.trials} == {1, 2}
    # a small discrete space is exhausted before the budget
    assert len(tuning.grid_search(lambda p: 0.0, {"rank": Choice([1, 2, 4])}, budget=10).trials) == 3


def test_search_result_best_so_far():
    result = tuning.SearchResult([({"a": 1}, 0.5), ({"a": 2}, 0.2), ({"a": 3}, 0.9), ({"a": 4}, 0.9)])
    assert result.best_so_far() == [0.5, 0.5, 0.9, 0.9]
    assert result.best_params == {"a": 3} and result.best_score == 0.9


def test_random_search_and_bayesian_optimization_are_reproducible():
    for search in (tuning.random_search, tuning.bayesian_optimization):
        a, b = search(_branin, BRANIN, 8, seed=3), search(_branin, BRANIN, 8, seed=3)
        assert a.trials == b.trials and len(a.trials) == 8
        assert search(_branin, BRANIN, 8, seed=4).trials != a.trials
        for params, score in a.trials:
            assert -5 <= params["x1"] <= 10 and 0 <= params["x2"] <= 15 and score == _branin(params)
        assert a.best_so_far() == sorted(a.best_so_far())


def test_bayesian_optimization_never_repeats_a_point():
    space = {"rank": Choice([1, 2, 4, 8]), "alpha": Choice([8, 16, 32])}  # 12 points
    result = tuning.bayesian_optimization(lambda p: -abs(p["rank"] - 4) - abs(p["alpha"] - 16), space,
                                          budget=20, n_initial=2, candidates=64)
    seen = [tuple(p.values()) for p, _ in result.trials]
    assert len(seen) == len(set(seen)) == 12  # stops once the 12 points are evaluated
    assert result.best_params == {"rank": 4, "alpha": 16}


def test_bayesian_optimization_beats_random_search_on_branin():
    """A real property: the GP model's guesses find better points than chance at the same budget (the
    mean best score over 10 seeds). Could fail if EI or the GP were wrong (e.g. a sign error makes BO
    seek the worst points)."""
    bo = [tuning.bayesian_optimization(_branin, BRANIN, budget=20, seed=s, candidates=1024).best_score
          for s in range(10)]
    rs = [tuning.random_search(_branin, BRANIN, budget=20, seed=s).best_score for s in range(10)]
    assert np.mean(bo) > np.mean(rs) + 0.5, (bo, rs)
    assert max(bo) > -0.5  # near the maximum, -0.398


def test_bayesian_optimization_on_a_log_scale_and_a_choice():
    """The notebook's kind of space: the best learning rate near 3e-3 (on a log scale) and rank 8."""
    def objective(p):
        return -(math.log10(p["lr"]) - math.log10(3e-3)) ** 2 - 0.1 * (math.log2(p["rank"]) - 3) ** 2

    space = {"lr": LogUniform(1e-5, 1e-1), "rank": Choice([1, 2, 4, 8, 16])}
    bo = [tuning.bayesian_optimization(objective, space, 12, seed=s, candidates=512).best_score
          for s in range(5)]
    rs = [tuning.random_search(objective, space, 12, seed=s).best_score for s in range(5)]
    assert np.mean(bo) > np.mean(rs)
    assert np.mean(bo) > -0.05
