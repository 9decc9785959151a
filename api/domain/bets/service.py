"""Bets between two researchers, on the ledger (µc).

Life cycle: ``open`` (offerer's stake in `bet:<id>:escrow`) -> ``accepted`` (both stakes escrowed) ->
``settled`` (winner got the pot) or ``refunded`` (annulment: both stakes back). An open offer can end
``cancelled`` (by its offerer) or ``expired`` (past `expires_at`, or its question closed/resolved):
the stake returns. A corrected resolution reverses the settlement with a compensating transaction and
settles again; nothing is ever deleted. Every state change is a conditional update
(``UPDATE bets SET status = ... WHERE id = ... AND status = 'open'``, its row count checked) on a
row-locked bet, inside the same database transaction as its ledger entries, so two processes can
never both accept, or accept and cancel, one offer.
"""
from __future__ import annotations

from typing import Any

from litestar import Response
from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from api.db import run_transaction, session_factory_of, utcnow
from api.db.models import Participant, Question
from api.db.money import Bet
from api.domain.bets.schemas import BetOffer, BetOut
from api.domain.ledger import service as ledger
from api.domain.questions.service import load_open_question, question_is_open
from api.errors import ApiError, not_found
from api.hooks import ResolutionEvent, register_resolution_hook
from forecast import bets as betmath


def _party(bet: Bet, who: Participant) -> bool:
    return who.role == "admin" or who.id in (bet.offerer_id, bet.counterparty_id, bet.taker_id)


def _visible(bet: Bet, who: Participant) -> bool:
    """Reading: admins see every bet; others see open public offers and the bets they are party to."""
    return _party(bet, who) or (bet.status == "open" and bet.counterparty_id is None)


def _actionable(bet: Bet, who: Participant) -> bool:
    """Acting (accept, cancel): parties, and anyone on a public offer, open or not, so that the loser
    of a race to accept gets a 409 rather than a 404 (the reply does not say what became of it)."""
    return _party(bet, who) or bet.counterparty_id is None


def _out(bet: Bet) -> dict[str, Any]:
    return BetOut.model_validate(bet).model_dump(mode="json")


async def _lock_bet(session: AsyncSession, bet_id: str, who: Participant) -> Bet:
    stmt = ledger.locked(session, select(Bet).where(Bet.id == bet_id)).execution_options(populate_existing=True)
    bet = (await session.execute(stmt)).scalar_one_or_none()
    if bet is None or not _actionable(bet, who):
        raise not_found("bet", "bet_id")
    return bet


