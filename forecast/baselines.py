"""Point-fit baselines scored against the hierarchical model (issue 2, "Baselines").

Both baselines fit every task on its own (no pooling) by least squares and get their intervals by a
bootstrap over *models*: resample the training models of a task with replacement, refit, predict,
and add a residual resampled from the point fit (scaled by sqrt(n / (n - p)) for the p fitted
parameters), so a draw is a plausible *observed* result (not a mean), like the hierarchical model's
posterior predictive draws. Success draws are clipped to [0, 1].

Units: ``x`` is log10 training compute in FLOPs (``compute_flops``, default 6 * params * tokens);
success is a rate in [0, 1]; ``chance`` is the success rate of random guessing.

B1, success only (:func:`fit_success_logistic`)::

    success = chance + (1 - chance) * sigmoid(a + b * (x - x0))        b >= 0 (per decade)

B2, the two-step model-ladder fit (Bhagia et al. 2024, "Establishing task scaling laws via
compute-efficient model ladders"), :func:`fit_two_step`. Step 1, the smooth metric in compute::

    z = E + exp(log_A - alpha * (x - x0))                              alpha >= 0 (per decade)

where ``z`` is the smooth metric transformed (log for perplexities), oriented so lower is better
(higher-is-better metrics are mirrored) and standardised with the task's training mean and sd, the
same convention as ``forecast.links``. Step 2, a least-squares sigmoid from smooth metric to success::

    success = chance + (1 - chance - gap) * sigmoid(k * (theta - z))  k > 0, 0 <= gap < 1 - chance

(the paper's logistic form with its floor fixed at chance and the ceiling gap explicit; a logistic
rather than the hierarchical model's Phi, as in the paper). Step 2 is fitted on the training models'
*observed* (smooth, success) pairs; a prediction evaluates step 1 at the target's compute and feeds
that through step 2, so a held-out model's own smooth metric is never used. Bootstrap draws refit
both steps and add a resampled step-1 residual (before the link) and a step-2 residual (after it).

Fits that fail (too few models, solver not converged, non-finite result) fall back to the mean
success of the task's training models; every fallback is recorded in ``notes``, never raised.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.optimize import least_squares
from scipy.special import expit

from forecast.design import LOG_TRANSFORMED, is_final_checkpoint, row_sizes
from forecast.links import trend_compute

MIN_MODELS = 3
"""A task needs at least this many distinct training models to be fitted; else it falls back."""
MAX_RESAMPLE_TRIES = 20
MAX_NFEV = 300
"""Function evaluations allowed per least-squares start before it counts as not converged."""
MAX_NFEV_REFIT = 100
"""Function evaluations allowed per bootstrap refit (started at the full-data solution)."""

ResidualFn = Callable[[np.ndarray], np.ndarray]


# ============================================================================ pure math cores
def logistic_success(x: np.ndarray, a: float, b: float, chance: float, x0: float) -> np.ndarray:
    """B1 curve: ``chance + (1 - chance) * sigmoid(a + b (x - x0))``; x in log10 FLOPs."""
    return chance + (1.0 - chance) * expit(a + b * (np.asarray(x) - x0))


def sigmoid_link(z: np.ndarray, threshold: float, steepness: float, chance: float, gap: float) -> np.ndarray:
    """B2 step 2: ``chance + (1 - chance - gap) * sigmoid(steepness (threshold - z))``; z standardised."""
    return chance + (1.0 - chance - gap) * expit(steepness * (threshold - np.asarray(z)))


def _dsigmoid(u: np.ndarray) -> np.ndarray:
    """Derivative of the logistic sigmoid."""
    value = expit(u)
    return value * (1.0 - value)


def _best_least_squares(
    residuals: ResidualFn,
    jacobian: ResidualFn,
    starts: Sequence[Sequence[float]],
    lower: Sequence[float],
    upper: Sequence[float],
    refit: bool = False,
) -> np.ndarray | None:
    """Bounded least squares (TRF) from each start; the converged solution of lowest cost, or None.

    "Converged" means scipy reports a tolerance was met (status > 0) and the result is finite. A
    bootstrap ``refit`` (started at the full-data solution) gets fewer evaluations and also accepts a
    result that stopped at the evaluation limit: TRF only takes improving steps, so it is the best
    parameter vector found from that start.
    """
    best, best_cost = None, np.inf
    lo, hi = np.asarray(lower, float), np.asarray(upper, float)
    for start in starts:
        x_start = np.clip(np.asarray(start, float), lo + 1e-9, hi - 1e-9)
        try:
            with np.errstate(over="ignore", invalid="ignore"):
                fit = least_squares(residuals, x_start, jac=jacobian, bounds=(lo, hi), method="trf",
                                    x_scale="jac", ftol=1e-8, xtol=1e-8, gtol=1e-8,
                                    max_nfev=MAX_NFEV_REFIT if refit else MAX_NFEV)
        except (ValueError, FloatingPointError, np.linalg.LinAlgError):
            continue
        if (fit.status > 0 or refit) and np.isfinite(fit.cost) and np.all(np.isfinite(fit.x)) and fit.cost < best_cost:
            best, best_cost = fit.x, fit.cost
    return best


def _fit_logistic_core(x: np.ndarray, y: np.ndarray, chance: float, x0: float,
                       refit_from: np.ndarray | None = None) -> np.ndarray | None:
    """(a, b) of the B1 curve by bounded least squares, or None if no start converged.

    ``refit_from``: a bootstrap refit started at these parameters (see ``_best_least_squares``).
    """
    refit = refit_from is not None
    starts = [refit_from] if refit else [(a, b) for a in (-2.0, 0.0, 2.0) for b in (0.5, 2.0)]
    dx = x - x0

    def jacobian(p: np.ndarray) -> np.ndarray:
        slope = (1.0 - chance) * _dsigmoid(p[0] + p[1] * dx)
        return np.column_stack([slope, slope * dx])

    return _best_least_squares(lambda p: logistic_success(x, p[0], p[1], chance, x0) - y, jacobian,
                               starts, lower=(-30.0, 0.0), upper=(30.0, 30.0), refit=refit)


def _fit_trend_core(x: np.ndarray, z: np.ndarray, x0: float,
                    refit_from: np.ndarray | None = None) -> np.ndarray | None:
    """(floor E, log_A, alpha) of the B2 step-1 power law in standardised units, or None."""
    refit = refit_from is not None
    starts = [refit_from] if refit else []
    if not refit:
        for rate in (0.2, 0.6, 1.5):
            floor = float(np.min(z)) - 0.5
            starts.append((floor, float(np.log(max(np.mean(z) - floor, 1e-3))), rate))
    dx = x - x0

    def jacobian(p: np.ndarray) -> np.ndarray:
        term = np.exp(p[1] - p[2] * dx)
        return np.column_stack([np.ones_like(dx), term, -term * dx])

    return _best_least_squares(lambda p: trend_compute(x, p[0], p[1], p[2], x0) - z, jacobian,
                               starts, lower=(-50.0, -10.0, 1e-3), upper=(50.0, 10.0, 10.0), refit=refit)


def _fit_link_core(z: np.ndarray, y: np.ndarray, chance: float,
                   refit_from: np.ndarray | None = None) -> np.ndarray | None:
    """(theta, k, gap) of the B2 step-2 sigmoid, or None if no start converged."""
    max_gap = 1.0 - chance - 0.01
    refit = refit_from is not None
    starts = [refit_from] if refit else []
    if not refit:
        thetas = list(np.quantile(z, [0.25, 0.5, 0.75])) + [float(np.min(z)) - 1.0]
        starts = [(t, k, 0.1 * max_gap) for t in thetas for k in (1.0, 4.0)]

    def jacobian(p: np.ndarray) -> np.ndarray:
        u = p[1] * (p[0] - z)
        slope = (1.0 - chance - p[2]) * _dsigmoid(u)
        return np.column_stack([slope * p[1], slope * (p[0] - z), -expit(u)])

    return _best_least_squares(lambda p: sigmoid_link(z, p[0], p[1], chance, p[2]) - y, jacobian,
                               starts, lower=(-15.0, 0.05, 0.0), upper=(15.0, 50.0, max_gap), refit=refit)


def _resample_models(n: int, rng: np.random.Generator, min_distinct: int) -> np.ndarray:
    """Indices of a bootstrap sample of n models with at least ``min_distinct`` distinct ones."""
    for _ in range(MAX_RESAMPLE_TRIES):
        idx = rng.integers(0, n, size=n)
        if len(np.unique(idx)) >= min(min_distinct, n):
            return idx
    return np.arange(n)


def _inflated(residuals: np.ndarray, n_params: int) -> np.ndarray:
    """Residuals scaled by sqrt(n / (n - p)): in-sample residuals of a p-parameter fit are too small."""
    n = len(residuals)
    return residuals * np.sqrt(n / max(n - n_params, 1))


def _resampled(residuals: np.ndarray, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    return residuals[rng.integers(0, len(residuals), size=shape)]


# ============================================================================ per-task fits
@dataclass
class _TaskData:
    """One task's training models: x (n,) log10 FLOPs, success (n,), standardised smooth z (n,)."""

    task: str
    chance: float
    x: np.ndarray
    success: np.ndarray
    z: np.ndarray | None = None

    @property
    def x0(self) -> float:
        return float(np.mean(self.x))

    @property
    def n_distinct(self) -> int:
        return len(np.unique(self.x))


