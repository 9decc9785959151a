"""From a validated eval table to the arrays the emergence model consumes.

The smooth metric is modelled per *series*: normally one series per task, or one shared series when
the smooth rows have ``task == "*"`` (a model-level metric such as validation loss). Inside a series
values are transformed (log for perplexities), oriented so lower is better, and standardised with
the training data's mean and standard deviation; the transform is stored so predictions map back to
the metric's own units.

Several families (model lineages, e.g. two labs' ladders) in one fit: each (family, task) is its
own task named ``"family/task"`` with its own smooth series (families differ in data and
tokenizer), while ``base_tasks``/``task_base`` and ``families``/``task_family`` tell the model which
tasks share a benchmark and which share a family, so the link can be pooled across both.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from forecast.compute import tokens_from_flops, training_flops

LOG_TRANSFORMED = ("ppl", "perplexity")
"""Metric-name fragments whose values are modelled on the log scale (perplexity -> nats)."""

CHECKPOINT_MIN_FRACTION = 0.1
"""Checkpoints before this fraction of a run's final step (learning-rate warm-up) are not used."""

CHECKPOINTS_PER_RUN = 4
"""Default number of intermediate checkpoints per run that inform the link (``link_checkpoints="all"``).

Checkpoints of one run are strongly correlated, yet the likelihood counts them as independent, so
more of them adds apparent rather than real information. Four, evenly spaced in log(step), keep the
spread of the smooth metric along the run with half the link rows of eight."""


@dataclass(frozen=True)
class SeriesScaling:
    """How raw smooth-metric values of each of K series map to standardised, lower-is-better values.

    ``series_center``/``series_scale`` (K,) are in transformed metric units (log for perplexities
    when ``log_transform``); ``series_sign`` (K,) is +1 where lower is better, -1 where higher is.
    """

    series_center: np.ndarray
    series_scale: np.ndarray
    series_sign: np.ndarray
    log_transform: bool

    def standardise(self, raw: np.ndarray, series_idx: np.ndarray) -> np.ndarray:
        """Raw smooth-metric values -> standardised, lower-is-better values."""
        values = np.log(raw) if self.log_transform else np.asarray(raw, dtype=float)
        k = np.asarray(series_idx)
        return self.series_sign[k] * (values - self.series_center[k]) / self.series_scale[k]

    def unstandardise(self, s: np.ndarray, series_idx: np.ndarray) -> np.ndarray:
        """Standardised smooth values -> the metric's own units. Broadcasts over leading draw axes."""
        k = np.asarray(series_idx)
        values = self.series_center[k] + self.series_sign[k] * np.asarray(s) * self.series_scale[k]
        return np.exp(values) if self.log_transform else values


