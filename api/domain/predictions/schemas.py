"""Prediction bodies. Exactly one of probability | quantiles | cdf | commitment per submission."""
from __future__ import annotations

from datetime import datetime

from pydantic import Field

from api.schemas import RequestBody, ResponseBody


class Quantiles(RequestBody):
    """Quantile levels in (0, 1) (must include 0.05, 0.5, 0.95) and strictly increasing values
    inside the question's bounds, in the question's unit."""

    levels: list[float] = Field(min_length=3, max_length=99)
    values: list[float] = Field(min_length=3, max_length=99)


class PredictionBody(RequestBody):
    """The forecast itself. Binary: `probability` in [0.001, 0.999]. Numeric: `quantiles`, or `cdf`
    = cumulative probabilities at the question's 21 `grid` edges (nondecreasing, in [0, 1])."""

    probability: float | None = None
    quantiles: Quantiles | None = None
    cdf: list[float] | None = Field(default=None, max_length=21)


class PredictionSubmit(PredictionBody):
    """A forecast, or only `commitment` = sha256(salt || canonical JSON of the forecast) in hex."""

    commitment: str | None = Field(default=None, min_length=64, max_length=64, pattern=r"^[0-9a-f]{64}$")


class PredictionOpening(RequestBody):
    """The opening of a commitment: the salt and the forecast it committed to."""

    salt: str = Field(min_length=8, max_length=200)
    prediction: PredictionBody


class PredictionOut(ResponseBody):
    """One stored version. `version` counts the participant's submissions on the question (1-based)."""

    id: str
    question_id: str
    participant_id: str
    version: int
    created_at: datetime
    kind: str
    probability: float | None
    quantiles: dict[str, list[float]] | None
    cdf: list[float] | None
    commitment: str | None
    opened_at: datetime | None


class AggregateOut(ResponseBody):
    """The community aggregate of the forecasts that count. Binary: `median` and `pooled`
    (extremised log-odds pool) probabilities; numeric: `quantiles` (levels, values in the question's unit)."""

    question_id: str
    kind: str
    n_forecasts: int
    median: float | None = None
    pooled: float | None = None
    quantiles: dict[str, list[float]] | None = None
