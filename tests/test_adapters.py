"""Adapters on real data slices (tests/fixtures, sources in tests/fixtures/README.md)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecast.adapters import (
    LM_EVAL_CHANCE,
    OLMO_CHANCE,
    lm_eval_chance,
    lm_eval_results,
    lm_eval_sample_files,
    lm_eval_samples,
    margins_summary,
    olmo_ladder,
    read_eval_table,
    parse_chance,
    pythia_lambada,
)
from forecast.evaltable import STANDARD_COLUMNS, EvalTableError

FIXTURES = Path(__file__).resolve().parent / "fixtures"
OLMO_FINAL = FIXTURES / "olmo_ladder_final.csv"
OLMO_SLICE = FIXTURES / "olmo_ladder_checkpoints_slice.csv"
PYTHIA = FIXTURES / "pythia_lambada.csv"
LM_EVAL = FIXTURES / "lm_eval"
PYTHIA_JSON = LM_EVAL / "pythia-160m_zero-shot_step113000.json"
NEW_JSON = LM_EVAL / "results_2025-01-21T00-40-03.356274.json"
SAMPLES = LM_EVAL / "samples_arc_easy_2025-01-21T00-40-03.356274.jsonl"
# hand-made runs in the shapes of harness 0.4.x (current), 0.4.2 and 0.4.0 (tests/fixtures/README.md)
LM8B = LM_EVAL / "lm-8b" / "results_2024-07-02T14-05-09.512377.json"
V042 = LM_EVAL / "pythia-160m-0.4.2"
RESULTS_042 = "results_2024-04-11T08-21-47.930566.json"
V040 = LM_EVAL / "pythia-160m-0.4.0"

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


# ----------------------------------------------------------------------------- lm-eval results


def run_results(path: Path, **kwargs) -> tuple[pd.DataFrame, list[str]]:
    """`lm_eval_results` with its notes collected."""
    notes: list[str] = []
    return lm_eval_results(path, note=notes.append, **kwargs), notes


def by_task(table: pd.DataFrame, column: str) -> dict[str, object]:
    success = table[table["kind"] == "success"]
    return success.groupby("task")[column].first().to_dict()


def test_lm_eval_old_format_results_match_shared_csv() -> None:
    table, notes = run_results(PYTHIA_JSON, family="pythia-v1", model="pythia-160m", params=160e6,
                               tokens=113000 * 2097152)
    # unknown metrics: the task is left out with a note naming what it reports
    assert "crows_pairs_english" not in set(table["task"])
    assert notes == [f"{PYTHIA_JSON}: skipped task crows_pairs_english: no known metric (found "
                     "likelihood_difference, pct_stereotype)"]
    assert set(table["shots"]) == {0.0} and set(table["step"]) == {113000.0}
    got = table.set_index(["task", "metric"])["value"]
    shared = pd.read_csv(PYTHIA)
    source = shared[(shared["model"] == "pythia-160m") & (shared["step"] == 113000)
                    & (shared["shots"] == 0) & (shared["task"] == "lambada_openai")]
    for _, row in source.iterrows():
        assert got[("lambada_openai", row["metric"])] == row["value"]
    assert got[("arc_easy", "acc_norm")] == pytest.approx(0.38552188552188554)
    assert table.set_index(["task", "metric"]).loc[("lambada_openai", "ppl"), "kind"] == "smooth"


def test_lm_eval_old_format_chance_per_task_from_the_table() -> None:
    # no configs in the old format: every rate comes from LM_EVAL_CHANCE, per task, none stamped
    # on all; the samples file beside it belongs to another run (another time) and is not used
    table, _ = run_results(PYTHIA_JSON, params=160e6)
    assert by_task(table, "chance") == {
        "arc_easy": 0.25, "arc_challenge": 0.25, "hendrycksTest-abstract_algebra": 0.25,
        "sciq": 0.25, "lambada_openai": 0.0, "piqa": 0.5, "winogrande": 0.5, "wsc": 0.5}
    assert set(by_task(table, "chance_source").values()) == {"table"}
    assert table[table["kind"] == "smooth"]["chance"].isna().all()
    # model from model_args, family defaults to it
    assert set(table["model"]) == set(table["family"]) == {"EleutherAI/pythia-v1.1-160m"}


def test_lm_eval_new_format_groups_generative_and_chance_sources() -> None:
    table, notes = run_results(LM8B)
    # group aggregates (groups / group_subtasks with members) are left out; subtasks kept
    assert set(table["task"]) == {"arc_challenge", "gsm8k", "lambada_openai", "mmlu_abstract_algebra",
                                  "mmlu_astronomy", "mmlu_formal_logic", "truthfulqa_mc1",
                                  "winogrande"}
    assert notes[0].endswith("left out group aggregates mmlu, mmlu_humanities, mmlu_stem "
                             "(their subtasks are kept)")
    assert "skipped task coqa: no known metric (found em, f1)" in notes[1]
    assert "skipped acc of task truthfulqa_mc2: no chance rate (output_type multiple_choice" in notes[2]
    assert "--chance truthfulqa_mc2=RATE" in notes[2] and len(notes) == 3
    # model, params from the file
    assert set(table["model"]) == {"example-org/lm-8b"} and set(table["params"]) == {8030261248.0}
    assert table["step"].isna().all()  # revision "main" is no training step
    chance = by_task(table, "chance")
    source = by_task(table, "chance_source")
    assert chance["mmlu_astronomy"] == 0.25 and source["mmlu_astronomy"] == "config doc_to_choice"
    assert chance["gsm8k"] == 0.0 and source["gsm8k"] == "output_type generate_until"
    assert chance["lambada_openai"] == 0.0 and source["lambada_openai"] == "output_type loglikelihood"
    assert chance["winogrande"] == 0.5 and source["winogrande"] == "table"
    # from the run's samples files: mean of 1 / number of choices
    assert chance["truthfulqa_mc1"] == pytest.approx(np.mean([1 / 4, 1 / 5, 1 / 6, 1 / 2, 1 / 3]))
    assert chance["arc_challenge"] == pytest.approx(np.mean([1 / 4, 1 / 5, 1 / 3, 1 / 4]))
    assert source["arc_challenge"].startswith("samples file samples_arc_challenge_")
    gsm8k = table[table["task"] == "gsm8k"].iloc[0]
    assert (gsm8k["metric"], gsm8k["filter"], gsm8k["value"]) == ("exact_match", "strict-match", 0.4913)
    assert (gsm8k["shots"], gsm8k["n_examples"]) == (5.0, 1319.0)
    assert table.set_index(["task", "metric"]).loc[("lambada_openai", "perplexity"), "kind"] == "smooth"


def test_lm_eval_samples_dir_option_and_no_samples() -> None:
    # pointing the samples at an empty place: truthfulqa_mc1 has no chance rate either
    table, notes = run_results(LM8B, samples_dir=LM_EVAL / "pythia-160m-0.4.0")
    assert "truthfulqa_mc1" not in set(table["task"])
    assert any("skipped acc of task truthfulqa_mc1: no chance rate" in n for n in notes)
    assert by_task(table, "chance")["arc_challenge"] == 0.25  # the table, without its samples


def test_lm_eval_older_groups_key_and_legacy_samples() -> None:
    table, notes = run_results(V040 / "results.json", params=1.6e8)
    assert set(table["task"]) == {"arc_easy", "arc_challenge"}
    assert notes == [f"{V040 / 'results.json'}: left out group aggregates ai2_arc (their subtasks "
                     "are kept)"]
    assert set(table["step"]) == {113000.0}
    chance = by_task(table, "chance")
    assert chance["arc_easy"] == pytest.approx(np.mean([1 / 4, 1 / 3, 1 / 4]))  # legacy samples
    assert chance["arc_challenge"] == 0.25


def test_lm_eval_chance_overrides() -> None:
    table, _ = run_results(V042 / RESULTS_042, params=1.6e8, chance=0.2)
    assert set(by_task(table, "chance").values()) == {0.2}
    assert set(by_task(table, "chance_source").values()) == {"given"}
    table, _ = run_results(V042 / RESULTS_042, params=1.6e8, chance={"piqa": 0.4})
    assert by_task(table, "chance") == {"hellaswag": 0.25, "lambada_openai": 0.0, "piqa": 0.4}
    table, _ = run_results(V042 / RESULTS_042, params=1.6e8, chance={"piqa": 0.4, "*": 0.1})
    assert by_task(table, "chance") == {"hellaswag": 0.1, "lambada_openai": 0.1, "piqa": 0.4}
    with pytest.raises(ValueError, match="chance given for tasks not in the file: pica"):
        lm_eval_results(V042 / RESULTS_042, params=1.6e8, chance={"pica": 0.5})


def test_parse_chance() -> None:
    assert parse_chance(None) is None and parse_chance([]) is None
    assert parse_chance(["0.25"]) == 0.25
    assert parse_chance(["piqa=0.5,hellaswag=0.25", "truthfulqa_mc1=0.2"]) == {
        "piqa": 0.5, "hellaswag": 0.25, "truthfulqa_mc1": 0.2}
    assert parse_chance("mmlu_abstract_algebra=0.25,0.1") == {"mmlu_abstract_algebra": 0.25, "*": 0.1}
    with pytest.raises(ValueError, match="TASK=RATE"):
        parse_chance(["piqa=half"])
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        parse_chance(["1.5"])


def test_lm_eval_chance_lookup_order() -> None:
    assert lm_eval_chance("x", {"doc_to_choice": ["yes", "no", "maybe"]}) == (1 / 3, "config doc_to_choice")
    assert lm_eval_chance("x", {"output_type": "generate_until"}) == (0.0, "output_type generate_until")
    assert lm_eval_chance("mmlu_college_physics") == (0.25, "table")
    assert lm_eval_chance("blimp_anaphor_gender_agreement") == (0.5, "table")
    assert lm_eval_chance("gsm8k_cot") == (0.0, "table")
    assert lm_eval_chance("mmlu_pro")[0] is None  # up to 10 options: not an mmlu subject
    assert LM_EVAL_CHANCE["hellaswag"] == 0.25 and LM_EVAL_CHANCE["copa"] == 0.5
    rate, tried = lm_eval_chance("truthfulqa_mc1", {"output_type": "multiple_choice",
                                                    "doc_to_choice": "{{mc1_targets.choices}}"})
    assert rate is None and "not in the built-in table" in tried


def write_results(tmp_path: Path, payload: dict) -> Path:
    path = tmp_path / "results_2024-01-01T00-00-00.000000.json"
    path.write_text(json.dumps(payload))
    return path


def test_lm_eval_no_known_metric_lists_the_metrics_found(tmp_path: Path) -> None:
    path = write_results(tmp_path, {
        "results": {"coqa": {"alias": "coqa", "em,none": 0.6, "em_stderr,none": 0.02,
                             "f1,none": 0.75, "f1_stderr,none": 0.02},
                    "crows_pairs": {"pct_stereotype": 0.6}},
        "config": {"model_args": "pretrained=org/m", "model_num_parameters": 1e9}})
    with pytest.raises(EvalTableError) as info:
        lm_eval_results(path, note=lambda _: None)
    message = str(info.value)
    assert str(path) in message
    assert "coqa: em, f1; crows_pairs: pct_stereotype" in message and "known metrics: " in message


def test_lm_eval_without_chance_keeps_the_smooth_metric(tmp_path: Path) -> None:
    path = write_results(tmp_path, {
        "results": {"my_cloze": {"perplexity,none": 12.5, "acc,none": 0.4}},
        "config": {"model_args": "pretrained=org/m", "model_num_parameters": 1e9}})
    table, notes = run_results(path)
    assert table["metric"].tolist() == ["perplexity"]
    assert notes == [f"{path}: skipped acc of task my_cloze: no chance rate (no choice list in its "
                     "config, no samples file, not in the built-in table); give one with --chance "
                     "my_cloze=RATE"]


def test_lm_eval_step_from_dict_model_args_and_model_revision(tmp_path: Path) -> None:
    results = {"piqa": {"acc,none": 0.6}}
    path = write_results(tmp_path, {"results": results, "config": {
        "model_args": {"pretrained": "EleutherAI/pythia-410m", "revision": "step71000",
                       "dtype": "float16"}, "model_num_parameters": 405334016}})
    table, _ = run_results(path)
    assert (table.loc[0, "model"], table.loc[0, "step"]) == ("EleutherAI/pythia-410m", 71000.0)
    path = write_results(tmp_path, {"results": results, "config": {
        "model_args": "pretrained=EleutherAI/pythia-410m", "model_revision": "step5000"}})
    table, _ = run_results(path, params=4e8)
    assert table.loc[0, "step"] == 5000.0


def test_lm_eval_missing_params_is_one_problem(tmp_path: Path) -> None:
    with pytest.raises(EvalTableError) as info:
        lm_eval_results(PYTHIA_JSON, note=lambda _: None)
    assert len(info.value.problems) == 1
    assert "column 'params'" in str(info.value) and "--params" in str(info.value)


def test_lm_eval_new_format_results() -> None:
    table, _ = run_results(NEW_JSON, family="gemma-2", model="gemma-2-2b-steered", params=2.6e9)
    assert len(table) == 1
    row = table.iloc[0]
    assert (row["task"], row["metric"], row["value"]) == ("mmlu_abstract_algebra", "acc", 0.34)
    assert (row["shots"], row["n_examples"], row["filter"]) == (0.0, 100.0, "none")
    assert row["stderr"] == pytest.approx(0.047609522856952344)
    assert (row["chance"], row["chance_source"]) == (0.25, "config doc_to_choice")


def test_read_eval_table_dispatches_json(tmp_path: Path) -> None:
    # model_num_parameters is 0 in this real file, so params is missing -> a clear error
    with pytest.raises(EvalTableError) as info:
        read_eval_table(NEW_JSON)
    assert "column 'params'" in str(info.value)
    payload = json.loads(NEW_JSON.read_text())
    payload["config"]["model_num_parameters"] = 2614341888
    path = tmp_path / "results.json"
    path.write_text(json.dumps(payload))
    table = read_eval_table(path)
    assert table.loc[0, "params"] == 2614341888.0 and table.loc[0, "chance"] == 0.25


def test_lm_eval_filter_choice(tmp_path: Path) -> None:
    payload = {"results": {"gsm8k": {"exact_match,strict-match": 0.1,
                                     "exact_match,flexible-extract": 0.2}},
               "n-shot": {"gsm8k": 5}}
    path = tmp_path / "results.json"
    path.write_text(json.dumps(payload))
    table = lm_eval_results(path, family="f", model="m", params=1e9)
    assert table["value"].tolist() == [0.1] and table["filter"].tolist() == ["strict-match"]
    assert table["chance"].tolist() == [0.0]  # gsm8k in the built-in table
    payload["results"]["gsm8k"]["exact_match,none"] = 0.3
    path.write_text(json.dumps(payload))
    table = lm_eval_results(path, family="f", model="m", params=1e9)
    assert table["value"].tolist() == [0.3]


# ----------------------------------------------------------------------------- lm-eval samples


def run_samples(path: Path, **kwargs) -> tuple[pd.DataFrame, list[str]]:
    notes: list[str] = []
    kwargs.setdefault("family", "f")
    kwargs.setdefault("model", "m")
    return lm_eval_samples(path, note=notes.append, **kwargs), notes


def logged_acc(path: Path) -> list[float]:
    """The harness's own per-sample `acc` of a samples file (JSON lines or a JSON array)."""
    text = path.read_text()
    rows = json.loads(text) if text.lstrip().startswith("[") else [
        json.loads(line) for line in text.splitlines() if line.strip()]
    return [row["acc"] for row in rows]


