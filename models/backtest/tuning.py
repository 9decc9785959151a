"""The calibration *tuning scenario* (docs/backtests.md, *Calibration of the central intervals*).

Train on the runs at or below one size and predict only the next size's runs: on the OLMo-2 ladder,
the runs <= 370M predict the six 760M runs. The default suite predicts neither 760M nor anything
below it, so model changes can be judged here without touching a reported test. Writes the same
files as ``turnsignal backtest`` (one scenario)::

    python -m models.backtest.tuning --data examples/data/olmo_ladder.csv --out bt-tuning/ \
        [--draws 400] [--tune 300]
"""
from __future__ import annotations

import argparse

from forecast.adapters import read_eval_table
from models.backtest.run import run_backtest
from models.config import FitConfig

TUNING_TRAIN_MAX_PARAMS = 3.8e8
"""Train on the runs with at most this many parameters (OLMo: 190M and 370M)."""
TUNING_PREDICT_MAX_PARAMS = 7.7e8
"""Predict the runs above the training cut with at most this many parameters (OLMo: 760M)."""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="eval table")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--success", default="len_norm,acc", help="success metrics (comma list)")
    parser.add_argument("--methods", default="hierarchical,hierarchical_stacked", help="comma list")
    parser.add_argument("--draws", type=int, default=400, help="posterior draws per chain")
    parser.add_argument("--tune", type=int, default=300, help="warm-up steps per chain")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    config = FitConfig(success_metric=args.success.split(","), draws=args.draws, tune=args.tune, seed=args.seed)
    label = "tuning params<=370M->760M"
    result = run_backtest(read_eval_table(args.data), train_max_params=TUNING_TRAIN_MAX_PARAMS,
                          heldout_above=TUNING_TRAIN_MAX_PARAMS, heldout_at_most=TUNING_PREDICT_MAX_PARAMS,
                          config=config, methods=args.methods.split(","), label=label, progress=False)
    from models.backtest.report import BacktestSuite

    BacktestSuite([result]).write(args.out)


if __name__ == "__main__":
    main()
