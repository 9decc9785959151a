"""Structural uncertainty: Bayesian stacking of trend forms, and a link discrepancy far out.

One curve shape fitted to a short ladder expresses only parameter uncertainty inside that shape. Far
out, different shapes (a power law in compute vs separate N and D terms) disagree, and that
disagreement is real uncertainty. :class:`StackedForecaster` fits the hierarchical model once per
trend form and predicts with the weighted mixture of their posterior predictive draws. Weights
(``weighting``):

* ``"leave_largest_out"`` (default): every form is refitted without the largest models of each
  family and predicts their smooth metric; the weights stack those held-out predictive densities
  (:func:`forecast.extrapolation.stacking_weights`): the forms are judged on extrapolation, the use
  they are put to. The same refits estimate the link discrepancy ``delta`` (spreads per decade of
  compute, :func:`forecast.extrapolation.link_discrepancy_mle`) from the held-out success results,
  and predictions beyond the training range widen by it. When a family has fewer than
  :data:`MIN_SIZES_FOR_CHECK` model sizes, or would keep fewer than :data:`MIN_RUNS_FOR_CHECK` runs,
  the check cannot run and the weights fall back to LOO (with a note).
* ``"loo"``: Bayesian stacking of the forms' PSIS-LOO predictive densities of the smooth metric (the
  part of the model the trend form changes; ArviZ ``compare(method="stacking")``); no discrepancy.

Saved as ONE NetCDF: every form's posterior and sample statistics under ``<form>::<name>``, the
stack (forms, weights, discrepancy, the check) and the shared config, design and training rows in
its ``attrs``. ``FitConfig(trend="stacked")`` (the default) selects this forecaster through
:func:`make_forecaster`; :func:`load_fit` reads a single-form or a stacked file.
"""
from __future__ import annotations

import json
import sys
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import arviz as az
import numpy as np
import pandas as pd
from scipy import special

from forecast.design import Design, heldout_targets, hold_out_runs, log10_tokens_per_param, model_sizes
from forecast.extrapolation import DISCREPANCY_GRID, link_discrepancy_mle, stacking_weights
from forecast.surrogate import resolve_smooth
from models.config import FitConfig
from models.forecaster import (STACK_ATTR, EmergenceForecaster, StaleFitError, check_saved_config, read_fit_file,
                               summarize_predictive)
from models.sampling import Diagnostics

TREND_FORMS = ("compute", "params_tokens")
WEIGHTINGS = ("leave_largest_out", "loo")
FORM_SEPARATOR = "::"
"""Separates the trend form from the variable name in a stacked NetCDF (``compute::floor``)."""
STACK_FORMAT = "one_file"
MIN_SIZES_FOR_CHECK = 3
"""Model sizes (distinct params) a family needs for the leave-largest-out check: two stay to fit."""
MIN_RUNS_FOR_CHECK = 3
"""Runs a family must keep after its largest models are left out (a trend needs 3 models)."""


def smooth_pointwise_loglik(forecaster: EmergenceForecaster) -> np.ndarray:
    """Log density of every observed smooth value under each posterior draw, shape (chains, draws, N_s).

    Student-t around the fitted trend, as in the model (standardised units; the Jacobian of the
    standardisation is the same for every form, so it cancels in comparisons).
    """
    d = forecaster.design
    posterior = forecaster.idata.posterior
    chains, draws = posterior.sizes["chain"], posterior.sizes["draw"]
    models = d.smooth_model_idx
    series_task = np.array([int(np.flatnonzero(d.task_series == k)[0]) for k in d.smooth_series_idx])
    loglik = forecaster.standardised_smooth_logpdf(series_task, d.log10_params[models], d.log10_tokens[models],
                                                   d.smooth_obs)
    return loglik.reshape(chains, draws, -1)