def test_lm_eval_samples_margins() -> None:
    samples, _ = run_samples(SAMPLES, family="pythia-v1", model="pythia-160m")
    assert list(samples.columns) == ["family", "model", "task", "example_id", "margin", "correct",
                                     "n_choices"]
    assert set(samples["task"]) == {"arc_easy"}  # the file name's time is not part of the task
    np.testing.assert_allclose(samples["margin"], [3.375, 2.625, -0.375, 0.25, 2.25, -1.5])
    # sign: positive margin <=> the correct choice has the highest log-likelihood (= logged acc)
    assert samples["correct"].tolist() == [bool(a) for a in logged_acc(SAMPLES)]
    assert (samples["n_choices"] == 4).all()


@pytest.mark.parametrize("path", [
    LM8B.parent / "samples_truthfulqa_mc1_2024-07-02T14-05-09.512377.jsonl",
    LM8B.parent / "samples_arc_challenge_2024-07-02T14-05-09.512377.jsonl",
    V042 / "samples_hellaswag_2024-04-11T08-21-47.930566.json",
    V040 / "pretrained__EleutherAI__pythia-160m,revision__step113000_arc_easy.jsonl",
])
def test_lm_eval_samples_correct_is_the_harness_acc_ties_included(path: Path) -> None:
    samples, _ = run_samples(path)
    assert samples["correct"].tolist() == [bool(a) for a in logged_acc(path)]
    assert margins_summary(samples).loc[0, "accuracy"] == pytest.approx(np.mean(logged_acc(path)))


