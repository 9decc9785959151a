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

from collections.abc import Sequence
from dataclasses import dataclass
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
GRID_POINTS = 21  # edges of a numeric question's grid: a grid CDF has one value per edge
SCALES = ("linear", "log")


def _check_bounds(lower: float, upper: float, scale: str) -> None:
    if not (np.isfinite(lower) and np.isfinite(upper) and lower < upper):
        raise ValueError("bounds must be finite with lower < upper")
    if scale not in SCALES:
        raise ValueError("scale must be 'linear' or 'log'")
    if scale == "log" and lower <= 0:
        raise ValueError("a log-scale question needs lower > 0")


def grid_edges(lower: float, upper: float, scale: str = "linear", n_points: int = GRID_POINTS) -> np.ndarray:
    """The fixed grid of a numeric question: `n_points` edges from lower to upper (inclusive), evenly
    spaced in the question's scale (geometric for "log"). Its `n_points - 1` buckets are the
    partition used for the bucket log score (and by markets)."""
    _check_bounds(lower, upper, scale)
    return np.geomspace(lower, upper, n_points) if scale == "log" else np.linspace(lower, upper, n_points)


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
    return _quantile_set_knots_core(alpha, q, lo, hi)


def _quantile_set_knots_core(alpha: np.ndarray, q: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n, k = q.shape
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


def _validate_edges(edges: ArrayLike, n: int) -> np.ndarray:
    e = _finite("edges", edges, 2)
    if e.shape[0] != n or e.shape[1] < 2 or np.any(np.diff(e, axis=1) <= 0):
        raise ValueError("edges must be (n, B+1) strictly increasing rows")
    return e


def _cdf_at_core(x: np.ndarray, f: np.ndarray, z: np.ndarray) -> np.ndarray:
    """F(z) per row (right-continuous): 0 below x[:, 0], 1 from x[:, -1] on."""
    k = np.clip((x <= z[:, None]).sum(axis=1), 1, x.shape[1] - 1)
    rows = np.arange(x.shape[0])
    a, b, u, v = x[rows, k - 1], x[rows, k], f[rows, k - 1], f[rows, k]
    width = b - a
    safe = np.where(width > 0, width, 1.0)
    inside = np.where(width > 0, u + (v - u) * np.clip((z - a) / safe, 0.0, 1.0), v)
    return np.where(z < x[:, 0], 0.0, np.where(z >= x[:, -1], 1.0, inside))


def _pit_core(y: np.ndarray, x: np.ndarray, f: np.ndarray) -> np.ndarray:
    return np.clip(_cdf_at_core(x, f, np.clip(y, x[:, 0], x[:, -1])), 0.0, 1.0)


def pit_piecewise_linear(observations: ArrayLike, knots_x: ArrayLike, knots_f: ArrayLike) -> np.ndarray:
    """Probability integral transform F(y) per forecast, in [0, 1] (observations clamped to the knots)."""
    return _pit_core(*_validate_knots(observations, knots_x, knots_f))


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
    return _crps_piecewise_core(*_validate_knots(observations, knots_x, knots_f))


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
    return _bucket_probabilities_core(x, f, _validate_edges(edges, x.shape[0])[:, 1:-1])


def _log_score_bucket_core(y: np.ndarray, x: np.ndarray, f: np.ndarray, e: np.ndarray, floor: float) -> np.ndarray:
    probs = _bucket_probabilities_core(x, f, e[:, 1:-1])
    index = np.clip((e[:, 1:-1] <= y[:, None]).sum(axis=1), 0, probs.shape[1] - 1)
    return np.log(np.maximum(probs[np.arange(len(y)), index], floor))


def log_score_bucket(
    observations: ArrayLike, knots_x: ArrayLike, knots_f: ArrayLike, edges: ArrayLike, floor: float = 1e-4
) -> np.ndarray:
    """Log of the probability the forecast gave to the grid bucket containing the observation, in
    nats, higher is better. Observations outside the grid fall in the first/last bucket; bucket
    probabilities are floored at `floor` so a single miss cannot give minus infinity."""
    y, x, f = _validate_knots(observations, knots_x, knots_f)
    return _log_score_bucket_core(y, x, f, _validate_edges(edges, len(y)), floor)


# --- numeric forecasts in their stored forms ----------------------------------------------------
# A numeric forecast is stored as one of two JSON-like payloads, with values in the question's unit:
#   {"quantiles": {"levels": [a_1 < ... < a_k in (0, 1)], "values": [strictly increasing]}}
#   {"cdf": [GRID_POINTS nondecreasing values in [0, 1]]}  (the CDF at the question's grid edges)
# Both become piecewise-linear CDFs on the question's scale (log10 of the unit for "log" questions):
# quantiles give knots (lower, 0), (q_j, a_j), (upper, 1) with q_j clipped to the bounds; a grid CDF
# gives knots at the GRID_POINTS grid edges. CRPS is exact for that CDF; the log score is that of
# the grid bucket holding the outcome; PIT = F(outcome); covered_50/90 = PIT inside the central
# intervals below.
CENTRAL_INTERVALS = {"covered_50": (0.25, 0.75), "covered_90": (0.05, 0.95)}


@dataclass(frozen=True)
class NumericSpec:
    """A numeric question's bounds (in its unit) and scale ("linear" or "log"): what scoring a
    forecast on it needs."""

    lower: float
    upper: float
    scale: str


def numeric_knots(spec: NumericSpec, payload: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """CDF knots (x on the question's scale, F), shapes (K,), of one stored numeric payload: the
    per-forecast reference that `numeric_knot_blocks` vectorises."""
    _check_bounds(spec.lower, spec.upper, spec.scale)
    lo, hi = float(to_scale(spec.lower, spec.scale)), float(to_scale(spec.upper, spec.scale))
    if "quantiles" in payload:
        q = payload["quantiles"]
        values = np.clip(to_scale(_finite("values", q["values"], 1), spec.scale), lo, hi)
        return cdf_knots_from_quantiles(q["levels"], values, lo, hi)
    return np.linspace(lo, hi, GRID_POINTS), _grid_cdfs([payload["cdf"]])[0]


def _grid_cdfs(cdfs: Sequence[Any]) -> np.ndarray:
    """Stored grid CDFs as an (n, GRID_POINTS) array, checked: GRID_POINTS nondecreasing values in [0, 1]."""
    if any(len(c) != GRID_POINTS for c in cdfs):
        raise ValueError(f"a grid CDF must have {GRID_POINTS} values")
    f = _probabilities("cdf", np.array(cdfs, dtype=float).reshape(len(cdfs), GRID_POINTS))
    if np.any(np.diff(f, axis=1) < 0):
        raise ValueError("a grid CDF must be nondecreasing")
    return f


def spec_arrays(specs: Sequence[NumericSpec]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-forecast bounds on the question's scale (lower, upper) and a log-scale mask, (n,) each.

    Specs are deduplicated by identity first (callers pass one object per question), so the
    Python-level work (and the bounds check) is per distinct spec, not per forecast."""
    ids = np.fromiter(map(id, specs), dtype=np.uint64, count=len(specs))
    _, first, codes = np.unique(ids, return_index=True, return_inverse=True)
    table = [specs[int(i)] for i in first]
    for s in table:
        _check_bounds(s.lower, s.upper, s.scale)
    lo = np.array([float(to_scale(s.lower, s.scale)) for s in table], dtype=float)
    hi = np.array([float(to_scale(s.upper, s.scale)) for s in table], dtype=float)
    log = np.array([s.scale == "log" for s in table], dtype=bool)
    codes = codes.reshape(-1)
    return lo[codes], hi[codes], log[codes]


def numeric_knot_blocks(
    specs: Sequence[NumericSpec], payloads: Sequence[dict[str, Any]],
    bounds: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """CDF knots of n stored numeric payloads, vectorised by form: a list of blocks (rows, x, F),
    one per form (quantile sets grouped by their number of quantiles; grid CDFs), where `rows` are
    the payloads' indices and x, F (len(rows), K) their knots exactly as `numeric_knots` builds them.
    `bounds`: `spec_arrays(specs)` if the caller already has it."""
    if len(specs) != len(payloads):
        raise ValueError("specs and payloads must have the same length")
    groups: dict[int, list[int]] = {}  # number of quantiles -> rows; -1 for grid CDFs
    for i, payload in enumerate(payloads):
        quantiles = payload.get("quantiles")
        groups.setdefault(-1 if quantiles is None else len(quantiles["levels"]), []).append(i)
    lo, hi, is_log = bounds if bounds is not None else spec_arrays(specs)
    return [_knot_block(payloads, np.asarray(members, dtype=np.intp), k, lo, hi, is_log) for k, members in groups.items()]


def _knot_block(payloads: Sequence[dict[str, Any]], rows: np.ndarray, k: int, lo: np.ndarray, hi: np.ndarray,
                is_log: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One block of `numeric_knot_blocks`: the grid CDFs (k < 0) or the k-quantile sets at `rows`."""
    if k < 0:
        return rows, np.linspace(lo[rows], hi[rows], GRID_POINTS, axis=1), _grid_cdfs([payloads[i]["cdf"] for i in rows])
    levels = np.array([payloads[i]["quantiles"]["levels"] for i in rows], dtype=float).reshape(len(rows), k)
    value_lists = [payloads[i]["quantiles"]["values"] for i in rows]
    if any(len(v) != k for v in value_lists):
        raise ValueError("levels and values must have the same length")
    raw = _finite("values", np.array(value_lists, dtype=float).reshape(len(rows), k))
    log_rows = is_log[rows, None]
    values = np.where(log_rows, np.log10(np.where(log_rows, raw, 1.0)), raw)
    values = np.clip(values, lo[rows, None], hi[rows, None])
    x, f = cdf_knots_from_quantile_sets(levels, values, lo[rows], hi[rows])
    return rows, x, f


def numeric_knots_batch(specs: Sequence[NumericSpec], payloads: Sequence[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """Padded CDF knots (xs, fs), shape (n, K), of n stored numeric payloads at once: equal to
    `pad_knots([numeric_knots(spec, payload) ...])`, built per form by `numeric_knot_blocks`."""
    return pad_knot_blocks(numeric_knot_blocks(specs, payloads), len(payloads))


def score_binary(probabilities: ArrayLike, outcomes: ArrayLike) -> dict[str, np.ndarray]:
    """log_score (nats) and brier (probability^2) per binary forecast, (n,) each."""
    return {"log_score": log_score_binary(probabilities, outcomes), "brier": brier_score(probabilities, outcomes)}


def _score_numeric_core(outcomes: np.ndarray, lo: np.ndarray, hi: np.ndarray, is_log: np.ndarray,
                        xs: np.ndarray, fs: np.ndarray) -> dict[str, np.ndarray]:
    y = np.where(is_log, np.log10(np.maximum(outcomes, 1e-300)), outcomes)
    edges = lo[:, None] + (hi - lo)[:, None] * np.linspace(0.0, 1.0, GRID_POINTS)[None, :]
    crps = _crps_piecewise_core(y, xs, fs)
    pit = _pit_core(y, xs, fs)
    return {"crps": crps, "crps_normalized": crps / (hi - lo), "pit": pit,
            "log_score": _log_score_bucket_core(y, xs, fs, edges, 1e-4), **_coverage_core(pit)}


def _outcomes(outcomes: ArrayLike, n: int) -> np.ndarray:
    y = _finite("outcomes", outcomes, 1)
    if y.shape != (n,):
        raise ValueError(f"outcomes must have shape ({n},), got {y.shape}")
    return y


def score_numeric_padded(outcomes: ArrayLike, specs: Sequence[NumericSpec], xs: ArrayLike, fs: ArrayLike) -> dict[str, np.ndarray]:
    """crps and crps_normalized (= crps / (upper - lower), both on the question's scale), log_score
    (bucket, nats), pit, covered_50 and covered_90 per numeric forecast, (n,) each.

    `outcomes` (n,) are in the questions' units; everything is computed on each question's scale.
    xs, fs: padded knots (n, K) as from `numeric_knots_batch`."""
    y = _outcomes(outcomes, len(specs))
    _, x, f = _validate_knots(y, xs, fs)
    return _score_numeric_core(y, *spec_arrays(specs), x, f)


def score_numeric(outcomes: ArrayLike, specs: Sequence[NumericSpec], knots: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, np.ndarray]:
    """`score_numeric_padded` for per-forecast knots (padded here with `pad_knots`)."""
    return score_numeric_padded(outcomes, specs, *pad_knots(knots))


def score_numeric_payloads(outcomes: ArrayLike, specs: Sequence[NumericSpec], payloads: Sequence[dict[str, Any]]) -> dict[str, np.ndarray]:
    """`score_numeric` of stored payloads, vectorised: knots are built per form and each form is
    scored at its own knot width (no padding of 3-quantile sets to a 21-point grid)."""
    y = _outcomes(outcomes, len(payloads))
    lo, hi, is_log = bounds = spec_arrays(specs)
    out = {name: np.empty(len(y), dtype=bool if name in CENTRAL_INTERVALS else float)
           for name in ("crps", "crps_normalized", "pit", "log_score", *CENTRAL_INTERVALS)}
    for rows, x, f in numeric_knot_blocks(specs, payloads, bounds):
        for name, column in _score_numeric_core(y[rows], lo[rows], hi[rows], is_log[rows], x, f).items():
            out[name][rows] = column
    return out


# --- calibration -------------------------------------------------------------------------------
def _check_bins(n_bins: int) -> None:
    if n_bins < 1:
        raise ValueError("n_bins must be >= 1")


def _bin_index(p: np.ndarray, n_bins: int) -> np.ndarray:
    return np.minimum((p * n_bins).astype(int), n_bins - 1)


def _coverage_core(pit: np.ndarray) -> dict[str, np.ndarray]:
    return {name: (pit >= a) & (pit <= b) for name, (a, b) in CENTRAL_INTERVALS.items()}


def _reliability_core(p: np.ndarray, o: np.ndarray, n_bins: int) -> dict[str, np.ndarray]:
    index = _bin_index(p, n_bins)
    count = np.bincount(index, minlength=n_bins).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_forecast = np.bincount(index, weights=p, minlength=n_bins) / count
        observed = np.bincount(index, weights=o, minlength=n_bins) / count
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    return {"lower": edges[:-1], "upper": edges[1:], "count": count.astype(int),
            "mean_forecast": mean_forecast, "observed_frequency": observed}


def _binary_inputs(probabilities: ArrayLike, outcomes: ArrayLike, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    p = _probabilities("probabilities", probabilities)
    _check_bins(n_bins)
    return p, _binary_outcomes(outcomes, p.shape)


def reliability_bins(probabilities: ArrayLike, outcomes: ArrayLike, n_bins: int = 10) -> dict[str, np.ndarray]:
    """Reliability diagram: equal-width bins [k/n, (k+1)/n) (last bin closed) with, per bin, the
    count, mean forecast probability and observed frequency (NaN for empty bins)."""
    return _reliability_core(*_binary_inputs(probabilities, outcomes, n_bins), n_bins)


def _ece_core(bins: dict[str, np.ndarray]) -> float:
    used = bins["count"] > 0
    gaps = np.abs(bins["observed_frequency"][used] - bins["mean_forecast"][used])
    return float(np.sum(bins["count"][used] * gaps) / bins["count"].sum())


def expected_calibration_error(probabilities: ArrayLike, outcomes: ArrayLike, n_bins: int = 10) -> float:
    """ECE = sum_k (n_k / N) |observed_k - mean_forecast_k| over non-empty equal-width bins."""
    p, o = _binary_inputs(probabilities, outcomes, n_bins)
    if p.size == 0:
        raise ValueError("no forecasts to assess")
    return _ece_core(_reliability_core(p, o, n_bins))


def _brier_decomposition_core(p: np.ndarray, o: np.ndarray, bins: dict[str, np.ndarray]) -> dict[str, float]:
    used = bins["count"] > 0
    n_k, f_k, o_k = bins["count"][used], bins["mean_forecast"][used], bins["observed_frequency"][used]
    base_rate = o.mean()
    return {
        "brier": float(np.mean((p - o) ** 2)),
        "reliability": float(np.sum(n_k * (f_k - o_k) ** 2) / p.size),
        "resolution": float(np.sum(n_k * (o_k - base_rate) ** 2) / p.size),
        "uncertainty": float(base_rate * (1 - base_rate)),
    }


def brier_decomposition(probabilities: ArrayLike, outcomes: ArrayLike, n_bins: int = 10) -> dict[str, float]:
    """Murphy's decomposition Brier = reliability - resolution + uncertainty over equal-width bins:
    reliability = sum n_k (f_k - o_k)^2 / N, resolution = sum n_k (o_k - o)^2 / N, uncertainty =
    o (1 - o). Exact when forecasts within a bin are equal; otherwise the identity holds up to the
    within-bin variance (reported as `brier` beside the parts)."""
    p, o = _binary_inputs(probabilities, outcomes, n_bins)
    if p.size == 0:
        raise ValueError("no forecasts to assess")
    return _brier_decomposition_core(p, o, _reliability_core(p, o, n_bins))


def pit_histogram(pit: ArrayLike, n_bins: int = 10) -> np.ndarray:
    """Counts of PIT values in equal-width bins of [0, 1] (last bin closed): (n_bins,) ints."""
    values = _probabilities("pit", pit)
    _check_bins(n_bins)
    return np.bincount(_bin_index(values, n_bins), minlength=n_bins)


def _optional(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


def _binary_calibration_core(p: np.ndarray, o: np.ndarray, n_bins: int) -> dict[str, Any]:
    bins = _reliability_core(p, o, n_bins)
    rows = [{"lower": float(bins["lower"][k]), "upper": float(bins["upper"][k]), "count": int(bins["count"][k]),
             "mean_forecast": _optional(bins["mean_forecast"][k]),
             "observed_frequency": _optional(bins["observed_frequency"][k])} for k in range(n_bins)]
    parts: dict[str, float | None] = dict.fromkeys(("brier", "reliability", "resolution", "uncertainty"))
    ece = None
    if p.size:
        parts, ece = dict(_brier_decomposition_core(p, o, bins)), _ece_core(bins)
    return {"n": int(p.size), "mean_brier": parts["brier"], "ece": ece, "brier_reliability": parts["reliability"],
            "brier_resolution": parts["resolution"], "brier_uncertainty": parts["uncertainty"], "reliability_bins": rows}


def binary_calibration(probabilities: ArrayLike, outcomes: ArrayLike, n_bins: int = 10) -> dict[str, Any]:
    """Calibration summary of n binary forecasts: `n`; `mean_brier`, `ece` and the Brier parts
    `brier_reliability`, `brier_resolution`, `brier_uncertainty` (as `brier_decomposition`; None
    when n = 0); `reliability_bins`: n_bins dicts lower, upper, count, mean_forecast and
    observed_frequency (None for an empty bin), as `reliability_bins`."""
    return _binary_calibration_core(*_binary_inputs(probabilities, outcomes, n_bins), n_bins)


def _numeric_calibration_core(pit: np.ndarray, n_bins: int) -> dict[str, Any]:
    covered = {name: float(column.mean()) if pit.size else None for name, column in _coverage_core(pit).items()}
    return {"n": int(pit.size), "coverage_50": covered["covered_50"], "coverage_90": covered["covered_90"],
            "pit_histogram": [int(c) for c in np.bincount(_bin_index(pit, n_bins), minlength=n_bins)]}


def numeric_calibration(pit: ArrayLike, n_bins: int = 10) -> dict[str, Any]:
    """Calibration summary of n numeric forecasts from their PIT values: `n`; `coverage_50`,
    `coverage_90`, the share of outcomes inside the central 50% / 90% intervals (PIT in [0.25,
    0.75] / [0.05, 0.95]; None when n = 0; a calibrated forecaster gets 0.5 / 0.9); and
    `pit_histogram`, as `pit_histogram` (flat for a calibrated forecaster)."""
    values = _probabilities("pit", pit)
    _check_bins(n_bins)
    return _numeric_calibration_core(values, n_bins)
