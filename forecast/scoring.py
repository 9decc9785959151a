"""Proper scoring rules and calibration summaries: pure, vectorised numpy functions.

Conventions (all functions):
- Probabilities are of the event "outcome = 1" for binary questions, in (0, 1); outcomes are 0/1.
- `log_score_*` are in nats and *higher is better* (log of the probability given to what happened).
- `brier_score` is in probability^2, lower is better. `crps_*` are in the unit of the observations,
  lower is better.
- Numeric forecasts are represented as *piecewise-linear CDFs*: knots `x` (n, K), nondecreasing, and
  CDF values `f` (n, K), nondecreasing in [0, 1]; the CDF is 0 below x[:, 0] and 1 from x[:, -1] on
  (so f[:, 0] > 0 or f[:, -1] < 1 mean point masses at the bounds). Rows with fewer knots are padded
  by repeating their last knot (zero-width segments contribute nothing).

Each public function validates its inputs (shapes, finiteness, ranges) and raises a plain
`ValueError` naming the argument, then calls a small `_core` function doing only the math.
scoringrules supplies CRPS for ensembles and quantile sets; the rest is hand-written here and tested
against hand-computed values in tests/test_scoring.py.
"""
from __future__ import annotations

from typing import Any

import numpy as np

ArrayLike = Any


def _scoringrules() -> Any:
    """scoringrules, imported on first use: its import JIT-compiles numba kernels, which
    the REST service (it scores with the hand-written piecewise-linear functions) need not pay at
    start-up."""
    import scoringrules

    return scoringrules


# --- validation helpers ------------------------------------------------------------------------
def _finite(name: str, values: ArrayLike, ndim: int | tuple[int, ...] | None = None) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else ndim
        if array.ndim not in allowed:
            raise ValueError(f"{name} must have {' or '.join(map(str, allowed))} dimension(s), got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite (no NaN or infinity)")
    return array


def _probabilities(name: str, values: ArrayLike, open_interval: bool = False) -> np.ndarray:
    array = _finite(name, values)
    if open_interval and np.any((array <= 0) | (array >= 1)):
        raise ValueError(f"{name} must lie strictly between 0 and 1")
    if np.any((array < 0) | (array > 1)):
        raise ValueError(f"{name} must lie in [0, 1]")
    return array


def _binary_outcomes(values: ArrayLike, shape: tuple[int, ...]) -> np.ndarray:
    array = _finite("outcomes", values)
    if array.shape != shape:
        raise ValueError(f"outcomes must have shape {shape}, got {array.shape}")
    if np.any((array != 0) & (array != 1)):
        raise ValueError("outcomes must be 0 or 1")
    return array


# --- binary forecasts --------------------------------------------------------------------------
def _brier_core(p: np.ndarray, o: np.ndarray) -> np.ndarray:
    return (p - o) ** 2


def brier_score(probabilities: ArrayLike, outcomes: ArrayLike) -> np.ndarray:
    """Brier score (p - o)^2 per forecast, in probability^2 (0 best, 1 worst). Shapes (n,) -> (n,)."""
    p = _probabilities("probabilities", probabilities)
    return _brier_core(p, _binary_outcomes(outcomes, p.shape))


def _log_score_binary_core(p: np.ndarray, o: np.ndarray) -> np.ndarray:
    return np.where(o == 1, np.log(p), np.log1p(-p))


def log_score_binary(probabilities: ArrayLike, outcomes: ArrayLike) -> np.ndarray:
    """Log score log(p) if the event happened else log(1 - p), in nats, higher is better (0 best).

    Probabilities must be strictly inside (0, 1) (the service enforces [0.001, 0.999])."""
    p = _probabilities("probabilities", probabilities, open_interval=True)
    return _log_score_binary_core(p, _binary_outcomes(outcomes, p.shape))


