"""Eval-table validation: every bad-input case names the file, the row and the column."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecast.evaltable import (
    STANDARD_COLUMNS,
    EvalTableError,
    final_checkpoints,
    validate_eval_table,
)
from forecast.adapters import read_eval_table
from forecast.metrics import lookup_metric

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_OLMO = ROOT / "examples" / "data" / "olmo_ladder.csv"
EXAMPLE_PYTHIA = ROOT / "examples" / "data" / "pythia_lambada.csv"

HEADER = "family,model,params,tokens,task,metric,value,chance"
GOOD_ROWS = [
    "ladder,m190,190e6,3.8e9,arc_easy,bpb,1.18,",
    "ladder,m190,190e6,3.8e9,arc_easy,len_norm,0.41,0.25",
    "ladder,m370,370e6,7.4e9,arc_easy,bpb,1.05,",
    "ladder,m370,370e6,7.4e9,arc_easy,len_norm,0.47,0.25",
]


def write_csv(tmp_path: Path, rows: list[str], header: str = HEADER, name: str = "t.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def only_problem(err: EvalTableError):
    assert len(err.problems) == 1, str(err)
    return err.problems[0]


def assert_names(err: EvalTableError, path: Path, row: int | None, column: str) -> None:
    """The message names the file, the 1-based data row and the column."""
    text = str(err)
    assert str(path) in text
    assert f"column {column!r}" in text
    if row is not None:
        assert f"row {row}" in text
    assert any(p.row == row and p.column == column for p in err.problems), text


# ----------------------------------------------------------------------------- metric registry


REGISTRY_CASES = {
    ("smooth", False): ["bpb", "nll", "ppl", "val_loss", "val_loss_c4", "train_loss", "CrossEntropyLoss", "bits_per_byte"],
    ("smooth", True): ["logp_correct", "p_correct", "soft_log"],
    ("success", True): ["acc", "acc_norm", "len_norm", "exact_match", "pass@1"],
}
"""(kind, higher is better) -> metric names the registry knows."""


@pytest.mark.parametrize("name, kind, higher",
                         [(name, kind, higher) for (kind, higher), names in REGISTRY_CASES.items() for name in names])
def test_registry_kinds_and_directions(name: str, kind: str, higher: bool) -> None:
    metric = lookup_metric(name)
    assert (metric.kind, metric.higher_is_better) == (kind, higher)
    if kind == "success":
        assert (metric.lower, metric.upper) == (0.0, 1.0)


def test_unknown_metric_needs_direction() -> None:
    with pytest.raises(ValueError, match="unknown metric 'brier'"):
        lookup_metric("brier")
    lower = lookup_metric("brier", "lower")
    assert (lower.kind, lower.higher_is_better) == ("smooth", False)
    assert lookup_metric("logit_gap", "higher").higher_is_better
    with pytest.raises(ValueError):
        lookup_metric("brier", "sideways")  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- good tables


def test_good_table_is_normalised(tmp_path: Path) -> None:
    path = write_csv(tmp_path, [r + ",x" for r in GOOD_ROWS], header=HEADER + ",note")
    table = read_eval_table(path)
    assert list(table.columns) == [*STANDARD_COLUMNS, "note"]
    assert len(table) == 4
    for column in ("params", "tokens", "compute_flops", "value", "chance", "n_examples", "shots",
                   "step"):
        assert table[column].dtype == np.float64, column
    for column in ("family", "model", "task", "metric", "kind"):
        assert table[column].dtype == object, column
        assert all(isinstance(v, str) for v in table[column]), column
    assert table["higher_is_better"].dtype == bool
    np.testing.assert_allclose(table["compute_flops"], 6 * table["params"] * table["tokens"])
    assert table["kind"].tolist() == ["smooth", "success", "smooth", "success"]
    assert table["step"].isna().all()


def test_compute_flops_given_is_kept_and_missing_tokens_give_nan(tmp_path: Path) -> None:
    rows = ["f,a,1e8,,t,bpb,1.0,,", "f,b,1e8,2e9,t,bpb,0.9,,5e18"]
    table = read_eval_table(write_csv(tmp_path, rows, header=HEADER + ",compute_flops"))
    assert np.isnan(table.loc[0, "compute_flops"])
    assert table.loc[1, "compute_flops"] == 5e18


def test_exact_duplicates_collapse_silently(tmp_path: Path) -> None:
    table = read_eval_table(write_csv(tmp_path, GOOD_ROWS + GOOD_ROWS[:2]))
    assert len(table) == 4


def test_all_tasks_star_allowed_for_smooth_metric(tmp_path: Path) -> None:
    rows = GOOD_ROWS + ["ladder,m190,190e6,3.8e9,*,val_loss,3.2,"]
    table = read_eval_table(write_csv(tmp_path, rows))
    assert (table["task"] == "*").sum() == 1


def test_global_chance_fills_missing(tmp_path: Path) -> None:
    rows = ["f,a,1e8,2e9,t,acc,0.3,", "f,a,1e8,2e9,u,acc,0.6,0.5"]
    table = read_eval_table(write_csv(tmp_path, rows), chance=0.25)
    assert table["chance"].tolist() == [0.25, 0.5]


def test_unknown_metric_accepted_with_direction(tmp_path: Path) -> None:
    rows = ["f,a,1e8,2e9,t,brier,0.3,"]
    table = read_eval_table(write_csv(tmp_path, rows), smooth_direction="lower")
    assert table.loc[0, "kind"] == "smooth"
    assert not table.loc[0, "higher_is_better"]


def test_validated_table_with_unknown_metric_reads_back(tmp_path: Path) -> None:
    """A table written after validation declares kind and direction, so it validates again."""
    rows = ["f,a,1e8,2e9,t,brier,0.3,", "f,b,2e8,2e9,t,brier,0.2,"]
    table = read_eval_table(write_csv(tmp_path, rows), smooth_direction="higher")
    path = tmp_path / "saved.csv"
    table.to_csv(path, index=False)
    again = read_eval_table(path)
    assert again["higher_is_better"].all() and (again["kind"] == "smooth").all()


def test_parquet_round_trip(tmp_path: Path) -> None:
    table = read_eval_table(EXAMPLE_OLMO)
    path = tmp_path / "olmo.parquet"
    table.to_parquet(path)
    back = read_eval_table(path)
    pd.testing.assert_frame_equal(back, table, check_dtype=True)


def test_example_tables_validate() -> None:
    olmo = read_eval_table(EXAMPLE_OLMO)
    pythia = read_eval_table(EXAMPLE_PYTHIA)
    assert len(olmo) == 780 and len(pythia) == 16
    # metadata columns: numbers come back as float64, text as Python str objects
    assert pythia["stderr"].dtype == np.float64
    assert olmo["ladder_size"].dtype == object and isinstance(olmo["ladder_size"].iloc[0], str)


# ----------------------------------------------------------------------------- bad tables


def refusal(tmp_path: Path, rows: list[str], header: str = HEADER) -> tuple[Path, EvalTableError]:
    """Write `rows` as a CSV and read it back, which must fail: (the file, the EvalTableError)."""
    path = write_csv(tmp_path, rows, header=header)
    with pytest.raises(EvalTableError) as info:
        read_eval_table(path)
    return path, info.value


def refused(tmp_path: Path, rows: list[str], row: int, column: str) -> str:
    """The message refusing `rows`, checked to name the file, the 1-based data `row` and `column`."""
    path, err = refusal(tmp_path, rows)
    assert_names(err, path, row, column)
    return str(err)


def test_missing_required_column(tmp_path: Path) -> None:
    path, err = refusal(tmp_path, ["f,a,t,bpb,1.0"], header="family,model,task,metric,value")
    problem = only_problem(err)
    assert (problem.column, problem.row) == ("params", None)
    assert str(path) in str(err) and "'params'" in str(err)
    assert "missing" in str(err)


def test_non_numeric_value(tmp_path: Path) -> None:
    text = refused(tmp_path, GOOD_ROWS[:2] + ["ladder,m370,370e6,7.4e9,arc_easy,bpb,abc,"], 3, "value")
    assert "not a number: 'abc'" in text
    assert "line 2" in text  # the message states the row convention


@pytest.mark.parametrize("bad", ["inf", "-inf", "nan", ""])
def test_non_finite_or_missing_value(tmp_path: Path, bad: str) -> None:
    refused(tmp_path, GOOD_ROWS[:1] + [f"ladder,m370,370e6,7.4e9,arc_easy,bpb,{bad},"], 2, "value")


def test_non_finite_params_in_dataframe() -> None:
    frame = pd.DataFrame({"family": ["f"], "model": ["a"], "params": [np.inf], "task": ["t"],
                          "metric": ["bpb"], "value": [1.0]})
    with pytest.raises(EvalTableError) as info:
        validate_eval_table(frame, source="frame-from-api")
    assert "frame-from-api, row 1, column 'params': not finite" in str(info.value)


@pytest.mark.parametrize("params", ["0", "-5e8"])
def test_params_must_be_positive(tmp_path: Path, params: str) -> None:
    rows = GOOD_ROWS[:2] + [f"ladder,m0,{params},7.4e9,arc_easy,bpb,1.0,"]
    assert "must be > 0" in refused(tmp_path, rows, 3, "params")


def test_tokens_must_be_positive(tmp_path: Path) -> None:
    refused(tmp_path, ["f,a,1e8,0,t,bpb,1.0,"], 1, "tokens")


@pytest.mark.parametrize("value", ["1.2", "-0.1"])
def test_success_value_outside_unit_interval(tmp_path: Path, value: str) -> None:
    rows = GOOD_ROWS + [f"ladder,m760,760e6,15e9,arc_easy,len_norm,{value},0.25"]
    assert "outside [0, 1]" in refused(tmp_path, rows, 5, "value")


def test_conflicting_duplicates(tmp_path: Path) -> None:
    text = refused(tmp_path, GOOD_ROWS + ["ladder,m190,190e6,3.8e9,arc_easy,len_norm,0.44,0.25"], 5, "value")
    assert "conflicting duplicate of row 2" in text
    assert "0.41 vs 0.44" in text


def test_same_key_different_step_is_not_a_duplicate(tmp_path: Path) -> None:
    header = HEADER + ",step"
    rows = ["f,a,1e8,2e9,t,bpb,1.0,,100", "f,a,1e8,2e9,t,bpb,0.9,,200"]
    assert len(read_eval_table(write_csv(tmp_path, rows, header=header))) == 2


def test_success_metric_without_chance(tmp_path: Path) -> None:
    rows = GOOD_ROWS + ["ladder,m760,760e6,15e9,arc_easy,len_norm,0.5,"]
    path, err = refusal(tmp_path, rows)
    assert_names(err, path, 5, "chance")
    assert "chance" in str(err)
    assert read_eval_table(path, chance=0.25)["chance"].iloc[-1] == 0.25


def test_chance_out_of_range(tmp_path: Path) -> None:
    refused(tmp_path, ["f,a,1e8,2e9,t,acc,0.5,1.0"], 1, "chance")


def test_unknown_metric_without_direction(tmp_path: Path) -> None:
    rows = GOOD_ROWS + ["ladder,m760,760e6,15e9,arc_easy,brier,0.2,"]
    assert "unknown metric 'brier'" in refused(tmp_path, rows, 5, "metric")


def test_star_task_rejected_for_success_metric(tmp_path: Path) -> None:
    refused(tmp_path, ["f,a,1e8,2e9,*,acc,0.5,0.25"], 1, "task")


def test_all_problems_collected_and_capped(tmp_path: Path) -> None:
    _, err = refusal(tmp_path, [f"f,m{i},-1,2e9,t,bpb,x," for i in range(30)])
    assert len(err.problems) == 60  # params and value on every row
    text = str(err)
    assert "60 problem(s)" in text and "and 40 more" in text
    assert text.count("\n  - ") == 20


def test_missing_file_and_jsonl_are_refused(tmp_path: Path) -> None:
    with pytest.raises(EvalTableError, match="file not found"):
        read_eval_table(tmp_path / "nope.csv")
    samples = ROOT / "tests/fixtures/lm_eval/samples_arc_easy_2025-01-21T00-40-03.356274.jsonl"
    with pytest.raises(EvalTableError, match="lm_eval_samples"):
        read_eval_table(samples)


def test_ragged_csv_rows_are_reported(tmp_path: Path) -> None:
    _, err = refusal(tmp_path, GOOD_ROWS[:1] + ["ladder,m370,370e6,7.4e9,arc_easy,bpb,1.05,,extra"])
    problem = only_problem(err)
    assert problem.row == 2 and "9 fields, the header has 8" in str(err)


def test_error_is_a_value_error() -> None:
    assert issubclass(EvalTableError, ValueError)


# ----------------------------------------------------------------------------- final checkpoints


def test_final_checkpoints_keeps_largest_step_and_nan_as_final() -> None:
    frame = pd.DataFrame({
        "family": ["f"] * 5, "model": ["a", "a", "a", "b", "b"], "params": [1e8] * 5,
        "tokens": [1e9, 2e9, 3e9, 1e9, 5e9], "task": ["t"] * 5, "metric": ["bpb"] * 5,
        "value": [1.2, 1.1, 1.0, 1.3, 0.9], "step": [100, 300, 200, 100, np.nan],
    })
    final = final_checkpoints(validate_eval_table(frame))
    assert sorted(zip(final["model"], final["value"])) == [("a", 1.1), ("b", 0.9)]
