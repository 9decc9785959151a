"""LMSR markets on the ledger (µc, µs; math in forecast/lmsr.py).

Accounts per market: `market:<id>:maker` holds the opener's funding ceil(b ln n); `market:<id>:pool`
holds what traders paid minus what sales paid out. Every trade locks the market row, then reads the
trader's position with a second locking query (`SELECT ... FOR UPDATE` on PostgreSQL, BEGIN IMMEDIATE
on SQLite; a position joined into the market query would be the one seen before the wait), prices
the trade from the locked `q`, moves money and updates `q`, the position and the history in one
transaction (lock order: `api.db`). Trading stops
when the question closes. At resolution each winning µs pays 1 µc from the pool (topped up from the
maker, which can always cover it), and the opener receives what is left. Annulment refunds every
trader's positive net cost and returns the rest to the opener. A corrected resolution reverses the
settlement transaction and settles again.
"""
from __future__ import annotations

from typing import Any

from litestar import Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.db import utcnow
from api.db.models import Participant, Question
from api.db.money import LedgerAccount, Market, MarketPosition, MarketTrade
from api.domain.ledger import service as ledger
from api.domain.markets.schemas import MarketCreate, MarketOut, PositionOut, PricePoint, TradeCreate, TradeOut
from api.domain.questions.service import load_open_question, question_is_open
from api.errors import ApiError, not_found
from api.hooks import ResolutionEvent, register_resolution_hook
from forecast import lmsr
from forecast.scoring import grid_edges


def partition(question: Question, n_buckets: int) -> tuple[list[str], list[float] | None]:
    """Outcome labels (and bucket edges for numeric questions): binary -> [no, yes]; numeric -> the
    scoring grid's buckets (forecast.scoring.grid_edges with n_buckets + 1 edges on the question's
    scale), the same partition the bucket log score uses."""
    if question.kind == "binary":
        return ["no", "yes"], None
    if question.lower is None or question.upper is None:
        raise ApiError(422, "the numeric question has no range to partition", "question_id")
    edges = [float(e) for e in grid_edges(question.lower, question.upper, question.scale or "linear", n_buckets + 1)]
    return [f"[{a:g}, {b:g}{']' if i == n_buckets - 1 else ')'}" for i, (a, b) in enumerate(zip(edges, edges[1:]))], edges


def winning_outcome(market: Market, outcome: float) -> int:
    """Index of the outcome that pays: binary 0/1; numeric the bucket holding the value."""
    if market.bucket_edges is None:
        return 1 if outcome >= 0.5 else 0
    return lmsr.bucket_index(outcome, market.bucket_edges)


def _trading_open(market: Market, question: Question | None) -> bool:
    return market.status == "open" and question is not None and question_is_open(question)


def _out(market: Market, question: Question | None) -> MarketOut:
    return MarketOut(id=market.id, question_id=market.question_id, opener_id=market.opener_id, b=market.b,
                     n_outcomes=market.n_outcomes, outcome_labels=market.outcome_labels, bucket_edges=market.bucket_edges,
                     q=list(market.q), prices=lmsr.prices(market.q, market.b), funding=market.funding, status=market.status,
                     trading_open=_trading_open(market, question), winning_outcome=market.winning_outcome,
                     trade_count=market.trade_count, created_at=market.created_at)


async def _locked_market(session: AsyncSession, market_id: str) -> Market:
    stmt = ledger.locked(session, select(Market).where(Market.id == market_id)).execution_options(populate_existing=True)
    market = (await session.execute(stmt)).scalar_one_or_none()
    if market is None:
        raise not_found("market", "market_id")
    return market


async def _locked_market_for_trade(session: AsyncSession, market_id: str, participant_id: str) -> tuple[Market, Question, MarketPosition | None]:
    """The locked market (`FOR UPDATE OF markets` on PostgreSQL) with its question, then the
    trader's locked position. The position is read by its own statement after the market lock is
    held: on PostgreSQL a row joined into the locking query keeps the version seen before the wait,
    so a concurrent first trade's new position would be missed (and inserted twice)."""
    postgres = session.bind.dialect.name == "postgresql"  # type: ignore[union-attr]
    stmt = select(Market, Question).join(Question, Question.id == Market.question_id).where(Market.id == market_id)
    if postgres:
        stmt = stmt.with_for_update(of=Market)
    row = (await session.execute(stmt.execution_options(populate_existing=True))).one_or_none()
    if row is None:
        raise not_found("market", "market_id")
    position_stmt = select(MarketPosition).where(MarketPosition.market_id == market_id,
                                                 MarketPosition.participant_id == participant_id)
    if postgres:
        position_stmt = position_stmt.with_for_update()
    position = (await session.execute(position_stmt.execution_options(populate_existing=True))).scalar_one_or_none()
    return row[0], row[1], position


