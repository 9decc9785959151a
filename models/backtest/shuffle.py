"""Does the smooth metric carry task-specific information? The shuffle test and jump discrimination.

* :func:`shuffle_smooth` gives each task the smooth series of another task of the same family (a
  random derangement); :func:`shuffle_test` refits the hierarchical model on such training rows a
  fixed number of times (seeded) and compares its held-out success predictions with the real
  pairing's: ratios > 1 mean the real pairing predicts better.
* :func:`jump_discrimination` asks how well each method's predicted jump (predicted median success
  at the target minus the largest training run's observed success on the same task) ranks the
  actual jumps: Spearman correlation, and the AUC of the predicted jump for "jumped by more than
  :data:`JUMP_POINTS` points".

Units: success is a rate in [0, 1]; CRPS and MAE ratios are shuffled / real (dimensionless).
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy import stats

from forecast.design import is_final_checkpoint, row_sizes
from forecast.scoring import crps_ensemble

JUMP_POINTS = 10.0
"""An actual jump larger than this (percentage points of success) counts as "jumped" for the AUC."""
MODEL_LEVEL_TASK = "*"


def derangement(n: int, rng: np.random.Generator) -> np.ndarray:
    """A random permutation of ``range(n)`` with no fixed point (n >= 2), by rejection."""
    if n < 2:
        raise ValueError("a derangement needs at least 2 items")
    while True:
        perm = rng.permutation(n)
        if not np.any(perm == np.arange(n)):
            return perm


def shuffle_smooth(rows: pd.DataFrame, smooth_metric: str, rng: np.random.Generator) -> pd.DataFrame:
    """``rows`` with every task's smooth-metric rows relabelled as another task's of the same family
    (success rows untouched). ValueError when the smooth metric is per model (task ``*``) or a family
    has fewer than 2 tasks with smooth rows: there is nothing to shuffle."""
    out = rows.copy()
    is_smooth = (out["metric"].astype(str) == smooth_metric).to_numpy()
    for family in pd.unique(out["family"]):
        own = is_smooth & (out["family"] == family).to_numpy()
        tasks = sorted(set(out.loc[own, "task"].astype(str)) - {MODEL_LEVEL_TASK})
        if len(tasks) < 2:
            raise ValueError(f"family {family!r}: the smooth metric {smooth_metric!r} has fewer than 2 per-task "
                             "series, so there is nothing to shuffle across tasks")
        perm = derangement(len(tasks), rng)
        mapping = {task: tasks[j] for task, j in zip(tasks, perm)}
        out.loc[own, "task"] = out.loc[own, "task"].astype(str).map(lambda t: mapping.get(t, t))
    return out


def largest_training_success(training_rows: pd.DataFrame, smooth_metric: str) -> pd.Series:
    """Observed success of each family's largest-compute training run, indexed by (family, task)."""
    final = training_rows[is_final_checkpoint(training_rows).to_numpy()]
    success = final[final["metric"].astype(str) != smooth_metric].copy()
    success["_flops"] = row_sizes(success)[2]
    largest = success.groupby("family")["_flops"].transform("max")
    top = success[success["_flops"] == largest]
    return top.groupby(["family", "task"])["value"].mean()


def auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` for the boolean labels ``positive`` (ties count half);
    NaN when either class is empty."""
    positive = np.asarray(positive, dtype=bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = stats.rankdata(scores)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def jump_discrimination(predictions: pd.DataFrame, training_rows: pd.DataFrame, smooth_metric: str) -> list[dict]:
    """Per method: ``n``, ``n_jumped`` (actual jump > :data:`JUMP_POINTS` points), ``spearman`` of
    predicted vs actual jump and ``auc`` of the predicted jump for "jumped" (NaN where undefined)."""
    base = largest_training_success(training_rows, smooth_metric)
    out = []
    for method in pd.unique(predictions["method"]):
        own = predictions[predictions["method"] == method]
        start = np.array([base.get((f, t), np.nan) for f, t in zip(own["family"], own["task"])], dtype=float)
        predicted = own["median"].to_numpy(float) - start
        actual = own["observed"].to_numpy(float) - start
        keep = np.isfinite(predicted) & np.isfinite(actual)
        jumped = 100.0 * actual[keep] > JUMP_POINTS
        rho = stats.spearmanr(predicted[keep], actual[keep]).statistic if keep.sum() >= 3 else float("nan")
        out.append({"method": str(method), "n": int(keep.sum()), "n_jumped": int(jumped.sum()),
                    "spearman": float(rho), "auc": auc(predicted[keep], jumped)})
    return out


def shuffle_test(training_rows: pd.DataFrame, targets: pd.DataFrame, real_draws: np.ndarray, smooth_metric: str,
                 fit_predict: Callable[[pd.DataFrame], np.ndarray], permutations: int, seed: int) -> dict:
    """Refit ``permutations`` times on training rows with the smooth series shuffled across tasks
    (:func:`shuffle_smooth`, seeded by ``seed``) and compare held-out predictions with the real pairing's.

    ``real_draws`` (n_targets, S): the real fit's success draws; ``fit_predict(rows)`` fits on
    ``rows`` and returns draws of the same shape. Returns per-permutation CRPS and MAE ratios
    (shuffled / real), their mean, min and max, the share of permutations the real pairing beat
    on CRPS, and each permutation's jump Spearman (predicted vs actual jump)."""
    if permutations < 1:
        raise ValueError("the shuffle test needs at least 1 permutation")
    observed = targets["observed"].to_numpy(float)
    real_crps = float(np.mean(crps_ensemble(observed, real_draws)))
    real_mae = float(np.mean(np.abs(np.median(real_draws, axis=1) - observed)))
    rng = np.random.default_rng([seed, 19])
    crps_ratios, mae_ratios = [], []
    for _ in range(permutations):
        draws = fit_predict(shuffle_smooth(training_rows, smooth_metric, rng))
        crps_ratios.append(float(np.mean(crps_ensemble(observed, draws))) / real_crps)
        mae_ratios.append(float(np.mean(np.abs(np.median(draws, axis=1) - observed))) / real_mae)
    crps_arr, mae_arr = np.array(crps_ratios), np.array(mae_ratios)
    return {"permutations": permutations, "seed": seed, "crps_real_points": 100.0 * real_crps,
            "mae_real_points": 100.0 * real_mae, "crps_ratios": crps_ratios, "mae_ratios": mae_ratios,
            "crps_ratio_mean": float(crps_arr.mean()), "crps_ratio_min": float(crps_arr.min()),
            "crps_ratio_max": float(crps_arr.max()), "mae_ratio_mean": float(mae_arr.mean()),
            "mae_ratio_min": float(mae_arr.min()), "mae_ratio_max": float(mae_arr.max()),
            "real_better_share": float(np.mean(crps_arr > 1.0))}


def format_shuffle(result: dict) -> str:
    """One line: the CRPS and MAE ratios (mean, range) over the permutations."""
    return (f"shuffle test ({result['permutations']} permutations, {result.get('method', 'hierarchical')}): "
            f"CRPS shuffled/real {result['crps_ratio_mean']:.2f} (range {result['crps_ratio_min']:.2f}-"
            f"{result['crps_ratio_max']:.2f}), MAE {result['mae_ratio_mean']:.2f} (range "
            f"{result['mae_ratio_min']:.2f}-{result['mae_ratio_max']:.2f}); the real pairing predicts better in "
            f"{100 * result['real_better_share']:.0f}% of permutations")


def format_discrimination(rows: list[dict]) -> str:
    """One line per method: Spearman and AUC of the predicted jump."""
    return "\n".join(f"jump discrimination, {r['method']}: Spearman {r['spearman']:.2f}, AUC(jump > "
                     f"{JUMP_POINTS:.0f} pts) {r['auc']:.2f} ({r['n_jumped']} of {r['n']} jumped)" for r in rows)
