"""`turnsignal precompile`: the warm-up ladders exercise the structures a real fit compiles."""
from typer.testing import CliRunner

from api.cli import app
from models.config import FitConfig
from models.forecaster import design_for
from models.precompile import EVERY_CHECKPOINT_STRUCTURES, STRUCTURES, warm_up_table


def test_the_default_fit_structure_is_precompiled() -> None:
    """The default fit is a stack: both trend forms on final checkpoints (and its leave-largest-out
    refits, which have the same structures) are precompiled."""
    default = FitConfig()
    assert default.trend == "stacked"
    assert {("compute", default.link_checkpoints), ("params_tokens", default.link_checkpoints)} <= \
        {(s.trend, s.link_checkpoints) for s in STRUCTURES}
    assert {s.trend for s in STRUCTURES} == {"compute", "params_tokens"}
    assert {s.link_checkpoints for s in STRUCTURES} == {"final"}  # every checkpoint: --every-checkpoint
    assert {s.link_checkpoints for s in EVERY_CHECKPOINT_STRUCTURES} == {"all"}


def test_warm_up_ladder_has_emerged_and_not_emerged_tasks() -> None:
    design = design_for(warm_up_table("final"), FitConfig(success_metric=["acc"], trend="compute"))
    assert design.emerged.any() and not design.emerged.all()  # both link parameterisations get compiled
    assert not design.success_is_checkpoint.any()


def test_warm_up_ladder_with_checkpoints_has_checkpoint_link_rows() -> None:
    design = design_for(warm_up_table("all"), FitConfig(success_metric=["acc"], trend="compute", link_checkpoints="all"))
    assert design.success_is_checkpoint.any() and not design.success_is_checkpoint.all()


def test_cli_precompile_compiles_every_structure() -> None:
    result = CliRunner().invoke(app, ["precompile"])
    assert result.exit_code == 0, result.output
    for structure in STRUCTURES:
        assert f"compiled the model, {structure.label}:" in result.output
