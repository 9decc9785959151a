"""From eval table to model arrays: selection, standardisation, shared series, bad input."""
import dataclasses

import numpy as np
import pandas as pd
import pytest

from forecast.design import build_design, largest_compute_by_family, row_sizes, select_rows
from forecast.evaltable import validate_eval_table


def _table(rows):
    return validate_eval_table(pd.DataFrame(rows), source="test")


def _ladder(smooth_task="t", smooth_metric="bpb", smooth_values=(1.2, 1.0, 0.9, 0.8)):
    rows = []
    for i, sv in enumerate(smooth_values):
        base = {"family": "f", "model": f"m{i}", "params": 1e8 * 2**i, "tokens": 2e9 * 2**i}
        rows.append(base | {"task": smooth_task, "metric": smooth_metric, "value": sv})
        rows.append(base | {"task": "t", "metric": "acc", "value": 0.3 + 0.1 * i, "chance": 0.25})
    return rows


def test_standardises_per_series_and_round_trips() -> None:
    design = build_design(_table(_ladder()), "bpb", "acc")
    assert design.tasks == ["t"] and design.series == ["t"]
    assert design.smooth_obs.mean() == pytest.approx(0.0) and design.smooth_obs.std() == pytest.approx(1.0)
    back = design.unstandardise(design.smooth_obs, design.smooth_series_idx)
    np.testing.assert_allclose(np.sort(back), [0.8, 0.9, 1.0, 1.2])
    np.testing.assert_allclose(design.x, np.log10(6 * 1e8 * 2e9 * 4.0 ** np.arange(4)))


def test_a_built_design_is_frozen_and_replace_makes_a_changed_copy() -> None:
    design = build_design(_table(_ladder()), "bpb", "acc")
    with pytest.raises(dataclasses.FrozenInstanceError):
        design.x0 = 0.0
    moved = dataclasses.replace(design, x0=design.x0 + 1.0)
    assert moved.x0 == design.x0 + 1.0 and moved.content_hash() != design.content_hash()
    assert dataclasses.replace(design).content_hash() == design.content_hash()


def test_row_sizes_fill_a_missing_size_from_the_other_two() -> None:
    frame = pd.DataFrame({"params": [1e9, 1e9, 1e9], "tokens": [2e10, np.nan, np.nan],
                          "compute_flops": [np.nan, 1.2e20, np.nan]})
    params, tokens, flops = row_sizes(frame)
    np.testing.assert_allclose(params, 1e9)
    np.testing.assert_allclose(tokens[:2], [2e10, 2e10])
    np.testing.assert_allclose(flops[:2], [1.2e20, 1.2e20])
    assert np.isnan(tokens[2]) and np.isnan(flops[2])
    _, tokens, flops = row_sizes(frame[["params", "tokens"]])  # an absent column counts as missing
    np.testing.assert_allclose(flops[0], 1.2e20)


def test_largest_compute_by_family_is_each_familys_largest_run() -> None:
    rows = _table(_ladder() + [r | {"family": "g", "model": f"g{r['model']}"} for r in _ladder()[:4]])
    largest = largest_compute_by_family(rows)
    assert largest.to_dict() == pytest.approx({"f": 6 * 8e8 * 1.6e10, "g": 6 * 2e8 * 4e9})


def test_higher_is_better_metric_is_flipped_so_lower_is_better() -> None:
    design = build_design(_table(_ladder(smooth_metric="p_correct", smooth_values=(0.3, 0.4, 0.5, 0.6))),
                          "p_correct", "acc")
    assert design.series_sign[0] == -1.0
    assert np.all(np.diff(design.smooth_obs[np.argsort(design.x[design.smooth_model_idx])]) < 0)


def test_perplexity_is_modelled_on_log_scale() -> None:
    design = build_design(_table(_ladder(smooth_metric="ppl", smooth_values=(40.0, 20.0, 10.0, 5.0))), "ppl", "acc")
    assert design.log_transform
    np.testing.assert_allclose(np.diff(np.sort(design.smooth_obs)), np.diff(np.sort(design.smooth_obs))[0])


def test_star_task_smooth_metric_is_one_shared_series() -> None:
    design = build_design(_table(_ladder(smooth_task="*", smooth_metric="val_loss")), "val_loss", "acc")
    assert design.series == ["*"] and list(design.task_series) == [0]
    assert len(design.success_smooth) == 4


def test_first_listed_success_metric_wins_per_task() -> None:
    rows = _ladder() + [r | {"metric": "len_norm"} for r in _ladder() if r["metric"] == "acc"]
    chosen = select_rows(_table(rows), "bpb", ["len_norm", "acc"])
    assert set(chosen["metric"]) == {"bpb", "len_norm"}


