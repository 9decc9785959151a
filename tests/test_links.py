"""The link and trend formulas: numpy and PyTensor evaluate the same function; inversion is exact."""
import numpy as np
import pytensor.tensor as pt
import pytest

from forecast.links import (
    normal_cdf, smooth_for_success, success_from_smooth, trend_compute, trend_params_tokens,
)

RNG = np.random.default_rng(0)


def _pytensor_eval(fn, *arrays):
    symbols = [pt.dvector(f"a{i}") for i in range(len(arrays))]
    return fn(*symbols).eval({s: a for s, a in zip(symbols, arrays)})


def test_success_link_numpy_and_pytensor_agree() -> None:
    s, threshold, spread = RNG.normal(size=50), RNG.normal(size=50), RNG.uniform(0.1, 2, size=50)
    chance, gap, steps = RNG.uniform(0, 0.5, 50), RNG.uniform(0, 0.2, 50), RNG.integers(1, 4, 50).astype(float)
    expected = success_from_smooth(s, threshold, spread, chance, gap, steps)
    got = _pytensor_eval(lambda *a: success_from_smooth(*a, ops=pt), s, threshold, spread, chance, gap, steps)
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_trends_numpy_and_pytensor_agree() -> None:
    x, floor, log_amp, rate = RNG.uniform(18, 24, 40), RNG.normal(size=40), RNG.normal(size=40), RNG.uniform(0.1, 1, 40)
    np.testing.assert_allclose(
        _pytensor_eval(lambda *a: trend_compute(*a, x0=21.0, ops=pt), x, floor, log_amp, rate),
        trend_compute(x, floor, log_amp, rate, 21.0), rtol=1e-12)
    n, d = RNG.uniform(8, 10, 40), RNG.uniform(9, 12, 40)
    args = (n, d, floor, log_amp, rate, log_amp - 0.5, rate + 0.1)
    np.testing.assert_allclose(
        _pytensor_eval(lambda *a: trend_params_tokens(*a, n0=9.0, d0=10.5, ops=pt), *args),
        trend_params_tokens(*args, 9.0, 10.5), rtol=1e-12)


def test_normal_cdf_matches_known_values_and_tails() -> None:
    np.testing.assert_allclose(normal_cdf(np.array([0.0, 1.959963984540054, -40.0])), [0.5, 0.975, 0.0], atol=1e-12)
    assert normal_cdf(np.array(-30.0)) > 0  # erfc keeps the far tail positive (no cancellation)


def test_success_runs_from_chance_to_ceiling() -> None:
    s = np.array([50.0, -50.0])
    np.testing.assert_allclose(success_from_smooth(s, 0.0, 1.0, 0.25, 0.1), [0.25, 0.9])


def test_multi_step_success_is_per_step_power() -> None:
    one = success_from_smooth(np.array(0.3), 0.5, 0.4, 0.0, 0.0)
    three = success_from_smooth(np.array(0.3), 0.5, 0.4, 0.0, 0.0, steps=3)
    assert three == pytest.approx(one**3)


def test_smooth_for_success_inverts_the_link() -> None:
    s = RNG.normal(size=30)
    threshold, spread, chance, gap = 0.2, 0.7, 0.25, 0.05
    success = success_from_smooth(s, threshold, spread, chance, gap, steps=2)
    np.testing.assert_allclose(smooth_for_success(success, threshold, spread, chance, gap, steps=2), s, atol=1e-9)
    unreachable = smooth_for_success(np.array([0.2, 0.99]), threshold, spread, chance, gap)
    assert unreachable[0] == np.inf and unreachable[1] == -np.inf
