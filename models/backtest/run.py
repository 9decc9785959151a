"""Blind backtests: fit on the small models only, predict every held-out model, score every method alike.

A backtest cuts an eval table at a parameter count (or training compute): models at or below the cut
are the training set, models above it are held out. Four methods are fitted on the training rows
only and predict each held-out (model, task) success rate from its size and training tokens alone:

* ``hierarchical``: :class:`models.forecaster.EmergenceForecaster` (posterior predictive draws) with
  the config's trend form;
* ``hierarchical_stacked``: :class:`models.stacking.StackedForecaster`, the hierarchical model under
  every trend form (``compute``, ``params_tokens``) mixed by Bayesian stacking weights from a
  leave-largest-out check on the training rows (each form refitted without the training set's
  largest models), widened beyond the training range by the link discrepancy that check estimates
  (weights, discrepancy and check reported in the diagnostics); the fit of the config's own form is
  shared with ``hierarchical``;
* ``B1_logistic`` and ``B2_two_step``: the baselines of :mod:`forecast.baselines` (bootstrap draws).

A held-out model's smooth metric is never used: the hierarchical models and B2 predict it from their
trend in compute. Every method's draws are scored by the same :mod:`forecast.scoring` code.

Checkpoints: training rows follow ``config.link_checkpoints`` (with ``"all"`` the intermediate
checkpoints of the *training* runs inform the hierarchical model's link; the baselines use final
checkpoints only). Held-out targets are always final checkpoints, and the cut and the extrapolation
ratios use each run's final-checkpoint size and compute.

Several cuts form a *suite* (:func:`run_backtest_suite`): every scenario predicts the same models,
those above the largest cut, so scenarios differ only in how far they extrapolate. Without cuts the
suite is :func:`default_cuts`, the extrapolation-matched default.

Units: success and its quantiles are rates in [0, 1]; ``abs_error_points`` and every ``*_points``
column are percentage points (100 x rate); ``crps`` is in rate units per prediction; ``log10_flops``
is log10 training FLOPs; ``extrapolation_ratio`` is the target's training compute over the largest
training model's compute in the same family (1 = no extrapolation, 10 = ten times more compute);
``cut`` labels the scenario (e.g. ``params<=760M``).
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
from forecast.design import MODEL_KEY, heldout_targets, is_final_checkpoint, model_sizes, select_rows
from forecast.scoring import crps_ensemble, interval_coverage
from models.config import FitConfig
from models.forecaster import EmergenceForecaster
from models.stacking import TREND_FORMS, StackedForecaster

METHODS: tuple[str, ...] = ("hierarchical", "hierarchical_stacked", "B1_logistic", "B2_two_step")
RATIO_BIN_EDGES: tuple[float, ...] = (0.0, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0, math.inf)
"""Extrapolation-ratio bins (right-closed): <=1x, 1-3x, 3-10x, 10-30x, 30-100x, 100-300x, >300x."""
ALL_BIN = "all"
PREDICTION_COLUMNS: tuple[str, ...] = (
    "method", "family", "model", "task", "params", "tokens", "log10_flops", "extrapolation_ratio",
    "ratio_bin", "observed", "median", "q05", "q25", "q75", "q95", "abs_error_points", "crps",
    "covered_50", "covered_90", "width_50", "width_90", "cut",
)
SUMMARY_COLUMNS: tuple[str, ...] = (
    "method", "ratio_bin", "n", "mae_points", "crps_points", "coverage_50", "coverage_90",
    "width_50_points", "width_90_points", "cut",
)

SUITE_WINDOWS: tuple[tuple[str, float, float], ...] = (("near", 3.0, 30.0), ("far", 30.0, 300.0))
"""Default-suite windows of a cut's *reach* (compute of the largest held-out run over the largest
training run, right-closed): about one and about two decades of extrapolation."""
SUITE_MIN_TRAIN_RUNS = 3
SUITE_MIN_TRAIN_SIZES = 2
"""A default-suite cut must leave at least this many training runs, in at least this many sizes."""


@dataclass(frozen=True)
class Cut:
    """A training cut: models whose ``by`` (``"params"`` or ``"flops"``) is <= ``value`` train."""

    by: str
    value: float

    def __post_init__(self) -> None:
        if self.by not in ("params", "flops"):
            raise ValueError(f"a cut is by 'params' or 'flops', got {self.by!r}")
        if not (isinstance(self.value, (int, float, np.number)) and np.isfinite(self.value) and self.value > 0):
            raise ValueError(f"the training cut must be a positive number, got {self.value!r}")

    @property
    def column(self) -> str:
        return "params" if self.by == "params" else "compute_flops"

    @property
    def label(self) -> str:
        """``params<=760M`` (two significant digits) or ``flops<=1.7e+20``."""
        return f"params<={_si(self.value)}" if self.by == "params" else f"flops<={self.value:.2g}"

    def kwargs(self) -> dict[str, float | None]:
        return {"train_max_params": self.value if self.by == "params" else None,
                "train_max_flops": self.value if self.by == "flops" else None}


def _si(value: float) -> str:
    for scale, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if value >= scale:
            return f"{float(f'{value / scale:.2g}'):g}{suffix}"
    return f"{float(f'{value:.2g}'):g}"


@dataclass
class BacktestResult:
    """Everything one backtest scenario produced. See the module docstring for units.

    ``predictions``: one row per held-out (model, task) per method (``PREDICTION_COLUMNS``).
    ``summary``: per method over all targets (``ratio_bin == "all"``) and per method x ratio bin.
    ``training_rows``: exactly the eval-table rows every method was given (checkpoints included when
    the config links on all checkpoints). ``reach``: the largest extrapolation ratio of the scenario.
    ``stacking_weights``: trend form -> weight, when ``hierarchical_stacked`` ran.
    """

    predictions: pd.DataFrame
    summary: pd.DataFrame
    training_rows: pd.DataFrame
    training_models: list[str]
    heldout_models: list[str]
    cut: dict[str, float | None]
    diagnostics: dict[str, dict] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    label: str = ""
    reach: float = float("nan")
    stacking_weights: dict[str, float] | None = None

    def meta(self) -> dict:
        """The scenario's description (no scores), as JSON-able data."""
        return {"label": self.label, "cut": self.cut, "reach": self.reach, "training_models": self.training_models,
                "heldout_models": self.heldout_models, "stacking_weights": self.stacking_weights,
                "notes": self.notes}

    def write(self, out_dir: str | Path) -> list[Path]:
        """Write predictions.csv, summary.csv, summary.json and diagnostics.json into ``out_dir``."""
        return BacktestSuite([self]).write(out_dir)


