"""What a fitted forecaster offers its callers (the CLI, the backtests, the API): one Protocol.

:class:`models.forecaster.EmergenceForecaster` (one trend form) and
:class:`models.stacking.StackedForecaster` (several forms mixed by stacking weights) both satisfy
:class:`Forecaster`. The module imports no PyMC, ArviZ or model code at run time, so the API can
import it for its type hints without loading the model stack.

Units: compute is log10 training FLOPs; success is a rate in [0, 1]; predictive draws have shape
(S, n) for S posterior draws and n target rows.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from forecast.design import Design
    from models.config import FitConfig
    from models.sampling import Diagnostics


@runtime_checkable
class Forecaster(Protocol):
    """A fit of the emergence model that predicts success and emergence scales.

    ``design`` and ``diagnostics`` are None before :meth:`fit` (or ``load``) has run.
    """

    config: FitConfig

    @property
    def design(self) -> Design | None:
        """The arrays the fit was built from (tasks, models, standardisation)."""

    @property
    def diagnostics(self) -> Diagnostics | None:
        """Convergence diagnostics and timings of the fit."""

    def fit(self, table: pd.DataFrame, progress: bool = True, margins: pd.DataFrame | None = None) -> Forecaster:
        """Fit to a validated eval table; returns the fitted forecaster itself."""

    def predictive_draws(self, targets: pd.DataFrame, seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(success draws (S, n) in [0, 1], smooth-metric draws (S, n) in the metric's units)."""

    def predict(self, targets: pd.DataFrame, seed: int | None = None) -> pd.DataFrame:
        """Predicted success quantiles per target row (``models.forecaster.PRED_COLUMNS``)."""

    def emergence_draws(self, task: str, level: float | None = 0.5, success_at: float | None = None) -> np.ndarray:
        """Emergence compute per draw for one task (log10 FLOPs; ``+inf`` beyond the search range)."""

    def emergence(self, level: float | None = 0.5, success_at: float | None = None,
                  reached_by: float | None = None) -> pd.DataFrame:
        """Per-task emergence summary (the CLI's EMERGENCE columns, ``p_reached_by`` when asked)."""

    def search_range(self) -> tuple[float, float]:
        """(lowest, highest) log10 FLOPs searched for emergence."""

    def save(self, path: str | Path) -> Path:
        """Write the fit as NetCDF; returns the path of the (first) file written."""
