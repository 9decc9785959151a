"""The hierarchical model on data simulated from its own generative process.

Recovery: the 90% posterior intervals contain the true (standardised) link and curvature parameters
for most tasks, and the true emergence scale. Plus the wrapper's contract: predictions, save/load,
stale files, bad targets.
"""
import numpy as np
import pandas as pd
import pytest

from forecast.design import build_design
from forecast.evaltable import validate_eval_table
from forecast.simulate import default_truths, ladder_sizes, simulate_ladder, true_emergence
from models.config import FitConfig
from models.forecaster import EmergenceForecaster, StaleFitError
from models.forecaster_protocol import Forecaster
from models.stacking import StackedForecaster

PARAMS, TOKENS = ladder_sizes(6, (1.0, 3.0, 10.0))
X0 = float(np.mean(np.log10(6 * PARAMS * TOKENS)))


@pytest.fixture(scope="module")
def simulated():
    return simulate_ladder(default_truths(4, seed=3), PARAMS, TOKENS, X0, seed=11)


@pytest.fixture(scope="module")
def fitted(simulated):
    table = validate_eval_table(simulated.table, source="simulated")
    config = FitConfig(success_metric=["acc"], trend="compute", seed=1)  # the default draws: R-hat on fewer is noisy
    return EmergenceForecaster(config).fit(table, progress=False)


def _interval(draws, level=0.9):
    return np.quantile(draws, [(1 - level) / 2, (1 + level) / 2], axis=0)


def test_fit_converges_on_its_own_generative_process(fitted) -> None:
    # Divergences are rare but not absent on this geometry, hence a small allowance.
    d = fitted.diagnostics
    assert d.rhat_max < 1.05 and d.divergences <= 5, d


def test_recovers_link_and_curvature_parameters(fitted, simulated) -> None:
    design = fitted.design
    hits = []
    for t, truth in enumerate(simulated.truths):
        center, scale = design.series_center[t], design.series_scale[t]
        true_values = {
            "threshold": (truth.threshold - center) / scale,
            "spread": truth.spread / scale,
            "gap_fraction": truth.gap_fraction,
            "rate": truth.rate,
        }
        for name, value in true_values.items():
            lo, hi = _interval(fitted._draws(name)[:, t])
            hits.append(lo <= value <= hi)
    # Nominal 90% intervals: the number that contain the truth is ~Binomial(n, 0.9). Fail when it is
    # below that distribution's 1% quantile (too few hits for calibrated intervals).
    from scipy.stats import binom

    assert sum(hits) >= binom.ppf(0.01, len(hits), 0.9), hits


def test_recovers_emergence_scale(fitted, simulated) -> None:
    covered = []
    for truth in simulated.truths:
        lo, hi = _interval(fitted.emergence_draws(truth.name, level=0.5))
        covered.append(lo <= true_emergence(truth, X0) <= hi)
    assert sum(covered) >= 3, covered


def test_predict_contract_and_interval_order(fitted) -> None:
    targets = pd.DataFrame({"model": ["big", "big"], "task": ["task0", "task1"], "params": [8e9, 8e9],
                            "tokens": [1.6e11, 1.6e11]})
    pred = fitted.predict(targets)
    assert list(pred.columns) == ["model", "task", "metric", "mean", "median", "q05", "q25", "q75", "q95",
                                  "smooth_median", "smooth_q05", "smooth_q95"]
    assert np.all(pred["q05"] <= pred["q25"]) and np.all(pred["q25"] <= pred["median"])
    assert np.all(pred["median"] <= pred["q75"]) and np.all(pred["q75"] <= pred["q95"])
    assert pred[["q05", "q95"]].to_numpy().min() >= 0 and pred[["q05", "q95"]].to_numpy().max() <= 1
    by_compute = targets.assign(compute_flops=6 * 8e9 * 1.6e11).drop(columns="tokens")
    pd.testing.assert_frame_equal(fitted.predict(by_compute), pred)


