"""Forecasting-core benchmarks (issue 2): full OLMo ladder fit cost, and the extrapolation-matched blind backtests.

Rows:
* the full OLMo ladder fit (13 tasks, final checkpoints, ``len_norm``/``acc`` success, default
  draws), each fit in a fresh Python process: first with a new, empty compile cache (a machine
  that never ran `turnsignal precompile`); then, in another new cache, ``turnsignal precompile``
  (what ``make install`` runs once; simulated ladders, no OLMo data), the stacked fit (the default
  ``trend``: both forms and their leave-largest-out refits) once, the compute-form final-checkpoint fit twice
  and the fit with the link on every checkpoint (issue 6: ``link_checkpoints="all"``, up to
  ``forecast.design.CHECKPOINTS_PER_RUN`` per run) on the checkpoint table twice. The first fit of
  a dataset after the precompile compiles only what is specific to that data; its second finds
  that cached too. Wall time (whole fit: model build + compile + sampling), compile and sampling
  seconds apart, min bulk ESS per sampling second, max R-hat, divergences.
* the extrapolation-matched backtests (issue 6), the default ``turnsignal backtest`` suite, one row
  per case x cut x method (hierarchical, hierarchical_stacked, B1_logistic, B2_two_step): OLMo ladder
  trained on params (a) <= 760M and (b) <= 370M, both predicting the 1.3B and 3.2B runs; Pythia
  LAMBADA trained on <= 410M predicting 1B-12B; and, outside the default suite, Pythia LAMBADA
  trained on <= 1.4B predicting 2.8B, 6.9B and 12B (issue 2's nearer case). MAE, CRPS and widths are in percentage points. The
  markdown tables by extrapolation-ratio bin and the stacking weights are printed as well, and each
  suite's files are written to a temporary directory (printed).

* the simulated wide table (issue 18): 50 tasks x 3 families x 100 runs (``forecast.simulate.simulate_wide_table``),
  one form, the settings of :data:`WIDE_SETTINGS`: wall, compile and sampling seconds, max R-hat, min
  bulk ESS, leapfrog steps per draw.

``python -m benchmarks.bench_fit backtests`` runs only the backtests (the tables of docs/backtests.md), ``fit``
only the full-fit rows, ``first`` only the precompile and the first stacked fit after it (issue 18's
two numbers; part of ``fit``), ``wide`` only the wide-table rows (``python -m benchmarks fit:wide`` runs them and saves
them to ``benchmarks/results/bench_fit_wide.json``; ``fit:first`` likewise). Every row records the 1-minute load
average; the precompile and full-fit rows also their CPU seconds (user + sys, ``cpu_s``), the
comparable figure on a shared machine.

Timings on a shared 2-core machine are noisy; read them as an order of magnitude.
"""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TITLE = "Forecasting core: full OLMo ladder fit (cold/warm compile cache) and blind backtests"
ROOT = Path(__file__).resolve().parents[1]
OLMO = ROOT / "examples" / "data" / "olmo_ladder.csv"
OLMO_CHECKPOINTS = ROOT / "examples" / "data" / "olmo_ladder_checkpoints.csv.gz"
PYTHIA = ROOT / "examples" / "data" / "pythia_lambada.csv"
OLMO_CUTS = (758_220_288, 371_262_464)  # the 760M and 370M ladder sizes (params): the default suite
PYTHIA_CUTS = (410e6,)
PYTHIA_NEAR_CUTS = (1.4e9,)  # issue 2's Pythia backtest: <= 1.4B predicting 2.8B, 6.9B, 12B (2-9x)
N_BOOT = 200
FIT_TIMEOUT_S = 1800

