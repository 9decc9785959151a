"""The hierarchical emergence model as a ``pm.Model`` builder.

Structure (T tasks, K smooth series, M models; see ``forecast.links`` for the formulas):

1. Trend: each series' standardised smooth metric follows a saturating power law in compute
   (or the two-variable params/tokens form), its floor, amplitude and rate partially pooled across
   series; Student-t noise.
2. Link: each task's success is ``chance + (1 - chance - gap) * Phi((threshold - s) / spread)**steps``
   evaluated at the model's observed smooth value; threshold, spread and ceiling gap partially pooled
   across tasks, so emerged tasks inform the link of tasks still near chance. With several families
   a task is a (family, task) pair: threshold and spread are the benchmark's pooled value plus a
   family shift, the ceiling gap is the benchmark's (shared by families), the shape is shared.
3. Success noise: Binomial where ``n_examples`` is known, else Beta with a per-task concentration;
   intermediate checkpoints (link rows only) get a shared extra-noise ratio on that concentration
   and a moment-matched Normal in place of the Beta (far cheaper per row; see
   :func:`success_likelihood`).

Hierarchies are centred where the data are informative (it samples far better there) and
non-centred for the few parameters the data barely inform (see ``NON_CENTRED``); for the trend's
rates and the concentrations, which a short ladder barely informs but a wide table with many runs
per series pins down, the choice is made per element from the data (:func:`rate_centred`,
:data:`CENTRED_MIN_ROWS`). The parameterisation never changes the model's density.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, NamedTuple

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from scipy.optimize import least_squares

from forecast.design import Design
from forecast.links import NUMPY, success_from_smooth, trend_compute, trend_params_tokens
from models.config import SMOOTH_NOISE_DOF, SUCCESS_EPS, FitConfig


def _prior(name: str, spec: dict[str, Any], **kwargs: Any) -> pt.TensorVariable:
    params = {k: v for k, v in spec.items() if k != "dist"}
    return getattr(pm, spec["dist"])(name, **params, **kwargs)


NON_CENTRED = frozenset({"log_rate", "log_rate_tokens", "logit_gap", "log_concentration"})
"""Pooled parameters the data barely inform (curvature, ceiling, the accuracy noise's concentration):
sampled non-centred, which avoids the funnel their collapsing pooling sd creates (centred, the
concentration gave 11 of 11 divergences at a small ``log_concentration_sd`` on a simulated 4-task
ladder). Data-rich ones stay centred, which samples better."""

MIN_CENTRED_GROUP = 3
"""Groups with fewer members (e.g. a single-task fit) leave the pooling sd to its prior: always
non-centred there, since a centred member of an unidentified-sd group sits in a pure funnel."""

CENTRED_RATE_SE = 0.05
"""A series' log rate (see :func:`smooth_trend`) is sampled centred when a least-squares fit of the
trend to that series' own smooth rows pins it to this standard error or better, i.e. well inside the
spread the pooling allows (``log_rate_sd`` ~ HalfNormal(0.3)): non-centred, such a rate's offset is
pinned to ``(log_rate - mu) / sd``, a curved ridge in (mu, sd, offsets) that forces NUTS into small
steps (docs/performance.md, "Wide tables: the geometry"). On a short ladder (OLMo: 30 runs per series,
standard errors 0.09-0.3) the rates stay non-centred."""

CENTRED_MIN_ROWS = 50
"""The pooled parameters :data:`NON_CENTRED` lists for the ceiling and the noise are sampled centred
for a task with at least this many rows that inform them: Beta rows for the log concentration (its
standard error, about sqrt(2 / n), is then under 0.2, well inside the pooled spread), rows past the
link's midpoint (lift >= 0.5) for the ceiling's logit gap. A wide table with 100 runs per family has
them; with fewer (OLMo: 30 runs per task) both stay non-centred."""

CEILING_LIFT = 0.5
"""Success rows at least this far from chance towards 1 inform the ceiling gap (see :data:`CENTRED_MIN_ROWS`)."""

CENTRED_WHERE_EMERGED = frozenset({"threshold", "log_spread"})
"""Link parameters centred for tasks that have emerged in the training data (their data pin them
down) and non-centred for tasks still at chance (the pooled prior does): one parameterisation each."""


def _pooled(name: str, priors: dict[str, dict[str, Any]], dims: str, centred: np.ndarray | None = None,
            var_name: str | None = None) -> pt.TensorVariable:
    """A partially-pooled parameter ``name ~ Normal(name_mu, name_sd)`` over ``dims``.

    ``centred`` (bool per element) picks the parameterisation element by element; by default all
    elements are centred unless ``name`` is in :data:`NON_CENTRED`; groups smaller than
    :data:`MIN_CENTRED_GROUP` are always non-centred. A mixed group is one free vector ``z`` whose
    centred elements are the parameter itself and whose others are standard offsets (no
    set_subtensor in the graph: it compiles faster). ``var_name`` names the variable (default ``name``,
    which also names the priors ``name_mu``/``name_sd``).
    """
    var = var_name or name
    mu = _prior(f"{name}_mu", priors[f"{name}_mu"])
    sd = _prior(f"{name}_sd", priors[f"{name}_sd"])
    size = len(pm.modelcontext(None).coords[dims])
    from_data = centred is not None and size >= MIN_CENTRED_GROUP and _rows_are_data()
    centred = np.full(size, name not in NON_CENTRED) if centred is None else np.asarray(centred, dtype=bool)
    if size < MIN_CENTRED_GROUP:
        centred = np.zeros(size, dtype=bool)
    if from_data:  # a mask chosen from the data is data too (see SHARED_ROWS); the same mixed form always
        centred = pm.Data(f"{var}_centred", centred)
    elif centred.all():
        return pm.Normal(var, mu=mu, sigma=sd, dims=dims)
    elif not centred.any():
        offset = pm.Normal(f"{var}_offset", 0.0, 1.0, dims=dims)
        return pm.Deterministic(var, mu + sd * offset, dims=dims)
    z = pm.Normal(f"{var}_raw", mu=pt.where(centred, mu, 0.0), sigma=pt.where(centred, sd, 1.0), dims=dims)
    return pm.Deterministic(var, pt.where(centred, z, mu + sd * z), dims=dims)


def _link_parameter(name: str, design: Design, priors: dict[str, dict[str, Any]], centred: np.ndarray | None,
                    family_shift: bool) -> pt.TensorVariable:
    """A link parameter per task, shape (T,).

    One family: pooled across tasks (:func:`_pooled`). Several families: the base task's value
    (pooled across base tasks, dims ``base_task``, centred where the task emerged in any family)
    plus, when ``family_shift``, the family's shift (prior ``name_family_shift``, a zero-sum normal
    over families: with the few families a fit has, a shift scale is not learnable, and a zero sum
    keeps base and shifts identified); without it every family shares the base task's value (the
    ceiling: a family with no emerged task borrows it from the families where the task emerged,
    and from the pool).
    """
    if len(design.families) <= 1:
        return _pooled(name, priors, "task", centred=centred)
    base_centred = None
    if centred is not None:
        base_centred = np.zeros(len(design.base_tasks), dtype=bool)
        np.logical_or.at(base_centred, design.task_base, np.asarray(centred, dtype=bool))
    value = _pooled(name, priors, "base_task", centred=base_centred, var_name=f"{name}_base")[design.task_base]
    if family_shift:
        shift = _prior(f"{name}_family_shift", priors[f"{name}_family_shift"], dims="family")
        value = value + shift[design.task_family]
    return pm.Deterministic(name, value, dims="task")


def _power_law_term(suffix: str, priors: dict[str, dict[str, Any]],
                    centred: np.ndarray) -> tuple[pt.TensorVariable, pt.TensorVariable]:
    """(log amplitude, rate) of one decaying term, from its pooled slope at the centre and its rate
    (``centred``: (K,) bool, which series' log rates are sampled centred)."""
    log_slope = _prior(f"log_slope{suffix}", priors[f"log_slope{suffix}"], dims="series")
    log_rate = _pooled(f"log_rate{suffix}", priors, "series", centred=centred)
    rate = pm.Deterministic(f"rate{suffix}", pt.exp(log_rate), dims="series")
    log_amplitude = pm.Deterministic(f"log_amplitude{suffix}", log_slope - log_rate, dims="series")
    return log_amplitude, rate


def rate_standard_errors(design: Design, trend: str) -> np.ndarray:
    """(K, R) standard errors of each series' log rate(s) (R = 1 for ``compute``, 2 for
    ``params_tokens``: params then tokens) from a least-squares fit of the trend, in the model's
    coordinates (level, log slope, log rate per term), to that series' own smooth rows alone;
    NaN where the series has too few rows or the fit fails. Numpy only: decides the
    parameterisation, never enters the model's density."""
    n_terms = 1 if trend == "compute" else 2
    out = np.full((len(design.series), n_terms), np.nan)
    for k in range(len(design.series)):
        rows = design.smooth_series_idx == k
        m, y = design.smooth_model_idx[rows], design.smooth_obs[rows]
        n_params = 1 + 2 * n_terms
        if len(y) <= n_params + 1:
            continue

        def residuals(p: np.ndarray, m: np.ndarray = m, y: np.ndarray = y) -> np.ndarray:
            log_amps, rates = p[1::2] - p[2::2], np.exp(p[2::2])
            floor = p[0] - np.exp(log_amps).sum()
            if trend == "compute":
                return trend_compute(design.x[m], floor, log_amps[0], rates[0], design.x0, ops=NUMPY) - y
            return trend_params_tokens(design.log10_params[m], design.log10_tokens[m], floor, log_amps[0], rates[0],
                                       log_amps[1], rates[1], design.n0, design.d0, ops=NUMPY) - y

        start = np.array([0.0] + [0.0 - np.log(n_terms), np.log(0.4)] * n_terms)
        with np.errstate(over="ignore", invalid="ignore"):  # trial points far out overflow; the fit moves on
            fit = least_squares(residuals, start, method="lm", max_nfev=200 * n_params)
        information = fit.jac.T @ fit.jac
        if not fit.success or np.linalg.cond(information) > 1e12:
            continue
        variances = np.diag(np.linalg.inv(information)) * np.sum(fit.fun ** 2) / (len(y) - n_params)
        out[k] = np.sqrt(np.clip(variances[2::2], 0.0, None))
    return out


def rate_centred(design: Design, trend: str) -> np.ndarray:
    """(K, R) bool: which series' log rates are sampled centred (:data:`CENTRED_RATE_SE`)."""
    with np.errstate(invalid="ignore"):
        return rate_standard_errors(design, trend) <= CENTRED_RATE_SE


class Centring(NamedTuple):
    """Which elements of the data-informed pooled parameters are sampled centred, decided from the
    design's numpy rows before they may become ``pm.Data`` (:data:`SHARED_ROWS`): ``rates`` (K, R)
    (:func:`rate_centred`), ``gaps`` (T,) (:func:`ceiling_rows`), ``concentrations`` (T,) (Beta rows
    per task), each against its threshold."""
    rates: np.ndarray
    gaps: np.ndarray
    concentrations: np.ndarray


def centring_masks(design: Design, trend: str) -> Centring:
    """The :class:`Centring` of ``design`` (numpy rows) for one trend form."""
    beta = ~design.success_is_checkpoint & ~np.isfinite(design.n_examples)
    beta_rows_per_task = np.bincount(design.success_task_idx[beta], minlength=len(design.tasks))
    return Centring(rate_centred(design, trend), ceiling_rows(design) >= CENTRED_MIN_ROWS,
                    beta_rows_per_task >= CENTRED_MIN_ROWS)


def smooth_trend(design: Design, config: FitConfig, priors: dict[str, dict[str, Any]],
                 centring: Centring) -> pt.TensorVariable:
    """Create the trend parameters; return the trend at each smooth row's (series, model) pair,
    shape (N_s,): gathered per row rather than evaluated on the full (K, M) grid, which on a wide
    table (one series per task and family, each family's models apart) is mostly pairs never observed.

    Each decaying term ``exp(log_amplitude - rate * (x - x0))`` is parameterised by its slope at the
    centre (``rate * amplitude``, per decade) and its rate; the floor is the level at the centre minus
    the amplitudes. Level and slope, which a short ladder identifies, are per series; the rate
    (curvature), which extrapolation hinges on and the data barely inform, is pooled across series.
    """
    k, m = design.smooth_series_idx, design.smooth_model_idx
    level = _prior("level", priors["level"], dims="series")
    log_amplitude, rate = _power_law_term("", priors, centring.rates[:, 0])
    if config.trend == "compute":
        floor = pm.Deterministic("floor", level - pt.exp(log_amplitude), dims="series")
        return trend_compute(design.x[m], floor[k], log_amplitude[k], rate[k], design.x0, ops=pt)
    log_amp_tokens, rate_tokens = _power_law_term("_tokens", priors, centring.rates[:, 1])
    floor = pm.Deterministic("floor", level - pt.exp(log_amplitude) - pt.exp(log_amp_tokens), dims="series")
    return trend_params_tokens(
        design.log10_params[m], design.log10_tokens[m], floor[k], log_amplitude[k], rate[k],
        log_amp_tokens[k], rate_tokens[k], design.n0, design.d0, ops=pt,
    )


def success_link(design: Design, priors: dict[str, dict[str, Any]], centring: Centring) -> pt.TensorVariable:
    """Create the link parameters; return the expected success of each success row, shape (N_y,).

    With per-example margins in the design, they inform threshold and spread through
    :func:`margin_likelihood`.
    """
    threshold = _link_parameter("threshold", design, priors, design.emerged, family_shift=True)
    log_spread = _link_parameter("log_spread", design, priors, design.emerged, family_shift=True)
    spread = pm.Deterministic("spread", pt.exp(log_spread), dims="task")
    logit_gap = _link_parameter("logit_gap", design, priors, centring.gaps, family_shift=False)
    gap_fraction = pm.Deterministic("gap_fraction", pm.math.sigmoid(logit_gap), dims="task")
    gap = pm.Deterministic("ceiling_gap", gap_fraction * (1.0 - design.chance), dims="task")
    if len(design.margin_task_idx):
        margin_likelihood(design, threshold, spread, priors)
    t = design.success_task_idx
    mean = success_from_smooth(
        design.success_smooth, threshold[t], spread[t], design.chance[t], gap[t], design.steps[t], ops=pt
    )
    return pt.clip(mean, SUCCESS_EPS, 1.0 - SUCCESS_EPS)


def ceiling_rows(design: Design) -> np.ndarray:
    """(T,) int: each task's final-checkpoint success rows at least :data:`CEILING_LIFT` of the way from
    chance to 1 (intermediate checkpoints are not counted); with several families, summed over the
    families of the task's base task (the ceiling gap is the base task's)."""
    t = design.success_task_idx
    lift = (design.success_obs - design.chance[t]) / (1.0 - design.chance[t])
    rows = np.bincount(t[(lift >= CEILING_LIFT) & ~design.success_is_checkpoint], minlength=len(design.tasks))
    if len(design.families) <= 1:
        return rows
    return np.bincount(design.task_base, weights=rows, minlength=len(design.base_tasks))[design.task_base].astype(int)


def margin_likelihood(design: Design, threshold: pt.TensorVariable, spread: pt.TensorVariable,
                      priors: dict[str, dict[str, Any]]) -> None:
    """Per-example margins (nats) of each (task, model): ``Normal(k (threshold - s) + offset, k * spread)``.

    A task's per-example margin distribution shifts linearly with the smooth metric ``s`` (slope k,
    nats per standardised unit) and its spread across examples is k times the link's ``spread``, so
    the observed margin sd pins the "logit variance" directly. The offset absorbs that a zero mean
    margin is 50% accuracy rather than the link's chance-to-ceiling midpoint. Likelihood from the
    sufficient statistics: the sample mean ~ Normal(mu, sd / sqrt(n)) and the sample sd ~
    Normal(sd, sd / sqrt(2 (n - 1))) (large-n approximation).
    """
    tasks = np.unique(design.margin_task_idx)
    local = np.searchsorted(tasks, design.margin_task_idx)
    scale = pt.exp(_prior("log_margin_scale", priors["log_margin_scale"], shape=len(tasks)))
    offset = _prior("margin_offset", priors["margin_offset"], shape=len(tasks))
    t = design.margin_task_idx
    sd = scale[local] * spread[t]
    mu = scale[local] * (threshold[t] - design.margin_smooth) + offset[local]
    n = design.margin_n
    pm.Normal("margin_mean", mu=mu, sigma=sd / np.sqrt(n), observed=design.margin_mean)
    pm.Normal("margin_sd", mu=sd, sigma=sd / np.sqrt(2.0 * (n - 1.0)), observed=design.margin_sd)


def success_likelihood(design: Design, mean: pt.TensorVariable, priors: dict[str, dict[str, Any]],
                       centring: Centring) -> None:
    """Binomial rows (known n_examples), Beta rows (unknown n_examples, learned concentration) and
    intermediate-checkpoint link rows.

    A checkpoint row's noise is the Beta's with the task's concentration times a shared ratio (a
    checkpoint, its learning rate not annealed, is noisier about the link), moment-matched by a
    Normal: mean ``mu``, variance ``mu (1 - mu) / (kappa + 1)``. With the concentrations these fits
    learn (hundreds) the two densities agree closely, and the Normal's log density needs no log-gamma
    and digamma terms per row, which dominate the cost of a fit with thousands of checkpoint rows.
    """
    checkpoint = design.success_is_checkpoint
    known_n = np.isfinite(design.n_examples) & ~checkpoint
    beta_rows, checkpoint_rows = np.flatnonzero(~known_n & ~checkpoint), np.flatnonzero(checkpoint)
    y = _clipped(design.success_obs) if isinstance(design.success_obs, np.ndarray) else design.success_obs  # data: clipped
    beta = slice(None) if len(beta_rows) == len(known_n) else beta_rows  # all rows: no gather (see SHARED_ROWS)
    if len(beta_rows) or len(checkpoint_rows):
        log_concentration = _pooled("log_concentration", priors, "task", centred=centring.concentrations)
        concentration = pm.Deterministic("concentration", pt.exp(log_concentration), dims="task")
    if len(beta_rows):
        mu, kappa = mean[beta], concentration[design.success_task_idx[beta]]
        pm.Beta("success_beta", alpha=mu * kappa, beta=(1.0 - mu) * kappa, observed=y[beta])
    if len(checkpoint_rows):
        ratio = _prior("checkpoint_concentration_ratio", priors["checkpoint_concentration_ratio"])
        mu = mean[checkpoint_rows]
        kappa = concentration[design.success_task_idx[checkpoint_rows]] * ratio
        pm.Normal("success_checkpoint", mu=mu, sigma=pt.sqrt(mu * (1.0 - mu) / (kappa + 1.0)),
                  observed=y[checkpoint_rows])
    if known_n.any():
        n = design.n_examples[known_n].astype(int)
        successes = np.rint(design.success_obs[known_n] * n).astype(int)
        pm.Binomial("success_binomial", n=n, p=mean[np.flatnonzero(known_n)], observed=successes)


SHARED_ROWS = ("x", "log10_params", "log10_tokens", "x0", "n0", "d0", "smooth_series_idx", "smooth_model_idx",
               "smooth_obs", "success_task_idx", "success_obs", "success_smooth")
"""The design's per-model and per-row arrays (and the centres derived from them) that ``shared_rows``
passes as ``pm.Data``, with every parameterisation mask chosen from the data (e.g. which tasks emerged:
``<name>_centred``, see :func:`_pooled`); every other input (tasks, series, the likelihoods present)
stays a constant of the graph."""


def _rows_are_data() -> bool:
    """Whether the model being built takes its rows as ``pm.Data`` (``build_model(..., shared_rows=True)``)."""
    return any(var.name == "smooth_obs" for var in pm.modelcontext(None).data_vars)


def _clipped(success: np.ndarray) -> np.ndarray:
    """Observed success rates kept off 0 and 1 (the Beta's support)."""
    return np.clip(success, 1e-4, 1.0 - 1e-4)


def _with_shared_rows(design: Design) -> Design:
    """``design`` with :data:`SHARED_ROWS` as ``pm.Data`` of the current model (the success rates already
    clipped) and the per-task arrays as tensors."""
    values = {name: np.asarray(getattr(design, name)) for name in SHARED_ROWS} | {
        "success_obs": _clipped(design.success_obs)}
    shared = {name: pm.Data(name, value) for name, value in values.items()}
    return replace(design, **shared, chance=pt.as_tensor(design.chance), steps=pt.as_tensor(design.steps))


def build_model(design: Design, config: FitConfig, shared_rows: bool = False) -> pm.Model:
    """The full joint model for one :class:`~forecast.design.Design` and :class:`FitConfig` of one
    trend form (``compute`` or ``params_tokens``; a ``stacked`` fit builds one model per form).

    ``shared_rows``: the rows enter as ``pm.Data`` (:data:`SHARED_ROWS`), so that a model compiled once
    samples another design of the same structure (same tasks, series and emerged tasks; other runs) by
    swapping its data (nutpie's ``with_data``); only for designs whose success rows are all Beta rows
    (no margins, no known ``n_examples``, no checkpoint rows)."""
    if config.trend not in ("compute", "params_tokens"):
        raise ValueError(f"build_model builds one trend form, not {config.trend!r} (models.stacking fits a stack)")
    priors = config.resolved_priors()
    coords = {"task": design.tasks, "series": design.series, "model": design.models}
    if len(design.families) > 1:
        coords |= {"base_task": design.base_tasks, "family": design.families}
    with pm.Model(coords=coords, check_bounds=False) as model:
        centring = centring_masks(design, config.trend)  # from the numpy rows, before they become data
        if shared_rows:
            design = _with_shared_rows(design)
        trend = smooth_trend(design, config, priors, centring)
        noise = _prior("smooth_noise", priors["smooth_noise"], dims="series")
        pm.StudentT("smooth", nu=SMOOTH_NOISE_DOF, mu=trend, sigma=noise[design.smooth_series_idx],
                    observed=design.smooth_obs)
        success_likelihood(design, success_link(design, priors, centring), priors, centring)
    return model
