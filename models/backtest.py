"""Blind backtests: fit on the small models only, predict every held-out model, score every method alike.

A backtest cuts an eval table at a parameter count (or training compute): models at or below the cut
are the training set, every other model is held out. Three methods are fitted on the training rows
only and predict each held-out (model, task) success rate from its size and training tokens alone:

* ``hierarchical``: :class:`models.forecaster.EmergenceForecaster` (posterior predictive draws);
* ``B1_logistic`` and ``B2_two_step``: the baselines of :mod:`forecast.baselines` (bootstrap draws).

A held-out model's smooth metric is never used: the hierarchical model and B2 both predict it from
their trend in compute. Every method's draws are scored by the same :mod:`forecast.scoring` code.

Units: success and its quantiles are rates in [0, 1]; ``abs_error_points`` and every ``*_points``
column are percentage points (100 x rate); ``crps`` is in rate units per prediction; ``log10_flops``
is log10 training FLOPs; ``extrapolation_ratio`` is the target's training compute over the largest
training model's compute in the same family (1 = no extrapolation, 10 = ten times more compute).
"""
from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from forecast.baselines import BaselineFit, fit_success_logistic, fit_two_step
from forecast.design import select_rows
from forecast.scoring import crps_ensemble, interval_coverage
from models.config import FitConfig
from models.forecaster import EmergenceForecaster

METHODS: tuple[str, ...] = ("hierarchical", "B1_logistic", "B2_two_step")
RATIO_BIN_EDGES: tuple[float, ...] = (0.0, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0, math.inf)
"""Extrapolation-ratio bins (right-closed): <=1x, 1-3x, 3-10x, 10-30x, 30-100x, 100-300x, >300x."""
ALL_BIN = "all"
PREDICTION_COLUMNS: tuple[str, ...] = (
    "method", "family", "model", "task", "params", "tokens", "log10_flops", "extrapolation_ratio",
    "ratio_bin", "observed", "median", "q05", "q25", "q75", "q95", "abs_error_points", "crps",
    "covered_50", "covered_90", "width_50", "width_90",
)
SUMMARY_COLUMNS: tuple[str, ...] = (
    "method", "ratio_bin", "n", "mae_points", "crps_points", "coverage_50", "coverage_90",
    "width_50_points", "width_90_points",
)
MODEL_KEY = ["family", "model"]


@dataclass
class BacktestResult:
    """Everything a backtest produced. See the module docstring for units.

    ``predictions``: one row per held-out (model, task) per method (``PREDICTION_COLUMNS``).
    ``summary``: per method over all targets (``ratio_bin == "all"``) and per method x ratio bin.
    ``training_rows``: exactly the eval-table rows every method was fitted on.
    """

    predictions: pd.DataFrame
    summary: pd.DataFrame
    training_rows: pd.DataFrame
    training_models: list[str]
    heldout_models: list[str]
    cut: dict[str, float | None]
    diagnostics: dict[str, dict] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def write(self, out_dir: str | Path) -> list[Path]:
        """Write predictions.csv, summary.csv, summary.json and diagnostics.json into ``out_dir``."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = [out / "predictions.csv", out / "summary.csv", out / "summary.json", out / "diagnostics.json"]
        self.predictions.to_csv(paths[0], index=False)
        self.summary.to_csv(paths[1], index=False)
        meta = {"cut": self.cut, "training_models": self.training_models,
                "heldout_models": self.heldout_models, "ratio_bin_edges": _json_edges(),
                "units": {"mae_points": "percentage points", "crps_points": "percentage points",
                          "width_50_points": "percentage points", "width_90_points": "percentage points",
                          "coverage_50": "fraction of held-out results inside the 25-75% interval",
                          "coverage_90": "fraction inside the 5-95% interval"},
                "summary": _records(self.summary), "notes": self.notes}
        paths[2].write_text(json.dumps(meta, indent=2))
        paths[3].write_text(json.dumps(self.diagnostics, indent=2, default=_json_default))
        return paths


# ============================================================================ splitting
def split_by_size(
    rows: pd.DataFrame, train_max_params: float | None = None, train_max_flops: float | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(training rows, held-out rows): a model trains when its params (or compute) is <= the cut."""
    if (train_max_params is None) == (train_max_flops is None):
        raise ValueError("give exactly one of train_max_params or train_max_flops")
    column, cut = ("params", train_max_params) if train_max_params is not None else ("compute_flops", train_max_flops)
    if not (isinstance(cut, (int, float, np.number)) and np.isfinite(cut) and cut > 0):
        raise ValueError(f"the training cut must be a positive number, got {cut!r}")
    values = pd.to_numeric(rows[column], errors="coerce").to_numpy(float)
    if not np.all(np.isfinite(values)):
        raise ValueError(f"every selected row needs a finite {column!r} to apply the cut")
    train = values <= cut
    return rows[train].reset_index(drop=True), rows[~train].reset_index(drop=True)


