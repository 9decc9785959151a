"""The simulated wide eval table of the fit-speed bench (issue 18): its shape and its mix of tasks."""
from forecast.evaltable import validate_eval_table
from forecast.simulate import simulate_wide_table
from models.config import FitConfig
from models.forecaster import design_for


def test_wide_table_has_every_family_task_and_run_with_emerged_and_unemerged_tasks() -> None:
    table = validate_eval_table(simulate_wide_table(n_tasks=10, n_families=3, n_models=40), source="wide")
    design = design_for(table, FitConfig(trend="compute"))
    assert len(design.tasks) == 30 and len(design.families) == 3 and len(design.models) == 120
    assert len(design.smooth_obs) == len(design.success_obs) == 30 * 40  # every run scored on every task
    assert design.emerged.any() and not design.emerged.all()
