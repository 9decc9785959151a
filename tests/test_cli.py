"""The `turnsignal` CLI end to end on a small real slice (OLMo ladder fixture), and its bad-input paths.

Bad input must end with exit code 2 and a one-line message, never a traceback.
"""
import io
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from api.cli import app
from api.cli_io import ProgressLines, round_significant

FIXTURES = Path(__file__).parent / "fixtures"
RUNNER = CliRunner()


def _run(*args: str):
    return RUNNER.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def olmo_table(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "olmo.csv"
    result = _run("data", "olmo", FIXTURES / "olmo_ladder_final.csv", "--out", out)
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def fit_file(olmo_table) -> Path:
    out = olmo_table.parent / "fit.nc"
    result = _run("fit", "--data", olmo_table, "--tasks", "arc_easy,hellaswag,piqa,boolq", "--success",
                  "len_norm,acc", "--draws", "300", "--tune", "400", "--seed", "3", "--trend", "compute", "--out", out)
    assert result.exit_code == 0, result.output
    assert "max R-hat" in result.output
    return out


def test_data_olmo_writes_an_eval_table(olmo_table) -> None:
    table = pd.read_csv(olmo_table)
    assert {"bpb", "len_norm", "acc"} == set(table["metric"])
    assert table["model"].nunique() == 30


def test_predict_from_saved_fit(fit_file, tmp_path) -> None:
    targets = tmp_path / "targets.csv"
    pd.DataFrame({"model": ["7B-1xC", "7B-1xC"], "params": [7e9, 7e9], "tokens": [1.4e11, 1.4e11],
                  "task": ["hellaswag", "boolq"]}).to_csv(targets, index=False)
    out = tmp_path / "pred.csv"
    result = _run("predict", "--fit", fit_file, "--targets", targets, "--out", out)
    assert result.exit_code == 0, result.output
    pred = pd.read_csv(out)
    assert list(pred.columns) == ["model", "task", "metric", "mean", "median", "q05", "q25", "q75", "q95",
                                  "smooth_median", "smooth_q05", "smooth_q95"]
    assert len(pred) == 2 and pred["q05"].le(pred["q95"]).all()
    assert list(pred["metric"]) == ["len_norm", "acc"]  # each task's own metric (boolq has no len_norm)
    assert "hellaswag" in result.stdout and "len_norm" in result.stdout  # the table is printed too
    assert all(v == round_significant(v) for v in pred.select_dtypes("number").to_numpy().ravel())  # 4 digits


def test_predict_table_goes_to_stdout_json_and_parquet(fit_file, tmp_path) -> None:
    targets = tmp_path / "targets.csv"
    pd.DataFrame({"model": ["7B"], "params": [7e9], "tokens": [1.4e11], "task": ["piqa"]}).to_csv(targets, index=False)
    printed = _run("predict", "--fit", fit_file, "--targets", targets)
    assert printed.exit_code == 0 and "piqa" in printed.stdout and "median" in printed.stdout
    csv = _run("predict", "--fit", fit_file, "--targets", targets, "--out", "-")
    assert csv.exit_code == 0 and csv.stdout.startswith("model,task,metric,mean,")
    assert pd.read_csv(io.StringIO(csv.stdout))["metric"].tolist() == ["len_norm"]
    for suffix in (".json", ".parquet"):
        out = tmp_path / f"pred{suffix}"
        assert _run("predict", "--fit", fit_file, "--targets", targets, "--out", out).exit_code == 0
        table = pd.read_json(out) if suffix == ".json" else pd.read_parquet(out)
        assert table["task"].tolist() == ["piqa"] and table["q05"].iloc[0] <= table["q95"].iloc[0]


def test_emergence_csv_columns(fit_file, tmp_path) -> None:
    out = tmp_path / "emergence.csv"
    result = _run("emergence", "--fit", fit_file, "--success-at", "0.6", "--out", out)
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out)
    assert list(table.columns) == ["task", "target_success", "log10_flops_median", "log10_flops_q05",
                                   "log10_flops_q95", "p_beyond_range", "p_improving", "p_reversal", "bent_weight",
                                   "reversal_flag"]
    assert sorted(table["task"]) == ["arc_easy", "boolq", "hellaswag", "piqa"]
    assert (table["target_success"] == 0.6).all()
    assert "0.6000000000000001" not in out.read_text() and "arc_easy" in result.stdout


@pytest.mark.parametrize("args, message", [
    (["fit", "--data", "missing.csv", "--out", "x.nc"], "missing.csv"),
    (["emergence", "--fit", "missing.nc", "--out", "e.csv"], "missing.nc: no such file"),
    (["emergence", "--fit", "x.nc", "--level", "0.5", "--success-at", "0.6", "--out", "e.csv"], "at most one"),
    (["predict", "--targets", "t.csv", "--out", "p.csv"], "exactly one of --fit"),
    (["backtest", "--data", "d.csv", "--out", "o", "--train-max-params", "1e9", "--train-max-flops", "1e20"],
     "at most one of --train-max-params"),
    (["backtest", "--data", "d.csv", "--out", "o", "--train-max-params", "7e8,big"], "'big' is not a number"),
    (["backtest", "--data", "d.csv", "--out", "o", "--methods", "B1_logistic,B3"], "unknown methods ['B3']"),
    (["backtest", "--data", "d.csv", "--out", "o"], "d.csv"),
])
def test_bad_arguments_exit_2_with_a_message(args, message, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "d.csv").write_text("not,an,eval,table\n")
    result = _run(*args)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


