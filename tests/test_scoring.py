"""forecast.scoring against hand-computed values."""
from __future__ import annotations

import numpy as np
import pytest

from forecast import scoring as s


def test_brier_and_log_score_binary_by_hand() -> None:
    p, o = np.array([0.8, 0.3]), np.array([1, 0])
    np.testing.assert_allclose(s.brier_score(p, o), [0.04, 0.09])
    np.testing.assert_allclose(s.log_score_binary(p, o), [np.log(0.8), np.log(0.7)])


@pytest.mark.parametrize("bad", [[np.nan], [1.2], [-0.1]])
def test_binary_scores_reject_bad_probabilities(bad: list[float]) -> None:
    with pytest.raises(ValueError, match="probabilities"):
        s.brier_score(bad, [1])


def test_log_score_rejects_certainty_and_bad_outcomes() -> None:
    with pytest.raises(ValueError):
        s.log_score_binary([1.0], [1])
    with pytest.raises(ValueError, match="outcomes"):
        s.brier_score([0.5], [2])


def test_crps_ensemble_matches_hand_value() -> None:
    # two-member ensemble {0, 1}, y = 0: E|X-y| - E|X-X'|/2 = 0.5 - 0.25 = 0.25
    np.testing.assert_allclose(s.crps_ensemble(np.array([0.0]), np.array([[0.0, 1.0]])), [0.25])
    with pytest.raises(ValueError, match="samples"):
        s.crps_ensemble(np.zeros(2), np.zeros((3, 4)))


def test_crps_quantiles_is_twice_mean_pinball() -> None:
    levels, values, y = np.array([0.1, 0.5, 0.9]), np.array([[0.1, 0.5, 0.9]]), np.array([0.5])
    pinball = np.mean([(0.5 - 0.1) * 0.1, 0.0, (0.9 - 0.5) * 0.1])
    np.testing.assert_allclose(s.crps_quantiles(y, levels, values), [2 * pinball])


def test_interval_coverage() -> None:
    assert s.interval_coverage([1, 5, 3], [0, 0, 3], [2, 4, 3]).tolist() == [True, False, True]


def test_crps_piecewise_linear_uniform_is_closed_form() -> None:
    # U(0, 1): CRPS(y) = y^2 - y + 1/3 for y in [0, 1]
    y = np.array([0.0, 0.25, 0.5, 1.0])
    x = np.tile([0.0, 1.0], (4, 1))
    f = np.tile([0.0, 1.0], (4, 1))
    np.testing.assert_allclose(s.crps_piecewise_linear(y, x, f), y**2 - y + 1 / 3)


def test_crps_piecewise_linear_matches_numeric_integral_and_padding() -> None:
    kx, kf = s.cdf_knots_from_quantiles([0.05, 0.5, 0.95], [0.2, 0.5, 0.6], 0.0, 1.0)
    xs, fs = s.pad_knots([(kx, kf), (np.array([0.0, 1.0]), np.array([0.0, 1.0]))])
    y = np.array([0.55, 0.3])
    t = np.linspace(0, 1, 200_001)
    f_t = np.interp(t, kx, kf)
    expected = np.trapezoid((f_t - (t >= 0.55)) ** 2, t)
    got = s.crps_piecewise_linear(y, xs, fs)
    np.testing.assert_allclose(got[0], expected, atol=1e-5)
    np.testing.assert_allclose(got[1], 0.3**2 - 0.3 + 1 / 3)


def test_pit_and_bucket_log_score() -> None:
    x = np.array([[0.0, 1.0]])
    f = np.array([[0.0, 1.0]])
    np.testing.assert_allclose(s.pit_piecewise_linear([0.3], x, f), [0.3])
    edges = np.array([[0.0, 0.25, 0.5, 0.75, 1.0]])
    np.testing.assert_allclose(s.bucket_probabilities(x, f, edges), [[0.25] * 4])
    np.testing.assert_allclose(s.log_score_bucket([0.6], x, f, edges), [np.log(0.25)])
    np.testing.assert_allclose(s.log_score_bucket([7.0], x, f, edges), [np.log(0.25)])  # clamped to last


