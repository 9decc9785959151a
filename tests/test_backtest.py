"""Blind backtests: held-out set, no leakage of held-out rows, columns, coverage values, ratio bins,
stacking as a method, checkpoints, several cuts and the default suite.

One hierarchical fit per trend form with tiny sampling runs in the fast suite (simulated ladder);
the real-data backtest with the hierarchical model is `slow`. No test asserts a posterior number
from real data.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import models.backtest as backtest
import models.backtest.run as backtest_run
import models.stacking as stacking
from forecast.adapters import olmo_ladder, pythia_lambada
from forecast.evaltable import validate_eval_table
from forecast.extrapolation import DISCREPANCY_GRID
from forecast.simulate import default_truths, ladder_sizes, simulate_ladder, with_checkpoints
from models.backtest import (
    METHODS, PREDICTION_COLUMNS, SUMMARY_COLUMNS, Cut, default_cuts, format_summary_table, format_weights,
    ratio_bin_labels, run_backtest, run_backtest_suite,
)
from models.config import FitConfig
from models.forecaster import EmergenceForecaster, StaleFitError
from models.plots import emergence_curve
from models.stacking import TREND_FORMS, StackedForecaster

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
    """All four methods, hierarchical with tiny sampling (one fit per trend form for the fast suite)."""
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
    assert sim_result.reach == pytest.approx(predictions["extrapolation_ratio"].max())
    assert (predictions["cut"] == "params<=400M").all() and (sim_result.summary["cut"] == "params<=400M").all()


def test_stacked_method_reports_weights_and_is_scored_like_the_others(sim_result) -> None:
    stacked = sim_result.diagnostics["hierarchical_stacked"]
    assert list(stacked["weights"]) == list(TREND_FORMS)
    assert sum(stacked["weights"].values()) == pytest.approx(1.0)
    assert all(0.0 <= w <= 1.0 for w in stacked["weights"].values())
    assert sim_result.stacking_weights == stacked["weights"]
    assert stacked["reused_fits"] == ["compute"]  # the `hierarchical` fit is shared, not refitted
    assert set(stacked["forms"]) == set(TREND_FORMS) and {"rhat_max", "divergences"} <= set(stacked)
    # weights from the leave-largest-out check: both forms refitted without the 4e8 models, which they predict
    check = stacked["leave_largest_out"]
    assert stacked["weighting"] == "leave_largest_out" and check["weights"] == pytest.approx(stacked["weights"])
    assert check["heldout_models"] == ["m12", "m2", "m7"]  # the simulated ladder's 4e8-parameter runs
    assert check["n_success_points"] == 3 * len(check["heldout_models"]) and check["n_smooth_points"] > 0
    assert all(np.isfinite(v) for v in check["smooth_lpd"].values()) and check["max_distance"] > 0
    assert stacked["link_discrepancy"] == check["link_discrepancy"] and stacked["link_discrepancy"] in DISCREPANCY_GRID
    assert stacked["loo"] == []  # PSIS-LOO only when the check cannot run
    assert format_weights(sim_result).endswith(
        f"(leave_largest_out; link discrepancy {stacked['link_discrepancy']:.2f} spreads/decade, "
        f"{stacked['token_discrepancy']:.2f} per decade of tokens/param)")
    assert check["token_note"] == "leave_longest_out" and check["max_token_distance"] > 0  # 1x, 4x, 16x: 16x held out
    assert stacked["token_discrepancy"] == check["token_discrepancy"] in DISCREPANCY_GRID
    own = sim_result.predictions[sim_result.predictions["method"] == "hierarchical_stacked"]
    single = sim_result.predictions[sim_result.predictions["method"] == "hierarchical"]
    assert list(own["model"] + own["task"]) == list(single["model"] + single["task"])
    assert np.isfinite(own[["median", "q05", "q95", "crps"]].to_numpy()).all()  # scored by score_samples:
    # quantile order, abs_error and the summary rows are checked for every method by _check_result_shape
    assert "| hierarchical_stacked | all |" in format_summary_table(sim_result.summary)


def recording_forecaster(seen: dict[str, pd.DataFrame], prefix: str, draws: int) -> type:
    """A stand-in for EmergenceForecaster that records what it is given instead of sampling: each fit's
    rows under `seen[prefix + trend]` (and as `.training_rows`), the last targets under `seen["targets"]`;
    it predicts `draws` draws of 0.5 (with spread 1) for every target."""

    class RecordingForecaster:
        def __init__(self, config):
            self.config, self.diagnostics = config, None
            self.design = type("D", (), {"notes": [], "data_hash": "same"})()

        def fit(self, rows, progress=True):
            seen[prefix + self.config.trend] = rows.copy()
            self.training_rows = rows
            return self

        def predictive_draws(self, targets, seed=None, link_discrepancy=0.0, token_discrepancy=0.0):
            seen["targets"] = targets.copy()
            return np.full((draws, len(targets)), 0.5), np.ones((draws, len(targets)))

    return RecordingForecaster


def test_every_method_is_fitted_on_training_rows_only(sim_table, sim_config, monkeypatch) -> None:
    """Spy on what each method is fitted with and on the targets it predicts (no smooth values)."""
    seen: dict[str, pd.DataFrame] = {}

    def spy(name, real):
        def fit(rows, **kwargs):
            seen[name] = rows.copy()
            return real(rows, **kwargs)
        return fit

    monkeypatch.setattr(backtest_run, "EmergenceForecaster", recording_forecaster(seen, "hierarchical:", draws=7))
    monkeypatch.setattr(stacking, "compare_forms", lambda fits: pd.DataFrame(
        {"weight": [1 / len(fits)] * len(fits), "n_pareto_k_high": 0, "pareto_k_max": 0.1}, index=list(fits)))

    def check_spy(components, progress=False):  # the leave-largest-out refits split the components' rows
        first = next(iter(components.values()))
        seen["leave_largest_out"] = stacking.leave_largest_out_split(first.training_rows)
        return None  # -> the stack falls back to the (patched) LOO weights

    monkeypatch.setattr(stacking, "leave_largest_out_check", check_spy)
    monkeypatch.setattr(backtest_run, "fit_success_logistic", spy("B1_logistic", backtest_run.fit_success_logistic))
    monkeypatch.setattr(backtest_run, "fit_two_step", spy("B2_two_step", backtest_run.fit_two_step))
    result = run_backtest(sim_table, train_max_params=SIM_CUT, config=sim_config, n_boot=10, progress=False)
    heldout = {m for m, _ in _heldout_keys(sim_table, SIM_CUT)}
    assert result.stacking_weights == {"compute": 0.5, "params_tokens": 0.5}
    for method in ["hierarchical:compute", "hierarchical:params_tokens", "B1_logistic", "B2_two_step"]:
        assert (seen[method]["params"] <= SIM_CUT).all()
        assert heldout.isdisjoint(seen[method]["model"])
        pd.testing.assert_frame_equal(seen[method], result.training_rows)
    refit_rows, check_rows = seen["leave_largest_out"]
    assert heldout.isdisjoint(refit_rows["model"]) and heldout.isdisjoint(check_rows["model"])
    assert (refit_rows["params"] < SIM_CUT).all() and (check_rows["params"] == SIM_CUT).all()
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


def test_a_stacked_fit_is_one_netcdf_read_back_as_the_same_mixture(sim_result, sim_config, tmp_path) -> None:
    """What `turnsignal fit` writes by default: both forms refitted on the backtest's training rows
    (same model, so the compiled models are reused and only the tiny sampling is paid), stacked,
    saved as ONE file and read back as the same mixture; a mismatched read fails loudly."""
    rows = sim_result.training_rows
    components = {form: EmergenceForecaster(sim_config.model_copy(update={"trend": form})).fit(rows, progress=False)
                  for form in TREND_FORMS}
    stack = StackedForecaster.from_fits(components, weighting="loo")
    stack.link_discrepancy = 0.2  # as the leave-largest-out check sets it (here PSIS-LOO weights, no check)
    path = stack.save(tmp_path / "fit.nc")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fit.nc"]
    loaded = stacking.load_fit(path, expect=sim_config)
    assert isinstance(loaded, StackedForecaster) and loaded.config.trend == "stacked"
    assert loaded.weights == pytest.approx(stack.weights) and loaded.link_discrepancy == 0.2
    targets = sim_result.predictions.loc[sim_result.predictions["method"] == "hierarchical",
                                         ["model", "task", "params", "tokens"]]
    pd.testing.assert_frame_equal(loaded.predict(targets), stack.predict(targets))
    pd.testing.assert_frame_equal(loaded.emergence(), stack.emergence())
    assert {"p_improving", "p_reversal", "bent_weight", "reversal_flag"} <= set(loaded.emergence().columns)
    assert emergence_curve(loaded, "task0", fmt="svg").startswith(b"<?xml")  # the chart draws the mixture
    with pytest.raises(StaleFitError, match="stacked fit"):
        EmergenceForecaster.load(path)
    with pytest.raises(StaleFitError, match="different configuration"):
        stacking.load_fit(path, expect=sim_config.model_copy(update={"trend": "compute"}))
    single = components["compute"].save(tmp_path / "single.nc")
    with pytest.raises(StaleFitError, match="single-form"):
        StackedForecaster.load(single)
    assert isinstance(stacking.load_fit(single), EmergenceForecaster)


def test_every_scenario_reports_jump_discrimination(sim_table, sim_result) -> None:
    scores = {row["method"]: row for row in sim_result.discrimination}
    assert set(scores) == set(METHODS) and sim_result.shuffle is None  # no --shuffle-test asked
    for row in scores.values():  # every held-out result has its task's largest training run to jump from
        assert row["n"] == len(_heldout_keys(sim_table, SIM_CUT))
        assert -1.0 <= row["spearman"] <= 1.0 and (np.isnan(row["auc"]) or 0.0 <= row["auc"] <= 1.0)
    assert sim_result.meta()["jump_discrimination"] == sim_result.discrimination


def test_write_and_markdown_table(sim_result, tmp_path) -> None:
    paths = sim_result.write(tmp_path / "out")
    assert [p.name for p in paths] == ["predictions.csv", "summary.csv", "summary.json", "diagnostics.json", "pit.png"]
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


# ------------------------------------------------------------------------------ checkpoints
FINAL_STEP = 1000


def _with_checkpoints(table: pd.DataFrame) -> pd.DataFrame:
    """The simulated ladder plus 3 earlier checkpoints per run (steps 250, 500, 750 of 1,000)."""
    return validate_eval_table(with_checkpoints(table, float(FINAL_STEP)))


def test_checkpoints_train_the_link_but_targets_are_final_and_cuts_use_final_size(sim_table, monkeypatch) -> None:
    table = _with_checkpoints(sim_table)
    final = table[table["step"] == FINAL_STEP]
    cut = float(final.loc[final["params"] <= SIM_CUT, "compute_flops"].max())
    seen: dict[str, pd.DataFrame] = {}
    monkeypatch.setattr(backtest_run, "EmergenceForecaster", recording_forecaster(seen, "", draws=5))
    for link in ("all", "final"):
        config = FitConfig(success_metric=["acc"], link_checkpoints=link, checkpoints_per_run=8, **TINY)
        result = run_backtest(table, train_max_flops=cut, config=config, n_boot=10, progress=False,
                              methods=("hierarchical", "B1_logistic", "B2_two_step"))
        training_models = set(final.loc[final["compute_flops"] <= cut, "model"])
        assert training_models != set(table.loc[table["compute_flops"] <= cut, "model"])  # the test has teeth
        # by each run's final compute: early checkpoints of big runs (less compute than the cut) stay out
        assert set(result.training_rows["model"]) == training_models
        assert set(result.training_rows["step"]) == ({250.0, 500.0, 750.0, 1000.0} if link == "all" else {1000.0})
        pd.testing.assert_frame_equal(seen["compute"], result.training_rows)
        predictions = result.predictions[result.predictions["method"] == "B1_logistic"]
        observed = final[final["metric"] == "acc"].set_index(["model", "task"])
        keys = list(zip(predictions["model"], predictions["task"]))
        assert set(keys) == set(zip(*final.loc[(final["compute_flops"] > cut) & (final["metric"] == "acc"),
                                                 ["model", "task"]].to_numpy().T))
        assert np.allclose(predictions["observed"], observed.loc[keys, "value"].to_numpy())
        assert np.allclose(predictions["tokens"], observed.loc[keys, "tokens"].to_numpy())
        assert np.allclose(10 ** predictions["log10_flops"] / cut, predictions["extrapolation_ratio"])
        assert (predictions["extrapolation_ratio"] > 1.0).all()
        largest = set(final.loc[np.isclose(final["compute_flops"], cut), "model"])  # (ties in compute)
        assert result.training_models[-1].split("/")[1] in largest


# ------------------------------------------------------------------------------ several cuts
def test_suite_of_cuts_predicts_the_same_models_and_labels_each_scenario(sim_table, sim_config, tmp_path) -> None:
    cuts = [Cut("params", 2e8), Cut("params", SIM_CUT)]
    suite = run_backtest_suite(sim_table, cuts, config=sim_config, n_boot=10, progress=False, methods=BASELINES)
    assert [s.label for s in suite.scenarios] == ["params<=400M", "params<=200M"]  # largest cut first
    predictions, summary = suite.predictions, suite.summary
    assert list(predictions.columns) == list(PREDICTION_COLUMNS) and list(summary.columns) == list(SUMMARY_COLUMNS)
    by_cut = {cut: set(zip(rows["model"], rows["task"])) for cut, rows in predictions.groupby("cut")}
    assert by_cut["params<=200M"] == by_cut["params<=400M"] == _heldout_keys(sim_table, SIM_CUT)
    small = suite.scenarios[1]
    assert (small.training_rows["params"] <= 2e8).all()  # the 4e8 models are neither trained on nor predicted
    assert small.reach > suite.scenarios[0].reach
    assert summary.groupby("cut")["method"].apply(lambda m: set(m)).to_dict() == \
        {c: set(BASELINES) for c in by_cut}
    table = format_summary_table(summary)
    assert table.startswith("| cut | method |") and "| params<=200M | B1_logistic | all |" in table
    paths = suite.write(tmp_path / "suite")
    assert set(pd.read_csv(paths[1])["cut"]) == set(by_cut)
    meta = json.loads(paths[2].read_text())
    assert [s["label"] for s in meta["scenarios"]] == ["params<=400M", "params<=200M"] and "cut" not in meta
    assert set(json.loads(paths[3].read_text())) == set(by_cut)
    with pytest.raises(ValueError, match="by params or all by flops"):
        run_backtest_suite(sim_table, [Cut("params", 2e8), Cut("flops", 1e19)], config=sim_config, methods=BASELINES)
    with pytest.raises(ValueError, match="positive"):
        Cut("params", 0.0)


def test_default_cuts_are_derived_from_the_sizes_present(sim_table, sim_config) -> None:
    # simulated ladder: 1e8..1.6e9 params, 1/4/16xC; 2e8 has reach 8.0**2 = 64 (far), 4e8 16 (near)
    assert [c.value for c in default_cuts(sim_table, sim_config)] == [4e8, 2e8]
    two_families = pd.concat([sim_table, sim_table.assign(family="other")], ignore_index=True)
    with pytest.raises(ValueError, match="one model family"):
        default_cuts(two_families, sim_config)
    assert [c.value for c in default_cuts(two_families, sim_config.model_copy(update={"families": ["other"]}))] \
        == [4e8, 2e8]
    tiny = sim_table[sim_table["params"].isin([1e8, 2e8]) & (sim_table["tokens"] == 20 * sim_table["params"])]
    with pytest.raises(ValueError, match="no default backtest cut"):
        default_cuts(validate_eval_table(tiny), sim_config)


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


def test_default_suite_on_the_real_ladders_is_the_issue_6_suite(olmo_table) -> None:
    """OLMo-2 ladder: <= 760M and <= 370M, both predicting 1.3B and 3.2B; Pythia: <= 410M."""
    config = FitConfig(**{**OLMO_CONFIG, "tasks": None})
    assert [c.value for c in default_cuts(olmo_table, config)] == [758_220_288, 371_262_464]
    assert [c.label for c in default_cuts(olmo_table, config)] == ["params<=760M", "params<=370M"]
    pythia = pythia_lambada(FIXTURES / "pythia_lambada.csv")
    cuts = default_cuts(pythia, FitConfig(smooth_metric="ppl", success_metric=["acc"]))
    assert [c.label for c in cuts] == ["params<=410M"]


def test_held_out_families_without_training_runs_are_left_out_with_a_note() -> None:
    from models.backtest.run import _drop_untrained_families
    targets = pd.DataFrame({"family": ["a", "b", "b"], "model": ["m1", "m2", "m3"], "task": ["t", "t", "t"]})
    training = pd.DataFrame({"family": ["a"], "model": ["m0"]})
    kept, notes = _drop_untrained_families(targets, training)
    assert list(kept["model"]) == ["m1"]
    assert notes == ["2 held-out results of families with no training run (b) are not scored"]
    kept, notes = _drop_untrained_families(targets, pd.DataFrame({"family": ["a", "b"]}))
    assert len(kept) == 3 and notes == []
