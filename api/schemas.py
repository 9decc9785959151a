"""Shared schema bases and types.

Request bodies are strict: unknown fields, NaN and infinities are refused, and so is a value of the
wrong JSON type (`"stake": true`, `"taker_stake": "5"`, `"probability": "0.5"`: 400), except times,
which are ISO 8601 strings (`UtcDateTime`). No string anywhere in a body (dictionary keys and the
strings inside free-form objects included) may contain a NUL character. Responses read ORM rows.
"""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Self

from msgspec import Meta
from pydantic import AfterValidator, BaseModel, ConfigDict, Strict, field_validator
from pydantic_core import PydanticCustomError

INT32_MAX = 2**31 - 1
"""The largest integer a query parameter naming a row, an offset or a cursor may carry (32-bit ids)."""

MIN_YEAR, MAX_YEAR = 1970, 9998
"""The years a time in a request may be written in (a year-9999 time with an offset overflows in UTC)."""


def has_nul(value: Any) -> bool:
    """True when `value` is, or (in lists and dictionaries, keys too) contains, a string with a NUL."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(key) or has_nul(item) for key, item in value.items())
    if isinstance(value, list | tuple):
        return any(has_nul(item) for item in value)
    return False


def _as_utc(moment: datetime) -> datetime:
    """`moment` in UTC (naive times are UTC); refused unless its year (as written) is in MIN_YEAR..MAX_YEAR."""
    if not MIN_YEAR <= moment.year <= MAX_YEAR:
        raise PydanticCustomError("time_range", f"must be a time in the years {MIN_YEAR}..{MAX_YEAR}")
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)  # cannot overflow now


UtcDateTime = Annotated[datetime, Strict(False), AfterValidator(_as_utc)]
"""A time in a request: an ISO 8601 string (naive = UTC), returned aware in UTC, years MIN_YEAR..MAX_YEAR."""


FormText = Annotated[str, Meta(pattern="^[^\x00]*$")]
"""A multipart form field's text (form bodies are dataclasses decoded by msgspec): NUL refused (400)."""


class RequestBody(BaseModel):
    """Base of every request body: strict JSON types; unknown fields, NaN, infinities and NUL
    characters are 4xx errors."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, str_strip_whitespace=True, strict=True)

    @classmethod
    def model_validate(cls, obj: Any, *, strict: bool | None = None, **kwargs: Any) -> Self:
        """Validate `obj` with the model's own strictness: Litestar passes `strict=False`, which
        would otherwise turn `true` into 1 and `"5"` into 5."""
        return super().model_validate(obj, **kwargs)

    @field_validator("*", mode="before")
    @classmethod
    def _refuse_nul(cls, value: Any) -> Any:
        if has_nul(value):
            raise PydanticCustomError("nul_character", "must not contain NUL characters")
        return value


class ResponseBody(BaseModel):
    """Base of every response body (built from ORM objects)."""

    model_config = ConfigDict(from_attributes=True)
