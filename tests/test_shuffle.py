"""The shuffle test's parts (models/backtest/shuffle.py): derangements, relabelled smooth series,
AUC and jump discrimination, on small tables whose answers are known."""
import numpy as np
import pandas as pd
import pytest

from models.backtest.shuffle import auc, derangement, jump_discrimination, shuffle_smooth


def _rows() -> pd.DataFrame:
    rows = []
    for family in ("A", "B"):
        for i, params in enumerate([1e8, 2e8, 4e8]):
            for task in ("t1", "t2", "t3"):
                rows.append({"family": family, "model": f"{family}{i}", "params": params, "tokens": 20 * params,
                             "task": task, "metric": "bpb", "value": float(i + 10 * int(task[1]))})
                rows.append({"family": family, "model": f"{family}{i}", "params": params, "tokens": 20 * params,
                             "task": task, "metric": "acc", "value": 0.1 * i + 0.01 * int(task[1])})
    return pd.DataFrame(rows)


def test_derangement_moves_every_item() -> None:
    rng = np.random.default_rng(0)
    for n in (2, 3, 10):
        perm = derangement(n, rng)
        assert sorted(perm) == list(range(n)) and not np.any(perm == np.arange(n))
    with pytest.raises(ValueError):
        derangement(1, rng)


def test_shuffle_smooth_relabels_only_the_smooth_series_within_each_family() -> None:
    rows = _rows()
    shuffled = shuffle_smooth(rows, "bpb", np.random.default_rng(1))
    success = rows["metric"] == "acc"
    pd.testing.assert_frame_equal(shuffled[success], rows[success])
    smooth = ~success
    assert (shuffled.loc[smooth, "task"] != rows.loc[smooth, "task"]).all()  # no task keeps its own series
    for (family, model), group in shuffled[smooth].groupby(["family", "model"]):
        assert sorted(group["task"]) == ["t1", "t2", "t3"]  # each task still has exactly one series
    model_level = rows.assign(task=np.where(smooth, "*", rows["task"]))
    with pytest.raises(ValueError, match="nothing to shuffle"):
        shuffle_smooth(model_level, "bpb", np.random.default_rng(1))


def test_auc_counts_ranked_pairs() -> None:
    assert auc(np.array([0.1, 0.2, 0.8, 0.9]), np.array([False, False, True, True])) == 1.0
    assert auc(np.array([0.9, 0.8, 0.2, 0.1]), np.array([False, False, True, True])) == 0.0
    assert auc(np.array([0.5, 0.5]), np.array([False, True])) == 0.5
    assert np.isnan(auc(np.array([0.1, 0.2]), np.array([True, True])))


def test_jump_discrimination_scores_predicted_against_actual_jumps() -> None:
    rows = _rows()
    training = rows[rows["params"] < 4e8]  # largest training run: A1 / B1, success 0.1 + 0.01 task
    start = {"t1": 0.11, "t2": 0.12, "t3": 0.13}
    jumps = {"t1": 0.02, "t2": 0.15, "t3": 0.30}  # t2 and t3 jump by more than 10 points
    predictions = pd.DataFrame([{"method": m, "family": "A", "task": t, "observed": start[t] + jumps[t],
                                 "median": start[t] + (jumps[t] if m == "good" else -jumps[t])}
                                for m in ("good", "reversed") for t in start])
    scores = {r["method"]: r for r in jump_discrimination(predictions, training, "bpb")}
    assert scores["good"]["n"] == 3 and scores["good"]["n_jumped"] == 2
    assert scores["good"]["spearman"] == pytest.approx(1.0) and scores["good"]["auc"] == 1.0
    assert scores["reversed"]["spearman"] == pytest.approx(-1.0) and scores["reversed"]["auc"] == 0.0
