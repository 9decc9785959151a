"""Fit / predict / emergence / save / load around the hierarchical emergence model.

A saved fit is an ArviZ InferenceData NetCDF file whose ``attrs`` carry the model id and version,
the :class:`~models.config.FitConfig`, the design (tasks, standardisation, scales) and a hash of the
training rows. Loading a file written by another model version, or checking it against a config it
was not fitted with, fails loudly.
"""
from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import fields, replace
from pathlib import Path

import arviz as az
import numpy as np
import pandas as pd
from scipy import special, stats

from forecast.compute import log10_size_on_path, log10_training_flops
from forecast.direction import Direction, trend_direction
from forecast.design import (FAMILY_SEPARATOR, Design, build_design, column_or_nan, design_from_selected,
                             largest_compute_by_family, largest_log10_tokens_per_param_by_family, row_sizes,
                             select_rows)
from forecast.emergence import emergence_scale_closed_form, first_crossing, summarize_emergence, target_success
from forecast.extrapolation import discrepancy_scale, extrapolation_distance
from forecast.links import success_from_smooth, trend_compute, trend_params_tokens
from forecast.surrogate import choice_from_rows, resolve_smooth
from models.config import SMOOTH_NOISE_DOF, SUCCESS_EPS, FitConfig
from models.sampling import Diagnostics

MODEL_ID = "turnsignal.hierarchical_link"
MODEL_VERSION = "3"
PREDICTION_QUANTILES = {"q05": 0.05, "q25": 0.25, "median": 0.5, "q75": 0.75, "q95": 0.95}
EMERGENCE_RANGE_DECADES = (2.0, 5.0)
"""The emergence search runs from 2 decades below the smallest to 5 above the largest training compute."""


SINGLE_TRENDS = ("compute", "params_tokens")
"""The trend forms one :class:`EmergenceForecaster` fits; ``stacked`` mixes them (models.stacking)."""


class StaleFitError(ValueError):
    """A saved fit does not match this code's model or the config it is used with."""


