"""What a backtest reports: scored predictions, summaries, tables, and the files it writes.

:func:`score_samples` scores any method's success draws with the same :mod:`forecast.scoring` code;
:func:`summarize` averages the scores per cut x method and per extrapolation-ratio bin;
:func:`format_summary_table` and :func:`format_weights` print them; :class:`BacktestResult` (one
scenario) and :class:`BacktestSuite` (several cuts) write predictions.csv, summary.csv, summary.json
and diagnostics.json.

Units: success and its quantiles are rates in [0, 1]; ``abs_error_points`` and every ``*_points``
column are percentage points (100 x rate); ``crps`` is in rate units per prediction; ``log10_flops``
is log10 training FLOPs; ``extrapolation_ratio`` is the target's training compute over the largest
training model's compute in the same family (1 = no extrapolation, 10 = ten times more compute);
``cut`` labels the scenario (e.g. ``params<=760M``).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from forecast.scoring import crps_ensemble, interval_coverage, numeric_calibration
from models.backtest.cuts import RATIO_BIN_EDGES, RATIO_BINS, ratio_bin_labels

METHODS: tuple[str, ...] = ("hierarchical", "hierarchical_stacked", "B1_logistic", "B2_two_step")
"""The methods a backtest can run, in the order it runs and reports them."""
ALL_BIN = "all"
PREDICTION_COLUMNS: tuple[str, ...] = (
    "method", "family", "model", "task", "params", "tokens", "log10_flops", "extrapolation_ratio",
    "ratio_bin", "observed", "median", "q05", "q25", "q75", "q95", "abs_error_points", "crps",
    "covered_50", "covered_90", "width_50", "width_90", "pit", "cut",
)
SUMMARY_COLUMNS: tuple[str, ...] = (
    "method", "ratio_bin", "n", "mae_points", "crps_points", "coverage_50", "coverage_90",
    "width_50_points", "width_90_points", "cut",
)


@dataclass
class BacktestResult:
    """Everything one backtest scenario produced. See the module docstring for units.

    ``predictions``: one row per held-out (model, task) per method (``PREDICTION_COLUMNS``).
    ``summary``: per method over all targets (``ratio_bin == "all"``) and per method x ratio bin.
    ``training_rows``: exactly the eval-table rows every method was given (checkpoints included when
    the config links on all checkpoints). ``reach``: the largest extrapolation ratio of the scenario.
    ``stacking_weights``: trend form -> weight, when ``hierarchical_stacked`` ran. ``shuffle``: the
    shuffle test's result when asked for; ``discrimination``: each method's jump discrimination
    (both from :mod:`models.backtest.shuffle`). ``ratio_by``: what the extrapolation ratio (and its
    bins) measures, ``compute`` or ``tokens`` (tokens per parameter, the token scenarios).
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
    shuffle: dict | None = None
    discrimination: list[dict] = field(default_factory=list)
    smooth_choice: dict | None = None
    ratio_by: str = "compute"

    def meta(self) -> dict:
        """The scenario's description (no scores), as JSON-able data."""
        return {"label": self.label, "cut": self.cut, "reach": self.reach, "ratio_by": self.ratio_by,
                "training_models": self.training_models,
                "heldout_models": self.heldout_models, "stacking_weights": self.stacking_weights,
                "jump_discrimination": self.discrimination, "shuffle_test": self.shuffle, "notes": self.notes,
                "smooth_choice": self.smooth_choice}

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
        """Write predictions.csv, summary.csv, summary.json, diagnostics.json and pit.png (the PIT
        histograms, :func:`models.plots.backtest_pit_figure`) into ``out_dir``.

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
                           "reach": "compute of the largest held-out run / largest training run",
                           "jump_discrimination": "Spearman and AUC (jump > 10 points) of predicted vs actual "
                                                  "jump over the largest training run's success",
                           "shuffle_test": "CRPS and MAE ratios, smooth series shuffled across tasks / real",
                           "calibration": f"per cut x method x extrapolation bin: coverage of the central 50%/90% "
                                          f"intervals from the PIT, and the PIT histogram (counts in {PIT_BINS} "
                                          "equal bins of [0, 1]; flat when calibrated, U-shaped when too narrow, "
                                          "piled at 1 when the results lie above the forecasts)"},
                 "summary": records(self.summary), "calibration": calibration_records(self.predictions),
                 "notes": self.notes}
        paths[2].write_text(json.dumps(meta, indent=2, default=_json_default))
        diagnostics = self.scenarios[0].diagnostics if len(self.scenarios) == 1 else \
            {s.label: s.diagnostics for s in self.scenarios}
        paths[3].write_text(json.dumps(diagnostics, indent=2, default=_json_default))
        from models.plots import backtest_pit_plot

        paths.append(out / "pit.png")
        paths[4].write_bytes(backtest_pit_plot(meta["calibration"]))
        return paths


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
        "pit": ensemble_pit(observed, draws),
        "cut": cut,
    })[list(PREDICTION_COLUMNS)]


def ensemble_pit(observed: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """Probability integral transform of each observation under its draws (n,): the share of draws
    below it, ties counted half (uniform on [0, 1] for a calibrated forecaster)."""
    y = np.asarray(observed, dtype=float)[:, None]
    return ((draws < y).sum(axis=1) + 0.5 * (draws == y).sum(axis=1)) / draws.shape[1]


PIT_BINS = 10
"""Equal-width bins of the PIT histograms in summary.json's ``calibration``."""