@dataclass
class _LogisticTaskFit:
    """B1 for one task. ``params`` is (a, b) or None when the fit fell back to the mean."""

    data: _TaskData
    params: np.ndarray | None
    note: str | None = None

    def curve(self, x: np.ndarray, params: np.ndarray) -> np.ndarray:
        return logistic_success(x, params[0], params[1], self.data.chance, self.data.x0)

    def mean_at(self, x: np.ndarray) -> np.ndarray:
        if self.params is None:
            return np.full(np.shape(x), float(np.mean(self.data.success)))
        return self.curve(x, self.params)

    def bootstrap(self, x: np.ndarray, n_boot: int, rng: np.random.Generator) -> tuple[np.ndarray, int]:
        """Success draws (len(x), n_boot) and the number of refits that did not converge."""
        d, out, fallbacks = self.data, np.empty((len(x), n_boot)), 0
        res = _inflated(d.success - self.mean_at(d.x), 2 if self.params is not None else 1)
        for b in range(n_boot):
            idx = _resample_models(len(d.x), rng, MIN_MODELS)
            if self.params is None:
                mean = np.full(len(x), float(np.mean(d.success[idx])))
            else:
                params = _fit_logistic_core(d.x[idx], d.success[idx], d.chance, d.x0, refit_from=self.params)
                if params is None:
                    fallbacks, params = fallbacks + 1, self.params
                mean = self.curve(x, params)
            out[:, b] = mean + _resampled(res, (len(x),), rng)
        return np.clip(out, 0.0, 1.0), fallbacks