def heldout_targets(heldout_rows: pd.DataFrame, smooth_metric: str, trained_tasks: Sequence[str]) -> pd.DataFrame:
    """One target per held-out (model, task) success row of a trained task, with its observed value.

    Columns: family, model, task, metric, params, tokens, compute_flops, n_examples, observed. No
    smooth-metric value is carried: predictions must not see it.
    """
    success = heldout_rows[(heldout_rows["metric"] != smooth_metric) & heldout_rows["task"].isin(list(trained_tasks))]
    keys = MODEL_KEY + ["task", "metric"]
    numeric = ["params", "tokens", "compute_flops", "n_examples", "value"]
    targets = success[keys + numeric].groupby(keys, as_index=False, sort=True).mean()
    return targets.rename(columns={"value": "observed"}).reset_index(drop=True)


def extrapolation_ratios(targets: pd.DataFrame, training_rows: pd.DataFrame) -> np.ndarray:
    """Target compute over the largest training compute of its family (of all families if none), (n,)."""
    largest = training_rows.groupby("family")["compute_flops"].max()
    overall = float(training_rows["compute_flops"].max())
    reference = targets["family"].map(largest).fillna(overall).to_numpy(float)
    return targets["compute_flops"].to_numpy(float) / reference


def ratio_bin_labels(ratios: np.ndarray) -> np.ndarray:
    """Label of each extrapolation ratio's bin (``RATIO_BIN_EDGES``, right-closed)."""
    labels = [_bin_label(lo, hi) for lo, hi in zip(RATIO_BIN_EDGES[:-1], RATIO_BIN_EDGES[1:])]
    index = np.searchsorted(np.asarray(RATIO_BIN_EDGES[1:-1]), np.asarray(ratios, float), side="left")
    return np.asarray(labels, dtype=object)[index]


def _bin_label(lo: float, hi: float) -> str:
    if lo == 0.0:
        return f"<={hi:g}x"
    return f">{lo:g}x" if math.isinf(hi) else f"{lo:g}-{hi:g}x"


# ============================================================================ scoring
def score_samples(method: str, targets: pd.DataFrame, samples: np.ndarray, ratios: np.ndarray) -> pd.DataFrame:
    """Score success draws ``samples`` (n_targets, n_draws) against ``targets["observed"]``.

    Any method with sample draws can be scored here (the later stacking variant included), so every
    method's numbers come from the same ``forecast.scoring`` functions.
    """
    draws = np.asarray(samples, dtype=float)
    if draws.ndim != 2 or draws.shape[0] != len(targets):
        raise ValueError(f"samples must have shape ({len(targets)}, draws), got {draws.shape}")
    observed = targets["observed"].to_numpy(float)
    q05, q25, median, q75, q95 = np.quantile(draws, [0.05, 0.25, 0.5, 0.75, 0.95], axis=1)
    return pd.DataFrame({
        "method": method,
        "family": targets["family"].to_numpy(),
        "model": targets["model"].to_numpy(),
        "task": targets["task"].to_numpy(),
        "params": targets["params"].to_numpy(float),
        "tokens": targets["tokens"].to_numpy(float),
        "log10_flops": np.log10(targets["compute_flops"].to_numpy(float)),
        "extrapolation_ratio": ratios,
        "ratio_bin": ratio_bin_labels(ratios),
        "observed": observed,
        "median": median, "q05": q05, "q25": q25, "q75": q75, "q95": q95,
        "abs_error_points": 100.0 * np.abs(median - observed),
        "crps": crps_ensemble(observed, draws),
        "covered_50": interval_coverage(observed, q25, q75),
        "covered_90": interval_coverage(observed, q05, q95),
        "width_50": q75 - q25,
        "width_90": q95 - q05,
    })[list(PREDICTION_COLUMNS)]


