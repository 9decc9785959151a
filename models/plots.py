"""Plots shared by the CLI (`turnsignal plot ...`), the API and docs/make_figures.py: matplotlib
with the Agg backend (standalone Figures, no pyplot state), returned as PNG or SVG bytes by
`emergence_curve` / `calibration_plots`, or as the Figure by `emergence_figure` /
`calibration_figure`. Numpy draws only (no PyMC).

- `emergence_curve(forecaster, task)`: against training compute (log10 FLOPs) along the training
  set's tokens-per-parameter path, the task's success metric (top) and the smooth metric (bottom):
  observed points, the 90% posterior predictive band (where an observed result should fall: the
  model-to-model noise of the smooth metric and the success noise included), the posterior median
  and 50%/90% bands of the mean curve, chance, the emergence target level, the emergence scale's
  median and 90% interval (an arrow at the right edge when it lies beyond the searched range, with
  that probability), the training range shaded and optional target scales as vertical lines.
- `calibration_plots(bins, pit_histogram)`: reliability diagram of one participant's binary
  forecasts (observed frequency per bin with its 90% Wilson interval and count; ECE and the Brier
  decomposition in the legend) and, when it has numeric forecasts, their PIT histogram as a density
  against the uniform line.

Bad input (unknown task, unfitted forecaster, format other than png/svg, non-finite scales, malformed
bins, counts or summary numbers) raises ValueError naming it, before anything is drawn. Key artists
carry SVG ids (`gid`): `predictive90-success`, `band90-success`, `band50-success`, `median-success`,
`observed-success` (and `-smooth`), `chance`, `target-level`, `emergence-interval`,
`emergence-beyond`, `training-range-<panel>`, `target-<i>-<panel>`; `reliability-bins`,
`reliability-interval`, `bin-count-<k>`, `pit-bar-<i>`, `pit-uniform`.
"""
from __future__ import annotations

import io
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

FIGSIZE_INCHES = (8.0, 6.0)
DPI = 100  # PNG size in pixels = figsize * DPI; default 800 x 600
FONT = {"font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9, "legend.fontsize": 7.5,
        "xtick.labelsize": 8, "ytick.labelsize": 8, "axes.spines.top": False, "axes.spines.right": False}
WILSON_Z = 1.6448536269514722  # two-sided 90% normal quantile
SUCCESS_LABELS = {
    "acc": "accuracy", "acc_norm": "normalised accuracy", "len_norm": "length-normalised accuracy",
    "exact_match": "exact-match rate", "pass@1": "pass@1 rate",
}
SMOOTH_LABELS = {
    "bpb": "bits per byte of the correct answer", "bits_per_byte": "bits per byte",
    "nll": "negative log-likelihood (nats)", "ppl": "perplexity", "perplexity": "perplexity",
    "word_perplexity": "word perplexity", "byte_perplexity": "byte perplexity",
    "CrossEntropyLoss": "validation loss (nats per token)", "logp_correct": "log-prob. of the correct answer (nats)",
    "soft_log": "mean log-prob. of the correct choice (nats)", "p_correct": "probability of the correct answer",
    "soft": "mean probability of the correct choice",
}
X_LABEL = "training compute (log10 FLOPs)"
PREDICTIVE_COLOR, MEAN_COLOR, SMOOTH_COLOR, MARK_COLOR = "#9ecae1", "#08519c", "#238b45", "#cb181d"


# ------------------------------------------------------------------------------------- shared
def _figure(nrows: int, ncols: int = 1, figsize: tuple[float, float] | None = None, **kwargs: Any):
    """A standalone Figure (no pyplot state, so thread-safe in the API) and its axes array."""
    from matplotlib.figure import Figure  # Agg canvas: Figure.savefig needs no GUI backend

    figure = Figure(figsize=figsize or FIGSIZE_INCHES, dpi=DPI, layout="constrained")
    return figure, figure.subplots(nrows, ncols, squeeze=False, **kwargs).ravel()


def _check_format(fmt: str) -> None:
    if fmt not in ("png", "svg"):
        raise ValueError(f"format must be png or svg, not {fmt!r}")


def _check_figsize(figsize: tuple[float, float] | None) -> None:
    if figsize is not None and not (len(figsize) == 2 and all(np.isfinite(v) and 1 <= v <= 30 for v in figsize)):
        raise ValueError(f"figsize must be (width, height) in inches between 1 and 30, not {figsize!r}")


