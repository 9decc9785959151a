"""Bet bodies. Stakes are integer micro-credits (µc; 1 credit = 1_000_000 µc).

A proposition is one of (see forecast/bets.py):
``{"kind": "binary", "outcome": true}``,
``{"kind": "compare", "op": "<"|"<="|">="|">", "threshold": x}``,
``{"kind": "interval", "lower": a, "upper": c}`` (closed interval).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from api.schemas import RequestBody, ResponseBody, UtcDateTime


class BetOffer(RequestBody):
    """Offer: the offerer takes `side` on `proposition`, staking `stake` µc against `taker_stake` µc
    (the odds: 3:1 is stake=3_000_000, taker_stake=1_000_000). `counterparty_id` restricts who may accept."""

    question_id: str = Field(min_length=1, max_length=32)
    proposition: dict[str, Any]
    side: Literal["for", "against"] = "for"
    stake: int = Field(gt=0, le=10**15, description="µc escrowed from the offerer now")
    taker_stake: int = Field(gt=0, le=10**15, description="µc the taker must escrow to accept")
    expires_at: UtcDateTime
    counterparty_id: str | None = Field(default=None, max_length=32)


class BetOut(ResponseBody):
    """A bet as anyone allowed to see it sees it: only what the offerer put in the offer."""

    id: str
    question_id: str
    offerer_id: str
    counterparty_id: str | None
    taker_id: str | None
    proposition: dict[str, Any]
    offerer_side: str
    offerer_stake: int
    taker_stake: int
    expires_at: datetime
    status: str
    offerer_won: bool | None
    created_at: datetime
    accepted_at: datetime | None
    closed_at: datetime | None