def summarize(predictions: pd.DataFrame) -> pd.DataFrame:
    """Per method (``ratio_bin == "all"``) and per method x extrapolation-ratio bin (see module doc)."""
    rows = []
    order = [_bin_label(lo, hi) for lo, hi in zip(RATIO_BIN_EDGES[:-1], RATIO_BIN_EDGES[1:])]
    methods = [m for m in METHODS if m in set(predictions["method"])] + \
        sorted(set(predictions["method"]) - set(METHODS))
    for method in methods:
        own = predictions[predictions["method"] == method]
        rows.append(_summary_row(method, ALL_BIN, own))
        for label in order:
            in_bin = own[own["ratio_bin"] == label]
            if len(in_bin):
                rows.append(_summary_row(method, label, in_bin))
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))


def _summary_row(method: str, ratio_bin: str, rows: pd.DataFrame) -> dict:
    return {
        "method": method, "ratio_bin": ratio_bin, "n": int(len(rows)),
        "mae_points": float(rows["abs_error_points"].mean()),
        "crps_points": float(100.0 * rows["crps"].mean()),
        "coverage_50": float(rows["covered_50"].mean()),
        "coverage_90": float(rows["covered_90"].mean()),
        "width_50_points": float(100.0 * rows["width_50"].mean()),
        "width_90_points": float(100.0 * rows["width_90"].mean()),
    }


def format_summary_table(summary: pd.DataFrame, bins: bool = True) -> str:
    """The summary as a markdown table (points = percentage points; coverage as a percentage)."""
    shown = summary if bins else summary[summary["ratio_bin"] == ALL_BIN]
    header = ("| method | extrapolation | n | MAE (pts) | CRPS (pts) | 50% cov. | 90% cov. | 90% width (pts) |\n"
              "|---|---|---:|---:|---:|---:|---:|---:|")
    lines = [header]
    for row in shown.itertuples(index=False):
        lines.append(f"| {row.method} | {row.ratio_bin} | {row.n} | {row.mae_points:.2f} | {row.crps_points:.2f} | "
                     f"{100 * row.coverage_50:.0f}% | {100 * row.coverage_90:.0f}% | {row.width_90_points:.1f} |")
    return "\n".join(lines)


# ============================================================================ running
def run_backtest(
    table: pd.DataFrame,
    *,
    train_max_params: float | None = None,
    train_max_flops: float | None = None,
    config: FitConfig,
    n_boot: int = 200,
    progress: bool = True,
    methods: Sequence[str] = METHODS,
) -> BacktestResult:
    """Fit every method on the models at or below the cut and score its predictions of the rest.

    ``table``: a validated eval table. Rows are selected as for a fit (``config``'s metrics, tasks,
    families; final checkpoints). Exactly one of ``train_max_params`` (parameter count) or
    ``train_max_flops`` (training FLOPs) sets the cut. ``n_boot`` is the baselines' bootstrap size.
    ``methods`` selects a subset of ``METHODS``. Raises ValueError when nothing is held out or
    nothing trains.
    """
    unknown = sorted(set(methods) - set(METHODS))
    if unknown or not methods:
        raise ValueError(f"unknown methods {unknown}; choose from {list(METHODS)}")
    selected = select_rows(table, config.smooth_metric, config.success_metric, config.tasks, config.families)
    training_rows, heldout_rows = split_by_size(selected, train_max_params, train_max_flops)
    trained_tasks = sorted(set(training_rows.loc[training_rows["metric"] != config.smooth_metric, "task"]))
    targets = heldout_targets(heldout_rows, config.smooth_metric, trained_tasks)
    _check_split(training_rows, targets)
    notes = _untrained_task_notes(heldout_rows, config.smooth_metric, trained_tasks)
    ratios = extrapolation_ratios(targets, training_rows)
    scored, diagnostics = [], {}
    for method in [m for m in METHODS if m in methods]:
        start = time.perf_counter()
        _say(progress, f"backtest: {method} on {_n_models(training_rows)} training models, "
                       f"{len(targets)} held-out results")
        samples, diagnostics[method] = _RUNNERS[method](training_rows, targets, config, n_boot, progress)
        diagnostics[method]["seconds"] = time.perf_counter() - start
        notes.extend(f"{method}: {n}" for n in diagnostics[method].get("notes", []))
        scored.append(score_samples(method, targets, samples, ratios))
    predictions = pd.concat(scored, ignore_index=True)
    return BacktestResult(
        predictions=predictions, summary=summarize(predictions), training_rows=training_rows,
        training_models=_model_names(training_rows), heldout_models=_model_names(targets),
        cut={"train_max_params": train_max_params, "train_max_flops": train_max_flops},
        diagnostics=diagnostics, notes=notes,
    )