@dataclass
class BacktestSuite:
    """Several backtest scenarios (cuts) on one table, reported together with a ``cut`` column."""

    scenarios: list[BacktestResult]

    @property
    def predictions(self) -> pd.DataFrame:
        return pd.concat([s.predictions for s in self.scenarios], ignore_index=True)

    @property
    def summary(self) -> pd.DataFrame:
        return pd.concat([s.summary for s in self.scenarios], ignore_index=True)

    @property
    def notes(self) -> list[str]:
        single = len(self.scenarios) == 1
        return [n if single else f"{s.label}: {n}" for s in self.scenarios for n in s.notes]

    def write(self, out_dir: str | Path) -> list[Path]:
        """Write predictions.csv, summary.csv, summary.json and diagnostics.json into ``out_dir``.

        The CSVs hold every scenario (column ``cut``). summary.json lists the scenarios under
        ``scenarios``; with a single scenario it also carries its ``cut``, ``training_models`` and
        ``heldout_models`` at the top level. diagnostics.json is ``{method: {...}}`` for a single
        scenario and ``{cut label: {method: {...}}}`` for several.
        """
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = [out / "predictions.csv", out / "summary.csv", out / "summary.json", out / "diagnostics.json"]
        self.predictions.to_csv(paths[0], index=False)
        self.summary.to_csv(paths[1], index=False)
        meta: dict = {}
        if len(self.scenarios) == 1:
            only = self.scenarios[0]
            meta |= {"cut": only.cut, "training_models": only.training_models, "heldout_models": only.heldout_models}
        meta |= {"scenarios": [s.meta() for s in self.scenarios], "ratio_bin_edges": _json_edges(),
                 "units": {"mae_points": "percentage points", "crps_points": "percentage points",
                           "width_50_points": "percentage points", "width_90_points": "percentage points",
                           "coverage_50": "fraction of held-out results inside the 25-75% interval",
                           "coverage_90": "fraction inside the 5-95% interval",
                           "reach": "compute of the largest held-out run / largest training run"},
                 "summary": _records(self.summary), "notes": self.notes}
        paths[2].write_text(json.dumps(meta, indent=2, default=_json_default))
        diagnostics = self.scenarios[0].diagnostics if len(self.scenarios) == 1 else \
            {s.label: s.diagnostics for s in self.scenarios}
        paths[3].write_text(json.dumps(diagnostics, indent=2, default=_json_default))
        return paths