def _fit_logistic_task(data: _TaskData) -> _LogisticTaskFit:
    if data.n_distinct < MIN_MODELS:
        return _LogisticTaskFit(data, None, f"B1 {data.task}: only {data.n_distinct} training models; "
                                            "predicting their mean success")
    params = _fit_logistic_core(data.x, data.success, data.chance, data.x0)
    note = None if params is not None else f"B1 {data.task}: least squares did not converge; predicting the mean"
    return _LogisticTaskFit(data, params, note)


@dataclass
class _TwoStepTaskFit:
    """B2 for one task: ``trend`` (E, log_A, alpha) and ``link`` (theta, k, gap), or None (mean)."""

    data: _TaskData
    trend: np.ndarray | None
    link: np.ndarray | None
    note: str | None = None

    @property
    def fitted(self) -> bool:
        return self.trend is not None and self.link is not None

    def smooth_at(self, x: np.ndarray, trend: np.ndarray | None = None) -> np.ndarray:
        """Predicted standardised smooth metric at compute x (step 1)."""
        p = self.trend if trend is None else trend
        return trend_compute(np.asarray(x), p[0], p[1], p[2], self.data.x0)

    def success_at(self, z: np.ndarray, link: np.ndarray | None = None) -> np.ndarray:
        p = self.link if link is None else link
        return sigmoid_link(z, p[0], p[1], self.data.chance, p[2])

    def mean_at(self, x: np.ndarray) -> np.ndarray:
        if not self.fitted:
            return np.full(np.shape(x), float(np.mean(self.data.success)))
        return self.success_at(self.smooth_at(x))

    def bootstrap(self, x: np.ndarray, n_boot: int, rng: np.random.Generator) -> tuple[np.ndarray, int]:
        """Success draws (len(x), n_boot) and the number of replicates that fell back to the mean."""
        d, out, fallbacks = self.data, np.empty((len(x), n_boot)), 0
        if not self.fitted:
            res = _inflated(d.success - np.mean(d.success), 1)
            for b in range(n_boot):
                idx = _resample_models(len(d.x), rng, MIN_MODELS)
                out[:, b] = np.mean(d.success[idx]) + _resampled(res, (len(x),), rng)
            return np.clip(out, 0.0, 1.0), 0
        smooth_res = _inflated(d.z - self.smooth_at(d.x), 3)
        success_res = _inflated(d.success - self.success_at(d.z), 3)
        for b in range(n_boot):
            idx = _resample_models(len(d.x), rng, MIN_MODELS)
            trend = _fit_trend_core(d.x[idx], d.z[idx], d.x0, refit_from=self.trend)
            link = _fit_link_core(d.z[idx], d.success[idx], d.chance, refit_from=self.link)
            if trend is None or link is None:
                fallbacks += 1
                trend, link = self.trend, self.link
            z = self.smooth_at(x, trend) + _resampled(smooth_res, (len(x),), rng)
            out[:, b] = self.success_at(z, link) + _resampled(success_res, (len(x),), rng)
        return np.clip(out, 0.0, 1.0), fallbacks


