"""The fit options are declared once, by `models.config.FitConfig`: the API's fit request has exactly its
fields (with their defaults and help) plus the dataset and targets, and the CLI's fit options take
their defaults and help from the same fields."""
from __future__ import annotations

import typer.main

from api.cli import app
from api.domain.fits.schemas import REQUEST_CAPS, FitCreate
from models.config import FitConfig

CLI_FLAGS = {"smooth_metric": "--smooth", "success_metric": "--success", "families": "--family", "tasks": "--tasks",
             "seed": "--seed", "trend": "--trend", "sampler": "--sampler", "draws": "--draws", "tune": "--tune",
             "chains": "--chains", "link_checkpoints": "--link-checkpoints"}


def _cli_options(command: str) -> dict[str, object]:
    click_command = typer.main.get_command(app).commands[command]  # type: ignore[attr-defined]
    return {flag: param for param in click_command.params for flag in param.opts}


def test_the_fit_request_is_fit_config_plus_dataset_and_targets() -> None:
    assert set(FitCreate.model_fields) == set(FitConfig.model_fields) | {"dataset_id", "targets"}
    assert set(REQUEST_CAPS) <= set(FitConfig.model_fields)
    request = FitCreate(dataset_id="d")
    for name, field in FitConfig.model_fields.items():
        assert FitCreate.model_fields[name].description == field.description and field.description, name
        assert getattr(request, name) == getattr(FitConfig(), name), name


def test_the_cli_fit_options_come_from_fit_config() -> None:
    defaults = FitConfig()
    for command in ("fit", "predict", "backtest"):
        options = _cli_options(command)
        for name, flag in CLI_FLAGS.items():
            if command == "predict" and name == "link_checkpoints":
                continue
            param = options[flag]
            assert param.help.startswith(FitConfig.model_fields[name].description), (command, flag)
            default = getattr(defaults, name)
            assert param.default == (",".join(default) if isinstance(default, list) else default), (command, flag)