def compare_forms(forecasters: dict[str, EmergenceForecaster]) -> pd.DataFrame:
    """PSIS-LOO of each form's predictive density of the smooth metric, with its stacking weight.

    One row per form (index = form name, in the given order). Columns: ``elpd_loo``, ``se``,
    ``elpd_diff``, ``dse`` (log scale, per ``az.compare``), ``p_loo``, ``weight`` (stacking weights,
    sum to 1), ``pareto_k_max`` and ``n_pareto_k_high`` (observations whose Pareto k exceeds the
    sample-size dependent threshold ``good_k``: there the importance-sampling LOO, hence the weight,
    is unreliable).
    """
    compare_dict = {}
    k_max, n_high = {}, {}
    for name, forecaster in forecasters.items():
        loglik = smooth_pointwise_loglik(forecaster)
        compare_dict[name] = az.InferenceData(
            posterior=forecaster.idata.posterior,
            log_likelihood=az.dict_to_dataset({"smooth": loglik}),
        )
        with warnings.catch_warnings():  # reported as n_pareto_k_high instead
            warnings.simplefilter("ignore", UserWarning)
            loo = az.loo(compare_dict[name], pointwise=True)
        k = np.asarray(loo.pareto_k.values, dtype=float)
        k_max[name] = float(np.nanmax(k))
        n_high[name] = int(np.sum(k > float(getattr(loo, "good_k", 0.7))))
    if len(forecasters) == 1:
        name = next(iter(forecasters))
        loo = az.loo(compare_dict[name])
        table = pd.DataFrame({"elpd_loo": [float(loo.elpd_loo)], "se": [float(loo.se)], "elpd_diff": [0.0],
                              "dse": [0.0], "p_loo": [float(loo.p_loo)], "weight": [1.0]}, index=[name])
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            table = az.compare(compare_dict, ic="loo", method="stacking")
        table = table.loc[list(forecasters), ["elpd_loo", "se", "elpd_diff", "dse", "p_loo", "weight"]].astype(float)
        table["weight"] = table["weight"] / table["weight"].sum()
    table["pareto_k_max"] = pd.Series(k_max)
    table["n_pareto_k_high"] = pd.Series(n_high)
    table.index.name = "trend"
    return table


def loo_stacking_weights(forecasters: dict[str, EmergenceForecaster]) -> dict[str, float]:
    """Stacking weights (sum to 1) of the forms' PSIS-LOO predictive densities of the smooth metric."""
    if len(forecasters) == 1:
        return {name: 1.0 for name in forecasters}
    table = compare_forms(forecasters)
    return {name: float(table.loc[name, "weight"]) for name in forecasters}


