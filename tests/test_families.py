"""Pooling the link across families, on data simulated from the model's own generative process.

Two families share four benchmarks and their ceilings (truth: 35% of the way from chance to 1 is
out of reach, far from the prior's ~8%). In family A every task emerges and reaches its ceiling;
in family B (harder thresholds) no task leaves chance. Fitted jointly, B's ceilings come from A
through the pooled link; fitted alone, B's ceilings are the prior's.
"""
import dataclasses

import numpy as np
import pandas as pd
import pytest

from forecast.evaltable import validate_eval_table
from forecast.simulate import default_truths, ladder_sizes, simulate_ladder
from models.config import FitConfig
from models.forecaster import EmergenceForecaster

PARAMS, TOKENS = ladder_sizes()
X0 = float(np.mean(np.log10(6 * PARAMS * TOKENS)))
pytestmark = pytest.mark.slow  # one full joint fit (~70 s, mostly compilation): `make test-slow`
TRUE_GAP_FRACTION = 0.35
PRIOR_MEDIAN_GAP_FRACTION = 1 / (1 + np.exp(2.5))  # sigmoid(logit_gap_mu's prior mean)


@pytest.fixture(scope="module")
def table():
    base = default_truths(4, seed=1)
    emerged = [dataclasses.replace(t, threshold=t.threshold + 0.25, gap_fraction=TRUE_GAP_FRACTION) for t in base]
    at_chance = [dataclasses.replace(t, threshold=t.threshold - 0.7, gap_fraction=TRUE_GAP_FRACTION) for t in base]
    rows = pd.concat([simulate_ladder(emerged, PARAMS, TOKENS, X0, seed=1, family="A").table,
                      simulate_ladder(at_chance, PARAMS, TOKENS, X0, seed=2, family="B").table], ignore_index=True)
    return validate_eval_table(rows, source="simulated")


@pytest.fixture(scope="module")
def fitted(table):
    return EmergenceForecaster(FitConfig(trend="compute", seed=0)).fit(table, progress=False)


def _gap_fraction(forecaster, task):
    draws = forecaster.idata.posterior["gap_fraction"].values.reshape(-1, len(forecaster.design.tasks))
    return draws[:, forecaster.design.tasks.index(task)]


def test_simulation_has_one_emerged_family(fitted) -> None:
    design = fitted.design
    assert design.families == ["A", "B"] and design.base_tasks == [f"task{i}" for i in range(4)]
    emerged = dict(zip(design.tasks, design.emerged))
    assert all(emerged[f"A/task{i}"] for i in range(4)) and not any(emerged[f"B/task{i}"] for i in range(4))
    assert fitted.diagnostics.rhat_max < 1.05


def test_family_with_no_emerged_task_gets_its_ceiling_from_the_pool(fitted) -> None:
    for i in range(4):
        gap = _gap_fraction(fitted, f"B/task{i}")
        lo, median, hi = np.quantile(gap, [0.05, 0.5, 0.95])
        assert lo <= TRUE_GAP_FRACTION <= hi, (i, lo, hi)
        assert median > 3 * PRIOR_MEDIAN_GAP_FRACTION  # pulled from the prior towards the truth by family A
        assert hi - lo < 0.2


def test_predictions_name_the_family(fitted) -> None:
    targets = pd.DataFrame({"task": ["task0", "task0"], "family": ["A", "B"], "params": [3e9, 3e9],
                            "tokens": [6e10, 6e10], "model": ["big-a", "big-b"]})
    pred = fitted.predict(targets)
    assert pred.loc[0, "median"] > pred.loc[1, "median"]  # A's threshold is easier
    with pytest.raises(ValueError, match="give targets a 'family' column"):
        fitted.predict(targets.drop(columns="family"))