@dataclass(frozen=True)
class Design:
    """Everything the model needs, as plain arrays. Shapes: T tasks, K series, M models, N_* rows.

    Units: ``x`` is log10 training FLOPs; ``log10_params``/``log10_tokens`` are log10 counts;
    ``smooth_obs`` and ``success_smooth`` are standardised smooth values (see module docstring).
    Frozen once :func:`build_design` has built it; ``dataclasses.replace`` makes a changed copy.
    """

    smooth_metric: str
    success_metric: str
    tasks: list[str]
    series: list[str]
    task_series: np.ndarray  # (T,) int: which smooth series drives each task
    chance: np.ndarray  # (T,)
    steps: np.ndarray  # (T,) number of sequential steps for multi-step success
    series_center: np.ndarray  # (K,) in transformed metric units
    series_scale: np.ndarray  # (K,)
    series_sign: np.ndarray  # (K,) +1 lower-is-better, -1 higher-is-better
    log_transform: bool
    x0: float
    n0: float
    d0: float
    tokens_per_param: float
    models: list[str]
    x: np.ndarray  # (M,)
    log10_params: np.ndarray  # (M,)
    log10_tokens: np.ndarray  # (M,)
    smooth_series_idx: np.ndarray  # (N_s,)
    smooth_model_idx: np.ndarray  # (N_s,)
    smooth_obs: np.ndarray  # (N_s,)
    success_task_idx: np.ndarray  # (N_y,)
    success_model_idx: np.ndarray  # (N_y,)
    success_obs: np.ndarray  # (N_y,)
    success_smooth: np.ndarray  # (N_y,) standardised smooth of the same model and task's series
    n_examples: np.ndarray  # (N_y,) NaN where unknown
    success_is_checkpoint: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))  # (N_y,) link only
    emerged: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))  # (T,) see task_emerged
    # Per-example margin summaries (nats), one row per (task, model) with lm-eval per-sample data.
    margin_task_idx: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))  # (N_g,)
    margin_smooth: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (N_g,) standardised smooth
    margin_mean: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (N_g,) nats
    margin_sd: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (N_g,) nats, across examples
    margin_n: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (N_g,) examples
    # Families (model lineages). With one family a task is its name; with several, each (family, task)
    # is its own task ``"family/task"`` whose link shares the base task's parameters plus family shifts.
    families: list[str] = field(default_factory=list)  # (F,)
    task_family: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))  # (T,) index into families
    base_tasks: list[str] = field(default_factory=list)  # (B,) task names without the family
    task_base: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))  # (T,) index into base_tasks
    shared_series: bool = False  # the smooth metric is model-level (task "*"): one series per family
    data_hash: str = ""
    notes: list[str] = field(default_factory=list)

    def task_key(self, task: str, family: str | None = None) -> str:
        """The fitted task a (family, task) pair belongs to: ``task`` with one family, else
        ``"family/task"`` (a composite name is accepted as it is). ValueError if not fitted."""
        if family is not None and self.families and family not in self.families:
            raise ValueError(f"family {family!r} is not in this fit; fitted families: {self.families}")
        if task in self.tasks:
            return task
        key = f"{family}/{task}" if family is not None else task
        if key in self.tasks:
            return key
        if family is None and len(self.families) > 1:
            raise ValueError(f"task {task!r} is fitted for several families {self.families}: name one "
                             f"(a 'family' column, or 'family/task'); fitted tasks: {self.tasks}")
        raise ValueError(f"task {key!r} is not in this fit; fitted tasks: {self.tasks}")

    def content_hash(self) -> str:
        """sha256 (hex) of every field: two designs with the same hash build the same model."""
        digest = hashlib.sha256()
        for name, value in sorted(vars(self).items()):
            digest.update(name.encode())
            if isinstance(value, np.ndarray):
                digest.update(f"{value.dtype}{value.shape}".encode() + np.ascontiguousarray(value).tobytes())
            else:
                digest.update(repr(value).encode())
        return digest.hexdigest()

    @property
    def scaling(self) -> SeriesScaling:
        """The smooth series' standardisation."""
        return SeriesScaling(self.series_center, self.series_scale, self.series_sign, self.log_transform)

    def standardise(self, raw: np.ndarray, series_idx: np.ndarray) -> np.ndarray:
        """Raw smooth-metric values -> standardised, lower-is-better values."""
        return self.scaling.standardise(raw, series_idx)

    def unstandardise(self, s: np.ndarray, series_idx: np.ndarray) -> np.ndarray:
        """Standardised smooth values -> the metric's own units. Broadcasts over leading draw axes."""
        return self.scaling.unstandardise(s, series_idx)

    def to_json_dict(self) -> dict:
        """The design's structure (no observations) as JSON-able data, stored with every fit."""
        keep = ("smooth_metric", "success_metric", "tasks", "series", "task_series", "chance", "steps",
                "series_center", "series_scale", "series_sign", "log_transform", "x0", "n0", "d0",
                "tokens_per_param", "models", "x", "log10_params", "log10_tokens", "emerged", "families",
                "task_family", "base_tasks", "task_base", "shared_series", "data_hash")
        out = {k: v for k, v in asdict(self).items() if k in keep}
        return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in out.items()}


