"""Fit requests, job state, estimates."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, create_model

from api.schemas import RequestBody, ResponseBody
from models.config import FitConfig


class TargetModel(RequestBody):
    """A model whose scale is public (announced) though its results are not: the bot may forecast
    questions about it. `params` (parameters) and `tokens` (training tokens) > 0."""

    model: str = Field(min_length=1, max_length=200)
    params: float = Field(gt=0)
    tokens: float = Field(gt=0)


REQUEST_CAPS: dict[str, dict[str, int]] = {
    "tasks": {"max_length": 200}, "families": {"max_length": 50}, "success_metric": {"max_length": 10},
    "draws": {"le": 20_000}, "tune": {"le": 20_000}, "chains": {"le": 8},
}
"""A fit request's limits on top of FitConfig's own bounds (one request must not hold a worker for hours)."""


def _config_fields() -> dict[str, Any]:
    """FitConfig's fields (type, default, bounds, description) with the request's caps added."""
    return {name: Annotated[info.annotation, info, Field(**REQUEST_CAPS.get(name, {}))]
            for name, info in FitConfig.model_fields.items()}


FitCreate = create_model(
    "FitCreate", __base__=RequestBody, __module__=__name__,
    __doc__="""A fit of the hierarchical model to a dataset: `models.config.FitConfig`'s options (its fields,
    defaults and bounds, with `REQUEST_CAPS`), plus the dataset and the `targets` the bot may forecast.
    Equal (dataset content, options) share one fit: the cached job is returned.""",
    dataset_id=(str, Field(min_length=1, max_length=64)),
    **_config_fields(),
    targets=(list[TargetModel], Field(default_factory=list, max_length=100)),
)


class FitTimings(ResponseBody):
    """Seconds: waiting in the queue, running (last attempt), and the model's compile/sampling."""

    queued_seconds: float | None
    run_seconds: float | None
    compile_seconds: float | None
    sampling_seconds: float | None


class FitOut(ResponseBody):
    """A fit job. `state`: queued | running | done | failed | cancelled; `progress` in [0, 1]."""

    id: str
    dataset_id: str
    state: str
    progress: float
    stage: str
    error: str | None
    attempts: int
    max_attempts: int
    cancel_requested: bool
    options: dict[str, Any]
    diagnostics: dict[str, Any] | None
    timings: FitTimings
    created_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class EmergenceRow(ResponseBody):
    """Emergence scale of one task, log10 training FLOPs (null median = beyond the searched range)."""

    task: str
    target_success: float
    log10_flops_median: float | None
    log10_flops_q05: float | None
    log10_flops_q95: float | None
    p_beyond_range: float
    p_reached_by: float | None = None
    p_improving: float | None = Field(None, description="posterior probability that the smooth metric is still "
                                      "improving at the largest training compute (null: too few runs, or a fit "
                                      "stored before this was reported)")
    p_reversal: float | None = Field(None, description="posterior probability that the smooth trend turned from "
                                     "improving to worsening within the training range (bent-trend alternative)")
    bent_weight: float | None = Field(None, description="weight of the bent-trend alternative in the direction stack")
    reversal_flag: bool | None = Field(None, description="p_reversal >= 0.5")


class EmergenceOut(ResponseBody):
    fit_id: str
    level: float | None
    success_at: float | None
    reached_by: float | None
    search_range: list[float] | None
    rows: list[EmergenceRow]


class BotNoteOut(ResponseBody):
    """The model bot on one question: `status` forecast | abstained | none, and why in plain words."""

    question_id: str
    status: str
    reason: str
    fit_id: str | None
    updated_at: datetime | None


class PredictTarget(RequestBody):
    """A target model: `params` and `tokens`, or `compute_flops` (= 6 params tokens)."""

    task: str = Field(min_length=1, max_length=200)
    params: float = Field(gt=0)
    tokens: float | None = Field(default=None, gt=0)
    compute_flops: float | None = Field(default=None, gt=0)
    model: str = Field(default="target", max_length=200)
    n_examples: int | None = Field(default=None, gt=0)


class PredictMany(RequestBody):
    targets: list[PredictTarget] = Field(min_length=1, max_length=1000)


class PredictionRow(ResponseBody):
    """Predicted success (quantiles over the posterior predictive) and the smooth metric, per target."""

    model: str
    task: str
    metric: str
    mean: float
    median: float
    q05: float
    q25: float
    q75: float
    q95: float
    smooth_median: float
    smooth_q05: float
    smooth_q95: float