# --- ensembles and quantile sets (scoringrules) -------------------------------------------------
def crps_ensemble(observations: ArrayLike, samples: ArrayLike) -> np.ndarray:
    """CRPS of an ensemble / posterior sample per observation, in observation units (lower is better).

    observations: (n,) ; samples: (n, draws) (or (draws,) with a scalar observation -> shape ()).
    Uses scoringrules' `crps_ensemble` with the unbiased "fair" estimator off (the default "qd"
    estimator of the sample's empirical CDF)."""
    y = _finite("observations", observations, (0, 1))
    x = _finite("samples", samples, (1, 2))
    if x.ndim != y.ndim + 1 or x.shape[:-1] != y.shape:
        raise ValueError(f"samples must have shape {y.shape + ('draws',)}, got {x.shape}")
    if x.shape[-1] < 1:
        raise ValueError("samples must contain at least one draw")
    return np.asarray(_scoringrules().crps_ensemble(y, x, m_axis=-1))


def crps_quantiles(observation: ArrayLike, levels: ArrayLike, values: ArrayLike) -> np.ndarray:
    """Quantile-based CRPS approximation (mean pinball loss * 2) via scoringrules' `crps_quantile`.

    observation: (n,) ; levels: (k,) in (0, 1), strictly increasing ; values: (n, k) nondecreasing.
    Units: those of the observation. Note: with few quantiles this is a coarse approximation; the
    service scores numeric questions with `crps_piecewise_linear` instead."""
    y = _finite("observation", observation, (0, 1))
    alpha = _probabilities("levels", levels, open_interval=True)
    q = _finite("values", values, (1, 2))
    if alpha.ndim != 1 or np.any(np.diff(alpha) <= 0):
        raise ValueError("levels must be a strictly increasing 1-d array")
    if q.shape != y.shape + alpha.shape:
        raise ValueError(f"values must have shape {y.shape + alpha.shape}, got {q.shape}")
    if np.any(np.diff(q, axis=-1) < 0):
        raise ValueError("values must be nondecreasing along the quantile axis")
    return np.asarray(_scoringrules().crps_quantile(y, q, alpha, m_axis=-1))


def interval_coverage(observations: ArrayLike, lower: ArrayLike, upper: ArrayLike) -> np.ndarray:
    """Whether each observation lies inside its closed interval [lower, upper]: bool array (n,)."""
    y = _finite("observations", observations)
    lo = _finite("lower", lower)
    hi = _finite("upper", upper)
    if not (y.shape == lo.shape == hi.shape):
        raise ValueError("observations, lower and upper must have the same shape")
    if np.any(lo > hi):
        raise ValueError("lower must not exceed upper")
    return (lo <= y) & (y <= hi)


# --- numeric forecasts as piecewise-linear CDFs -------------------------------------------------
def grid_edges(lower: float, upper: float, scale: str = "linear", n_points: int = 21) -> np.ndarray:
    """The fixed grid of a numeric question: `n_points` edges from lower to upper (inclusive), evenly
    spaced in the question's scale (geometric for "log"). Its `n_points - 1` buckets are the
    partition used for the bucket log score (and by markets)."""
    if not (np.isfinite(lower) and np.isfinite(upper) and lower < upper):
        raise ValueError("bounds must be finite with lower < upper")
    if scale == "log":
        if lower <= 0:
            raise ValueError("a log-scale question needs lower > 0")
        return np.geomspace(lower, upper, n_points)
    if scale != "linear":
        raise ValueError("scale must be 'linear' or 'log'")
    return np.linspace(lower, upper, n_points)


def to_scale(values: ArrayLike, scale: str) -> np.ndarray:
    """Values in the scale scores are computed in: identity for "linear", log10 for "log"."""
    array = np.asarray(values, dtype=float)
    return np.log10(array) if scale == "log" else array


def cdf_knots_from_quantiles(levels: ArrayLike, values: ArrayLike, lower: float, upper: float) -> tuple[np.ndarray, np.ndarray]:
    """Piecewise-linear CDF knots through (lower, 0), (values_j, levels_j), (upper, 1): shapes (k + 2,)."""
    alpha = _probabilities("levels", levels, open_interval=True)
    q = _finite("values", values, 1)
    if q.shape != alpha.shape:
        raise ValueError("levels and values must have the same length")
    if np.any(np.diff(alpha) <= 0) or np.any(np.diff(q) <= 0):
        raise ValueError("levels and values must be strictly increasing")
    if q[0] < lower or q[-1] > upper:
        raise ValueError("quantile values must lie inside the bounds")
    return np.concatenate([[lower], q, [upper]]), np.concatenate([[0.0], alpha, [1.0]])


