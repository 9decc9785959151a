"""Fit requests, job state, estimates."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field, field_validator

from api.schemas import RequestBody, ResponseBody
from models.defaults import DEFAULT_CHAINS, DEFAULT_DRAWS, DEFAULT_TARGET_ACCEPT, DEFAULT_TUNE


class TargetModel(RequestBody):
    """A model whose scale is public (announced) though its results are not: the bot may forecast
    questions about it. `params` (parameters) and `tokens` (training tokens) > 0."""

    model: str = Field(min_length=1, max_length=200)
    params: float = Field(gt=0)
    tokens: float = Field(gt=0)


class FitCreate(RequestBody):
    """A fit of the hierarchical model (models.config.FitConfig options) to a dataset.

    `success_metric`: a list, the first one each task has is used. `draws`/`tune` per chain.
    Equal (dataset content, options) share one fit: the cached job is returned."""

    dataset_id: str = Field(min_length=1, max_length=64)
    tasks: list[str] | None = Field(default=None, min_length=1, max_length=200)
    families: list[str] | None = Field(default=None, min_length=1, max_length=50)
    smooth_metric: str = Field(default="bpb", min_length=1, max_length=100)
    success_metric: list[str] = Field(default_factory=lambda: ["acc"], min_length=1, max_length=10)
    trend: Literal["compute", "params_tokens"] = "compute"
    sampler: Literal["nutpie", "pymc"] = "nutpie"
    draws: int = Field(default=DEFAULT_DRAWS, ge=50, le=20_000)
    tune: int = Field(default=DEFAULT_TUNE, ge=50, le=20_000)
    chains: int = Field(default=DEFAULT_CHAINS, ge=1, le=8)
    target_accept: float = Field(default=DEFAULT_TARGET_ACCEPT, gt=0.5, lt=1.0)
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    priors: dict[str, dict[str, Any]] = Field(default_factory=dict)
    targets: list[TargetModel] = Field(default_factory=list, max_length=100)

    @field_validator("success_metric", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


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
