"""/v1/markets: open, list, read, trade, positions, price history."""
from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from api.db.models import Participant
from api.domain.ledger.service import money_request
from api.domain.markets import service
from api.domain.markets.schemas import MarketCreate, MarketOut, PositionOut, PricePoint, TradeCreate, TradeOut
from api.schemas import INT32_MAX

IdemKey = Annotated[str | None, Parameter(header="Idempotency-Key", required=False)]


@post("/v1/markets", tags=["markets"])
async def open_market(request: Request, db_session: AsyncSession, participant: Participant, data: MarketCreate, idempotency_key: IdemKey) -> Response[MarketOut]:
    """Open a market; the opener funds the maker's worst-case loss (needs an Idempotency-Key)."""
    return await service.open_market(db_session, participant, data, money_request(request, idempotency_key))


@get("/v1/markets", tags=["markets"])
async def list_markets(db_session: AsyncSession, participant: Participant, question_id: str | None = None) -> list[MarketOut]:
    """Markets, newest first, optionally for one question."""
    return await service.list_markets(db_session, question_id)


@get("/v1/markets/{market_id:str}", tags=["markets"])
async def get_market(db_session: AsyncSession, participant: Participant, market_id: str) -> MarketOut:
    """One market with its current prices."""
    return await service.get_market(db_session, market_id)


@post("/v1/markets/{market_id:str}/trades", tags=["markets"])
async def trade(request: Request, db_session: AsyncSession, participant: Participant, market_id: str, data: TradeCreate, idempotency_key: IdemKey) -> Response[TradeOut]:
    """Buy or sell shares with a slippage bound (needs an Idempotency-Key)."""
    return await service.trade(db_session, participant, market_id, data, money_request(request, idempotency_key))


@get("/v1/markets/{market_id:str}/positions", tags=["markets"])
async def positions(db_session: AsyncSession, participant: Participant, market_id: str) -> list[PositionOut]:
    """The caller's own position; everyone's once the market is settled or annulled."""
    return await service.positions(db_session, participant, market_id)


@get("/v1/markets/{market_id:str}/history", tags=["markets"])
async def history(db_session: AsyncSession, participant: Participant, market_id: str,
                  after: Annotated[int, Parameter(ge=0, le=INT32_MAX)] = 0, limit: Annotated[int, Parameter(ge=1, le=1000)] = 200) -> list[PricePoint]:
    """Anonymous price history (one point per trade, oldest first; `after` is a trade-id cursor)."""
    return await service.history(db_session, market_id, after, limit)


ROUTES: list[Any] = [open_market, list_markets, get_market, trade, positions, history]
