"""Question request/response bodies. Times are ISO 8601; naive times are taken as UTC."""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from api.schemas import RequestBody, ResponseBody, UtcDateTime


class ResultLink(RequestBody):
    """Which eval-table row resolves the question: a binary question resolves YES when
    value >= threshold; a numeric one resolves to the value itself.

    `params` and `tokens` (optional, together): the linked model's announced scale (parameters and
    training tokens, > 0). Public, like the rest of the question; it lets forecasters, and the model
    bot, extrapolate to that model without knowing its result."""

    family: str = Field(min_length=1, max_length=100)
    model: str = Field(min_length=1, max_length=200)
    task: str = Field(min_length=1, max_length=200)
    metric: str = Field(min_length=1, max_length=100)
    threshold: float | None = None
    params: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    tokens: float | None = Field(default=None, gt=0, allow_inf_nan=False)


class _QuestionFields(RequestBody):
    """The fields a question's creation and its edits share (all optional in both)."""

    opens_at: UtcDateTime | None = None
    lower: float | None = None
    upper: float | None = None
    unit: str | None = Field(default=None, max_length=40)
    scale: Literal["linear", "log"] | None = None
    link: ResultLink | None = None


class QuestionCreate(_QuestionFields):
    kind: Literal["binary", "numeric"]
    title: str = Field(min_length=1, max_length=300)
    description: str = Field(default="", max_length=20_000)
    resolution_criteria: str = Field(default="", max_length=20_000)
    closes_at: UtcDateTime
    state: Literal["draft", "open"] = "open"


class QuestionUpdate(_QuestionFields):
    """Partial edit; allowed to the creator or an admin while no prediction, bet or market exists. A
    field left out keeps its value; the fields below and `opens_at` cannot be set to null (400)."""

    opens_at: UtcDateTime = None  # type: ignore[assignment]
    title: str = Field(default=None, min_length=1, max_length=300)  # type: ignore[assignment]
    description: str = Field(default=None, max_length=20_000)  # type: ignore[assignment]
    resolution_criteria: str = Field(default=None, max_length=20_000)  # type: ignore[assignment]
    closes_at: UtcDateTime = None  # type: ignore[assignment]


class ResultLinkOut(ResponseBody):
    family: str
    model: str
    task: str
    metric: str
    threshold: float | None
    params: float | None = None
    tokens: float | None = None


class QuestionOut(ResponseBody):
    """A question as any participant sees it. `state` is derived: open questions past `closes_at`
    show "closed". `grid` (numeric only) is the fixed CDF grid / bucket partition (21 edges).
    `n_forecasters` is the only thing revealed about others' predictions before resolution."""

    id: str
    kind: str
    title: str
    description: str
    resolution_criteria: str
    creator_id: str
    state: str
    accepting_predictions: bool
    opens_at: datetime
    closes_at: datetime
    lower: float | None
    upper: float | None
    unit: str | None
    scale: str | None
    grid: list[float] | None
    link: ResultLinkOut | None
    outcome: float | None
    resolved_at: datetime | None
    n_forecasters: int
    created_at: datetime
