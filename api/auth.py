"""API keys and the `participant` / `admin` dependencies.

Keys are `ts_` + 43 url-safe characters (32 random bytes); only sha256(key) is stored, so a
database leak reveals no usable key. Every call sends `Authorization: Bearer <key>`.

A key is looked up by one statement (`participant_for_hash`, through `api.db.direct`: no request
session is opened for it, so a route that needs no session opens none). Key lookups are cached
per app (`KeyCache` on `app.state`): sha256(key) -> the participant's column
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
from sqlalchemy import String, bindparam, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient_to_detached

from api.db import direct
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
        return _detached(values)

    def put(self, key_hash: str, participant: Participant) -> None:
        self.put_values(key_hash, {name: getattr(participant, name) for name in _PARTICIPANT_COLUMNS})

    def put_values(self, key_hash: str, values: dict[str, Any]) -> None:
        """Cache a participant's column values (every column of `participants`)."""
        if self.ttl_seconds <= 0:
            return
        self._entries[key_hash] = (time.monotonic() + self.ttl_seconds, values)
        self._entries.move_to_end(key_hash)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def forget_participant(self, participant_id: str) -> None:
        for key_hash in [h for h, (_, values) in self._entries.items() if values["id"] == participant_id]:
            del self._entries[key_hash]

    def clear(self) -> None:
        self._entries.clear()


_NEW_PARTICIPANT = sa_inspect(Participant).class_manager.new_instance
"""A bare mapped instance with its instance state (the mapper's public ``class_manager``)."""


def _detached(values: dict[str, Any]) -> Participant:
    """A fresh `Participant` with `values`, detached and known to be persistent (as if loaded by a
    session that has since closed). Built without the mapped constructor's per-attribute events: its
    state is set once, here, and then committed by `make_transient_to_detached` (which needs the
    mappers configured: `api.app.create_app` does it)."""
    participant: Participant = _NEW_PARTICIPANT()
    participant.__dict__.update(values)
    make_transient_to_detached(participant)
    return participant


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


_P = Participant.__table__
_BY_HASH = select(*_P.c).where(_P.c.api_key_hash == bindparam("key_hash", type_=String()))
_SQLITE_BY_HASH, _PG_BY_HASH = direct.Prepared(_BY_HASH), direct.Prepared(_BY_HASH, direct.POSTGRES)


async def participant_for_hash(state: State, key_hash: str) -> Participant | None:
    """The participant whose key hashes to `key_hash` (sha256 hex), or None: from the app's key
    cache, else by one statement (`api.db.direct`, no request session; a session of its own only
    when that must fall back), cached when found."""
    cache = key_cache(state)
    participant = cache.get(key_hash)
    if participant is not None:
        return participant
    params = {"key_hash": key_hash}
    row = await direct.first(state.engine, _SQLITE_BY_HASH, _PG_BY_HASH, params)
    if row is direct.BUSY:
        async with state.read_session_factory() as session:
            row = (await session.execute(_BY_HASH, params)).first()
    if row is None:
        return None
    values = row._asdict()
    cache.put_values(key_hash, values)
    return _detached(dict(values))


async def provide_optional_participant(request: Request[Any, Any, Any]) -> Participant | None:
    """The caller if a valid key is sent, None if no key is sent; 401 for a wrong key."""
    token = bearer_token(request)
    if token is None:
        return None
    participant = await participant_for_hash(request.app.state, hash_api_key(token))
    if participant is None:
        raise ApiError(401, "invalid API key", "Authorization")
    return participant


async def provide_participant(request: Request[Any, Any, Any]) -> Participant:
    """The authenticated caller; 401 when the key is missing or wrong."""
    participant = await provide_optional_participant(request)
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