def table_hash(table: pd.DataFrame) -> str:
    """sha256 of a table's content, independent of row order (hex)."""
    canonical = table.sort_values(list(table.columns)).to_csv(index=False, float_format="%.12g")
    return hashlib.sha256(canonical.encode()).hexdigest()


def select_rows(
    table: pd.DataFrame,
    smooth_metric: str,
    success_metric: str | list[str],
    tasks: list[str] | None = None,
    families: list[str] | None = None,
    link_checkpoints: str = "final",
    checkpoints_per_run: int = CHECKPOINTS_PER_RUN,
) -> pd.DataFrame:
    """The rows a fit uses: the chosen families, tasks and the two metrics.

    Final checkpoints always (they carry the trend and the link). With ``link_checkpoints="all"``
    also up to ``checkpoints_per_run`` earlier checkpoints of each run (see :func:`thin_checkpoints`),
    which only inform the link. ``success_metric`` may list several names (e.g. ``len_norm`` and
    ``acc`` for tasks without ``len_norm``): each task uses the first listed metric it has.
    """
    if link_checkpoints not in ("final", "all"):
        raise ValueError(f"link_checkpoints must be 'final' or 'all', got {link_checkpoints!r}")
    success_metrics = [success_metric] if isinstance(success_metric, str) else list(success_metric)
    rows = table
    if families:
        rows = rows[rows["family"].isin(families)]
    final = is_final_checkpoint(rows)
    success = _pick_success_rows(rows[final], success_metrics)
    if tasks:
        missing = sorted(set(tasks) - set(success["task"]))
        if missing:
            raise ValueError(f"tasks not found with success metric {success_metrics}: {missing}")
        success = success[success["task"].isin(tasks)]
    if success.empty:
        raise ValueError(f"no rows with success metric {success_metrics}")
    wanted = rows["task"].isin(set(success["task"]) | {"*"})
    smooth = rows[final & wanted & (rows["metric"] == smooth_metric)]
    if smooth.empty:
        raise ValueError(f"no rows with smooth metric {smooth_metric!r} for the selected tasks")
    chosen = [smooth, success]
    if link_checkpoints == "all":
        early = rows[~final & wanted & rows["metric"].isin({smooth_metric, *set(success["metric"])})]
        chosen.append(thin_checkpoints(early, checkpoints_per_run))
    return pd.concat(chosen, ignore_index=True)


MODEL_KEY = ["family", "model"]
"""Columns that name one run (model) of the eval table."""


def is_final_checkpoint(rows: pd.DataFrame) -> pd.Series:
    """True for each run's last logged step (rows without a step count as final)."""
    if "step" not in rows.columns or rows["step"].isna().all():
        return pd.Series(True, index=rows.index)
    last = rows.groupby(MODEL_KEY)["step"].transform("max")
    return rows["step"].isna() | (rows["step"] == last)