# ------------------------------------------------------------------------------------------- actions
async def open_market(session: AsyncSession, who: Participant, data: MarketCreate, call: ledger.MoneyRequest) -> Response[Any]:
    async def operation(session: AsyncSession) -> tuple[int, Any]:
        question = await load_open_question(session, data.question_id, "the question is not open")
        labels, edges = partition(question, data.n_buckets)
        n = len(labels)
        funding = lmsr.maker_funding(data.b, n)
        market = Market(question_id=question.id, opener_id=who.id, b=data.b, n_outcomes=n, outcome_labels=labels,
                        bucket_edges=edges, q=[0] * n, funding=funding, status="open", trade_count=0, created_at=utcnow())
        session.add(market)
        await session.flush()
        maker, pool = ledger.market_maker_account(market.id), ledger.market_pool_account(market.id)
        await ledger.ensure_account(session, maker, "market_maker")
        await ledger.ensure_account(session, pool, "market_pool")
        await ledger.transfer(session, "market_open", ledger.participant_account(who.id), maker, funding,
                              ref_type="market", ref_id=market.id, memo=f"maker funding ceil(b ln {n})",
                              created_by=who.id, insufficient=f"opening needs {funding} µc of funding, above your balance", field="b")
        return 201, _out(market, question).model_dump(mode="json")

    return await ledger.idempotent(session, who, call, data.model_dump(mode="json"), operation)


async def trade(session: AsyncSession, who: Participant, market_id: str, data: TradeCreate, call: ledger.MoneyRequest) -> Response[Any]:
    async def operation(session: AsyncSession) -> tuple[int, Any]:
        market, question, position = await _locked_market_for_trade(session, market_id, who.id)
        if not _trading_open(market, question):
            raise ApiError(409, "the market is closed for trading", "market_id")
        if data.outcome >= market.n_outcomes:
            raise ApiError(422, f"outcome must be in [0, {market.n_outcomes - 1}]", "outcome")
        if position is None:
            position = MarketPosition(market_id=market.id, participant_id=who.id, shares=[0] * market.n_outcomes, net_cost=0)
            session.add(position)
        q, k, x = list(market.q), data.outcome, data.shares
        trader, pool = ledger.participant_account(who.id), ledger.market_pool_account(market.id)
        if data.side == "buy":
            if data.min_proceeds is not None:
                raise ApiError(422, "min_proceeds applies to sales; use max_cost for a buy", "min_proceeds")
            amount = lmsr.buy_charge(q, k, x, market.b)
            if data.max_cost is not None and amount > data.max_cost:
                raise ApiError(409, f"the buy costs {amount} µc, above max_cost {data.max_cost}", "max_cost")
            signed = x
        else:
            if data.max_cost is not None:
                raise ApiError(422, "max_cost applies to buys; use min_proceeds for a sale", "max_cost")
            if x > position.shares[k]:
                raise ApiError(409, f"you hold {position.shares[k]} µs of outcome {k}, fewer than {x}", "shares")
            proceeds = lmsr.sell_proceeds(q, k, x, market.b)
            if data.min_proceeds is not None and proceeds < data.min_proceeds:
                raise ApiError(409, f"the sale pays {proceeds} µc, below min_proceeds {data.min_proceeds}", "min_proceeds")
            amount, signed = -proceeds, -x
        balances: dict[str, int] = {}
        txn = await ledger.transfer(session, "trade", trader, pool, amount, ref_type="market", ref_id=market.id,
                                    memo=f"{data.side} {x} µs of outcome {k}", created_by=who.id,
                                    insufficient="the trade costs more than your balance", field="shares",
                                    balances=balances)
        q[k] += signed
        shares = list(position.shares)
        shares[k] += signed
        position.shares, position.net_cost, position.updated_at = shares, position.net_cost + amount, utcnow()
        market.q, market.trade_count = q, market.trade_count + 1
        prices_after = lmsr.prices(q, market.b)
        row = MarketTrade(market_id=market.id, participant_id=who.id, outcome=k, shares=signed, amount=amount,
                          prices_after=prices_after, transaction_id=txn.id if txn else None, created_at=utcnow())
        session.add(row)
        await session.flush()
        balance = balances.get(trader)
        if balance is None:  # nothing moved (a zero-cost trade): read it
            balance = (await session.execute(select(LedgerAccount.balance).where(LedgerAccount.id == trader))).scalar_one()
        out = TradeOut(trade_id=row.id, market_id=market.id, side=data.side, outcome=k, shares=x, amount=amount,
                       prices_after=prices_after, position=PositionOut.model_validate(position), balance=balance)
        return 201, out.model_dump(mode="json")

    return await ledger.idempotent(session, who, call, data.model_dump(mode="json"), operation)


