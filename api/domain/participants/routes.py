"""/v1/participants, /v1/me and API keys (/v1/me/keys, /v1/participants/{id}/keys)."""
from __future__ import annotations

from litestar import Request, delete, get, post
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


@post("/v1/me/keys/rotate", status_code=200, tags=["participants"])
async def rotate_my_key(request: Request, db_session: AsyncSession, participant: Participant) -> ParticipantCreated:
    """A new API key for the caller, shown only in this reply; the key used for this call stops working."""
    return await service.rotate_key(db_session, request.app.state, participant.id)


@delete("/v1/me/keys", tags=["participants"])
async def revoke_my_key(request: Request, db_session: AsyncSession, participant: Participant) -> None:
    """Revoke the caller's key (204): nothing works with it any more; an admin can issue a new one."""
    await service.revoke_key(db_session, request.app.state, participant.id)


@post("/v1/participants/{participant_id:str}/keys/rotate", status_code=200, tags=["participants"])
async def rotate_key(request: Request, db_session: AsyncSession, admin: Participant, participant_id: str) -> ParticipantCreated:
    """Admin: a new API key for the participant (shown only here); their previous key stops working."""
    return await service.rotate_key(db_session, request.app.state, participant_id)


@post("/v1/participants/{participant_id:str}/keys/revoke", status_code=204, tags=["participants"])
async def revoke_key(request: Request, db_session: AsyncSession, admin: Participant, participant_id: str) -> None:
    """Admin: revoke the participant's key (204); rotate gives them a new one."""
    await service.revoke_key(db_session, request.app.state, participant_id)


ROUTES = [register, list_participants, me, rotate_my_key, revoke_my_key, rotate_key, revoke_key]