class EmergenceForecaster:
    """The hierarchical model with its data, posterior and diagnostics."""

    def __init__(self, config: FitConfig | None = None) -> None:
        self.config = config or FitConfig(trend="compute")
        if self.config.trend not in SINGLE_TRENDS:
            raise ValueError(f"EmergenceForecaster fits one trend form ({' or '.join(SINGLE_TRENDS)}), not "
                             f"{self.config.trend!r}: use models.stacking.make_forecaster")
        self.design: Design | None = None
        self.idata: az.InferenceData | None = None
        self.diagnostics: Diagnostics | None = None
        self.training_rows: pd.DataFrame | None = None
        self.margins: pd.DataFrame | None = None
        self.smooth_choice: dict | None = None
        """With ``smooth_metric="auto"``: the per-task choice and its scores (``forecast.surrogate``)."""

    # ----------------------------------------------------------------------------------- fitting
    def fit(self, table: pd.DataFrame, progress: bool = True, margins: pd.DataFrame | None = None,
            should_stop: Callable[[], bool] | None = None,
            on_phase: Callable[[str], None] | None = None,
            on_draws: Callable[[int], None] | None = None) -> EmergenceForecaster:
        """Fit to a validated eval table (final checkpoints of the configured tasks are used).

        ``margins``: optional per-example margin summaries (``forecast.adapters.margins_summary``)
        that inform each task's threshold and spread. ``should_stop``: polled while compiling and
        sampling; True aborts the sampler and raises ``models.sampling.FitCancelled``. ``on_phase``: told
        "compiling", then "sampling". ``on_draws``: told the iterations done while sampling (see
        ``models.sampling``).
        """
        from models.emergence_model import build_model  # PyMC: imported only when fitting
        from models.sampling import diagnose, sample

        cfg = self.config
        table, choice = resolve_smooth(table, cfg.smooth_metric, cfg.success_metric, cfg.tasks, cfg.families, cfg.seed)
        if choice is not None:
            self.smooth_choice = choice.to_dict()
        self.training_rows = select_rows(table, cfg.smooth_metric, cfg.success_metric, cfg.tasks, cfg.families,
                                         cfg.link_checkpoints, cfg.checkpoints_per_run)
        self.margins = margins
        self.design = design_from_selected(self.training_rows, cfg.smooth_metric, margins)
        _check_enough_data(self.design)
        shared = shares_rows(self.design)
        model = build_model(self.design, cfg, shared_rows=shared)
        idata, compile_s, sampling_s = sample(model, cfg, progress=progress, should_stop=should_stop,
                                              on_phase=on_phase, cache_key=self._model_key(shared),
                                              on_draws=on_draws)
        self.idata = az.InferenceData(posterior=idata.posterior, sample_stats=idata.sample_stats)
        self.diagnostics = diagnose(self.idata, compile_s, sampling_s)
        return self

    def _model_key(self, shared_rows: bool = False) -> str:
        """What the compiled model depends on: model id and version, structural config, and the design
        (with ``shared_rows``, only its structure: :func:`structure_hash`; the rows are data)."""
        design = structure_hash(self.design) if shared_rows else self.design.content_hash()
        return f"{MODEL_ID}/{MODEL_VERSION}/{self.config.structural_key()}/{design}"

    def _draws(self, name: str) -> np.ndarray:
        """Posterior draws of a variable, shape (S, ...) with S = chains * draws."""
        if self.idata is None:
            raise ValueError("the model is not fitted yet")
        values = self.idata.posterior[name].values
        return values.reshape(-1, *values.shape[2:])

    # ----------------------------------------------------------------------------------- predict
    def smooth_trend_draws(self, task_idx: np.ndarray, log10_params: np.ndarray, log10_tokens: np.ndarray) -> np.ndarray:
        """Expected standardised smooth metric per draw at each target, shape (S, n)."""
        d = self.design
        k = d.task_series[task_idx]
        floor, log_amp, rate = self._draws("floor")[:, k], self._draws("log_amplitude")[:, k], self._draws("rate")[:, k]
        if self.config.trend == "compute":
            return trend_compute(log10_training_flops(log10_params, log10_tokens)[None, :], floor, log_amp, rate, d.x0)
        log_amp_d, rate_d = self._draws("log_amplitude_tokens")[:, k], self._draws("rate_tokens")[:, k]
        return trend_params_tokens(log10_params[None, :], log10_tokens[None, :], floor, log_amp, rate,
                                   log_amp_d, rate_d, d.n0, d.d0)

    def expected_success(self, task_idx: np.ndarray, smooth: np.ndarray) -> np.ndarray:
        """Expected success given standardised smooth draws (S, n) for tasks ``task_idx`` (n,)."""
        d = self.design
        return success_from_smooth(
            smooth, self._draws("threshold")[:, task_idx], self._draws("spread")[:, task_idx],
            d.chance[task_idx], self._draws("ceiling_gap")[:, task_idx], d.steps[task_idx],
        )

    def predictive_draws(self, targets: pd.DataFrame, seed: int | None = None,
                         link_discrepancy: float = 0.0, token_discrepancy: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """Posterior predictive draws for target models: (success (S, n), smooth in metric units (S, n)).

        ``targets`` columns: ``task``, ``params`` and ``tokens`` or ``compute_flops``. Includes the
        model-to-model noise of the smooth metric and the success noise (Beta, or Binomial when the
        target has ``n_examples``), so intervals are for an observed result, not a mean.
        ``link_discrepancy`` (delta_c, per-example spreads per decade of compute, >= 0) and
        ``token_discrepancy`` (delta_t, spreads per decade of tokens per parameter, >= 0): the link's
        argument gets ``sqrt((delta_c d_c)^2 + (delta_t d_t)^2) * Normal(0, 1)`` with ``d_c`` the decades
        of compute beyond the largest training model and ``d_t`` the decades of tokens per parameter
        beyond the longest-trained training run of the family (``forecast.extrapolation``); 0 adds nothing.
        """
        for name, value in (("link_discrepancy", link_discrepancy), ("token_discrepancy", token_discrepancy)):
            if not (np.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        seed = self.config.seed if seed is None else seed
        rng = np.random.default_rng(seed)
        task_idx, k, smooth, distance = self._link_inputs(targets, rng)
        shift = None
        if link_discrepancy > 0 or token_discrepancy > 0:  # its own stream: draws inside the range stay as without it
            eps = np.random.default_rng([seed, 1]).standard_normal(smooth.shape)
            shift = discrepancy_scale(distance, link_discrepancy, token_discrepancy)[None, :] * eps
        mean = self._link_mean(task_idx, smooth, shift)
        success = self._success_noise(mean, task_idx, targets, rng)
        return success, self.design.unstandardise(smooth, k)

    def _link_mean(self, task_idx: np.ndarray, smooth: np.ndarray, shift: np.ndarray | None) -> np.ndarray:
        """Expected success (S, n), clipped into (SUCCESS_EPS, 1 - SUCCESS_EPS), with the link's argument
        moved by ``shift`` per-example spreads (S, n; None: not moved)."""
        if shift is not None:
            smooth = smooth - self._draws("spread")[:, task_idx] * shift
        return np.clip(self.expected_success(task_idx, smooth), SUCCESS_EPS, 1 - SUCCESS_EPS)

    def _link_inputs(self, targets: pd.DataFrame, rng) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(task index (n,), series index (n,), standardised smooth draws with noise (S, n),
        extrapolation distances (2, n): decades of compute, decades of tokens per parameter) for the
        target rows."""
        d = self.design
        task_idx, log10_params, log10_tokens = _target_arrays(targets, d)
        k = d.task_series[task_idx]
        trend = self.smooth_trend_draws(task_idx, log10_params, log10_tokens)
        smooth = trend + self._draws("smooth_noise")[:, k] * rng.standard_t(SMOOTH_NOISE_DOF, size=trend.shape)
        return task_idx, k, smooth, self._distance(task_idx, log10_params, log10_tokens)

    def target_distance(self, targets: pd.DataFrame) -> np.ndarray:
        """Decades of compute (n,) each target lies beyond the largest training model of its family."""
        return self._distance(*_target_arrays(targets, self.design))[0]

    def target_token_distance(self, targets: pd.DataFrame) -> np.ndarray:
        """Decades of tokens per parameter (n,) each target lies beyond the longest-trained training run
        of its family."""
        return self._distance(*_target_arrays(targets, self.design))[1]

    def _distance(self, task_idx: np.ndarray, log10_params: np.ndarray, log10_tokens: np.ndarray) -> np.ndarray:
        """(2, n): decades of compute and decades of tokens per parameter beyond the training range."""
        compute = extrapolation_distance(log10_training_flops(log10_params, log10_tokens),
                                         self.largest_log10_flops()[task_idx])
        tokens = extrapolation_distance(log10_tokens - log10_params, self.largest_log10_tokens_per_param()[task_idx])
        return np.stack([compute, tokens])

    def largest_log10_tokens_per_param(self) -> np.ndarray:
        """Per task (T,): the largest log10 tokens per parameter of a training run of the task's family
        (final checkpoints)."""
        d = self.design
        largest = largest_log10_tokens_per_param_by_family(self.training_rows).reindex(d.families).to_numpy(float)
        return largest[d.task_family]

    def largest_log10_flops(self) -> np.ndarray:
        """Per task (T,): log10 FLOPs of the largest training model of the task's family."""
        d = self.design
        largest = largest_compute_by_family(self.training_rows).reindex(d.families).to_numpy(float)
        return np.log10(largest)[d.task_family]

    def heldout_success_lpd(self, targets: pd.DataFrame, deltas: np.ndarray, seed: int | None = None,
                            token_deltas: np.ndarray | None = None) -> np.ndarray:
        """Log predictive density of ``targets["observed"]`` under each link discrepancy, (len(deltas), n).

        ``log mean_s p(observed | draw s, delta)`` with the same success noise as
        :meth:`predictive_draws` (Beta, or Binomial where ``n_examples`` is known) and common random
        numbers across ``deltas``, so the curve over delta is smooth. ``token_deltas`` (same length as
        ``deltas``, default zeros): the token discrepancy paired with each delta. Nats.
        """
        rng = np.random.default_rng(self.config.seed if seed is None else seed)
        task_idx, _, smooth, distance = self._link_inputs(targets, rng)
        eps = rng.standard_normal(smooth.shape)
        observed = pd.to_numeric(targets["observed"], errors="coerce").to_numpy(float)
        deltas = np.asarray(deltas, dtype=float)
        token_deltas = np.zeros_like(deltas) if token_deltas is None else np.asarray(token_deltas, dtype=float)
        out = np.empty((len(deltas), len(targets)))
        for j, (delta, delta_t) in enumerate(zip(deltas, token_deltas)):
            mean = self._link_mean(task_idx, smooth, discrepancy_scale(distance, delta, delta_t)[None, :] * eps)
            logpdf = self._success_logpdf(mean, task_idx, targets, observed)
            out[j] = special.logsumexp(logpdf, axis=0) - np.log(logpdf.shape[0])
        return out

    def smooth_logpdf(self, targets: pd.DataFrame, raw: np.ndarray) -> np.ndarray:
        """Log density (S, n) of smooth values ``raw`` (metric units, one per target row) under each
        draw's Student-t around the trend, as in the model (standardised units, so the Jacobian of the
        standardisation is left out: it is the same for every fit on the same rows)."""
        d = self.design
        task_idx, log10_params, log10_tokens = _target_arrays(targets, d)
        y = d.standardise(np.asarray(raw, dtype=float), d.task_series[task_idx])
        return self.standardised_smooth_logpdf(task_idx, log10_params, log10_tokens, y)

    def standardised_smooth_logpdf(self, task_idx: np.ndarray, log10_params: np.ndarray, log10_tokens: np.ndarray,
                                   y: np.ndarray) -> np.ndarray:
        """Log density (S, n) of standardised smooth values ``y`` (one per row: task index, log10
        params, log10 tokens) under each draw's Student-t around the trend: the model's smooth
        likelihood, the one place it is evaluated outside PyMC."""
        k = self.design.task_series[task_idx]
        trend = self.smooth_trend_draws(task_idx, log10_params, log10_tokens)
        return stats.t.logpdf(np.asarray(y, dtype=float)[None, :], SMOOTH_NOISE_DOF, loc=trend,
                              scale=self._draws("smooth_noise")[:, k])

    def _success_noise(self, mean: np.ndarray, task_idx: np.ndarray, targets: pd.DataFrame, rng) -> np.ndarray:
        """Observed-success draws (S, n) around ``mean``: Beta, or Binomial where ``n_examples`` is known.

        Each target column draws from its own child stream of ``rng``: NumPy's Beta and Binomial
        samplers use rejection, so one array call would let a column's parameters change how many
        random numbers are consumed before the next column, and so every later column's draws."""
        n = _target_n_examples(targets)
        known = np.isfinite(n) & (n > 0)
        kappa = self._draws("concentration")[:, task_idx] if "concentration" in self.idata.posterior else None
        out = mean.copy()
        for j, stream in enumerate(rng.spawn(mean.shape[1])):
            if known[j]:
                out[:, j] = stream.binomial(int(n[j]), mean[:, j]) / n[j]
            elif kappa is not None:
                out[:, j] = stream.beta(mean[:, j] * kappa[:, j], (1 - mean[:, j]) * kappa[:, j])
        return out

    def _success_logpdf(self, mean: np.ndarray, task_idx: np.ndarray, targets: pd.DataFrame,
                        observed: np.ndarray) -> np.ndarray:
        """Log density (S, n) of observed success rates under :meth:`_success_noise`'s distribution."""
        n = _target_n_examples(targets)
        y = np.clip(observed, SUCCESS_EPS, 1 - SUCCESS_EPS)[None, :]
        if "concentration" in self.idata.posterior:
            kappa = self._draws("concentration")[:, task_idx]
            out = stats.beta.logpdf(y, mean * kappa, (1 - mean) * kappa)
        else:  # no success noise beyond the mean: a narrow Beta around it stands in for a point mass
            out = stats.beta.logpdf(y, mean * 1e4, (1 - mean) * 1e4)
        known = np.isfinite(n) & (n > 0)
        if known.any():
            successes = np.round(observed[known] * n[known])
            out[:, known] = stats.binom.logpmf(successes[None, :], n[known].astype(int)[None, :], mean[:, known])
        return out

    def predict(self, targets: pd.DataFrame, seed: int | None = None) -> pd.DataFrame:
        """Predicted success quantiles per target (the CLI's PRED columns)."""
        success, smooth = self.predictive_draws(targets, seed)
        return summarize_predictive(targets, success, smooth, self.success_metrics(targets))

    def success_metrics(self, targets: pd.DataFrame) -> np.ndarray:
        """The success metric each target's task was fitted on (the first of the config's list the task
        has, e.g. ``len_norm``, ``acc`` for boolq), shape (n,) of str."""
        rows = self.training_rows
        success = rows[rows["metric"].astype(str) != self.config.smooth_metric]
        by_task = dict(zip(success["task"].astype(str), success["metric"].astype(str)))
        keys = [self.design.tasks[t] for t in _target_arrays(targets, self.design)[0]]
        return np.array([by_task.get(key) or by_task[key.split(FAMILY_SEPARATOR, 1)[-1]] for key in keys])

    # --------------------------------------------------------------------------------- emergence
    def emergence_draws(self, task: str, level: float | None = 0.5, success_at: float | None = None) -> np.ndarray:
        """Emergence compute per posterior draw for one task (log10 FLOPs; ``+inf`` beyond the range)."""
        d = self.design
        t = _task_index(d, task)
        target = target_success(d.chance[t], None if success_at is not None else level, success_at)
        lo, hi = self.search_range()
        if self.config.trend == "compute":
            k = d.task_series[t]
            x = emergence_scale_closed_form(
                target, self._draws("threshold")[:, t], self._draws("spread")[:, t], d.chance[t],
                self._draws("ceiling_gap")[:, t], self._draws("floor")[:, k], self._draws("log_amplitude")[:, k],
                self._draws("rate")[:, k], d.x0, d.steps[t],
            )
            x = np.maximum(x, lo)
        else:
            grid = np.linspace(lo, hi, 1401)
            x = first_crossing(lambda g: self._success_on_compute_path(t, g), target, grid)
        return np.where(x > hi, np.inf, x)

    def smooth_on_compute_path(self, t: int, grid: np.ndarray) -> np.ndarray:
        """Expected standardised smooth metric of task ``t`` along the training set's tokens-per-parameter
        ratio, at the log10 FLOPs of ``grid``, shape (S, len(grid))."""
        log10_params, log10_tokens = log10_size_on_path(grid, self.design.tokens_per_param)
        return self.smooth_trend_draws(np.full(grid.shape, t), log10_params, log10_tokens)

    def _success_on_compute_path(self, t: int, grid: np.ndarray) -> np.ndarray:
        """Expected success along the training set's tokens-per-parameter ratio, shape (S, len(grid))."""
        return self.expected_success(np.full(grid.shape, t), self.smooth_on_compute_path(t, grid))

    def search_range(self) -> tuple[float, float]:
        """(lowest, highest) log10 FLOPs searched for emergence."""
        below, above = EMERGENCE_RANGE_DECADES
        return float(self.design.x.min() - below), float(self.design.x.max() + above)

    def emergence(self, level: float | None = 0.5, success_at: float | None = None,
                  reached_by: float | None = None, draws_for=None) -> pd.DataFrame:
        """Per-task emergence summary: the CLI's EMERGENCE columns (+ ``p_reached_by`` if asked), with
        the smooth trend's direction (``p_improving``, ``p_reversal``, ``bent_weight``, ``reversal_flag``;
        :meth:`direction`).

        ``draws_for(task, level, success_at)`` replaces :meth:`emergence_draws` (a stack mixes forms).
        """
        draws_for = draws_for or self.emergence_draws
        rows = []
        for t, task in enumerate(self.design.tasks):
            draws = draws_for(task, level, success_at)
            summary = summarize_emergence(draws, reached_by)
            target = target_success(self.design.chance[t], None if success_at is not None else level, success_at)
            row = {"task": task, "target_success": float(target), "log10_flops_median": summary.median,
                   "log10_flops_q05": summary.q05, "log10_flops_q95": summary.q95,
                   "p_beyond_range": summary.p_beyond_range} | self.direction(t).to_dict()
            if reached_by is not None:
                row["p_reached_by"] = summary.p_reached_by
            rows.append(row)
        return pd.DataFrame(rows)

    def direction(self, t: int) -> Direction:
        """Direction and reversal of task ``t``'s smooth series over its training runs (final
        checkpoints; :func:`forecast.direction.trend_direction`, judged at the largest training compute)."""
        d = self.design
        rows = d.smooth_series_idx == d.task_series[t]
        return trend_direction(d.x[d.smooth_model_idx[rows]], d.smooth_obs[rows], seed=self.config.seed)

    # ------------------------------------------------------------------------------ persistence
    def file_attrs(self) -> dict[str, str]:
        """The NetCDF ``attrs`` that make a saved fit loadable: model id and version, config, design,
        diagnostics, training rows and margins."""
        return {
            "turnsignal_model_id": MODEL_ID,
            "turnsignal_model_version": MODEL_VERSION,
            "turnsignal_config": self.config.model_dump_json(),
            "turnsignal_design": json.dumps(self.design.to_json_dict()),
            "turnsignal_diagnostics": json.dumps(self.diagnostics.to_dict() if self.diagnostics else {}),
            "turnsignal_training_rows": self.training_rows.to_csv(index=False),
            "turnsignal_margins": "" if self.margins is None else self.margins.to_csv(index=False),
            "turnsignal_smooth_choice": json.dumps(self.smooth_choice_record()),
        }

    def smooth_choice_record(self) -> dict | None:
        """With ``smooth_metric="auto"``: {"choice": {task: metric}, "scores": [...], "method", "notes"}
        (the choice alone when it was made before this fit, e.g. by a backtest); else None."""
        if self.config.smooth_metric != "auto":
            return None
        return self.smooth_choice or {"choice": choice_from_rows(self.training_rows)}

    def save(self, path: str | Path) -> Path:
        """Write the posterior with its config, design, diagnostics and training rows as NetCDF."""
        if self.idata is None:
            raise ValueError("nothing to save: the model is not fitted yet")
        self.idata.attrs.update(self.file_attrs())
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.idata.to_netcdf(str(path))
        return path

    @classmethod
    def load(cls, path: str | Path, expect: FitConfig | None = None) -> EmergenceForecaster:
        """Read a saved single-form fit. Raises :class:`StaleFitError` if it is from another model
        version, is a stacked fit (``models.stacking.load_fit`` reads both), or (when ``expect`` is
        given) was fitted with a different model structure than ``expect``."""
        idata = read_fit_file(path)
        if idata.attrs.get(STACK_ATTR):
            raise StaleFitError(f"{path} is a stacked fit (trend forms mixed): read it with models.stacking.load_fit")
        return cls.from_idata(idata, idata.attrs, path, expect)

    @classmethod
    def from_idata(cls, idata: az.InferenceData, attrs: dict, path: str | Path,
                   expect: FitConfig | None = None) -> EmergenceForecaster:
        """A fit from its posterior and the saved ``attrs`` (:meth:`file_attrs`); ``path`` names it in errors."""
        config = check_saved_config(attrs, path, expect)
        self = cls(config)
        self.idata = idata
        self.training_rows = pd.read_csv(io.StringIO(attrs["turnsignal_training_rows"]))
        margins_csv = attrs.get("turnsignal_margins") or ""
        self.margins = pd.read_csv(io.StringIO(margins_csv)) if margins_csv else None
        self.design = design_for(self.training_rows, config, self.margins)
        self.smooth_choice = json.loads(attrs.get("turnsignal_smooth_choice") or "null")
        saved_hash = json.loads(attrs["turnsignal_design"]).get("data_hash")
        if saved_hash != self.design.data_hash:
            raise StaleFitError(f"{path}: the stored training rows do not match their recorded hash")
        self.diagnostics = Diagnostics(**json.loads(attrs.get("turnsignal_diagnostics") or "{}")) \
            if attrs.get("turnsignal_diagnostics") not in (None, "{}") else None
        return self


STACK_ATTR = "turnsignal_stack"
"""The ``attrs`` key of a stacked fit's description (forms, weights, discrepancy); absent in a single form's."""


def read_fit_file(path: str | Path) -> az.InferenceData:
    """A saved fit's InferenceData, after checking it was written by this model id and version."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no fit file at {path}")
    idata = az.from_netcdf(str(path))
    found = (idata.attrs.get("turnsignal_model_id"), idata.attrs.get("turnsignal_model_version"))
    if found[0] is None:
        raise StaleFitError(f"{path} is not a Turnsignal fit (no turnsignal_model_id attribute)")
    if found != (MODEL_ID, MODEL_VERSION):
        raise StaleFitError(f"{path} was written by model {found[0]!r} version {found[1]!r}; this code "
                            f"reads {MODEL_ID!r} version {MODEL_VERSION!r}: refit it")
    return idata


def check_saved_config(attrs: dict, path: str | Path, expect: FitConfig | None = None) -> FitConfig:
    """The saved config; :class:`StaleFitError` when ``expect`` differs from it in model structure."""
    config = FitConfig.model_validate_json(attrs["turnsignal_config"])
    if expect is not None and expect.structural_key() != config.structural_key():
        raise StaleFitError(f"{path} was fitted with a different configuration than requested "
                            f"(saved: {config.structural_key()}; requested: {expect.structural_key()})")
    return config


PRED_COLUMNS = ["model", "task", "metric", "mean", "median", "q05", "q25", "q75", "q95",
                "smooth_median", "smooth_q05", "smooth_q95"]


def summarize_predictive(targets: pd.DataFrame, success: np.ndarray, smooth: np.ndarray,
                         metric: str | np.ndarray) -> pd.DataFrame:
    """PRED table from predictive draws: success (S, n) in [0, 1], smooth (S, n) in metric units;
    ``metric``: the success metric, one for all rows or one per row (n,)."""
    out = pd.DataFrame({
        "model": targets["model"].astype(str).to_numpy() if "model" in targets else "",
        "task": targets["task"].astype(str).to_numpy(),
        "metric": metric,
        "mean": success.mean(axis=0),
    })
    for column, q in PREDICTION_QUANTILES.items():
        out[column] = np.quantile(success, q, axis=0)
    out["smooth_median"] = np.median(smooth, axis=0)
    out["smooth_q05"] = np.quantile(smooth, 0.05, axis=0)
    out["smooth_q95"] = np.quantile(smooth, 0.95, axis=0)
    return out[PRED_COLUMNS]


STRUCTURE_FIELDS = ("tasks", "series", "families", "base_tasks", "task_base", "task_family", "chance", "steps",
                    "shared_series")
"""The design fields that stay constants of a model built with ``shared_rows`` (the rest are data or unused)."""


def shares_rows(design: Design) -> bool:
    """Whether ``design``'s model is built with its rows as data (``build_model(..., shared_rows=True)``), so
    that one compiled model serves every design of the same structure (the stacked fit's refits): when
    every success row is a Beta row (no per-example margins, no known ``n_examples``, no checkpoint rows)."""
    return (not len(design.margin_task_idx) and not np.isfinite(design.n_examples).any()
            and not np.asarray(design.success_is_checkpoint, dtype=bool).any())


def structure_hash(design: Design) -> str:
    """sha256 (hex) of :data:`STRUCTURE_FIELDS`: two all-Beta designs with the same hash build models that
    differ only in their ``pm.Data`` (see :func:`shares_rows`)."""
    return replace(design, **{f.name: None for f in fields(design) if f.name not in STRUCTURE_FIELDS}).content_hash()


def design_for(table: pd.DataFrame, config: FitConfig, margins: pd.DataFrame | None = None) -> Design:
    """The :class:`Design` a config selects from a table."""
    return build_design(table, config.smooth_metric, config.success_metric, config.tasks, config.families,
                        margins, config.link_checkpoints, config.checkpoints_per_run)


def _check_enough_data(design: Design) -> None:
    if len(design.models) < 3:
        raise ValueError(f"need at least 3 models with known compute to fit a trend; got {len(design.models)}")
    spread = float(np.ptp(design.x))
    if spread < 0.3:
        raise ValueError(f"training compute spans only {spread:.2f} decades; need at least 0.3 to fit a trend")


def _task_index(design: Design, task: str, family: str | None = None) -> int:
    """Index of a fitted task: its name, or with several families ``"family/task"`` or (task, family)."""
    return design.tasks.index(design.task_key(task, family))


def _target_n_examples(targets: pd.DataFrame) -> np.ndarray:
    """Each target's ``n_examples`` (NaN where unknown), shape (n,)."""
    return column_or_nan(targets, "n_examples")


def _target_arrays(targets: pd.DataFrame, design: Design) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(task index, log10 params, log10 tokens) per target row; tokens from compute when missing."""
    for column in ("task", "params"):
        if column not in targets.columns:
            raise ValueError(f"targets need a {column!r} column")
    keys, reasons = [], {}
    for task, family in zip(targets["task"].astype(str), _target_families(targets)):
        try:
            keys.append(design.task_key(task, family))
        except ValueError as error:
            reasons.setdefault(f"{task} ({family})" if family else task, str(error))
    if reasons:
        hint = " (this fit has several families: give targets a 'family' column)" if len(design.families) > 1 else ""
        first = next(iter(reasons.values()))
        raise ValueError(f"targets name tasks that are not in the fit: {sorted(reasons)} ({first}); "
                         f"fitted tasks: {design.tasks}{hint}")
    params, tokens, _ = row_sizes(targets)
    bad = ~(np.isfinite(params) & (params > 0) & np.isfinite(tokens) & (tokens > 0))
    if bad.any():
        raise ValueError(f"targets rows {(np.flatnonzero(bad) + 1)[:10].tolist()} need params > 0 and tokens > 0 "
                         "(or compute_flops > 0)")
    task_idx = np.array([design.tasks.index(key) for key in keys], dtype=int)
    return task_idx, np.log10(params), np.log10(tokens)


def _target_families(targets: pd.DataFrame) -> list[str | None]:
    """Each target's family, or None where the column is absent, empty or missing."""
    if "family" not in targets.columns:
        return [None] * len(targets)
    return [None if f is None or pd.isna(f) or not str(f).strip() else str(f) for f in targets["family"]]

