"""Participants: registration (returns the API key once) and listing."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import hash_api_key, new_api_key
from api.db import transaction
from api.db.models import Participant
from api.domain.participants.schemas import ParticipantCreate, ParticipantCreated, ParticipantOut
from api.errors import ApiError


async def create_participant(session: AsyncSession, data: ParticipantCreate) -> ParticipantCreated:
    """Insert a participant with a fresh API key; 409 if the handle is taken (case-insensitive)."""
    key = new_api_key()
    participant = Participant(
        handle=data.handle.lower(), display_name=data.display_name, role=data.role,
        is_bot=data.is_bot, api_key_hash=hash_api_key(key),
    )
    try:
        async with transaction(session):
            session.add(participant)
    except IntegrityError:
        raise ApiError(409, f"handle {data.handle!r} is already taken", "handle") from None
    return ParticipantCreated(participant=ParticipantOut.model_validate(participant), api_key=key)


async def register(
    session: AsyncSession, data: ParticipantCreate, caller: Participant | None, open_registration: bool
) -> ParticipantCreated:
    """Public registration: anyone (if open) may create a plain participant; admins may create
    admins and bots, and are the only ones who can register when registration is closed."""
    is_admin = caller is not None and caller.role == "admin"
    if not is_admin and not open_registration:
        raise ApiError(403, "registration is closed: ask an admin", None)
    if not is_admin and data.role != "participant":
        raise ApiError(403, "only an admin can create admins", "role")
    if not is_admin and data.is_bot:
        raise ApiError(403, "only an admin can create bots", "is_bot")
    return await create_participant(session, data)


async def list_participants(session: AsyncSession) -> list[ParticipantOut]:
    """Every participant (public profile fields only), oldest first."""
    rows = (await session.execute(select(Participant).order_by(Participant.created_at))).scalars()
    return [ParticipantOut.model_validate(p) for p in rows]
