"""Blind backtests: fit on the small models only, predict every held-out model, score every method alike.

A backtest cuts an eval table at a parameter count (or training compute): models at or below the cut
are the training set, models above it are held out. Four methods are fitted on the training rows
only and predict each held-out (model, task) success rate from its size and training tokens alone:

* ``hierarchical``: :class:`models.forecaster.EmergenceForecaster` (posterior predictive draws) with
  the config's trend form (``compute`` when the config's trend is ``stacked``, the default);
* ``hierarchical_stacked``: :class:`models.stacking.StackedForecaster`, the hierarchical model under
  every trend form (``compute``, ``params_tokens``) mixed by Bayesian stacking weights from a
  leave-largest-out check on the training rows (each form refitted without the training set's
  largest models), widened beyond the training range by the link discrepancy that check estimates
  (weights, discrepancy and check reported in the diagnostics); the fit of the config's own form is
  shared with ``hierarchical``;
* ``B1_logistic`` and ``B2_two_step``: the baselines of :mod:`forecast.baselines` (bootstrap draws).

A held-out model's smooth metric is never used: the hierarchical models and B2 predict it from their
trend in compute. Every method's draws are scored by the same :mod:`forecast.scoring` code.

Checkpoints: training rows follow ``config.link_checkpoints`` (with ``"all"`` the intermediate
checkpoints of the *training* runs inform the hierarchical model's link; the baselines use final
checkpoints only). Held-out targets are always final checkpoints, and the cut and the extrapolation
ratios use each run's final-checkpoint size and compute.

Several cuts form a *suite* (:func:`run_backtest_suite`): every scenario predicts the same models,
those above the largest cut, so scenarios differ only in how far they extrapolate. Without cuts the
suite is :func:`default_cuts`, the extrapolation-matched default.

Every scenario also reports each method's jump discrimination, and with ``shuffle_permutations`` the
shuffle test (:mod:`models.backtest.shuffle`).

The package, by job: :mod:`models.backtest.cuts` (cuts, the default suite, extrapolation ratios and
their bins), :mod:`models.backtest.run` (the runners per method, one scenario, a suite) and
:mod:`models.backtest.report` (scoring, summaries, tables, the files written; the units of every
column). The names below are its public entry points.
"""
from models.backtest.cuts import (RATIO_BIN_EDGES, RATIO_BINS, Cut, default_cuts, extrapolation_ratios,
                                  ratio_bin_labels, split_by_size)
from models.backtest.report import (ALL_BIN, METHODS, PREDICTION_COLUMNS, SUMMARY_COLUMNS, BacktestResult,
                                    BacktestSuite, format_summary_table, format_weights, score_samples, summarize)
from models.backtest.run import run_backtest, run_backtest_suite

__all__ = [
    "ALL_BIN", "METHODS", "PREDICTION_COLUMNS", "RATIO_BINS", "RATIO_BIN_EDGES", "SUMMARY_COLUMNS", "BacktestResult",
    "BacktestSuite", "Cut", "default_cuts", "extrapolation_ratios", "format_summary_table", "format_weights",
    "ratio_bin_labels", "run_backtest", "run_backtest_suite", "score_samples", "split_by_size", "summarize",
]