def test_lm_eval_samples_ties_take_the_first_choice() -> None:
    # hellaswag (0.4.2 file): doc 1 ties choices 0 and 1 with target 0 -> correct;
    # doc 2 ties them with target 1 -> wrong (numpy argmax takes the first)
    samples, _ = run_samples(V042 / "samples_hellaswag_2024-04-11T08-21-47.930566.json")
    assert set(samples["task"]) == {"hellaswag"}
    tied = samples[samples["margin"] == 0.0]
    assert tied["example_id"].tolist() == [1, 2] and tied["correct"].tolist() == [True, False]


def test_lm_eval_samples_directory_skips_generative_tasks() -> None:
    samples, notes = run_samples(LM8B.parent)
    assert set(samples["task"]) == {"arc_challenge", "truthfulqa_mc1"}
    assert notes == ["skipped samples_gsm8k_2024-07-02T14-05-09.512377.jsonl: task gsm8k has no "
                     "multiple-choice log-likelihood samples (a generative or loglikelihood task)"]
    samples, notes = run_samples(V042)  # 0.4.2 naming: samples_<task>_<time>.json arrays
    assert set(samples["task"]) == {"hellaswag"} and "lambada_openai" in notes[0]
    with pytest.raises(ValueError, match="gsm8k has no multiple-choice"):
        lm_eval_samples(LM8B.parent / "samples_gsm8k_2024-07-02T14-05-09.512377.jsonl",
                        family="f", model="m")


