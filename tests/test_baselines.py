"""Baselines B1 (success-only logistic) and B2 (two-step ladder fit): recovery, intervals, determinism, input errors."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import forecast.baselines as baselines
from forecast.baselines import fit_success_logistic, fit_two_step, logistic_success, sigmoid_link
from forecast.evaltable import validate_eval_table
from forecast.links import trend_compute

CHANCE = 0.25
B1_TRUTH = {"a": -0.4, "b": 1.8}
B2_TREND = {"floor": 0.8, "log_amplitude": float(np.log(0.6)), "rate": 1.0}
B2_LINK = {"threshold": 1.5, "steepness": 4.0, "gap": 0.1}


def _table(x: np.ndarray, success: np.ndarray, smooth: np.ndarray | None = None, *, task: str = "t",
           smooth_metric: str = "bpb", prefix: str = "m") -> pd.DataFrame:
    """A validated eval table with one model per compute value x (log10 FLOPs)."""
    rows = []
    for i, xi in enumerate(x):
        base = {"family": "sim", "model": f"{prefix}{i}", "params": 1e8, "compute_flops": 10.0 ** xi, "task": task}
        rows.append(base | {"metric": "acc", "value": float(success[i]), "chance": CHANCE})
        if smooth is not None:
            rows.append(base | {"metric": smooth_metric, "value": float(smooth[i]), "chance": np.nan})
    return validate_eval_table(pd.DataFrame(rows))


def _targets(x: np.ndarray, task: str = "t") -> pd.DataFrame:
    return pd.DataFrame({"model": [f"target{i}" for i in range(len(x))], "task": task,
                         "params": 1e8, "compute_flops": 10.0 ** np.asarray(x)})


def _b1_data(n: int = 24, noise: float = 0.005, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.linspace(18.0, 21.0, n)
    mean = logistic_success(x, B1_TRUTH["a"], B1_TRUTH["b"], CHANCE, float(np.mean(x)))
    return x, np.clip(mean + noise * rng.standard_normal(n), 0, 1)


def _b2_truth(x: np.ndarray, x0: float) -> tuple[np.ndarray, np.ndarray]:
    """True (smooth bpb, expected success) at x; the link acts on the raw smooth value."""
    smooth = trend_compute(x, B2_TREND["floor"], B2_TREND["log_amplitude"], B2_TREND["rate"], x0)
    success = sigmoid_link(smooth, B2_LINK["threshold"], B2_LINK["steepness"], CHANCE, B2_LINK["gap"])
    return smooth, success


def _b2_data(n: int = 24, smooth_noise: float = 0.002, success_noise: float = 0.003, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = np.linspace(18.0, 21.0, n)
    smooth, success = _b2_truth(x, float(np.mean(x)))
    return (x, np.clip(success + success_noise * rng.standard_normal(n), 0, 1),
            smooth + smooth_noise * rng.standard_normal(n))


# ------------------------------------------------------------------------------------ recovery
def test_b1_recovers_its_own_parameters() -> None:
    x, success = _b1_data()
    params = fit_success_logistic(_table(x, success)).parameters().iloc[0]
    assert params["a"] == pytest.approx(B1_TRUTH["a"], abs=0.1)
    assert params["b"] == pytest.approx(B1_TRUTH["b"], abs=0.15)
    assert params["x0"] == pytest.approx(float(np.mean(x)))


def test_b2_recovers_its_own_parameters_in_raw_units() -> None:
    x, success, smooth = _b2_data()
    params = fit_two_step(_table(x, success, smooth)).parameters().iloc[0]
    center, scale = float(np.mean(smooth)), float(np.std(smooth))  # B2 standardises each task's smooth metric
    assert center + scale * params["floor"] == pytest.approx(B2_TREND["floor"], abs=0.05)
    assert params["log_amplitude"] + np.log(scale) == pytest.approx(B2_TREND["log_amplitude"], abs=0.05)
    assert params["rate"] == pytest.approx(B2_TREND["rate"], abs=0.05)
    assert center + scale * params["threshold"] == pytest.approx(B2_LINK["threshold"], abs=0.05)
    assert params["steepness"] / scale == pytest.approx(B2_LINK["steepness"], rel=0.1)
    assert params["gap"] == pytest.approx(B2_LINK["gap"], abs=0.02)


def test_b2_point_prediction_extrapolates_the_true_curve() -> None:
    x, success, smooth = _b2_data()
    fit = fit_two_step(_table(x, success, smooth))
    far = np.array([21.3, 21.6])
    _, truth = _b2_truth(far, float(np.mean(x)))
    assert fit.point(_targets(far)) == pytest.approx(truth, abs=0.01)


def test_b2_log_transform_and_mirroring_give_the_same_fit() -> None:
    """ppl is fitted on log ppl, and a higher-is-better metric is mirrored: same predictions as nll."""
    x, success, smooth = _b2_data()
    targets = _targets(np.array([20.5, 21.5]))
    as_nll = fit_two_step(_table(x, success, smooth, smooth_metric="nll"), smooth_metric="nll").point(targets)
    as_ppl = fit_two_step(_table(x, success, np.exp(smooth), smooth_metric="ppl"), smooth_metric="ppl").point(targets)
    mirrored = fit_two_step(_table(x, success, -smooth, smooth_metric="logp_correct"),
                            smooth_metric="logp_correct").point(targets)
    assert as_ppl == pytest.approx(as_nll, abs=1e-4)
    assert mirrored == pytest.approx(as_nll, abs=1e-4)


def test_b2_accepts_a_shared_smooth_metric() -> None:
    x, success, smooth = _b2_data()
    table = _table(x, success, smooth)
    table.loc[table["metric"] == "bpb", "task"] = "*"
    fit = fit_two_step(table)
    assert fit.tasks == ["t"] and not fit.notes


# ------------------------------------------------------------------------------------ intervals
@pytest.mark.parametrize("method", ["B1", "B2"])
def test_bootstrap_intervals_cover_new_observations(method: str) -> None:
    """90% intervals for a new observed result cover about 90% of them (pooled over 5 data sets)."""
    covered = []
    for seed in range(5):
        rng = np.random.default_rng(100 + seed)
        new_x = rng.uniform(18.2, 20.8, 30)
        if method == "B1":
            x, success = _b1_data(noise=0.02, seed=seed)
            fit = fit_success_logistic(_table(x, success))
            truth = logistic_success(new_x, B1_TRUTH["a"], B1_TRUTH["b"], CHANCE, float(np.mean(x)))
        else:
            x, success, smooth = _b2_data(smooth_noise=0.02, success_noise=0.02, seed=seed)
            fit = fit_two_step(_table(x, success, smooth))
            truth = _b2_truth(new_x, float(np.mean(x)))[1]
        observed = truth + 0.02 * rng.standard_normal(len(new_x))
        draws = fit.sample(_targets(new_x), n_boot=100, rng=seed)
        assert draws.shape == (30, 100) and np.all((draws >= 0) & (draws <= 1))
        lower, upper = np.quantile(draws, [0.05, 0.95], axis=1)
        covered.append((lower <= observed) & (observed <= upper))
    assert 0.8 <= np.mean(covered) <= 1.0


def test_sampling_is_deterministic_given_a_seed() -> None:
    x, success, smooth = _b2_data(smooth_noise=0.02, success_noise=0.02)
    targets = _targets(np.array([20.0, 21.5]))
    for fit in (fit_success_logistic(_table(x, success)), fit_two_step(_table(x, success, smooth))):
        first = fit.sample(targets, n_boot=30, rng=7)
        assert np.array_equal(first, fit.sample(targets, n_boot=30, rng=np.random.default_rng(7)))
        assert not np.array_equal(first, fit.sample(targets, n_boot=30, rng=8))


def test_b2_prediction_ignores_any_smooth_value_on_the_targets() -> None:
    x, success, smooth = _b2_data()
    fit = fit_two_step(_table(x, success, smooth))
    targets = _targets(np.array([21.5]))
    leaked = targets.assign(metric="bpb", value=123.0, smooth=123.0)
    assert np.array_equal(fit.sample(targets, 20, 1), fit.sample(leaked, 20, 1))


def test_tasks_are_fitted_separately() -> None:
    x, success = _b1_data()
    both = pd.concat([_table(x, success, task="a"), _table(x, 1 - success * 0.5, task="b")], ignore_index=True)
    fit = fit_success_logistic(both)
    alone = fit_success_logistic(_table(x, success, task="a"))
    assert fit.point(_targets(np.array([20.0]), "a")) == pytest.approx(alone.point(_targets(np.array([20.0]), "a")))


# ------------------------------------------------------------------------------------ fallbacks
def test_too_few_models_fall_back_to_the_mean_with_a_note() -> None:
    x, success = np.array([18.0, 19.0]), np.array([0.3, 0.4])
    fit = fit_success_logistic(_table(x, success))
    assert any("only 2 training models" in note for note in fit.notes)
    assert fit.point(_targets(np.array([22.0]))) == pytest.approx([0.35])
    assert fit.sample(_targets(np.array([22.0])), 10, 0).shape == (1, 10)


def test_non_convergence_falls_back_to_the_mean_and_never_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    x, success, smooth = _b2_data()
    monkeypatch.setattr(baselines, "_best_least_squares", lambda *args, **kwargs: None)
    for fit in (fit_success_logistic(_table(x, success)), fit_two_step(_table(x, success, smooth))):
        assert any("did not converge" in note for note in fit.notes)
        assert fit.point(_targets(np.array([21.0]))) == pytest.approx([success.mean()])
        assert np.all(np.isfinite(fit.sample(_targets(np.array([21.0])), 10, 0)))


# ------------------------------------------------------------------------------------ bad input
def test_bad_inputs_raise_value_errors() -> None:
    x, success, smooth = _b2_data()
    table = _table(x, success, smooth)
    fit = fit_success_logistic(table)
    with pytest.raises(ValueError, match="missing columns"):
        fit_success_logistic(table.drop(columns=["metric"]))
    with pytest.raises(ValueError, match="DataFrame"):
        fit_success_logistic([1, 2, 3])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no rows with success metric"):
        fit_success_logistic(table, success_metric="exact_match")
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        fit_success_logistic(table.assign(value=np.where(table["metric"] == "acc", 1.5, table["value"])))
    with pytest.raises(ValueError, match="chance"):
        fit_success_logistic(table.assign(chance=np.nan))
    with pytest.raises(ValueError, match="compute_flops"):
        fit_success_logistic(table.assign(compute_flops=np.nan, tokens=np.nan))
    with pytest.raises(ValueError, match="tasks without success metric"):
        fit_success_logistic(table, tasks=["nope"])
    with pytest.raises(ValueError, match="smooth metric"):
        fit_two_step(table, smooth_metric="nll")
    with pytest.raises(ValueError, match="not fitted"):
        fit.sample(_targets(np.array([20.0]), task="other"), 10, 0)
    with pytest.raises(ValueError, match="n_boot"):
        fit.sample(_targets(np.array([20.0])), 0, 0)
    with pytest.raises(ValueError, match="compute_flops"):
        fit.sample(pd.DataFrame({"task": ["t"], "params": [1e8]}), 10, 0)
    with pytest.raises(ValueError, match="success_metric"):
        fit_success_logistic(table, success_metric=[])
