"""Blind choice of the smooth (surrogate) metric per task: ``--smooth auto``.

An eval table may carry several smooth metrics for a task (OLMo ladder: ``bpb``, ``soft``,
``soft_log``). Which one predicts the *success* metric at larger scale can only be judged on the runs
a fit is given, so the choice uses the training rows alone, by a *leave-largest-out* check:

1. per family, the runs of the largest model size are held out (the family needs >= 2 sizes and keeps
   >= ``MIN_KEPT_RUNS`` runs); the rest are the reduced training set;
2. for every task and candidate metric, the two-step baseline (``forecast.baselines.fit_two_step``:
   a power law of the smooth metric in compute, then a sigmoid from smooth metric to success) is fitted
   on the reduced set and predicts each held-out run's success from its compute alone (bootstrap
   draws, which include the fit's residual noise);
3. the score of a (task, metric) is the log predictive density of the held-out runs' observed success
   (a Gaussian kernel density of the draws, bandwidth by Silverman's rule and at least
   ``MIN_BANDWIDTH``, mixed with a uniform density of weight ``DEFENSIVE_WEIGHT``), summed over the
   held-out runs; the task takes the metric of highest score,
   unless it beats a metric earlier in ``preference`` order by no more than ``MIN_GAIN`` nats.

The two-step fit is a cheap stand-in for the hierarchical model (a refit per candidate would cost a
full posterior each); it shares the model's structure (trend in compute, then a link) and scores
what matters here: how well the metric's trend, through its link, extrapolates success.

When the check cannot run (no family with 2 sizes and enough runs left) or a task has a single
candidate, the task takes the first candidate in ``preference`` order (default: the table's order,
``bpb`` first when present) and the record says so.

:func:`apply_smooth_choice` then writes the chosen rows as one smooth metric ``AUTO_SMOOTH``:
values oriented so lower is better (log of perplexities, higher-is-better metrics negated), with the
source metric in the column ``smooth_source``. The model standardises each series, so metrics of
different units can sit side by side.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from forecast.baselines import fit_two_step
from forecast.design import LOG_TRANSFORMED, MODEL_KEY, hold_out_runs, model_sizes

AUTO_SMOOTH = "auto"
"""The ``smooth_metric`` value that asks for the choice, and the metric name of the chosen rows."""
SOURCE_COLUMN = "smooth_source"
"""Column of the chosen rows naming the metric each came from."""
SOURCE_HIGHER_COLUMN = "smooth_source_higher_is_better"
"""Column of the chosen rows: the source metric's direction (its values were negated when True)."""
MIN_KEPT_RUNS = 3
"""A family joins the check only if it keeps at least this many runs below its largest size."""
MIN_BANDWIDTH = 0.01
"""Smallest kernel bandwidth of the predictive density (one point of success rate)."""
DEFENSIVE_WEIGHT = 0.05
"""Weight of a uniform density on [0, 1] mixed into the predictive density (a defensive mixture): one
confident miss costs at most -log(0.05) = 3 nats instead of hundreds, so a metric is judged on all
held-out results, not on its worst one."""
N_BOOT = 50
"""Bootstrap draws per held-out run and candidate."""
MIN_GAIN = 0.5
"""A candidate replaces an earlier one in ``preference`` order only if its score is higher by more than
this (nats, summed over the task's held-out results): small differences are within bootstrap noise."""


@dataclass
class SmoothChoice:
    """Which smooth metric each task uses, and why.

    ``choice``: task -> metric. ``scores``: one dict per (task, metric) with ``lpd`` (summed log
    predictive density of the held-out success results; None when not scored) and ``n`` (held-out
    results). ``method``: ``leave_largest_out`` or ``preference`` (the check could not run).
    """

    choice: dict[str, str]
    scores: list[dict] = field(default_factory=list)
    method: str = "leave_largest_out"
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        return choice_summary(self.to_dict())


