"""Shared helpers for the ledger/bets/markets API tests (issue 4): questions inserted directly, the
resolution hook driven the way the resolution service drives it, and balance/audit readers.

Litestar's AsyncTestClient runs the app in a portal thread with its own event loop, so test-side
database access uses its own short-lived engine (`db(settings)`, from conftest), never the app's
pool: an asyncpg connection must not cross event loops."""
from __future__ import annotations

import itertools
from datetime import timedelta

from sqlalchemy import func, select

from api.db import new_id, transaction, utcnow
from api.db.models import Question
from api.db.money import LedgerEntry
from api.hooks import ResolutionEvent, run_resolution_hooks
from api.settings import Settings
from tests.api.conftest import Actor, create_actor, db

MICRO = 1_000_000
_keys = itertools.count()


async def register(client, handle: str) -> Actor:
    r = await client.post("/v1/participants", json={"handle": handle, "display_name": handle.title()})
    assert r.status_code == 201, r.text
    body = r.json()
    return Actor(body["participant"]["id"], handle, body["api_key"])


async def make_admin(settings: Settings, handle: str = "root") -> Actor:
    async with db(settings) as session:
        return await create_actor(session, handle, role="admin", display_name="Admin")


def idem(headers: dict[str, str], key: str | None = None) -> dict[str, str]:
    """`headers` plus a fresh (or the given) Idempotency-Key."""
    return {**headers, "Idempotency-Key": key or f"k-{next(_keys)}-{new_id()[:8]}"}


async def make_question(settings: Settings, creator_id: str, kind: str = "binary", lower: float | None = None,
                        upper: float | None = None, scale: str | None = None) -> str:
    now = utcnow()
    if kind == "numeric":
        lower, upper, scale = (0.0 if lower is None else lower), (1.0 if upper is None else upper), scale or "linear"
    q = Question(kind=kind, title=f"{kind} question", creator_id=creator_id, state="open",
                 opens_at=now - timedelta(hours=1), closes_at=now + timedelta(hours=1), lower=lower, upper=upper, scale=scale)
    async with db(settings) as session:
        async with transaction(session):
            session.add(q)
    return q.id


async def close_question(settings: Settings, question_id: str) -> None:
    async with db(settings) as session:
        async with transaction(session):
            q = await session.get(Question, question_id)
            q.closes_at = utcnow() - timedelta(seconds=1)


async def resolve(settings: Settings, question_id: str, kind: str, outcome: float | None) -> None:
    """Resolve / correct / annul as the resolution service does: state change + hooks in one transaction."""
    async with db(settings) as session:
        async with transaction(session):
            q = await session.get(Question, question_id)
            previous = q.outcome
            q.state = "annulled" if kind == "annulled" else "resolved"
            q.outcome = outcome
            q.resolved_at = utcnow()
            await run_resolution_hooks(session, ResolutionEvent(question_id, kind, outcome, previous, new_id(), "test"))


async def balance(client, actor) -> int:
    r = await client.get("/v1/me/balance", headers=actor.headers)
    assert r.status_code == 200, r.text
    return r.json()["balance"]


async def audit(client, admin) -> dict:
    r = await client.get("/v1/admin/ledger/audit", headers=admin.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["ok"], body["violations"]
    return body


async def entry_count(settings: Settings) -> int:
    async with db(settings) as session:
        return int((await session.execute(select(func.count()).select_from(LedgerEntry))).scalar_one())