def model_sizes(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per (family, model) with its final checkpoint's ``params``, ``tokens``, ``compute_flops``."""
    final = rows[is_final_checkpoint(rows)]
    return final.groupby(MODEL_KEY, as_index=False, sort=False)[["params", "tokens", "compute_flops"]].max()


def hold_out_runs(rows: pd.DataFrame, held: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the rows of every run not in ``held``, the final-checkpoint rows of the runs in ``held``);
    ``held`` names runs by its ``MODEL_KEY`` columns (e.g. some rows of :func:`model_sizes`). The
    split of the leave-largest-out and leave-longest-out checks."""
    is_held = pd.MultiIndex.from_frame(rows[MODEL_KEY]).isin(pd.MultiIndex.from_frame(held[MODEL_KEY]))
    final = is_final_checkpoint(rows).to_numpy()
    return rows[~is_held].reset_index(drop=True), rows[is_held & final].reset_index(drop=True)


def row_sizes(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(params, tokens, compute_flops) of each row as floats (n,), a missing size filled from the
    other two (tokens from compute and params, compute = 6 x params x tokens); NaN where it cannot be."""
    params, tokens, flops = (column_or_nan(frame, c) for c in ("params", "tokens", "compute_flops"))
    tokens = np.where(np.isfinite(tokens), tokens, tokens_from_flops(flops, params))
    return params, tokens, np.where(np.isfinite(flops), flops, training_flops(params, tokens))


def log10_tokens_per_param(sizes: pd.DataFrame) -> pd.Series:
    """log10 training tokens per parameter of each row of ``sizes`` (e.g. :func:`model_sizes`), same index."""
    params, tokens, _ = row_sizes(sizes)
    return pd.Series(np.log10(tokens / params), index=sizes.index)


def largest_log10_tokens_per_param_by_family(rows: pd.DataFrame) -> pd.Series:
    """log10 tokens per parameter of each family's longest-trained run (final checkpoints), indexed by
    the family's name (str)."""
    sizes = model_sizes(rows)
    return log10_tokens_per_param(sizes).groupby(sizes["family"].astype(str).to_numpy()).max()


def largest_compute_by_family(rows: pd.DataFrame) -> pd.Series:
    """Training FLOPs of each family's largest run (final checkpoints), indexed by the family's name (str)."""
    sizes = model_sizes(rows)
    return sizes.groupby(sizes["family"].astype(str))["compute_flops"].max()


def heldout_targets(heldout_rows: pd.DataFrame, smooth_metric: str, trained_tasks: Sequence[str]) -> pd.DataFrame:
    """One target per held-out (model, task) success row of a trained task, with its observed value.

    Columns: family, model, task, metric, params, tokens, compute_flops, n_examples, observed. No
    smooth-metric value is carried: predictions must not see it. Only final checkpoints are used.
    """
    final = heldout_rows[is_final_checkpoint(heldout_rows)]
    success = final[(final["metric"] != smooth_metric) & final["task"].isin(list(trained_tasks))]
    keys = MODEL_KEY + ["task", "metric"]
    numeric = ["params", "tokens", "compute_flops", "n_examples", "value"]
    targets = success[keys + numeric].groupby(keys, as_index=False, sort=True).mean()
    return targets.rename(columns={"value": "observed"}).reset_index(drop=True)


def thin_checkpoints(rows: pd.DataFrame, per_run: int) -> pd.DataFrame:
    """Keep up to ``per_run`` intermediate steps of each run, evenly spaced in log(step).

    So a long run (which logs many more checkpoints) does not outweigh a short one. Steps before
    :data:`CHECKPOINT_MIN_FRACTION` of the run's final step are dropped.
    """
    if rows.empty or per_run <= 0:
        return rows.iloc[:0]
    kept = []
    for _, run in rows.groupby(["family", "model"]):
        steps = np.unique(run["step"].to_numpy(float))
        steps = steps[steps >= CHECKPOINT_MIN_FRACTION * steps.max()]
        if len(steps) > per_run:
            targets = np.exp(np.linspace(np.log(steps.min()), np.log(steps.max()), per_run))
            steps = np.unique(steps[np.abs(np.log(steps)[:, None] - np.log(targets)[None, :]).argmin(axis=0)])
        kept.append(run[run["step"].isin(steps)])
    return pd.concat(kept, ignore_index=True)


def _pick_success_rows(rows: pd.DataFrame, success_metrics: list[str]) -> pd.DataFrame:
    candidates = rows[rows["metric"].isin(success_metrics)]
    rank = candidates["metric"].map({m: i for i, m in enumerate(success_metrics)})
    best = rank.groupby(candidates["task"]).transform("min")
    return candidates[rank == best]


def build_design(
    table: pd.DataFrame,
    smooth_metric: str = "bpb",
    success_metric: str | list[str] = "acc",
    tasks: list[str] | None = None,
    families: list[str] | None = None,
    margins: pd.DataFrame | None = None,
    link_checkpoints: str = "final",
    checkpoints_per_run: int = CHECKPOINTS_PER_RUN,
) -> Design:
    """Turn a validated eval table into a :class:`Design` (see :func:`select_rows` for the filter).

    ``margins``: optional per-example margin summaries (``forecast.adapters.margins_summary``; see
    :func:`_margin_part`). Intermediate checkpoints (``link_checkpoints="all"``) become extra link
    rows, flagged ``success_is_checkpoint``. Each stage returns its part of the design's fields; the
    design is built once from them.
    """
    selected = select_rows(table, smooth_metric, success_metric, tasks, families, link_checkpoints, checkpoints_per_run)
    return design_from_selected(selected, smooth_metric, margins)


def design_from_selected(selected: pd.DataFrame, smooth_metric: str,
                         margins: pd.DataFrame | None = None) -> Design:
    """The :class:`Design` of rows that :func:`select_rows` has already chosen (so a fit that keeps its
    training rows selects them once); ``build_design`` is ``select_rows`` followed by this."""
    family_names = sorted(selected["family"].astype(str).unique())
    base_of: dict[str, str] = {}
    if len(family_names) > 1:
        selected, base_of = _family_qualified(selected)
    final = is_final_checkpoint(selected)
    rows, checkpoint_rows = selected[final], selected[~final]
    _require_compute(rows)
    success_rows = rows[rows["metric"] != smooth_metric]
    model_part, model_index = _model_part(rows)
    task_part = _task_part(success_rows, rows[rows["metric"] == smooth_metric], smooth_metric, family_names, base_of)
    smooth_rows = rows[(rows["metric"] == smooth_metric) & rows["task"].isin(task_part["series"])]
    scaling, smooth_part = _smooth_part(smooth_rows, task_part["series"], smooth_metric, model_index)
    link_part, notes = _link_part(success_rows, smooth_rows, smooth_part["smooth_obs"], task_part, model_index)
    if not checkpoint_rows.empty:
        link_part = _with_checkpoint_link_rows(link_part, checkpoint_rows, smooth_metric, task_part, scaling,
                                               model_index)
    data_hash, margin_part = table_hash(selected), {}
    if margins is not None and len(margins):
        margin_part, margin_notes, used = _margin_part(_family_qualified(margins)[0] if base_of else margins,
                                                       task_part, smooth_rows, smooth_part["smooth_obs"])
        notes += margin_notes
        data_hash = hashlib.sha256((data_hash + table_hash(used)).encode()).hexdigest()
    emerged = task_emerged(task_part["chance"], link_part["success_task_idx"], link_part["success_obs"])
    return Design(smooth_metric=smooth_metric, **task_part, **vars(scaling), **model_part, **smooth_part,
                  **link_part, **margin_part, emerged=emerged, data_hash=data_hash, notes=notes)


ModelIndex = dict[tuple[str, str], int]
"""(family, model) -> the model's index in a design's models."""


def _model_part(rows: pd.DataFrame) -> tuple[dict[str, Any], ModelIndex]:
    """The models' fields (``models``, ``x``, ``log10_params``, ``log10_tokens``, their centres
    ``x0``, ``n0``, ``d0`` and ``tokens_per_param``), models sorted by compute; and their index.
    Missing tokens come from compute and params."""
    model_table = rows.drop_duplicates(["family", "model"])[["family", "model", "params", "tokens", "compute_flops"]]
    model_table = model_table.sort_values("compute_flops").reset_index(drop=True)
    model_key = list(zip(model_table["family"], model_table["model"]))
    params, tokens, flops = row_sizes(model_table)
    x, log10_params, log10_tokens = np.log10(flops), np.log10(params), np.log10(tokens)
    return {
        "models": [f"{f}/{m}" for f, m in model_key], "x": x, "log10_params": log10_params,
        "log10_tokens": log10_tokens, "x0": float(np.mean(x)), "n0": float(np.mean(log10_params)),
        "d0": float(np.mean(log10_tokens)), "tokens_per_param": float(np.median(10 ** (log10_tokens - log10_params))),
    }, {key: i for i, key in enumerate(model_key)}


def _task_part(success_rows: pd.DataFrame, smooth_rows: pd.DataFrame, smooth_metric: str, family_names: list[str],
               base_of: dict[str, str]) -> dict[str, Any]:
    """The tasks' fields: ``tasks``, ``series``, ``task_series``, ``chance``, ``steps``, ``families``,
    ``task_family``, ``base_tasks``, ``task_base``, ``shared_series`` and ``success_metric``.
    ValueError when a task's smooth series has no rows."""
    task_names = sorted(success_rows["task"].unique())
    task_family_name = dict(zip(success_rows["task"], success_rows["family"].astype(str)))
    shared = bool((smooth_rows["task"].map(lambda t: base_of.get(t, t)) == "*").any())
    series_of = {t: (_shared_key(task_family_name[t], base_of) if shared else t) for t in task_names}
    series = sorted(set(series_of.values()))
    missing_smooth = sorted(set(series) - set(smooth_rows["task"]))
    if missing_smooth:
        raise ValueError(f"tasks without smooth metric {smooth_metric!r}: {missing_smooth}")
    base_tasks = sorted({base_of.get(t, t) for t in task_names})
    return {
        "success_metric": ",".join(sorted(success_rows["metric"].unique())), "tasks": task_names, "series": series,
        "task_series": np.array([series.index(series_of[t]) for t in task_names], dtype=int),
        "chance": _per_task(success_rows, task_names, "chance"), "steps": _task_steps(success_rows, task_names),
        "families": family_names,
        "task_family": np.array([family_names.index(task_family_name[t]) for t in task_names], dtype=int),
        "base_tasks": base_tasks,
        "task_base": np.array([base_tasks.index(base_of.get(t, t)) for t in task_names], dtype=int),
        "shared_series": shared,
    }


def _smooth_part(smooth_rows: pd.DataFrame, series: list[str], smooth_metric: str,
                 model_index: ModelIndex) -> tuple[SeriesScaling, dict[str, Any]]:
    """Each series' standardisation (from its training values), and the smooth observations' fields
    ``smooth_series_idx``, ``smooth_model_idx`` and ``smooth_obs`` (standardised)."""
    log_transform = any(f in smooth_metric.lower() for f in LOG_TRANSFORMED)
    raw = smooth_rows["value"].to_numpy(float)
    transformed = np.log(raw) if log_transform else raw
    series_idx = np.array([series.index(t) for t in smooth_rows["task"]], dtype=int)
    higher_is_better = bool(smooth_rows["higher_is_better"].iloc[0])
    center = np.array([transformed[series_idx == k].mean() for k in range(len(series))])
    spread = np.array([transformed[series_idx == k].std() for k in range(len(series))])
    scaling = SeriesScaling(center, np.where(spread > 1e-12, spread, 1.0),
                            np.full(len(series), -1.0 if higher_is_better else 1.0), log_transform)
    return scaling, {"smooth_series_idx": series_idx, "smooth_model_idx": _model_idx(smooth_rows, model_index),
                     "smooth_obs": scaling.standardise(raw, series_idx)}


def _smooth_lookup(smooth_rows: pd.DataFrame, smooth_obs: np.ndarray, shared: bool
                   ) -> tuple[dict[str, float], Callable[[pd.DataFrame], pd.Series]]:
    """Each observed standardised smooth value by its key, and the function that keys a frame's rows:
    ``family|model`` for a model-level (shared) smooth metric, else ``family|model|task``."""
    def keys(frame: pd.DataFrame) -> pd.Series:
        key = frame["family"].astype(str) + "|" + frame["model"].astype(str)
        return key if shared else key + "|" + frame["task"].astype(str)

    return dict(zip(keys(smooth_rows), smooth_obs)), keys


def _link_part(success_rows: pd.DataFrame, smooth_rows: pd.DataFrame, smooth_obs: np.ndarray,
               task_part: dict[str, Any], model_index: ModelIndex) -> tuple[dict[str, np.ndarray], list[str]]:
    """The link rows' fields of the final checkpoints: each success row paired with its model's
    standardised smooth value (``smooth_obs`` of ``smooth_rows``); rows that have none are dropped,
    with a note."""
    lookup, keys = _smooth_lookup(smooth_rows, smooth_obs, task_part["shared_series"])
    paired = np.array([lookup.get(k, np.nan) for k in keys(success_rows)])
    keep = np.isfinite(paired)
    notes = [] if keep.all() else [f"{int((~keep).sum())} success rows have no smooth value for the link and "
                                   "were dropped"]
    return _link_rows(success_rows[keep], paired[keep], task_part["tasks"], model_index, checkpoint=False), notes


def _with_checkpoint_link_rows(link_part: dict[str, np.ndarray], rows: pd.DataFrame, smooth_metric: str,
                               task_part: dict[str, Any], scaling: SeriesScaling,
                               model_index: ModelIndex) -> dict[str, np.ndarray]:
    """``link_part`` followed by the (smooth, success) pairs of intermediate checkpoints ``rows``,
    flagged ``success_is_checkpoint`` (they inform the link only)."""
    tasks = task_part["tasks"]
    keys = ["family", "model", "step"] + ([] if task_part["shared_series"] else ["task"])
    smooth = rows[rows["metric"] == smooth_metric]
    success = rows[(rows["metric"] != smooth_metric) & rows["task"].isin(tasks)]
    pairs = success.merge(smooth[keys + ["value"]].rename(columns={"value": "smooth_value"}), on=keys, how="inner")
    pairs = pairs[[(f, m) in model_index for f, m in zip(pairs["family"], pairs["model"])]]
    if pairs.empty:
        return link_part
    task_idx = np.array([tasks.index(t) for t in pairs["task"]], dtype=int)
    smooth_std = scaling.standardise(pairs["smooth_value"].to_numpy(float), task_part["task_series"][task_idx])
    extra = _link_rows(pairs, smooth_std, tasks, model_index, checkpoint=True)
    return {name: np.concatenate([values, extra[name]]) for name, values in link_part.items()}


def _link_rows(rows: pd.DataFrame, smooth: np.ndarray, tasks: list[str], model_index: ModelIndex,
               checkpoint: bool) -> dict[str, np.ndarray]:
    """The link fields (``success_*``, ``n_examples``) of success ``rows`` with their standardised smooth values."""
    return {
        "success_task_idx": np.array([tasks.index(t) for t in rows["task"]], dtype=int),
        "success_model_idx": _model_idx(rows, model_index),
        "success_obs": rows["value"].to_numpy(float),
        "success_smooth": smooth,
        "n_examples": column_or_nan(rows, "n_examples"),
        "success_is_checkpoint": np.full(len(rows), checkpoint),
    }


FAMILY_SEPARATOR = "/"
"""Joins family and task in a multi-family fit's task names (``"family/task"``), as in model names."""


def _family_qualified(rows: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, str]]:
    """Rows whose ``task`` is ``"family/task"``, and the map back to the plain task name."""
    rows = rows.copy()
    plain = rows["task"].astype(str)
    rows["task"] = rows["family"].astype(str) + FAMILY_SEPARATOR + plain
    return rows, dict(zip(rows["task"], plain))