def choice_summary(record: dict) -> str:
    """One line from a :class:`SmoothChoice` record (``to_dict``): the tasks of each chosen metric."""
    by_metric: dict[str, list[str]] = {}
    for task, metric in sorted(record["choice"].items()):
        by_metric.setdefault(metric, []).append(task)
    parts = [f"{metric} for {', '.join(tasks)}" for metric, tasks in sorted(by_metric.items())]
    return f"smooth auto ({record.get('method') or 'chosen before the fit'}): " + "; ".join(parts)


def check_smooth_metric(table: pd.DataFrame, smooth_metric: str) -> None:
    """ValueError naming the metric unless it is ``AUTO_SMOOTH`` or a smooth metric of ``table``."""
    smooth = sorted(set(table.loc[table["kind"].astype(str) == "smooth", "metric"].astype(str)) - {AUTO_SMOOTH})
    if smooth_metric != AUTO_SMOOTH and smooth_metric not in smooth:
        raise ValueError(f"{smooth_metric!r} is not a smooth metric of the table (it has: "
                         f"{', '.join(smooth) or 'none'}; or {AUTO_SMOOTH})")


def smooth_candidates(rows: pd.DataFrame) -> dict[str, list[str]]:
    """Per task (success rows' tasks), the smooth metrics the table has for it (own rows or task ``*``),
    in the table's order."""
    smooth = rows[rows["kind"].astype(str) == "smooth"]
    success_tasks = pd.unique(rows.loc[rows["kind"].astype(str) == "success", "task"].astype(str))
    shared = list(pd.unique(smooth.loc[smooth["task"].astype(str) == "*", "metric"].astype(str)))
    out = {}
    for task in success_tasks:
        own = list(pd.unique(smooth.loc[smooth["task"].astype(str) == task, "metric"].astype(str)))
        out[str(task)] = own + [m for m in shared if m not in own]
    return out


def _ordered(candidates: list[str], preference: Sequence[str]) -> list[str]:
    rank = {m: i for i, m in enumerate(preference)}
    return sorted(candidates, key=lambda m: (rank.get(m, len(rank)), candidates.index(m)))


