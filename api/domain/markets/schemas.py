"""Market bodies. Money is integer micro-credits (µc), shares integer micro-shares (µs):
1 credit = 1 share = 1_000_000 micro-units, and a winning µs pays 1 µc."""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from api.schemas import RequestBody, ResponseBody


class MarketCreate(RequestBody):
    """Open an LMSR market on a question. The opener pays the maker's funding ceil(b ln n) µc.
    Binary questions have outcomes [no, yes]; numeric ones `n_buckets` buckets of the question range."""

    question_id: str = Field(min_length=1, max_length=32)
    b: int = Field(ge=1_000, le=10**13, description="liquidity parameter in µc")
    n_buckets: int = Field(default=20, ge=2, le=100, description="numeric questions only (the scoring grid has 20)")


class MarketOut(ResponseBody):
    id: str
    question_id: str
    opener_id: str
    b: int
    n_outcomes: int
    outcome_labels: list[str]
    bucket_edges: list[float] | None
    q: list[int] = Field(description="outstanding µs per outcome")
    prices: list[float]
    funding: int
    status: str
    trading_open: bool
    winning_outcome: int | None
    trade_count: int
    created_at: datetime


class TradeCreate(RequestBody):
    """Buy or sell `shares` µs of `outcome`. A buy fails (409, nothing moves) if it would cost more
    than `max_cost` µc; a sale if it would pay less than `min_proceeds` µc."""

    side: Literal["buy", "sell"]
    outcome: int = Field(ge=0, le=99)
    shares: int = Field(gt=0, le=10**13, description="µs")
    max_cost: int | None = Field(default=None, ge=0, description="µc, buys only")
    min_proceeds: int | None = Field(default=None, ge=0, description="µc, sales only")


class PositionOut(ResponseBody):
    market_id: str
    participant_id: str
    shares: list[int]
    net_cost: int = Field(description="µc paid minus µc received")


class TradeOut(ResponseBody):
    trade_id: int
    market_id: str
    side: str
    outcome: int
    shares: int
    amount: int = Field(description="µc paid by the trader (negative: received)")
    prices_after: list[float]
    position: PositionOut
    balance: int


class PricePoint(ResponseBody):
    """One trade in the anonymous price history."""

    trade_id: int
    outcome: int
    shares: int
    prices_after: list[float]
    created_at: datetime