def _bytes(figure, fmt: str) -> bytes:
    buffer = io.BytesIO()
    metadata = {"Software": None} if fmt == "png" else {"Date": None}  # same bytes for the same figure
    figure.savefig(buffer, format=fmt, dpi=DPI, metadata=metadata)
    return buffer.getvalue()


def _drawn(draw, *args: Any):
    """`draw(*args) -> Figure`, run under this module's font sizes."""
    from matplotlib import rc_context

    with rc_context(FONT):
        return draw(*args)


def _note(text: str):
    """A legend entry with no symbol: a line of text."""
    from matplotlib.lines import Line2D

    return Line2D([], [], linestyle="none", marker="none", label=text)


# ----------------------------------------------------------------------------------- emergence
@dataclass(frozen=True)
class Emergence:
    """The emergence scale of one task (log10 FLOPs; `inf` = beyond the searched range)."""

    target: float  # success rate that defines emergence
    median: float
    q05: float
    q95: float
    p_beyond: float  # posterior probability of emerging beyond `search_hi`
    search_hi: float


@dataclass(frozen=True)
class Curve:
    """Everything drawn for one task: grid (G,) log10 FLOPs, draws (S, G) and observed rows."""

    grid: np.ndarray
    success_mean: np.ndarray
    success_predictive: np.ndarray
    smooth_mean: np.ndarray
    smooth_predictive: np.ndarray
    observed: Any  # the task's training rows (success and smooth), with an `x` column (log10 FLOPs)
    success_metric: str
    emergence: Emergence


def emergence_curve(forecaster: Any, task: str, fmt: str = "png", target_scales: Mapping[str, float] | None = None,
                    n_grid: int = 200, max_draws: int = 1000, level: float | None = 0.5,
                    success_at: float | None = None, figsize: tuple[float, float] | None = None) -> bytes:
    """`emergence_figure` as PNG or SVG bytes (`fmt`)."""
    _check_format(fmt)
    return _bytes(emergence_figure(forecaster, task, target_scales, n_grid, max_draws, level, success_at, figsize), fmt)


def emergence_figure(forecaster: Any, task: str, target_scales: Mapping[str, float] | None = None, n_grid: int = 200,
                     max_draws: int = 1000, level: float | None = 0.5, success_at: float | None = None,
                     figsize: tuple[float, float] | None = None):
    """Emergence chart of `task` from a fitted `EmergenceForecaster` (see the module docstring), a
    matplotlib Figure with two axes (success on top, smooth metric below).

    `target_scales` maps a label to log10 FLOPs marked with a vertical line; `level` / `success_at`
    define emergence as in `EmergenceForecaster.emergence_draws`; `n_grid` points of log10 FLOPs;
    `max_draws` thins the mean curve's draws; `figsize` in inches (default `FIGSIZE_INCHES`)."""
    _check_figsize(figsize)
    scales = _check_scales(target_scales)
    t = _task_index(forecaster, task, n_grid, max_draws)
    curve = _curve(forecaster, t, n_grid, max_draws, level, success_at, scales)
    return _drawn(_draw_emergence, forecaster, task, curve, scales, figsize)


def _check_scales(target_scales: Mapping[str, float] | None) -> dict[str, float]:
    scales = {}
    for label, scale in (target_scales or {}).items():
        try:
            scales[str(label)] = float(scale)
        except (TypeError, ValueError):
            raise ValueError(f"target scale {label!r} must be a number (log10 FLOPs), not {scale!r}") from None
        if not np.isfinite(scales[str(label)]):
            raise ValueError(f"target scale {label!r} must be finite log10 FLOPs, not {scale!r}")
    return scales


def _task_index(forecaster: Any, task: str, n_grid: int, max_draws: int) -> int:
    design = getattr(forecaster, "design", None)
    if design is None:  # set by fit or load, for a single form and a stack alike
        raise ValueError("the forecaster is not fitted: fit or load one before plotting")
    if n_grid < 2 or max_draws < 1:
        raise ValueError(f"n_grid must be >= 2 and max_draws >= 1, not {n_grid} and {max_draws}")
    if task not in design.tasks:
        raise ValueError(f"task {task!r} is not in this fit; fitted tasks: {design.tasks}")
    return design.tasks.index(task)