def test_cdf_grid_with_point_masses_at_bounds() -> None:
    x = np.array([[0.0, 0.5, 1.0]])
    f = np.array([[0.2, 0.5, 0.8]])  # 0.2 mass at 0, 0.2 mass at 1
    edges = np.array([[0.0, 0.5, 1.0]])
    np.testing.assert_allclose(s.bucket_probabilities(x, f, edges), [[0.5, 0.5]])


def test_reliability_ece_and_brier_decomposition_by_hand() -> None:
    p = np.array([0.1, 0.1, 0.9, 0.9])
    o = np.array([0, 1, 1, 1])
    bins = s.reliability_bins(p, o, n_bins=10)
    assert bins["count"][1] == 2 and bins["count"][9] == 2
    np.testing.assert_allclose(bins["observed_frequency"][[1, 9]], [0.5, 1.0])
    # ECE = 0.5 * |0.5 - 0.1| + 0.5 * |1 - 0.9| = 0.25
    assert s.expected_calibration_error(p, o) == pytest.approx(0.25)
    d = s.brier_decomposition(p, o)
    # reliability = (2*0.16 + 2*0.01)/4 = 0.085; base rate 0.75; resolution = (2*0.0625 + 2*0.0625)/4
    assert d["reliability"] == pytest.approx(0.085)
    assert d["resolution"] == pytest.approx(0.0625)
    assert d["uncertainty"] == pytest.approx(0.1875)
    assert d["brier"] == pytest.approx(d["reliability"] - d["resolution"] + d["uncertainty"])


def test_pit_histogram_and_grid() -> None:
    assert s.pit_histogram([0.0, 0.05, 0.95, 1.0], n_bins=2).tolist() == [2, 2]
    np.testing.assert_allclose(s.grid_edges(1.0, 100.0, "log", 3), [1.0, 10.0, 100.0])
    with pytest.raises(ValueError):
        s.grid_edges(0.0, 1.0, "log")


