"""Shared helpers for the ledger/bets/markets API tests (issue 4): questions inserted directly, the
resolution hook driven the way the resolution service drives it, and balance/audit readers."""
from __future__ import annotations

import itertools
from datetime import timedelta

from litestar import Litestar
from sqlalchemy import func, select

from api.db import new_id, transaction, utcnow
from api.db.models import Question
from api.db.money import LedgerEntry
from api.hooks import ResolutionEvent, run_resolution_hooks

MICRO = 1_000_000
_keys = itertools.count()


def idem(headers: dict[str, str], key: str | None = None) -> dict[str, str]:
    """`headers` plus a fresh (or the given) Idempotency-Key."""
    return {**headers, "Idempotency-Key": key or f"k-{next(_keys)}-{new_id()[:8]}"}


async def make_question(app: Litestar, creator_id: str, kind: str = "binary", lower: float | None = None,
                        upper: float | None = None, scale: str | None = None) -> str:
    now = utcnow()
    if kind == "numeric":
        lower, upper, scale = (0.0 if lower is None else lower), (1.0 if upper is None else upper), scale or "linear"
    q = Question(kind=kind, title=f"{kind} question", creator_id=creator_id, state="open",
                 opens_at=now - timedelta(hours=1), closes_at=now + timedelta(hours=1), lower=lower, upper=upper, scale=scale)
    async with app.state.session_factory() as session:
        async with transaction(session):
            session.add(q)
    return q.id


async def close_question(app: Litestar, question_id: str) -> None:
    async with app.state.session_factory() as session:
        async with transaction(session):
            q = await session.get(Question, question_id)
            q.closes_at = utcnow() - timedelta(seconds=1)


async def resolve(app: Litestar, question_id: str, kind: str, outcome: float | None) -> None:
    """Resolve / correct / annul as the resolution service does: state change + hooks in one transaction."""
    async with app.state.session_factory() as session:
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


async def entry_count(app: Litestar) -> int:
    async with app.state.session_factory() as session:
        return int((await session.execute(select(func.count()).select_from(LedgerEntry))).scalar_one())
