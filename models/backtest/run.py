"""Running backtests: one scenario per cut, every method fitted on the training rows only.

:func:`run_backtest` splits the table at one cut, runs each method of ``METHODS`` through its runner
(hierarchical fits are shared between ``hierarchical`` and ``hierarchical_stacked``) and scores the
draws; :func:`run_backtest_suite` runs one scenario per cut, all predicting the models above the
largest cut.
"""
from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from forecast.baselines import BaselineFit, fit_success_logistic, fit_two_step
from forecast.design import MODEL_KEY, heldout_targets, model_sizes, select_rows
from forecast.surrogate import AUTO_SMOOTH, apply_smooth_choice, resolve_smooth
from models.backtest.shuffle import jump_discrimination, shuffle_test
from models.backtest.cuts import (Cut, chinchilla_multiples, default_cuts, extrapolation_ratios, one_family_sizes,
                                  split_by_size, token_ratios)
from models.backtest.report import (METHODS, BacktestResult, BacktestSuite, records, score_samples, summarize,
                                    weights_line)
from models.config import FitConfig
from models.forecaster import EmergenceForecaster
from models.stacking import TREND_FORMS, StackedForecaster


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
    shuffle_permutations: int = 0,
    heldout_at_most: float | None = None,
    train_multiples: tuple[float, float] | None = None,
    heldout_multiples: tuple[float, float] | None = None,
    ratio_by: str = "compute",
) -> BacktestResult:
    """Fit every method on the models at or below the cut and score its predictions of the rest.

    ``table``: a validated eval table. Rows are selected as for a fit (``config``'s metrics, tasks,
    families, and ``link_checkpoints``/``checkpoints_per_run``). Exactly one of ``train_max_params``
    (parameter count) or ``train_max_flops`` (training FLOPs) sets the cut; ``heldout_above`` (same
    unit) predicts only the models above it. ``n_boot`` is the baselines' bootstrap size. ``methods``
    selects a subset of ``METHODS``. ``label`` names the scenario (default: the cut, e.g.
    ``params<=760M``). ``shuffle_permutations`` > 0 also runs the shuffle test
    (:mod:`models.backtest.shuffle`) with the single-form hierarchical model. Every scenario reports
    each method's jump discrimination. ``heldout_at_most``, ``train_multiples`` and
    ``heldout_multiples`` narrow the split further (:func:`models.backtest.cuts.split_by_size`; the
    token-extrapolation scenarios). ``ratio_by``: the extrapolation ratio that bins the results,
    ``compute`` (target compute over the largest training run's) or ``tokens`` (target tokens per
    parameter over the longest-trained training run's). Raises ValueError when nothing is held out or
    nothing trains.
    """
    if ratio_by not in ("compute", "tokens"):
        raise ValueError(f"ratio_by must be 'compute' or 'tokens', not {ratio_by!r}")
    unknown = sorted(set(methods) - set(METHODS))
    if unknown or not methods:
        raise ValueError(f"unknown methods {unknown}; choose from {list(METHODS)}")
    choice = None  # --smooth auto: chosen on this scenario's training runs alone, then every method uses it
    if config.smooth_metric == AUTO_SMOOTH:
        training_all, _ = split_by_size(table, train_max_params, train_max_flops, heldout_above)
        _, choice = resolve_smooth(training_all, config.smooth_metric, config.success_metric, config.tasks,
                                   config.families, config.seed)
        if choice is not None:
            table = apply_smooth_choice(table, choice.choice)
    selected = select_rows(table, config.smooth_metric, config.success_metric, config.tasks, config.families,
                           config.link_checkpoints, config.checkpoints_per_run)
    training_rows, heldout_rows = split_by_size(selected, train_max_params, train_max_flops, heldout_above,
                                                heldout_at_most, train_multiples, heldout_multiples)
    label = label or Cut("params" if train_max_params is not None else "flops",
                         train_max_params if train_max_params is not None else train_max_flops).label
    trained_tasks = sorted(set(training_rows.loc[training_rows["metric"] != config.smooth_metric, "task"]))
    targets = heldout_targets(heldout_rows, config.smooth_metric, trained_tasks)
    notes = _untrained_task_notes(heldout_rows, config.smooth_metric, trained_tasks)
    if choice is not None:
        notes.append(choice.summary())
    targets, family_notes = _drop_untrained_families(targets, training_rows)
    notes.extend(family_notes)
    _check_split(training_rows, targets)
    ratios = (extrapolation_ratios if ratio_by == "compute" else token_ratios)(targets, training_rows)
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
    shuffle = None
    if shuffle_permutations > 0:
        _say(progress, f"backtest {label}: shuffle test, {shuffle_permutations} refits with the smooth series "
                       "permuted across tasks")
        shuffle = _run_shuffle(context, shuffle_permutations)
    weights = diagnostics.get("hierarchical_stacked", {}).get("weights")
    if weights:
        _say(progress, f"backtest {label}: stacking weights {weights_line(weights)}")
    return BacktestResult(
        predictions=predictions, summary=summarize(predictions), training_rows=training_rows,
        training_models=_model_names(training_rows), heldout_models=_model_names(targets),
        cut={"train_max_params": train_max_params, "train_max_flops": train_max_flops},
        diagnostics=diagnostics, notes=notes, label=label, reach=float(np.max(ratios)),
        stacking_weights=weights, shuffle=shuffle,
        discrimination=jump_discrimination(predictions, training_rows, config.smooth_metric), ratio_by=ratio_by,
        smooth_choice=choice.to_dict() if choice is not None else None,
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
    shuffle_permutations: int = 0,
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
                              methods=methods, heldout_above=largest, label=cut.label,
                              shuffle_permutations=shuffle_permutations)
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