def cdf_knots_from_quantile_sets(
    levels: ArrayLike, values: ArrayLike, lower: ArrayLike, upper: ArrayLike
) -> tuple[np.ndarray, np.ndarray]:
    """`cdf_knots_from_quantiles` for n forecasts with the same number k of quantiles at once.

    levels: (n, k) or (k,) shared ; values: (n, k) ; lower, upper: (n,) or scalars. Returns knots
    x, F of shape (n, k + 2): (lower, 0), (values_j, levels_j), (upper, 1) per row, with the same
    checks (and messages) as the one-row function, applied to every row."""
    alpha = _probabilities("levels", levels, open_interval=True)
    q = _finite("values", values, 2)
    n, k = q.shape
    if alpha.shape == (k,):
        alpha = np.broadcast_to(alpha, (n, k))
    lo = np.broadcast_to(_finite("lower", lower, (0, 1)), (n,))
    hi = np.broadcast_to(_finite("upper", upper, (0, 1)), (n,))
    if alpha.shape != q.shape:
        raise ValueError("levels and values must have the same length")
    if np.any(np.diff(alpha, axis=1) <= 0) or np.any(np.diff(q, axis=1) <= 0):
        raise ValueError("levels and values must be strictly increasing")
    if k and (np.any(q[:, 0] < lo) or np.any(q[:, -1] > hi)):
        raise ValueError("quantile values must lie inside the bounds")
    x = np.empty((n, k + 2))
    f = np.empty((n, k + 2))
    x[:, 0], x[:, 1:-1], x[:, -1] = lo, q, hi
    f[:, 0], f[:, 1:-1], f[:, -1] = 0.0, alpha, 1.0
    return x, f