# ============================================================================ splitting
def split_by_size(
    rows: pd.DataFrame, train_max_params: float | None = None, train_max_flops: float | None = None,
    heldout_above: float | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(training rows, held-out rows): a *model* trains when its final params (or compute) is <= the cut.

    Every row of a training model is kept (its intermediate checkpoints included, if any); held-out
    rows are final checkpoints only. ``heldout_above`` (same unit as the cut, >= it) holds out only
    models above it: models between the cut and ``heldout_above`` are neither trained on nor predicted.
    """
    if (train_max_params is None) == (train_max_flops is None):
        raise ValueError("give exactly one of train_max_params or train_max_flops")
    cut = Cut("params", train_max_params) if train_max_params is not None else Cut("flops", train_max_flops)
    if heldout_above is not None and not heldout_above >= cut.value:
        raise ValueError(f"heldout_above ({heldout_above!r}) must be at least the cut ({cut.value!r})")
    sizes = model_sizes(rows)
    values = pd.to_numeric(sizes[cut.column], errors="coerce").to_numpy(float)
    if not np.all(np.isfinite(values)):
        raise ValueError(f"every selected model needs a finite {cut.column!r} to apply the cut")
    key = pd.MultiIndex.from_frame(rows[MODEL_KEY])
    size_of = pd.Series(values, index=pd.MultiIndex.from_frame(sizes[MODEL_KEY]))
    row_size = size_of.reindex(key).to_numpy(float)
    train = row_size <= cut.value
    heldout = (row_size > (cut.value if heldout_above is None else heldout_above)) & is_final_checkpoint(rows).to_numpy()
    return rows[train].reset_index(drop=True), rows[heldout].reset_index(drop=True)


def extrapolation_ratios(targets: pd.DataFrame, training_rows: pd.DataFrame) -> np.ndarray:
    """Target compute over the largest final-checkpoint training compute of its family (of all
    families if none), shape (n,)."""
    sizes = model_sizes(training_rows)
    largest = sizes.groupby("family")["compute_flops"].max()
    overall = float(sizes["compute_flops"].max())
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


# ============================================================================ the default suite
def default_cuts(table: pd.DataFrame, config: FitConfig) -> list[Cut]:
    """The extrapolation-matched default suite: up to two parameter cuts derived from the sizes present.

    A candidate cut sits at each model size (params) that leaves at least ``SUITE_MIN_TRAIN_RUNS``
    training runs in at least ``SUITE_MIN_TRAIN_SIZES`` sizes (a trend in N needs two sizes). Its
    *reach* is the compute of the largest run above the cut over the largest run at or below it (the
    scenario's largest extrapolation ratio). For each window of ``SUITE_WINDOWS`` (``near``: reach
    3-30x, about one decade; ``far``: 30-300x, about two) the suite takes the smallest such cut, i.e.
    the longest extrapolation inside the window. Largest cut first. On the OLMo-2 ladder this gives
    <= 760M (reach 17x) and <= 370M (73x); on Pythia <= 410M (29x; 160M leaves only 2 runs).
    Raises ValueError when the selection spans several families or no cut qualifies.
    """
    rows = select_rows(table, config.smooth_metric, config.success_metric, config.tasks, config.families)
    families = sorted(rows["family"].astype(str).unique())
    if len(families) > 1:
        raise ValueError(f"the default backtest suite needs one model family, the selection has {families}: "
                         "choose one (--family) or give the cut (--train-max-params)")
    sizes = model_sizes(rows)
    params = pd.to_numeric(sizes["params"], errors="coerce").to_numpy(float)
    flops = pd.to_numeric(sizes["compute_flops"], errors="coerce").to_numpy(float)
    if not (np.all(np.isfinite(params)) and np.all(np.isfinite(flops))):
        raise ValueError("every selected model needs finite params and compute to derive the default cuts")
    reach_of: dict[float, float] = {}
    for cut in np.unique(params)[:-1]:
        train = params <= cut
        if train.sum() >= SUITE_MIN_TRAIN_RUNS and len(np.unique(params[train])) >= SUITE_MIN_TRAIN_SIZES:
            reach_of[float(cut)] = float(flops[~train].max() / flops[train].max())
    chosen = []
    for _, lo, hi in SUITE_WINDOWS:
        inside = [cut for cut, reach in reach_of.items() if lo < reach <= hi]
        if inside and min(inside) not in chosen:
            chosen.append(min(inside))
    if not chosen:
        found = ", ".join(f"{_si(c)} ({r:.3g}x)" for c, r in sorted(reach_of.items())) or "none"
        raise ValueError("no default backtest cut: no model size leaves >= 3 training runs in >= 2 sizes with "
                         f"a reach of 3-300x (candidates: {found}); give --train-max-params")
    return [Cut("params", c) for c in sorted(chosen, reverse=True)]


# ============================================================================ scoring
def score_samples(method: str, targets: pd.DataFrame, samples: np.ndarray, ratios: np.ndarray,
                  cut: str = "") -> pd.DataFrame:
    """Score success draws ``samples`` (n_targets, n_draws) against ``targets["observed"]``.

    Any method with sample draws is scored here, so every method's numbers come from the same
    ``forecast.scoring`` functions. ``cut`` labels the scenario.
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
        "cut": cut,
    })[list(PREDICTION_COLUMNS)]


