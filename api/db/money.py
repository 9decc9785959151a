"""Money tables (issue 4): the double-entry ledger, two-person bets and LMSR markets.

Units: every amount is an integer number of micro-credits (µc, 1 credit = 1_000_000 µc) and every
share quantity an integer number of micro-shares (µs, 1 share = 1_000_000 µs; a winning µs pays 1 µc).

The ledger is append-only: `ledger_transactions` and `ledger_entries` rows are only ever inserted.
Each transaction's entries sum to zero. `ledger_accounts.balance` is a running total kept in step with
the entries inside the same database transaction (a conditional UPDATE refuses to take a non-house
balance below zero, and a CHECK constraint backs it up). Corrections and annulments write
compensating transactions (`reverses_id`), never edits.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from api.db import Base, IdBase, UTCDateTime, utcnow

HOUSE_ACCOUNT = "house"


class LedgerAccount(Base):
    """An account: `house` (mints grants; the only one allowed below zero), `participant:<id>`,
    `bet:<id>:escrow`, `market:<id>:maker`, `market:<id>:pool`."""

    __tablename__ = "ledger_accounts"

    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # house | participant | bet_escrow | market_maker | market_pool
    participant_id: Mapped[str | None] = mapped_column(ForeignKey("participants.id"), nullable=True, index=True)
    balance: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (CheckConstraint("kind = 'house' OR balance >= 0", name="ck_ledger_accounts_nonnegative"),)


class LedgerTransaction(IdBase):
    """One balanced movement of money. `kind` e.g. grant, bet_offer, bet_accept, bet_cancel, bet_expire,
    bet_settle, bet_refund, market_open, trade, market_settle, market_refund, reversal."""

    __tablename__ = "ledger_transactions"

    kind: Mapped[str] = mapped_column(String(24))
    ref_type: Mapped[str | None] = mapped_column(String(16), nullable=True)  # bet | market | grant
    ref_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    memo: Mapped[str] = mapped_column(Text, default="")
    reverses_id: Mapped[str | None] = mapped_column(ForeignKey("ledger_transactions.id"), nullable=True)
    created_by: Mapped[str | None] = mapped_column(ForeignKey("participants.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (Index("ix_ledger_transactions_ref", "ref_type", "ref_id"),)


class LedgerEntry(Base):
    """One leg of a transaction: `amount` µc (positive credits the account, negative debits it)."""

    __tablename__ = "ledger_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    transaction_id: Mapped[str] = mapped_column(ForeignKey("ledger_transactions.id"), index=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("ledger_accounts.id"))
    amount: Mapped[int] = mapped_column(BigInteger)
    balance_after: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (Index("ix_ledger_entries_account", "account_id", "id"),)


class Bet(IdBase):
    """A two-person bet on a question. status: open | accepted | cancelled | expired | settled | refunded.

    The offerer's stake is escrowed at offer, the taker's at acceptance (account `bet:<id>:escrow`).
    `proposition` is the validated proposition (see forecast/bets.py); nothing else about the offerer
    (e.g. their forecast) is stored or shown."""

    __tablename__ = "bets"

    question_id: Mapped[str] = mapped_column(ForeignKey("questions.id"), index=True)
    offerer_id: Mapped[str] = mapped_column(ForeignKey("participants.id"))
    counterparty_id: Mapped[str | None] = mapped_column(ForeignKey("participants.id"), nullable=True)
    taker_id: Mapped[str | None] = mapped_column(ForeignKey("participants.id"), nullable=True)
    proposition: Mapped[dict[str, Any]] = mapped_column(JSON)
    offerer_side: Mapped[str] = mapped_column(String(8))  # for | against
    offerer_stake: Mapped[int] = mapped_column(BigInteger)
    taker_stake: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(12), default="open")
    offerer_won: Mapped[bool | None] = mapped_column(nullable=True)
    settlement_txn_id: Mapped[str | None] = mapped_column(ForeignKey("ledger_transactions.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (
        CheckConstraint("offerer_stake > 0 AND taker_stake > 0", name="ck_bets_positive_stakes"),
        Index("ix_bets_status", "status"),
    )


class Market(IdBase):
    """An LMSR market on a question. `q` holds outstanding µs per outcome (JSON list of ints);
    `b` is the liquidity in µc and `funding` = ceil(b ln n) µc escrowed from the opener at opening.
    status: open | resolved | annulled (trading also stops once the question closes)."""

    __tablename__ = "markets"

    question_id: Mapped[str] = mapped_column(ForeignKey("questions.id"), index=True)
    opener_id: Mapped[str] = mapped_column(ForeignKey("participants.id"))
    b: Mapped[int] = mapped_column(BigInteger)
    n_outcomes: Mapped[int] = mapped_column(Integer)
    outcome_labels: Mapped[list[str]] = mapped_column(JSON)
    bucket_edges: Mapped[list[float] | None] = mapped_column(JSON, nullable=True)
    q: Mapped[list[int]] = mapped_column(JSON)
    funding: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(12), default="open")
    winning_outcome: Mapped[int | None] = mapped_column(Integer, nullable=True)
    settlement_txn_id: Mapped[str | None] = mapped_column(ForeignKey("ledger_transactions.id"), nullable=True)
    trade_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (CheckConstraint("b > 0 AND funding > 0", name="ck_markets_positive"),)


class MarketPosition(Base):
    """A participant's holding in a market: µs per outcome (never negative) and net cost in µc
    (charges paid minus proceeds received; refunded on annulment when positive)."""

    __tablename__ = "market_positions"

    market_id: Mapped[str] = mapped_column(ForeignKey("markets.id"), primary_key=True)
    participant_id: Mapped[str] = mapped_column(ForeignKey("participants.id"), primary_key=True)
    shares: Mapped[list[int]] = mapped_column(JSON)
    net_cost: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class MarketTrade(Base):
    """One executed trade (append-only; the price history). `shares` µs is positive for a buy and
    negative for a sale; `amount` µc is what the trader paid (negative: received)."""

    __tablename__ = "market_trades"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    market_id: Mapped[str] = mapped_column(ForeignKey("markets.id"))
    participant_id: Mapped[str] = mapped_column(ForeignKey("participants.id"))
    outcome: Mapped[int] = mapped_column(Integer)
    shares: Mapped[int] = mapped_column(BigInteger)
    amount: Mapped[int] = mapped_column(BigInteger)
    prices_after: Mapped[list[float]] = mapped_column(JSON)
    transaction_id: Mapped[str | None] = mapped_column(ForeignKey("ledger_transactions.id"), nullable=True)  # None: 0 µc sale
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (Index("ix_market_trades_market", "market_id", "id"),)
