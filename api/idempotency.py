"""`Idempotency-Key` support for POSTs that create things (predictions; later bets, trades).

Usage inside one write transaction::

    stored = await find_replay(session, who.id, "predictions.submit", key, digest)
    if stored: return stored                      # (status, body) of the first request
    ... create rows ...
    remember(session, who.id, "predictions.submit", key, digest, 201, body)

A concurrent duplicate loses on the unique constraint (participant, scope, key): catch
`sqlalchemy.exc.IntegrityError`, roll back, and call `find_replay` again.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.db.models import IdempotencyRecord
from api.errors import ApiError

MAX_KEY_LENGTH = 200


def request_digest(*parts: Any) -> str:
    """sha256 of the JSON of the request's identifying parts (path ids and body)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def check_key(key: str | None) -> str | None:
    """Validate the header value (1..200 printable characters)."""
    if key is None:
        return None
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not key.isprintable():
        raise ApiError(400, f"Idempotency-Key must be 1..{MAX_KEY_LENGTH} printable characters", "Idempotency-Key")
    return key


async def find_replay(
    session: AsyncSession, participant_id: str, scope: str, key: str, digest: str
) -> tuple[int, Any] | None:
    """The stored (status, body) for this key, None if new; 409 if the key was used for another request."""
    record = (await session.execute(
        select(IdempotencyRecord).where(
            IdempotencyRecord.participant_id == participant_id, IdempotencyRecord.scope == scope,
            IdempotencyRecord.key == key)
    )).scalar_one_or_none()
    if record is None:
        return None
    if record.request_hash != digest:
        raise ApiError(409, "Idempotency-Key was already used for a different request", "Idempotency-Key")
    return record.status_code, record.response


def remember(session: AsyncSession, participant_id: str, scope: str, key: str, digest: str, status: int, body: Any) -> None:
    """Add the record of the first response to the current transaction."""
    session.add(IdempotencyRecord(participant_id=participant_id, scope=scope, key=key, request_hash=digest,
                                  status_code=status, response=body))