def test_unknown_task_and_missing_metric_are_clear_errors() -> None:
    table = _table(_ladder())
    with pytest.raises(ValueError, match="tasks not found"):
        build_design(table, "bpb", "acc", tasks=["nope"])
    with pytest.raises(ValueError, match="no rows with smooth metric 'nll'"):
        build_design(table, "nll", "acc")
    with pytest.raises(ValueError, match="no rows with success metric"):
        build_design(table, "bpb", "exact_match")


def test_unknown_compute_is_a_clear_error() -> None:
    rows = [{k: v for k, v in r.items() if k != "tokens"} for r in _ladder()]
    with pytest.raises(ValueError, match="training compute unknown"):
        build_design(_table(rows), "bpb", "acc")


def test_hash_ignores_row_order() -> None:
    table = _table(_ladder())
    assert build_design(table, "bpb", "acc").data_hash == build_design(table.iloc[::-1], "bpb", "acc").data_hash


def ladder_with_checkpoints(n_steps=30):
    rows = []
    for i in range(4):
        base = {"family": "f", "model": f"m{i}", "params": 1e8 * 2**i, "tokens": 2e9 * 2**i}
        for k, step in enumerate(np.linspace(100, 1000 * (i + 1), n_steps)):
            frac = (k + 1) / n_steps
            rows.append(base | {"task": "t", "metric": "bpb", "value": 1.5 - 0.1 * i - 0.3 * frac, "step": step})
            rows.append(base | {"task": "t", "metric": "acc", "value": 0.25 + 0.1 * i * frac, "chance": 0.25,
                                "step": step})
    return rows


def test_checkpoints_inform_only_the_link_and_are_thinned() -> None:
    table = _table(ladder_with_checkpoints())
    final = build_design(table, "bpb", "acc")
    everything = build_design(table, "bpb", "acc", link_checkpoints="all", checkpoints_per_run=5)
    np.testing.assert_allclose(everything.smooth_obs, final.smooth_obs)  # the trend sees final checkpoints only
    assert (~everything.success_is_checkpoint).sum() == 4
    per_run = np.bincount(everything.success_model_idx[everything.success_is_checkpoint])
    assert per_run.max() <= 5 and per_run.min() >= 3
    assert everything.data_hash != final.data_hash


def test_thinning_skips_warmup_checkpoints() -> None:
    from forecast.design import CHECKPOINT_MIN_FRACTION, select_rows

    table = _table(ladder_with_checkpoints())
    rows = select_rows(table, "bpb", "acc", link_checkpoints="all", checkpoints_per_run=50)
    last = rows.groupby("model")["step"].transform("max")
    assert (rows["step"] >= CHECKPOINT_MIN_FRACTION * last - 1e-9).all()


def test_bad_checkpoint_option_is_refused() -> None:
    with pytest.raises(ValueError, match="link_checkpoints"):
        build_design(_table(_ladder()), "bpb", "acc", link_checkpoints="some")


def _two_families(smooth_task="t"):
    rows = []
    for family, shift in (("fa", 0.0), ("fb", 0.3)):
        for row in _ladder(smooth_task=smooth_task, smooth_metric="val_loss" if smooth_task == "*" else "bpb"):
            rows.append(row | {"family": family, "value": row["value"] + (shift if row["metric"] != "acc" else 0.0)})
    return rows


def test_one_family_keeps_plain_task_names() -> None:
    design = build_design(_table(_ladder()), "bpb", "acc")
    assert design.families == ["f"] and design.base_tasks == ["t"]
    assert list(design.task_family) == [0] and list(design.task_base) == [0]
    assert design.task_key("t") == "t" and design.task_key("t", "f") == "t"
    with pytest.raises(ValueError, match="family 'g' is not in this fit"):
        design.task_key("t", "g")


def test_several_families_make_one_task_and_series_per_family() -> None:
    design = build_design(_table(_two_families()), "bpb", "acc")
    assert design.tasks == ["fa/t", "fb/t"] and design.series == ["fa/t", "fb/t"]
    assert design.families == ["fa", "fb"] and list(design.task_family) == [0, 1]
    assert design.base_tasks == ["t"] and list(design.task_base) == [0, 0]
    # each family's series is standardised on its own rows
    for k in range(2):
        obs = design.smooth_obs[design.smooth_series_idx == k]
        assert obs.mean() == pytest.approx(0.0) and obs.std() == pytest.approx(1.0)
    assert design.task_key("t", "fb") == "fb/t" and design.task_key("fa/t") == "fa/t"
    with pytest.raises(ValueError, match="several families"):
        design.task_key("t")
    with pytest.raises(ValueError, match="family 'fc' is not in this fit"):
        design.task_key("t", "fc")


def test_model_level_smooth_metric_is_one_series_per_family() -> None:
    design = build_design(_table(_two_families(smooth_task="*")), "val_loss", "acc")
    assert design.series == ["fa/*", "fb/*"] and list(design.task_series) == [0, 1]
    assert design.shared_series and len(design.success_smooth) == 8
