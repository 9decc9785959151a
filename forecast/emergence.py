"""Emergence scale: the training compute at which expected success first reaches a target.

Units: log10 FLOPs throughout. A draw that never reaches the target inside the search range gets
``+inf``; summaries report that mass as ``p_beyond_range`` instead of hiding it.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from forecast.links import smooth_for_success


def target_success(chance: np.ndarray | float, level: float | None = None, success_at: float | None = None):
    """The success rate that defines emergence.

    ``level`` q in (0, 1) is relative: ``chance + q * (1 - chance)`` (q = 0.5 is halfway from chance
    to perfect). ``success_at`` in (0, 1) is an absolute success rate. Exactly one must be given.
    """
    if (level is None) == (success_at is None):
        raise ValueError("give exactly one of level (relative to chance) or success_at (absolute)")
    if level is not None:
        if not 0.0 < level < 1.0:
            raise ValueError(f"level must be in (0, 1), got {level}")
        return np.asarray(chance, dtype=float) + level * (1.0 - np.asarray(chance, dtype=float))
    if not 0.0 < success_at < 1.0:
        raise ValueError(f"success_at must be in (0, 1), got {success_at}")
    return np.broadcast_to(np.asarray(success_at, dtype=float), np.shape(chance)).astype(float)


def first_crossing(
    expected_success: Callable[[np.ndarray], np.ndarray], target: np.ndarray | float, x_grid: np.ndarray
) -> np.ndarray:
    """Smallest x on ``x_grid`` where expected success reaches ``target``, per posterior draw.

    ``expected_success(x_grid)`` returns shape (draws, len(x_grid)). The crossing is located by
    linear interpolation between the bracketing grid points. Returns shape (draws,): ``+inf`` where
    the target is not reached on the grid, ``x_grid[0]`` where it is reached already at its start.
    """
    values = np.asarray(expected_success(x_grid), dtype=float)
    target = np.broadcast_to(np.asarray(target, dtype=float), values.shape[:1])[:, None]
    reached = values >= target
    first = np.argmax(reached, axis=1)
    never = ~reached.any(axis=1)
    lo = np.clip(first - 1, 0, len(x_grid) - 1)
    rows = np.arange(values.shape[0])
    v_lo, v_hi = values[rows, lo], values[rows, first]
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(v_hi > v_lo, (target[:, 0] - v_lo) / (v_hi - v_lo), 0.0)
    x = x_grid[lo] + np.clip(frac, 0.0, 1.0) * (x_grid[first] - x_grid[lo])
    x = np.where(first == 0, x_grid[0], x)
    return np.where(never, np.inf, x)


def emergence_scale_closed_form(
    target: np.ndarray,
    threshold: np.ndarray,
    spread: np.ndarray,
    chance: np.ndarray,
    gap: np.ndarray,
    floor: np.ndarray,
    log_amplitude: np.ndarray,
    rate: np.ndarray,
    x0: float,
    steps: np.ndarray | float = 1,
) -> np.ndarray:
    """Exact emergence compute for the compute power-law trend (log10 FLOPs, ``+inf`` if never).

    Inverts the link to the smooth level ``s*`` where success equals ``target``, then the trend
    ``s = floor + exp(log_amplitude - rate (x - x0))``: ``x* = x0 + (log_amplitude - log(s* - floor)) / rate``.
    Unreachable when ``s*`` is at or below the floor, or the target is above the ceiling.
    """
    s_star = smooth_for_success(target, threshold, spread, chance, gap, steps)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_star = x0 + (log_amplitude - np.log(s_star - floor)) / rate
    x_star = np.where(np.isposinf(s_star), -np.inf, x_star)
    return np.where(s_star <= floor, np.inf, x_star)


@dataclass(frozen=True)
class EmergenceSummary:
    """Posterior summary of an emergence scale (log10 FLOPs)."""

    median: float
    q05: float
    q95: float
    p_beyond_range: float
    p_reached_by: float | None = None


def summarize_emergence(x_draws: np.ndarray, reached_by: float | None = None) -> EmergenceSummary:
    """Median and 5-95% interval of emergence draws (``+inf`` = beyond the search range).

    Quantiles that fall in the beyond-range mass are reported as ``inf``; ``p_reached_by`` is the
    posterior probability that emergence happens at or below ``reached_by`` log10 FLOPs.
    """
    x = np.asarray(x_draws, dtype=float).ravel()
    if x.size == 0 or np.isnan(x).any():
        raise ValueError("emergence draws must be a non-empty array without NaN")
    q05, median, q95 = np.quantile(x, [0.05, 0.5, 0.95], method="inverted_cdf")
    p_reached = None if reached_by is None else float(np.mean(x <= reached_by))
    return EmergenceSummary(float(median), float(q05), float(q95), float(np.mean(np.isposinf(x))), p_reached)
