"""Both forecasters satisfy models.forecaster_protocol.Forecaster: every member is there, and every
method accepts the Protocol's parameters (same names, order and defaults; extra ones optional).

The fitted objects are checked in tests/test_forecaster.py (they need a fit)."""
from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import pytest

from models.forecaster import EmergenceForecaster
from models.forecaster_protocol import Forecaster
from models.stacking import StackedForecaster

ROOT = Path(__file__).resolve().parents[1]
CLASSES = (EmergenceForecaster, StackedForecaster)
METHODS = ("fit", "predictive_draws", "predict", "emergence_draws", "emergence", "search_range", "save")


def test_the_protocol_lists_what_callers_use() -> None:
    members = {name for name in vars(Forecaster) if not name.startswith("_")}
    assert members >= set(METHODS) | {"design", "diagnostics"}
    assert "config" in Forecaster.__annotations__


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_unfitted_forecasters_are_forecasters_with_no_design_yet(cls) -> None:
    forecaster = cls()
    assert isinstance(forecaster, Forecaster)
    assert forecaster.design is None and forecaster.diagnostics is None


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
@pytest.mark.parametrize("method", METHODS)
def test_methods_accept_the_protocols_parameters(cls, method: str) -> None:
    wanted = list(inspect.signature(getattr(Forecaster, method)).parameters.values())[1:]
    given = list(inspect.signature(getattr(cls, method)).parameters.values())[1:]
    assert [(p.name, p.default) for p in given[:len(wanted)]] == [(p.name, p.default) for p in wanted]
    extra = given[len(wanted):]
    assert all(p.default is not inspect.Parameter.empty for p in extra), f"{cls.__name__}.{method}: {extra}"


def test_something_that_is_not_a_forecaster_is_not_one() -> None:
    assert not isinstance(object(), Forecaster)


def test_the_protocol_module_imports_no_model_code() -> None:
    code = ("import sys; import models.forecaster_protocol; "
            "loaded = {'pymc', 'pytensor', 'arviz', 'models.forecaster'} & set(sys.modules); "
            "assert not loaded, loaded")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=120)