def leave_largest_out(rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """(reduced rows, held-out final-checkpoint rows): each family's largest-size runs held out. Only
    families with >= 2 sizes that keep >= ``MIN_KEPT_RUNS`` runs take part; None when none does."""
    sizes = model_sizes(rows)
    largest = sizes["params"] == sizes.groupby("family")["params"].transform("max")
    kept = sizes[~largest].groupby("family").size()
    families = [f for f in kept.index if kept[f] >= MIN_KEPT_RUNS]
    if not families:
        return None
    return hold_out_runs(rows[rows["family"].isin(families)], sizes[largest & sizes["family"].isin(families)])


def kde_logpdf(draws: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """Log density of ``observed`` (n,) under a Gaussian kernel density of ``draws`` (n, S), per row,
    in a defensive mixture with a uniform density on [0, 1] (``DEFENSIVE_WEIGHT``)."""
    draws = np.atleast_2d(draws)
    s = draws.shape[1]
    sd = draws.std(axis=1, ddof=1) if s > 1 else np.zeros(len(draws))
    bandwidth = np.maximum(1.06 * sd * s ** -0.2, MIN_BANDWIDTH)[:, None]
    u = (observed[:, None] - draws) / bandwidth
    log_k = -0.5 * u**2 - np.log(bandwidth) - 0.5 * math.log(2 * math.pi)
    top = log_k.max(axis=1, keepdims=True)
    kde = (top + np.log(np.exp(log_k - top).mean(axis=1, keepdims=True)))[:, 0]
    return np.logaddexp(math.log1p(-DEFENSIVE_WEIGHT) + kde, math.log(DEFENSIVE_WEIGHT))


def _success_targets(heldout: pd.DataFrame, success_metric: Sequence[str], tasks: list[str]) -> pd.DataFrame:
    """Held-out success results: each task's first listed success metric it has, one row per (run, task)."""
    rows = heldout[heldout["metric"].isin(list(success_metric)) & heldout["task"].astype(str).isin(tasks)]
    rank = rows["metric"].map({m: i for i, m in enumerate(success_metric)})
    rows = rows[rank == rank.groupby(rows["task"]).transform("min")]
    keys = MODEL_KEY + ["task"]
    return rows[keys + ["params", "tokens", "compute_flops", "value"]].groupby(keys, as_index=False).mean()


def choose_smooth(
    rows: pd.DataFrame,
    success_metric: str | Sequence[str] = "acc",
    *,
    candidates: Sequence[str] | None = None,
    preference: Sequence[str] = ("bpb",),
    n_boot: int = N_BOOT,
    seed: int = 0,
) -> SmoothChoice:
    """Pick each task's smooth metric by the leave-largest-out check (module doc) on ``rows`` alone.

    ``rows``: a validated eval table of training runs. ``candidates``: the smooth metrics allowed
    (default: every smooth metric of the table). Raises ValueError when a task has no candidate.
    """
    success_metric = [success_metric] if isinstance(success_metric, str) else list(success_metric)
    available = smooth_candidates(rows[rows["kind"].astype(str).eq("smooth")
                                       | rows["metric"].isin(success_metric)])
    if candidates is not None:
        unknown = sorted(set(candidates) - {m for ms in available.values() for m in ms})
        if unknown:
            raise ValueError(f"smooth metric(s) {unknown} not in the table")
        available = {t: [m for m in ms if m in candidates] for t, ms in available.items()}
    if not available:
        raise ValueError(f"no rows with success metric {success_metric}")
    bare = sorted(t for t, ms in available.items() if not ms)
    if bare:
        raise ValueError(f"tasks without any smooth metric: {bare}")
    order = {t: _ordered(ms, preference) for t, ms in available.items()}
    split = leave_largest_out(rows)
    if split is None:
        return SmoothChoice({t: ms[0] for t, ms in order.items()}, method="preference", notes=[
            f"no family has 2 model sizes and {MIN_KEPT_RUNS} runs below its largest: the first of each task's "
            f"candidates ({', '.join(preference)} first) was taken"])
    reduced, heldout = split
    scores, choice, notes = [], {}, []
    for metric in sorted({m for ms in order.values() for m in ms}):
        tasks = sorted(t for t, ms in order.items() if metric in ms and len(ms) > 1)
        targets = _success_targets(heldout, success_metric, tasks)
        if targets.empty:
            continue
        try:
            fit = fit_two_step(reduced, smooth_metric=metric, success_metric=success_metric,
                               tasks=sorted(set(targets["task"])))
        except ValueError as error:
            notes.append(f"{metric}: not scored ({error})")
            continue
        draws = fit.sample(targets, n_boot=n_boot, rng=np.random.default_rng([seed, len(scores)]))
        lpd = kde_logpdf(draws, targets["value"].to_numpy(float))
        notes.extend(n for n in fit.notes if n not in notes)
        for task, values in pd.Series(lpd).groupby(targets["task"].to_numpy()):
            scores.append({"task": str(task), "metric": metric, "lpd": float(values.sum()), "n": int(len(values))})
    lpd = {(s["task"], s["metric"]): s["lpd"] for s in scores}
    for task, ms in order.items():
        choice[task] = ms[0]
        for metric in ms[1:]:  # in preference order: a later metric must win by more than MIN_GAIN
            if (task, metric) in lpd and lpd[(task, metric)] > lpd.get((task, choice[task]), -np.inf) + MIN_GAIN:
                choice[task] = metric
    return SmoothChoice(choice, sorted(scores, key=lambda s: (s["task"], s["metric"])), notes=notes)


def apply_smooth_choice(table: pd.DataFrame, choice: dict[str, str]) -> pd.DataFrame:
    """``table`` plus the chosen rows as metric ``AUTO_SMOOTH`` (module doc); rows of tasks not in
    ``choice`` get none. The original rows are kept (the fit selects by metric name)."""
    parts = []
    for task, metric in choice.items():
        own = table[(table["metric"] == metric) & (table["task"].astype(str) == task)]
        if own.empty:  # a shared ("*") series: one copy per task that chose it
            own = table[(table["metric"] == metric) & (table["task"].astype(str) == "*")].assign(task=task)
        parts.append(own.assign(**{SOURCE_COLUMN: metric}))
    chosen = pd.concat(parts, ignore_index=True) if parts else table.iloc[:0].assign(**{SOURCE_COLUMN: ""})
    values = chosen["value"].to_numpy(float)
    log_scale = chosen[SOURCE_COLUMN].map(lambda m: any(f in m.lower() for f in LOG_TRANSFORMED)).to_numpy(bool)
    higher = chosen["higher_is_better"].astype(bool).to_numpy()
    chosen[SOURCE_HIGHER_COLUMN] = higher
    sign = np.where(higher, -1.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        chosen["value"] = np.where(log_scale, np.log(values), values) * sign
    chosen["metric"] = AUTO_SMOOTH
    chosen["kind"] = "smooth"
    chosen["higher_is_better"] = False
    return pd.concat([table, chosen], ignore_index=True)


def choice_from_rows(rows: pd.DataFrame) -> dict[str, str]:
    """task -> source metric of a table's ``AUTO_SMOOTH`` rows ({} when it has none)."""
    if SOURCE_COLUMN not in rows.columns:
        return {}
    chosen = rows[rows["metric"] == AUTO_SMOOTH]
    return {str(t): str(m) for t, m in zip(chosen["task"], chosen[SOURCE_COLUMN])}


def _in_source_units(values: np.ndarray, metric: str, higher_is_better: bool) -> np.ndarray:
    """Oriented ``AUTO_SMOOTH`` values back in the source metric's units (inverse of the orientation)."""
    out = np.asarray(values, float) * (-1.0 if higher_is_better else 1.0)
    return np.exp(out) if any(f in metric.lower() for f in LOG_TRANSFORMED) else out


def label_predictions(predictions: pd.DataFrame, training_rows: pd.DataFrame) -> pd.DataFrame:
    """Predictions of an ``AUTO_SMOOTH`` fit with a ``smooth_metric`` column (each task's chosen metric)
    and ``smooth_median``/``smooth_q05``/``smooth_q95`` back in that metric's units."""
    chosen = training_rows[training_rows["metric"] == AUTO_SMOOTH].drop_duplicates("task")
    metric = dict(zip(chosen["task"].astype(str), chosen[SOURCE_COLUMN].astype(str)))
    higher = dict(zip(chosen["task"].astype(str), chosen[SOURCE_HIGHER_COLUMN].astype(str).str.lower() == "true"))
    out = predictions.copy()
    tasks = out["task"].astype(str)
    out.insert(out.columns.get_loc("smooth_median"), "smooth_metric", tasks.map(metric).to_numpy())
    for task in tasks.unique():
        if task not in metric:
            continue
        rows = (tasks == task).to_numpy()
        values = {c: _in_source_units(out.loc[rows, c].to_numpy(float), metric[task], higher[task])
                  for c in ("smooth_median", "smooth_q05", "smooth_q95")}
        out.loc[rows, "smooth_median"] = values["smooth_median"]
        out.loc[rows, "smooth_q05"] = np.minimum(values["smooth_q05"], values["smooth_q95"])
        out.loc[rows, "smooth_q95"] = np.maximum(values["smooth_q05"], values["smooth_q95"])
    return out


def resolve_smooth(table: pd.DataFrame, smooth_metric: str, success_metric: str | Sequence[str],
                   tasks: Sequence[str] | None = None, families: Sequence[str] | None = None,
                   seed: int = 0) -> tuple[pd.DataFrame, SmoothChoice | None]:
    """(table, None) unless ``smooth_metric`` is ``AUTO_SMOOTH`` and the table has no chosen rows yet;
    then the choice on the table's rows (the selected families and tasks) and the table with the
    chosen rows added (:func:`apply_smooth_choice`)."""
    if smooth_metric != AUTO_SMOOTH or (table["metric"] == AUTO_SMOOTH).any():
        return table, None
    rows = table
    if families:
        rows = rows[rows["family"].isin(list(families))]
    if tasks:
        rows = rows[rows["task"].astype(str).isin([*tasks, "*"])]
    choice = choose_smooth(rows, success_metric, seed=seed)
    return apply_smooth_choice(table, choice.choice), choice