def _shared_key(family: str, base_of: dict[str, str]) -> str:
    """The series name of a model-level smooth metric: ``"*"``, or ``"family/*"`` with several families."""
    return f"{family}{FAMILY_SEPARATOR}*" if base_of else "*"


EMERGED_LIFT = 0.2
"""A task has emerged in the training data when its best model is this far from chance towards 1."""


def task_emerged(chance: np.ndarray, success_task_idx: np.ndarray, success_obs: np.ndarray) -> np.ndarray:
    """(T,) bool: does the training data show the task clearly above chance?

    ``chance`` (T,) per task; ``success_task_idx``/``success_obs`` (N_y,) the link rows. Lift =
    (success - chance) / (1 - chance), at the best training model. Tasks below
    :data:`EMERGED_LIFT` carry little information about their own link.
    """
    lift = (success_obs - chance[success_task_idx]) / (1 - chance[success_task_idx])
    best = np.full(len(chance), -np.inf)
    np.maximum.at(best, success_task_idx, lift)
    return best >= EMERGED_LIFT


MARGIN_COLUMNS = ("family", "model", "task", "margin_mean", "margin_sd", "n")


def _margin_part(margins: pd.DataFrame, task_part: dict[str, Any], smooth_rows: pd.DataFrame,
                 smooth_obs: np.ndarray) -> tuple[dict[str, np.ndarray], list[str], pd.DataFrame]:
    """The margin fields (``margin_*``) from per-example margin summaries, a note on the rows left
    out, and the margin rows used (their content extends the design's ``data_hash``).

    Each row is paired with the same model's observed smooth value (``smooth_obs`` of
    ``smooth_rows``) for that task; rows of tasks not in the fit, or without a smooth value, or with
    fewer than 2 examples, are left out (noted).
    """
    missing = [c for c in MARGIN_COLUMNS if c not in margins.columns]
    if missing:
        raise ValueError(f"margins table lacks columns {missing}; expected {list(MARGIN_COLUMNS)}")
    tasks = task_part["tasks"]
    lookup, keys = _smooth_lookup(smooth_rows, smooth_obs, task_part["shared_series"])
    rows = margins[margins["task"].isin(tasks) & (pd.to_numeric(margins["n"]) >= 2)]
    rows = rows[np.isfinite(pd.to_numeric(rows["margin_sd"], errors="coerce")) & (rows["margin_sd"] > 0)]
    paired = np.array([lookup.get(k, np.nan) for k in keys(rows)])
    keep = np.isfinite(paired)
    notes = [] if len(margins) <= int(keep.sum()) else [
        f"{len(margins) - int(keep.sum())} margin rows unused (task not fitted, no smooth value for that model, "
        "or fewer than 2 examples)"]
    rows = rows[keep]
    return {
        "margin_task_idx": np.array([tasks.index(t) for t in rows["task"]], dtype=int),
        "margin_smooth": paired[keep],
        "margin_mean": rows["margin_mean"].to_numpy(float),
        "margin_sd": rows["margin_sd"].to_numpy(float),
        "margin_n": rows["n"].to_numpy(float),
    }, notes, rows[list(MARGIN_COLUMNS)]


