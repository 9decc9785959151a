"""Sampling (nutpie by default, PyMC's NUTS as fallback) and convergence diagnostics.

Stopping a fit: `sample(..., should_stop=callable)` polls `should_stop()` while it works (before and
after compiling, then every `STOP_POLL_SECONDS` while nutpie samples in the background, or after
every draw of PyMC's NUTS) and, once it returns True, aborts the sampler and raises `FitCancelled`.
Compilation itself (numba / PyTensor) cannot be interrupted: a stop requested then takes effect
as soon as it ends. `on_phase(name)`, if given, is told "compiling" and then "sampling";
`on_draws(done)`, if given, is told every `DRAWS_REPORT_SECONDS` while nutpie samples how many
iterations (warm-up and draws, all chains) are done.
"""
from __future__ import annotations

import os
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import arviz as az
import numpy as np

from models.config import FitConfig

if TYPE_CHECKING:  # PyMC is imported only when sampling, so loading a saved fit stays PyMC-free
    import pymc as pm

RHAT_LIMIT = 1.01
ESS_LIMIT = 400.0
STOP_POLL_SECONDS = 0.1
"""How often `should_stop` is asked while nutpie samples."""
DRAWS_REPORT_SECONDS = 5.0
"""How often `on_draws` is told the iterations done while nutpie samples."""
COMPILED_MODELS_KEPT = 4
"""Compiled nutpie models kept in memory per process (see `sample`'s ``cache_key``)."""
_compiled_models: OrderedDict[str, object] = OrderedDict()
_compiled_models_lock = threading.Lock()


class FitCancelled(RuntimeError):
    """The fit was stopped on request (`should_stop` returned True); the sampler was aborted."""

    def __init__(self, stage: str) -> None:
        super().__init__(f"the fit was cancelled on request ({stage}); no posterior was kept")
        self.stage = stage


def _check_stop(should_stop: Callable[[], bool] | None, stage: str) -> None:
    if should_stop is not None and should_stop():
        raise FitCancelled(stage)


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


def sample(model: pm.Model, config: FitConfig, progress: bool = True, should_stop: Callable[[], bool] | None = None,
           on_phase: Callable[[str], None] | None = None, cache_key: str | None = None,
           on_draws: Callable[[int], None] | None = None) -> tuple[az.InferenceData, float, float]:
    """Draw from the posterior of ``model``. Returns (idata, compile seconds, sampling seconds).

    ``should_stop``: polled while compiling and sampling; when it returns True the sampler is aborted
    and :class:`FitCancelled` is raised. ``on_phase``: called with "compiling", then "sampling".
    ``cache_key``: a string that identifies the model (same key, same model); nutpie's compiled
    model is then kept in memory (the last :data:`COMPILED_MODELS_KEPT`) and a later fit with the
    same key (another seed, more draws) skips compilation (compile seconds ~0). ``on_draws``: see the
    module docstring (nutpie only)."""
    import pymc as pm

    _check_stop(should_stop, "before compiling")
    phase = on_phase or (lambda name: None)
    cores = max(1, min(config.chains, os.cpu_count() or 1))
    if config.sampler == "nutpie":
        return _sample_nutpie(model, config, cores, progress, should_stop, phase, cache_key, on_draws)

    def stop_between_draws(trace, draw) -> None:  # PyMC calls this after every draw; raising aborts its samplers
        _check_stop(should_stop, "while sampling")

    phase("sampling")  # PyMC compiles inside pm.sample
    start = time.perf_counter()
    with model, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        idata = pm.sample(
            draws=config.draws, tune=config.tune, chains=config.chains, cores=cores, random_seed=config.seed,
            target_accept=config.target_accept, progressbar=progress, compute_convergence_checks=False,
            callback=stop_between_draws if should_stop is not None else None,
        )
    return idata, 0.0, time.perf_counter() - start


def _sample_nutpie(model: pm.Model, config: FitConfig, cores: int, progress: bool,
                   should_stop: Callable[[], bool] | None, phase: Callable[[str], None],
                   cache_key: str | None = None,
                   on_draws: Callable[[int], None] | None = None) -> tuple[az.InferenceData, float, float]:
    import nutpie

    phase("compiling")
    start = time.perf_counter()
    compiled = compiled_model(model, cache_key)
    compiled_at = time.perf_counter()
    _check_stop(should_stop, "after compiling")
    phase("sampling")
    options = dict(draws=config.draws, tune=config.tune, chains=config.chains, cores=cores, seed=config.seed,
                   target_accept=config.target_accept, progress_bar=progress, save_warmup=False,
                   low_rank_modified_mass_matrix=True)
    if should_stop is None and on_draws is None:
        return nutpie.sample(compiled, **options), compiled_at - start, time.perf_counter() - compiled_at
    # Chains run in nutpie's own threads. In nutpie 0.16, `wait(timeout=...)` raises TimeoutError while
    # the chains are still running (leaving them running) and returns the trace once they finish.
    sampler = nutpie.sample(compiled, blocking=False, **options)
    reported = time.perf_counter()
    try:
        while True:
            try:
                idata = sampler.wait(timeout=STOP_POLL_SECONDS)
                break
            except TimeoutError:
                if should_stop is not None and should_stop():
                    raise FitCancelled("while sampling") from None
                if on_draws is not None and time.perf_counter() - reported >= DRAWS_REPORT_SECONDS:
                    reported, done = time.perf_counter(), _iterations_done(sampler)
                    if done is not None:
                        on_draws(done)
    except BaseException:
        sampler.cancel()  # abort the chains and discard their draws
        raise
    return idata, compiled_at - start, time.perf_counter() - compiled_at