def summarize(predictions: pd.DataFrame) -> pd.DataFrame:
    """Per cut x method (``ratio_bin == "all"``) and per cut x method x extrapolation-ratio bin."""
    rows = []
    order = [_bin_label(lo, hi) for lo, hi in zip(RATIO_BIN_EDGES[:-1], RATIO_BIN_EDGES[1:])]
    if "cut" not in predictions.columns:
        predictions = predictions.assign(cut="")
    for cut in pd.unique(predictions["cut"]):
        scenario = predictions[predictions["cut"] == cut]
        present = set(scenario["method"])
        methods = [m for m in METHODS if m in present] + sorted(present - set(METHODS))
        for method in methods:
            own = scenario[scenario["method"] == method]
            rows.append(_summary_row(method, ALL_BIN, own, cut))
            for label in order:
                in_bin = own[own["ratio_bin"] == label]
                if len(in_bin):
                    rows.append(_summary_row(method, label, in_bin, cut))
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))


def _summary_row(method: str, ratio_bin: str, rows: pd.DataFrame, cut: str) -> dict:
    return {
        "method": method, "ratio_bin": ratio_bin, "n": int(len(rows)),
        "mae_points": float(rows["abs_error_points"].mean()),
        "crps_points": float(100.0 * rows["crps"].mean()),
        "coverage_50": float(rows["covered_50"].mean()),
        "coverage_90": float(rows["covered_90"].mean()),
        "width_50_points": float(100.0 * rows["width_50"].mean()),
        "width_90_points": float(100.0 * rows["width_90"].mean()),
        "cut": cut,
    }


