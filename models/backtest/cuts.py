"""Where a backtest cuts an eval table, and how far each held-out model lies beyond the cut.

A :class:`Cut` trains on the models at or below a parameter count (or training compute) and holds
out the rest (:func:`split_by_size`). :func:`default_cuts` picks the extrapolation-matched default
suite from the sizes present. :func:`extrapolation_ratios` measures each target's training compute
over the largest training run of its family (1 = no extrapolation, 10 = ten times more compute), and
:func:`ratio_bin_labels` sorts the ratios into ``RATIO_BIN_EDGES``' bins.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecast.design import (MODEL_KEY, is_final_checkpoint, largest_compute_by_family,
                             largest_log10_tokens_per_param_by_family, model_sizes, row_sizes, select_rows)
from models.config import FitConfig

RATIO_BIN_EDGES: tuple[float, ...] = (0.0, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0, math.inf)
"""Extrapolation-ratio bins (right-closed): <=1x, 1-3x, 3-10x, 10-30x, 30-100x, 100-300x, >300x."""


def _bin_label(lo: float, hi: float) -> str:
    if lo == 0.0:
        return f"<={hi:g}x"
    return f">{lo:g}x" if math.isinf(hi) else f"{lo:g}-{hi:g}x"


RATIO_BINS: tuple[str, ...] = tuple(_bin_label(lo, hi) for lo, hi in zip(RATIO_BIN_EDGES[:-1], RATIO_BIN_EDGES[1:]))
"""The bins' labels, in order: ``<=1x``, ``1-3x``, ..., ``>300x``."""

SUITE_WINDOWS: tuple[tuple[str, float, float], ...] = (("near", 3.0, 30.0), ("far", 30.0, 300.0))
"""Default-suite windows of a cut's *reach* (compute of the largest held-out run over the largest
training run, right-closed): about one and about two decades of extrapolation."""
SUITE_MIN_TRAIN_RUNS = 3
SUITE_MIN_TRAIN_SIZES = 2
"""A default-suite cut must leave at least this many training runs, in at least this many sizes."""


@dataclass(frozen=True)
class Cut:
    """A training cut: models whose ``by`` (``"params"`` or ``"flops"``) is <= ``value`` train."""

    by: str
    value: float

    def __post_init__(self) -> None:
        if self.by not in ("params", "flops"):
            raise ValueError(f"a cut is by 'params' or 'flops', got {self.by!r}")
        if not (isinstance(self.value, (int, float, np.number)) and np.isfinite(self.value) and self.value > 0):
            raise ValueError(f"the training cut must be a positive number, got {self.value!r}")

    @property
    def column(self) -> str:
        return "params" if self.by == "params" else "compute_flops"

    @property
    def label(self) -> str:
        """``params<=760M`` (two significant digits) or ``flops<=1.7e+20``."""
        return f"params<={_si(self.value)}" if self.by == "params" else f"flops<={self.value:.2g}"

    def kwargs(self) -> dict[str, float | None]:
        return {"train_max_params": self.value if self.by == "params" else None,
                "train_max_flops": self.value if self.by == "flops" else None}


def _si(value: float) -> str:
    for scale, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if value >= scale:
            return f"{float(f'{value / scale:.2g}'):g}{suffix}"
    return f"{float(f'{value:.2g}'):g}"


