"""Scaling laws: fit Chinchilla's parametric loss ``L(N, D)`` to runs and read off the
compute-optimal model size.

Hoffmann et al. {cite}`hoffmann2022training` (their "approach 3") model the final loss of a model of
``N`` parameters trained on ``D`` tokens as

    L(N, D) = E + A / N**alpha + B / D**beta

``E`` is the loss no model reaches (the entropy of the text), ``A / N**alpha`` what a finite model
loses, ``B / D**beta`` what finite data loses. :func:`fit_chinchilla` fits the five numbers as they
did: it writes ``A = exp(a)``, ``B = exp(b)``, ``E = exp(e)``, so that
``log L = logsumexp(a - alpha log N, b - beta log D, e)``, and minimises the **Huber loss**
(``delta = 1e-3``) between that and the measured ``log L`` with L-BFGS, from the best points of a
grid of starting values (the loss surface has several local minima), within wide bounds
(:data:`BOUNDS`: ``0.001 <= alpha, beta <= 4``, ...) that only matter for runs that follow no
law. Working on log values weighs every run alike, whatever its loss; the Huber loss keeps one bad
run from dragging the fit.

With the training compute ``C ≈ 6 N D`` FLOPs fixed, the loss is lowest at

    N_opt(C) = G (C / 6)**(beta / (alpha + beta)),
    D_opt(C) = (C / 6)**(alpha / (alpha + beta)) / G,
    G = (alpha A / (beta B))**(1 / (alpha + beta))

(:meth:`ChinchillaFit.compute_optimal`): model and data grow together, each as a power of the
compute. Kaplan et al. {cite}`kaplan2020scaling` fitted ``alpha ≈ 0.076`` and ``beta ≈ 0.095`` in
their own form ``L(N) = (N_c / N)**alpha_N``, ``L(D) = (D_c / D)**alpha_D``; Hoffmann et al.
``alpha = 0.34``, ``beta = 0.28``, ``E = 1.69`` nats per token (:data:`HOFFMANN`).

>>> fit = fit_chinchilla(N, D, L)        # arrays of the runs' sizes, tokens and final losses
>>> fit.alpha, fit.beta, fit.predict(4 * N.max(), D.max())
>>> n_opt, d_opt = fit.compute_optimal(1e18)
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

__all__ = ["ChinchillaFit", "fit_chinchilla", "chinchilla_loss", "HOFFMANN", "KAPLAN"]

# Hoffmann et al. (2022), approach 3 (their eq. 10; losses in nats per token of MassiveText).
HOFFMANN = dict(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)
# Kaplan et al. (2020): L(N) = (N_c / N)**alpha_N, L(D) = (D_c / D)**alpha_D (their eqs. 1.1-1.2).
KAPLAN = dict(alpha_N=0.076, N_c=8.8e13, alpha_D=0.095, D_c=5.4e13)

HUBER_DELTA = 1e-3
# Bounds of (a, b, e, alpha, beta) = (log A, log B, log E, alpha, beta) in L-BFGS-B: far outside any
# published fit, they only keep a fit to runs that do not follow the law (e.g. a few noisy steps)
# from running off to infinite values.
BOUNDS = [(-10.0, 60.0), (-10.0, 60.0), (-10.0, 5.0), (1e-3, 4.0), (1e-3, 4.0)]


def chinchilla_loss(N, D, E: float, A: float, B: float, alpha: float, beta: float) -> np.ndarray:
    """``E + A / N**alpha + B / D**beta`` for arrays (or numbers) ``N`` and ``D`` (broadcast)."""
    N, D = np.asarray(N, dtype=float), np.asarray(D, dtype=float)
    return E + A / N ** alpha + B / D ** beta


@dataclass(frozen=True)
class ChinchillaFit:
    """A fitted ``L(N, D) = E + A / N**alpha + B / D**beta``; ``objective`` is the summed Huber loss
    on log values at the fit (0: the runs lie on the curve)."""

    E: float
    A: float
    B: float
    alpha: float
    beta: float
    objective: float

    def predict(self, N, D) -> np.ndarray:
        """The predicted loss of ``N`` parameters trained on ``D`` tokens (arrays broadcast)."""
        return chinchilla_loss(N, D, self.E, self.A, self.B, self.alpha, self.beta)

    def compute_optimal(self, C) -> tuple[np.ndarray, np.ndarray]:
        """``(N_opt, D_opt)``: the size and tokens of lowest predicted loss with ``6 N D = C``."""
        C = np.asarray(C, dtype=float)
        a, b = self.alpha, self.beta
        G = (a * self.A / (b * self.B)) ** (1 / (a + b))
        return G * (C / 6) ** (b / (a + b)), (C / 6) ** (a / (a + b)) / G

    def params(self) -> dict[str, float]:
        return dict(E=self.E, A=self.A, B=self.B, alpha=self.alpha, beta=self.beta)


def _check(name: str, values) -> np.ndarray:
    array = np.asarray(values, dtype=float).ravel()
    if not np.all(np.isfinite(array)) or np.any(array <= 0):
        raise ValueError(f"{name} must be positive finite numbers (parameters, tokens, losses), "
                         f"got {np.asarray(values).ravel()[:8]}")
    return array


def _log_predictions(theta: np.ndarray, log_N: np.ndarray, log_D: np.ndarray) -> np.ndarray:
    """log L for parameter rows ``theta = (a, b, e, alpha, beta)`` ``(..., 5)``: ``(..., runs)``."""
    a, b, e, alpha, beta = (theta[..., i, None] for i in range(5))
    terms = np.stack(np.broadcast_arrays(a - alpha * log_N, b - beta * log_D, e))
    return np.logaddexp.reduce(terms, axis=0)


def _huber(residual: np.ndarray, delta: float = HUBER_DELTA) -> np.ndarray:
    small = np.abs(residual) <= delta
    return np.where(small, 0.5 * residual ** 2, delta * (np.abs(residual) - 0.5 * delta))


def fit_chinchilla(N, D, L, *, n_starts: int = 8) -> ChinchillaFit:
    """Fit ``L = E + A / N**alpha + B / D**beta`` to runs (Huber loss on ``log L``, L-BFGS).

    Args:
        N: parameters of each run (as you count them; Hoffmann et al. count all of them).
        D: training tokens of each run.
        L: final (validation) loss of each run, in nats per token.
        n_starts: how many of the best grid points L-BFGS starts from.

    Returns:
        :class:`ChinchillaFit` with the fitted ``E, A, B, alpha, beta``.
    """
    from scipy.optimize import minimize

    N, D, L = _check("N", N), _check("D", D), _check("L", L)
    if not len(N) == len(D) == len(L):
        raise ValueError(f"N, D and L must have one value per run, got {len(N)}, {len(D)} and "
                         f"{len(L)} values")
    if len(L) < 5:
        raise ValueError(f"fitting five parameters needs at least 5 runs, got {len(L)}: add model "
                         f"sizes or token budgets")
    if len(np.unique(N)) < 2 or len(np.unique(D)) < 2:
        raise ValueError("the runs need at least two model sizes and two token budgets: with one, "
                         "alpha (or beta) cannot be told apart from E")
    if isinstance(n_starts, bool) or not isinstance(n_starts, int) or n_starts < 1:
        raise ValueError(f"n_starts must be a positive int, got {n_starts!r}")
    log_N, log_D, log_L = np.log(N), np.log(D), np.log(L)

    def objective(theta: np.ndarray) -> np.ndarray:
        return _huber(_log_predictions(theta, log_N, log_D) - log_L).sum(axis=-1)

    def objective_and_gradient(theta: np.ndarray) -> tuple[float, np.ndarray]:
        a, b, e, alpha, beta = theta
        terms = np.stack([a - alpha * log_N, b - beta * log_D, np.full_like(log_N, e)])
        log_pred = np.logaddexp.reduce(terms, axis=0)
        share = np.exp(terms - log_pred)  # d log_pred / d (a, b, e): each term's share of L
        residual = log_pred - log_L
        slope = np.clip(residual, -HUBER_DELTA, HUBER_DELTA)  # the Huber loss's derivative
        gradient = np.array([share[0], share[1], share[2], -share[0] * log_N,
                             -share[1] * log_D]) @ slope
        return float(_huber(residual).sum()), gradient

    # Hoffmann et al.'s grid of starting values, thinned; the best of it seeds L-BFGS.
    grid = np.array(list(itertools.product(
        np.arange(0, 26, 5.0), np.arange(0, 26, 5.0), np.arange(-1.0, 1.01, 0.5),
        np.arange(0.0, 2.01, 0.5), np.arange(0.0, 2.01, 0.5))))
    starts = grid[np.argsort(objective(grid))[:n_starts]]
    starts = np.clip(starts, *np.array(BOUNDS).T)  # the grid's exponents start at 0
    best = None
    for start in starts:
        result = minimize(objective_and_gradient, start, jac=True, method="L-BFGS-B", bounds=BOUNDS,
                          options=dict(maxiter=2000, ftol=1e-15, gtol=1e-12))
        if best is None or result.fun < best.fun:
            best = result
    a, b, e, alpha, beta = best.x
    return ChinchillaFit(E=float(np.exp(e)), A=float(np.exp(a)), B=float(np.exp(b)),
                         alpha=float(alpha), beta=float(beta), objective=float(best.fun))
