"""/v1/me/balance, /v1/me/ledger, /v1/admin/grants, /v1/admin/ledger/audit."""
from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from api.db.models import Participant
from api.domain.ledger import service
from api.domain.ledger.schemas import AuditOut, BalanceOut, GrantCreate, GrantOut, LedgerPage
from api.schemas import INT32_MAX

IdemKey = Annotated[str | None, Parameter(header="Idempotency-Key", required=False)]


@get("/v1/me/balance", tags=["ledger"])
async def my_balance(request: Request, db_session: AsyncSession, participant: Participant) -> BalanceOut:
    """The caller's balance in micro-credits (the starting grant is minted on first use)."""
    return await service.my_balance(db_session, participant, service.starting_grant(request.app.state.settings))


@get("/v1/me/ledger", tags=["ledger"])
async def my_ledger(
    request: Request, db_session: AsyncSession, participant: Participant,
    limit: Annotated[int, Parameter(ge=1, le=500)] = 50, before: Annotated[int | None, Parameter(ge=1, le=INT32_MAX)] = None,
) -> LedgerPage:
    """The caller's ledger entries, newest first, paginated with the `before` cursor."""
    grant = service.starting_grant(request.app.state.settings)
    return await service.my_ledger(db_session, participant, grant, limit, before)


@post("/v1/admin/grants", tags=["ledger"])
async def grant(request: Request, db_session: AsyncSession, admin: Participant, data: GrantCreate, idempotency_key: IdemKey) -> Response[GrantOut]:
    """Admin: the house mints `amount` µc into a participant's account (needs an Idempotency-Key)."""
    return await service.grant(db_session, admin, data, service.money_request(request, idempotency_key))


@get("/v1/admin/ledger/audit", tags=["ledger"])
async def ledger_audit(db_session: AsyncSession, admin: Participant) -> AuditOut:
    """Admin: recompute every ledger invariant from the raw entries and list any violation."""
    return AuditOut(**await service.audit(db_session))


ROUTES: list[Any] = [my_balance, my_ledger, grant, ledger_audit]
