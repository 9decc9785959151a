"""`Idempotency-Key` support for every POST that needs it: prediction submissions (the key is
optional) and every money-moving POST (the key is required).

One key rule: the header value, stripped of surrounding whitespace, is 1..200 printable characters.
One request hash: sha256 of the canonical JSON of (target, body), where `target` names what the
request acts on (the request path for money routes, the question id for predictions) and `body` is
the request body as JSON (None when there is none). One record per (participant, scope, key) in
`idempotency_records`; a scope is a namespace of keys ("predictions.submit", "money").

`run_once` first claims the key (INSERT ... ON CONFLICT DO NOTHING: the first lock of the lock order
in `api.db`), then runs the operation and stores its outcome in the claimed record, all in one write
transaction. A retry, even one racing the first attempt, finds the key taken (on PostgreSQL the
insert waits for the racing transaction to end), reads the record and gets the first (status, body)
back without writing anything, with the header `Idempotent-Replayed: true`. No unique violation is
ever raised, so nothing is rolled back under the caller's feet. A key reused for a different request
is refused (409). A failed operation (an `ApiError`) records nothing: its transaction, claim
included, rolls back, so retrying it is safe.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

from litestar import Response
from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from api.db import new_id, run_transaction, session_factory_of, utcnow
from api.db.models import IdempotencyRecord
from api.errors import ApiError

MAX_KEY_LENGTH = 200
HEADER = "Idempotency-Key"
REPLAY_HEADER = "Idempotent-Replayed"


class Outcome(NamedTuple):
    """A POST's (status, JSON body) and whether it is the replay of an earlier request's."""

    status: int
    body: Any
    replayed: bool

    def response(self) -> Response[Any]:
        """The HTTP reply: the body with its status, marked when replayed."""
        return Response(self.body, status_code=self.status, headers={REPLAY_HEADER: "true"} if self.replayed else None)


def check_key(key: str | None, required: bool = False) -> str | None:
    """The header value stripped; None when absent and not `required`; 400 when absent but
    required, or not 1..200 printable characters."""
    if key is None:
        if required:
            raise ApiError(400, f"this request needs an {HEADER} header", HEADER)
        return None
    key = key.strip()
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not key.isprintable():
        raise ApiError(400, f"{HEADER} must be 1..{MAX_KEY_LENGTH} printable characters", HEADER)
    return key


def request_digest(target: str, body: Any) -> str:
    """sha256 hex of the canonical JSON of the request: what it acts on (`target`) and its body."""
    canonical = json.dumps({"target": target, "body": body}, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def _claim(session: AsyncSession, participant_id: str, scope: str, key: str, digest: str) -> str | None:
    """Insert a placeholder record for the key; its id if this transaction now owns the key, None if
    the key was already taken (by a committed request)."""
    dialect = postgresql if session.bind.dialect.name == "postgresql" else sqlite  # type: ignore[union-attr]
    record_id = new_id()
    stmt = dialect.insert(IdempotencyRecord).values(
        id=record_id, participant_id=participant_id, scope=scope, key=key, request_hash=digest, status_code=0,
        response={}, created_at=utcnow(),
    ).on_conflict_do_nothing(index_elements=["participant_id", "scope", "key"])
    return record_id if (await session.execute(stmt)).rowcount else None


async def _replay(session: AsyncSession, participant_id: str, scope: str, key: str, digest: str) -> Outcome:
    """The stored outcome for a taken key; 409 if it was used for another request."""
    record = (await session.execute(select(IdempotencyRecord.request_hash, IdempotencyRecord.status_code,
                                           IdempotencyRecord.response).where(
        IdempotencyRecord.participant_id == participant_id, IdempotencyRecord.scope == scope,
        IdempotencyRecord.key == key))).one()
    if record.request_hash != digest:
        raise ApiError(409, f"{HEADER} was already used for a different request", HEADER)
    return Outcome(record.status_code, record.response, True)


async def run_once(
    session: AsyncSession, participant_id: str, scope: str, key: str | None, digest: str,
    operation: Callable[[AsyncSession], Awaitable[tuple[int, Any]]],
) -> Outcome:
    """Run `operation(tx)` (which returns (status, JSON body)) in one write transaction on a fresh
    session `tx` (`api.db.run_transaction`: retried on deadlocks), once per (participant, scope,
    key): a retry gets the first outcome back. Without a key it simply runs. `session` (the
    request's) only names the engine; its read transaction, if any, is ended first."""
    if session.in_transaction():
        await session.commit()  # return the request's connection to the pool before queueing to write

    async def attempt(tx: AsyncSession) -> Outcome:
        record_id = None
        if key is not None and (record_id := await _claim(tx, participant_id, scope, key, digest)) is None:
            return await _replay(tx, participant_id, scope, key, digest)
        status, body = await operation(tx)
        if record_id is not None:
            await tx.execute(update(IdempotencyRecord).where(IdempotencyRecord.id == record_id)
                             .values(status_code=status, response=body))
        return Outcome(status, body, False)

    return await run_transaction(session_factory_of(session), attempt)
