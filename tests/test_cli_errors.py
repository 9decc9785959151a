"""Every `turnsignal` subcommand against a table of bad inputs, as a real process.

Each case must exit 2 with one or two lines on stderr naming the file or option at fault, and no
traceback. None of them may reach the sampler: the checks run before any fit. The processes run
concurrently (they are mostly interpreter start-up), once per module, and each case asserts its own.
"""
from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest

FIXTURES = Path(__file__).parent / "fixtures"
MISSING, DIRECTORY, EMPTY, TEXT_NC, TRUNCATED_NC, FOREIGN_NC, WRONG_CSV = (
    "missing.csv", "a_directory", "empty.csv", "text.nc", "truncated.nc", "foreign.nc", "wrong.csv")
EVAL, TARGETS = "eval.csv", "targets.csv"
BAD_FILES = [MISSING, DIRECTORY, EMPTY, WRONG_CSV]
BAD_FITS = [MISSING.replace(".csv", ".nc"), DIRECTORY, EMPTY.replace(".csv", ".nc"), TEXT_NC, TRUNCATED_NC,
            FOREIGN_NC]
BAD_OUTS = ["no_such_dir/out.csv", "out.xyz"]
LM_EVAL_RESULTS = FIXTURES / "lm_eval" / "results_2025-01-21T00-40-03.356274.json"
STDOUT = "-"
TIMEOUT_SECONDS = 120


def _cases() -> list[tuple[str, list[str], str]]:
    """(unique id, argv after `turnsignal`, text stderr must contain)."""
    cases = []

    def add(name: str, args: list[str], needle: str) -> None:
        words = " ".join(Path(a).name if "/" in a and a != STDOUT else a for a in args)
        cases.append((f"{len(cases):02d} {name}: {words}", args, needle))

    fit_args = ["fit", "--data", EVAL, "--out", "fit.nc"]
    for bad in BAD_FILES + [TEXT_NC]:
        add("fit", ["fit", "--data", bad, "--out", "fit.nc"], bad)
    for option, value in [("--draws", "-5"), ("--trend", "bogus"), ("--chains", "0"), ("--tune", "x")]:
        add("fit", fit_args + [option, value], option)
    for out in ["no_such_dir/fit.nc", "fit.csv", STDOUT, DIRECTORY]:
        add("fit", ["fit", "--data", EVAL, "--out", out], out)
    add("fit", fit_args + ["--margins", MISSING], "--margins")
    add("fit", fit_args + ["--smooth", "no_such_metric"], "--smooth")  # not auto, not in the table

    for bad in BAD_FITS:
        add("predict", ["predict", "--fit", bad, "--targets", TARGETS], bad)
        add("emergence", ["emergence", "--fit", bad], bad)
    for bad in (MISSING, TEXT_NC, TRUNCATED_NC, FOREIGN_NC):  # the same check as above: a sample of it
        add("plot", ["plot", "emergence", "--fit", bad, "--task", "piqa", "--out", "p.png"], bad)
    for bad in BAD_FILES:
        add("predict", ["predict", "--fit", FOREIGN_NC, "--targets", bad], bad)
    for out in BAD_OUTS:
        add("predict", ["predict", "--fit", FOREIGN_NC, "--targets", TARGETS, "--out", out], out)
        add("emergence", ["emergence", "--fit", FOREIGN_NC, "--out", out], out)
    add("predict", ["predict", "--data", EVAL, "--targets", TARGETS, "--draws", "-5"], "--draws")
    add("predict", ["predict", "--data", EVAL, "--targets", TARGETS, "--trend", "bogus"], "--trend")
    add("plot", ["plot", "emergence", "--fit", FOREIGN_NC, "--task", "piqa", "--out", "p.gif"], "p.gif")
    add("plot", ["plot", "emergence", "--fit", FOREIGN_NC, "--task", "piqa", "--out", "no_such_dir/p.png"],
        "no_such_dir")

    for bad in BAD_FILES:
        add("backtest", ["backtest", "--data", bad, "--out", "bt"], bad)
    add("backtest", ["backtest", "--data", EVAL, "--out", "no_such_dir/bt"], "no_such_dir")
    add("backtest", ["backtest", "--data", EVAL, "--out", TARGETS], TARGETS)
    add("backtest", ["backtest", "--data", EVAL, "--out", "bt", "--draws", "-5"], "--draws")
    add("backtest", ["backtest", "--data", EVAL, "--out", "bt", "--smooth", "no_such_metric"], "--smooth")
    add("backtest", ["backtest", "--data", EVAL, "--out", "bt", "--scenario", "bogus"], "--scenario")
    add("backtest", ["backtest", "--data", EVAL, "--out", "bt", "--scenario", "tokens", "--train-max-params", "1e9"],
        "--scenario tokens")

    for command in ("olmo", "pythia"):
        for bad in BAD_FILES:
            add(command, ["data", command, bad, "--out", "t.csv"], bad)
        for out in BAD_OUTS:
            add(command, ["data", command, str(FIXTURES / "olmo_ladder_final.csv"), "--out", out], out)
    add("olmo", ["data", "olmo", str(FIXTURES / "olmo_ladder_final.csv"), "--out", "t.csv", "--smooth", "bpb,nope"],
        "--smooth")
    add("pythia", ["data", "pythia", str(FIXTURES / "pythia_lambada.csv"), "--out", "t.csv", "--smooth", "ppl"],
        "--smooth")
    add("obsscaling", ["data", "obsscaling", str(FIXTURES / "obsscaling_slice.csv"), "--out", "t.csv",
                       "--checkpoints", "all"], "--checkpoints")
    lm_eval = ["--family", "f", "--model", "m", "--params", "1e9"]
    for bad in BAD_FILES + [TEXT_NC]:
        add("lm-eval", ["data", "lm-eval", bad, "--out", "t.csv"] + lm_eval, bad)
    good_results = ["data", "lm-eval", str(LM_EVAL_RESULTS), "--chance", "0.25"] + lm_eval
    add("lm-eval", good_results + ["--out", "no_such_dir/t.csv"], "no_such_dir")
    for bad in [MISSING, EMPTY, WRONG_CSV]:
        add("lm-eval-samples", ["data", "lm-eval-samples", bad, "--out", "m.csv", "--family", "f", "--model", "m"],
            bad)
    return cases


