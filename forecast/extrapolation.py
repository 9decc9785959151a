"""Calibration at distance: pure math for weighing trend forms and widening the link far out.

Both functions here work on a *leave-largest-out check*: the model is refitted without the training
set's largest models and made to predict them, so the training data itself shows how well each
trend form extrapolates and how far the link's extrapolation can be trusted. No held-out model that
a backtest reports on is ever used.

* :func:`stacking_weights` — Bayesian stacking (Yao, Vehtari, Simpson & Gelman 2018) of held-out
  log predictive densities: the weights ``w`` on the simplex that maximise
  ``sum_i log sum_k w_k exp(lpd[i, k])``.
* The *link discrepancy* ``delta`` (units: per-example spreads per decade of compute): far from the
  data the link's argument ``z = (threshold - s) / spread`` is uncertain beyond what the posterior
  says, so predictions add ``delta * distance * eps`` to ``z`` (``eps ~ Normal(0, 1)``, distance =
  :func:`extrapolation_distance`). :func:`link_discrepancy_mle` picks ``delta`` on a grid by the
  held-out log predictive density of the check (``lpd_by_delta``), i.e. by maximum marginal
  likelihood on the training data.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from scipy import optimize, special

DISCREPANCY_GRID = np.round(np.arange(0.0, 3.0001, 0.05), 2)
"""Candidate link discrepancies (spreads per decade of compute) searched by :func:`link_discrepancy_mle`."""


def extrapolation_distance(log10_flops: Any, log10_flops_max: Any) -> np.ndarray:
    """Decades of compute beyond the largest training model, 0 at or inside the training range.

    ``log10_flops``: targets' log10 training FLOPs; ``log10_flops_max``: the largest training
    model's log10 FLOPs (a scalar, or one per target: e.g. the largest of the target's family).
    Returns the broadcast shape.
    """
    x = np.asarray(log10_flops, dtype=float)
    x_max = np.asarray(log10_flops_max, dtype=float)
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(x_max))):
        raise ValueError("extrapolation_distance: log10 FLOPs must be finite")
    return _distance_core(x, x_max)


def discrepancy_scale(distance: Any, delta: float, token_delta: float = 0.0) -> np.ndarray:
    """Standard deviation (per-example spreads) of the link discrepancy at each target, shape (n,).

    ``distance``: (2, n), decades of compute and decades of tokens per parameter beyond the training
    range; ``delta`` / ``token_delta``: spreads per decade of each. The two parts are independent
    normal shifts, so their scales add in quadrature: ``sqrt((delta d_c)^2 + (token_delta d_t)^2)``.
    """
    d = np.asarray(distance, dtype=float)
    return np.hypot(delta * d[0], token_delta * d[1])


def _distance_core(x: np.ndarray, x_max: np.ndarray) -> np.ndarray:
    return np.maximum(x - x_max, 0.0)


def stacking_weights(lpd: Any) -> np.ndarray:
    """Stacking weights, shape (K,), summing to 1, from held-out log predictive densities.

    ``lpd``: (n_points, K) log p(y_i | form k fitted without point i), in nats. Maximises
    ``sum_i log sum_k w_k exp(lpd[i, k])`` over the simplex (softmax parameterisation, BFGS).
    """
    values = np.asarray(lpd, dtype=float)
    if values.ndim != 2 or values.shape[0] == 0 or values.shape[1] == 0:
        raise ValueError(f"lpd must have shape (n_points, n_forms) with both > 0, got {values.shape}")
    if not np.all(np.isfinite(values)):
        raise ValueError("lpd must be finite (a held-out point with zero density under every draw?)")
    return _stacking_core(values)


def _stacking_core(lpd: np.ndarray) -> np.ndarray:
    k = lpd.shape[1]
    if k == 1:
        return np.ones(1)

    def loss(u: np.ndarray) -> float:
        log_w = np.r_[u, 0.0] - special.logsumexp(np.r_[u, 0.0])
        return -float(special.logsumexp(lpd + log_w[None, :], axis=1).sum())

    best = optimize.minimize(loss, np.zeros(k - 1), method="BFGS")
    weights = special.softmax(np.r_[np.clip(best.x, -50.0, 50.0), 0.0])
    return weights / weights.sum()


def link_discrepancy_mle(lpd_by_delta: Any, grid: Any = DISCREPANCY_GRID) -> float:
    """The grid value of ``delta`` with the highest total held-out log predictive density.

    ``lpd_by_delta``: (len(grid), n_points) log p(y_i | delta) of the check's held-out points;
    ``grid``: increasing candidate deltas >= 0 (spreads per decade of compute). Ties go to the
    smaller delta, so data that cannot tell (every point inside the training range) give 0.
    """
    values = np.asarray(lpd_by_delta, dtype=float)
    candidates = np.asarray(grid, dtype=float)
    if values.ndim != 2 or values.shape[0] != candidates.size or candidates.size == 0:
        raise ValueError(f"lpd_by_delta must have shape (len(grid)={candidates.size}, n_points), got {values.shape}")
    if np.any(candidates < 0) or np.any(np.diff(candidates) <= 0):
        raise ValueError("grid must be increasing and >= 0")
    if not np.all(np.isfinite(values)):
        raise ValueError("lpd_by_delta must be finite")
    return float(candidates[int(np.argmax(values.sum(axis=1)))])