def test_bad_table_names_row_and_column(tmp_path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("family,model,params,task,metric,value\nf,m,-5,t,bpb,1.0\n")
    result = _run("fit", "--data", bad, "--out", tmp_path / "fit.nc")
    assert result.exit_code == 2
    assert "bad.csv" in result.output and "params" in result.output and "row 1" in result.output


def test_unknown_task_is_a_clear_error(olmo_table, tmp_path) -> None:
    result = _run("fit", "--data", olmo_table, "--tasks", "nope", "--success", "len_norm", "--out", tmp_path / "f.nc")
    assert result.exit_code == 2 and "tasks not found" in result.output


def test_real_process_prints_no_traceback(tmp_path) -> None:
    proc = subprocess.run([sys.executable, "-m", "api.cli", "fit", "--data", str(tmp_path / "none.csv"),
                           "--out", str(tmp_path / "f.nc")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "none.csv" in proc.stderr


def test_backtest_default_suite_and_several_cuts(olmo_table, tmp_path) -> None:
    """No cut: the extrapolation-matched suite (<= 760M and <= 370M on the OLMo ladder); baselines only."""
    out = tmp_path / "suite"
    result = _run("backtest", "--data", olmo_table, "--success", "len_norm,acc", "--tasks", "arc_easy,boolq",
                  "--methods", "B1_logistic,B2_two_step", "--n-boot", "20", "--out", out)
    assert result.exit_code == 0, result.output
    assert "default suite, params<=760M, params<=370M" in result.output
    assert "| params<=370M | B2_two_step | all |" in result.output and "50% width" in result.output
    summary = pd.read_csv(out / "summary.csv")
    assert set(summary["cut"]) == {"params<=760M", "params<=370M"}
    predictions = pd.read_csv(out / "predictions.csv")
    assert set(predictions["params"].round(-6)) == {1_279_000_000, 3_170_000_000}  # the same targets in both
    out2 = tmp_path / "cuts"
    result = _run("backtest", "--data", olmo_table, "--success", "len_norm,acc", "--tasks", "arc_easy",
                  "--methods", "B1_logistic", "--n-boot", "20", "--train-max-params", "1.3e9,7.6e8", "--out", out2)
    assert result.exit_code == 0, result.output
    assert set(pd.read_csv(out2 / "summary.csv")["cut"]) == {"params<=1.3B", "params<=760M"}


def test_version() -> None:
    result = _run("--version")
    assert result.exit_code == 0 and result.stdout.strip() == f"turnsignal {version('turnsignal')}"


def test_internal_error_is_one_line_with_a_hint(tmp_path) -> None:
    """A bug (here a command that raises KeyError) exits 1 with one line and a hint, no traceback;
    TURNSIGNAL_DEBUG=1 shows the traceback."""
    code = ("import sys; from api.cli import app; "
            "app.command('boom')(lambda: {}['key']); sys.argv = ['turnsignal', 'boom']; app()")
    quiet = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert quiet.returncode == 1 and "Traceback" not in quiet.stderr
    first, second = quiet.stderr.splitlines()
    assert first == "internal error: KeyError: 'key'" and "rerun with TURNSIGNAL_DEBUG=1" in second
    loud = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "TURNSIGNAL_DEBUG": "1"})
    assert loud.returncode == 1 and "Traceback" in loud.stderr and "KeyError" in loud.stderr


def test_round_significant() -> None:
    assert round_significant(0.6000000000000001) == 0.6
    assert round_significant(0.09000000000000002) == 0.09
    assert round_significant(22.456789) == 22.46 and round_significant(1234567.0) == 1235000.0
    assert round_significant(float("inf")) == float("inf")


def test_progress_lines_name_stage_elapsed_and_iterations(capsys) -> None:
    import time

    with ProgressLines(total=600, every=0.02) as lines:
        lines.phase("compiling")
        time.sleep(0.1)
        lines.phase("sampling")
        lines.iterations(120)
        time.sleep(0.1)
    err = capsys.readouterr().err
    assert "turnsignal: compiling, 0 s elapsed" in err
    assert "turnsignal: sampling, 0 s elapsed, 120 of 600 iterations done" in err


@pytest.mark.parametrize("command", ["fit", "predict", "backtest"])
def test_every_fitting_command_defaults_to_the_stacked_model(command) -> None:
    """`predict --data ... --targets ...` (the one-shot form), `fit` and `backtest` take the default
    model unless told otherwise: the --trend option's default is FitConfig's, and that is the stack."""
    import typer.main

    from models.config import FitConfig

    click_command = typer.main.get_command(app).commands[command]
    trend = next(param for param in click_command.params if param.name == "trend")
    assert trend.default == FitConfig().trend == "stacked"
