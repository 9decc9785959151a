"""The vectorised numeric scoring path (`numeric_knot_blocks` / `numeric_knots_batch` /
`score_numeric_payloads`) equals the per-row reference (`numeric_knots` + `pad_knots` +
`score_numeric`) on random stored payloads: quantile sets of several sizes and grid CDFs, on linear
and log questions mixed in one batch."""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forecast import scoring
from forecast.scoring import (
    GRID_POINTS, NumericSpec, numeric_knots, numeric_knots_batch, score_numeric, score_numeric_payloads,
)


def _payload(rng: np.random.Generator, spec: NumericSpec, form: int) -> dict[str, Any]:
    """A valid stored payload: `form` quantiles (strictly increasing, inside the bounds), or a grid
    CDF when form == 0."""
    if form == 0:
        cdf = np.sort(rng.uniform(0, 1, GRID_POINTS))
        if rng.uniform() < 0.3:
            cdf[0], cdf[-1] = 0.0, 1.0
        return {"cdf": cdf.tolist()}
    while True:
        levels = np.sort(rng.uniform(0.001, 0.999, form))
        unit = np.sort(rng.uniform(0, 1, form))
        if np.all(np.diff(levels) > 0) and np.all(np.diff(unit) > 0):
            break
    lo, hi = scoring.to_scale(spec.lower, spec.scale), scoring.to_scale(spec.upper, spec.scale)
    values = lo + unit * (hi - lo)
    if spec.scale == "log":
        values = np.clip(10.0**values, spec.lower, spec.upper)
    return {"quantiles": {"levels": levels.tolist(), "values": values.tolist()}}


def _batch(seed: int, n: int) -> tuple[list[NumericSpec], list[dict[str, Any]], np.ndarray]:
    rng = np.random.default_rng(seed)
    specs_pool = [NumericSpec(0.0, 1.0, "linear"), NumericSpec(-50.0, 120.0, "linear"), NumericSpec(1.0, 1e6, "log"),
                  NumericSpec(1e18, 1e26, "log")]
    specs, payloads, outcomes = [], [], []
    for _ in range(n):
        spec = specs_pool[rng.integers(len(specs_pool))]
        if rng.uniform() < 0.2:  # an equal spec that is a different object (dedup is by identity)
            spec = NumericSpec(spec.lower, spec.upper, spec.scale)
        specs.append(spec)
        payloads.append(_payload(rng, spec, int(rng.choice([0, 3, 4, 5, 9]))))
        lo, hi = scoring.to_scale(spec.lower, spec.scale), scoring.to_scale(spec.upper, spec.scale)
        z = rng.uniform(lo - 0.2 * (hi - lo), hi + 0.2 * (hi - lo))  # outcomes outside the bounds too
        outcomes.append(10.0**z if spec.scale == "log" else z)
    return specs, payloads, np.array(outcomes)


def _assert_same_scores(got: dict[str, np.ndarray], ref: dict[str, np.ndarray]) -> None:
    assert set(got) == set(ref)
    for name in ref:
        assert got[name].dtype == ref[name].dtype, name
        if ref[name].dtype == bool:
            assert np.array_equal(got[name], ref[name]), name
        else:
            np.testing.assert_allclose(got[name], ref[name], rtol=1e-12, atol=1e-12, err_msg=name)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 60))
def test_vectorised_knots_and_scores_equal_per_row(seed: int, n: int) -> None:
    specs, payloads, outcomes = _batch(seed, n)
    per_row = [numeric_knots(spec, payload) for spec, payload in zip(specs, payloads)]
    ref_x, ref_f = scoring.pad_knots(per_row)
    xs, fs = numeric_knots_batch(specs, payloads)
    assert np.array_equal(xs, ref_x) and np.array_equal(fs, ref_f)
    _assert_same_scores(score_numeric_payloads(outcomes, specs, payloads), score_numeric(outcomes, specs, per_row))


def test_vectorised_scores_equal_per_row_on_a_large_mixed_batch() -> None:
    specs, payloads, outcomes = _batch(12345, 3_000)
    per_row = [numeric_knots(spec, payload) for spec, payload in zip(specs, payloads)]
    _assert_same_scores(score_numeric_payloads(outcomes, specs, payloads), score_numeric(outcomes, specs, per_row))


def test_vectorised_path_rejects_a_bad_stored_payload() -> None:
    spec = NumericSpec(0.0, 1.0, "linear")
    good = {"quantiles": {"levels": [0.05, 0.5, 0.95], "values": [0.1, 0.2, 0.3]}}
    for bad, message in [({"quantiles": {"levels": [0.05, 0.5, 0.95], "values": [0.3, 0.2, 0.1]}}, "strictly increasing"),
                         ({"quantiles": {"levels": [0.05, 0.5, 0.95], "values": [0.1, 0.2]}}, "same length"),
                         ({"cdf": [0.5] * 5}, "grid CDF")]:
        with pytest.raises(ValueError, match=message):
            numeric_knots_batch([spec, spec], [good, bad])


def test_empty_batch() -> None:
    scores = score_numeric_payloads(np.empty(0), [], [])
    assert all(len(v) == 0 for v in scores.values())
