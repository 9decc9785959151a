"""Participant request/response bodies."""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from api.schemas import RequestBody, ResponseBody


class ParticipantCreate(RequestBody):
    """Registration. `role`/`is_bot` other than the defaults need an admin caller."""

    handle: str = Field(min_length=2, max_length=40, pattern=r"^[A-Za-z0-9_.-]+$")
    display_name: str = Field(min_length=1, max_length=100)
    role: Literal["participant", "admin"] = "participant"
    is_bot: bool = False


class ParticipantOut(ResponseBody):
    id: str
    handle: str
    display_name: str
    role: str
    is_bot: bool
    created_at: datetime


class ParticipantCreated(ResponseBody):
    """The new participant and its API key; the key is shown only here, once."""

    participant: ParticipantOut
    api_key: str
