"""`Idempotency-Key` support for every POST that needs it: prediction submissions (the key is
optional) and every money-moving POST (the key is required).

One key rule: the header value, stripped of surrounding whitespace, is 1..200 printable characters.
One request hash: sha256 of the canonical JSON of (target, body), where `target` names what the
request acts on (the request path for money routes, the question id for predictions) and `body` is
the request body as JSON (None when there is none). One record per (participant, scope, key) in
`idempotency_records`; a scope is a namespace of keys ("predictions.submit", "money").

`run_once` runs an operation and adds the record of its outcome in the same write transaction, so a
retry (even one racing the first attempt) finds the record and gets the first (status, body) back
without writing anything, with the header `Idempotent-Replayed: true`. A key reused for a different
request is refused (409). A failed operation (an `ApiError`) records nothing: it wrote nothing, so
retrying it is safe.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

from litestar import Response
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.db import transaction
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


async def _replay(session: AsyncSession, participant_id: str, scope: str, key: str, digest: str) -> Outcome | None:
    """The stored outcome for this key, None if the key is new; 409 if it was used for another request."""
    record = (await session.execute(select(IdempotencyRecord).where(
        IdempotencyRecord.participant_id == participant_id, IdempotencyRecord.scope == scope,
        IdempotencyRecord.key == key))).scalar_one_or_none()
    if record is None:
        return None
    if record.request_hash != digest:
        raise ApiError(409, f"{HEADER} was already used for a different request", HEADER)
    return Outcome(record.status_code, record.response, True)


async def run_once(
    session: AsyncSession, participant_id: str, scope: str, key: str | None, digest: str,
    operation: Callable[[], Awaitable[tuple[int, Any]]],
) -> Outcome:
    """Run `operation` (which returns (status, JSON body)) in one write transaction, once per
    (participant, scope, key): a retry gets the first outcome back. Without a key it simply runs.

    A concurrent duplicate loses on the unique constraint (participant, scope, key) at the flush
    and replays the winner's outcome."""
    try:
        async with transaction(session):
            if key is not None and (stored := await _replay(session, participant_id, scope, key, digest)):
                return stored
            status, body = await operation()
            if key is not None:
                session.add(IdempotencyRecord(participant_id=participant_id, scope=scope, key=key, request_hash=digest,
                                              status_code=status, response=body))
                await session.flush()
    except IntegrityError:
        if key is None:
            raise
        async with transaction(session):  # a concurrent request with the same key committed first
            stored = await _replay(session, participant_id, scope, key, digest)
        if stored is None:
            raise
        return stored
    return Outcome(status, body, False)
