"""Calibration checks of the backtests (PIT, per-bin coverage, the PIT plot), the token-extrapolation
splits and the link discrepancy in tokens per parameter. No sampling here except in the slow test,
which fits the model to a ladder simulated from it and checks that its intervals for new runs cover
at their nominal rate."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecast.extrapolation import discrepancy_scale
from models.backtest.cuts import chinchilla_multiples, split_by_size, token_ratios
from models.backtest.report import (PIT_BINS, BacktestResult, calibration_records, ensemble_pit, score_samples,
                                    summarize)
from models.backtest.run import token_scenarios
from models.config import FitConfig
from models.stacking import leave_longest_out_split

EXAMPLES = Path(__file__).parent.parent / "examples" / "data"


def _targets(n: int, rng) -> pd.DataFrame:
    return pd.DataFrame({"family": "f", "model": [f"m{i % 7}" for i in range(n)], "task": [f"t{i}" for i in range(n)],
                         "params": 1e9, "tokens": 2e10, "compute_flops": 1.2e20, "observed": rng.uniform(0.3, 0.7, n)})


def test_pit_of_calibrated_draws_is_flat_and_covers_nominally() -> None:
    rng = np.random.default_rng(0)
    n, draws = 2000, 400
    centre = rng.uniform(0.3, 0.7, n)
    targets = _targets(n, rng).assign(observed=centre + rng.normal(0, 0.03, n))  # the truth draws like the forecast
    samples = centre[:, None] + rng.normal(0, 0.03, (n, draws))
    ratios = np.where(np.arange(n) < n // 2, 0.5, 5.0)
    predictions = score_samples("hierarchical", targets, samples, ratios, "c")
    assert predictions["pit"].between(0, 1).all()
    records = {r["ratio_bin"]: r for r in calibration_records(predictions)}
    assert set(records) == {"all", "<=1x", "3-10x"}
    for record in records.values():
        assert sum(record["pit_histogram"]) == record["n"] and len(record["pit_histogram"]) == PIT_BINS
        assert abs(record["coverage_50"] - 0.5) < 0.06 and abs(record["coverage_90"] - 0.9) < 0.04
        expected = record["n"] / PIT_BINS
        assert max(abs(c - expected) for c in record["pit_histogram"]) < 5 * math.sqrt(expected)
    # the PIT's coverage is the quantile interval's (up to the draws' quantile interpolation)
    assert abs(records["all"]["coverage_90"] - predictions["covered_90"].mean()) < 0.01


def test_biased_draws_pile_the_pit_at_one_end() -> None:
    rng = np.random.default_rng(1)
    targets = _targets(300, rng)
    samples = targets["observed"].to_numpy()[:, None] - 0.1 + rng.normal(0, 0.03, (300, 200))  # forecasts too low
    assert ensemble_pit(targets["observed"].to_numpy(), samples).min() > 0.9
    ties = ensemble_pit(np.array([0.5]), np.full((1, 4), 0.5))
    assert ties[0] == 0.5  # ties count half


def test_backtest_writes_calibration_and_pit_plot(tmp_path) -> None:
    rng = np.random.default_rng(2)
    targets = _targets(40, rng)
    samples = targets["observed"].to_numpy()[:, None] + rng.normal(0, 0.05, (40, 100))
    predictions = score_samples("hierarchical", targets, samples, np.linspace(0.5, 20, 40), "params<=1B")
    result = BacktestResult(predictions=predictions, summary=summarize(predictions), training_rows=targets,
                            training_models=[], heldout_models=[], cut={}, label="params<=1B")
    paths = result.write(tmp_path)
    assert (tmp_path / "pit.png").read_bytes().startswith(b"\x89PNG") and tmp_path / "pit.png" in paths
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert "calibration" in summary["units"] and summary["scenarios"][0]["ratio_by"] == "compute"
    bins = {r["ratio_bin"] for r in summary["calibration"]}
    assert "all" in bins and bins <= {"all", "<=1x", "1-3x", "3-10x", "10-30x"}
    assert "pit" in pd.read_csv(tmp_path / "predictions.csv").columns


def _ladder_rows() -> pd.DataFrame:
    rows = []
    for params in (1e8, 2e8, 4e8, 8e8):
        for multiple in (0.5, 1.0, 2.0, 5.0, 10.0):
            rows.append({"family": "f", "model": f"{params:.0e}-{multiple}xC", "params": params,
                         "tokens": 20 * multiple * params, "task": "t", "metric": "acc", "value": 0.5})
    frame = pd.DataFrame(rows)
    return frame.assign(compute_flops=6 * frame["params"] * frame["tokens"])


def test_token_splits_train_short_runs_and_hold_out_long_ones() -> None:
    rows = _ladder_rows()
    train, held = split_by_size(rows, train_max_params=8e8, train_multiples=(0.75, 3.0), heldout_multiples=(3.5, math.inf))
    assert set(np.round(chinchilla_multiples(train), 6)) == {1.0, 2.0}
    assert set(np.round(chinchilla_multiples(held), 6)) == {5.0, 10.0} and held["params"].nunique() == 4
    ratios = token_ratios(held, train)
    assert set(np.round(ratios, 6)) == {2.5, 5.0}  # over the longest training run (2xC)
    train, held = split_by_size(rows, train_max_params=2e8, heldout_above=2e8, heldout_at_most=4e8,
                                heldout_multiples=(9.5, math.inf))
    assert list(held["model"]) == ["4e+08-10.0xC"] and len(train) == 10  # every multiple <= 2e8 trains


def test_token_scenarios_of_the_olmo_example() -> None:
    from forecast.adapters import read_eval_table

    table = read_eval_table(EXAMPLES / "olmo_ladder.csv")
    scenarios = token_scenarios(table, FitConfig(success_metric=["len_norm", "acc"]))
    assert [s["label"] for s in scenarios] == ["tokens 1-2xC->5-10xC", "params<=760M->1.3B@10xC"]
    assert scenarios[0]["ratio_by"] == "tokens" and scenarios[1]["ratio_by"] == "compute"


def test_leave_longest_out_split_holds_out_each_familys_longest_runs() -> None:
    rows = _ladder_rows()
    kept, held = leave_longest_out_split(rows)
    assert set(np.round(chinchilla_multiples(held), 6)) == {10.0} and len(held) == 4 and len(kept) == 16
    assert leave_longest_out_split(rows[np.isclose(chinchilla_multiples(rows), 1.0)]) is None  # one length


def test_discrepancy_scales_add_in_quadrature() -> None:
    distance = np.array([[0.0, 1.0, 0.0, 3.0], [0.0, 0.0, 2.0, 4.0]])
    assert np.allclose(discrepancy_scale(distance, 0.5, 0.25), [0.0, 0.5, 0.5, math.hypot(1.5, 1.0)])
    assert np.allclose(discrepancy_scale(distance, 0.5), [0.0, 0.5, 0.0, 1.5])


@pytest.mark.slow  # one fit of a 6-task, 15-run simulated ladder
def test_intervals_for_new_runs_cover_at_their_nominal_rate_on_data_simulated_by_the_model() -> None:
    """The model's 50% and 90% intervals for new runs of the same ladder (fresh smooth noise and
    success noise, drawn from the model's own generative process) cover about half and nine tenths
    of the results."""
    from forecast.evaltable import validate_eval_table
    from forecast.simulate import default_truths, ladder_sizes, simulate_ladder
    from models.forecaster import EmergenceForecaster

    params, tokens = ladder_sizes(5, (1.0, 4.0, 16.0))
    truths = default_truths(6, seed=5)
    train = simulate_ladder(truths, params, tokens, x0=19.5, seed=11)
    fit = EmergenceForecaster(FitConfig(trend="compute", success_metric=["acc"], draws=300, tune=300, seed=3))
    fit.fit(validate_eval_table(train.table), progress=False)
    pits = []
    for seed in (21, 22, 23):  # three fresh ladders of new runs at the same sizes
        new = simulate_ladder(truths, params, tokens, x0=19.5, seed=seed).table
        targets = new[new["metric"] == "acc"].rename(columns={"value": "observed"}).reset_index(drop=True)
        targets["model"] = targets["model"] + f"-new{seed}"
        success, _ = fit.predictive_draws(targets, seed=seed)
        pits.append(ensemble_pit(targets["observed"].to_numpy(float), success.T))
    pit = np.concatenate(pits)  # 3 x 15 runs x 6 tasks = 270 results
    coverage_50 = float(np.mean((pit >= 0.25) & (pit <= 0.75)))
    coverage_90 = float(np.mean((pit >= 0.05) & (pit <= 0.95)))
    assert 0.4 <= coverage_50 <= 0.62, (coverage_50, np.histogram(pit, 10, (0, 1))[0])
    assert 0.84 <= coverage_90 <= 0.97, (coverage_90, np.histogram(pit, 10, (0, 1))[0])