def _run_hierarchical(training_rows: pd.DataFrame, targets: pd.DataFrame, config: FitConfig,
                      n_boot: int, progress: bool) -> tuple[np.ndarray, dict]:
    forecaster = EmergenceForecaster(config).fit(training_rows, progress=progress)
    success, _ = forecaster.predictive_draws(targets)
    report = forecaster.diagnostics.to_dict() if forecaster.diagnostics else {}
    report["notes"] = list(report.get("warnings", [])) + list(forecaster.design.notes)
    return success.T, report


def _run_b1(training_rows: pd.DataFrame, targets: pd.DataFrame, config: FitConfig,
            n_boot: int, progress: bool) -> tuple[np.ndarray, dict]:
    baseline = fit_success_logistic(training_rows, success_metric=config.success_metric, tasks=config.tasks)
    return _baseline_draws(baseline, targets, config, n_boot)


def _run_b2(training_rows: pd.DataFrame, targets: pd.DataFrame, config: FitConfig,
            n_boot: int, progress: bool) -> tuple[np.ndarray, dict]:
    baseline = fit_two_step(training_rows, smooth_metric=config.smooth_metric,
                            success_metric=config.success_metric, tasks=config.tasks)
    return _baseline_draws(baseline, targets, config, n_boot)


def _baseline_draws(baseline: BaselineFit, targets: pd.DataFrame, config: FitConfig,
                    n_boot: int) -> tuple[np.ndarray, dict]:
    """Bootstrap draws (n_targets, n_boot), seeded by ``config.seed``, and the fit's report."""
    samples = baseline.sample(targets, n_boot=n_boot, rng=np.random.default_rng(config.seed))
    return samples, {"n_boot": n_boot, "parameters": _records(baseline.parameters()), "notes": baseline.notes}


_RUNNERS: dict[str, Callable[..., tuple[np.ndarray, dict]]] = {
    "hierarchical": _run_hierarchical,
    "B1_logistic": _run_b1,
    "B2_two_step": _run_b2,
}


def _check_split(training_rows: pd.DataFrame, targets: pd.DataFrame) -> None:
    if training_rows.empty:
        raise ValueError("no model is at or below the training cut")
    if targets.empty:
        raise ValueError("no held-out model above the training cut has a success result on a trained task")


def _untrained_task_notes(heldout_rows: pd.DataFrame, smooth_metric: str, trained_tasks: list[str]) -> list[str]:
    tasks = set(heldout_rows.loc[heldout_rows["metric"] != smooth_metric, "task"]) - set(trained_tasks)
    return [f"tasks with no training model, not scored: {sorted(tasks)}"] if tasks else []


def _n_models(rows: pd.DataFrame) -> int:
    return int(rows[MODEL_KEY].drop_duplicates().shape[0])


def _model_names(rows: pd.DataFrame) -> list[str]:
    keys = rows[MODEL_KEY + ["compute_flops"]].drop_duplicates(MODEL_KEY).sort_values("compute_flops")
    return [f"{f}/{m}" for f, m in zip(keys["family"], keys["model"])]


def _say(progress: bool, message: str) -> None:
    if progress:
        print(message, file=sys.stderr, flush=True)


def _records(frame: pd.DataFrame) -> list[dict]:
    return json.loads(frame.to_json(orient="records"))


def _json_edges() -> list[float | str]:
    return [e if math.isfinite(e) else "inf" for e in RATIO_BIN_EDGES]


def _json_default(value: object) -> object:
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)
