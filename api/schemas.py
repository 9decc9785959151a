"""Shared schema bases: request bodies reject unknown fields and NaN/inf; responses read ORM rows."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class RequestBody(BaseModel):
    """Base of every request body: unknown fields, NaN and infinities are 4xx errors."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, str_strip_whitespace=True)


class ResponseBody(BaseModel):
    """Base of every response body (built from ORM objects)."""

    model_config = ConfigDict(from_attributes=True)
