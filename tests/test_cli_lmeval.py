"""`turnsignal data lm-eval` and `data lm-eval-samples` as a user runs them (real subprocesses)."""

from __future__ import annotations

import io
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.test_readme import readme_block_lines

ROOT = Path(__file__).resolve().parents[1]
LM_EVAL = "tests/fixtures/lm_eval"
LM8B = f"{LM_EVAL}/lm-8b/results_2024-07-02T14-05-09.512377.json"
V042 = f"{LM_EVAL}/pythia-160m-0.4.2/results_2024-04-11T08-21-47.930566.json"

# The lm-eval commands the README shows, run exactly as written from the repository root
# (`turnsignal` is `python -m api.cli`).
README_COMMANDS = readme_block_lines("bash", "turnsignal data lm-eval ")


def turnsignal(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "api.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture()
def workdir(tmp_path: Path) -> Path:
    """A scratch working directory where `tests/fixtures/...` resolves as in the repository root."""
    (tmp_path / "tests").symlink_to(ROOT / "tests", target_is_directory=True)
    return tmp_path


def test_readme_commands_run_as_written(workdir: Path) -> None:
    assert len(README_COMMANDS) == 3
    for command in README_COMMANDS:
        words = shlex.split(command, comments=True)
        assert words[0] == "turnsignal"
        done = turnsignal(words[1:], workdir)
        assert done.returncode == 0, f"{command}\n{done.stderr}"
        assert "Traceback" not in done.stderr
    pythia = pd.read_csv(workdir / "pythia.csv")
    assert set(pythia["model"]) == {"pythia-160m"} and set(pythia["step"]) == {113000.0}
    success = pythia[pythia["kind"] == "success"].groupby("task")["chance"].first()
    assert success["winogrande"] == 0.5 and success["lambada_openai"] == 0.0
    assert success["arc_easy"] == 0.25
    table = pd.read_csv(workdir / "lm-8b.csv")
    assert not {"mmlu", "mmlu_stem", "mmlu_humanities"} & set(table["task"])
    margins = pd.read_csv(workdir / "margins.csv")
    # the margins name the same family, model and tasks as the eval table, so `fit --margins` joins
    keys = ["family", "model", "task"]
    joined = margins[keys].merge(table[keys].drop_duplicates(), on=keys)
    assert len(joined) == len(margins) == 2


def test_lm_eval_prints_csv_to_stdout_and_notes_to_stderr(workdir: Path) -> None:
    default = turnsignal(["data", "lm-eval", LM8B], workdir)
    dash = turnsignal(["data", "lm-eval", LM8B, "--out", "-"], workdir)
    assert default.returncode == dash.returncode == 0
    assert default.stdout == dash.stdout
    table = pd.read_csv(io.StringIO(default.stdout))
    assert table["task"].nunique() == 8 and set(table["params"]) == {8030261248.0}
    assert "left out group aggregates mmlu, mmlu_humanities, mmlu_stem" in default.stderr
    assert "skipped task coqa: no known metric (found em, f1)" in default.stderr
    assert "--chance truthfulqa_mc2=RATE" in default.stderr
    assert list(workdir.iterdir()) == [workdir / "tests"]  # nothing written


def test_lm_eval_per_task_chance_option(workdir: Path) -> None:
    done = turnsignal(["data", "lm-eval", V042, "--params", "1.6e8", "--chance", "piqa=0.4",
                       "--chance", "hellaswag=0.3,lambada_openai=0"], workdir)
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(io.StringIO(done.stdout))
    chance = table[table["kind"] == "success"].groupby("task")["chance"].first().to_dict()
    assert chance == {"hellaswag": 0.3, "lambada_openai": 0.0, "piqa": 0.4}
    done = turnsignal(["data", "lm-eval", V042, "--params", "1.6e8", "--chance", "0.2"], workdir)
    table = pd.read_csv(io.StringIO(done.stdout))
    assert set(table.loc[table["kind"] == "success", "chance"]) == {0.2}


@pytest.mark.parametrize("args, message", [
    ([V042], "no parameter count in config.model_num_parameters: give it (--params)"),
    ([V042, "--params", "1.6e8", "--chance", "piqa=half"], "expected RATE or TASK=RATE"),
    ([V042, "--params", "1.6e8", "--chance", "pica=0.5"], "chance given for tasks not in the file: pica"),
    ([f"{LM_EVAL}/missing.json"], "missing.json"),
])
def test_lm_eval_bad_input_exits_2(workdir: Path, args: list[str], message: str) -> None:
    done = turnsignal(["data", "lm-eval", *args], workdir)
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr
    assert done.stdout == ""


def test_lm_eval_samples_skips_generative_files_with_a_note(workdir: Path) -> None:
    done = turnsignal(["data", "lm-eval-samples", f"{LM_EVAL}/lm-8b"], workdir)
    assert done.returncode == 0, done.stderr
    summary = pd.read_csv(io.StringIO(done.stdout))
    assert summary["task"].tolist() == ["arc_challenge", "truthfulqa_mc1"]
    assert set(summary["model"]) == {"example-org/lm-8b"}
    assert "skipped samples_gsm8k_2024-07-02T14-05-09.512377.jsonl" in done.stderr
    single = turnsignal(["data", "lm-eval-samples",
                         f"{LM_EVAL}/lm-8b/samples_gsm8k_2024-07-02T14-05-09.512377.jsonl"], workdir)
    assert single.returncode == 2 and "gsm8k has no multiple-choice" in single.stderr


def test_lm_eval_samples_042_json_naming_and_task_names(workdir: Path) -> None:
    done = turnsignal(["data", "lm-eval-samples",
                       f"{LM_EVAL}/pythia-160m-0.4.2/samples_hellaswag_2024-04-11T08-21-47.930566.json",
                       "--family", "pythia", "--model", "pythia-160m", "--out", "margins.csv"], workdir)
    assert done.returncode == 0, done.stderr
    summary = pd.read_csv(workdir / "margins.csv")
    assert summary[["family", "model", "task", "n"]].values.tolist() == [
        ["pythia", "pythia-160m", "hellaswag", 4]]
    assert summary.loc[0, "accuracy"] == 0.75  # the harness's acc: one tie lost, one won