def single_form(config: FitConfig) -> str:
    """The trend form of the ``hierarchical`` method: the config's, or ``compute`` when it is ``stacked``."""
    return "compute" if config.trend == "stacked" else config.trend


def _run_hierarchical(ctx: _Context) -> tuple[np.ndarray, dict]:
    forecaster, _ = ctx.fit(single_form(ctx.config))
    success, _ = forecaster.predictive_draws(ctx.targets)
    report = forecaster.diagnostics.to_dict() if forecaster.diagnostics else {}
    report["trend"] = single_form(ctx.config)
    report["notes"] = list(report.get("warnings", [])) + list(forecaster.design.notes)
    return success.T, report


def _run_stacked(ctx: _Context) -> tuple[np.ndarray, dict]:
    """Every trend form (the config's own first), mixed by stacking weights; reused fits are not refitted."""
    first = single_form(ctx.config)
    forms = (first, *[f for f in TREND_FORMS if f != first])
    fitted = {form: ctx.fit(form) for form in forms}
    stack = StackedForecaster.from_fits({form: f for form, (f, _) in fitted.items()}, ctx.config,
                                        progress=ctx.progress)
    success, _ = stack.predictive_draws(ctx.targets)
    per_form = {form: (f.diagnostics.to_dict() if f.diagnostics else {}) for form, (f, _) in fitted.items()}
    report = stack.diagnostics.to_dict() if all(per_form.values()) else {}
    comparison = stack.comparison
    report |= {"weights": dict(stack.weights), "weighting": stack.weights_from, "forms": per_form,
               "link_discrepancy": stack.link_discrepancy, "token_discrepancy": stack.token_discrepancy,
               "leave_largest_out": stack.check,
               "reused_fits": [form for form, (_, reused) in fitted.items() if reused],
               "loo": records(comparison.reset_index()) if comparison is not None else []}
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


def _run_shuffle(ctx: _Context, permutations: int) -> dict:
    """The shuffle test with the single-form hierarchical model (its real fit is shared with ``hierarchical``)."""
    form = single_form(ctx.config)
    real, _ = ctx.fit(form)
    config = ctx.config.model_copy(update={"trend": form})

    def fit_predict(rows: pd.DataFrame) -> np.ndarray:
        return EmergenceForecaster(config).fit(rows, progress=ctx.progress).predictive_draws(ctx.targets)[0].T

    result = shuffle_test(ctx.training_rows, ctx.targets, real.predictive_draws(ctx.targets)[0].T,
                          ctx.config.smooth_metric, fit_predict, permutations, ctx.config.seed)
    return result | {"method": f"hierarchical ({form})"}


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
    return samples, {"n_boot": ctx.n_boot, "parameters": records(baseline.parameters()), "notes": baseline.notes}


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


SHORT_MULTIPLES = (0.75, 3.0)
LONG_MULTIPLES = (3.5, math.inf)
"""Training lengths of the token scenarios, in Chinchilla multiples (tokens / (20 params)): the 1xC
and 2xC runs train, the 5xC and 10xC runs are predicted."""


def token_scenarios(table: pd.DataFrame, config: FitConfig) -> list[dict]:
    """The two token-extrapolation scenarios of one family, as :func:`run_backtest` keyword arguments:

    * ``tokens 1-2xC->5-10xC``: every size's 1xC and 2xC runs train; every size's 5xC and 10xC runs
      are predicted (binned by tokens per parameter over the longest training run's);
    * ``params<=<third largest>->`` the second-largest size's longest run from every run at or below the
      third-largest size (OLMo: all multiples <= 760M predict 1.3B at 10xC; binned by compute).

    Raises ValueError when the selection spans several families or lacks the runs.
    """
    sizes = one_family_sizes(table, config, "the token scenarios")
    multiples = chinchilla_multiples(sizes)
    params = np.unique(sizes["params"].to_numpy(float))
    short = (multiples >= SHORT_MULTIPLES[0]) & (multiples <= SHORT_MULTIPLES[1])
    if not short.any() or not (multiples >= LONG_MULTIPLES[0]).any() or len(params) < 3:
        raise ValueError("the token scenarios need runs at 1-2x and at >= 5x Chinchilla tokens (tokens / (20 "
                         f"params)) and 3 sizes; this table has multiples {sorted(set(np.round(multiples, 2)))} "
                         f"and {len(params)} sizes")
    second, third = params[-2], params[-3]
    longest = float(multiples[sizes["params"].to_numpy(float) == second].max())
    return [
        {"train_max_params": float(params[-1]), "train_multiples": SHORT_MULTIPLES,
         "heldout_multiples": LONG_MULTIPLES, "ratio_by": "tokens", "label": "tokens 1-2xC->5-10xC"},
        {"train_max_params": float(third), "heldout_above": float(third), "heldout_at_most": float(second),
         "heldout_multiples": (0.95 * longest, math.inf), "ratio_by": "compute",
         "label": f"{Cut('params', third).label}->{Cut('params', second).label.split('<=')[1]}@{longest:.0f}xC"},
    ]


def run_token_suite(table: pd.DataFrame, *, config: FitConfig, n_boot: int = 200, progress: bool = True,
                    methods: Sequence[str] = METHODS, on_scenario: Callable[[BacktestResult], None] | None = None
                    ) -> BacktestSuite:
    """The token-extrapolation scenarios (:func:`token_scenarios`), one after the other."""
    scenarios = []
    for i, kwargs in enumerate(token_scenarios(table, config)):
        _say(progress, f"backtest token scenario {i + 1}/2: {kwargs['label']}")
        result = run_backtest(table, config=config, n_boot=n_boot, progress=progress, methods=methods, **kwargs)
        scenarios.append(result)
        if on_scenario is not None:
            on_scenario(result)
    return BacktestSuite(scenarios)
