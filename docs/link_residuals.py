"""Where the OLMo ladder's runs sit relative to a per-task probit link (docs/backtests.md,
"Calibration of the central intervals"): fit ``success = chance + (top - chance) Phi((threshold - bpb)
/ spread)`` to each task's runs at or below ``--max-params`` by least squares, then average the
residuals (points) by training length (Chinchilla multiple) and by size, and split their spread into a
run-level part (shared by a run's tasks) and the rest. Training runs only: pass the backtest's cut.

    python -m docs.link_residuals --max-params 7.6e8
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import curve_fit
from scipy.stats import norm

DATA = Path(__file__).resolve().parents[1] / "examples" / "data" / "olmo_ladder.csv"


def residuals(table: pd.DataFrame, max_params: float) -> pd.DataFrame:
    """One row per (run, task) whose link fit converged, with its residual ``r`` in points."""
    rows = table[table["params"] <= max_params]
    wide = rows.pivot_table(index=["model", "task", "params", "chinchilla_multiple"], columns="metric",
                            values="value").reset_index()
    wide["success"] = wide["len_norm"].fillna(wide["acc"])
    chance = rows.groupby("task")["chance"].max()
    parts = []
    for task, group in wide.groupby("task"):
        def link(s, threshold, spread, top, c=float(chance[task])):
            return c + (top - c) * norm.cdf((threshold - s) / spread)
        try:
            fitted, _ = curve_fit(link, group["bpb"], group["success"], p0=[group["bpb"].median(), 0.2, 0.9],
                                  maxfev=20000)
        except RuntimeError:  # no convergence: the task is left out
            continue
        parts.append(group.assign(r=100 * (group["success"] - link(group["bpb"], *fitted))))
    return pd.concat(parts, ignore_index=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m docs.link_residuals", description=__doc__.split("\n")[0])
    parser.add_argument("--max-params", type=float, required=True, help="use the runs with params <= this")
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args(argv)
    res = residuals(pd.read_csv(args.data), args.max_params)
    print("tasks:", sorted(res["task"].unique()))
    print("mean residual by Chinchilla multiple (points):", res.groupby("chinchilla_multiple")["r"].mean().round(2).to_dict())
    print("mean residual by params (points):", res.groupby("params")["r"].mean().round(2).to_dict())
    x = np.c_[np.ones(len(res)), np.log10(res["chinchilla_multiple"]), np.log10(res["params"])]
    coef = np.linalg.lstsq(x - np.r_[0, x[:, 1:].mean(axis=0)], res["r"], rcond=None)[0]
    print(f"points per decade: tokens/param {coef[1]:.2f}, params {coef[2]:.2f}")
    print(f"residual sd {res['r'].std():.2f} points; of run means {res.groupby('model')['r'].mean().std():.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
