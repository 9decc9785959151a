"""Simulate eval tables from the emergence model's own generative process (for recovery tests).

The simulated smooth metric is already in standardised, lower-is-better units (``center`` 0,
``scale`` 1 is *not* enforced: the fit re-standardises, and :func:`true_emergence` answers in log10
FLOPs, which standardisation does not change).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from forecast.compute import training_flops
from forecast.emergence import emergence_scale_closed_form, target_success
from forecast.links import success_from_smooth, trend_compute, trend_params_tokens

SIM_FAMILY = "simulated"


@dataclass
class TaskTruth:
    """Known parameters of one simulated task (smooth in raw simulated units, rate per decade)."""

    name: str
    floor: float
    log_amplitude: float
    rate: float
    threshold: float
    spread: float
    gap_fraction: float
    chance: float
    smooth_noise: float = 0.02
    concentration: float = 400.0
    # Only for the two-variable truth (trend="params_tokens"): the tokens term; the compute fields
    # above then describe the params term (rate per decade of params).
    log_amplitude_tokens: float = float(np.log(0.3))
    rate_tokens: float = 0.9


@dataclass
class SimulatedLadder:
    table: pd.DataFrame
    truths: list[TaskTruth]
    x0: float
    params: np.ndarray = field(default_factory=lambda: np.array([]))
    tokens: np.ndarray = field(default_factory=lambda: np.array([]))


def default_truths(n_tasks: int = 4, seed: int = 0) -> list[TaskTruth]:
    """Tasks that share a link shape (like real benchmarks), emerging at different scales, with
    task-specific noise (benchmark sizes differ, so their success noise does too)."""
    rng = np.random.default_rng(seed)
    truths = []
    for t in range(n_tasks):
        truths.append(TaskTruth(
            name=f"task{t}", floor=0.4 + 0.1 * rng.random(), log_amplitude=np.log(0.6 + 0.2 * rng.random()),
            rate=0.45 + 0.1 * rng.random(), threshold=0.75 + 0.12 * t, spread=0.08 + 0.03 * rng.random(),
            gap_fraction=0.1 + 0.05 * rng.random(), chance=[0.25, 0.5, 0.2, 0.25][t % 4],
            concentration=float(np.exp(rng.uniform(np.log(150.0), np.log(1500.0)))),
        ))
    return truths


def simulate_ladder(truths: list[TaskTruth], params: np.ndarray, tokens: np.ndarray, x0: float, seed: int = 0,
                    trend: str = "compute", family: str = SIM_FAMILY) -> SimulatedLadder:
    """Draw smooth (``bpb``-like, lower is better) and success (``acc``) rows for every model and task.

    ``params``/``tokens`` are counts per model (shape (M,)); compute = 6 * params * tokens FLOPs.
    ``trend="params_tokens"`` draws the smooth metric from the two-variable form instead, centred at
    the ladder's mean log10 params and tokens. ``family`` names the ladder (simulate two and
    concatenate their tables for a multi-family fit).
    """
    rng = np.random.default_rng(seed)
    x = np.log10(training_flops(params, tokens))
    n, d = np.log10(params), np.log10(tokens)
    rows = []
    for truth in truths:
        if trend == "compute":
            smooth_mean = trend_compute(x, truth.floor, truth.log_amplitude, truth.rate, x0)
        else:
            smooth_mean = trend_params_tokens(n, d, truth.floor, truth.log_amplitude, truth.rate,
                                              truth.log_amplitude_tokens, truth.rate_tokens, n.mean(), d.mean())
        smooth = smooth_mean + truth.smooth_noise * rng.standard_t(4.0, size=x.shape)
        gap = truth.gap_fraction * (1 - truth.chance)
        mean = success_from_smooth(smooth, truth.threshold, truth.spread, truth.chance, gap)
        mean = np.clip(mean, 1e-6, 1 - 1e-6)
        success = rng.beta(mean * truth.concentration, (1 - mean) * truth.concentration)
        for m in range(len(x)):
            base = {"family": family, "model": f"m{m}", "params": float(params[m]), "tokens": float(tokens[m]),
                    "task": truth.name}
            rows.append(base | {"metric": "bpb", "value": float(smooth[m]), "chance": np.nan})
            rows.append(base | {"metric": "acc", "value": float(success[m]), "chance": truth.chance})
    return SimulatedLadder(pd.DataFrame(rows), truths, x0, params, tokens)


def ladder_sizes(n_params: int = 5, multiples: tuple[float, ...] = (1.0, 4.0, 16.0)) -> tuple[np.ndarray, np.ndarray]:
    """A small ladder: params from 1e8 doubling, tokens = 20 * params * multiple (like 1xC..16xC)."""
    params = 1e8 * 2.0 ** np.arange(n_params)
    grid_p, grid_m = np.meshgrid(params, np.asarray(multiples))
    return grid_p.ravel(), 20.0 * grid_p.ravel() * grid_m.ravel()


def true_emergence(truth: TaskTruth, x0: float, level: float = 0.5) -> float:
    """The exact emergence compute of a simulated task (log10 FLOPs)."""
    target = target_success(truth.chance, level)
    gap = truth.gap_fraction * (1 - truth.chance)
    return float(emergence_scale_closed_form(
        np.asarray(target), truth.threshold, truth.spread, truth.chance, gap, truth.floor,
        truth.log_amplitude, truth.rate, x0,
    ))


def simulate_margins(ladder: SimulatedLadder, scale: float = 4.0, offset: float = -0.5,
                     n_examples: int = 400, seed: int = 0) -> pd.DataFrame:
    """Per-example margin summaries for every simulated (task, model), as ``margins_summary`` returns.

    Each example's margin (nats) is ``Normal(scale * (threshold - s) + offset, scale * spread)`` at
    the model's simulated smooth value ``s`` (raw units): the same link, seen one example at a time.
    """
    rng = np.random.default_rng(seed)
    smooth = ladder.table[ladder.table["metric"] == "bpb"]
    rows = []
    for truth in ladder.truths:
        for _, row in smooth[smooth["task"] == truth.name].iterrows():
            margins = rng.normal(scale * (truth.threshold - row["value"]) + offset, scale * truth.spread, n_examples)
            rows.append({"family": row["family"], "model": row["model"], "task": truth.name,
                         "margin_mean": margins.mean(), "margin_sd": margins.std(ddof=1), "n": n_examples,
                         "accuracy": float(np.mean(margins > 0))})
    return pd.DataFrame(rows)


def with_checkpoints(table: pd.DataFrame, final_step: float = 1000.0,
                     fractions: tuple[float, ...] = (0.25, 0.5, 0.75)) -> pd.DataFrame:
    """A simulated ladder's table plus earlier checkpoints of every run (a ``step`` column).

    The checkpoint at ``fraction`` of ``final_step`` has seen that fraction of the run's tokens
    (its compute follows), its smooth metric is ``0.3 * (1 - fraction)`` worse and its success
    ``0.05 * (1 - fraction)`` lower (clipped to [0, 1]): a big run's early checkpoint then has less
    compute than small runs' final ones, as on a real ladder. Not drawn from the model's link.
    """
    final = table.assign(step=float(final_step))
    early = []
    for fraction in fractions:
        rows = final.assign(step=float(final_step * fraction), tokens=final["tokens"] * fraction)
        rows["compute_flops"] = training_flops(rows["params"], rows["tokens"])
        smooth = rows["metric"] == "bpb"
        rows.loc[smooth, "value"] += 0.3 * (1 - fraction)
        rows.loc[~smooth, "value"] = (rows.loc[~smooth, "value"] - 0.05 * (1 - fraction)).clip(0.0, 1.0)
        early.append(rows)
    return pd.concat([final, *early], ignore_index=True)
