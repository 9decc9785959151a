"""API keys and the `participant` / `admin` dependencies.

Keys are `ts_` + 43 url-safe characters (32 random bytes); only sha256(key) is stored, so a
database leak reveals no usable key. Every call sends `Authorization: Bearer <key>`.
"""
from __future__ import annotations

import hashlib
import secrets
from typing import Any

from litestar import Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.db.models import Participant
from api.errors import ApiError

KEY_PREFIX = "ts_"


def new_api_key() -> str:
    """A fresh API key with 32 random bytes of entropy."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    """sha256 hex digest of the key (keys are high-entropy, so a fast hash is enough)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def bearer_token(request: Request[Any, Any, Any]) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None when the header is absent."""
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "Authorization header must be 'Bearer <api key>'", "Authorization")
    return token.strip()


async def participant_for_key(session: AsyncSession, key: str) -> Participant | None:
    """The participant owning `key`, or None."""
    result = await session.execute(select(Participant).where(Participant.api_key_hash == hash_api_key(key)))
    return result.scalar_one_or_none()


async def provide_optional_participant(request: Request[Any, Any, Any], db_session: AsyncSession) -> Participant | None:
    """The caller if a valid key is sent, None if no key is sent; 401 for a wrong key."""
    token = bearer_token(request)
    if token is None:
        return None
    participant = await participant_for_key(db_session, token)
    if participant is None:
        raise ApiError(401, "invalid API key", "Authorization")
    return participant


async def provide_participant(request: Request[Any, Any, Any], db_session: AsyncSession) -> Participant:
    """The authenticated caller; 401 when the key is missing or wrong."""
    participant = await provide_optional_participant(request, db_session)
    if participant is None:
        raise ApiError(401, "missing API key: send 'Authorization: Bearer <api key>'", "Authorization")
    return participant


async def provide_admin(participant: Participant) -> Participant:
    """The authenticated caller if an admin; 403 otherwise."""
    require_admin(participant)
    return participant


def require_admin(participant: Participant) -> None:
    """Raise 403 unless `participant` is an admin."""
    if participant.role != "admin":
        raise ApiError(403, "admin only", None)
