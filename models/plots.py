"""Plots shared by the CLI (`turnsignal plot ...`) and the API: matplotlib with the Agg backend,
returned as PNG or SVG bytes. Numpy draws only (no PyMC).

- `emergence_curve(forecaster, task)`: observed points, posterior median and 50%/90% bands of
  expected success (top) and of the smooth metric (bottom) against log10 training compute (FLOPs),
  along the training set's tokens-per-parameter path; the emergence median and target scales marked.
- `calibration_plots(bins, pit_histogram)`: reliability diagram (binary forecasts) and PIT
  histogram (numeric forecasts) of one participant.

Bad input (unknown task, unfitted forecaster, format other than png/svg, non-finite scales, malformed
bins or counts) raises ValueError with a message naming it, before anything is drawn. The key artists
carry SVG ids (`gid`): `band90-success`, `band50-success`, `median-success`, `observed-success` (and
`-smooth`), `chance`, `emergence-median`, `target-<i>`; `reliability-bins`, `pit-bar-<i>`.
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


def _check_format(fmt: str) -> None:
    if fmt not in ("png", "svg"):
        raise ValueError(f"format must be png or svg, not {fmt!r}")


def _bytes(figure, fmt: str) -> bytes:
    _check_format(fmt)
    buffer = io.BytesIO()
    figure.savefig(buffer, format=fmt, dpi=DPI)
    return buffer.getvalue()


def _bands(ax, x: np.ndarray, draws: np.ndarray, color: str, label: str, gid: str) -> None:
    q = np.quantile(draws, [0.05, 0.25, 0.5, 0.75, 0.95], axis=0)
    ax.fill_between(x, q[0], q[4], color=color, alpha=0.18, lw=0, label="90% band", gid=f"band90-{gid}")
    ax.fill_between(x, q[1], q[3], color=color, alpha=0.35, lw=0, label="50% band", gid=f"band50-{gid}")
    ax.plot(x, q[2], color=color, lw=1.8, label=label, gid=f"median-{gid}")


def emergence_curve(forecaster: Any, task: str, fmt: str = "png", target_scales: Mapping[str, float] | None = None,
                    n_grid: int = 200, max_draws: int = 1000) -> bytes:
    """Emergence curve of `task` from a fitted `EmergenceForecaster`; `target_scales` maps a label to
    log10 FLOPs marked with a vertical line."""
    _check_format(fmt)
    design = getattr(forecaster, "design", None)
    if design is None or getattr(forecaster, "idata", None) is None:
        raise ValueError("the forecaster is not fitted: fit or load one before plotting")
    if n_grid < 2 or max_draws < 1:
        raise ValueError(f"n_grid must be >= 2 and max_draws >= 1, not {n_grid} and {max_draws}")
    scales = {}
    for label, scale in (target_scales or {}).items():
        try:
            scales[str(label)] = float(scale)
        except (TypeError, ValueError):
            raise ValueError(f"target scale {label!r} must be a number (log10 FLOPs), not {scale!r}") from None
        if not np.isfinite(scales[str(label)]):
            raise ValueError(f"target scale {label!r} must be finite log10 FLOPs, not {scale!r}")
    if task not in design.tasks:
        raise ValueError(f"task {task!r} is not in this fit; fitted tasks: {design.tasks}")
    t = design.tasks.index(task)
    k = design.task_series[t]
    lo, hi = forecaster.search_range()
    grid = np.linspace(lo, hi, n_grid)
    smooth_std = forecaster.smooth_on_compute_path(t, grid)
    success = forecaster.expected_success(np.full(grid.shape, t), smooth_std)
    smooth = design.unstandardise(smooth_std, np.full(grid.shape, k))
    step = max(1, success.shape[0] // max_draws)
    success, smooth = success[::step], smooth[::step]

    figure, (top, bottom) = _figure(2)
    _bands(top, grid, success, "tab:blue", f"posterior median ({design.success_metric})", "success")
    _bands(bottom, grid, smooth, "tab:green", f"posterior median ({forecaster.config.smooth_metric})", "smooth")
    rows = forecaster.training_rows
    if rows is not None and len(rows):
        rows = rows[rows["task"].astype(str).isin([task, "*"])]
        x = np.log10(pd_numeric(rows, "compute_flops"))
        is_success = rows["metric"].astype(str).isin(forecaster.config.success_metric).to_numpy()
        values = pd_numeric(rows, "value")
        top.scatter(x[is_success], values[is_success], s=14, color="black", zorder=3, label="observed",
                    gid="observed-success")
        bottom.scatter(x[~is_success], values[~is_success], s=14, color="black", zorder=3, label="observed",
                       gid="observed-smooth")
    top.axhline(design.chance[t], color="grey", ls=":", lw=1, label="chance", gid="chance")
    median = float(np.median(forecaster.emergence_draws(task)))
    if np.isfinite(median):
        top.axvline(median, color="tab:red", ls="--", lw=1, label=f"emergence median {median:.2f}",
                    gid="emergence-median")
    for i, (label, scale) in enumerate(scales.items()):
        for ax, where in ((top, "success"), (bottom, "smooth")):
            ax.axvline(scale, color="tab:purple", ls="-.", lw=1, gid=f"target-{i}-{where}")
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
    _check_format(fmt)
    bins = list(bins)
    for i, b in enumerate(bins):
        count = b.get("count") if isinstance(b, Mapping) else None
        if not isinstance(count, (int, np.integer)) or isinstance(count, bool) or count < 0:
            raise ValueError(f"reliability bin {i}: count must be an integer >= 0, not {count!r}")
        if count:
            for key in ("mean_forecast", "observed_frequency"):
                value = b.get(key)
                if not isinstance(value, (int, float, np.number)) or not 0.0 <= float(value) <= 1.0:
                    raise ValueError(f"reliability bin {i}: {key} must be a number in [0, 1], not {value!r}")
    try:
        counts = np.asarray(list(pit_histogram), dtype=float)
    except (TypeError, ValueError):
        raise ValueError("pit_histogram must be a sequence of counts") from None
    if counts.ndim != 1 or not np.all(np.isfinite(counts)) or np.any(counts < 0):
        raise ValueError(f"pit_histogram must be finite counts >= 0, not {list(pit_histogram)!r}")
    figure, (left, right) = _figure(1, 2)
    left.plot([0, 1], [0, 1], color="grey", ls=":", lw=1, label="perfect")
    used = [b for b in bins if b.get("count") and b.get("mean_forecast") is not None]
    if used:
        left.plot([b["mean_forecast"] for b in used], [b["observed_frequency"] for b in used], color="tab:blue", lw=1)
        left.scatter([b["mean_forecast"] for b in used], [b["observed_frequency"] for b in used],
                     s=[20 + 10 * b["count"] for b in used], color="tab:blue", zorder=3, label="bins (size ~ n)",
                     gid="reliability-bins")
    left.set_xlim(0, 1)
    left.set_ylim(0, 1)
    left.set_xlabel("forecast probability")
    left.set_ylabel("observed frequency")
    left.set_title("reliability (binary)")
    left.legend(fontsize=7, loc="upper left")
    if counts.size:
        edges = np.linspace(0, 1, counts.size + 1)
        bars = right.bar(edges[:-1], counts, width=np.diff(edges), align="edge", color="tab:green", edgecolor="white")
        for i, bar in enumerate(bars):
            bar.set_gid(f"pit-bar-{i}")
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