CASES = _cases()


def _make_inputs(root: Path) -> None:
    """The good and bad files every case refers to, by name, in ``root``."""
    import xarray as xr

    from forecast.adapters import olmo_ladder

    olmo_ladder(FIXTURES / "olmo_ladder_final.csv").to_csv(root / EVAL, index=False)
    pd.DataFrame({"model": ["7B"], "params": [7e9], "tokens": [1.4e11], "task": ["piqa"]}).to_csv(
        root / TARGETS, index=False)
    (root / DIRECTORY).mkdir()
    for empty in (EMPTY, EMPTY.replace(".csv", ".nc")):
        (root / empty).write_bytes(b"")
    (root / TEXT_NC).write_text("this is not a NetCDF file\n")
    (root / WRONG_CSV).write_text("alpha,beta\n1,2\n3,4\n")
    xr.Dataset({"temperature": ("x", [1.0, 2.0, 3.0])}, attrs={"title": "not a fit"}).to_netcdf(root / FOREIGN_NC)
    (root / TRUNCATED_NC).write_bytes((root / FOREIGN_NC).read_bytes()[:64])  # a real HDF5 header, cut off


def _run(root: Path, args: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "TURNSIGNAL_DEBUG": ""}
    return subprocess.run([sys.executable, "-m", "api.cli", *args], cwd=root, capture_output=True, text=True,
                          timeout=TIMEOUT_SECONDS, env=env)


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict[str, subprocess.CompletedProcess]:
    root = tmp_path_factory.mktemp("cli_errors")
    _make_inputs(root)
    with ThreadPoolExecutor(max_workers=4) as pool:
        done = dict(zip([case_id for case_id, _, _ in CASES],
                        pool.map(lambda case: _run(root, case[1]), CASES)))
    assert not (root / "no_such_dir").exists(), "an output directory was created"
    assert not (root / "-").exists(), "--out - wrote a file named -"
    return done


@pytest.mark.parametrize("case_id, args, needle", CASES, ids=[case[0] for case in CASES])
def test_bad_input_exits_2_with_a_short_message(results, case_id, args, needle) -> None:
    proc = results[case_id]
    lines = [line for line in proc.stderr.splitlines() if line.strip() and not line.startswith("turnsignal: ")]
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert 1 <= len(lines) <= 2, proc.stderr
    assert lines[0].startswith("error: ") and needle in proc.stderr, proc.stderr
    assert "https://" not in proc.stderr  # no pydantic dump with its documentation URL
