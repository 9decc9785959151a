"""Sealed results and resolutions."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from api.schemas import RequestBody, ResponseBody, UtcDateTime


class ResultUpload(RequestBody):
    """Eval-table rows (family, model, params, task, metric, value, ...; see forecast/evaltable.py)
    of a large-model result, sealed until `reveal_at`. `chance` fills success rows lacking one."""

    source: str = Field(min_length=1, max_length=200)
    reveal_at: UtcDateTime
    rows: list[dict[str, Any]] = Field(min_length=1, max_length=5_000)
    chance: float | None = Field(default=None, ge=0, lt=1)


class ResultOut(ResponseBody):
    id: str
    source: str
    reveal_at: datetime
    revealed_at: datetime | None
    rows: list[dict[str, Any]]
    created_at: datetime
    resolution_errors: list[dict[str, str]] | None = Field(
        default=None, description="Admins only: linked questions the reveal could not resolve, and why (retry: reveal again).")


class RevealReport(ResponseBody):
    result: ResultOut
    resolved_question_ids: list[str]


class ResolutionIn(RequestBody):
    """Manual resolution or correction: 0/1 for binary questions, the value for numeric ones."""

    outcome: float


class ResolutionOut(ResponseBody):
    id: str
    question_id: str
    version: int
    kind: str
    outcome: float | None
    source: str
    created_by: str | None
    created_at: datetime
    is_current: bool