def _fit_two_step_task(data: _TaskData) -> _TwoStepTaskFit:
    if data.z is None or data.n_distinct < MIN_MODELS:
        have = 0 if data.z is None else data.n_distinct
        return _TwoStepTaskFit(data, None, None, f"B2 {data.task}: only {have} training models with both metrics; "
                                                 "predicting their mean success")
    trend = _fit_trend_core(data.x, data.z, data.x0)
    link = _fit_link_core(data.z, data.success, data.chance)
    if trend is None or link is None:
        step = "step 1 (power law)" if trend is None else "step 2 (sigmoid)"
        return _TwoStepTaskFit(data, None, None, f"B2 {data.task}: {step} did not converge; predicting the mean")
    return _TwoStepTaskFit(data, trend, link)


# ============================================================================ public fit objects
@dataclass
class BaselineFit:
    """A fitted baseline: one independent fit per task. ``notes`` lists every fallback."""

    method: str
    task_fits: dict[str, _LogisticTaskFit | _TwoStepTaskFit]
    notes: list[str] = field(default_factory=list)

    @property
    def tasks(self) -> list[str]:
        return sorted(self.task_fits)

    def point(self, targets: pd.DataFrame) -> np.ndarray:
        """Point-fit expected success at each target row, shape (n_targets,)."""
        tasks, x = _target_arrays(targets, self.tasks)
        out = np.empty(len(x))
        for task in np.unique(tasks):
            rows = tasks == task
            out[rows] = self.task_fits[task].mean_at(x[rows])
        return out

    def sample(self, targets: pd.DataFrame, n_boot: int = 200,
               rng: np.random.Generator | int | None = None) -> np.ndarray:
        """Bootstrap success draws, shape (n_targets, n_boot), values in [0, 1].

        ``targets`` columns: ``task`` and ``compute_flops`` or ``params`` + ``tokens``. Deterministic
        for a given seed (tasks are processed in sorted order from one generator).
        """
        if not isinstance(n_boot, (int, np.integer)) or n_boot < 1:
            raise ValueError(f"n_boot must be a positive integer, got {n_boot!r}")
        generator = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        tasks, x = _target_arrays(targets, self.tasks)
        out = np.empty((len(x), int(n_boot)))
        for task in sorted(set(tasks)):
            rows = tasks == task
            draws, fallbacks = self.task_fits[task].bootstrap(x[rows], int(n_boot), generator)
            out[rows] = draws
            if fallbacks:
                self._note(f"{self.method} {task}: {fallbacks} of {n_boot} bootstrap refits did not converge "
                           "and reused the full-data fit")
        return out

    def parameters(self) -> pd.DataFrame:
        """The point-fit parameters per task (NaN where the task fell back to its mean)."""
        rows = []
        for task, fit in sorted(self.task_fits.items()):
            row = {"task": task, "chance": fit.data.chance, "n_models": len(fit.data.x), "x0": fit.data.x0}
            if isinstance(fit, _LogisticTaskFit):
                a, b = fit.params if fit.params is not None else (np.nan, np.nan)
                row |= {"a": a, "b": b}
            else:
                trend = fit.trend if fit.trend is not None else [np.nan] * 3
                link = fit.link if fit.link is not None else [np.nan] * 3
                row |= dict(zip(("floor", "log_amplitude", "rate", "threshold", "steepness", "gap"), [*trend, *link]))
            rows.append(row)
        return pd.DataFrame(rows)

    def _note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)


