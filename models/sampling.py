"""Sampling (nutpie by default, PyMC's NUTS as fallback) and convergence diagnostics."""
from __future__ import annotations

import os
import time
import warnings
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import arviz as az
import numpy as np

from models.config import FitConfig

if TYPE_CHECKING:  # PyMC is imported only when sampling, so loading a saved fit stays PyMC-free
    import pymc as pm

RHAT_LIMIT = 1.01
ESS_LIMIT = 400.0


@dataclass
class Diagnostics:
    """Convergence and cost of one fit. Times in seconds."""

    rhat_max: float
    ess_bulk_min: float
    divergences: int
    compile_seconds: float
    sampling_seconds: float
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.warnings

    def to_dict(self) -> dict:
        return asdict(self)


def sample(model: pm.Model, config: FitConfig, progress: bool = True) -> tuple[az.InferenceData, float, float]:
    """Draw from the posterior of ``model``. Returns (idata, compile seconds, sampling seconds)."""
    import pymc as pm

    cores = max(1, min(config.chains, os.cpu_count() or 1))
    if config.sampler == "nutpie":
        return _sample_nutpie(model, config, cores, progress)
    start = time.perf_counter()
    with model, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        idata = pm.sample(
            draws=config.draws, tune=config.tune, chains=config.chains, cores=cores, random_seed=config.seed,
            target_accept=config.target_accept, progressbar=progress, compute_convergence_checks=False,
        )
    return idata, 0.0, time.perf_counter() - start


def _sample_nutpie(model: pm.Model, config: FitConfig, cores: int, progress: bool) -> tuple[az.InferenceData, float, float]:
    import nutpie

    start = time.perf_counter()
    compiled = nutpie.compile_pymc_model(model, backend="numba")
    compiled_at = time.perf_counter()
    idata = nutpie.sample(
        compiled, draws=config.draws, tune=config.tune, chains=config.chains, cores=cores, seed=config.seed,
        target_accept=config.target_accept, progress_bar=progress, save_warmup=False,
        low_rank_modified_mass_matrix=True,
    )
    return idata, compiled_at - start, time.perf_counter() - compiled_at


def diagnose(idata: az.InferenceData, compile_seconds: float, sampling_seconds: float) -> Diagnostics:
    """R-hat, bulk ESS and divergences over every free and derived parameter, with plain-word warnings."""
    rhat = float(np.nanmax(az.rhat(idata).to_array().values))
    ess = float(np.nanmin(az.ess(idata, method="bulk").to_array().values))
    divergences = int(idata.sample_stats["diverging"].values.sum()) if "diverging" in idata.sample_stats else 0
    notes = []
    if not rhat <= RHAT_LIMIT:
        notes.append(f"max R-hat is {rhat:.3f} (> {RHAT_LIMIT}): chains disagree; sample longer (--draws/--tune) "
                     "before trusting these numbers")
    if not ess >= ESS_LIMIT:
        notes.append(f"min bulk ESS is {ess:.0f} (< {ESS_LIMIT:.0f}): too few effective draws for stable "
                     "5-95% intervals; sample longer")
    if divergences:
        notes.append(f"{divergences} divergent transitions: the sampler could not explore part of the posterior, "
                     "so results may be biased; raise target_accept or simplify the model")
    return Diagnostics(rhat, ess, divergences, compile_seconds, sampling_seconds, notes)
