"""Blind backtests: held-out set, no leakage of held-out rows, columns, coverage values, ratio bins.

One hierarchical fit with tiny sampling runs in the fast suite (simulated ladder); the real-data
backtest with the hierarchical model is `slow`. No test asserts a posterior number from real data.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import models.backtest as backtest
from forecast.adapters import olmo_ladder, pythia_lambada
from forecast.evaltable import validate_eval_table
from forecast.simulate import default_truths, ladder_sizes, simulate_ladder
from models.backtest import (
    METHODS, PREDICTION_COLUMNS, SUMMARY_COLUMNS, format_summary_table, ratio_bin_labels, run_backtest,
)
from models.config import FitConfig

FIXTURES = Path(__file__).parent / "fixtures"
SIM_CUT = 4e8  # params: the simulated ladder has 1e8, 2e8, 4e8 (train) and 8e8, 1.6e9 (held out)
OLMO_CUT = 758_220_288  # the 760M ladder size
TINY = {"draws": 150, "tune": 150, "chains": 2}
BASELINES = ("B1_logistic", "B2_two_step")


@pytest.fixture(scope="module")
def sim_table() -> pd.DataFrame:
    params, tokens = ladder_sizes(5, (1.0, 4.0, 16.0))
    ladder = simulate_ladder(default_truths(3), params, tokens, x0=19.5, seed=3)
    return validate_eval_table(ladder.table)


@pytest.fixture(scope="module")
def sim_config() -> FitConfig:
    return FitConfig(smooth_metric="bpb", success_metric=["acc"], seed=1, **TINY)


@pytest.fixture(scope="module")
def sim_result(sim_table: pd.DataFrame, sim_config: FitConfig) -> backtest.BacktestResult:
    """All three methods, hierarchical with tiny sampling (one compile for the fast suite)."""
    return run_backtest(sim_table, train_max_params=SIM_CUT, config=sim_config, n_boot=40, progress=False)


def _heldout_keys(table: pd.DataFrame, cut: float) -> set[tuple[str, str]]:
    rows = table[(table["params"] > cut) & (table["kind"] == "success")]
    return set(zip(rows["model"], rows["task"]))


def _check_result_shape(result: backtest.BacktestResult, methods: tuple[str, ...], n_targets: int) -> None:
    predictions, summary = result.predictions, result.summary
    assert list(predictions.columns) == list(PREDICTION_COLUMNS)
    assert list(summary.columns) == list(SUMMARY_COLUMNS)
    assert predictions.groupby("method").size().to_dict() == {m: n_targets for m in methods}
    for column in ("covered_50", "covered_90"):
        assert predictions[column].isin([True, False]).all()
    for column in ("coverage_50", "coverage_90"):
        assert summary[column].between(0.0, 1.0).all()
    quantiles = predictions[["q05", "q25", "median", "q75", "q95"]].to_numpy()
    assert np.all(np.diff(quantiles, axis=1) >= 0) and np.all((quantiles >= 0) & (quantiles <= 1))
    assert np.allclose(predictions["abs_error_points"], 100 * (predictions["median"] - predictions["observed"]).abs())
    assert (predictions["crps"] >= 0).all() and (predictions["width_90"] >= predictions["width_50"]).all()
    overall = summary[summary["ratio_bin"] == "all"].set_index("method")
    assert overall["n"].to_dict() == {m: n_targets for m in methods}
    by_bin = summary[summary["ratio_bin"] != "all"].groupby("method")["n"].sum()
    assert by_bin.to_dict() == {m: n_targets for m in methods}


# ------------------------------------------------------------------------------ simulated ladder
def test_simulated_backtest_holds_out_exactly_the_large_models(sim_table, sim_result) -> None:
    predictions = sim_result.predictions
    for method in METHODS:
        own = predictions[predictions["method"] == method]
        assert set(zip(own["model"], own["task"])) == _heldout_keys(sim_table, SIM_CUT)
    assert (sim_result.training_rows["params"] <= SIM_CUT).all()
    trained = {name.split("/")[1] for name in sim_result.training_models}
    assert trained == set(sim_table.loc[sim_table["params"] <= SIM_CUT, "model"])
    assert trained.isdisjoint(name.split("/")[1] for name in sim_result.heldout_models)
    _check_result_shape(sim_result, METHODS, n_targets=len(_heldout_keys(sim_table, SIM_CUT)))


def test_simulated_backtest_reports_ratios_and_diagnostics(sim_table, sim_result) -> None:
    predictions = sim_result.predictions
    train = sim_table[sim_table["params"] <= SIM_CUT]
    expected = 10 ** predictions["log10_flops"] / train["compute_flops"].max()
    assert np.allclose(predictions["extrapolation_ratio"], expected)
    assert (predictions["ratio_bin"] == ratio_bin_labels(predictions["extrapolation_ratio"].to_numpy())).all()
    hierarchical = sim_result.diagnostics["hierarchical"]
    assert {"rhat_max", "ess_bulk_min", "divergences", "compile_seconds", "sampling_seconds"} <= set(hierarchical)
    assert set(sim_result.diagnostics) == set(METHODS)


def test_every_method_is_fitted_on_training_rows_only(sim_table, sim_config, monkeypatch) -> None:
    """Spy on what each method is fitted with and on the targets it predicts (no smooth values)."""
    seen: dict[str, pd.DataFrame] = {}

    class FakeForecaster:
        def __init__(self, config):
            self.diagnostics, self.design = None, type("D", (), {"notes": []})()

        def fit(self, table, progress=True):
            seen["hierarchical"] = table.copy()
            return self

        def predictive_draws(self, targets):
            seen["targets"] = targets.copy()
            return np.full((7, len(targets)), 0.5), np.ones((7, len(targets)))

    def spy(name, real):
        def fit(rows, **kwargs):
            seen[name] = rows.copy()
            return real(rows, **kwargs)
        return fit

    monkeypatch.setattr(backtest, "EmergenceForecaster", FakeForecaster)
    monkeypatch.setattr(backtest, "fit_success_logistic", spy("B1_logistic", backtest.fit_success_logistic))
    monkeypatch.setattr(backtest, "fit_two_step", spy("B2_two_step", backtest.fit_two_step))
    result = run_backtest(sim_table, train_max_params=SIM_CUT, config=sim_config, n_boot=10, progress=False)
    heldout = {m for m, _ in _heldout_keys(sim_table, SIM_CUT)}
    for method in METHODS:
        assert (seen[method]["params"] <= SIM_CUT).all()
        assert heldout.isdisjoint(seen[method]["model"])
        pd.testing.assert_frame_equal(seen[method], result.training_rows)
    assert "value" not in seen["targets"].columns and "smooth" not in " ".join(seen["targets"].columns)
    assert set(seen["targets"]["model"]) == heldout


def test_heldout_smooth_values_do_not_change_baseline_predictions(sim_table, sim_config) -> None:
    leaked = sim_table.copy()
    heldout_smooth = (leaked["params"] > SIM_CUT) & (leaked["metric"] == "bpb")
    leaked.loc[heldout_smooth, "value"] = 99.0
    runs = [run_backtest(t, train_max_params=SIM_CUT, config=sim_config, n_boot=20, progress=False, methods=BASELINES)
            for t in (sim_table, leaked)]
    pd.testing.assert_frame_equal(runs[0].predictions, runs[1].predictions)


def test_cut_by_flops_and_bad_arguments(sim_table, sim_config) -> None:
    cut = float(sim_table.loc[sim_table["params"] <= SIM_CUT, "compute_flops"].max())
    result = run_backtest(sim_table, train_max_flops=cut, config=sim_config, n_boot=10, progress=False,
                          methods=("B1_logistic",))
    assert (result.training_rows["compute_flops"] <= cut).all()
    assert (result.predictions["extrapolation_ratio"] > 1.0).all()
    with pytest.raises(ValueError, match="exactly one"):
        run_backtest(sim_table, config=sim_config, methods=BASELINES)
    with pytest.raises(ValueError, match="exactly one"):
        run_backtest(sim_table, train_max_params=1e9, train_max_flops=1e20, config=sim_config, methods=BASELINES)
    with pytest.raises(ValueError, match="positive"):
        run_backtest(sim_table, train_max_params=-1.0, config=sim_config, methods=BASELINES)
    with pytest.raises(ValueError, match="no held-out"):
        run_backtest(sim_table, train_max_params=1e12, config=sim_config, methods=BASELINES)
    with pytest.raises(ValueError, match="no model"):
        run_backtest(sim_table, train_max_params=1.0, config=sim_config, methods=BASELINES)
    with pytest.raises(ValueError, match="unknown methods"):
        run_backtest(sim_table, train_max_params=SIM_CUT, config=sim_config, methods=("B3",))


def test_write_and_markdown_table(sim_result, tmp_path) -> None:
    paths = sim_result.write(tmp_path / "out")
    assert [p.name for p in paths] == ["predictions.csv", "summary.csv", "summary.json", "diagnostics.json"]
    assert len(pd.read_csv(paths[0])) == len(sim_result.predictions)
    meta = json.loads(paths[2].read_text())
    assert meta["cut"]["train_max_params"] == SIM_CUT and len(meta["summary"]) == len(sim_result.summary)
    assert "hierarchical" in json.loads(paths[3].read_text())
    table = format_summary_table(sim_result.summary)
    assert table.count("\n") == len(sim_result.summary) + 1 and "| hierarchical | all |" in table
    assert format_summary_table(sim_result.summary, bins=False).count("\n") == len(METHODS) + 1


def test_ratio_bins_are_right_closed() -> None:
    labels = ratio_bin_labels(np.array([0.2, 1.0, 1.01, 3.0, 9.9, 10.0, 50.0, 150.0, 1e4]))
    assert list(labels) == ["<=1x", "<=1x", "1-3x", "1-3x", "3-10x", "3-10x", "30-100x", "100-300x", ">300x"]


# ------------------------------------------------------------------------------ real data slices
@pytest.fixture(scope="module")
def olmo_table() -> pd.DataFrame:
    return olmo_ladder(FIXTURES / "olmo_ladder_final.csv")


OLMO_CONFIG = {"smooth_metric": "bpb", "success_metric": ["len_norm", "acc"],
               "tasks": ["arc_easy", "boolq", "hellaswag"], "seed": 0}


def test_olmo_fixture_backtest_with_baselines(olmo_table) -> None:
    config = FitConfig(**OLMO_CONFIG, **TINY)
    result = run_backtest(olmo_table, train_max_params=OLMO_CUT, config=config, n_boot=30, progress=False,
                          methods=BASELINES)
    heldout = olmo_table[(olmo_table["params"] > OLMO_CUT) & olmo_table["task"].isin(OLMO_CONFIG["tasks"])
                         & (olmo_table["kind"] == "success")]
    assert len(heldout) == 12 * 3  # 1B and 3B runs (6 each) x 3 tasks
    _check_result_shape(result, BASELINES, n_targets=len(heldout))
    assert set(result.heldout_models) == {f"{f}/{m}" for f, m in zip(heldout["family"], heldout["model"])}
    assert (result.training_rows["params"] <= OLMO_CUT).all()
    assert set(result.summary["ratio_bin"]) >= {"all", "<=1x"}  # 1B-0.5xC has less compute than 760M-10xC


def test_pythia_fixture_backtest_with_baselines() -> None:
    table = pythia_lambada(FIXTURES / "pythia_lambada.csv")
    config = FitConfig(smooth_metric="ppl", success_metric=["acc"], **TINY)
    result = run_backtest(table, train_max_params=1.4e9, config=config, n_boot=30, progress=False, methods=BASELINES)
    assert sorted(result.predictions["model"].unique()) == ["pythia-12b", "pythia-2.8b", "pythia-6.9b"]
    _check_result_shape(result, BASELINES, n_targets=3)
    assert (result.predictions["extrapolation_ratio"] > 1.0).all()


@pytest.mark.slow
def test_olmo_fixture_backtest_with_the_hierarchical_model(olmo_table) -> None:
    config = FitConfig(**OLMO_CONFIG, **TINY)
    result = run_backtest(olmo_table, train_max_params=OLMO_CUT, config=config, n_boot=30, progress=False)
    _check_result_shape(result, METHODS, n_targets=36)
    assert (result.training_rows["params"] <= OLMO_CUT).all()