def test_link_discrepancy_widens_only_beyond_the_training_range(fitted) -> None:
    largest = float(np.max(fitted.design.x))
    assert fitted.largest_log10_flops() == pytest.approx(np.full(len(fitted.design.tasks), largest))
    # the far target: the latest-emerging task, half a decade or more out, where its curve still climbs
    emergence = fitted.emergence().sort_values("log10_flops_median")
    task, x_far = emergence["task"].iloc[-1], max(float(emergence["log10_flops_median"].iloc[-1]), largest + 0.5)
    params_far = np.sqrt(10**x_far / (6 * 200))  # tokens = 200 x params
    inside_params = float(PARAMS[np.argmax(PARAMS * TOKENS)])
    targets = pd.DataFrame({"model": ["in", "far"], "task": [task, task], "params": [inside_params, params_far],
                            "tokens": [float(np.max(TOKENS[PARAMS == inside_params])), 200 * params_far]})
    plain, smooth = fitted.predictive_draws(targets, seed=3)
    wide, wide_smooth = fitted.predictive_draws(targets, seed=3, link_discrepancy=1.0)
    np.testing.assert_array_equal(wide_smooth, smooth)  # the discrepancy is in the link, not the trend
    np.testing.assert_array_equal(wide[:, 0], plain[:, 0])  # at the largest training model: distance 0
    # a target's draws do not depend on the other targets' (rejection samplers, one stream per column)
    farther, _ = fitted.predictive_draws(targets.assign(params=[inside_params, 3 * params_far]), seed=3)
    np.testing.assert_array_equal(farther[:, 0], plain[:, 0])
    width = lambda d: np.subtract(*np.quantile(d, [0.95, 0.05], axis=0))  # noqa: E731
    assert width(wide)[1] > 1.2 * width(plain)[1], (task, x_far, largest)
    with pytest.raises(ValueError, match="link_discrepancy"):
        fitted.predictive_draws(targets, link_discrepancy=-0.1)
    observed = targets.assign(observed=[0.5, 0.6])
    lpd = fitted.heldout_success_lpd(observed, np.array([0.0, 0.5, 1.0]))
    assert lpd.shape == (3, 2) and np.isfinite(lpd).all()
    assert np.ptp(lpd[:, 0]) == pytest.approx(0.0, abs=1e-9) and np.ptp(lpd[:, 1]) > 0


@pytest.mark.filterwarnings("ignore:Estimated shape parameter of Pareto")  # PSIS-LOO of the one-form stack
def test_fitted_forecasters_and_a_stack_of_them_are_forecasters(fitted) -> None:
    stack = StackedForecaster.from_fits({fitted.config.trend: fitted}, weighting="loo")
    for forecaster in (fitted, stack):
        assert isinstance(forecaster, Forecaster)
        assert forecaster.design is fitted.design and forecaster.diagnostics.rhat_max == fitted.diagnostics.rhat_max


def test_a_single_family_fit_ignores_a_blank_family_column(fitted) -> None:
    targets = pd.DataFrame({"model": ["big"] * 3, "task": ["task0"] * 3, "params": [8e9] * 3, "tokens": [1.6e11] * 3})
    plain = fitted.predict(targets)
    for blank in (np.nan, None, ""):
        pd.testing.assert_frame_equal(fitted.predict(targets.assign(family=blank)), plain)
    with pytest.raises(ValueError, match="family 'other' is not in this fit"):
        fitted.predict(targets.assign(family="other"))


def test_a_refit_of_the_same_model_reuses_its_compiled_model(fitted, simulated) -> None:
    """Same data and structural config (another seed, fewer draws): nutpie's compiled model is reused."""
    table = validate_eval_table(simulated.table, source="simulated")
    again = EmergenceForecaster(fitted.config.model_copy(update={"seed": 2, "draws": 100, "tune": 100}))
    again.fit(table, progress=False)
    assert again.diagnostics.compile_seconds < 0.5 < fitted.diagnostics.compile_seconds
    assert again._model_key() == fitted._model_key()
    assert not np.allclose(again._draws("threshold")[:100], fitted._draws("threshold")[:100])
    other_priors = EmergenceForecaster(fitted.config.model_copy(
        update={"priors": {"threshold_sd": {"dist": "HalfNormal", "sigma": 0.7}}}))
    other_priors.design = fitted.design
    other_data = EmergenceForecaster(fitted.config)
    other_data.design = build_design(table[table["task"] != "task3"], "bpb", ["acc"])
    assert len({fitted._model_key(), other_priors._model_key(), other_data._model_key()}) == 3


def test_bad_targets_are_clear_errors(fitted) -> None:
    with pytest.raises(ValueError, match="not in the fit"):
        fitted.predict(pd.DataFrame({"model": ["a"], "task": ["nope"], "params": [1e9], "tokens": [1e10]}))
    with pytest.raises(ValueError, match="params > 0"):
        fitted.predict(pd.DataFrame({"model": ["a"], "task": ["task0"], "params": [-1.0], "tokens": [1e10]}))


def test_emergence_table_reports_beyond_range_mass(fitted) -> None:
    table = fitted.emergence(level=0.5, reached_by=25.0)
    assert list(table.columns) == ["task", "target_success", "log10_flops_median", "log10_flops_q05",
                                   "log10_flops_q95", "p_beyond_range", "p_improving", "p_reversal", "bent_weight",
                                   "reversal_flag", "p_reached_by"]
    # the simulated smooth trends are saturating power laws: improving, never turning
    assert (table["p_improving"] > 0.9).all() and not table["reversal_flag"].any()
    assert table["p_beyond_range"].between(0, 1).all()
    unreachable = fitted.emergence(success_at=0.999)
    assert (unreachable["p_beyond_range"] > 0.5).all()


