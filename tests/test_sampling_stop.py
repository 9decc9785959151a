"""models.sampling.sample(..., should_stop=...): a fit asked to stop aborts its sampler (nutpie's
background chains, or PyMC's NUTS after the next draw) and raises FitCancelled; the phases are
reported; a callable that never asks to stop changes nothing. Real samplers on a small real model."""
from __future__ import annotations

import time

import pymc as pm
import pytest

from models.config import FitConfig
from models.sampling import FitCancelled, sample


@pytest.fixture(scope="module")
def model() -> pm.Model:
    with pm.Model() as normal:
        pm.Normal("x", 0.0, 1.0, shape=50)
    return normal


@pytest.mark.parametrize("sampler", ["nutpie", "pymc"])
def test_should_stop_aborts_the_sampler_and_raises_fit_cancelled(model, sampler) -> None:
    # 300k draws x 2 chains would take minutes; stop on the 5th question (nutpie: while sampling)
    config = FitConfig(draws=300_000, tune=500, chains=2, sampler=sampler)
    asked, phases = [], []

    def should_stop() -> bool:
        asked.append(time.perf_counter())
        return len(asked) >= 5

    with pytest.raises(FitCancelled, match="cancelled on request") as raised:
        sample(model, config, progress=False, should_stop=should_stop, on_phase=phases.append)
    stopped_after = time.perf_counter() - asked[-1]
    assert raised.value.stage == "while sampling"
    assert phases[-1] == "sampling" and (sampler == "pymc" or phases == ["compiling", "sampling"])
    assert stopped_after < 5, f"the sampler took {stopped_after:.1f} s to stop"
    idle_from = time.process_time()  # nothing keeps sampling in the background
    time.sleep(1.0)
    assert time.process_time() - idle_from < 0.3


def test_should_stop_asked_before_compiling(model) -> None:
    with pytest.raises(FitCancelled) as raised:
        sample(model, FitConfig(draws=100, tune=100), progress=False, should_stop=lambda: True)
    assert raised.value.stage == "before compiling"


@pytest.mark.parametrize("sampler", ["nutpie", "pymc"])
def test_a_should_stop_that_never_fires_changes_nothing(model, sampler) -> None:
    idata, _, sampling_seconds = sample(model, FitConfig(draws=100, tune=100, chains=2, seed=3, sampler=sampler),
                                        progress=False, should_stop=lambda: False)
    assert dict(idata.posterior.sizes)["draw"] == 100 and dict(idata.posterior.sizes)["chain"] == 2
    assert sampling_seconds > 0


def test_on_draws_reports_the_iterations_done(model, monkeypatch) -> None:
    """nutpie's running chains report warm-up and draws done (all chains), growing; the fit is unchanged."""
    import models.sampling

    monkeypatch.setattr(models.sampling, "DRAWS_REPORT_SECONDS", 0.0)  # report on every poll
    reports: list[int] = []
    with pytest.raises(FitCancelled):
        sample(model, FitConfig(draws=300_000, tune=500, chains=2), progress=False, on_draws=reports.append,
               should_stop=lambda: len(reports) >= 2 and reports[-1] > 0)
    assert reports == sorted(reports) and 0 < reports[-1] < 2 * 300_500
    idata, _, _ = sample(model, FitConfig(draws=100, tune=100, chains=2, seed=3), progress=False, on_draws=[].append)
    assert dict(idata.posterior.sizes)["draw"] == 100
