"""The double-entry ledger: accounts, balanced append-only transactions, grants, reversals, audit,
and the `Idempotency-Key` wrapper (over `api.idempotency`) every money-moving POST goes through.

Units: integer micro-credits (µc); 1 credit = 1_000_000 µc.

Concurrency. Every money movement happens inside `api.db.run_transaction` (retried on deadlocks; on
SQLite BEGIN IMMEDIATE serialises writers, across processes too) and takes its row locks in the
lock order of `api.db`. Each account's balance moves with one conditional UPDATE
``balance = balance + :amount WHERE id = :id AND (kind = 'house' OR balance + :amount >= 0)``: on
PostgreSQL the UPDATE row-locks the account and re-checks the condition against the latest committed
balance, so two concurrent debits can never both pass; accounts are always updated in sorted id order
so two transactions cannot deadlock on them. A refused UPDATE raises a 409 and rolls the whole
transaction back: nothing moves. A CHECK constraint on the table is the second line of defence.
"""
from __future__ import annotations

import weakref
from collections import defaultdict
from datetime import timedelta
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from litestar import Request, Response
from sqlalchemy import func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from api.db import transaction, utcnow
from api.db.models import Participant
from api.db.money import HOUSE_ACCOUNT, Bet, LedgerAccount, LedgerEntry, LedgerTransaction, Market
from api.errors import ApiError
from api.idempotency import check_key, request_digest, run_once
from api.settings import Settings
from forecast.lmsr import MICRO

IDEMPOTENCY_SCOPE = "money"

# Participants whose ledger account is known to exist, per engine (accounts are never deleted, so
# once seen committed it stays true): lets money POSTs skip the account check and its round trips.
_KNOWN_ACCOUNTS: "weakref.WeakKeyDictionary[Any, set[str]]" = weakref.WeakKeyDictionary()


def _known_accounts(session: AsyncSession) -> set[str]:
    bind = session.bind
    engine = bind.sync_engine if isinstance(bind, AsyncEngine) else bind.engine  # type: ignore[union-attr]
    known = _KNOWN_ACCOUNTS.get(engine)
    if known is None:
        known = _KNOWN_ACCOUNTS[engine] = set()
    return known


@dataclass(frozen=True)
class StartingGrant:
    """The grant minted into each new participant account: `amount` µc, paid to at most
    `daily_cap` accounts per rolling 24 h service-wide (later accounts start at 0; an admin grants)."""

    amount: int
    daily_cap: int


STARTING_GRANT_MEMO = "starting grant"


def starting_grant(settings: Settings) -> StartingGrant:
    """The starting grant of `Settings.starting_grant_credits` capped by `Settings.daily_grant_cap`."""
    return StartingGrant(int(settings.starting_grant_credits * MICRO), settings.daily_grant_cap)


async def grants_paid_last_day(session: AsyncSession) -> int:
    """How many starting grants were minted in the last 24 h."""
    since = utcnow() - timedelta(days=1)
    return int((await session.execute(
        select(func.count()).select_from(LedgerTransaction).where(
            LedgerTransaction.kind == "grant", LedgerTransaction.ref_type == "grant",
            LedgerTransaction.memo == STARTING_GRANT_MEMO, LedgerTransaction.created_at >= since)
    )).scalar_one())


def participant_account(participant_id: str) -> str:
    return f"participant:{participant_id}"


def bet_escrow_account(bet_id: str) -> str:
    return f"bet:{bet_id}:escrow"


def market_maker_account(market_id: str) -> str:
    return f"market:{market_id}:maker"


def market_pool_account(market_id: str) -> str:
    return f"market:{market_id}:pool"


# ------------------------------------------------------------------------------------------ accounts
def _insert(session: AsyncSession) -> Any:
    return postgresql.insert if session.bind.dialect.name == "postgresql" else sqlite.insert  # type: ignore[union-attr]


async def ensure_account(session: AsyncSession, account_id: str, kind: str, participant_id: str | None = None) -> bool:
    """Create the account if missing (race-free: INSERT .. ON CONFLICT DO NOTHING). True if created."""
    stmt = _insert(session)(LedgerAccount).values(
        id=account_id, kind=kind, participant_id=participant_id, balance=0, created_at=utcnow()
    ).on_conflict_do_nothing(index_elements=["id"])
    result = await session.execute(stmt)
    return bool(result.rowcount)