def fit_success_logistic(
    train_rows: pd.DataFrame,
    *,
    success_metric: str | Sequence[str] = "acc",
    tasks: Sequence[str] | None = None,
) -> BaselineFit:
    """B1: fit ``success = chance + (1 - chance) sigmoid(a + b (x - x0))`` per task (see module doc).

    ``train_rows``: a validated eval table (``forecast.evaltable``) holding only training models;
    final checkpoints are used, and each task uses the first of ``success_metric`` it has. Several
    rows of one (model, task) (e.g. two splits) are averaged. Raises ValueError on bad input.
    """
    success = _success_frame(train_rows, _metric_list(success_metric), tasks)
    task_fits = {task: _fit_logistic_task(data) for task, data in _task_data(success, None).items()}
    return BaselineFit("B1_logistic", task_fits, [f.note for f in task_fits.values() if f.note])


def fit_two_step(
    train_rows: pd.DataFrame,
    *,
    smooth_metric: str = "bpb",
    success_metric: str | Sequence[str] = "acc",
    tasks: Sequence[str] | None = None,
) -> BaselineFit:
    """B2: per task, power law of the smooth metric in compute, then a sigmoid to success (module doc).

    ``train_rows`` as for :func:`fit_success_logistic`; the smooth metric may be per task or shared
    (``task == "*"``). Models without both metrics for a task are left out of that task's fit.
    """
    success = _success_frame(train_rows, _metric_list(success_metric), tasks)
    smooth = _smooth_frame(train_rows, smooth_metric)
    task_fits = {task: _fit_two_step_task(data) for task, data in _task_data(success, smooth).items()}
    return BaselineFit("B2_two_step", task_fits, [f.note for f in task_fits.values() if f.note])


# ============================================================================ input handling
def _metric_list(metric: str | Sequence[str]) -> list[str]:
    metrics = [metric] if isinstance(metric, str) else list(metric)
    if not metrics or not all(isinstance(m, str) and m for m in metrics):
        raise ValueError(f"success_metric must be a metric name or a non-empty list of names, got {metric!r}")
    return metrics


def _require_columns(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"{what} must be a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} is missing columns {missing}")


def _log10_compute(frame: pd.DataFrame, what: str) -> np.ndarray:
    """log10 training FLOPs per row: ``compute_flops``, else 6 * params * tokens; must be > 0."""
    _, _, flops = row_sizes(frame)
    bad = ~(np.isfinite(flops) & (flops > 0))
    if bad.any():
        raise ValueError(f"{what}: rows {list(np.flatnonzero(bad) + 1)[:10]} need compute_flops > 0 "
                         "or params > 0 and tokens > 0")
    return np.log10(flops)


def _final(rows: pd.DataFrame) -> pd.DataFrame:
    """Each run's final-checkpoint rows."""
    return rows[is_final_checkpoint(rows)]


