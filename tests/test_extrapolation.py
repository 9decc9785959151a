"""Calibration-at-distance math: extrapolation distance, stacking of held-out densities, and the link
discrepancy's maximum-likelihood estimate recovering a known discrepancy from simulated results."""
import numpy as np
import pytest
from scipy import special, stats

from forecast.extrapolation import DISCREPANCY_GRID, extrapolation_distance, link_discrepancy_mle, stacking_weights


def test_distance_is_zero_inside_the_range_and_decades_beyond() -> None:
    assert extrapolation_distance([20.0, 21.5, 22.0], 21.0) == pytest.approx([0.0, 0.5, 1.0])
    assert extrapolation_distance([21.5, 21.5], [21.0, 22.0]) == pytest.approx([0.5, 0.0])  # per-target largest
    with pytest.raises(ValueError, match="finite"):
        extrapolation_distance([np.nan], 21.0)


def test_stacking_weights_sum_to_one_and_follow_the_held_out_density() -> None:
    rng = np.random.default_rng(0)
    better = rng.normal(-1.0, 0.3, 50)
    w = stacking_weights(np.column_stack([better, better - 2.0]))
    assert w.sum() == pytest.approx(1.0) and w[0] > 0.99
    assert stacking_weights(np.column_stack([better, better])) == pytest.approx([0.5, 0.5], abs=1e-4)
    # each form predicts half the points well: the mixture beats either form alone
    half = np.r_[np.zeros(25), np.full(25, -5.0)]
    w = stacking_weights(np.column_stack([half, half[::-1]]))
    assert w == pytest.approx([0.5, 0.5], abs=0.02)
    assert stacking_weights(better[:, None]) == pytest.approx([1.0])


@pytest.mark.parametrize("bad", [np.zeros((0, 2)), np.zeros(3), np.array([[0.0, -np.inf]])])
def test_stacking_weights_refuse_bad_input(bad) -> None:
    with pytest.raises(ValueError, match="lpd"):
        stacking_weights(bad)


def _lpd_by_delta(z_draws, distance, eps, y, kappa) -> np.ndarray:
    """Held-out log predictive density of Beta(kappa)-noised success Phi(z + delta * distance * eps)."""
    out = []
    for delta in DISCREPANCY_GRID:
        mean = np.clip(special.ndtr(z_draws + delta * distance[None, :] * eps), 1e-4, 1 - 1e-4)
        logpdf = stats.beta.logpdf(y[None, :], mean * kappa, (1 - mean) * kappa)
        out.append(special.logsumexp(logpdf, axis=0) - np.log(len(z_draws)))
    return np.array(out)


@pytest.mark.parametrize("true_delta", [0.0, 0.6, 1.2])
def test_link_discrepancy_mle_recovers_a_simulated_discrepancy(true_delta) -> None:
    rng = np.random.default_rng(int(10 * true_delta) + 1)
    n, draws, kappa = 300, 400, 300.0
    distance = rng.uniform(0.2, 1.0, n)  # decades beyond the training range
    centre = rng.normal(0.0, 0.8, n)  # the posterior's link argument, known up to its own spread 0.1
    z_draws = centre[None, :] + 0.1 * rng.standard_normal((draws, n))
    truth = centre + 0.1 * rng.standard_normal(n) + true_delta * distance * rng.standard_normal(n)
    mean = special.ndtr(truth)
    y = np.clip(rng.beta(mean * kappa, (1 - mean) * kappa), 1e-6, 1 - 1e-6)  # as the forecaster clips observed
    delta = link_discrepancy_mle(_lpd_by_delta(z_draws, distance, rng.standard_normal((draws, n)), y, kappa))
    assert delta == pytest.approx(true_delta, abs=0.2)


def test_link_discrepancy_is_zero_when_nothing_lies_beyond_the_range() -> None:
    assert link_discrepancy_mle(np.zeros((DISCREPANCY_GRID.size, 5))) == 0.0  # ties go to the smallest
    with pytest.raises(ValueError, match="shape"):
        link_discrepancy_mle(np.zeros((3, 5)))
    with pytest.raises(ValueError, match="increasing"):
        link_discrepancy_mle(np.zeros((2, 5)), grid=[0.5, 0.1])