@dataclass
class LeaveLargestOutCheck:
    """What refitting without each family's largest models showed (training data only).

    ``smooth_lpd``: per form, the held-out smooth points' summed log predictive density (nats,
    standardised units); ``weights``: their stacking weights; ``link_discrepancy``: delta (spreads
    per decade of compute) maximising the mixture's held-out success density; ``success_lpd_gain``:
    how much that raised it over delta = 0 (nats); ``max_distance``: the farthest held-out model's
    decades of compute beyond the refit's training range. The ``token_*`` fields describe the second
    refit, without each family's longest-trained runs (:func:`leave_longest_out_split`): the token
    discrepancy (spreads per decade of tokens per parameter) that maximises those runs' held-out
    success density given ``link_discrepancy``, its gain, the held-out models and their farthest
    distance in decades of tokens per parameter; ``token_note`` says where it came from otherwise.
    """

    heldout_models: list[str]
    n_smooth_points: int
    n_success_points: int
    smooth_lpd: dict[str, float]
    weights: dict[str, float]
    link_discrepancy: float
    success_lpd_gain: float
    max_distance: float
    token_discrepancy: float = 0.0
    token_heldout_models: list[str] | None = None
    token_success_lpd_gain: float = 0.0
    max_token_distance: float = 0.0
    token_note: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def leave_largest_out_split(rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """(rows without each family's largest models, those models' final-checkpoint rows), or None
    when a family has fewer than :data:`MIN_SIZES_FOR_CHECK` sizes (params) or would keep fewer than
    :data:`MIN_RUNS_FOR_CHECK` runs."""
    sizes = model_sizes(rows)
    largest = sizes["params"] == sizes.groupby("family")["params"].transform("max")
    kept_runs = sizes[~largest].groupby("family").size().reindex(sizes["family"].unique(), fill_value=0)
    if (sizes.groupby("family")["params"].nunique() < MIN_SIZES_FOR_CHECK).any() or (kept_runs < MIN_RUNS_FOR_CHECK).any():
        return None
    return hold_out_runs(rows, sizes[largest])


MIN_LENGTHS_FOR_TOKEN_CHECK = 2
"""Distinct training lengths (tokens per parameter, 2 significant digits) a family needs for the
leave-longest-out check: one or more stay to fit, the longest is predicted."""


def leave_longest_out_split(rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """(rows without each family's longest-trained runs, those runs' final-checkpoint rows), or None
    when a family has fewer than :data:`MIN_LENGTHS_FOR_TOKEN_CHECK` distinct tokens-per-parameter
    ratios or would keep fewer than :data:`MIN_RUNS_FOR_CHECK` runs, or fewer than 2 sizes."""
    sizes = model_sizes(rows)
    ratio = log10_tokens_per_param(sizes).round(2)
    if not np.all(np.isfinite(ratio)):
        return None
    longest = ratio == ratio.groupby(sizes["family"]).transform("max")
    kept = sizes[~longest]
    kept_runs = kept.groupby("family").size().reindex(sizes["family"].unique(), fill_value=0)
    kept_sizes = kept.groupby("family")["params"].nunique().reindex(sizes["family"].unique(), fill_value=0)
    if (ratio.groupby(sizes["family"]).nunique() < MIN_LENGTHS_FOR_TOKEN_CHECK).any() \
            or (kept_runs < MIN_RUNS_FOR_CHECK).any() or (kept_sizes < 2).any():
        return None
    return hold_out_runs(rows, sizes[longest])


def _heldout_success_targets(heldout: pd.DataFrame, reduced: pd.DataFrame, smooth_metric: str) -> pd.DataFrame:
    """The held-out success results of (family, task) pairs the refit was trained on, as targets."""
    success = reduced[reduced["metric"] != smooth_metric]
    targets = heldout_targets(heldout, smooth_metric, sorted(set(success["task"])))
    trained = pd.MultiIndex.from_frame(success[["family", "task"]])
    return targets[pd.MultiIndex.from_frame(targets[["family", "task"]]).isin(trained)].reset_index(drop=True)


def heldout_smooth_lpd(forecaster: EmergenceForecaster, targets: pd.DataFrame, heldout: pd.DataFrame) -> np.ndarray:
    """Log predictive density (n_points,) of the held-out smooth metric under a refit: one point per
    target's (model, task) smooth row, or per model for a model-level (task ``*``) row."""
    smooth = heldout[heldout["metric"] == forecaster.config.smooth_metric].set_index(["model", "task"])["value"]
    source = [t if (m, t) in smooth.index else "*" for m, t in zip(targets["model"], targets["task"])]
    raw = np.array([smooth.get((m, t), np.nan) for m, t in zip(targets["model"], source)], dtype=float)
    first = ~pd.DataFrame({"model": targets["model"].to_numpy(), "source": source}).duplicated().to_numpy()
    keep = np.isfinite(raw) & first
    loglik = forecaster.smooth_logpdf(targets[keep], raw[keep])
    return special.logsumexp(loglik, axis=0) - np.log(loglik.shape[0])


def _named_phase(on_phase: Callable[[str], None] | None, name: str) -> Callable[[str], None] | None:
    """``on_phase`` with each stage prefixed by which of the stack's fits it is (e.g. ``compute``)."""
    return None if on_phase is None else (lambda stage: on_phase(f"{name}: {stage}"))


def _refit(components: dict[str, EmergenceForecaster], reduced: pd.DataFrame, check: str, what: str,
           progress: bool, **fit_kwargs) -> dict[str, EmergenceForecaster]:
    """Every form refitted on ``reduced`` (the rows without some held-out models), at the form's own
    sampler settings (shorter refits moved the link discrepancy and the coverage at distance:
    docs/backtests.md, *Refit length*). ``check`` names the refits' phases, ``what`` their progress line."""
    refits = {}
    for form, component in components.items():
        if progress:
            print(f"{what}: refitting {form}", file=sys.stderr, flush=True)
        named = fit_kwargs | {"on_phase": _named_phase(fit_kwargs.get("on_phase"), f"{check}, {form}")}
        refits[form] = EmergenceForecaster(component.config).fit(reduced, progress=progress,
                                                                 margins=component.margins, **named)
    return refits


def _mixture_lpd(refits: dict[str, EmergenceForecaster], targets: pd.DataFrame, log_w: np.ndarray,
                 deltas: np.ndarray, token_deltas: np.ndarray | None = None) -> np.ndarray:
    """The weighted mixture's held-out success log density (len(deltas), n) over a discrepancy grid."""
    per_form = np.stack([f.heldout_success_lpd(targets, deltas, token_deltas=token_deltas) for f in refits.values()])
    return special.logsumexp(per_form + log_w[:, None, None], axis=0)


def leave_largest_out_check(components: dict[str, EmergenceForecaster], progress: bool = False,
                            **fit_kwargs) -> LeaveLargestOutCheck | None:
    """Refit every form without each family's largest models; weigh the forms by stacking their
    held-out smooth densities and estimate the link discrepancy from the held-out success results.
    Then (when :func:`leave_longest_out_split` can split) refit without each family's longest-trained
    runs: their smooth densities join the stacking, and their success results give the token
    discrepancy (given the compute one). None when :func:`leave_largest_out_split` cannot split the
    training rows."""
    first = next(iter(components.values()))
    largest = _split_and_refit(components, leave_largest_out_split(first.training_rows), "leave-largest-out check",
                               "largest models", progress, **fit_kwargs)
    if largest is None:
        return None
    refits, targets, smooth_lpd, heldout_models = largest
    token = _split_and_refit(components, leave_longest_out_split(first.training_rows), "leave-longest-out check",
                             "longest-trained runs", progress, **fit_kwargs)
    all_smooth = smooth_lpd if token is None else np.vstack([smooth_lpd, token[2]])
    weights = stacking_weights(all_smooth) if all_smooth.shape[0] else np.full(len(refits), 1.0 / len(refits))
    log_w = np.log(np.maximum(weights, 1e-300))
    mixture = _mixture_lpd(refits, targets, log_w, DISCREPANCY_GRID)  # (grid, n)
    delta = link_discrepancy_mle(mixture)
    total = mixture.sum(axis=1)
    distance = float(np.max(next(iter(refits.values())).target_distance(targets)))  # the refits share their rows
    check = LeaveLargestOutCheck(
        heldout_models=heldout_models, n_smooth_points=int(all_smooth.shape[0]),
        n_success_points=len(targets), smooth_lpd=dict(zip(refits, all_smooth.sum(axis=0).tolist())),
        weights=dict(zip(refits, weights.tolist())), link_discrepancy=delta,
        success_lpd_gain=float(total[list(DISCREPANCY_GRID).index(delta)] - total[0]), max_distance=distance,
    )
    if token is None:
        check.token_discrepancy = delta
        check.token_note = ("no leave-longest-out check (a family has a single training length, or too few runs "
                            "would stay): the token discrepancy is taken equal to the compute one")
        return check
    token_refits, token_targets, _, token_models = token
    token_mixture = _mixture_lpd(token_refits, token_targets, log_w, np.full(DISCREPANCY_GRID.shape, delta),
                                 DISCREPANCY_GRID)
    check.token_discrepancy = link_discrepancy_mle(token_mixture)
    token_total = token_mixture.sum(axis=1)
    check.token_success_lpd_gain = float(token_total[list(DISCREPANCY_GRID).index(check.token_discrepancy)]
                                         - token_total[0])
    check.token_heldout_models = token_models
    check.max_token_distance = float(np.max(next(iter(token_refits.values())).target_token_distance(token_targets)))
    check.token_note = "leave_longest_out"
    return check


def _split_and_refit(components: dict[str, EmergenceForecaster], split: tuple[pd.DataFrame, pd.DataFrame] | None,
                     check: str, held: str, progress: bool,
                     **fit_kwargs) -> tuple[dict, pd.DataFrame, np.ndarray, list[str]] | None:
    """(every form refitted on the split's kept rows, the held-out runs' success targets, their
    smooth lpd (n_points, forms), held-out model names), or None when there is no split or nothing
    to predict. ``check`` and ``held`` name the check and the held-out runs in the progress line."""
    if split is None:
        return None
    reduced, heldout = split
    first = next(iter(components.values()))
    refits = _refit(components, reduced, check, f"{check} (without {heldout['model'].nunique()} {held})", progress,
                    **fit_kwargs)
    targets = _heldout_success_targets(heldout, reduced, first.config.smooth_metric)
    if targets.empty:
        return None
    smooth_lpd = np.column_stack([heldout_smooth_lpd(f, targets, heldout) for f in refits.values()])
    return refits, targets, smooth_lpd, sorted(heldout["model"].astype(str).unique())


class StackedForecaster:
    """The hierarchical model under several trend forms, mixed by stacking weights."""

    def __init__(self, config: FitConfig | None = None, forms: tuple[str, ...] = TREND_FORMS,
                 weighting: str = "leave_largest_out") -> None:
        unknown = sorted(set(forms) - set(TREND_FORMS))
        if unknown or not forms:
            raise ValueError(f"unknown trend forms {unknown}; choose from {list(TREND_FORMS)}")
        if weighting not in WEIGHTINGS:
            raise ValueError(f"unknown weighting {weighting!r}; choose from {list(WEIGHTINGS)}")
        self.config = (config or FitConfig()).model_copy(update={"trend": "stacked"})
        self.forms = tuple(forms)
        self.weighting = weighting
        self.components: dict[str, EmergenceForecaster] = {}
        self.weights: dict[str, float] = {}
        self.link_discrepancy = 0.0  # delta: spreads per decade of compute beyond the training range
        self.token_discrepancy = 0.0  # spreads per decade of tokens per parameter beyond the longest training run
        self.check: dict | None = None  # LeaveLargestOutCheck.to_dict() of the weights, when it ran
        self.comparison: pd.DataFrame | None = None  # compare_forms() when weighted by LOO; None after load
        self.notes: list[str] = []

    def fit(self, table: pd.DataFrame, progress: bool = True, margins: pd.DataFrame | None = None,
            should_stop: Callable[[], bool] | None = None, on_phase: Callable[[str], None] | None = None,
            on_draws: Callable[[int], None] | None = None) -> StackedForecaster:
        """Fit every form on the same rows, then compute the stacking weights (and the discrepancy) on
        those training rows alone. ``should_stop``, ``on_phase`` and ``on_draws`` go to every one of
        the underlying fits (:meth:`EmergenceForecaster.fit`)."""
        fit_kwargs = {"should_stop": should_stop, "on_phase": on_phase, "on_draws": on_draws}
        cfg = self.config  # --smooth auto: chosen once, on the rows every form then fits
        table, choice = resolve_smooth(table, cfg.smooth_metric, cfg.success_metric, cfg.tasks, cfg.families, cfg.seed)
        for form in self.forms:
            config = self.config.model_copy(update={"trend": form})
            named = fit_kwargs | {"on_phase": _named_phase(on_phase, form)}
            self.components[form] = EmergenceForecaster(config).fit(table, progress=progress, margins=margins,
                                                                    **named)
            self.components[form].smooth_choice = choice.to_dict() if choice else None
        self._weigh(progress, **fit_kwargs)
        return self

    @property
    def training_rows(self) -> pd.DataFrame | None:
        """The rows every form was fitted on; None before fitting."""
        first = self.components.get(self.forms[0])
        return first.training_rows if first is not None else None

    def _weigh(self, progress: bool = False, **fit_kwargs) -> None:
        """Weights by the configured weighting; leave-largest-out falls back to LOO when it cannot run."""
        self.comparison, self.check, self.link_discrepancy, self.notes = None, None, 0.0, []
        self.token_discrepancy = 0.0
        if self.weighting == "leave_largest_out":
            check = leave_largest_out_check(self.components, progress, **fit_kwargs)
            if check is not None:
                self.check = check.to_dict()
                self.weights = {form: float(check.weights[form]) for form in self.forms}
                self.link_discrepancy = check.link_discrepancy
                self.token_discrepancy = check.token_discrepancy
                if check.token_note != "leave_longest_out":
                    self.notes.append(check.token_note)
                return
            self.notes.append(f"leave-largest-out weights need {MIN_SIZES_FOR_CHECK} model sizes in every family "
                              f"and {MIN_RUNS_FOR_CHECK} runs below the largest; fell back to PSIS-LOO weights "
                              "and no link discrepancy")
        self.comparison = compare_forms(self.components)
        self.weights = {form: float(self.comparison.loc[form, "weight"]) for form in self.forms}

    @classmethod
    def from_fits(cls, components: dict[str, EmergenceForecaster], config: FitConfig | None = None,
                  weighting: str = "leave_largest_out", progress: bool = False) -> StackedForecaster:
        """A stack of forms already fitted on the same rows (one per trend form), weighted by stacking.

        ``config`` supplies the mixture's seed (default: the first component's config).
        """
        if not components:
            raise ValueError("no fitted forms to stack")
        trends = [c.config.trend for c in components.values()]
        if list(components) != trends:
            raise ValueError(f"components must be keyed by their own trend form; got keys {list(components)} "
                             f"for trends {trends}")
        if len({c.design.data_hash for c in components.values()}) != 1:
            raise ValueError("the forms to stack were fitted on different data")
        first = next(iter(components.values()))
        self = cls(config or first.config, tuple(components), weighting)
        self.components = dict(components)
        self._weigh(progress)
        return self

    def smooth_choice_record(self) -> dict | None:
        """The forms' shared ``--smooth auto`` choice (see :meth:`EmergenceForecaster.smooth_choice_record`)."""
        return self.components[self.forms[0]].smooth_choice_record()

    @property
    def weights_from(self) -> str:
        """What the weights actually came from: ``leave_largest_out`` when that check ran, else ``loo``."""
        return "leave_largest_out" if self.check is not None else "loo"

    @property
    def design(self) -> Design | None:
        """The design of the first form (every form is fitted on the same rows); None before fitting."""
        first = self.components.get(self.forms[0])
        return first.design if first is not None else None

    @property
    def diagnostics(self) -> Diagnostics | None:
        """The worst diagnostics across forms (max R-hat, min ESS, total divergences); None before fitting."""
        diags = [c.diagnostics for c in self.components.values()]
        if not diags or any(d is None for d in diags):
            return None
        return Diagnostics(
            rhat_max=max(d.rhat_max for d in diags), ess_bulk_min=min(d.ess_bulk_min for d in diags),
            divergences=sum(d.divergences for d in diags),
            compile_seconds=sum(d.compile_seconds for d in diags),
            sampling_seconds=sum(d.sampling_seconds for d in diags),
            warnings=[f"{form}: {w}" for form, c in self.components.items() for w in c.diagnostics.warnings],
        )

    def _mixture_choice(self, n_draws: int, seed: int | None) -> np.ndarray:
        """Which form supplies each mixture draw, shape (n_draws,)."""
        rng = np.random.default_rng(self.config.seed if seed is None else seed)
        return rng.choice(len(self.forms), size=n_draws, p=[self.weights[f] for f in self.forms])

    def _mix(self, per_form: list[np.ndarray], seed: int | None) -> np.ndarray:
        """Mix per-form draw arrays (each (S_f, ...)) draw by draw according to the weights."""
        n = min(a.shape[0] for a in per_form)
        choice = self._mixture_choice(n, seed)
        stacked = np.stack([a[:n] for a in per_form])
        return stacked[choice, np.arange(n)]

    def predictive_draws(self, targets: pd.DataFrame, seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Mixture posterior predictive: (success (S, n), smooth in metric units (S, n)); beyond the
        training range each form's link is widened by :attr:`link_discrepancy`."""
        draws = [self.components[f].predictive_draws(targets, seed, self.link_discrepancy, self.token_discrepancy)
                 for f in self.forms]
        return self._mix([s for s, _ in draws], seed), self._mix([m for _, m in draws], seed)

    def predict(self, targets: pd.DataFrame, seed: int | None = None) -> pd.DataFrame:
        """Predicted success quantiles per target (the CLI's PRED columns) from the mixture."""
        success, smooth = self.predictive_draws(targets, seed)
        return summarize_predictive(targets, success, smooth, self.components[self.forms[0]].success_metrics(targets))

    def emergence_draws(self, task: str, level: float | None = 0.5, success_at: float | None = None) -> np.ndarray:
        """Mixture of the forms' emergence draws for one task (log10 FLOPs; ``+inf`` beyond range)."""
        return self._mix([self.components[f].emergence_draws(task, level, success_at) for f in self.forms], None)

    def search_range(self) -> tuple[float, float]:
        return self.components[self.forms[0]].search_range()

    def smooth_on_compute_path(self, t: int, grid: np.ndarray) -> np.ndarray:
        """Mixture of the forms' expected standardised smooth metric of task ``t`` along the training
        set's tokens-per-parameter ratio at log10 FLOPs ``grid``, shape (S, len(grid))."""
        return self._mix([self.components[f].smooth_on_compute_path(t, grid) for f in self.forms], None)

    def expected_success(self, task_idx: np.ndarray, smooth: np.ndarray) -> np.ndarray:
        """Expected success (S, n) for mixture smooth draws ``smooth`` (S, n) as returned by
        :meth:`smooth_on_compute_path` (same S): draw i goes through the link of the form that supplied it."""
        choice = self._mixture_choice(smooth.shape[0], None)
        out = np.empty_like(smooth, dtype=float)
        for i, form in enumerate(self.forms):
            rows = np.flatnonzero(choice == i)
            component = self.components[form]
            full = np.zeros((component._draws("threshold").shape[0], smooth.shape[1]))
            full[rows] = smooth[rows]
            out[rows] = component.expected_success(task_idx, full)[rows]
        return out

    def emergence(self, level: float | None = 0.5, success_at: float | None = None,
                  reached_by: float | None = None) -> pd.DataFrame:
        """Per-task emergence summary from the mixture (same columns as the single-form fit)."""
        return self.components[self.forms[0]].emergence(level, success_at, reached_by, draws_for=self.emergence_draws)

    def weights_table(self) -> pd.DataFrame:
        return pd.DataFrame({"trend": list(self.weights), "weight": list(self.weights.values())})

    def stack_description(self) -> dict:
        """What the saved file's :data:`STACK_ATTR` holds: forms, weights, weighting, discrepancy, check, notes."""
        return {"format": STACK_FORMAT, "forms": list(self.forms), "weights": self.weights,
                "weighting": self.weighting, "link_discrepancy": self.link_discrepancy,
                "token_discrepancy": self.token_discrepancy, "check": self.check,
                "notes": self.notes, "diagnostics": {f: c.diagnostics.to_dict() if c.diagnostics else {}
                                                     for f, c in self.components.items()}}

    def save(self, path: str | Path) -> Path:
        """Write ONE NetCDF: each form's posterior and sample statistics as ``<form>::<name>``; the
        shared config (trend ``stacked``), design, training rows and the stack description in ``attrs``."""
        if not self.components:
            raise ValueError("nothing to save: the model is not fitted yet")
        groups = {"posterior": [], "sample_stats": []}
        for form, component in self.components.items():
            for group, parts in groups.items():
                data = getattr(component.idata, group)
                parts.append(data.rename({name: f"{form}{FORM_SEPARATOR}{name}" for name in data.data_vars}))
        import xarray as xr

        idata = az.InferenceData(**{g: xr.merge(parts, combine_attrs="drop") for g, parts in groups.items()})
        first = self.components[self.forms[0]]
        idata.attrs.update(first.file_attrs() | {
            "turnsignal_config": self.config.model_dump_json(),
            "turnsignal_diagnostics": json.dumps(self.diagnostics.to_dict() if self.diagnostics else {}),
            STACK_ATTR: json.dumps(self.stack_description()),
        })
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        idata.to_netcdf(str(path))
        return path

    @classmethod
    def load(cls, path: str | Path, expect: FitConfig | None = None) -> StackedForecaster:
        """Read a stacked fit written by :meth:`save`. :class:`StaleFitError` when the file is from
        another model version, is not a stack, was written in another layout, or (with ``expect``)
        was fitted with another model structure."""
        return cls.from_idata(read_fit_file(path), path, expect)

    @classmethod
    def from_idata(cls, idata: az.InferenceData, path: str | Path, expect: FitConfig | None = None) -> StackedForecaster:
        """A stack from a stacked file's InferenceData (see :meth:`save`); ``path`` names it in errors."""
        stack = json.loads(idata.attrs.get(STACK_ATTR) or "null")
        if not stack:
            raise StaleFitError(f"{path} is a single-form fit, not a stack")
        if stack.get("format") != STACK_FORMAT:
            raise StaleFitError(f"{path} is a stack in an older layout (one file per trend form): refit it")
        config = check_saved_config(idata.attrs, path, expect)
        self = cls(config, tuple(stack["forms"]), stack["weighting"])
        self.weights = {k: float(v) for k, v in stack["weights"].items()}
        self.link_discrepancy = float(stack["link_discrepancy"])
        self.token_discrepancy = float(stack.get("token_discrepancy", 0.0))
        self.check, self.notes = stack.get("check"), list(stack.get("notes") or [])
        for form in self.forms:
            parts = {}
            for group in ("posterior", "sample_stats"):
                data = getattr(idata, group)
                names = [n for n in data.data_vars if n.startswith(f"{form}{FORM_SEPARATOR}")]
                if not names:
                    raise StaleFitError(f"{path}: the stack lists trend form {form!r} but holds no {group} for it")
                parts[group] = data[names].rename({n: n.split(FORM_SEPARATOR, 1)[1] for n in names})
            attrs = dict(idata.attrs) | {
                "turnsignal_config": config.model_copy(update={"trend": form}).model_dump_json(),
                "turnsignal_diagnostics": json.dumps((stack.get("diagnostics") or {}).get(form) or {})}
            self.components[form] = EmergenceForecaster.from_idata(az.InferenceData(**parts), attrs, path)
        return self


def make_forecaster(config: FitConfig | None = None) -> EmergenceForecaster | StackedForecaster:
    """The forecaster a config asks for: a stack of both trend forms for ``trend="stacked"`` (the
    default), else the single form."""
    config = config or FitConfig()
    return StackedForecaster(config) if config.trend == "stacked" else EmergenceForecaster(config)


def load_fit(path: str | Path, expect: FitConfig | None = None) -> EmergenceForecaster | StackedForecaster:
    """Load a saved fit, single-form or stacked, whichever the file holds (see :func:`read_fit_file`)."""
    idata = read_fit_file(path)
    if idata.attrs.get(STACK_ATTR):
        return StackedForecaster.from_idata(idata, path, expect)
    return EmergenceForecaster.from_idata(idata, idata.attrs, path, expect)
