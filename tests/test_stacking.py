"""Stacking of trend forms: weights sum to 1 and favour the form the data were simulated from."""
import numpy as np
import pandas as pd
import pytest

from forecast.evaltable import validate_eval_table
from forecast.simulate import default_truths, ladder_sizes, simulate_ladder
from models.config import FitConfig
from models.stacking import StackedForecaster, load_fit

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


@pytest.mark.slow  # two full fits (~70 s); the fast suite stacks in tests/test_backtest.py
def test_weights_sum_to_one_and_favour_the_true_form(stacked) -> None:
    assert sum(stacked.weights.values()) == pytest.approx(1.0)
    assert all(0.0 <= w <= 1.0 for w in stacked.weights.values())
    assert stacked.weights["params_tokens"] > 0.8, stacked.weights
    comparison = stacked.comparison
    assert list(comparison.index) == ["compute", "params_tokens"]
    assert comparison["weight"].to_dict() == pytest.approx(stacked.weights)
    assert (comparison["n_pareto_k_high"] >= 0).all() and np.isfinite(comparison["elpd_loo"]).all()


@pytest.mark.slow  # two full fits (~70 s); the fast suite stacks in tests/test_backtest.py
def test_mixture_predictions_and_save_load(stacked, tmp_path) -> None:
    targets = pd.DataFrame({"model": ["big"], "task": ["task0"], "params": [3e9], "tokens": [6e10]})
    pred = stacked.predict(targets)
    assert pred.loc[0, "q05"] <= pred.loc[0, "median"] <= pred.loc[0, "q95"]
    path = stacked.save(tmp_path / "stack.nc")
    assert (tmp_path / "stack.params_tokens.nc").exists()
    loaded = load_fit(path)
    assert isinstance(loaded, StackedForecaster) and loaded.weights == pytest.approx(stacked.weights)
    pd.testing.assert_frame_equal(loaded.predict(targets), pred)
    assert set(loaded.emergence()["task"]) == {"task0", "task1", "task2"}


def test_unknown_form_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown trend forms"):
        StackedForecaster(forms=("cubic",))
