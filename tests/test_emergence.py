"""Emergence: the general grid solver agrees with the closed form; summaries keep beyond-range mass."""
import numpy as np
import pytest

from forecast.emergence import (
    emergence_scale_closed_form, first_crossing, summarize_emergence, target_success,
)
from forecast.links import success_from_smooth, trend_compute


def test_grid_solver_agrees_with_closed_form() -> None:
    rng = np.random.default_rng(1)
    n = 200
    p = dict(threshold=rng.normal(-1, 0.5, n), spread=rng.uniform(0.3, 1.0, n), chance=0.25,
             gap=rng.uniform(0.0, 0.1, n), floor=rng.normal(-4, 0.5, n), log_amplitude=rng.normal(1.5, 0.2, n),
             rate=rng.uniform(0.2, 0.6, n))
    target = target_success(0.25, level=0.5)
    exact = emergence_scale_closed_form(target, x0=21.0, **p)
    grid = np.linspace(15, 35, 4001)

    def expected(x):
        s = trend_compute(x[None, :], p["floor"][:, None], p["log_amplitude"][:, None], p["rate"][:, None], 21.0)
        return success_from_smooth(s, p["threshold"][:, None], p["spread"][:, None], 0.25, p["gap"][:, None])

    solved = first_crossing(expected, target, grid)
    inside = np.isfinite(exact) & (exact > 15) & (exact < 35)
    assert inside.sum() > 100
    np.testing.assert_allclose(solved[inside], exact[inside], atol=5e-3)
    assert np.all(np.isposinf(solved[exact > 35]))


def test_unreachable_target_is_infinite() -> None:
    # ceiling 0.25 + 0.75 * (1 - 0.6 / 0.75) = 0.4 < target 0.625
    x = emergence_scale_closed_form(np.array(0.625), 0.0, 1.0, 0.25, 0.6, -3.0, 1.0, 0.4, 21.0)
    assert np.isposinf(x)


def test_floor_above_needed_smooth_is_infinite() -> None:
    # success needs s <= threshold ~ -1 but the trend's floor is 0: never reached
    x = emergence_scale_closed_form(np.array(0.625), -1.0, 0.1, 0.25, 0.0, 0.0, 1.0, 0.4, 21.0)
    assert np.isposinf(x)


def test_summary_reports_mass_beyond_range() -> None:
    draws = np.concatenate([np.linspace(20, 22, 80), np.full(20, np.inf)])
    summary = summarize_emergence(draws, reached_by=21.0)
    assert summary.p_beyond_range == pytest.approx(0.2)
    assert summary.q95 == np.inf and np.isfinite(summary.median)
    assert summary.p_reached_by == pytest.approx(0.4)


def test_target_success_levels() -> None:
    assert target_success(0.25, level=0.5) == pytest.approx(0.625)
    assert target_success(0.25, success_at=0.6) == pytest.approx(0.6)
    with pytest.raises(ValueError):
        target_success(0.25, level=0.5, success_at=0.6)
    with pytest.raises(ValueError):
        target_success(0.25, level=1.5)
