"""The ObsScaling adapter on a real slice (tests/fixtures/obsscaling_slice.csv, source in tests/fixtures/README.md)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecast.adapters import OBSSCALING_CAPABILITY_TASKS, obsscaling, read_eval_table

SLICE = Path(__file__).resolve().parent / "fixtures" / "obsscaling_slice.csv"


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return obsscaling(SLICE)


def test_models_without_tokens_and_unknown_tasks_are_left_out(table) -> None:
    assert set(table["family"]) == {"Pythia"} and table["model"].nunique() == 8  # RWKV has no token count
    assert "TruthfulQA" not in set(table["task"])
    assert set(table["metric"]) == {"acc", "exact_match", "capability"}  # score -> acc; bleu dropped


def test_success_rows_keep_the_source_values_and_get_chance_rates(table) -> None:
    raw = pd.read_csv(SLICE)
    source = raw[(raw["model"] == "EleutherAI/pythia-1b-deduped") & (raw["task"] == "MMLU")]["value"].item()
    mmlu = table[(table["model"] == "EleutherAI/pythia-1b-deduped") & (table["task"] == "MMLU")]
    assert mmlu["value"].item() == source and mmlu["chance"].item() == 0.25 and mmlu["metric"].item() == "acc"
    assert table.loc[table["task"] == "arithmetic_2da", "chance"].eq(0.0).all()
    assert np.allclose(table["compute_flops"], 6 * table["params"] * table["tokens"])


def test_capability_is_the_mean_normalised_logit_of_the_four_benchmarks(table) -> None:
    capability = table[table["metric"] == "capability"]
    assert (capability["task"] == "*").all() and capability["kind"].eq("smooth").all()
    assert capability["higher_is_better"].all() and len(capability) == 8
    one = table[table["model"] == "EleutherAI/pythia-12b-deduped"]
    scores = one[one["task"].isin(OBSSCALING_CAPABILITY_TASKS)]
    p = ((scores["value"] - scores["chance"]) / (1 - scores["chance"])).clip(0.01, 0.99)
    assert one.loc[one["metric"] == "capability", "value"].item() == pytest.approx(np.mean(np.log(p / (1 - p))))
    by_size = capability.sort_values("params")["value"].to_numpy()
    assert by_size[-1] > by_size[0]  # the 12B model is more capable than the 70M one


def test_written_table_reads_back(table, tmp_path) -> None:
    path = tmp_path / "obs.csv"
    table.to_csv(path, index=False)
    again = read_eval_table(path)
    assert len(again) == len(table) and set(again["metric"]) == set(table["metric"])


def test_only_final_checkpoints() -> None:
    with pytest.raises(ValueError, match="checkpoints"):
        obsscaling(SLICE, checkpoints="all")