async def ensure_participant(session: AsyncSession, participant_id: str, grant: StartingGrant) -> str:
    """The participant's account id; on first use the account is created and the house mints the
    starting grant into it (one `grant` transaction) unless the daily cap is reached. Must run inside
    a transaction."""
    account = participant_account(participant_id)
    if await ensure_account(session, account, "participant", participant_id):
        await ensure_account(session, HOUSE_ACCOUNT, "house")
        if grant.amount > 0 and await grants_paid_last_day(session) < grant.daily_cap:
            await post(session, "grant", [(HOUSE_ACCOUNT, -grant.amount), (account, grant.amount)],
                       ref_type="grant", ref_id=participant_id, memo=STARTING_GRANT_MEMO)
    return account


# -------------------------------------------------------------------------------------------- posting
async def post(
    session: AsyncSession,
    kind: str,
    postings: Iterable[tuple[str, int]],
    *,
    ref_type: str | None = None,
    ref_id: str | None = None,
    memo: str = "",
    reverses_id: str | None = None,
    created_by: str | None = None,
    insufficient: str = "insufficient balance",
    field: str | None = None,
    balances: dict[str, int] | None = None,
) -> LedgerTransaction | None:
    """Write one balanced transaction: `postings` are (account id, signed µc); they must sum to 0.
    If `balances` is given, it receives each moved account's balance after the transaction (from the
    UPDATE's RETURNING, so callers need not read it again).

    Amounts for the same account are netted; zero legs are dropped (a transaction with no legs left
    writes nothing and returns None). Raises 409 `insufficient` if a non-house account would go below
    zero (the caller's transaction then rolls back, so nothing moves).
    """
    net: dict[str, int] = defaultdict(int)
    for account, amount in postings:
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise TypeError(f"ledger amounts are integers (µc), got {amount!r}")
        net[account] += amount
    if sum(net.values()) != 0:
        raise AssertionError(f"unbalanced ledger transaction {kind}: {dict(net)}")
    legs = sorted((a, x) for a, x in net.items() if x != 0)
    if not legs:
        return None
    txn = LedgerTransaction(kind=kind, ref_type=ref_type, ref_id=ref_id, memo=memo, reverses_id=reverses_id,
                            created_by=created_by, created_at=utcnow())
    session.add(txn)
    await session.flush()
    table = LedgerAccount.__table__
    for account, amount in legs:  # sorted: a fixed lock order
        stmt = (
            table.update()
            .where(table.c.id == account, or_(table.c.kind == "house", table.c.balance + amount >= 0))
            .values(balance=table.c.balance + amount)
            .returning(table.c.balance)
        )
        balance_after = (await session.execute(stmt)).scalar_one_or_none()
        if balance_after is None:
            exists = (await session.execute(select(table.c.id).where(table.c.id == account))).scalar_one_or_none()
            if exists is None:
                raise AssertionError(f"ledger account {account} does not exist")
            raise ApiError(409, insufficient, field)
        session.add(LedgerEntry(transaction_id=txn.id, account_id=account, amount=amount,
                                balance_after=balance_after, created_at=txn.created_at))
        if balances is not None:
            balances[account] = int(balance_after)
    await session.flush()
    return txn


async def transfer(session: AsyncSession, kind: str, source: str, target: str, amount: int, **kw: Any) -> LedgerTransaction | None:
    """`post` of `amount` µc from `source` to `target`."""
    return await post(session, kind, [(source, -amount), (target, amount)], **kw)


async def reverse(session: AsyncSession, txn_id: str, kind: str = "reversal", memo: str = "") -> LedgerTransaction | None:
    """A compensating transaction undoing `txn_id` (which stays in the ledger untouched).

    Every leg is negated. A participant who has since spent money they received cannot be taken
    below zero: their debit is capped at their balance and the house covers the shortfall (it is
    counted as minted, and the transaction memo says so)."""
    entries = (await session.execute(select(LedgerEntry).where(LedgerEntry.transaction_id == txn_id))).scalars().all()
    original = await session.get(LedgerTransaction, txn_id)
    postings: dict[str, int] = {e.account_id: -e.amount for e in entries}
    debits = sorted(a for a, x in postings.items() if x < 0 and a != HOUSE_ACCOUNT)
    shortfall = 0
    if debits:
        rows = await session.execute(
            _locked(session, select(LedgerAccount.id, LedgerAccount.balance).where(LedgerAccount.id.in_(debits)))
        )
        balances = dict(rows.all())
        for account in debits:
            short = -postings[account] - balances.get(account, 0)
            if short > 0:
                postings[account] += short
                shortfall += short
    if shortfall:
        await ensure_account(session, HOUSE_ACCOUNT, "house")
        postings[HOUSE_ACCOUNT] = postings.get(HOUSE_ACCOUNT, 0) - shortfall
        memo = f"{memo} (house covered a shortfall of {shortfall} µc)".strip()
    return await post(session, kind, postings.items(), ref_type=original.ref_type if original else None,
                      ref_id=original.ref_id if original else None, memo=memo, reverses_id=txn_id)