def format_summary_table(summary: pd.DataFrame, bins: bool = True) -> str:
    """The summary as a markdown table (points = percentage points; coverage as a percentage).

    A ``cut`` column leads when the summary has more than one scenario.
    """
    shown = summary if bins else summary[summary["ratio_bin"] == ALL_BIN]
    with_cut = "cut" in summary.columns and summary["cut"].nunique() > 1
    head = "| cut " if with_cut else ""
    header = (f"{head}| method | extrapolation | n | MAE (pts) | CRPS (pts) | 50% cov. | 90% cov. | "
              "50% width (pts) | 90% width (pts) |\n"
              f"{'|---' if with_cut else ''}|---|---|---:|---:|---:|---:|---:|---:|---:|")
    lines = [header]
    for row in shown.itertuples(index=False):
        lead = f"| {row.cut} " if with_cut else ""
        lines.append(f"{lead}| {row.method} | {row.ratio_bin} | {row.n} | {row.mae_points:.2f} | "
                     f"{row.crps_points:.2f} | {100 * row.coverage_50:.0f}% | {100 * row.coverage_90:.0f}% | "
                     f"{row.width_50_points:.1f} | {row.width_90_points:.1f} |")
    return "\n".join(lines)


def format_weights(result: BacktestResult) -> str:
    """``compute 0.62, params_tokens 0.38 (leave_largest_out; link discrepancy 0.15 spreads/decade)``
    (empty when stacking did not run)."""
    if not result.stacking_weights:
        return ""
    weights = ", ".join(f"{form} {w:.2f}" for form, w in result.stacking_weights.items())
    stacked = result.diagnostics.get("hierarchical_stacked", {})
    if "weighting" not in stacked:
        return weights
    return (f"{weights} ({stacked['weighting']}; link discrepancy {stacked['link_discrepancy']:.2f} "
            "spreads/decade)")


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
    heldout_above: float | None = None,
    label: str | None = None,
) -> BacktestResult:
    """Fit every method on the models at or below the cut and score its predictions of the rest.

    ``table``: a validated eval table. Rows are selected as for a fit (``config``'s metrics, tasks,
    families, and ``link_checkpoints``/``checkpoints_per_run``). Exactly one of ``train_max_params``
    (parameter count) or ``train_max_flops`` (training FLOPs) sets the cut; ``heldout_above`` (same
    unit) predicts only the models above it. ``n_boot`` is the baselines' bootstrap size. ``methods``
    selects a subset of ``METHODS``. ``label`` names the scenario (default: the cut, e.g.
    ``params<=760M``). Raises ValueError when nothing is held out or nothing trains.
    """
    unknown = sorted(set(methods) - set(METHODS))
    if unknown or not methods:
        raise ValueError(f"unknown methods {unknown}; choose from {list(METHODS)}")
    selected = select_rows(table, config.smooth_metric, config.success_metric, config.tasks, config.families,
                           config.link_checkpoints, config.checkpoints_per_run)
    training_rows, heldout_rows = split_by_size(selected, train_max_params, train_max_flops, heldout_above)
    label = label or Cut("params" if train_max_params is not None else "flops",
                         train_max_params if train_max_params is not None else train_max_flops).label
    trained_tasks = sorted(set(training_rows.loc[training_rows["metric"] != config.smooth_metric, "task"]))
    targets = heldout_targets(heldout_rows, config.smooth_metric, trained_tasks)
    notes = _untrained_task_notes(heldout_rows, config.smooth_metric, trained_tasks)
    targets, family_notes = _drop_untrained_families(targets, training_rows)
    notes.extend(family_notes)
    _check_split(training_rows, targets)
    ratios = extrapolation_ratios(targets, training_rows)
    context = _Context(training_rows, targets, config, n_boot, progress)
    scored, diagnostics = [], {}
    for method in [m for m in METHODS if m in methods]:
        start = time.perf_counter()
        _say(progress, f"backtest {label}: {method} on {_n_models(training_rows)} training models, "
                       f"{len(targets)} held-out results")
        samples, diagnostics[method] = _RUNNERS[method](context)
        diagnostics[method]["seconds"] = time.perf_counter() - start
        notes.extend(f"{method}: {n}" for n in diagnostics[method].get("notes", []))
        scored.append(score_samples(method, targets, samples, ratios, label))
    predictions = pd.concat(scored, ignore_index=True)
    weights = diagnostics.get("hierarchical_stacked", {}).get("weights")
    if weights:
        _say(progress, f"backtest {label}: stacking weights " +
             ", ".join(f"{form} {w:.2f}" for form, w in weights.items()))
    return BacktestResult(
        predictions=predictions, summary=summarize(predictions), training_rows=training_rows,
        training_models=_model_names(training_rows), heldout_models=_model_names(targets),
        cut={"train_max_params": train_max_params, "train_max_flops": train_max_flops},
        diagnostics=diagnostics, notes=notes, label=label, reach=float(np.max(ratios)),
        stacking_weights=weights,
    )


