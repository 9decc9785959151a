"""The builder's data-driven parameterisation (models/emergence_model.py): which pooled parameters are
sampled centred, and that the choice leaves the model's density unchanged (slow: compiles log
densities). No sampling."""
from __future__ import annotations

import numpy as np
import pymc as pm
import pytest

import models.emergence_model as em
from forecast.design import build_design
from forecast.evaltable import validate_eval_table
from forecast.simulate import default_truths, ladder_sizes, simulate_ladder, simulate_wide_table
from models.config import FitConfig


def _wide_design(n_models: int = 100):
    table = validate_eval_table(simulate_wide_table(n_tasks=4, n_families=2, n_models=n_models), source="wide")
    return build_design(table, "bpb", "acc")


def _short_ladder_design(smooth_noise: float = 0.1):
    params, tokens = ladder_sizes()  # 15 runs, as a short real ladder
    x0 = float(np.mean(np.log10(6 * params * tokens)))
    truths = default_truths(4)
    for truth in truths:
        truth.smooth_noise = smooth_noise
    ladder = simulate_ladder(truths, params, tokens, x0)
    return build_design(validate_eval_table(ladder.table, source="ladder"), "bpb", "acc")


def test_a_wide_table_pins_the_rates_and_a_short_ladder_does_not() -> None:
    wide = _wide_design()
    assert (em.rate_standard_errors(wide, "compute") < em.CENTRED_RATE_SE).all()
    assert em.rate_centred(wide, "compute").all()
    short = _short_ladder_design()
    assert not em.rate_centred(short, "compute").any()
    assert not em.rate_centred(short, "params_tokens").any()


def test_ceiling_rows_count_the_rows_past_the_midpoint_over_a_base_tasks_families() -> None:
    wide = _wide_design()
    rows = em.ceiling_rows(wide)
    t = wide.success_task_idx
    lift = (wide.success_obs - wide.chance[t]) / (1 - wide.chance[t])
    for task in range(len(wide.tasks)):
        same_base = np.isin(t, np.flatnonzero(wide.task_base == wide.task_base[task]))
        assert rows[task] == np.sum(same_base & (lift >= em.CEILING_LIFT))
    assert (em.ceiling_rows(_short_ladder_design()) < em.CENTRED_MIN_ROWS).all()


def _logp_at(model: pm.Model, values: dict[str, np.ndarray]) -> float:
    point = model.initial_point()
    point.update({k: v for k, v in values.items() if k in point})
    return float(model.compile_logp()(point))


@pytest.mark.slow  # compiles four log densities (C backend): about a CPU-minute
@pytest.mark.parametrize("trend", ["compute", "params_tokens"])
def test_centring_the_rates_changes_the_coordinates_not_the_density(monkeypatch, trend: str) -> None:
    design = _wide_design(n_models=40)
    config = FitConfig(trend=trend)
    monkeypatch.setattr(em, "CENTRED_RATE_SE", np.inf)
    centred = em.build_model(design, config)
    monkeypatch.setattr(em, "CENTRED_RATE_SE", -1.0)
    offsets = em.build_model(design, config)
    rng = np.random.default_rng(0)
    values = {k: v + 0.1 * rng.standard_normal(np.shape(v)) for k, v in centred.initial_point().items()}
    log_sd, total_jacobian = {}, 0.0
    for suffix in ("", "_tokens") if trend == "params_tokens" else ("",):
        mu, log_sd = values[f"log_rate{suffix}_mu"], values[f"log_rate{suffix}_sd_log__"]
        values[f"log_rate{suffix}_offset"] = (values[f"log_rate{suffix}"] - mu) / np.exp(log_sd)
        total_jacobian += len(design.series) * log_sd  # offset = (value - mu) / sd per series
    # Same posterior over the model's parameters: the densities differ by the change of variables only.
    np.testing.assert_allclose(_logp_at(offsets, values), _logp_at(centred, values) + total_jacobian, rtol=1e-10)
