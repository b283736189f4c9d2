"""llmbook.scaling: fit_chinchilla recovers known parameters; the compute-optimal allocation is the
minimum of the fitted loss along 6 N D = C."""
from __future__ import annotations

import numpy as np
import pytest

from llmbook.scaling import HOFFMANN, chinchilla_loss, fit_chinchilla


def grid(n_sizes=(1e7, 1e10), n_tokens=(1e9, 1e12), points=5):
    N, D = np.meshgrid(np.logspace(*np.log10(n_sizes), points), np.logspace(*np.log10(n_tokens),
                                                                            points))
    return N.ravel(), D.ravel()


@pytest.mark.parametrize("truth", [HOFFMANN, dict(E=1.2, A=50.0, B=80.0, alpha=0.4, beta=0.35)])
def test_recovers_known_parameters_from_exact_losses(truth):
    N, D = grid() if truth is HOFFMANN else grid((2e4, 2e5), (2e5, 2e6), 3)
    fit = fit_chinchilla(N, D, chinchilla_loss(N, D, **truth))
    for name, value in truth.items():
        assert getattr(fit, name) == pytest.approx(value, rel=1e-5), name
    assert fit.objective < 1e-12


def test_recovers_exponents_from_noisy_losses():
    N, D = grid()
    noise = np.random.default_rng(0).normal(0, 0.002, N.size)
    L = chinchilla_loss(N, D, **HOFFMANN) * np.exp(noise)
    fit = fit_chinchilla(N, D, L)
    assert fit.alpha == pytest.approx(0.34, abs=0.03)
    assert fit.beta == pytest.approx(0.28, abs=0.03)
    assert fit.E == pytest.approx(1.69, abs=0.05)
    assert np.abs(fit.predict(N, D) / L - 1).max() < 0.01


def test_compute_optimal_allocation_minimises_the_loss_at_fixed_compute():
    N, D = grid()
    fit = fit_chinchilla(N, D, chinchilla_loss(N, D, **HOFFMANN))
    for C in (1e19, 1e21, 5.76e23):  # the last: Chinchilla's budget (70 B params, 1.4 T tokens)
        n_opt, d_opt = fit.compute_optimal(C)
        assert 6 * n_opt * d_opt == pytest.approx(C, rel=1e-9)
        sizes = np.logspace(np.log10(n_opt) - 2, np.log10(n_opt) + 2, 20001)
        brute = sizes[np.argmin(fit.predict(sizes, C / (6 * sizes)))]
        assert brute == pytest.approx(n_opt, rel=1e-3)
    # with alpha ≈ beta, parameters and tokens grow as about the square root of the compute
    n1, _ = fit.compute_optimal(1e20)
    n2, _ = fit.compute_optimal(1e22)
    assert np.log10(n2 / n1) / 2 == pytest.approx(0.28 / (0.34 + 0.28), rel=1e-6)


def test_bad_input_is_a_clear_error():
    N, D = grid()
    L = chinchilla_loss(N, D, **HOFFMANN)
    with pytest.raises(ValueError, match="one value per run"):
        fit_chinchilla(N, D[:-1], L)
    with pytest.raises(ValueError, match="at least 5 runs"):
        fit_chinchilla(N[:3], D[:3], L[:3])
    with pytest.raises(ValueError, match="positive finite"):
        fit_chinchilla(N, D, -L)
    with pytest.raises(ValueError, match="two model sizes"):
        fit_chinchilla(np.full_like(N, 1e8), D, L)