def _locked(session: AsyncSession, stmt: Any) -> Any:
    """`SELECT ... FOR UPDATE` on PostgreSQL; SQLite writers are already serialised (BEGIN IMMEDIATE)."""
    return stmt.with_for_update() if session.bind.dialect.name == "postgresql" else stmt  # type: ignore[union-attr]


locked = _locked


async def lock_question_money(session: AsyncSession, question_id: str) -> None:
    """Lock the question's markets, then its bets (each by id), before a resolution hook moves any
    money: the lock order of `api.db` (a trade holds its market before any account; a hook that took
    accounts before markets could deadlock with it). A no-op on SQLite (BEGIN IMMEDIATE)."""
    if session.bind.dialect.name != "postgresql":  # type: ignore[union-attr]
        return
    await session.execute(select(Market.id).where(Market.question_id == question_id).order_by(Market.id).with_for_update())
    await session.execute(select(Bet.id).where(Bet.question_id == question_id).order_by(Bet.id).with_for_update())


# ------------------------------------------------------------------------------------------- reading
async def balance_of(session: AsyncSession, participant: Participant, grant: StartingGrant) -> int:
    """The participant's balance in µc (creating the account and paying the starting grant on first use)."""
    account = participant_account(participant.id)
    value = (await session.execute(select(LedgerAccount.balance).where(LedgerAccount.id == account))).scalar_one_or_none()
    if value is None:
        async with transaction(session):
            await ensure_participant(session, participant.id, grant)
        value = (await session.execute(select(LedgerAccount.balance).where(LedgerAccount.id == account))).scalar_one()
    return int(value)


async def entries_of(session: AsyncSession, account: str, limit: int, before: int | None) -> list[tuple[LedgerEntry, LedgerTransaction]]:
    """Newest-first entries of `account` with their transactions; `before` is an entry-id cursor."""
    stmt = (
        select(LedgerEntry, LedgerTransaction)
        .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
        .where(LedgerEntry.account_id == account)
        .order_by(LedgerEntry.id.desc())
        .limit(limit)
    )
    if before is not None:
        stmt = stmt.where(LedgerEntry.id < before)
    return [(e, t) for e, t in (await session.execute(stmt)).all()]


# --------------------------------------------------------------------------------------------- audit
async def audit(session: AsyncSession) -> dict[str, Any]:
    """Check every ledger invariant from the raw entries; returns counts, totals and violations.

    1. every transaction balances (its entries sum to 0);
    2. every account's stored balance equals the sum of its entries;
    3. no account other than the house is below zero;
    4. the sum over all non-house accounts equals the credits minted (minus the house's balance);
    5. every bet escrow holds exactly the stakes its bet status implies;
    6. every open market can pay out any outcome: pool + maker >= max_k q_k.
    """
    violations: list[str] = []
    unbalanced = (await session.execute(
        select(LedgerEntry.transaction_id, func.sum(LedgerEntry.amount))
        .group_by(LedgerEntry.transaction_id).having(func.sum(LedgerEntry.amount) != 0)
    )).all()
    violations += [f"transaction {t} does not balance (sum {s})" for t, s in unbalanced]
    sums = dict((await session.execute(
        select(LedgerEntry.account_id, func.sum(LedgerEntry.amount)).group_by(LedgerEntry.account_id)
    )).all())
    accounts = (await session.execute(select(LedgerAccount))).scalars().all()
    minted = 0
    held = 0
    by_id: dict[str, int] = {}
    for a in accounts:
        by_id[a.id] = int(a.balance)
        if int(sums.get(a.id) or 0) != a.balance:
            violations.append(f"account {a.id} balance {a.balance} != sum of entries {int(sums.get(a.id) or 0)}")
        if a.kind == "house":
            minted = -int(a.balance)
        else:
            held += int(a.balance)
            if a.balance < 0:
                violations.append(f"account {a.id} is negative ({a.balance})")
    if held != minted:
        violations.append(f"accounts hold {held} µc but {minted} µc were minted")
    for bet in (await session.execute(select(Bet))).scalars():
        expected = {"open": bet.offerer_stake, "accepted": bet.offerer_stake + bet.taker_stake}.get(bet.status, 0)
        actual = by_id.get(bet_escrow_account(bet.id), 0)
        if actual != expected:
            violations.append(f"bet {bet.id} ({bet.status}) escrow holds {actual}, expected {expected}")
    for market in (await session.execute(select(Market).where(Market.status == "open"))).scalars():
        cash = by_id.get(market_pool_account(market.id), 0) + by_id.get(market_maker_account(market.id), 0)
        if cash < max(market.q):
            violations.append(f"market {market.id} holds {cash} µc but may owe {max(market.q)}")
    n_txn = (await session.execute(select(func.count()).select_from(LedgerTransaction))).scalar_one()
    n_entries = (await session.execute(select(func.count()).select_from(LedgerEntry))).scalar_one()
    return {
        "ok": not violations,
        "violations": violations,
        "accounts": len(accounts),
        "transactions": int(n_txn),
        "entries": int(n_entries),
        "minted": minted,
        "held": held,
    }