def _emergence(forecaster: Any, task: str, level: float | None, success_at: float | None) -> Emergence:
    from forecast.emergence import summarize_emergence, target_success

    design = forecaster.design
    t = design.tasks.index(task)
    target = float(target_success(design.chance[t], None if success_at is not None else level, success_at))
    summary = summarize_emergence(forecaster.emergence_draws(task, level, success_at))
    return Emergence(target, summary.median, summary.q05, summary.q95, summary.p_beyond_range,
                     forecaster.search_range()[1])


def _plot_range(forecaster: Any, emergence: Emergence, scales: Mapping[str, float]) -> tuple[float, float]:
    """log10 FLOPs shown: a decade below the training range to two above it, widened to the
    emergence interval and target scales, within the searched range."""
    lo, hi = forecaster.search_range()
    x = forecaster.design.x
    marks = [v for v in (emergence.q05, emergence.q95, *scales.values()) if np.isfinite(v)]
    left = min([float(x.min()) - 1.0] + [m - 0.5 for m in marks])
    right = hi if not np.isfinite(emergence.q95) else max([float(x.max()) + 2.0] + [m + 0.5 for m in marks])
    return max(lo, left), min(hi, right)


def _curve(forecaster: Any, t: int, n_grid: int, max_draws: int, level: float | None, success_at: float | None,
           scales: Mapping[str, float]) -> Curve:
    design = forecaster.design
    emergence = _emergence(forecaster, design.tasks[t], level, success_at)
    grid = np.linspace(*_plot_range(forecaster, emergence, scales), n_grid)
    smooth_std = forecaster.smooth_on_compute_path(t, grid)
    success_mean = forecaster.expected_success(np.full(grid.shape, t), smooth_std)  # every draw (a stack pairs them)
    step = max(1, smooth_std.shape[0] // max_draws)
    smooth_std, success_mean = smooth_std[::step], success_mean[::step]
    observed = _task_rows(forecaster, t)
    success_metric = _success_metric(forecaster, observed)
    success_pred, smooth_pred = forecaster.predictive_draws(_path_targets(forecaster, t, grid, observed, success_metric))
    return Curve(grid, success_mean, success_pred,
                 design.unstandardise(smooth_std, np.full(grid.shape, design.task_series[t])), smooth_pred,
                 observed, success_metric, emergence)


def _path_targets(forecaster: Any, t: int, grid: np.ndarray, observed: Any, success_metric: str):
    """Predictive targets along the compute path: one model per grid point, evaluated on as many
    examples as the task's training results (median n_examples; unknown: the fit's Beta noise)."""
    import pandas as pd

    from forecast.compute import log10_size_on_path

    log10_params, log10_tokens = log10_size_on_path(grid, forecaster.design.tokens_per_param)
    n_examples = _numeric(observed[observed["metric"] == success_metric], "n_examples")
    n_examples = n_examples[np.isfinite(n_examples)]
    return pd.DataFrame({"task": forecaster.design.tasks[t], "params": 10 ** log10_params,
                         "tokens": 10 ** log10_tokens,
                         "n_examples": float(np.median(n_examples)) if n_examples.size else np.nan})


def _task_rows(forecaster: Any, t: int):
    """The task's training rows (its success metric and its smooth series), with `x` = log10 FLOPs
    (from compute_flops, else 6 N D) and `final` (the run's last checkpoint)."""
    import pandas as pd

    from forecast.compute import log10_training_flops
    from forecast.design import is_final_checkpoint

    design = forecaster.design
    rows = forecaster.training_rows
    if rows is None or not len(rows):
        return pd.DataFrame(columns=["task", "metric", "value", "x", "final"])
    base = design.base_tasks[design.task_base[t]] if len(design.base_tasks) else design.tasks[t]
    keep = rows["task"].astype(str).isin([base, "*"])
    if len(design.families) > 1:
        keep &= rows["family"].astype(str) == design.families[design.task_family[t]]
    rows = rows[keep].copy()
    flops = _numeric(rows, "compute_flops")
    with np.errstate(divide="ignore", invalid="ignore"):
        fallback = log10_training_flops(np.log10(_numeric(rows, "params")), np.log10(_numeric(rows, "tokens")))
        rows["x"] = np.where(np.isfinite(flops) & (flops > 0), np.log10(flops), fallback)
    rows["final"] = is_final_checkpoint(rows).to_numpy()
    return rows


def _numeric(rows: Any, column: str) -> np.ndarray:
    import pandas as pd

    if column not in rows:
        return np.full(len(rows), np.nan)
    return pd.to_numeric(rows[column], errors="coerce").to_numpy(float)


def _success_metric(forecaster: Any, rows: Any) -> str:
    """The success metric this task was fitted on: the first configured one its rows have."""
    present = set(rows["metric"].astype(str))
    return next((m for m in forecaster.config.success_metric if m in present), forecaster.design.success_metric)


def _success_label(metric: str) -> str:
    return f"success: {metric}" + (f"\n({SUCCESS_LABELS[metric]})" if metric in SUCCESS_LABELS else "")


def _smooth_label(forecaster: Any, t: int) -> str:
    metric = forecaster.config.smooth_metric
    lower_is_better = forecaster.design.series_sign[forecaster.design.task_series[t]] > 0
    name = textwrap.fill(f"{metric}: {SMOOTH_LABELS[metric]}" if metric in SMOOTH_LABELS else metric, 24)
    return f"{name}\n({'lower' if lower_is_better else 'higher'} is better)"


def _draw_emergence(forecaster: Any, task: str, curve: Curve, scales: Mapping[str, float], figsize):
    design = forecaster.design
    t = design.tasks.index(task)
    figure, (top, bottom) = _figure(2, figsize=figsize, sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    for ax, panel in ((top, "success"), (bottom, "smooth")):
        ax.axvspan(float(design.x.min()), float(design.x.max()), color="0.92", lw=0, zorder=0,
                   label="training range", gid=f"training-range-{panel}")
        ax.grid(True, color="0.85", lw=0.5, zorder=0)
    _bands(top, curve.grid, curve.success_mean, curve.success_predictive, MEAN_COLOR, "success")
    _bands(bottom, curve.grid, curve.smooth_mean, curve.smooth_predictive, SMOOTH_COLOR, "smooth")
    _observed(top, bottom, curve)
    top.axhline(design.chance[t], color="0.4", ls=":", lw=1, label=f"chance ({design.chance[t]:.2f})", gid="chance")
    _emergence_marks(top, curve.emergence, curve.grid[-1])
    _scale_marks(top, bottom, scales)
    _label_emergence(forecaster, task, curve, top, bottom)
    return figure


def _label_emergence(forecaster: Any, task: str, curve: Curve, top, bottom) -> None:
    """Limits, axis labels with units, title and legends of the emergence chart."""
    design = forecaster.design
    top.set_ylim(*_unit_limits(curve, float(design.chance[design.tasks.index(task)])))
    top.set_ylabel(_success_label(curve.success_metric))
    bottom.set_ylabel(_smooth_label(forecaster, design.tasks.index(task)))
    bottom.set_xlabel(X_LABEL)
    bottom.set_xlim(curve.grid[0], curve.grid[-1])
    figure = top.get_figure()
    figure.suptitle(f"{task}: emergence curve (models at {design.tokens_per_param:.0f} tokens per parameter)")
    # the success panel's legend sits above it: a curve can fill any corner of that panel
    top.legend(loc="lower left", bbox_to_anchor=(0.0, 1.01), ncols=3, frameon=False, borderaxespad=0.0,
               columnspacing=1.2, handlelength=1.6)
    bottom.legend(loc="best", frameon=True, framealpha=0.9, borderaxespad=0.3)


def _bands(ax, x: np.ndarray, mean: np.ndarray, predictive: np.ndarray, color: str, panel: str) -> None:
    """90% predictive band (observed results), 50%/90% bands and median of the mean curve."""
    p05, p95 = (_smoothed(q) for q in np.quantile(predictive, [0.05, 0.95], axis=0))
    q = np.quantile(mean, [0.05, 0.25, 0.5, 0.75, 0.95], axis=0)
    light = PREDICTIVE_COLOR if panel == "success" else "#a1d99b"
    ax.fill_between(x, p05, p95, color=light, alpha=0.45, lw=0, label="90% predictive (observed)",
                    gid=f"predictive90-{panel}", zorder=1)
    ax.fill_between(x, q[0], q[4], color=color, alpha=0.22, lw=0, label="90% band of the mean",
                    gid=f"band90-{panel}", zorder=2)
    ax.fill_between(x, q[1], q[3], color=color, alpha=0.35, lw=0, label="50% band of the mean",
                    gid=f"band50-{panel}", zorder=2)
    ax.plot(x, q[2], color=color, lw=1.6, label="median of the mean", gid=f"median-{panel}", zorder=3)


def _smoothed(y: np.ndarray, fraction: float = 0.03) -> np.ndarray:
    """`y` (G,) averaged over a window of `fraction` of its length: the predictive quantiles of
    independent draws per grid point carry Monte Carlo noise that is not in the curve itself."""
    half = int(fraction * y.size) // 2
    if half < 1:
        return y
    padded = np.pad(y, half, mode="edge")
    return np.convolve(padded, np.ones(2 * half + 1) / (2 * half + 1), mode="valid")


def _observed(top, bottom, curve: Curve) -> None:
    rows = curve.observed
    is_success = (rows["metric"].astype(str) == curve.success_metric).to_numpy()
    final = rows["final"].to_numpy(bool)
    values = _numeric(rows, "value")
    x = rows["x"].to_numpy(float)
    for ax, mask, panel in ((top, is_success, "success"), (bottom, ~is_success, "smooth")):
        ax.scatter(x[mask & final], values[mask & final], s=12, color="black", zorder=4, lw=0,
                   label="observed", gid=f"observed-{panel}")
        if np.any(mask & ~final):
            ax.scatter(x[mask & ~final], values[mask & ~final], s=8, facecolor="none", edgecolor="0.45", lw=0.6,
                       zorder=4, label="observed (earlier checkpoints)", gid=f"checkpoints-{panel}")


def _unit_limits(curve: Curve, chance: float) -> tuple[float, float]:
    """Success axis: the data, bands, chance and target with a margin, within [0, 1] plus room for
    the markers."""
    values = _numeric(curve.observed, "value")[(curve.observed["metric"] == curve.success_metric).to_numpy()]
    p = [_smoothed(q) for q in np.quantile(curve.success_predictive, [0.05, 0.95], axis=0)]
    lo = min(np.nanmin(values, initial=1.0), float(p[0].min()), curve.emergence.target, chance)
    hi = max(np.nanmax(values, initial=0.0), float(p[1].max()), curve.emergence.target)
    pad = 0.06 * max(hi - lo, 0.1)
    return max(-0.02, lo - pad), min(1.02, hi + pad)


def _emergence_marks(ax, e: Emergence, right_edge: float) -> None:
    """Target level; the emergence median with its 90% interval (arrow + probability past the edge)."""
    ax.axhline(e.target, color=MARK_COLOR, ls="--", lw=1, label=f"target level ({e.target:.3f})", gid="target-level")
    beyond = f"; P(> {e.search_hi:.1f}) = {e.p_beyond:.2f}" if e.p_beyond > 0 else ""
    if np.isfinite(e.median):
        upper = min(e.q95, right_edge)
        ax.errorbar([e.median], [e.target], xerr=[[e.median - e.q05], [upper - e.median]], fmt="D", ms=5,
                    color=MARK_COLOR, ecolor=MARK_COLOR, elinewidth=2, capsize=4, zorder=5, clip_on=False,
                    label=f"emergence: median {e.median:.2f},\n90% [{e.q05:.2f}, {_fmt_end(e.q95)}]{beyond}",
                    gid="emergence-interval")
        if not np.isfinite(e.q95):
            _edge_arrow(ax, right_edge, e.target, "")
        return
    if np.isfinite(e.q05):
        ax.plot([e.q05, right_edge], [e.target, e.target], color=MARK_COLOR, lw=2, zorder=5, gid="emergence-interval")
    _edge_arrow(ax, right_edge, e.target, f"median beyond {e.search_hi:.1f}: P = {e.p_beyond:.2f}")
    ax.plot([], [], marker=">", ls="none", color=MARK_COLOR,
            label=f"emergence beyond the range:\nP(> {e.search_hi:.1f}) = {e.p_beyond:.2f}")


def _fmt_end(value: float) -> str:
    return f"{value:.2f}" if np.isfinite(value) else "beyond"


def _edge_arrow(ax, x: float, y: float, text: str) -> None:
    """An arrow ending at the right edge (x, y), pointing out of the chart; `text` above it."""
    arrow = ax.annotate("", xy=(x, y), xytext=(-24, 0), textcoords="offset points", annotation_clip=False,
                        gid="emergence-beyond", arrowprops={"arrowstyle": "-|>", "color": MARK_COLOR, "lw": 1.8,
                                                            "shrinkA": 0, "shrinkB": 0, "mutation_scale": 12})
    arrow.arrow_patch.set_gid("emergence-beyond")  # the text is empty: the SVG id goes on the arrow
    if text:
        ax.annotate(text, xy=(x, y), xytext=(-2, 5), textcoords="offset points", ha="right", va="bottom",
                    fontsize=7.5, color=MARK_COLOR, annotation_clip=False,
                    bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "edgecolor": "none", "alpha": 0.8})


def _scale_marks(top, bottom, scales: Mapping[str, float]) -> None:
    for i, (label, scale) in enumerate(scales.items()):
        for ax, panel in ((top, "success"), (bottom, "smooth")):
            ax.axvline(scale, color="tab:purple", ls="-.", lw=1, gid=f"target-{i}-{panel}")
        top.annotate(label, (scale, 0.03), xycoords=("data", "axes fraction"), rotation=90, va="bottom", ha="right",
                     fontsize=7, color="tab:purple", bbox={"boxstyle": "square,pad=0.1", "facecolor": "white",
                                                           "edgecolor": "none", "alpha": 0.8})


# --------------------------------------------------------------------------------- calibration
def calibration_plots(bins: Sequence[Mapping[str, Any]], pit_histogram: Sequence[int], fmt: str = "png",
                      title: str = "", brier: float | None = None, coverage: Mapping[str, float | None] | None = None,
                      figsize: tuple[float, float] | None = None) -> bytes:
    """`calibration_figure` as PNG or SVG bytes (`fmt`)."""
    _check_format(fmt)
    return _bytes(calibration_figure(bins, pit_histogram, title, brier, coverage, figsize), fmt)


def calibration_figure(bins: Sequence[Mapping[str, Any]], pit_histogram: Sequence[int], title: str = "",
                       brier: float | None = None, coverage: Mapping[str, float | None] | None = None,
                       figsize: tuple[float, float] | None = None):
    """Reliability diagram and (when there are numeric forecasts) PIT histogram of one participant,
    a matplotlib Figure with one or two axes.

    `bins`: dicts with lower, upper, count, mean_forecast, observed_frequency (the scoring service's
    reliability bins). `pit_histogram`: counts of PIT values in equal-width bins of [0, 1]; all zero
    or empty omits the panel. `brier`: the mean Brier score, shown beside its decomposition (which
    is computed from the bins). `coverage`: optional {"coverage_50": ..., "coverage_90": ...}, the
    share of numeric outcomes inside the forecasts' central intervals. `title`: e.g. the handle."""
    _check_figsize(figsize)
    bins = _check_bins(bins)
    counts = _check_pit(pit_histogram)
    if brier is not None and not (isinstance(brier, (int, float, np.number)) and 0.0 <= float(brier) <= 1.0):
        raise ValueError(f"brier must be a number in [0, 1], not {brier!r}")
    coverage = {k: v for k, v in (coverage or {}).items() if v is not None}
    return _drawn(_draw_calibration, bins, counts, title, brier, coverage, figsize)


def _check_bins(bins: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
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
    return bins


def _check_pit(pit_histogram: Sequence[int]) -> np.ndarray:
    try:
        counts = np.asarray(list(pit_histogram), dtype=float)
    except (TypeError, ValueError):
        raise ValueError("pit_histogram must be a sequence of counts") from None
    if counts.ndim != 1 or not np.all(np.isfinite(counts)) or np.any(counts < 0):
        raise ValueError(f"pit_histogram must be finite counts >= 0, not {list(pit_histogram)!r}")
    return counts


def wilson_interval(successes: np.ndarray, n: np.ndarray, z: float = WILSON_Z) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval (lower, upper) of a binomial proportion, elementwise; n > 0."""
    n = np.asarray(n, dtype=float)
    p = np.asarray(successes, dtype=float) / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    # the interval holds p (rounding could leave p = 1 a hair above the upper end)
    return np.clip(np.minimum(centre - half, p), 0.0, 1.0), np.clip(np.maximum(centre + half, p), 0.0, 1.0)


def reliability_summary(bins: Sequence[Mapping[str, Any]]) -> dict[str, float] | None:
    """ECE and Murphy's Brier parts (reliability, resolution, uncertainty) from non-empty bins, as
    `forecast.scoring` computes them from the forecasts; None when every bin is empty."""
    used = [b for b in bins if b["count"]]
    if not used:
        return None
    n = np.array([b["count"] for b in used], dtype=float)
    f = np.array([b["mean_forecast"] for b in used], dtype=float)
    o = np.array([b["observed_frequency"] for b in used], dtype=float)
    base = float(np.sum(n * o) / n.sum())
    return {"ece": float(np.sum(n * np.abs(o - f)) / n.sum()), "reliability": float(np.sum(n * (f - o) ** 2) / n.sum()),
            "resolution": float(np.sum(n * (o - base) ** 2) / n.sum()), "uncertainty": base * (1 - base)}


def _draw_calibration(bins, counts: np.ndarray, title: str, brier: float | None, coverage: Mapping[str, float],
                      figsize):
    has_pit = counts.size > 0 and counts.sum() > 0
    figure, axes = _figure(1, 2 if has_pit else 1, figsize=figsize)
    _reliability(axes[0], bins, brier)
    if has_pit:
        _pit(axes[1], counts, coverage)
    if title:
        figure.suptitle(title, fontsize=11)
    return figure


def _reliability(ax, bins, brier: float | None) -> None:
    used = [b for b in bins if b["count"]]
    ax.plot([0, 1], [0, 1], color="0.5", ls=":", lw=1, label="perfect calibration")
    if used:
        n = np.array([b["count"] for b in used], dtype=float)
        f = np.array([b["mean_forecast"] for b in used], dtype=float)
        o = np.array([b["observed_frequency"] for b in used], dtype=float)
        lo, hi = wilson_interval(np.round(o * n), n)
        ax.errorbar(f, o, yerr=[o - lo, hi - o], fmt="none", ecolor=MEAN_COLOR, elinewidth=1.2, capsize=3,
                    alpha=0.8, clip_on=False, gid="reliability-interval")
        ax.plot(f, o, color=MEAN_COLOR, lw=1, alpha=0.6, clip_on=False)
        ax.scatter(f, o, s=24 + 60 * n / n.max(), color=MEAN_COLOR, zorder=4, clip_on=False,
                   label="observed frequency, 90% Wilson interval", gid="reliability-bins")
        for k, (x, low, high, count) in enumerate(zip(f, lo, hi, n)):
            above = high < 0.9  # the count goes above the interval, or below it near the top
            ax.annotate(f"n={int(count)}", (x, high if above else low), xytext=(0, 3 if above else -3),
                        textcoords="offset points", ha="center", va="bottom" if above else "top", fontsize=7,
                        color="0.25", gid=f"bin-count-{k}", annotation_clip=False)
    summary = reliability_summary(bins)
    if summary is not None:
        ax.add_artist(_notes_legend(ax, summary, brier))
    ax.set_xlim(-0.03, 1.03)
    ax.set_ylim(-0.03, 1.03)
    ax.set_xlabel("forecast probability (bin mean)")
    ax.set_ylabel("observed frequency of YES")
    ax.set_title("reliability of binary forecasts", loc="left")
    ax.legend(loc="upper left", frameon=False)


def _notes_legend(ax, summary: Mapping[str, float], brier: float | None):
    """A second legend (lower right) with ECE and the Brier decomposition."""
    from matplotlib.legend import Legend

    parts = f"REL {summary['reliability']:.3f} − RES {summary['resolution']:.3f} + UNC {summary['uncertainty']:.3f}"
    if brier is None:
        lines = [f"ECE = {summary['ece']:.3f}", "Brier decomposition:", f"  {parts}"]
    else:
        lines = [f"ECE = {summary['ece']:.3f}", f"Brier = {brier:.3f}", f"  ≈ {parts}"]
    notes = [_note(text) for text in lines]
    return Legend(ax, notes, [h.get_label() for h in notes], loc="lower right", handlelength=0, handletextpad=0,
                  frameon=True, framealpha=0.9)


def _pit(ax, counts: np.ndarray, coverage: Mapping[str, float]) -> None:
    edges = np.linspace(0, 1, counts.size + 1)
    density = counts / (counts.sum() * np.diff(edges))
    bars = ax.bar(edges[:-1], density, width=np.diff(edges), align="edge", color="#74c476", edgecolor="white",
                  label=f"PIT of {int(counts.sum())} numeric forecasts")
    for i, bar in enumerate(bars):
        bar.set_gid(f"pit-bar-{i}")
    ax.axhline(1.0, color="0.3", ls="--", lw=1, label="uniform (calibrated)", gid="pit-uniform")
    for key, nominal in (("coverage_50", 0.5), ("coverage_90", 0.9)):
        if key in coverage:
            ax.plot([], [], ls="none", label=f"{nominal:.0%} interval covers {float(coverage[key]):.0%}")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, max(1.6, float(density.max()) * 1.3))
    ax.set_xlabel("PIT = forecast CDF at the outcome")
    ax.set_ylabel("density (1 = uniform)")
    ax.set_title("PIT histogram of numeric forecasts", loc="left")
    ax.legend(loc="upper center", frameon=False)


# ------------------------------------------------------------------------------ backtest PIT
def backtest_pit_plot(calibration: Sequence[Mapping[str, Any]], fmt: str = "png") -> bytes:
    """`backtest_pit_figure` as PNG or SVG bytes (`fmt`)."""
    _check_format(fmt)
    return _bytes(backtest_pit_figure(calibration), fmt)


def backtest_pit_figure(calibration: Sequence[Mapping[str, Any]]):
    """PIT histograms of a backtest (summary.json's ``calibration`` records: cut, method, ratio_bin,
    n, coverage_50, coverage_90, pit_histogram): one panel per cut x method, one step line per
    extrapolation bin (density, so a calibrated forecaster is flat at 1; ``all`` in black), the
    50%/90% coverage of each bin in the legend."""
    records = list(calibration)
    for i, r in enumerate(records):
        _check_pit(r.get("pit_histogram", []))
        if not all(k in r for k in ("cut", "method", "ratio_bin", "n")):
            raise ValueError(f"calibration record {i} needs cut, method, ratio_bin and n")
    return _drawn(_draw_backtest_pit, records)


def _draw_backtest_pit(records: list[Mapping[str, Any]]):
    from matplotlib.figure import Figure

    cuts = list(dict.fromkeys(str(r["cut"]) for r in records)) or [""]
    methods = list(dict.fromkeys(str(r["method"]) for r in records)) or [""]
    figure = Figure(figsize=(min(3.2 * len(methods), 30), min(2.8 * len(cuts), 30)), layout="constrained")
    axes = figure.subplots(len(cuts), len(methods), squeeze=False)
    for (i, cut), (j, method) in ((a, b) for a in enumerate(cuts) for b in enumerate(methods)):
        ax = axes[i][j]
        ax.axhline(1.0, color="0.6", linestyle="--", linewidth=0.8, gid="pit-uniform")
        for r in (r for r in records if str(r["cut"]) == cut and str(r["method"]) == method):
            counts = np.asarray(r["pit_histogram"], dtype=float)
            if counts.sum() == 0:
                continue
            density = counts / counts.sum() * len(counts)
            edges = np.linspace(0.0, 1.0, len(counts) + 1)
            is_all = r["ratio_bin"] == "all"
            cov = "" if r.get("coverage_50") is None else \
                f" {100 * r['coverage_50']:.0f}%/{100 * r['coverage_90']:.0f}%"
            ax.stairs(density, edges, color="black" if is_all else None, linewidth=1.6 if is_all else 1.0,
                      label=f"{r['ratio_bin']} (n={r['n']}){cov}")
        ax.set_title(f"{cut} {method}".strip(), fontsize=8)
        ax.set_xlim(0, 1)
        ax.set_xlabel("PIT")
        if j == 0:
            ax.set_ylabel("density")
        ax.legend(loc="upper center", fontsize=6, frameon=False, title="bin (n) 50%/90% cov.", title_fontsize=6)
    return figure