def test_save_load_round_trip_and_stale_files(fitted, tmp_path) -> None:
    path = fitted.save(tmp_path / "fit.nc")
    loaded = EmergenceForecaster.load(path, expect=fitted.config)
    pd.testing.assert_frame_equal(loaded.emergence(), fitted.emergence())
    with pytest.raises(StaleFitError, match="different configuration"):
        EmergenceForecaster.load(path, expect=fitted.config.model_copy(update={"smooth_metric": "nll"}))
    assert fitted.config.link_checkpoints == "final"  # so the checkpoint thinning cannot make it stale
    EmergenceForecaster.load(path, expect=fitted.config.model_copy(update={"checkpoints_per_run": 8}))
    import arviz as az

    idata = az.from_netcdf(str(path))
    idata.attrs["turnsignal_model_version"] = "0"
    idata.to_netcdf(str(tmp_path / "old.nc"))
    with pytest.raises(StaleFitError, match="refit"):
        EmergenceForecaster.load(tmp_path / "old.nc")


def test_checkpoints_per_run_is_structural_only_with_the_checkpoint_link() -> None:
    final = FitConfig()
    assert final.structural_key() == final.model_copy(update={"checkpoints_per_run": 8}).structural_key()
    every = FitConfig(link_checkpoints="all")
    assert every.structural_key() != every.model_copy(update={"checkpoints_per_run": 8}).structural_key()


def test_too_little_data_is_refused() -> None:
    rows = simulate_ladder(default_truths(1), PARAMS[:2], TOKENS[:2], X0).table
    with pytest.raises(ValueError, match="at least 3 models"):
        EmergenceForecaster(FitConfig(trend="compute")).fit(validate_eval_table(rows), progress=False)


def test_unknown_prior_name_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown prior"):
        FitConfig(priors={"nonsense": {"dist": "Normal", "mu": 0, "sigma": 1}})


@pytest.mark.parametrize("name, spec, says", [
    ("log_rate_mu", {"mu": 0}, "needs 'dist'"),
    ("log_rate_mu", {"dist": "Gaussian"}, "needs 'dist'"),
    ("log_rate_mu", {"dist": "Normal", "scale": 1}, "no parameter 'scale'"),
    ("log_rate_mu", {"dist": "Normal", "sigma": 0}, "must be > 0"),
    ("log_rate_mu", {"dist": "Normal", "mu": float("nan")}, "finite number"),
    ("log_rate_sd", {"dist": "Normal", "sigma": 1}, "is a scale"),
    ("log_rate_mu", {"dist": "ZeroSumNormal", "sigma": 1}, "ZeroSumNormal"),
    ("threshold_family_shift", {"dist": "Normal", "sigma": 1}, "ZeroSumNormal"),
])
def test_bad_prior_specs_are_refused_before_any_fit(name, spec, says) -> None:
    with pytest.raises(ValueError, match=says):
        FitConfig(priors={name: spec})


def test_default_priors_pass_their_own_validation() -> None:
    from models.config import DEFAULT_PRIORS
    assert FitConfig(priors=DEFAULT_PRIORS).resolved_priors() == DEFAULT_PRIORS


@pytest.mark.slow  # a second full fit
def test_per_example_margins_pin_down_the_spread(fitted, simulated, tmp_path) -> None:
    """Margins simulated from the same link inform the spread: tighter, still covering the truth."""
    from forecast.simulate import simulate_margins

    margins = simulate_margins(simulated, seed=5)
    table = validate_eval_table(simulated.table, source="simulated")
    with_margins = EmergenceForecaster(fitted.config).fit(table, progress=False, margins=margins)
    design = with_margins.design
    assert len(design.margin_task_idx) == len(margins)
    widths, covered = [], []
    for t, truth in enumerate(simulated.truths):
        true_spread = truth.spread / design.series_scale[t]
        lo, hi = _interval(with_margins._draws("spread")[:, t])
        base_lo, base_hi = _interval(fitted._draws("spread")[:, t])
        covered.append(lo <= true_spread <= hi)
        widths.append((hi - lo) / (base_hi - base_lo))
    assert sum(covered) >= 3, covered
    assert np.median(widths) < 0.8, widths
    path = with_margins.save(tmp_path / "margins.nc")
    assert EmergenceForecaster.load(path).design.data_hash == design.data_hash
