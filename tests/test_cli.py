"""The `turnsignal` CLI end to end on a small real slice (OLMo ladder fixture), and its bad-input paths.

Bad input must end with exit code 2 and a one-line message, never a traceback.
"""
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from api.cli import app

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
                  "len_norm,acc", "--draws", "300", "--tune", "400", "--seed", "3", "--out", out)
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


def test_emergence_csv_columns(fit_file, tmp_path) -> None:
    out = tmp_path / "emergence.csv"
    result = _run("emergence", "--fit", fit_file, "--success-at", "0.6", "--out", out)
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out)
    assert list(table.columns) == ["task", "target_success", "log10_flops_median", "log10_flops_q05",
                                   "log10_flops_q95", "p_beyond_range"]
    assert sorted(table["task"]) == ["arc_easy", "boolq", "hellaswag", "piqa"]
    assert (table["target_success"] == 0.6).all()


@pytest.mark.parametrize("args, message", [
    (["fit", "--data", "missing.csv", "--out", "x.nc"], "missing.csv"),
    (["emergence", "--fit", "missing.nc", "--out", "e.csv"], "no fit file"),
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
