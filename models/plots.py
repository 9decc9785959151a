"""Plots shared by the CLI (`turnsignal plot ...`) and the API: matplotlib with the Agg backend,
returned as PNG or SVG bytes. Numpy draws only (no PyMC).

- `emergence_curve(forecaster, task)`: observed points, posterior median and 50%/90% bands of
  expected success (top) and of the smooth metric (bottom) against log10 training compute (FLOPs),
  along the training set's tokens-per-parameter path; the emergence median and target scales marked.
- `calibration_plots(bins, pit_histogram)`: reliability diagram (binary forecasts) and PIT
  histogram (numeric forecasts) of one participant.
"""
from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

FIGSIZE_INCHES = (8.0, 6.0)
DPI = 100  # PNG size in pixels = FIGSIZE_INCHES * DPI = 800 x 600


def _figure(nrows: int, ncols: int = 1):
    """A standalone Figure (no pyplot state, so thread-safe in the API) and its axes array."""
    from matplotlib.figure import Figure  # Agg canvas: Figure.savefig needs no GUI backend

    figure = Figure(figsize=FIGSIZE_INCHES, dpi=DPI)
    return figure, figure.subplots(nrows, ncols, sharex=(nrows > 1), squeeze=False).ravel()


def _bytes(figure, fmt: str) -> bytes:
    if fmt not in ("png", "svg"):
        raise ValueError(f"format must be png or svg, not {fmt!r}")
    buffer = io.BytesIO()
    figure.savefig(buffer, format=fmt, dpi=DPI)
    return buffer.getvalue()


def _bands(ax, x: np.ndarray, draws: np.ndarray, color: str, label: str) -> None:
    q = np.quantile(draws, [0.05, 0.25, 0.5, 0.75, 0.95], axis=0)
    ax.fill_between(x, q[0], q[4], color=color, alpha=0.18, lw=0, label="90% band")
    ax.fill_between(x, q[1], q[3], color=color, alpha=0.35, lw=0, label="50% band")
    ax.plot(x, q[2], color=color, lw=1.8, label=label)


def emergence_curve(forecaster: Any, task: str, fmt: str = "png", target_scales: Mapping[str, float] | None = None,
                    n_grid: int = 200, max_draws: int = 1000) -> bytes:
    """Emergence curve of `task` from a fitted `EmergenceForecaster`; `target_scales` maps a label to
    log10 FLOPs marked with a vertical line."""
    design = forecaster.design
    if task not in design.tasks:
        raise ValueError(f"task {task!r} is not in this fit; fitted tasks: {design.tasks}")
    t = design.tasks.index(task)
    k = design.task_series[t]
    lo, hi = forecaster.search_range()
    grid = np.linspace(lo, hi, n_grid)
    r = design.tokens_per_param
    log10_params = 0.5 * (grid - np.log10(6.0 * r))
    log10_tokens = log10_params + np.log10(r)
    task_idx = np.full(grid.shape, t)
    smooth_std = forecaster.smooth_trend_draws(task_idx, log10_params, log10_tokens)
    success = forecaster.expected_success(task_idx, smooth_std)
    smooth = design.unstandardise(smooth_std, np.full(grid.shape, k))
    step = max(1, success.shape[0] // max_draws)
    success, smooth = success[::step], smooth[::step]

    figure, (top, bottom) = _figure(2)
    _bands(top, grid, success, "tab:blue", f"posterior median ({design.success_metric})")
    _bands(bottom, grid, smooth, "tab:green", f"posterior median ({forecaster.config.smooth_metric})")
    rows = forecaster.training_rows
    if rows is not None and len(rows):
        rows = rows[rows["task"].astype(str).isin([task, "*"])]
        x = np.log10(pd_numeric(rows, "compute_flops"))
        is_success = rows["metric"].astype(str).isin(forecaster.config.success_metric).to_numpy()
        values = pd_numeric(rows, "value")
        top.scatter(x[is_success], values[is_success], s=14, color="black", zorder=3, label="observed")
        bottom.scatter(x[~is_success], values[~is_success], s=14, color="black", zorder=3, label="observed")
    top.axhline(design.chance[t], color="grey", ls=":", lw=1, label="chance")
    median = float(np.median(forecaster.emergence_draws(task)))
    if np.isfinite(median):
        top.axvline(median, color="tab:red", ls="--", lw=1, label=f"emergence median {median:.2f}")
    for label, scale in (target_scales or {}).items():
        for ax in (top, bottom):
            ax.axvline(scale, color="tab:purple", ls="-.", lw=1)
        top.annotate(label, (scale, 0.98), xycoords=("data", "axes fraction"), rotation=90, va="top", ha="right",
                     fontsize=7, color="tab:purple")
    top.set_ylabel(f"success ({design.success_metric})")
    bottom.set_ylabel(forecaster.config.smooth_metric)
    bottom.set_xlabel("log10 training compute (FLOPs)")
    top.set_title(f"{task}: emergence curve")
    top.legend(fontsize=7, loc="upper left")
    figure.tight_layout()
    return _bytes(figure, fmt)


def pd_numeric(rows: Any, column: str) -> np.ndarray:
    import pandas as pd

    return pd.to_numeric(rows[column], errors="coerce").to_numpy(float)


def calibration_plots(bins: Sequence[Mapping[str, Any]], pit_histogram: Sequence[int], fmt: str = "png",
                      title: str = "") -> bytes:
    """Reliability diagram (mean forecast vs observed frequency per bin, point size ~ count) and PIT
    histogram (uniform = calibrated). `bins`: dicts with lower, upper, count, mean_forecast, observed_frequency."""
    figure, (left, right) = _figure(1, 2)
    left.plot([0, 1], [0, 1], color="grey", ls=":", lw=1, label="perfect")
    used = [b for b in bins if b.get("count") and b.get("mean_forecast") is not None]
    if used:
        left.plot([b["mean_forecast"] for b in used], [b["observed_frequency"] for b in used], color="tab:blue", lw=1)
        left.scatter([b["mean_forecast"] for b in used], [b["observed_frequency"] for b in used],
                     s=[20 + 10 * b["count"] for b in used], color="tab:blue", zorder=3, label="bins (size ~ n)")
    left.set_xlim(0, 1)
    left.set_ylim(0, 1)
    left.set_xlabel("forecast probability")
    left.set_ylabel("observed frequency")
    left.set_title("reliability (binary)")
    left.legend(fontsize=7, loc="upper left")
    counts = np.asarray(list(pit_histogram), dtype=float)
    if counts.size:
        edges = np.linspace(0, 1, counts.size + 1)
        right.bar(edges[:-1], counts, width=np.diff(edges), align="edge", color="tab:green", edgecolor="white")
        right.axhline(counts.sum() / counts.size, color="grey", ls=":", lw=1, label="uniform")
        right.legend(fontsize=7)
    right.set_xlim(0, 1)
    right.set_xlabel("PIT value")
    right.set_ylabel("count")
    right.set_title("PIT histogram (numeric)")
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return _bytes(figure, fmt)