def _success_frame(train_rows: pd.DataFrame, metrics: list[str], tasks: Sequence[str] | None) -> pd.DataFrame:
    """One row per (family, model, task): x (log10 FLOPs), success, chance."""
    _require_columns(train_rows, ["family", "model", "task", "metric", "value"], "train_rows")
    rows = _final(train_rows[train_rows["metric"].isin(metrics)])
    rank = rows["metric"].map({m: i for i, m in enumerate(metrics)})
    rows = rows[rank == rank.groupby(rows["task"]).transform("min")]
    if tasks is not None:
        missing = sorted(set(tasks) - set(rows["task"]))
        if missing:
            raise ValueError(f"tasks without success metric {metrics} in train_rows: {missing}")
        rows = rows[rows["task"].isin(list(tasks))]
    if rows.empty:
        raise ValueError(f"train_rows has no rows with success metric {metrics}")
    if "chance" not in rows.columns:
        raise ValueError("train_rows needs a 'chance' column for the success metric rows")
    frame = pd.DataFrame({"family": rows["family"].to_numpy(), "model": rows["model"].to_numpy(),
                          "task": rows["task"].to_numpy(), "x": _log10_compute(rows, "train_rows"),
                          "success": pd.to_numeric(rows["value"], errors="coerce").to_numpy(float),
                          "chance": pd.to_numeric(rows["chance"], errors="coerce").to_numpy(float)})
    if not np.all((frame["success"] >= 0) & (frame["success"] <= 1)):
        raise ValueError("success values must be finite rates in [0, 1]")
    if not np.all((frame["chance"] >= 0) & (frame["chance"] < 1)):
        raise ValueError("every success row needs a chance rate in [0, 1)")
    return frame.groupby(["family", "model", "task"], as_index=False).mean(numeric_only=True)


def _smooth_frame(train_rows: pd.DataFrame, smooth_metric: str) -> pd.DataFrame:
    """One row per (family, model, task or "*"): the smooth value, transformed and lower-is-better."""
    rows = _final(train_rows[train_rows["metric"] == smooth_metric])
    if rows.empty:
        raise ValueError(f"train_rows has no rows with smooth metric {smooth_metric!r}")
    values = pd.to_numeric(rows["value"], errors="coerce").to_numpy(float)
    log_scale = any(f in smooth_metric.lower() for f in LOG_TRANSFORMED)
    if not np.all(np.isfinite(values)) or (log_scale and np.any(values <= 0)):
        raise ValueError(f"smooth metric {smooth_metric!r} values must be finite (and > 0 for perplexities)")
    higher = bool(rows["higher_is_better"].iloc[0]) if "higher_is_better" in rows.columns else False
    oriented = (np.log(values) if log_scale else values) * (-1.0 if higher else 1.0)
    frame = pd.DataFrame({"family": rows["family"].to_numpy(), "model": rows["model"].to_numpy(),
                          "task": rows["task"].to_numpy(), "smooth": oriented})
    return frame.groupby(["family", "model", "task"], as_index=False).mean(numeric_only=True)


def _task_data(success: pd.DataFrame, smooth: pd.DataFrame | None) -> dict[str, _TaskData]:
    """Per-task arrays; with ``smooth``, only models having both metrics, z standardised per task."""
    out = {}
    for task, group in success.groupby("task", sort=True):
        chance = float(group["chance"].iloc[0])
        if smooth is None:
            out[str(task)] = _TaskData(str(task), chance, group["x"].to_numpy(), group["success"].to_numpy())
            continue
        own = smooth[smooth["task"] == task]
        own = own if not own.empty else smooth[smooth["task"] == "*"]
        paired = group.merge(own[["family", "model", "smooth"]], on=["family", "model"], how="inner")
        if paired.empty:
            out[str(task)] = _TaskData(str(task), chance, group["x"].to_numpy(), group["success"].to_numpy())
            continue
        raw = paired["smooth"].to_numpy(float)
        scale = float(np.std(raw)) if np.std(raw) > 1e-12 else 1.0
        z = (raw - float(np.mean(raw))) / scale
        out[str(task)] = _TaskData(str(task), chance, paired["x"].to_numpy(), paired["success"].to_numpy(), z)
    return out


def _target_arrays(targets: pd.DataFrame, fitted_tasks: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(task names (n,), log10 FLOPs (n,)) of the targets; unknown tasks raise ValueError."""
    _require_columns(targets, ["task"], "targets")
    tasks = targets["task"].astype(str).to_numpy()
    unknown = sorted(set(tasks) - set(fitted_tasks))
    if unknown:
        raise ValueError(f"targets name tasks that were not fitted: {unknown}; fitted: {fitted_tasks}")
    return tasks, _log10_compute(targets.reset_index(drop=True), "targets")
