"""Adapters on real data slices (tests/fixtures, sources in tests/fixtures/README.md)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecast.adapters import (
    OLMO_CHANCE,
    lm_eval_results,
    lm_eval_samples,
    margins_summary,
    olmo_ladder,
    pythia_lambada,
)
from forecast.evaltable import STANDARD_COLUMNS, EvalTableError, read_eval_table

FIXTURES = Path(__file__).resolve().parent / "fixtures"
OLMO_FINAL = FIXTURES / "olmo_ladder_final.csv"
OLMO_SLICE = FIXTURES / "olmo_ladder_checkpoints_slice.csv"
PYTHIA = FIXTURES / "pythia_lambada.csv"
LM_EVAL = FIXTURES / "lm_eval"
PYTHIA_JSON = LM_EVAL / "pythia-160m_zero-shot_step113000.json"
NEW_JSON = LM_EVAL / "results_2025-01-21T00-40-03.356274.json"
SAMPLES = LM_EVAL / "samples_arc_easy_2025-01-21T00-40-03.356274.jsonl"

OLMO_TASKS = {
    "arc_challenge", "arc_easy", "boolq", "csqa", "hellaswag", "openbookqa", "piqa", "socialiqa",
    "winogrande", "mmlu_stem", "mmlu_humanities", "mmlu_social_sciences", "mmlu_other",
}
OLMO_SIZES = {190354176.0, 371262464.0, 758220288.0, 1279395840.0, 3169537280.0}


# ----------------------------------------------------------------------------- OLMo ladder


@pytest.fixture(scope="module")
def olmo_final() -> pd.DataFrame:
    return olmo_ladder(OLMO_FINAL)


def test_olmo_tasks_models_and_counts(olmo_final: pd.DataFrame) -> None:
    assert list(olmo_final.columns[: len(STANDARD_COLUMNS)]) == list(STANDARD_COLUMNS)
    assert set(olmo_final["task"]) == OLMO_TASKS
    assert olmo_final["model"].nunique() == 30  # 5 sizes x (5 token multiples + 1x rerun)
    assert {"190M-1xC", "190M-1xC-rerun", "3B-10xC"} <= set(olmo_final["model"])
    assert set(olmo_final["params"]) == OLMO_SIZES
    # one smooth + one success row per run and task: no val/test double rows
    assert len(olmo_final) == 30 * 13 * 2
    assert not olmo_final.duplicated(["model", "task", "metric"]).any()
    assert set(olmo_final["split"]) == {"val"}
    assert set(olmo_final["shots"]) == {5.0}


def test_olmo_metrics_kinds_and_chance(olmo_final: pd.DataFrame) -> None:
    smooth = olmo_final[olmo_final["kind"] == "smooth"]
    success = olmo_final[olmo_final["kind"] == "success"]
    assert set(smooth["metric"]) == {"bpb"} and smooth["chance"].isna().all()
    assert set(success.loc[success["task"] == "boolq", "metric"]) == {"acc"}
    assert set(success.loc[success["task"] != "boolq", "metric"]) == {"len_norm"}
    expected = {"mmlu_stem": 0.25, "hellaswag": 0.25, "arc_easy": 0.25, "openbookqa": 0.25,
                "csqa": 0.2, "socialiqa": 1 / 3, "piqa": 0.5, "boolq": 0.5, "winogrande": 0.5}
    chance = success.groupby("task")["chance"].agg(["min", "max"])
    for task, rate in expected.items():
        assert chance.loc[task, "min"] == chance.loc[task, "max"] == pytest.approx(rate), task
    assert OLMO_CHANCE["copa"] == 0.5


def test_olmo_compute_is_six_n_d(olmo_final: pd.DataFrame) -> None:
    np.testing.assert_allclose(olmo_final["compute_flops"],
                               6 * olmo_final["params"] * olmo_final["tokens"], rtol=1e-12)
    # more tokens for the same size means more compute: 10xC is ~20x the 0.5xC run
    flops = olmo_final.groupby("model")["compute_flops"].first()
    assert 15 < flops["1B-10xC"] / flops["1B-0.5xC"] < 25


def test_olmo_final_values_match_source_rows(olmo_final: pd.DataFrame) -> None:
    raw = pd.read_csv(OLMO_FINAL)
    source = raw[(raw["run"] == "190M-1xC") & (raw["source_dir"] == "peteish-moreeval")
                 & (raw["split"] == "val") & (raw["subtask"] == "stem")
                 & (raw["metric"] == "len_norm") & (raw["format"] == "rc")]
    row = olmo_final[(olmo_final["model"] == "190M-1xC") & (olmo_final["task"] == "mmlu_stem")
                     & (olmo_final["metric"] == "len_norm")]
    assert len(source) == 1 and len(row) == 1
    assert row["value"].iloc[0] == source["value"].iloc[0]
    assert row["step"].iloc[0] == source["step"].iloc[0] == 7272.0
    assert row["ladder_size"].iloc[0] == "ladder-190M"


def test_olmo_test_split_option() -> None:
    table = olmo_ladder(OLMO_FINAL, split="test")
    assert set(table["task"]) == {"arc_challenge", "arc_easy", "openbookqa", "mmlu_stem",
                                  "mmlu_humanities", "mmlu_social_sciences", "mmlu_other"}


def test_olmo_all_checkpoints_keep_steps() -> None:
    every = olmo_ladder(OLMO_SLICE, checkpoints="all")
    final = olmo_ladder(OLMO_SLICE, checkpoints="final")
    assert set(every["model"]) == {"190M-1xC", "370M-1xC"}
    assert set(every["task"]) == {"arc_easy", "boolq", "mmlu_stem"}
    steps = every.groupby("model")["step"].nunique()
    assert steps["190M-1xC"] == 37 and steps["370M-1xC"] == 48
    assert len(every) == (37 + 48) * 3 * 2
    # tokens and compute grow with step within a run
    run = every[(every["model"] == "370M-1xC") & (every["task"] == "arc_easy")
                & (every["metric"] == "bpb")].sort_values("step")
    assert run["tokens"].is_monotonic_increasing and run["tokens"].iloc[0] > 0
    # "final" is the last step of each run
    assert len(final) == 2 * 3 * 2
    assert final.groupby("model")["step"].max().to_dict() == {"190M-1xC": 7272.0,
                                                              "370M-1xC": 9452.0}


def test_olmo_final_from_slice_matches_final_file(olmo_final: pd.DataFrame) -> None:
    final = olmo_ladder(OLMO_SLICE, checkpoints="final")
    key = ["model", "task", "metric"]
    merged = final[key + ["value", "tokens"]].merge(olmo_final[key + ["value", "tokens"]], on=key)
    assert len(merged) == len(final)
    np.testing.assert_array_equal(merged["value_x"], merged["value_y"])
    np.testing.assert_array_equal(merged["tokens_x"], merged["tokens_y"])


def test_checkpoints_option_is_checked() -> None:
    with pytest.raises(ValueError, match="checkpoints"):
        olmo_ladder(OLMO_FINAL, checkpoints="some")  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- Pythia


def test_pythia_lambada_final() -> None:
    table = pythia_lambada(PYTHIA)
    assert len(table) == 16
    assert set(table["model"]) == {"pythia-70m", "pythia-160m", "pythia-410m", "pythia-1b-bf16",
                                   "pythia-1.4b", "pythia-2.8b", "pythia-6.9b", "pythia-12b"}
    assert set(table["task"]) == {"lambada_openai"} and set(table["step"]) == {143000.0}
    assert set(table["shots"]) == {0.0}
    ppl = table[table["metric"] == "ppl"]
    acc = table[table["metric"] == "acc"]
    assert (ppl["kind"] == "smooth").all() and not ppl["higher_is_better"].any()
    assert (acc["kind"] == "success").all() and (acc["chance"] == 0.0).all()
    assert (table["tokens"] == 143000 * 2097152).all()
    np.testing.assert_allclose(table["compute_flops"], 6 * table["params"] * table["tokens"])
    # larger models: lower perplexity, higher accuracy (real data, monotone here)
    assert ppl.sort_values("params")["value"].is_monotonic_decreasing
    assert acc.sort_values("params")["value"].is_monotonic_increasing
    # n_examples = 5153 agrees with the logged binomial standard errors
    implied = acc["value"] * (1 - acc["value"]) / acc["stderr"] ** 2
    np.testing.assert_allclose(implied, 5153, rtol=0.01)


def test_pythia_lambada_checkpoints() -> None:
    table = pythia_lambada(PYTHIA, checkpoints="all")
    assert table["step"].min() > 0  # step 0 (no training tokens) dropped
    assert table.groupby("model")["step"].nunique().eq(26).all()
    assert (table["tokens"] == table["step"] * 2097152).all()
    deduped = pythia_lambada(PYTHIA, deduped=True)
    assert deduped["model"].str.endswith("-deduped").all() and len(deduped) == 16


# ----------------------------------------------------------------------------- lm-eval


def test_lm_eval_old_format_results_match_shared_csv() -> None:
    chance = {"lambada_openai": 0.0, "arc_easy": 0.25, "arc_challenge": 0.25, "sciq": 0.25,
              "hendrycksTest-abstract_algebra": 0.25, "piqa": 0.5, "winogrande": 0.5, "wsc": 0.5}
    table = lm_eval_results(PYTHIA_JSON, family="pythia-v1", model="pythia-160m", params=160e6,
                            tokens=113000 * 2097152, chance=chance)
    assert "crows_pairs_english" not in set(table["task"])  # unknown metrics are skipped
    assert set(table["shots"]) == {0.0} and set(table["step"]) == {113000.0}
    got = table.set_index(["task", "metric"])["value"]
    shared = pd.read_csv(PYTHIA)
    source = shared[(shared["model"] == "pythia-160m") & (shared["step"] == 113000)
                    & (shared["shots"] == 0) & (shared["task"] == "lambada_openai")]
    for _, row in source.iterrows():
        assert got[("lambada_openai", row["metric"])] == row["value"]
    assert got[("arc_easy", "acc_norm")] == pytest.approx(0.38552188552188554)
    assert table.set_index(["task", "metric"]).loc[("lambada_openai", "ppl"), "kind"] == "smooth"


def test_lm_eval_success_without_chance_fails() -> None:
    with pytest.raises(EvalTableError) as info:
        lm_eval_results(PYTHIA_JSON, family="pythia-v1", model="pythia-160m", params=160e6)
    assert str(PYTHIA_JSON) in str(info.value) and "'chance'" in str(info.value)


def test_lm_eval_new_format_results() -> None:
    table = lm_eval_results(NEW_JSON, family="gemma-2", model="gemma-2-2b-steered", params=2.6e9,
                            chance=0.25)
    assert len(table) == 1
    row = table.iloc[0]
    assert (row["task"], row["metric"], row["value"]) == ("mmlu_abstract_algebra", "acc", 0.34)
    assert (row["shots"], row["n_examples"], row["filter"]) == (0.0, 100.0, "none")
    assert row["stderr"] == pytest.approx(0.047609522856952344)


def test_read_eval_table_dispatches_json(tmp_path: Path) -> None:
    # model_num_parameters is 0 in this real file, so params is missing -> a clear error
    with pytest.raises(EvalTableError) as info:
        read_eval_table(NEW_JSON, chance=0.25)
    assert "column 'params'" in str(info.value)
    payload = json.loads(NEW_JSON.read_text())
    payload["config"]["model_num_parameters"] = 2614341888
    path = tmp_path / "results.json"
    path.write_text(json.dumps(payload))
    table = read_eval_table(path, chance=0.25)
    assert table.loc[0, "params"] == 2614341888.0


def test_lm_eval_filter_choice(tmp_path: Path) -> None:
    payload = {"results": {"gsm8k": {"exact_match,strict-match": 0.1,
                                     "exact_match,flexible-extract": 0.2}},
               "n-shot": {"gsm8k": 5}}
    path = tmp_path / "results.json"
    path.write_text(json.dumps(payload))
    table = lm_eval_results(path, family="f", model="m", params=1e9, chance=0.0)
    assert table["value"].tolist() == [0.1] and table["filter"].tolist() == ["strict-match"]
    payload["results"]["gsm8k"]["exact_match,none"] = 0.3
    path.write_text(json.dumps(payload))
    table = lm_eval_results(path, family="f", model="m", params=1e9, chance=0.0)
    assert table["value"].tolist() == [0.3]


def test_lm_eval_samples_margins() -> None:
    samples = lm_eval_samples(SAMPLES, family="pythia-v1", model="pythia-160m")
    assert list(samples.columns) == ["family", "model", "task", "example_id", "margin", "correct",
                                     "n_choices"]
    assert set(samples["task"]) == {"arc_easy"}
    np.testing.assert_allclose(samples["margin"], [3.375, 2.625, -0.375, 0.25, 2.25, -1.5])
    # sign: positive margin <=> the correct choice has the highest log-likelihood (= logged acc)
    logged_acc = [json.loads(line)["acc"] for line in SAMPLES.read_text().splitlines()]
    assert samples["correct"].tolist() == [bool(a) for a in logged_acc]
    assert (samples["n_choices"] == 4).all()


def test_margins_summary() -> None:
    samples = lm_eval_samples(LM_EVAL, family="f", model="m")  # a directory of samples files
    summary = margins_summary(samples)
    assert len(summary) == 1
    row = summary.iloc[0]
    margins = np.array([3.375, 2.625, -0.375, 0.25, 2.25, -1.5])
    assert row["n"] == 6
    assert row["margin_mean"] == pytest.approx(margins.mean())
    assert row["margin_sd"] == pytest.approx(margins.std(ddof=1))
    assert row["accuracy"] == pytest.approx(4 / 6)


def test_lm_eval_samples_text_targets_and_generation_skipped(tmp_path: Path) -> None:
    rows = [
        {"doc_id": 0, "target": " blue",
         "arguments": {"gen_args_0": {"arg_0": "Sky is", "arg_1": " red"},
                       "gen_args_1": {"arg_0": "Sky is", "arg_1": " blue"}},
         "filtered_resps": [["-3.0", "False"], ["-1.0", "True"]]},
        {"doc_id": 1, "target": "3", "filtered_resps": [["-2.0", "False"], ["-1.5", "False"],
                                                          ["-4.0", "False"], ["-2.5", "False"]]},
        {"doc_id": 2, "target": "42", "resps": [["The answer is 42"]],
         "filtered_resps": ["42"]},
    ]
    path = tmp_path / "samples_mixed_2025-01-01T00-00-00.000000.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    samples = lm_eval_samples(path, family="f", model="m")
    assert set(samples["task"]) == {"mixed"}
    assert samples["example_id"].tolist() == [0, 1]
    np.testing.assert_allclose(samples["margin"], [2.0, -1.0])
    assert samples["n_choices"].tolist() == [2, 4]


def test_adapter_errors_name_the_source_row(tmp_path: Path) -> None:
    lines = OLMO_SLICE.read_text().splitlines()
    header = lines[0].split(",")
    value_at, run_at = header.index("value"), header.index("run")
    # corrupt the value of the first kept row (data row n is line n + 1)
    for n, line in enumerate(lines[1:], start=1):
        fields = line.split(",")
        if ",val,rc," in line and ",bpb," in line and fields[run_at] == "370M-1xC":
            fields[value_at] = "abc"
            lines[n] = ",".join(fields)
            break
    path = tmp_path / "corrupt.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(EvalTableError) as info:
        olmo_ladder(path, checkpoints="all")
    assert f"{path}, row {n}, column 'value': not a number: 'abc'" in str(info.value)