def test_lm_eval_samples_model_defaults_to_the_runs_results() -> None:
    samples, _ = run_samples(LM8B.parent, family=None, model=None)
    assert set(samples["model"]) == set(samples["family"]) == {"example-org/lm-8b"}
    samples, _ = run_samples(V040, family=None, model=None)
    assert set(samples["model"]) == {"EleutherAI/pythia-160m"}


def test_lm_eval_samples_without_a_model_name_fails(tmp_path: Path) -> None:
    copy = tmp_path / SAMPLES.name
    copy.write_text(SAMPLES.read_text())
    with pytest.raises(ValueError, match="give the model"):
        lm_eval_samples(copy)


def test_lm_eval_sample_files_namings_and_latest_run(tmp_path: Path) -> None:
    assert lm_eval_sample_files(V040) == {
        "arc_easy": V040 / "pretrained__EleutherAI__pythia-160m,revision__step113000_arc_easy.jsonl"}
    # without a results JSON beside it, the legacy task name is what follows the last value
    legacy = tmp_path / "pretrained__org__m,dtype__float16_winogrande.jsonl"
    legacy.write_text("[]")
    for stamp in ("2024-05-01T10-00-00.000001", "2024-06-01T10-00-00.000001"):
        (tmp_path / f"samples_arc_easy_{stamp}.jsonl").write_text("")
    (tmp_path / "results_2024-06-01T10-00-00.000001.json").write_text("{}")
    files = lm_eval_sample_files(tmp_path)
    assert files == {"arc_easy": tmp_path / "samples_arc_easy_2024-06-01T10-00-00.000001.jsonl",
                     "winogrande": legacy}
    assert lm_eval_sample_files(tmp_path, stamp="2024-05-01T10-00-00.000001") == {
        "arc_easy": tmp_path / "samples_arc_easy_2024-05-01T10-00-00.000001.jsonl"}


def test_lm_eval_samples_several_correct_answers_skipped(tmp_path: Path) -> None:
    # truthfulqa_mc2 logs a probability mass as acc: no single correct choice, so no margin
    mc2 = {"doc_id": 0, "target": "0", "filtered_resps": [["-1.0", "False"], ["-2.0", "False"],
                                                          ["-3.0", "False"]], "acc": 0.62}
    (tmp_path / "samples_truthfulqa_mc2_2024-01-01T00-00-00.000000.jsonl").write_text(
        json.dumps(mc2) + "\n")
    (tmp_path / SAMPLES.name).write_text(SAMPLES.read_text())
    samples, notes = run_samples(tmp_path)
    assert set(samples["task"]) == {"arc_easy"}
    assert "truthfulqa_mc2 logs a per-sample acc of 0.62" in notes[0]


def test_margins_summary() -> None:
    samples, _ = run_samples(LM_EVAL)  # a directory of samples files
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
    samples, _ = run_samples(path)
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
