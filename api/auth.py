"""API keys and the `participant` / `admin` dependencies.

Keys are `ts_` + 43 url-safe characters (32 random bytes); only sha256(key) is stored, so a
database leak reveals no usable key. Every call sends `Authorization: Bearer <key>`.

Key lookups are cached per app (`KeyCache` on `app.state`): sha256(key) -> the participant's column
values, for at most `Settings.auth_cache_seconds` (TURNSIGNAL_AUTH_CACHE_SECONDS; 0 turns the cache
off) and at most `KeyCache.max_entries` keys. Only successful lookups are cached (a wrong key always
reaches the database, so a key created a moment ago works at once). Code that changes a participant's key, role
or bot flag must call `forget_participant(app_state, participant_id)`; changes made by another
process (e.g. the admin CLI) take effect within the TTL. Each request gets its own detached
`Participant` built from the cached values, never an object shared between requests.
"""
from __future__ import annotations

import hashlib
import secrets
import time
from collections import OrderedDict
from typing import Any

from litestar import Request
from litestar.datastructures import State
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient_to_detached

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
    """The participant owning `key`, or None (always from the database)."""
    result = await session.execute(select(Participant).where(Participant.api_key_hash == hash_api_key(key)))
    return result.scalar_one_or_none()


_PARTICIPANT_COLUMNS = tuple(column.key for column in Participant.__table__.columns)


class KeyCache:
    """sha256(key) -> participant column values, with a TTL and an LRU bound (see the module doc)."""

    max_entries = 10_000

    def __init__(self, ttl_seconds: float) -> None:
        self.ttl_seconds = ttl_seconds
        self._entries: OrderedDict[str, tuple[float, dict[str, Any]]] = OrderedDict()

    def get(self, key_hash: str) -> Participant | None:
        entry = self._entries.get(key_hash)
        if entry is None:
            return None
        expires, values = entry
        if time.monotonic() >= expires:
            del self._entries[key_hash]
            return None
        self._entries.move_to_end(key_hash)
        participant = Participant(**values)
        make_transient_to_detached(participant)  # a fresh object per request, known to be persistent
        return participant

    def put(self, key_hash: str, participant: Participant) -> None:
        if self.ttl_seconds <= 0:
            return
        values = {name: getattr(participant, name) for name in _PARTICIPANT_COLUMNS}
        self._entries[key_hash] = (time.monotonic() + self.ttl_seconds, values)
        self._entries.move_to_end(key_hash)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def forget_participant(self, participant_id: str) -> None:
        for key_hash in [h for h, (_, values) in self._entries.items() if values["id"] == participant_id]:
            del self._entries[key_hash]

    def clear(self) -> None:
        self._entries.clear()


def key_cache(state: State) -> KeyCache:
    """The app's key cache (created on first use)."""
    cache = state.get("key_cache")
    if cache is None:
        cache = KeyCache(state.settings.auth_cache_seconds)
        state["key_cache"] = cache
    return cache  # type: ignore[no-any-return]


def forget_participant(state: State, participant_id: str) -> None:
    """Drop every cached key of the participant: call after changing their key, role or bot flag."""
    key_cache(state).forget_participant(participant_id)


async def provide_optional_participant(request: Request[Any, Any, Any], db_session: AsyncSession) -> Participant | None:
    """The caller if a valid key is sent, None if no key is sent; 401 for a wrong key."""
    token = bearer_token(request)
    if token is None:
        return None
    key_hash = hash_api_key(token)
    cache = key_cache(request.app.state)
    participant = cache.get(key_hash)
    if participant is not None:
        return participant
    result = await db_session.execute(select(Participant).where(Participant.api_key_hash == key_hash))
    participant = result.scalar_one_or_none()
    if participant is None:
        raise ApiError(401, "invalid API key", "Authorization")
    cache.put(key_hash, participant)
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