def _drop_untrained_families(targets: pd.DataFrame, training_rows: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Held-out results of families with no training run cannot be forecast (a family's curve and
    link shifts come from its own runs): they are left out, with a note."""
    trained = set(training_rows["family"].astype(str))
    keep = targets["family"].astype(str).isin(trained)
    if keep.all():
        return targets, []
    missing = sorted(set(targets.loc[~keep, "family"].astype(str)))
    return targets[keep].reset_index(drop=True), [
        f"{int((~keep).sum())} held-out results of families with no training run ({', '.join(missing)}) are not scored"]


def run_backtest_suite(
    table: pd.DataFrame,
    cuts: Sequence[Cut] | None = None,
    *,
    config: FitConfig,
    n_boot: int = 200,
    progress: bool = True,
    methods: Sequence[str] = METHODS,
    on_scenario: Callable[[BacktestResult], None] | None = None,
) -> BacktestSuite:
    """One backtest per cut (largest first), all predicting the models above the largest cut.

    ``cuts``: all by params or all by flops; ``None`` means :func:`default_cuts`. ``on_scenario`` is
    called with each finished scenario (to print it while the next one fits).
    """
    cuts = list(default_cuts(table, config) if cuts is None else cuts)
    if not cuts:
        raise ValueError("no training cut given")
    if len({c.by for c in cuts}) > 1:
        raise ValueError("all cuts of a suite must be by params or all by flops")
    if len({c.value for c in cuts}) < len(cuts):
        raise ValueError(f"duplicate cuts: {[c.label for c in cuts]}")
    cuts = sorted(cuts, key=lambda c: c.value, reverse=True)
    largest = cuts[0].value
    scenarios = []
    for i, cut in enumerate(cuts):
        _say(progress, f"backtest scenario {i + 1}/{len(cuts)}: train on {cut.label}, "
                       f"predict the models above {cuts[0].label.split('<=')[1]}")
        result = run_backtest(table, **cut.kwargs(), config=config, n_boot=n_boot, progress=progress,
                              methods=methods, heldout_above=largest, label=cut.label)
        scenarios.append(result)
        if on_scenario is not None:
            on_scenario(result)
    return BacktestSuite(scenarios)


@dataclass
class _Context:
    """One scenario's inputs, and its hierarchical fits per trend form (shared between methods)."""

    training_rows: pd.DataFrame
    targets: pd.DataFrame
    config: FitConfig
    n_boot: int
    progress: bool
    fits: dict[str, EmergenceForecaster] = field(default_factory=dict)

    def fit(self, form: str) -> tuple[EmergenceForecaster, bool]:
        """The hierarchical model under trend ``form`` fitted on the training rows; (fit, reused?)."""
        if form in self.fits:
            return self.fits[form], True
        config = self.config.model_copy(update={"trend": form})
        self.fits[form] = EmergenceForecaster(config).fit(self.training_rows, progress=self.progress)
        return self.fits[form], False


def _run_hierarchical(ctx: _Context) -> tuple[np.ndarray, dict]:
    forecaster, _ = ctx.fit(ctx.config.trend)
    success, _ = forecaster.predictive_draws(ctx.targets)
    report = forecaster.diagnostics.to_dict() if forecaster.diagnostics else {}
    report["trend"] = ctx.config.trend
    report["notes"] = list(report.get("warnings", [])) + list(forecaster.design.notes)
    return success.T, report


def _run_stacked(ctx: _Context) -> tuple[np.ndarray, dict]:
    """Every trend form (the config's own first), mixed by stacking weights; reused fits are not refitted."""
    forms = (ctx.config.trend, *[f for f in TREND_FORMS if f != ctx.config.trend])
    fitted = {form: ctx.fit(form) for form in forms}
    stack = StackedForecaster.from_fits({form: f for form, (f, _) in fitted.items()}, ctx.config,
                                        progress=ctx.progress)
    success, _ = stack.predictive_draws(ctx.targets)
    per_form = {form: (f.diagnostics.to_dict() if f.diagnostics else {}) for form, (f, _) in fitted.items()}
    report = stack.diagnostics.to_dict() if all(per_form.values()) else {}
    comparison = stack.comparison
    report |= {"weights": dict(stack.weights), "weighting": stack.weights_from, "forms": per_form,
               "link_discrepancy": stack.link_discrepancy, "leave_largest_out": stack.check,
               "reused_fits": [form for form, (_, reused) in fitted.items() if reused],
               "loo": _records(comparison.reset_index()) if comparison is not None else []}
    report["notes"] = list(report.get("warnings", [])) + stack.notes + _stacking_notes(stack.weights, comparison)
    return success.T, report


DEGENERATE_WEIGHT = 0.99
"""A stacking weight at or above this puts (almost) everything on one form: no disagreement is mixed in."""


def _stacking_notes(weights: dict[str, float], comparison: pd.DataFrame | None) -> list[str]:
    notes = []
    top = max(weights, key=weights.get)
    if len(weights) > 1 and weights[top] >= DEGENERATE_WEIGHT:
        notes.append(f"stacking put weight {weights[top]:.2f} on {top}: the mixture is that form alone and carries "
                     "no disagreement between forms")
    if comparison is not None and "n_pareto_k_high" in comparison:
        for form, n in comparison["n_pareto_k_high"].items():
            if n > 0:
                notes.append(f"PSIS-LOO of {form}: {int(n)} smooth observations with a high Pareto k (max "
                             f"{comparison.loc[form, 'pareto_k_max']:.2f}); the stacking weights are unreliable")
    return notes


def _run_b1(ctx: _Context) -> tuple[np.ndarray, dict]:
    baseline = fit_success_logistic(ctx.training_rows, success_metric=ctx.config.success_metric, tasks=ctx.config.tasks)
    return _baseline_draws(baseline, ctx)


def _run_b2(ctx: _Context) -> tuple[np.ndarray, dict]:
    baseline = fit_two_step(ctx.training_rows, smooth_metric=ctx.config.smooth_metric,
                            success_metric=ctx.config.success_metric, tasks=ctx.config.tasks)
    return _baseline_draws(baseline, ctx)


def _baseline_draws(baseline: BaselineFit, ctx: _Context) -> tuple[np.ndarray, dict]:
    """Bootstrap draws (n_targets, n_boot), seeded by ``config.seed``, and the fit's report."""
    samples = baseline.sample(ctx.targets, n_boot=ctx.n_boot, rng=np.random.default_rng(ctx.config.seed))
    return samples, {"n_boot": ctx.n_boot, "parameters": _records(baseline.parameters()), "notes": baseline.notes}


_RUNNERS: dict[str, Callable[[_Context], tuple[np.ndarray, dict]]] = {
    "hierarchical": _run_hierarchical,
    "hierarchical_stacked": _run_stacked,
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
    keys = model_sizes(rows).sort_values("compute_flops", kind="stable")
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
