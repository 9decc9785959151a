"""`--smooth auto`: the blind per-task choice of the smooth metric (forecast.surrogate), on simulated ladders."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecast.evaltable import validate_eval_table
from forecast.simulate import default_truths, ladder_sizes, simulate_ladder
from forecast.surrogate import (AUTO_SMOOTH, SOURCE_COLUMN, apply_smooth_choice, check_smooth_metric, choose_smooth,
                                label_predictions, resolve_smooth)


def _ladder(informative: str, noise: str, seed: int = 0) -> pd.DataFrame:
    """A simulated ladder whose success follows `informative` (the simulated bpb-like series); `noise`
    is a smooth metric of the same scale that has nothing to do with success or compute."""
    params, tokens = ladder_sizes(n_params=6, multiples=(1.0, 2.0, 4.0))
    truths = default_truths(3, seed=seed)
    for i, truth in enumerate(truths):  # every task rises in the ladder's top half: there is a jump to judge
        truth.threshold = 0.85 + 0.03 * i
    sim = simulate_ladder(truths, params, tokens, x0=20.0, seed=seed)
    table = sim.table.copy()
    smooth = table["metric"] == "bpb"
    table.loc[smooth, "metric"] = informative
    rng = np.random.default_rng(seed + 100)
    junk = table[smooth].assign(metric=noise)
    junk["value"] = rng.normal(table.loc[smooth, "value"].mean(), table.loc[smooth, "value"].std(), len(junk))
    return validate_eval_table(pd.concat([table, junk], ignore_index=True), smooth_direction="lower")


def test_auto_picks_the_metric_that_carries_the_success_signal() -> None:
    # the noise is bpb, first in the default preference, so the check must overrule it
    informative, noise = "nll", "bpb"
    table = _ladder(informative, noise)
    acc = table[table["metric"] == "acc"].pivot_table(index="params", columns="task", values="value")
    assert (acc.iloc[-1] - acc.iloc[:-2].max() > 0.05).all()  # the simulation does what the test needs
    choice = choose_smooth(table, "acc", n_boot=30)
    assert choice.method == "leave_largest_out"
    assert choice.choice == {f"task{t}": informative for t in range(3)}, choice.scores
    scores = pd.DataFrame(choice.scores).pivot(index="task", columns="metric", values="lpd")
    assert (scores[informative] > scores[noise]).all()


def test_the_check_sees_the_training_rows_only() -> None:
    """The largest runs decide nothing unless they are in the rows given: the choice on a cut table
    holds out that table's own largest size."""
    table = _ladder("nll", "bpb")
    cut = table[table["params"] <= table["params"].max() / 2]
    choice = choose_smooth(cut, "acc", n_boot=10)
    assert choice.method == "leave_largest_out"
    assert all(s["n"] == 3 for s in choice.scores)  # the three runs of the cut's largest size per task


def test_without_a_check_the_preferred_metric_is_taken() -> None:
    table = _ladder("nll", "bpb")
    one_size = table[table["params"] == table["params"].min()]
    choice = choose_smooth(one_size, "acc")
    assert choice.method == "preference" and set(choice.choice.values()) == {"bpb"}
    assert choice.notes