_FIT_SCRIPT = """
import json, sys, time
start = time.perf_counter()
from forecast.adapters import read_eval_table
from models.config import FitConfig
from models.stacking import make_forecaster
imported = time.perf_counter()
table = read_eval_table(sys.argv[1])
config = FitConfig(success_metric=["len_norm", "acc"], trend=sys.argv[3], link_checkpoints=sys.argv[2])
forecaster = make_forecaster(config).fit(table, progress=False)
done = time.perf_counter()
d = forecaster.diagnostics
print(json.dumps({"import_s": imported - start, "fit_wall_s": done - imported, "compile_s": d.compile_seconds,
                  "sampling_s": d.sampling_seconds, "ess_bulk_min": d.ess_bulk_min, "rhat_max": d.rhat_max,
                  "divergences": d.divergences, "n_tasks": len(forecaster.design.tasks),
                  "n_models": len(forecaster.design.models), "n_link_rows": len(forecaster.design.success_obs)}))
"""


_WIDE_SCRIPT = """
import json, sys, time
start = time.perf_counter()
from forecast.evaltable import validate_eval_table
from forecast.simulate import simulate_wide_table
from models.config import FitConfig
from models.stacking import make_forecaster
tasks, families, models, trend, tune, draws, target_accept = sys.argv[1:8]
table = validate_eval_table(simulate_wide_table(int(tasks), int(families), int(models)), source="the wide table")
config = FitConfig(trend=trend, tune=int(tune), draws=int(draws), target_accept=float(target_accept))
begun = time.perf_counter()
forecaster = make_forecaster(config).fit(table, progress=False)
done = time.perf_counter()
d = forecaster.diagnostics
steps = forecaster.idata.sample_stats["n_steps"].values
print(json.dumps({"fit_wall_s": done - begun, "compile_s": d.compile_seconds, "sampling_s": d.sampling_seconds,
                  "ess_bulk_min": d.ess_bulk_min, "rhat_max": d.rhat_max, "divergences": d.divergences,
                  "steps_per_draw": float(steps.mean()), "n_tasks": len(forecaster.design.tasks),
                  "n_models": len(forecaster.design.models), "n_rows": len(forecaster.design.success_obs)
                  + len(forecaster.design.smooth_obs)}))
"""
WIDE_TABLE = (50, 3, 100)
"""Tasks, families and runs per family of the simulated wide table (``forecast.simulate.simulate_wide_table``)."""
WIDE_SETTINGS = (("compute", 300, 500, 0.9),)
"""(trend, warm-up, draws, target_accept) of each wide-table fit row."""
WIDE_TIMEOUT_S = 1800


def wide_fit_rows() -> list[dict]:
    """The simulated wide table (issue 18: 50 tasks x 3 families x 100 runs) fitted in a fresh process
    with the warm compile cache of this machine: wall, compile and sampling seconds, R-hat, ESS."""
    rows = []
    for trend, tune, draws, target_accept in WIDE_SETTINGS:
        args = [str(v) for v in (*WIDE_TABLE, trend, tune, draws, target_accept)]
        label = (f"wide simulated table, {WIDE_TABLE[0]} tasks x {WIDE_TABLE[1]} families x {WIDE_TABLE[2]} runs "
                 f"({trend}; {tune} warm-up + {draws} draws, target_accept {target_accept})")
        start = time.perf_counter()
        try:
            done = subprocess.run([sys.executable, "-c", _WIDE_SCRIPT, *args], cwd=ROOT, capture_output=True, text=True,
                                  timeout=WIDE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            rows.append({"case": label, "method": "hierarchical", "wall_s": f"> {WIDE_TIMEOUT_S} (stopped)"})
            continue
        if done.returncode != 0:
            raise RuntimeError(f"wide fit failed:\n{done.stderr[-3000:]}")
        m = json.loads(done.stdout.strip().splitlines()[-1])
        rows.append({"case": label, "method": "hierarchical", "wall_s": round(m["fit_wall_s"], 1),
                     "process_s": round(time.perf_counter() - start, 1), "compile_s": round(m["compile_s"], 1),
                     "sampling_s": round(m["sampling_s"], 1), "ess_bulk_min": round(m["ess_bulk_min"]),
                     "rhat_max": round(m["rhat_max"], 4), "divergences": m["divergences"],
                     "steps_per_draw": round(m["steps_per_draw"], 1), "load": _load()})
    return rows


def _load() -> str:
    """The 1-minute load average when a row ends (the machine is shared: read timings with it)."""
    return f"{os.getloadavg()[0]:.1f}"


def _cache_env() -> dict[str, str]:
    """The environment of a fresh process whose compile caches are in a new, empty ``TURNSIGNAL_CACHE_DIR``
    (a fresh install's user cache)."""
    cache = Path(tempfile.mkdtemp(prefix="turnsignal-bench-cache-"))
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "PYTENSOR_FLAGS")}
    return env | {"TURNSIGNAL_CACHE_DIR": str(cache)}


