"""Ledger bodies. Every amount is an integer number of micro-credits (µc; 1 credit = 1_000_000 µc)."""
from __future__ import annotations

from datetime import datetime

from pydantic import Field

from api.schemas import RequestBody, ResponseBody


class BalanceOut(ResponseBody):
    participant_id: str
    balance: int = Field(description="µc")
    credits: str = Field(description="the balance in credits, as an exact decimal string")


class LedgerLine(ResponseBody):
    """One entry on the caller's account: `amount` µc (+ in, - out) and the balance after it."""

    entry_id: int
    transaction_id: str
    kind: str
    ref_type: str | None
    ref_id: str | None
    memo: str
    amount: int
    balance_after: int
    reverses_id: str | None
    created_at: datetime


class LedgerPage(ResponseBody):
    """Newest first. Pass `next_before` as `before` to get the next (older) page; null at the end."""

    items: list[LedgerLine]
    next_before: int | None


class GrantCreate(RequestBody):
    """Admin mint: the house grants `amount` µc to a participant."""

    participant_id: str = Field(min_length=1, max_length=32)
    amount: int = Field(gt=0, le=10**15, description="µc, > 0")
    memo: str = Field(default="", max_length=500)


class GrantOut(ResponseBody):
    transaction_id: str
    participant_id: str
    amount: int
    balance: int


class AuditOut(ResponseBody):
    """The invariant audit: `ok` is true when `violations` is empty."""

    ok: bool
    violations: list[str]
    accounts: int
    transactions: int
    entries: int
    minted: int = Field(description="µc minted by the house, net of shortfalls it covered")
    held: int = Field(description="µc held by all non-house accounts (equals minted)")