# ------------------------------------------------------------------------------------------- reading
async def list_markets(session: AsyncSession, question_id: str | None) -> list[MarketOut]:
    stmt = select(Market, Question).join(Question, Question.id == Market.question_id).order_by(Market.created_at.desc()).limit(500)
    if question_id is not None:
        stmt = stmt.where(Market.question_id == question_id)
    return [_out(m, q) for m, q in (await session.execute(stmt)).all()]


async def get_market(session: AsyncSession, market_id: str) -> MarketOut:
    market = await session.get(Market, market_id)
    if market is None:
        raise not_found("market", "market_id")
    return _out(market, await session.get(Question, market.question_id))


async def positions(session: AsyncSession, who: Participant, market_id: str) -> list[PositionOut]:
    market = await session.get(Market, market_id)
    if market is None:
        raise not_found("market", "market_id")
    stmt = select(MarketPosition).where(MarketPosition.market_id == market_id).order_by(MarketPosition.participant_id)
    if market.status == "open" and who.role != "admin":  # blinding: a position reveals its holder's view
        stmt = stmt.where(MarketPosition.participant_id == who.id)
    return [PositionOut.model_validate(p) for p in (await session.execute(stmt)).scalars()]


async def history(session: AsyncSession, market_id: str, after: int, limit: int) -> list[PricePoint]:
    if await session.get(Market, market_id) is None:
        raise not_found("market", "market_id")
    stmt = (select(MarketTrade).where(MarketTrade.market_id == market_id, MarketTrade.id > after)
            .order_by(MarketTrade.id).limit(limit))
    return [PricePoint(trade_id=t.id, outcome=t.outcome, shares=t.shares, prices_after=t.prices_after, created_at=t.created_at)
            for t in (await session.execute(stmt)).scalars()]


# ----------------------------------------------------------------------------------------- resolution
async def _balances(session: AsyncSession, *accounts: str) -> list[int]:
    rows = dict((await session.execute(select(LedgerAccount.id, LedgerAccount.balance).where(LedgerAccount.id.in_(accounts)))).all())
    return [int(rows.get(a, 0)) for a in accounts]


async def on_resolution(session: AsyncSession, event: ResolutionEvent) -> None:
    """Resolution hook: pay the winning outcome (resolved), refund net costs (annulled), or reverse the
    previous settlement and redo it (corrected). Runs inside the resolution's transaction."""
    await ledger.lock_question_money(session, event.question_id)
    stmt = ledger.locked(session, select(Market).where(Market.question_id == event.question_id).order_by(Market.id))
    for market in (await session.execute(stmt.execution_options(populate_existing=True))).scalars().all():
        if market.settlement_txn_id is not None:
            await ledger.reverse(session, market.settlement_txn_id, memo=f"market {market.id}: resolution {event.kind}, previous settlement reversed")
            market.status, market.winning_outcome, market.settlement_txn_id = "open", None, None
        maker, pool = ledger.market_maker_account(market.id), ledger.market_pool_account(market.id)
        pool_cash, maker_cash = await _balances(session, pool, maker)
        holders = (await session.execute(select(MarketPosition).where(MarketPosition.market_id == market.id)
                                         .order_by(MarketPosition.participant_id))).scalars().all()
        postings: list[tuple[str, int]] = [(pool, -pool_cash), (maker, -maker_cash)]
        if event.kind == "annulled" or event.outcome is None:
            refunds = lmsr.annulment_refunds([p.net_cost for p in holders], pool_cash + maker_cash)
            postings += [(ledger.participant_account(p.participant_id), r) for p, r in zip(holders, refunds)]
            paid, kind, status, winner = sum(refunds), "market_refund", "annulled", None
        else:
            winner = winning_outcome(market, event.outcome)
            payouts = [lmsr.payout(p.shares[winner]) for p in holders]
            postings += [(ledger.participant_account(p.participant_id), x) for p, x in zip(holders, payouts)]
            paid, kind, status = sum(payouts), "market_settle", "resolved"
        if paid > pool_cash + maker_cash:  # impossible by the LMSR bound; refuse rather than mint
            raise AssertionError(f"market {market.id} cannot pay {paid} µc from {pool_cash + maker_cash}")
        postings.append((ledger.participant_account(market.opener_id), pool_cash + maker_cash - paid))
        txn = await ledger.post(session, kind, postings, ref_type="market", ref_id=market.id,
                                memo=f"{status}: " + (f"outcome {winner} pays 1 µc per µs" if winner is not None else "net costs refunded"))
        market.status, market.winning_outcome = status, winner
        market.settlement_txn_id = txn.id if txn is not None else None
    await session.flush()


register_resolution_hook(on_resolution)