def split_by_size(
    rows: pd.DataFrame, train_max_params: float | None = None, train_max_flops: float | None = None,
    heldout_above: float | None = None, heldout_at_most: float | None = None,
    train_multiples: tuple[float, float] | None = None, heldout_multiples: tuple[float, float] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(training rows, held-out rows): a *model* trains when its final params (or compute) is <= the cut.

    Every row of a training model is kept (its intermediate checkpoints included, if any); held-out
    rows are final checkpoints only. ``heldout_above`` (same unit as the cut, >= it) holds out only
    models above it: models between the cut and ``heldout_above`` are neither trained on nor predicted;
    ``heldout_at_most`` (same unit) holds out only models at or below it. ``train_multiples`` /
    ``heldout_multiples`` ((low, high), inclusive, in Chinchilla multiples: tokens / (20 params))
    restrict the training / held-out models to those training lengths; a run at or below the cut
    that ``train_multiples`` leaves out is held out (when its length is in ``heldout_multiples``).
    """
    if (train_max_params is None) == (train_max_flops is None):
        raise ValueError("give exactly one of train_max_params or train_max_flops")
    cut = Cut("params", train_max_params) if train_max_params is not None else Cut("flops", train_max_flops)
    if heldout_above is not None and not heldout_above >= cut.value:
        raise ValueError(f"heldout_above ({heldout_above!r}) must be at least the cut ({cut.value!r})")
    sizes = model_sizes(rows)
    values = pd.to_numeric(sizes[cut.column], errors="coerce").to_numpy(float)
    if not np.all(np.isfinite(values)):
        raise ValueError(f"every selected model needs a finite {cut.column!r} to apply the cut")
    key = pd.MultiIndex.from_frame(rows[MODEL_KEY])
    size_of = pd.Series(values, index=pd.MultiIndex.from_frame(sizes[MODEL_KEY]))
    row_size = size_of.reindex(key).to_numpy(float)
    multiple_of = pd.Series(chinchilla_multiples(sizes), index=size_of.index)
    row_multiple = multiple_of.reindex(key).to_numpy(float)
    below = row_size <= cut.value
    train = below if train_multiples is None else below & _within(row_multiple, train_multiples)
    heldout = row_size > (cut.value if heldout_above is None else heldout_above)
    if heldout_at_most is not None:
        heldout &= row_size <= heldout_at_most
    heldout |= below & ~train  # runs of training sizes left out by their length
    if heldout_multiples is not None:
        heldout &= _within(row_multiple, heldout_multiples)
    heldout &= is_final_checkpoint(rows).to_numpy()
    return rows[train].reset_index(drop=True), rows[heldout].reset_index(drop=True)


CHINCHILLA_TOKENS_PER_PARAM = 20.0
"""Tokens per parameter of a 1xC (Chinchilla-optimal) run, as the OLMo ladder names its runs."""


def chinchilla_multiples(frame: pd.DataFrame) -> np.ndarray:
    """Training length of each row in Chinchilla multiples, tokens / (20 params), shape (n,)."""
    params, tokens, _ = row_sizes(frame)
    return tokens / (CHINCHILLA_TOKENS_PER_PARAM * params)


def _within(values: np.ndarray, bounds: tuple[float, float]) -> np.ndarray:
    lo, hi = bounds
    return (values >= lo) & (values <= hi)


def extrapolation_ratios(targets: pd.DataFrame, training_rows: pd.DataFrame) -> np.ndarray:
    """Target compute over the largest final-checkpoint training compute of its family (of all
    families if none), shape (n,)."""
    largest = largest_compute_by_family(training_rows)
    reference = targets["family"].astype(str).map(largest).fillna(float(largest.max())).to_numpy(float)
    return targets["compute_flops"].to_numpy(float) / reference


def token_ratios(targets: pd.DataFrame, training_rows: pd.DataFrame) -> np.ndarray:
    """Target tokens per parameter over the largest tokens per parameter of a training run of its
    family (of all families if none), shape (n,): how far a token-extrapolation scenario reaches."""
    largest = 10.0 ** largest_log10_tokens_per_param_by_family(training_rows)
    reference = targets["family"].astype(str).map(largest).fillna(float(largest.max())).to_numpy(float)
    params, tokens, _ = row_sizes(targets)
    return tokens / params / reference


def ratio_bin_labels(ratios: np.ndarray) -> np.ndarray:
    """Label of each extrapolation ratio's bin (``RATIO_BIN_EDGES``, right-closed)."""
    index = np.searchsorted(np.asarray(RATIO_BIN_EDGES[1:-1]), np.asarray(ratios, float), side="left")
    return np.asarray(RATIO_BINS, dtype=object)[index]


def one_family_sizes(table: pd.DataFrame, config: FitConfig, what: str, hint: str = "") -> pd.DataFrame:
    """:func:`model_sizes` of the config's selection of ``table``; ValueError naming ``what`` when the
    selection spans several families."""
    smooth = config.smooth_metric  # --smooth auto chooses per scenario; the cuts need only the runs' sizes
    if smooth == "auto":
        smooth = str(table.loc[table["kind"].astype(str) == "smooth", "metric"].iloc[0])
    rows = select_rows(table, smooth, config.success_metric, config.tasks, config.families)
    families = sorted(rows["family"].astype(str).unique())
    if len(families) > 1:
        raise ValueError(f"{what} needs one model family, the selection has {families}: choose one (--family){hint}")
    return model_sizes(rows)


def default_cuts(table: pd.DataFrame, config: FitConfig) -> list[Cut]:
    """The extrapolation-matched default suite: up to two parameter cuts derived from the sizes present.

    A candidate cut sits at each model size (params) that leaves at least ``SUITE_MIN_TRAIN_RUNS``
    training runs in at least ``SUITE_MIN_TRAIN_SIZES`` sizes (a trend in N needs two sizes). Its
    *reach* is the compute of the largest run above the cut over the largest run at or below it (the
    scenario's largest extrapolation ratio). For each window of ``SUITE_WINDOWS`` (``near``: reach
    3-30x, about one decade; ``far``: 30-300x, about two) the suite takes the smallest such cut, i.e.
    the longest extrapolation inside the window. Largest cut first.
    Raises ValueError when the selection spans several families or no cut qualifies.
    """
    sizes = one_family_sizes(table, config, "the default backtest suite", " or give the cut (--train-max-params)")
    params = pd.to_numeric(sizes["params"], errors="coerce").to_numpy(float)
    flops = pd.to_numeric(sizes["compute_flops"], errors="coerce").to_numpy(float)
    if not (np.all(np.isfinite(params)) and np.all(np.isfinite(flops))):
        raise ValueError("every selected model needs finite params and compute to derive the default cuts")
    reach_of: dict[float, float] = {}
    for cut in np.unique(params)[:-1]:
        train = params <= cut
        if train.sum() >= SUITE_MIN_TRAIN_RUNS and len(np.unique(params[train])) >= SUITE_MIN_TRAIN_SIZES:
            reach_of[float(cut)] = float(flops[~train].max() / flops[train].max())
    chosen = []
    for _, lo, hi in SUITE_WINDOWS:
        inside = [cut for cut, reach in reach_of.items() if lo < reach <= hi]
        if inside and min(inside) not in chosen:
            chosen.append(min(inside))
    if not chosen:
        found = ", ".join(f"{_si(c)} ({r:.3g}x)" for c, r in sorted(reach_of.items())) or "none"
        raise ValueError("no default backtest cut: no model size leaves >= 3 training runs in >= 2 sizes with "
                         f"a reach of 3-300x (candidates: {found}); give --train-max-params")
    return [Cut("params", c) for c in sorted(chosen, reverse=True)]
