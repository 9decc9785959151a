"""Stacking of trend forms: weights sum to 1 and favour the form the data were simulated from, under
both weightings (leave-largest-out refits, the default, and PSIS-LOO)."""
import numpy as np
import pandas as pd
import pytest

from forecast.evaltable import validate_eval_table
from forecast.simulate import default_truths, ladder_sizes, simulate_ladder
from models.config import FitConfig
from models.stacking import StackedForecaster, compare_forms, leave_largest_out_split, load_fit

PARAMS, TOKENS = ladder_sizes(5, (0.5, 2.0, 8.0))
X0 = float(np.mean(np.log10(6 * PARAMS * TOKENS)))


@pytest.fixture(scope="module")
def stacked():
    truths = default_truths(3, seed=4)
    for truth in truths:  # parameters matter far more than tokens: shape that compute alone cannot express
        truth.rate, truth.log_amplitude, truth.rate_tokens, truth.log_amplitude_tokens = 1.2, np.log(0.5), 0.25, np.log(0.15)
        truth.smooth_noise = 0.01
    sim = simulate_ladder(truths, PARAMS, TOKENS, X0, seed=2, trend="params_tokens")
    config = FitConfig(success_metric=["acc"], draws=300, tune=500, seed=2)
    return StackedForecaster(config).fit(validate_eval_table(sim.table, source="simulated"), progress=False)


@pytest.mark.slow  # two full fits and two leave-largest-out refits; the fast suite stacks in test_backtest
def test_weights_sum_to_one_and_favour_the_true_form(stacked) -> None:
    assert stacked.weighting == "leave_largest_out" and stacked.check is not None
    assert sum(stacked.weights.values()) == pytest.approx(1.0)
    assert all(0.0 <= w <= 1.0 for w in stacked.weights.values())
    assert stacked.weights["params_tokens"] > 0.8, stacked.check
    assert stacked.check["weights"] == pytest.approx(stacked.weights)
    rows = stacked.components["compute"].training_rows
    largest = sorted(rows.loc[rows["params"] == rows["params"].max(), "model"].astype(str).unique())
    assert stacked.check["heldout_models"] == largest and len(largest) == 3  # the 1.6e9 size, three token multiples
    assert stacked.link_discrepancy == stacked.check["link_discrepancy"] >= 0.0
    comparison = compare_forms(stacked.components)  # PSIS-LOO on the same fits
    assert list(comparison.index) == ["compute", "params_tokens"]
    assert comparison["weight"].sum() == pytest.approx(1.0) and comparison.loc["params_tokens", "weight"] > 0.8
    assert (comparison["n_pareto_k_high"] >= 0).all() and np.isfinite(comparison["elpd_loo"]).all()


def test_leave_largest_out_split_holds_out_each_familys_largest_size() -> None:
    rows = pd.DataFrame({
        "family": ["a"] * 5 + ["b"] * 4, "model": ["a1", "a1b", "a2", "a3", "a3b", "b1", "b1b", "b2", "b3"],
        "params": [1e8, 1e8, 2e8, 4e8, 4e8, 1e9, 1e9, 2e9, 4e9], "metric": "acc", "task": "t", "value": 0.5,
    })
    rows["tokens"] = 20 * rows["params"]
    rows["compute_flops"] = 6 * rows["params"] * rows["tokens"]
    kept, held = leave_largest_out_split(rows)
    assert set(held["model"]) == {"a3", "a3b", "b3"} and set(kept["model"]) == {"a1", "a1b", "a2", "b1", "b1b", "b2"}
    assert leave_largest_out_split(rows[rows["model"] != "b2"]) is None  # family b: two sizes
    assert leave_largest_out_split(rows[rows["model"] != "a1b"]) is None  # family a keeps 2 runs: too few for a trend


def test_unknown_weighting_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown weighting"):
        StackedForecaster(weighting="aic")


@pytest.mark.slow  # two full fits; the fast suite stacks in tests/test_backtest.py
def test_mixture_predictions_and_save_load(stacked, tmp_path) -> None:
    targets = pd.DataFrame({"model": ["big"], "task": ["task0"], "params": [3e9], "tokens": [6e10]})
    pred = stacked.predict(targets)
    assert pred.loc[0, "q05"] <= pred.loc[0, "median"] <= pred.loc[0, "q95"]
    path = stacked.save(tmp_path / "stack.nc")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stack.nc"]  # one file holds every form
    loaded = load_fit(path)
    assert isinstance(loaded, StackedForecaster) and loaded.weights == pytest.approx(stacked.weights)
    assert loaded.link_discrepancy == stacked.link_discrepancy and loaded.check == stacked.check
    pd.testing.assert_frame_equal(loaded.predict(targets), pred)
    assert set(loaded.emergence()["task"]) == {"task0", "task1", "task2"}


def test_unknown_form_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown trend forms"):
        StackedForecaster(forms=("cubic",))