def _children_cpu_s() -> float:
    """CPU seconds (user + sys) of this process's finished children so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _precompile_row(env: dict[str, str]) -> dict:
    """`turnsignal precompile` (what `make install` runs) into the caches of ``env``: wall and CPU seconds."""
    from models.precompile import STRUCTURES

    start, cpu = time.perf_counter(), _children_cpu_s()
    done = subprocess.run([str(Path(sys.executable).parent / "turnsignal"), "precompile"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=FIT_TIMEOUT_S)
    if done.returncode != 0:
        raise RuntimeError(f"precompile failed:\n{done.stderr[-3000:]}")
    return {"case": f"turnsignal precompile (make install runs it once; simulated ladders, {len(STRUCTURES)} structures)",
            "method": "precompile", "wall_s": round(time.perf_counter() - start, 1),
            "cpu_s": round(_children_cpu_s() - cpu, 1), "load": _load()}


def _fit_row(label: str, path: Path, link_checkpoints: str, env: dict[str, str], trend: str = "compute") -> dict:
    """One full OLMo fit in a fresh process with the compile caches of ``env``. For ``trend="stacked"``
    the wall time covers both forms and their leave-largest-out refits; compile and sampling seconds
    are the two forms' fits on all rows (the refits' are in the wall time only). ``process_s``: the
    whole process (import, reading, fit); ``cpu_s``: its CPU seconds (user + sys)."""
    start, cpu = time.perf_counter(), _children_cpu_s()
    done = subprocess.run([sys.executable, "-c", _FIT_SCRIPT, str(path), link_checkpoints, trend], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=FIT_TIMEOUT_S)
    if done.returncode != 0:
        raise RuntimeError(f"full fit ({label}) failed:\n{done.stderr[-3000:]}")
    m = json.loads(done.stdout.strip().splitlines()[-1])
    return {
        "case": f"OLMo full fit, {m['n_tasks']} tasks x {m['n_models']} runs, {m['n_link_rows']} link rows ({label})",
        "method": "hierarchical" if trend == "compute" else f"hierarchical ({trend})", "wall_s": round(m["fit_wall_s"], 1),
        "process_s": round(time.perf_counter() - start, 1), "cpu_s": round(_children_cpu_s() - cpu, 1),
        "compile_s": round(m["compile_s"], 1),
        "sampling_s": round(m["sampling_s"], 1),
        "min_ess_per_s": round(m["ess_bulk_min"] / max(m["sampling_s"], 1e-9), 1),
        "ess_bulk_min": round(m["ess_bulk_min"]), "rhat_max": round(m["rhat_max"], 4),
        "divergences": m["divergences"], "load": _load(),
    }


FIRST_FIT = "stacked (the default), first fit after precompile"


def first_fit_rows(installed: dict[str, str] | None = None) -> list[dict]:
    """Issue 18's two numbers: `turnsignal precompile` into a new cache, then the default (stacked)
    OLMo fit in a fresh process: wall and CPU seconds of each."""
    installed = installed or _cache_env()
    return [_precompile_row(installed), _fit_row(FIRST_FIT, OLMO, "final", installed, "stacked")]


def full_fit_rows() -> list[dict]:
    """The full OLMo fit with an empty compile cache; then, in another new cache, `turnsignal
    precompile` followed by the stacked fit twice and the final-checkpoint and every-checkpoint fits
    twice each, every fit in a fresh process."""
    cold, installed = _cache_env(), _cache_env()
    rows = [_fit_row("final checkpoints, empty compile cache", OLMO, "final", cold), *first_fit_rows(installed)]
    for label, path, link_checkpoints, trend in [
        ("stacked (the default), its second fit", OLMO, "final", "stacked"),
        ("final checkpoints, first fit after precompile", OLMO, "final", "compute"),
        ("final checkpoints, second fit", OLMO, "final", "compute"),
        ("link on every checkpoint, first fit after precompile", OLMO_CHECKPOINTS, "all", "compute"),
        ("link on every checkpoint, second fit", OLMO_CHECKPOINTS, "all", "compute"),
    ]:
        rows.append(_fit_row(label, path, link_checkpoints, installed, trend))
    return rows


def backtest_rows() -> list[dict]:
    """The default backtest suites on OLMo and Pythia; prints their markdown tables and output folders."""
    from forecast.adapters import read_eval_table
    from models.backtest import ALL_BIN, Cut, default_cuts, format_summary_table, format_weights, run_backtest_suite
    from models.config import FitConfig

    pythia = FitConfig(smooth_metric="ppl", success_metric=["acc"])
    cases = [  # (case, table, cuts, config, is the default suite)
        ("OLMo ladder -> 1.3B, 3.2B", OLMO, OLMO_CUTS, FitConfig(success_metric=["len_norm", "acc"]), True),
        ("Pythia LAMBADA -> 1B-12B", PYTHIA, PYTHIA_CUTS, pythia, True),
        ("Pythia LAMBADA -> 2.8B, 6.9B, 12B", PYTHIA, PYTHIA_NEAR_CUTS, pythia, False),
    ]
    out_root = Path(tempfile.mkdtemp(prefix="turnsignal-bench-backtest-"))
    rows = []
    for i, (case, path, expected, config, is_default) in enumerate(cases):
        table = read_eval_table(path)
        cuts = default_cuts(table, config) if is_default else [Cut("params", value) for value in expected]
        if tuple(c.value for c in cuts) != expected:
            print(f"note: the default suite of {case} changed: {[c.label for c in cuts]}", flush=True)

        def show(scenario, case=case) -> None:
            print(f"\n### {case}, trained on {scenario.label} (reach {scenario.reach:.3g}x; "
                  f"{len(scenario.training_models)} training runs)\n\n"
                  f"{format_summary_table(scenario.summary)}\n", flush=True)
            if scenario.stacking_weights:
                print(f"stacking weights: {format_weights(scenario)}", flush=True)
            for note in scenario.notes:
                print(f"note: {note}", flush=True)

        suite = run_backtest_suite(table, cuts, config=config, n_boot=N_BOOT, progress=False, on_scenario=show)
        out_dir = out_root / f"backtest_{i}"
        suite.write(out_dir)
        print(f"(files: {out_dir})", flush=True)
        for scenario in suite.scenarios:
            for row in scenario.summary[scenario.summary["ratio_bin"] == ALL_BIN].itertuples(index=False):
                diagnostics = scenario.diagnostics[row.method]
                rows.append({
                    "case": case, "cut": scenario.label, "method": row.method, "n": row.n,
                    "mae_pts": round(row.mae_points, 2), "crps_pts": round(row.crps_points, 2),
                    "cov50": round(row.coverage_50, 2), "cov90": round(row.coverage_90, 2),
                    "width50_pts": round(row.width_50_points, 1), "width90_pts": round(row.width_90_points, 1),
                    "wall_s": round(diagnostics["seconds"], 1),
                    "rhat_max": round(diagnostics["rhat_max"], 4) if "rhat_max" in diagnostics else None,
                    "divergences": diagnostics.get("divergences"),
                })
    return rows


def run(parts: tuple[str, ...] = ("fit", "wide", "backtests")) -> list[dict]:
    first = first_fit_rows() if "first" in parts and "fit" not in parts else []
    return (first + (full_fit_rows() if "fit" in parts else []) + (wide_fit_rows() if "wide" in parts else [])
            + (backtest_rows() if "backtests" in parts else []))


if __name__ == "__main__":
    import pandas as pd

    rows = run(tuple(sys.argv[1:]) or ("fit", "wide", "backtests"))
    with pd.option_context("display.width", 200, "display.max_columns", 50):
        print(pd.DataFrame(rows).to_string(index=False), flush=True)
