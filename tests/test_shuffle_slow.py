"""The shuffle test recovers simulated truth (slow: a real fit plus refits per permutation).

Four simulated tasks whose smooth series bend differently (rates 0.2 to 1.4 per decade): the series
that drives a task tells where its success goes beyond the training range, so the real pairing must
predict the held-out models better than any shuffled one (CRPS ratio > 1 in every permutation)."""
import pytest

from forecast.evaltable import validate_eval_table
from forecast.simulate import default_truths, ladder_sizes, simulate_ladder
from models.backtest import run_backtest
from models.config import FitConfig


@pytest.mark.slow
def test_the_real_pairing_predicts_better_than_shuffled_series() -> None:
    truths = default_truths(4, seed=5)
    for truth, rate, threshold in zip(truths, (0.2, 1.4, 0.5, 1.0), (0.55, 0.9, 0.7, 0.8)):
        truth.rate, truth.threshold, truth.log_amplitude = rate, threshold, 0.0
    params, tokens = ladder_sizes(5, (1.0, 4.0, 16.0))
    table = validate_eval_table(simulate_ladder(truths, params, tokens, x0=19.5, seed=3).table)
    config = FitConfig(success_metric=["acc"], trend="compute", draws=400, tune=400, seed=1)
    result = run_backtest(table, train_max_params=4e8, config=config, methods=("hierarchical",), progress=False,
                          shuffle_permutations=2)
    shuffle = result.shuffle
    assert shuffle["permutations"] == 2 and len(shuffle["crps_ratios"]) == 2
    assert min(shuffle["crps_ratios"]) > 1.0 and shuffle["real_better_share"] == 1.0, shuffle
    assert result.meta()["shuffle_test"] == shuffle
