"""Rows as data (`build_model(..., shared_rows=True)`): the same density as the constant graph, and one
compiled model serves another design of the same structure (the stacked fit's refits) by swapping data."""
from dataclasses import replace

import numpy as np
import pytest

from forecast.design import design_from_selected, select_rows
from models.config import FitConfig
from models.emergence_model import build_model
from models.forecaster import design_for, shares_rows, structure_hash
from models.precompile import warm_up_table
from models.stacking import leave_largest_out_split

CONFIG = FitConfig(success_metric=["acc"], trend="params_tokens", draws=60, tune=60, seed=1)


def _full_and_reduced():
    """The warm-up ladder's design, and the design of its rows without the largest models."""
    table = warm_up_table("final")
    rows = select_rows(table, CONFIG.smooth_metric, CONFIG.success_metric, CONFIG.tasks, CONFIG.families,
                       CONFIG.link_checkpoints, CONFIG.checkpoints_per_run)
    reduced = design_from_selected(leave_largest_out_split(rows)[0], CONFIG.smooth_metric, None)
    return design_for(table, CONFIG), reduced


def test_a_refit_design_has_the_structure_of_the_full_one_and_checkpoint_rows_are_not_shared() -> None:
    full, reduced = _full_and_reduced()
    assert shares_rows(full) and shares_rows(reduced)
    assert len(reduced.smooth_obs) < len(full.smooth_obs)
    assert structure_hash(reduced) == structure_hash(full)  # other rows, other emerged tasks: same structure
    assert structure_hash(replace(full, tasks=full.tasks[::-1])) != structure_hash(full)
    checkpoints = FitConfig(success_metric=["acc"], trend="compute", link_checkpoints="all")
    assert not shares_rows(design_for(warm_up_table("all"), checkpoints))


@pytest.mark.slow  # compiles two models' log densities and gradients (PyTensor's C backend)
def test_rows_as_data_give_the_same_log_density_and_gradient() -> None:
    full, _ = _full_and_reduced()
    design = replace(full, emerged=np.arange(len(full.tasks)) % 2 == 0)  # mixed: the same free variables both ways
    constant, shared = build_model(design, CONFIG), build_model(design, CONFIG, shared_rows=True)
    assert {"threshold_centred", "smooth_obs", "success_obs"} <= {var.name for var in shared.data_vars}
    point = constant.initial_point()
    # a data-chosen mask is data in the shared graph, so a group all non-centred here (``x_offset``) is the
    # mixed form there (``x_raw``, equal to the offset where the mask is False): same coordinates, renamed
    as_shared = {_mixed_name(name, shared): value for name, value in point.items()}
    assert shared.initial_point().keys() == as_shared.keys()
    assert shared.compile_logp()(as_shared) == pytest.approx(constant.compile_logp()(point), rel=1e-12)
    np.testing.assert_allclose(shared.compile_dlogp()(as_shared), constant.compile_dlogp()(point), rtol=1e-10, atol=1e-9)


def _mixed_name(name: str, model) -> str:
    """``name`` as the shared-rows model calls the same coordinates (``x_offset`` -> ``x_raw`` where it has that)."""
    mixed = name.replace("_offset", "_raw")
    return mixed if mixed in model.initial_point() else name


@pytest.mark.slow  # two nutpie compiles and three short samplings
def test_a_compiled_model_samples_another_design_of_its_structure_as_a_fresh_compile_does() -> None:
    import nutpie

    from models.sampling import compiled_model

    full, reduced = _full_and_reduced()
    reduced = replace(reduced, emerged=~reduced.emerged)  # another parameterisation mask, too
    key = "test_shared_rows/" + structure_hash(full)
    compiled_model(build_model(full, CONFIG, shared_rows=True), key)
    swapped = compiled_model(build_model(reduced, CONFIG, shared_rows=True), key)
    fresh = compiled_model(build_model(reduced, CONFIG, shared_rows=True))
    options = dict(draws=60, tune=60, chains=2, cores=1, seed=3, progress_bar=False, target_accept=0.99)
    draws = [nutpie.sample(c, **options).posterior["threshold"].values for c in (swapped, fresh)]
    np.testing.assert_array_equal(draws[0], draws[1])
