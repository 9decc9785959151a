"""Pre-compile the hierarchical model into the user's compile cache (`turnsignal precompile`).

A machine's very first fit spends most of its time compiling (numba type-infers and LLVM-compiles
each PyTensor node of the log density and its gradient). Most of that code does not depend on the
data: PyTensor keys each node's numba function on the operation and its input types, and caches it
on disk (in PyTensor's compile directory, which ``models/__init__.py`` puts under the user cache
directory). A model of *any* data with the same structure (trend form; tasks that have and have not
emerged; Beta success rows; checkpoint link rows) reuses those nodes; what stays specific to the
data is the function over the whole graph, whose key includes the data and the layout of the
parameter vector.

:func:`precompile` builds the model on small simulated ladders of the common structures and
compiles it without sampling, so that the first real fit after an install compiles only that
data-specific part. ``make install`` runs it once (``turnsignal precompile``); running it again
finds every node cached. Timings: docs/performance.md, "Compile cache and precompile".
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from forecast.simulate import default_truths, ladder_sizes, simulate_ladder, with_checkpoints

SIMULATED_TASKS = 5
"""Tasks of the warm-up ladder: the last never emerges, so both parameterisations of the link
(centred where a task emerged, non-centred where it has not) are compiled."""


@dataclass(frozen=True)
class Structure:
    """One model structure to pre-compile: a trend form and where the link's rows come from."""

    trend: str
    link_checkpoints: str

    @property
    def label(self) -> str:
        rows = "every checkpoint" if self.link_checkpoints == "all" else "final checkpoints"
        return f"{self.trend} trend, link on {rows}"


STRUCTURES = (Structure("compute", "final"), Structure("params_tokens", "final"))
"""The structures of the default fit (``trend="stacked"``: both trend forms on final checkpoints, and
its leave-largest-out and leave-longest-out refits, which share those structures): what
``turnsignal precompile`` compiles."""
EVERY_CHECKPOINT_STRUCTURES = (Structure("compute", "all"),)
"""The compute form with ``--link-checkpoints all`` (not the default): compiled only on request
(``turnsignal precompile --every-checkpoint``); otherwise its first fit compiles the nodes it does not
share with the default structures."""


def warm_up_table(link_checkpoints: str = "final") -> pd.DataFrame:
    """A small simulated ladder (15 models x 5 tasks, one task never emerging), with earlier
    checkpoints of every run when ``link_checkpoints == "all"``. Validated eval-table rows."""
    from forecast.evaltable import validate_eval_table

    truths = default_truths(SIMULATED_TASKS, seed=3)
    truths[-1].threshold = -3.0  # below every simulated smooth value: success stays at chance
    params, tokens = ladder_sizes()
    table = simulate_ladder(truths, params, tokens, x0=19.5, seed=11).table
    if link_checkpoints == "all":
        table = with_checkpoints(table)
    return validate_eval_table(table, source="the simulated warm-up ladder")


def precompile(structures: tuple[Structure, ...] = STRUCTURES,
               on_progress: Callable[[str], None] | None = None) -> list[tuple[Structure, float]]:
    """Compile the model of each structure into the disk caches. Returns (structure, seconds) pairs.

    ``on_progress`` is told what is being compiled before each structure starts, and how long it took
    when it ends."""
    from models.config import FitConfig
    from models.emergence_model import build_model
    from models.forecaster import design_for, shares_rows
    from models.sampling import warm_compile

    say = on_progress or (lambda message: None)
    timings = []
    for i, structure in enumerate(structures, start=1):
        say(f"compiling the model, {structure.label} ({i}/{len(structures)})")
        start = time.perf_counter()
        config = FitConfig(success_metric=["acc"], trend=structure.trend,
                           link_checkpoints=structure.link_checkpoints)
        design = design_for(warm_up_table(structure.link_checkpoints), config)
        warm_compile(build_model(design, config, shared_rows=shares_rows(design)))
        timings.append((structure, time.perf_counter() - start))
        say(f"compiled the model, {structure.label}: {timings[-1][1]:.1f} s")
    return timings
