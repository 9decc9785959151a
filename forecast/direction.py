"""Direction and reversal of a smooth trend: is the smooth metric still improving, and may it turn?

Pure numpy. For one task's training points (``x``: log10 training FLOPs; ``y``: the standardised
smooth metric, oriented so lower is better) two Gaussian linear models are stacked by their
marginal likelihoods (Bayesian model averaging with equal prior odds):

* *straight*: ``y = a + b (x - xbar)``;
* *bent* (a broken line): ``y = a + b (x - xbar) + c max(0, x - tau)``, ``tau`` uniform over the
  training points that leave :data:`MIN_POINTS_PER_SIDE` points on each side; after the bend the
  slope is ``b + c``, free to change sign.

Coefficients have independent Normal(0, :data:`COEF_PRIOR_SD`) priors (so the marginal likelihood is
closed form); the noise sd is averaged over a log grid (:data:`NOISE_GRID`) with a uniform prior.

Reported (:func:`trend_direction`): ``p_improving``, the posterior probability that the slope at a
given compute (default: the largest training compute) is negative (lower is better, so still
improving); ``p_reversal``, the posterior probability that the trend bends within the training
range from improving to worsening (bent model, ``b < 0`` and ``b + c > 0``, bend below the given
compute); ``bent_weight``, the posterior weight of the bent model. A flag is raised at
``p_reversal >= REVERSAL_FLAG``.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

COEF_PRIOR_SD = 3.0
"""Prior sd of the intercept, slope and slope change (standardised smooth units, per decade)."""
NOISE_GRID = np.exp(np.linspace(math.log(0.01), math.log(1.0), 25))
"""Noise sds (standardised units) averaged over with equal prior weight."""
MIN_POINTS_PER_SIDE = 3
"""A bend needs this many distinct training computes on each side."""
REVERSAL_FLAG = 0.5
"""p_reversal at or above this raises the reversal flag."""
DRAWS = 4000


@dataclass
class Direction:
    """The direction summary of one task (probabilities in [0, 1]; NaN when too few points)."""

    p_improving: float
    p_reversal: float
    bent_weight: float

    @property
    def reversal_flag(self) -> bool:
        return bool(self.p_reversal >= REVERSAL_FLAG)

    def to_dict(self) -> dict:
        return asdict(self) | {"reversal_flag": self.reversal_flag}


def _log_marginal_and_posterior(design: np.ndarray, y: np.ndarray, noise: float) -> tuple[float, np.ndarray, np.ndarray]:
    """(log marginal likelihood, posterior mean, posterior covariance) of a Gaussian linear model with
    coefficient prior Normal(0, COEF_PRIOR_SD^2 I) and noise sd ``noise``."""
    n, p = design.shape
    prior_prec = np.eye(p) / COEF_PRIOR_SD**2
    post_prec = prior_prec + design.T @ design / noise**2
    cov = np.linalg.inv(post_prec)
    mean = cov @ design.T @ y / noise**2
    # y ~ N(0, noise^2 I + S X X^T); by the matrix determinant lemma and Woodbury:
    _, logdet_post = np.linalg.slogdet(post_prec)
    logdet = 2 * n * math.log(noise) + logdet_post + p * math.log(COEF_PRIOR_SD**2)
    quad = y @ y / noise**2 - mean @ post_prec @ mean
    return -0.5 * (n * math.log(2 * math.pi) + logdet + quad), mean, cov


def _bends(x: np.ndarray) -> np.ndarray:
    """Candidate bend locations: distinct x values with MIN_POINTS_PER_SIDE distinct values each side."""
    distinct = np.unique(x)
    if len(distinct) < 2 * MIN_POINTS_PER_SIDE:
        return np.array([])
    return distinct[MIN_POINTS_PER_SIDE - 1:len(distinct) - MIN_POINTS_PER_SIDE]


def trend_direction(x: np.ndarray, y: np.ndarray, at: float | None = None, seed: int = 0) -> Direction:
    """Direction summary of one smooth series (see the module docstring). ``x``: log10 FLOPs (n,);
    ``y``: standardised smooth metric, lower is better (n,); ``at``: log10 FLOPs where the slope is
    judged (default: the largest x). NaNs when fewer than 3 distinct x."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if len(np.unique(x)) < 3:
        return Direction(float("nan"), float("nan"), float("nan"))
    at = float(x.max()) if at is None else float(at)
    xbar = float(x.mean())
    base = np.column_stack([np.ones_like(x), x - xbar])
    # components: (model, tau, noise) -> log evidence (with its prior), posterior mean and covariance
    components = []
    log_prior_straight = math.log(0.5) - math.log(len(NOISE_GRID))
    for noise in NOISE_GRID:
        lml, mean, cov = _log_marginal_and_posterior(base, y, noise)
        components.append((lml + log_prior_straight, None, mean, cov))
    bends = _bends(x)
    for tau in bends:
        design = np.column_stack([base, np.maximum(0.0, x - tau)])
        log_prior = math.log(0.5) - math.log(len(bends)) - math.log(len(NOISE_GRID))
        for noise in NOISE_GRID:
            lml, mean, cov = _log_marginal_and_posterior(design, y, noise)
            components.append((lml + log_prior, float(tau), mean, cov))
    log_w = np.array([c[0] for c in components])
    weights = np.exp(log_w - log_w.max())
    weights /= weights.sum()
    bent_weight = float(sum(w for w, c in zip(weights, components) if c[1] is not None))
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(DRAWS, weights)
    improving = reversal = 0
    for n_draws, (_, tau, mean, cov) in zip(counts, components):
        if n_draws == 0:
            continue
        beta = rng.multivariate_normal(mean, cov, size=n_draws)
        slope = beta[:, 1]
        if tau is None:
            improving += int(np.sum(slope < 0))
            continue
        late = slope + beta[:, 2]
        slope_at = late if at > tau else slope
        improving += int(np.sum(slope_at < 0))
        if tau < at:
            reversal += int(np.sum((slope < 0) & (late > 0)))
    return Direction(p_improving=improving / DRAWS, p_reversal=reversal / DRAWS, bent_weight=bent_weight)
