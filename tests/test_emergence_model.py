"""The PyMC builder's likelihood terms (models/emergence_model.py), checked without sampling."""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from forecast.design import build_design
from forecast.evaltable import validate_eval_table
from models.config import FitConfig
from models.emergence_model import build_model
from tests.test_design import ladder_with_checkpoints


def _checkpoint_table() -> pd.DataFrame:
    return validate_eval_table(pd.DataFrame(ladder_with_checkpoints()), source="test")


def test_final_rows_are_beta_and_checkpoint_rows_a_moment_matched_normal() -> None:
    design = build_design(_checkpoint_table(), "bpb", "acc", link_checkpoints="all", checkpoints_per_run=3)
    model = build_model(design, FitConfig(trend="compute", link_checkpoints="all", checkpoints_per_run=3))
    n_checkpoint = int(design.success_is_checkpoint.sum())
    assert model["success_beta"].shape.eval() == (len(design.success_obs) - n_checkpoint,)
    assert model["success_checkpoint"].shape.eval() == (n_checkpoint,)

    # At a point, the checkpoint term is Normal(mu, sqrt(mu (1 - mu) / (ratio * kappa + 1))): the Beta's moments.
    point = model.initial_point()
    point["checkpoint_concentration_ratio_logodds__"] = np.log(0.5 / 0.5)  # ratio 0.5
    at_values = model.replace_rvs_by_values([model["success_checkpoint"].owner.inputs[2], model["concentration"]])
    mu, concentration = model.compile_fn(at_values, inputs=model.value_vars, on_unused_input="ignore")(point)
    kappa = 0.5 * concentration[0]
    y = np.clip(design.success_obs[design.success_is_checkpoint], 1e-4, 1 - 1e-4)
    expected = stats.norm.logpdf(y, mu, np.sqrt(mu * (1 - mu) / (kappa + 1))).sum()
    logp = model.compile_logp(vars=[model["success_checkpoint"]], sum=True)(point)
    np.testing.assert_allclose(logp, expected, rtol=1e-9)
    # and close to the Beta's own log density at these concentrations
    beta = stats.beta.logpdf(y, mu * kappa, (1 - mu) * kappa).sum()
    assert abs(beta - expected) < 0.05 * abs(expected)


def test_without_checkpoints_there_is_no_checkpoint_term() -> None:
    design = build_design(_checkpoint_table(), "bpb", "acc")
    model = build_model(design, FitConfig(trend="compute"))
    assert "success_checkpoint" not in model.named_vars and "checkpoint_concentration_ratio" not in model.named_vars


def _beta_alpha(model, point: dict) -> np.ndarray:
    """The success Beta's alpha (mean x concentration) of every final row at ``point``."""
    alpha = model.replace_rvs_by_values([model["success_beta"].owner.inputs[2]])
    return np.asarray(model.compile_fn(alpha, inputs=model.value_vars, on_unused_input="ignore")(point)[0])


def test_token_location_is_off_by_default_and_moves_the_link_by_slope_times_tokens_per_param() -> None:
    """The experimental link-location slope (docs/backtests.md, *Calibration*): absent by default; at
    slope 0 the success means are the default model's, and a positive slope raises success where a
    run has more tokens per parameter than Chinchilla's 20 and lowers it where it has fewer."""
    from models.emergence_model import centred_tokens_per_param

    from dataclasses import replace

    design = build_design(_checkpoint_table(), "bpb", "acc")  # a Chinchilla ladder: give its runs other lengths
    ratio = np.log10(20.0) + np.where(np.arange(len(design.models)) % 2 == 0, -0.5, 0.7)
    design = replace(design, log10_tokens=design.log10_params + ratio)
    config = FitConfig(trend="compute")
    plain, located = build_model(design, config), build_model(design, config, token_location=True)
    assert "link_tokens_slope" not in plain.named_vars
    point = located.initial_point()
    assert point["link_tokens_slope"].shape == (1,)
    base = _beta_alpha(plain, plain.initial_point())
    np.testing.assert_allclose(_beta_alpha(located, point | {"link_tokens_slope": np.zeros(1)}), base, rtol=1e-12)
    moved = _beta_alpha(located, point | {"link_tokens_slope": np.full(1, 0.5)})
    r = centred_tokens_per_param(design.log10_params, design.log10_tokens)[design.success_model_idx]
    far = np.abs(r) > 0.05
    assert far.any() and np.all(np.sign(moved - base)[far] == np.sign(r[far]))