def _iterations_done(sampler) -> int | None:
    """Iterations (warm-up and draws, all chains) a running nutpie sampler has stored so far; None
    where this nutpie cannot tell (its running sampler has no ``inspect``)."""
    inspect = getattr(getattr(sampler, "_sampler", None), "inspect", None)
    if inspect is None:
        return None
    draws, _ = inspect().get_arrow_trace()  # nutpie 0.16: one Arrow batch per chain
    return int(sum(batch.num_rows for batch in draws))


def compiled_model(model: pm.Model, cache_key: str | None = None):
    """nutpie's compiled ``model`` (numba backend), from the in-process cache when ``cache_key`` was seen:
    then with ``model``'s ``pm.Data`` values swapped in (nutpie's ``with_data``), so a key may name a
    model structure whose data (of any length) change between fits."""
    import nutpie

    from models.numba_digamma import register

    register()  # a cacheable digamma: without it no Beta-likelihood model hits numba's disk cache
    if cache_key is not None:
        with _compiled_models_lock:
            if cache_key in _compiled_models:
                _compiled_models.move_to_end(cache_key)
                compiled = _compiled_models[cache_key]
                data = {var.name: var.get_value() for var in model.data_vars if var.name in compiled.shared_data}
                if all(np.array_equal(value, compiled.shared_data[name]) for name, value in data.items()):
                    return compiled  # the same data (e.g. a refit with another seed): nothing to swap
                return _with_model_data(compiled, model, data)
    compiled = nutpie.compile_pymc_model(model, backend="numba")
    if cache_key is not None:
        with _compiled_models_lock:
            _compiled_models[cache_key] = compiled
            while len(_compiled_models) > COMPILED_MODELS_KEPT:
                _compiled_models.popitem(last=False)
    return compiled


def _with_model_data(compiled, model: pm.Model, data: dict[str, np.ndarray]):
    """``compiled`` (nutpie's compiled model of another ``pm.Model`` of the same structure) with ``model``'s
    data and initial points: nutpie's ``with_data``, and ``model``'s own initial-point function (the
    starting points may depend on data, e.g. the centred/non-centred masks), built as nutpie builds it
    (0.16); where nutpie's internals differ, the compiled model's own starting points (valid points of
    the same parameter space)."""
    import dataclasses

    swapped = compiled.with_data(**data)
    try:
        from nutpie.compile_pymc import _rv_dict_to_flat_array_wrapper, _wrap_with_lock
        from pymc.initial_point import make_initial_point_fn
    except ImportError:
        return swapped
    names, _, shapes = compiled.shape_info
    free = len(model.free_RVs)
    start = make_initial_point_fn(model=model, jitter_rvs=set(model.free_RVs), return_transformed=True)
    return dataclasses.replace(swapped, initial_point_func=_rv_dict_to_flat_array_wrapper(
        _wrap_with_lock(start), names=list(names[:free]), shapes=list(shapes[:free])))


def warm_compile(model: pm.Model) -> None:
    """Compile the numba code of ``model``'s log density, gradient and deterministics into the disk
    caches, as :func:`compiled_model` would, but without nutpie's two C-callable wrappers around
    them: those use dynamic globals, so numba never caches them and every fit compiles its own
    (about 6 s each time); building them here, for a model nobody samples, was wasted. Falls back to
    :func:`compiled_model` where nutpie's internals differ from the ones this was written for (0.16)."""
    from models.numba_digamma import register

    register()
    try:
        from nutpie.compile_pymc import _make_functions
        from pymc.initial_point import make_initial_point_fn
    except ImportError:
        compiled_model(model)
        return
    point_fn = make_initial_point_fn(model=model, jitter_rvs=set(), return_transformed=True)
    _, _, logp_fn, expand_fn, initial_point, _ = _make_functions(
        model, mode="NUMBA", compute_grad=True, join_expanded=True, pymc_initial_point_fn=point_fn)
    x = np.asarray(initial_point(0), dtype=float)
    logp_fn(x)  # numba compiles (or loads from its cache) each node on this first call
    expand_fn(x)


def diagnose(idata: az.InferenceData, compile_seconds: float, sampling_seconds: float) -> Diagnostics:
    """R-hat, bulk ESS and divergences over every free and derived parameter, with plain-word warnings."""
    # Per variable, then over variables: ``to_array()`` would broadcast every variable to the union of
    # all dims (a wide table's task x series x base_task x ...: hundreds of GiB).
    rhat = float(np.nanmax([np.nanmax(v.values) for v in az.rhat(idata).data_vars.values()]))
    ess = float(np.nanmin([np.nanmin(v.values) for v in az.ess(idata, method="bulk").data_vars.values()]))
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
