"""Make the figures under docs/img/ from the shipped example data:

- `emergence.png`: the emergence chart (models.plots.emergence_curve) of one task of a small fit on
  the OLMo ladder (examples/data/olmo_ladder.csv), with an OLMo-2-7B-sized model (7B parameters,
  4T tokens) marked;
- `reliability.png`: the reliability diagram and PIT histogram (models.plots.calibration_plots) of
  a simulated forecaster that is a little over-confident: its binary forecasts are too extreme and
  its numeric intervals too narrow, so the reliability curve is flatter than the diagonal and the
  PIT histogram U-shaped. Its bins, PIT counts and coverage are computed as the scoring service does.

    python docs/make_figures.py                       # fits (a few minutes), writes docs/img/*.png
    python docs/make_figures.py --save-fit saved.nc   # ... and keeps the fit
    python docs/make_figures.py --fit saved.nc        # reuses a saved fit of the same tasks

Run from the repository root with the package importable (`pip install -e .`).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "examples" / "data" / "olmo_ladder.csv"
TASKS = ["arc_challenge", "hellaswag", "mmlu_stem", "csqa"]
SHOWN = "arc_challenge"
MARKS = {"7B params, 4T tokens": float(np.log10(6 * 7e9 * 4e12))}
SIZE_INCHES = (8.0, 5.2)  # 800 x 520 pixels at the plots' 100 dpi


def fitted(saved: Path | None, draws: int):
    """A fit of TASKS on the OLMo ladder: loaded from `saved` if given, else sampled now."""
    from forecast.evaltable import validate_eval_table
    from models.config import FitConfig
    from models.forecaster import EmergenceForecaster

    if saved is not None:
        return EmergenceForecaster.load(saved)
    table = pd.read_csv(DATA)
    table = validate_eval_table(table[table["task"].isin(TASKS)], source=str(DATA))
    config = FitConfig(tasks=TASKS, success_metric=["len_norm", "acc"], draws=draws, tune=draws, chains=2, seed=7,
                       trend="compute")
    return EmergenceForecaster(config).fit(table, progress=False)


def simulated_calibration(n_binary: int = 400, n_numeric: int = 400, seed: int = 11) -> dict:
    """Reliability bins, Brier score, PIT counts and coverage of a simulated over-confident forecaster.

    Binary: the true probability q ~ Beta(2, 2); the forecast pushes it away from 1/2 (logit x 1.6);
    the outcome ~ Bernoulli(q). Numeric: outcome ~ Normal(mu, 1), forecast Normal(mu, 0.6), so the
    PIT is Phi(z / 0.6), piled up at 0 and 1."""
    from scipy import special, stats

    from forecast import scoring

    rng = np.random.default_rng(seed)
    q = rng.beta(2, 2, n_binary)
    p = special.expit(1.6 * special.logit(q))
    o = (rng.random(n_binary) < q).astype(float)
    b = scoring.reliability_bins(p, o, 10)
    bins = [{"lower": float(b["lower"][k]), "upper": float(b["upper"][k]), "count": int(b["count"][k]),
             "mean_forecast": float(b["mean_forecast"][k]) if b["count"][k] else None,
             "observed_frequency": float(b["observed_frequency"][k]) if b["count"][k] else None} for k in range(10)]
    pit = stats.norm.cdf(rng.standard_normal(n_numeric) / 0.6)
    return {"bins": bins, "pit_histogram": scoring.pit_histogram(pit, 10).tolist(),
            "brier": float(np.mean((p - o) ** 2)),
            "coverage": {"coverage_50": float(np.mean((pit >= 0.25) & (pit <= 0.75))),
                         "coverage_90": float(np.mean((pit >= 0.05) & (pit <= 0.95)))},
            "title": f"@simulated-bot: {n_binary} binary, {n_numeric} numeric forecasts resolved"}


def main() -> None:
    from models.plots import calibration_plots, emergence_curve

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fit", type=Path, help=f"a saved fit of {', '.join(TASKS)} (default: fit now)")
    parser.add_argument("--save-fit", type=Path, help="write the new fit here (NetCDF)")
    parser.add_argument("--draws", type=int, default=500, help="draws (and tuning steps) per chain of a new fit")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    forecaster = fitted(args.fit, args.draws)
    if args.save_fit is not None and args.fit is None:
        forecaster.save(args.save_fit)
    emergence = args.out / "emergence.png"
    emergence.write_bytes(emergence_curve(forecaster, SHOWN, target_scales=MARKS, figsize=SIZE_INCHES))
    data = simulated_calibration()
    reliability = args.out / "reliability.png"
    reliability.write_bytes(calibration_plots(data["bins"], data["pit_histogram"], title=data["title"],
                                              brier=data["brier"], coverage=data["coverage"], figsize=SIZE_INCHES))
    for path in (emergence, reliability):
        print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path} "
              f"({path.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
