"""/v1/bets: offer, list, read, accept, cancel; /v1/admin/bets/expire sweeps expired offers."""
from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from api.db.models import Participant
from api.domain.bets import service
from api.domain.bets.schemas import BetOffer, BetOut
from api.domain.ledger.service import money_request

IdemKey = Annotated[str | None, Parameter(header="Idempotency-Key", required=False)]


@post("/v1/bets", tags=["bets"])
async def offer_bet(request: Request, db_session: AsyncSession, participant: Participant, data: BetOffer, idempotency_key: IdemKey) -> Response[BetOut]:
    """Offer a bet; the offerer's stake is escrowed now (needs an Idempotency-Key)."""
    return await service.offer(db_session, participant, data, money_request(request, idempotency_key))


@get("/v1/bets", tags=["bets"])
async def list_bets(db_session: AsyncSession, participant: Participant, question_id: str | None = None,
                    status: str | None = None) -> list[BetOut]:
    """Bets the caller may see: open public offers and every bet the caller is party to."""
    return await service.list_bets(db_session, participant, question_id, status)


@get("/v1/bets/{bet_id:str}", tags=["bets"])
async def get_bet(db_session: AsyncSession, participant: Participant, bet_id: str) -> BetOut:
    """One bet (404 if it does not exist, or is neither an open public offer nor the caller's own)."""
    return await service.get_bet(db_session, participant, bet_id)


@post("/v1/bets/{bet_id:str}/accept", tags=["bets"], status_code=200)
async def accept_bet(request: Request, db_session: AsyncSession, participant: Participant, bet_id: str, idempotency_key: IdemKey) -> Response[BetOut]:
    """Accept an open offer: the taker's stake is escrowed (needs an Idempotency-Key)."""
    return await service.accept(db_session, participant, bet_id, money_request(request, idempotency_key))


@post("/v1/bets/{bet_id:str}/cancel", tags=["bets"], status_code=200)
async def cancel_bet(request: Request, db_session: AsyncSession, participant: Participant, bet_id: str, idempotency_key: IdemKey) -> Response[BetOut]:
    """Cancel one's own open offer: the stake returns (needs an Idempotency-Key)."""
    return await service.cancel(db_session, participant, bet_id, money_request(request, idempotency_key))


@post("/v1/admin/bets/expire", tags=["bets"], status_code=200)
async def expire_bets(db_session: AsyncSession, admin: Participant) -> dict[str, int]:
    """Admin: return the stakes of every open offer past its expiry or its question's close."""
    return {"expired": await service.expire_due(db_session)}


ROUTES: list[Any] = [offer_bet, list_bets, get_bet, accept_bet, cancel_bet, expire_bets]