async def _leave_open(session: AsyncSession, bet: Bet, **values: Any) -> None:
    """Move `bet` out of ``open`` with a conditional UPDATE (409 if it is no longer open) and
    reflect `values` on the object."""
    result = await session.execute(update(Bet).where(Bet.id == bet.id, Bet.status == "open").values(**values)
                                   .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        raise ApiError(409, "the bet is no longer open", "bet_id")
    for name, value in values.items():
        set_committed_value(bet, name, value)


# ------------------------------------------------------------------------------------------- actions
async def offer(session: AsyncSession, who: Participant, data: BetOffer, call: ledger.MoneyRequest) -> Response[Any]:
    async def operation(session: AsyncSession) -> tuple[int, Any]:
        question = await load_open_question(session, data.question_id, "the question is not open for bets")
        try:
            prop = betmath.validate_proposition(data.proposition, question.kind, question.lower, question.upper)
        except ValueError as exc:
            raise ApiError(422, str(exc), "proposition") from None
        expires_at = data.expires_at if data.expires_at.tzinfo else data.expires_at.replace(tzinfo=utcnow().tzinfo)
        if expires_at <= utcnow():
            raise ApiError(422, "expires_at must be in the future", "expires_at")
        if data.counterparty_id is not None:
            if data.counterparty_id == who.id:
                raise ApiError(422, "you cannot name yourself as the counterparty", "counterparty_id")
            if await session.get(Participant, data.counterparty_id) is None:
                raise ApiError(422, "counterparty not found", "counterparty_id")
        bet = Bet(question_id=question.id, offerer_id=who.id, counterparty_id=data.counterparty_id, proposition=prop,
                  offerer_side=data.side, offerer_stake=data.stake, taker_stake=data.taker_stake,
                  expires_at=expires_at, status="open", created_at=utcnow())
        session.add(bet)
        await session.flush()
        escrow = ledger.bet_escrow_account(bet.id)
        await ledger.ensure_account(session, escrow, "bet_escrow")
        await ledger.transfer(session, "bet_offer", ledger.participant_account(who.id), escrow, data.stake,
                              ref_type="bet", ref_id=bet.id, memo="offer stake escrowed", created_by=who.id,
                              insufficient="stake exceeds your balance", field="stake")
        return 201, _out(bet)

    return await ledger.idempotent(session, who, call, data.model_dump(mode="json"), operation)


async def accept(session: AsyncSession, who: Participant, bet_id: str, call: ledger.MoneyRequest) -> Response[Any]:
    async def operation(session: AsyncSession) -> tuple[int, Any]:
        bet = await _lock_bet(session, bet_id, who)
        if bet.offerer_id == who.id:
            raise ApiError(409, "you cannot accept your own offer", "bet_id")
        if bet.counterparty_id is not None and bet.counterparty_id != who.id:
            raise ApiError(403, "this offer is reserved for another participant", "bet_id")
        if bet.status != "open":
            status = bet.status if _party(bet, who) else "no longer open"
            raise ApiError(409, f"the offer is {status}: only open offers can be accepted", "bet_id")
        now = utcnow()
        if bet.expires_at <= now:
            raise ApiError(409, "the offer has expired", "bet_id")
        question = await session.get(Question, bet.question_id)
        if question is None or not question_is_open(question, now):
            raise ApiError(409, "the question is closed: no more acceptances", "bet_id")
        await _leave_open(session, bet, status="accepted", taker_id=who.id, accepted_at=now)
        await ledger.transfer(session, "bet_accept", ledger.participant_account(who.id), ledger.bet_escrow_account(bet.id),
                              bet.taker_stake, ref_type="bet", ref_id=bet.id, memo="taker stake escrowed",
                              created_by=who.id, insufficient="the taker stake exceeds your balance", field="taker_stake")
        return 200, _out(bet)

    return await ledger.idempotent(session, who, call, None, operation)


async def cancel(session: AsyncSession, who: Participant, bet_id: str, call: ledger.MoneyRequest) -> Response[Any]:
    async def operation(session: AsyncSession) -> tuple[int, Any]:
        bet = await _lock_bet(session, bet_id, who)
        if bet.offerer_id != who.id:
            raise ApiError(403, "only the offerer can cancel an offer", "bet_id")
        if bet.status != "open":
            raise ApiError(409, f"the bet is {bet.status}: only open offers can be cancelled", "bet_id")
        await _return_offer(session, bet, "cancelled", "bet_cancel")
        return 200, _out(bet)

    return await ledger.idempotent(session, who, call, None, operation)


async def _return_offer(session: AsyncSession, bet: Bet, status: str, kind: str) -> None:
    await _leave_open(session, bet, status=status, closed_at=utcnow())
    await ledger.transfer(session, kind, ledger.bet_escrow_account(bet.id), ledger.participant_account(bet.offerer_id),
                          bet.offerer_stake, ref_type="bet", ref_id=bet.id, memo=f"offer {status}: stake returned")


async def expire_due(session: AsyncSession) -> int:
    """Expire every open offer past `expires_at` or whose question is no longer open; returns the count."""
    now = utcnow()

    async def sweep(session: AsyncSession) -> int:
        stmt = ledger.locked(session, select(Bet).where(Bet.status == "open").order_by(Bet.id))
        rows = (await session.execute(stmt.execution_options(populate_existing=True))).scalars().all()
        count = 0
        for bet in rows:
            question = await session.get(Question, bet.question_id)
            if bet.status == "open" and (bet.expires_at <= now or question is None or not question_is_open(question, now)):
                await _return_offer(session, bet, "expired", "bet_expire")
                count += 1
        return count

    if session.in_transaction():
        await session.commit()
    return await run_transaction(session_factory_of(session), sweep)


# ------------------------------------------------------------------------------------------- reading
async def list_bets(session: AsyncSession, who: Participant, question_id: str | None, status: str | None) -> list[BetOut]:
    stmt = select(Bet).order_by(Bet.created_at.desc()).limit(500)
    if who.role != "admin":
        stmt = stmt.where(or_(and_(Bet.status == "open", Bet.counterparty_id.is_(None)), Bet.offerer_id == who.id,
                              Bet.counterparty_id == who.id, Bet.taker_id == who.id))
    if question_id is not None:
        stmt = stmt.where(Bet.question_id == question_id)
    if status is not None:
        stmt = stmt.where(Bet.status == status)
    return [BetOut.model_validate(b) for b in (await session.execute(stmt)).scalars()]


async def get_bet(session: AsyncSession, who: Participant, bet_id: str) -> BetOut:
    bet = await session.get(Bet, bet_id)
    if bet is None or not _visible(bet, who):
        raise not_found("bet", "bet_id")
    return BetOut.model_validate(bet)


# ----------------------------------------------------------------------------------------- resolution
async def on_resolution(session: AsyncSession, event: ResolutionEvent) -> None:
    """Resolution hook: settle (resolved), refund (annulled), or reverse-and-redo (corrected) every
    bet on the question; open offers expire. Runs inside the resolution's transaction."""
    await ledger.lock_question_money(session, event.question_id)
    rows = (await session.execute(
        ledger.locked(session, select(Bet).where(Bet.question_id == event.question_id).order_by(Bet.id))
        .execution_options(populate_existing=True)
    )).scalars().all()
    for bet in rows:
        if bet.status == "open":
            await _return_offer(session, bet, "expired", "bet_expire")
            continue
        if bet.status in ("settled", "refunded") and bet.settlement_txn_id is not None:
            await ledger.reverse(session, bet.settlement_txn_id, memo=f"bet {bet.id}: resolution {event.kind}, previous settlement reversed")
            bet.status, bet.offerer_won, bet.settlement_txn_id = "accepted", None, None
        if bet.status != "accepted":
            continue
        escrow = ledger.bet_escrow_account(bet.id)
        offerer, taker = ledger.participant_account(bet.offerer_id), ledger.participant_account(bet.taker_id or "")
        if event.kind == "annulled" or event.outcome is None:
            txn = await ledger.post(session, "bet_refund", [(escrow, -(bet.offerer_stake + bet.taker_stake)),
                                    (offerer, bet.offerer_stake), (taker, bet.taker_stake)],
                                    ref_type="bet", ref_id=bet.id, memo="question annulled: stakes returned")
            bet.status = "refunded"
        else:
            holds = betmath.proposition_holds(bet.proposition, event.outcome)
            to_offerer, to_taker = betmath.settlement(bet.offerer_stake, bet.taker_stake, bet.offerer_side, holds)
            txn = await ledger.post(session, "bet_settle", [(escrow, -(to_offerer + to_taker)), (offerer, to_offerer),
                                    (taker, to_taker)], ref_type="bet", ref_id=bet.id,
                                    memo=f"settled on outcome {event.outcome:g}: {'offerer' if to_offerer else 'taker'} wins")
            bet.status, bet.offerer_won = "settled", bool(to_offerer)
        bet.settlement_txn_id = txn.id if txn is not None else None
        bet.closed_at = utcnow()
    await session.flush()


register_resolution_hook(on_resolution)
