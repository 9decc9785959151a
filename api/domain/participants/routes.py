"""/v1/participants and /v1/me."""
from __future__ import annotations

from litestar import Request, get, post
from litestar.di import Provide
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import provide_optional_participant
from api.db.models import Participant
from api.domain.participants import service
from api.domain.participants.schemas import ParticipantCreate, ParticipantCreated, ParticipantOut


@post("/v1/participants", dependencies={"caller": Provide(provide_optional_participant)}, tags=["participants"])
async def register(request: Request, db_session: AsyncSession, caller: Participant | None, data: ParticipantCreate) -> ParticipantCreated:
    """Register a participant; the API key in the reply is shown only once."""
    return await service.register(db_session, data, caller, request.app.state.settings.open_registration)


@get("/v1/participants", tags=["participants"])
async def list_participants(db_session: AsyncSession, participant: Participant) -> list[ParticipantOut]:
    """Public profiles of every participant."""
    return await service.list_participants(db_session)


@get("/v1/me", tags=["participants"])
async def me(participant: Participant) -> ParticipantOut:
    """The caller's own profile."""
    return ParticipantOut.model_validate(participant)


ROUTES = [register, list_participants, me]