def test_chosen_rows_are_oriented_lower_is_better_and_predictions_go_back() -> None:
    rows = pd.DataFrame({
        "family": "f", "model": ["a", "b", "a", "b"], "params": [1e8, 2e8] * 2, "tokens": [2e9, 4e9] * 2,
        "task": ["t", "t", "u", "u"], "metric": ["soft", "soft", "ppl", "ppl"], "value": [0.3, 0.4, 20.0, 10.0],
        "chance": np.nan})
    table = validate_eval_table(rows)
    out = apply_smooth_choice(table, {"t": "soft", "u": "ppl"})
    auto = out[out["metric"] == AUTO_SMOOTH].set_index(["task", "model"])
    assert auto.loc[("t", "a"), "value"] == pytest.approx(-0.3)  # higher is better: negated
    assert auto.loc[("u", "b"), "value"] == pytest.approx(np.log(10.0))  # perplexity: log
    assert set(auto[SOURCE_COLUMN]) == {"soft", "ppl"} and not auto["higher_is_better"].any()
    predictions = pd.DataFrame({"model": "x", "task": ["t", "u"], "metric": "acc", "median": 0.5,
                                "smooth_median": [-0.5, np.log(5.0)], "smooth_q05": [-0.6, np.log(4.0)],
                                "smooth_q95": [-0.4, np.log(6.0)]})
    labelled = label_predictions(predictions, out)
    assert list(labelled["smooth_metric"]) == ["soft", "ppl"]
    assert labelled["smooth_median"].tolist() == pytest.approx([0.5, 5.0])
    assert labelled["smooth_q05"].tolist() == pytest.approx([0.4, 4.0])  # quantiles stay in order
    assert labelled["smooth_q95"].tolist() == pytest.approx([0.6, 6.0])


def test_resolve_is_a_no_op_for_fixed_metrics_and_resolved_tables() -> None:
    table = _ladder("nll", "bpb")
    assert resolve_smooth(table, "bpb", "acc") == (table, None)
    resolved, choice = resolve_smooth(table, AUTO_SMOOTH, "acc", tasks=["task0"])  # the default N_BOOT
    assert set(choice.choice) == {"task0"}
    again, none = resolve_smooth(resolved, AUTO_SMOOTH, "acc")
    assert none is None and again is resolved


def test_unknown_smooth_metric_is_named() -> None:
    table = _ladder("nll", "bpb")
    check_smooth_metric(table, "bpb")
    check_smooth_metric(table, AUTO_SMOOTH)
    with pytest.raises(ValueError, match="'soft' is not a smooth metric of the table"):
        check_smooth_metric(table, "soft")


def test_olmo_adapter_keeps_the_smooth_metrics_asked_for() -> None:
    from pathlib import Path

    from forecast.adapters import olmo_ladder

    fixture = Path(__file__).resolve().parent / "fixtures" / "olmo_ladder_final.csv"
    default = olmo_ladder(fixture)
    both = olmo_ladder(fixture, smooth=("bpb", "soft_log"))
    assert set(default["metric"]) == {"bpb", "len_norm", "acc"}
    assert both["metric"].eq("soft_log").any() and both.loc[both["metric"] == "soft_log", "kind"].eq("smooth").all()
    same = both[both["metric"] != "soft_log"].reset_index(drop=True)
    pd.testing.assert_frame_equal(same, default)
    with pytest.raises(ValueError, match="smooth: unknown OLMo ladder smooth metric"):
        olmo_ladder(fixture, smooth=("bpb", "nope"))


@pytest.mark.slow
def test_a_fit_with_auto_records_its_choice_and_labels_predictions(tmp_path) -> None:
    from models.config import FitConfig
    from models.stacking import load_fit, make_forecaster

    table = _ladder("nll", "bpb")
    config = FitConfig(smooth_metric=AUTO_SMOOTH, trend="compute", draws=100, tune=100, chains=2)
    forecaster = make_forecaster(config).fit(table, progress=False)
    record = forecaster.smooth_choice_record()
    assert record["choice"] == {f"task{t}": "nll" for t in range(3)} and record["scores"]
    loaded = load_fit(forecaster.save(tmp_path / "fit.nc"))
    assert loaded.smooth_choice_record() == record
    targets = pd.DataFrame({"model": "big", "params": 1e10, "tokens": 2e11, "task": ["task0", "task1"]})
    labelled = label_predictions(loaded.predict(targets), loaded.training_rows)
    assert list(labelled["smooth_metric"]) == ["nll", "nll"]
    assert (labelled["smooth_q05"] <= labelled["smooth_median"]).all()