# --- vectorised knot building equals the per-row functions ---------------------------------------
def _random_quantile_rows(rng: np.random.Generator, n: int, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    lower = rng.uniform(-5, 5, n)
    upper = lower + rng.uniform(0.1, 10, n)
    levels = np.sort(rng.uniform(0.001, 0.999, (n, k)), axis=1)
    unit = np.sort(rng.uniform(0, 1, (n, k)), axis=1)
    values = lower[:, None] + unit * (upper - lower)[:, None]
    keep = (np.diff(levels, axis=1) > 0).all(axis=1) & (np.diff(values, axis=1) > 0).all(axis=1)
    return levels[keep], values[keep], lower[keep], upper[keep]


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("k", [1, 3, 5, 9])
def test_cdf_knots_from_quantile_sets_equals_per_row(seed: int, k: int) -> None:
    levels, values, lower, upper = _random_quantile_rows(np.random.default_rng(seed), 200, k)
    x, f = s.cdf_knots_from_quantile_sets(levels, values, lower, upper)
    rows = [s.cdf_knots_from_quantiles(levels[i], values[i], lower[i], upper[i]) for i in range(len(values))]
    assert np.array_equal(x, np.array([r[0] for r in rows])) and np.array_equal(f, np.array([r[1] for r in rows]))
    shared_x, shared_f = s.cdf_knots_from_quantile_sets(levels[0], values, lower, upper)  # one level set for all rows
    assert np.array_equal(shared_f, np.broadcast_to(f[0], f.shape)) and np.array_equal(shared_x[:, 1:-1], values)


@pytest.mark.parametrize(
    ("levels", "values", "message"),
    [
        ([[0.1, 0.5, 0.9]], [[0.2, 0.2, 0.3]], "strictly increasing"),
        ([[0.5, 0.1, 0.9]], [[0.1, 0.2, 0.3]], "strictly increasing"),
        ([[0.1, 0.5, 1.0]], [[0.1, 0.2, 0.3]], "levels"),
        ([[0.1, 0.5, 0.9]], [[0.1, np.nan, 0.3]], "values"),
        ([[0.1, 0.5, 0.9]], [[-0.1, 0.2, 0.3]], "inside the bounds"),
        ([[0.1, 0.5, 0.9]], [[0.1, 0.2, 1.3]], "inside the bounds"),
        ([[0.1, 0.9]], [[0.1, 0.2, 0.3]], "same length"),
    ],
)
def test_cdf_knots_from_quantile_sets_rejects_what_the_row_function_rejects(levels: list, values: list, message: str) -> None:
    good_levels, good_values = [[0.1, 0.5, 0.9]], [[0.1, 0.2, 0.3]]
    with pytest.raises(ValueError, match=message):
        s.cdf_knots_from_quantiles(levels[0], values[0], 0.0, 1.0)
    # one bad row among good ones is enough to refuse the whole batch
    batch_levels = good_levels + levels if len(levels[0]) == len(values[0]) else levels
    batch_values = good_values + values if len(levels[0]) == len(values[0]) else values
    with pytest.raises(ValueError, match=message):
        s.cdf_knots_from_quantile_sets(batch_levels, batch_values, [0.0] * len(batch_values), [1.0] * len(batch_values))


@pytest.mark.parametrize("seed", range(5))
def test_pad_knot_blocks_equals_pad_knots(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 300
    widths = rng.choice([2, 5, 7, 21], n)
    rows = []
    for w in widths:
        x = np.sort(rng.uniform(0, 1, w))
        f = np.sort(rng.uniform(0, 1, w))
        rows.append((x, f))
    blocks = []
    for w in np.unique(widths):
        index = np.flatnonzero(widths == w)
        blocks.append((index, np.array([rows[i][0] for i in index]), np.array([rows[i][1] for i in index])))
    xs, fs = s.pad_knot_blocks(blocks, n)
    ref_x, ref_f = s.pad_knots(rows)
    assert np.array_equal(xs, ref_x) and np.array_equal(fs, ref_f)
    with pytest.raises(ValueError, match="exactly once"):
        s.pad_knot_blocks(blocks[:-1], n)


# --- stored numeric forecasts and calibration summaries ------------------------------------------
def _crps_by_integral(x: np.ndarray, f: np.ndarray, y: float, lower: float, upper: float) -> float:
    """CRPS of the piecewise-linear CDF through knots (x, f) by numerical integration over [lower, upper]:
    int F^2 below y plus int (1 - F)^2 above it, each on its own fine grid."""
    below, above = np.linspace(lower, y, 200_001), np.linspace(y, upper, 200_001)
    return float(np.trapezoid(np.interp(below, x, f) ** 2, below) + np.trapezoid((1 - np.interp(above, x, f)) ** 2, above))


def test_score_numeric_payloads_crps_matches_numerical_integral() -> None:
    spec = s.NumericSpec(0.0, 10.0, "linear")
    quantiles = {"quantiles": {"levels": [0.05, 0.5, 0.95], "values": [1.0, 4.0, 9.0]}}
    grid = {"cdf": np.linspace(0.0, 1.0, s.GRID_POINTS).tolist()}  # the uniform distribution on [0, 10]
    scores = s.score_numeric_payloads([8.0, 8.0], [spec, spec], [quantiles, grid])
    expected = _crps_by_integral(np.array([0.0, 1.0, 4.0, 9.0, 10.0]), np.array([0.0, 0.05, 0.5, 0.95, 1.0]), 8.0, 0.0, 10.0)
    np.testing.assert_allclose(scores["crps"][0], expected, atol=1e-6)
    # U(0, 10): CRPS(y) = 10 * (u^2 - u + 1/3) with u = y / 10
    np.testing.assert_allclose(scores["crps"][1], 10 * (0.64 - 0.8 + 1 / 3))
    np.testing.assert_allclose(scores["crps_normalized"], scores["crps"] / 10)
    # PIT: F(8) on the segment (4, 0.5) -> (9, 0.95); uniform: 0.8
    np.testing.assert_allclose(scores["pit"], [0.5 + 0.45 * 4 / 5, 0.8])
    assert scores["covered_50"].tolist() == [False, False] and scores["covered_90"].tolist() == [True, True]
    # the uniform gives each of the 20 grid buckets 1/20
    np.testing.assert_allclose(scores["log_score"][1], np.log(1 / 20))


def test_log_scale_questions_are_scored_in_log10() -> None:
    spec = s.NumericSpec(1.0, 1e4, "log")
    payload = {"quantiles": {"levels": [0.05, 0.5, 0.95], "values": [10.0, 100.0, 1000.0]}}
    scores = s.score_numeric_payloads([100.0], [spec], [payload])
    expected = _crps_by_integral(np.array([0.0, 1.0, 2.0, 3.0, 4.0]), np.array([0.0, 0.05, 0.5, 0.95, 1.0]), 2.0, 0.0, 4.0)
    np.testing.assert_allclose(scores["crps"], [expected], atol=1e-6)
    np.testing.assert_allclose(scores["crps_normalized"], [expected / 4])
    np.testing.assert_allclose(scores["pit"], [0.5])


def test_stored_numeric_forecasts_are_checked() -> None:
    spec = s.NumericSpec(0.0, 1.0, "linear")
    with pytest.raises(ValueError, match="nondecreasing"):
        s.numeric_knots(spec, {"cdf": [0.5, 0.4] + [1.0] * (s.GRID_POINTS - 2)})
    with pytest.raises(ValueError, match="lower > 0"):
        s.score_numeric_payloads([1.0], [s.NumericSpec(0.0, 1.0, "log")], [{"cdf": [0.5] * s.GRID_POINTS}])
    with pytest.raises(ValueError, match="outcomes"):
        s.score_numeric_payloads([1.0, 2.0], [spec], [{"cdf": [0.5] * s.GRID_POINTS}])
    assert len(s.grid_edges(0.0, 1.0)) == s.GRID_POINTS


def test_binary_calibration_on_constructed_data() -> None:
    # 10 forecasts of 0.2 (2 came true) and 10 of 0.8 (6 came true): bins 2 and 8 of 10
    p = np.array([0.2] * 10 + [0.8] * 10)
    o = np.array([1] * 2 + [0] * 8 + [1] * 6 + [0] * 4)
    summary = s.binary_calibration(p, o, n_bins=10)
    bins = summary["reliability_bins"]
    assert [b["count"] for b in bins] == [0, 0, 10, 0, 0, 0, 0, 0, 10, 0]
    assert bins[2]["mean_forecast"] == pytest.approx(0.2) and bins[2]["observed_frequency"] == pytest.approx(0.2)
    assert bins[8]["observed_frequency"] == pytest.approx(0.6) and bins[0]["mean_forecast"] is None
    assert summary["n"] == 20
    assert summary["ece"] == pytest.approx(0.5 * 0.0 + 0.5 * 0.2)
    assert summary["brier_reliability"] == pytest.approx(0.5 * 0.04)  # only the 0.8 bin misses, by 0.2
    assert summary["brier_resolution"] == pytest.approx(0.04)  # base rate 0.4; bins at 0.2 and 0.6
    assert summary["brier_uncertainty"] == pytest.approx(0.24)
    assert summary["mean_brier"] == pytest.approx(np.mean((p - o) ** 2))
    empty = s.binary_calibration([], [], n_bins=4)
    assert empty["n"] == 0 and empty["ece"] is None and [b["count"] for b in empty["reliability_bins"]] == [0] * 4


def test_numeric_calibration_recovers_a_calibrated_forecaster() -> None:
    # outcomes drawn from the forecast distribution itself give uniform PIT values
    rng = np.random.default_rng(7)
    n = 20_000
    spec = s.NumericSpec(0.0, 1.0, "linear")
    payload = {"quantiles": {"levels": [0.05, 0.5, 0.95], "values": [0.1, 0.3, 0.8]}}
    u = rng.uniform(0, 1, n)
    outcomes = np.interp(u, [0.0, 0.05, 0.5, 0.95, 1.0], [0.0, 0.1, 0.3, 0.8, 1.0])  # inverse CDF
    scores = s.score_numeric_payloads(outcomes, [spec] * n, [payload] * n)
    summary = s.numeric_calibration(scores["pit"], n_bins=5)
    assert summary["n"] == n
    assert summary["coverage_50"] == pytest.approx(0.5, abs=0.02) and summary["coverage_90"] == pytest.approx(0.9, abs=0.01)
    assert np.allclose(np.array(summary["pit_histogram"]) / n, 0.2, atol=0.015)
    assert s.numeric_calibration([], n_bins=3) == {"n": 0, "coverage_50": None, "coverage_90": None, "pit_histogram": [0, 0, 0]}
    # a constructed set: PIT 0.1, 0.3, 0.5, 0.97 -> 50% interval holds 2, 90% holds 3
    constructed = s.numeric_calibration([0.1, 0.3, 0.5, 0.97], n_bins=2)
    assert constructed["coverage_50"] == 0.5 and constructed["coverage_90"] == 0.75 and constructed["pit_histogram"] == [2, 2]
