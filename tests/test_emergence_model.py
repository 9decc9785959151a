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