def pad_knot_blocks(blocks: list[tuple[np.ndarray, np.ndarray, np.ndarray]], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Assemble blocks of rows (row indices (m,), x (m, K_b), F (m, K_b)) into (n, max K_b) arrays,
    repeating each row's last knot as `pad_knots` does. Every row index 0..n-1 must be covered once."""
    width = max((x.shape[1] for _, x, _ in blocks), default=2)
    xs = np.empty((n, width))
    fs = np.empty((n, width))
    covered = np.zeros(n, dtype=int)
    for rows, x, f in blocks:
        k = x.shape[1]
        xs[rows, :k], xs[rows, k:] = x, x[:, -1:]
        fs[rows, :k], fs[rows, k:] = f, f[:, -1:]
        np.add.at(covered, rows, 1)
    if np.any(covered != 1):
        raise ValueError("blocks must cover every row exactly once")
    return xs, fs


def pad_knots(rows: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Stack per-forecast knots of different lengths into (n, K) arrays, repeating each last knot."""
    width = max(len(x) for x, _ in rows)
    xs = np.empty((len(rows), width))
    fs = np.empty((len(rows), width))
    for i, (x, f) in enumerate(rows):
        xs[i, : len(x)], xs[i, len(x):] = x, x[-1]
        fs[i, : len(f)], fs[i, len(f):] = f, f[-1]
    return xs, fs


def _validate_knots(y: ArrayLike, x: ArrayLike, f: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    yy = _finite("observations", y, 1)
    xx = _finite("knots_x", x, 2)
    ff = _probabilities("knots_f", f)
    if xx.shape != ff.shape or xx.shape[0] != yy.shape[0] or xx.shape[1] < 2:
        raise ValueError(f"knots must have shape (n, K>=2) matching observations (n,), got {xx.shape} and {ff.shape}")
    if np.any(np.diff(xx, axis=1) < 0) or np.any(np.diff(ff, axis=1) < 0):
        raise ValueError("knots_x and knots_f must be nondecreasing along each row")
    return yy, xx, ff


def _cdf_at_core(x: np.ndarray, f: np.ndarray, z: np.ndarray) -> np.ndarray:
    """F(z) per row (right-continuous): 0 below x[:, 0], 1 from x[:, -1] on."""
    k = np.clip((x <= z[:, None]).sum(axis=1), 1, x.shape[1] - 1)
    rows = np.arange(x.shape[0])
    a, b, u, v = x[rows, k - 1], x[rows, k], f[rows, k - 1], f[rows, k]
    width = b - a
    safe = np.where(width > 0, width, 1.0)
    inside = np.where(width > 0, u + (v - u) * np.clip((z - a) / safe, 0.0, 1.0), v)
    return np.where(z < x[:, 0], 0.0, np.where(z >= x[:, -1], 1.0, inside))


def pit_piecewise_linear(observations: ArrayLike, knots_x: ArrayLike, knots_f: ArrayLike) -> np.ndarray:
    """Probability integral transform F(y) per forecast, in [0, 1] (observations clamped to the knots)."""
    y, x, f = _validate_knots(observations, knots_x, knots_f)
    clamped = np.clip(y, x[:, 0], x[:, -1])
    return np.clip(_cdf_at_core(x, f, clamped), 0.0, 1.0)


def _crps_piecewise_core(y: np.ndarray, x: np.ndarray, f: np.ndarray) -> np.ndarray:
    y = np.clip(y, x[:, 0], x[:, -1])
    a, b, u, v = x[:, :-1], x[:, 1:], f[:, :-1], f[:, 1:]
    width = b - a
    integral_f2 = np.sum(width * (u * u + u * v + v * v) / 3.0, axis=1)
    integral_f = np.sum(width * (u + v) / 2.0, axis=1)
    part = np.clip(y[:, None], a, b) - a  # length of each segment lying below y
    f_end = u + (v - u) * np.divide(part, width, out=np.zeros_like(part), where=width > 0)
    integral_f_below_y = np.sum(part * (u + f_end) / 2.0, axis=1)
    return integral_f2 - 2.0 * (integral_f - integral_f_below_y) + (x[:, -1] - y)


def crps_piecewise_linear(observations: ArrayLike, knots_x: ArrayLike, knots_f: ArrayLike) -> np.ndarray:
    """Exact CRPS = integral of (F(t) - 1{t >= y})^2 dt for piecewise-linear CDFs, in x units.

    Closed form per segment [a, b] with F linear from u to v: integral of F^2 = (b-a)(u^2+uv+v^2)/3,
    so CRPS = int F^2 - 2 int_y^{x_K} F + (x_K - y) with y clamped to [x_1, x_K]. Shapes: (n,),
    (n, K), (n, K) -> (n,)."""
    y, x, f = _validate_knots(observations, knots_x, knots_f)
    return _crps_piecewise_core(y, x, f)


def _bucket_probabilities_core(x: np.ndarray, f: np.ndarray, inner_edges: np.ndarray) -> np.ndarray:
    cdf = np.stack([_cdf_at_core(x, f, inner_edges[:, j]) for j in range(inner_edges.shape[1])], axis=1)
    n = x.shape[0]
    full = np.concatenate([np.zeros((n, 1)), cdf, np.ones((n, 1))], axis=1)
    return np.clip(np.diff(full, axis=1), 0.0, 1.0)


def bucket_probabilities(knots_x: ArrayLike, knots_f: ArrayLike, edges: ArrayLike) -> np.ndarray:
    """Probability of each bucket [e_j, e_{j+1}) of the question grid, (n, B) for edges (n, B+1).

    The first bucket also holds the mass below e_0, the last the mass at/above e_B, so rows sum to 1."""
    x = _finite("knots_x", knots_x, 2)
    f = _probabilities("knots_f", knots_f)
    e = _finite("edges", edges, 2)
    if e.shape[0] != x.shape[0] or e.shape[1] < 2 or np.any(np.diff(e, axis=1) <= 0):
        raise ValueError("edges must be (n, B+1) strictly increasing rows")
    return _bucket_probabilities_core(x, f, e[:, 1:-1])


def log_score_bucket(
    observations: ArrayLike, knots_x: ArrayLike, knots_f: ArrayLike, edges: ArrayLike, floor: float = 1e-4
) -> np.ndarray:
    """Log of the probability the forecast gave to the grid bucket containing the observation, in
    nats, higher is better. Observations outside the grid fall in the first/last bucket; bucket
    probabilities are floored at `floor` so a single miss cannot give minus infinity."""
    y, x, f = _validate_knots(observations, knots_x, knots_f)
    e = _finite("edges", edges, 2)
    probs = bucket_probabilities(x, f, e)
    index = np.clip((e[:, 1:-1] <= y[:, None]).sum(axis=1), 0, probs.shape[1] - 1)
    return np.log(np.maximum(probs[np.arange(len(y)), index], floor))


# --- calibration -------------------------------------------------------------------------------
def _bin_index(p: np.ndarray, n_bins: int) -> np.ndarray:
    return np.minimum((p * n_bins).astype(int), n_bins - 1)


def reliability_bins(probabilities: ArrayLike, outcomes: ArrayLike, n_bins: int = 10) -> dict[str, np.ndarray]:
    """Reliability diagram: equal-width bins [k/n, (k+1)/n) (last bin closed) with, per bin, the
    count, mean forecast probability and observed frequency (NaN for empty bins)."""
    p = _probabilities("probabilities", probabilities)
    o = _binary_outcomes(outcomes, p.shape)
    if n_bins < 1:
        raise ValueError("n_bins must be >= 1")
    index = _bin_index(p, n_bins)
    count = np.bincount(index, minlength=n_bins).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_forecast = np.bincount(index, weights=p, minlength=n_bins) / count
        observed = np.bincount(index, weights=o, minlength=n_bins) / count
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    return {"lower": edges[:-1], "upper": edges[1:], "count": count.astype(int),
            "mean_forecast": mean_forecast, "observed_frequency": observed}


def expected_calibration_error(probabilities: ArrayLike, outcomes: ArrayLike, n_bins: int = 10) -> float:
    """ECE = sum_k (n_k / N) |observed_k - mean_forecast_k| over non-empty equal-width bins."""
    bins = reliability_bins(probabilities, outcomes, n_bins)
    total = bins["count"].sum()
    if total == 0:
        raise ValueError("no forecasts to assess")
    used = bins["count"] > 0
    gaps = np.abs(bins["observed_frequency"][used] - bins["mean_forecast"][used])
    return float(np.sum(bins["count"][used] * gaps) / total)


def brier_decomposition(probabilities: ArrayLike, outcomes: ArrayLike, n_bins: int = 10) -> dict[str, float]:
    """Murphy's decomposition Brier = reliability - resolution + uncertainty over equal-width bins:
    reliability = sum n_k (f_k - o_k)^2 / N, resolution = sum n_k (o_k - o)^2 / N, uncertainty =
    o (1 - o). Exact when forecasts within a bin are equal; otherwise the identity holds up to the
    within-bin variance (reported as `brier` beside the parts)."""
    p = _probabilities("probabilities", probabilities)
    o = _binary_outcomes(outcomes, p.shape)
    if p.size == 0:
        raise ValueError("no forecasts to assess")
    bins = reliability_bins(p, o, n_bins)
    used = bins["count"] > 0
    n_k, f_k, o_k = bins["count"][used], bins["mean_forecast"][used], bins["observed_frequency"][used]
    base_rate = o.mean()
    return {
        "brier": float(np.mean((p - o) ** 2)),
        "reliability": float(np.sum(n_k * (f_k - o_k) ** 2) / p.size),
        "resolution": float(np.sum(n_k * (o_k - base_rate) ** 2) / p.size),
        "uncertainty": float(base_rate * (1 - base_rate)),
    }


def pit_histogram(pit: ArrayLike, n_bins: int = 10) -> np.ndarray:
    """Counts of PIT values in equal-width bins of [0, 1] (last bin closed): (n_bins,) ints."""
    values = _probabilities("pit", pit)
    return np.bincount(_bin_index(values, n_bins), minlength=n_bins)
