"""Participants: registration (returns the API key once), listing, and API key rotation/revocation.

Rotating or revoking a key replaces its stored hash: the old key fails at once in this process (its
cache entries are dropped) and in other processes within `Settings.auth_cache_seconds`."""
from __future__ import annotations

import secrets

from litestar.datastructures import State
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import forget_participant, hash_api_key, new_api_key
from api.db import transaction
from api.db.models import Participant
from api.domain.participants.schemas import ParticipantCreate, ParticipantCreated, ParticipantOut
from api.errors import ApiError, not_found


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


REVOKED_PREFIX = "revoked:"  # a stored hash no key can match (a sha256 hex digest has no ':')


async def _replace_key_hash(session: AsyncSession, state: State, participant_id: str, new_hash: str) -> Participant:
    """Store `new_hash` as the participant's key hash and drop their cached keys; 404 if unknown."""
    async with transaction(session):
        target = await session.get(Participant, participant_id)
        if target is None:
            raise not_found("participant", "participant_id")
        target.api_key_hash = new_hash
    forget_participant(state, participant_id)
    return target


async def rotate_key(session: AsyncSession, state: State, participant_id: str) -> ParticipantCreated:
    """A new API key for the participant (shown once); the previous key stops working."""
    key = new_api_key()
    target = await _replace_key_hash(session, state, participant_id, hash_api_key(key))
    return ParticipantCreated(participant=ParticipantOut.model_validate(target), api_key=key)


async def revoke_key(session: AsyncSession, state: State, participant_id: str) -> None:
    """The participant's key stops working and no key replaces it (an admin can rotate one later)."""
    await _replace_key_hash(session, state, participant_id, REVOKED_PREFIX + secrets.token_hex(28))