# --------------------------------------------------------------------------------------- idempotency
@dataclass(frozen=True)
class MoneyRequest:
    """What a money-moving POST's service takes from its HTTP request."""

    key: str | None  # the Idempotency-Key header (required: `idempotent` refuses a request without one)
    path: str  # the request path: with the body, what the key's request hash covers
    starting_grant: StartingGrant  # minted into a participant's account on its first use


def money_request(request: Request[Any, Any, Any], key: str | None) -> MoneyRequest:
    """The `MoneyRequest` of an HTTP request with Idempotency-Key header value `key`."""
    return MoneyRequest(key, request.url.path, starting_grant(request.app.state.settings))


async def idempotent(
    session: AsyncSession, participant: Participant, call: MoneyRequest, body: Any,
    operation: Callable[[AsyncSession], Awaitable[tuple[int, Any]]],
) -> Response[Any]:
    """Run a money-moving `operation(tx)` once per (participant, Idempotency-Key) with
    `api.idempotency.run_once` (scope "money"; `tx` is a fresh session in a write transaction,
    retried on deadlocks): a retry gets the first outcome back and moves nothing; a key reused for
    a different request (path, body) is refused (409)."""
    key = check_key(call.key, required=True)
    digest = request_digest(call.path, body)
    # Create the caller's account (and starting grant) in its own short transaction first, so the
    # main transaction never holds the house row while it waits for a market or bet row lock.
    known = _known_accounts(session)
    if participant.id not in known:
        await balance_of(session, participant, call.starting_grant)
        known_now = True
    else:
        known_now = False
    # End the read-only transaction the auth lookup began, returning its connection to the pool:
    # on SQLite a request must not hold a pooled connection while it queues for the write lock.
    if session.in_transaction():
        await session.commit()
    if known_now:
        known.add(participant.id)  # committed: the account exists from now on
    return (await run_once(session, participant.id, IDEMPOTENCY_SCOPE, key, digest, operation)).response()


# ------------------------------------------------------------------------------------ route services
def _credits(micro: int) -> str:
    sign = "-" if micro < 0 else ""
    whole, frac = divmod(abs(micro), MICRO)
    return f"{sign}{whole}.{frac:06d}"


async def my_balance(session: AsyncSession, participant: Participant, grant: StartingGrant) -> Any:
    from api.domain.ledger.schemas import BalanceOut

    value = await balance_of(session, participant, grant)
    return BalanceOut(participant_id=participant.id, balance=value, credits=_credits(value))


async def my_ledger(session: AsyncSession, participant: Participant, grant: StartingGrant, limit: int, before: int | None) -> Any:
    from api.domain.ledger.schemas import LedgerLine, LedgerPage

    await balance_of(session, participant, grant)
    rows = await entries_of(session, participant_account(participant.id), limit, before)
    items = [
        LedgerLine(entry_id=e.id, transaction_id=t.id, kind=t.kind, ref_type=t.ref_type, ref_id=t.ref_id, memo=t.memo,
                   amount=e.amount, balance_after=e.balance_after, reverses_id=t.reverses_id, created_at=e.created_at)
        for e, t in rows
    ]
    return LedgerPage(items=items, next_before=items[-1].entry_id if len(items) == limit else None)


async def grant(session: AsyncSession, admin: Participant, data: Any, call: MoneyRequest) -> Response[Any]:
    from api.domain.ledger.schemas import GrantOut

    async def operation(session: AsyncSession) -> tuple[int, Any]:
        if await session.get(Participant, data.participant_id) is None:
            raise ApiError(404, "participant not found", "participant_id")
        account = await ensure_participant(session, data.participant_id, call.starting_grant)
        await ensure_account(session, HOUSE_ACCOUNT, "house")
        txn = await transfer(session, "grant", HOUSE_ACCOUNT, account, data.amount, ref_type="grant",
                             ref_id=data.participant_id, memo=data.memo or "admin grant", created_by=admin.id)
        balance = (await session.execute(select(LedgerAccount.balance).where(LedgerAccount.id == account))).scalar_one()
        return 201, GrantOut(transaction_id=txn.id, participant_id=data.participant_id, amount=data.amount,
                             balance=balance).model_dump(mode="json")

    return await idempotent(session, admin, call, data.model_dump(mode="json"), operation)