def _require_compute(rows: pd.DataFrame) -> None:
    missing = rows[~np.isfinite(rows["compute_flops"].to_numpy(float))]
    if not missing.empty:
        names = sorted(set(missing["model"]))[:5]
        raise ValueError(f"training compute unknown (no tokens or compute_flops) for models {names}")


def _model_idx(rows: pd.DataFrame, model_index: dict) -> np.ndarray:
    return np.array([model_index[(f, m)] for f, m in zip(rows["family"], rows["model"])], dtype=int)


def _per_task(rows: pd.DataFrame, tasks: list[str], column: str) -> np.ndarray:
    values = rows.groupby("task")[column].first()
    return np.array([float(values[t]) for t in tasks])


def _task_steps(rows: pd.DataFrame, tasks: list[str]) -> np.ndarray:
    if "steps" not in rows.columns:
        return np.ones(len(tasks))
    steps = rows.groupby("task")["steps"].first()
    return np.array([float(steps[t]) if np.isfinite(steps[t]) else 1.0 for t in tasks])


def column_or_nan(rows: pd.DataFrame, column: str) -> np.ndarray:
    """A column as floats (n,): NaN where the column is absent or a value is missing or not a number."""
    if column not in rows.columns:
        return np.full(len(rows), np.nan)
    return pd.to_numeric(rows[column], errors="coerce").to_numpy(float)