def calibration_records(predictions: pd.DataFrame) -> list[dict]:
    """Per cut x method x extrapolation bin (and ``all``): n, 50%/90% coverage and the PIT histogram
    (counts in :data:`PIT_BINS` equal bins of [0, 1]; flat when calibrated), from the ``pit`` column."""
    out = []
    frame = predictions if "cut" in predictions.columns else predictions.assign(cut="")
    for cut in pd.unique(frame["cut"]):
        scenario = frame[frame["cut"] == cut]
        present = set(scenario["method"])
        for method in [m for m in METHODS if m in present] + sorted(present - set(METHODS)):
            own = scenario[scenario["method"] == method]
            for label in (ALL_BIN, *RATIO_BINS):
                rows = own if label == ALL_BIN else own[own["ratio_bin"] == label]
                if len(rows):
                    out.append({"cut": cut, "method": method, "ratio_bin": label}
                               | numeric_calibration(rows["pit"].to_numpy(float), PIT_BINS))
    return out


def summarize(predictions: pd.DataFrame) -> pd.DataFrame:
    """Per cut x method (``ratio_bin == "all"``) and per cut x method x extrapolation-ratio bin."""
    rows = []
    if "cut" not in predictions.columns:
        predictions = predictions.assign(cut="")
    for cut in pd.unique(predictions["cut"]):
        scenario = predictions[predictions["cut"] == cut]
        present = set(scenario["method"])
        methods = [m for m in METHODS if m in present] + sorted(present - set(METHODS))
        for method in methods:
            own = scenario[scenario["method"] == method]
            rows.append(_summary_row(method, ALL_BIN, own, cut))
            for label in RATIO_BINS:
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
    """The stacking weights as ``<form> <weight>, ...``, followed by ``(<weighting>; link discrepancy
    <delta> spreads/decade)`` when the stack reported them (empty when stacking did not run)."""
    if not result.stacking_weights:
        return ""
    weights = weights_line(result.stacking_weights)
    stacked = result.diagnostics.get("hierarchical_stacked", {})
    if "weighting" not in stacked:
        return weights
    token = stacked.get("token_discrepancy")
    return (f"{weights} ({stacked['weighting']}; link discrepancy {stacked['link_discrepancy']:.2f} "
            "spreads/decade" + (f", {token:.2f} per decade of tokens/param)" if token is not None else ")"))


def weights_line(weights: dict[str, float]) -> str:
    """``<form> <weight>, ...`` with two decimals."""
    return ", ".join(f"{form} {w:.2f}" for form, w in weights.items())


def records(frame: pd.DataFrame) -> list[dict]:
    """The rows of ``frame`` as JSON-able dicts (NaN -> None)."""
    return json.loads(frame.to_json(orient="records"))


def _json_edges() -> list[float | str]:
    return [e if math.isfinite(e) else "inf" for e in RATIO_BIN_EDGES]


def _json_default(value: object) -> object:
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)
