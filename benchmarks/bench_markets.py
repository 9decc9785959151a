"""Trades/s on one LMSR market at 32 concurrent clients against a real server process (issue 4).

A uvicorn subprocess (api.devserver.running_server) serves the app on a free 127.0.0.1 port, on a
fresh SQLite file and (when TURNSIGNAL_TEST_POSTGRES_URL is set or PostgreSQL answers on 127.0.0.1:5432)
a fresh PostgreSQL schema. Each client registers, then buys small amounts of random outcomes with a `max_cost` bound,
each trade with its own Idempotency-Key. Bounded: a fixed number of trades per client.

`running_server` and `contend` are reused by tests/api/test_money_concurrency.py.
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import random
import socket
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx

from api.devserver import running_server as serve
from benchmarks.bench_api import execute_admin_sql

TITLE = "LMSR market trades/s, 32 concurrent clients, real server (SQLite and PostgreSQL)"
MICRO = 1_000_000
DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


def _pg_url() -> str | None:
    url = os.environ.get("TURNSIGNAL_TEST_POSTGRES_URL")
    if url:
        return url
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", 5432), timeout=0.5):
        return DEFAULT_PG
    return None


@dataclass
class Server:
    """A running server: its base URL, an admin's Authorization header, and the Settings of its database."""

    base_url: str
    admin_headers: dict[str, str]
    settings: Any


@contextlib.asynccontextmanager
async def running_server(database: str) -> AsyncIterator[Server]:
    """A migrated database with an admin, and a uvicorn subprocess serving the app on it."""
    from api.admin import create_participant_with_migrations
    from api.settings import Settings

    env = dict(os.environ)
    schema = None
    tmp = tempfile.TemporaryDirectory(prefix="ts-bench-")
    if database == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp.name}/turnsignal.db"
    else:
        url = _pg_url()
        if url is None:
            raise RuntimeError("no PostgreSQL server")
        schema = f"ts_bench_{uuid.uuid4().hex[:10]}"
        await execute_admin_sql(url, f'CREATE SCHEMA "{schema}"')
        env["TURNSIGNAL_DATABASE_SCHEMA"] = schema
        env["TURNSIGNAL_DB_POOL_SIZE"] = "20"
    env["TURNSIGNAL_DATABASE_URL"] = url
    settings = Settings(database_url=url, database_schema=schema)
    try:
        key = await create_participant_with_migrations("root", "Root", "admin", False, settings)
        args = ("uvicorn", "--factory", "api.app:create_app", "--log-level", "warning", "--no-access-log")
        # start and stop in a thread (start-up takes up to 2 min on a loaded 2-core machine): this loop stays free
        server = serve(env, args=args, timeout=120.0)
        base = await asyncio.to_thread(server.__enter__)
        try:
            yield Server(base, {"Authorization": f"Bearer {key}"}, settings)
        finally:
            await asyncio.to_thread(server.__exit__, None, None, None)
    finally:
        if schema is not None:
            await execute_admin_sql(url, f'DROP SCHEMA "{schema}" CASCADE')
        tmp.cleanup()


async def make_question(settings: Any, creator_id: str, kind: str = "binary") -> str:
    """Insert an open question directly (the benchmark measures trading, not question creation)."""
    from api.db import create_engine, create_session_factory, transaction, utcnow
    from api.db.models import Question

    now = utcnow()
    engine = create_engine(settings)
    try:
        q = Question(kind=kind, title="bench", creator_id=creator_id, state="open",
                     opens_at=now - timedelta(hours=1), closes_at=now + timedelta(hours=1))
        async with create_session_factory(engine)() as session:
            async with transaction(session):
                session.add(q)
        return q.id
    finally:
        await engine.dispose()


def _idem(headers: dict[str, str]) -> dict[str, str]:
    return {**headers, "Idempotency-Key": uuid.uuid4().hex}


async def register(client: httpx.AsyncClient, handle: str) -> dict[str, str]:
    r = await client.post("/v1/participants", json={"handle": handle, "display_name": handle})
    r.raise_for_status()
    body = r.json()
    return {"id": body["participant"]["id"], "Authorization": f"Bearer {body['api_key']}"}


async def contend(server: Server, n_clients: int, trades_per_client: int, offers: int = 0, seed: int = 0) -> dict[str, Any]:
    """n_clients trade on one market (and race to accept `offers` bet offers) at once.

    Returns the market id, bet ids, per-request statuses and latencies, and the elapsed wall time of
    the concurrent phase."""
    rng = random.Random(seed)
    limits = httpx.Limits(max_connections=n_clients + 4, max_keepalive_connections=n_clients + 4)
    async with httpx.AsyncClient(base_url=server.base_url, limits=limits, timeout=120) as client:
        me = (await client.get("/v1/me", headers=server.admin_headers)).json()
        qid = await make_question(server.settings, me["id"])
        opener = await register(client, f"opener-{seed}")
        headers = lambda who: {"Authorization": who["Authorization"]}  # noqa: E731
        r = await client.post("/v1/markets", json={"question_id": qid, "b": 100 * MICRO}, headers=_idem(headers(opener)))
        r.raise_for_status()
        market = r.json()["id"]
        bet_ids = []
        for _ in range(offers):
            r = await client.post("/v1/bets", headers=_idem(headers(opener)), json={
                "question_id": qid, "proposition": {"kind": "binary", "outcome": True}, "stake": 2 * MICRO,
                "taker_stake": MICRO, "expires_at": "2999-01-01T00:00:00Z"})
            r.raise_for_status()
            bet_ids.append(r.json()["id"])
        clients = [await register(client, f"c{seed}-{i}") for i in range(n_clients)]
        for who in clients:  # create accounts (starting grants) outside the timed phase
            (await client.get("/v1/me/balance", headers=headers(who))).raise_for_status()
        plans = [[(rng.randrange(2), rng.randrange(1, 5) * MICRO) for _ in range(trades_per_client)] for _ in clients]
        statuses: list[tuple[str, int]] = []
        latencies: list[float] = []

        async def run(i: int) -> None:
            who = headers(clients[i])
            for outcome, shares in plans[i]:
                t0 = time.perf_counter()
                r = await client.post(f"/v1/markets/{market}/trades", headers=_idem(who),
                                      json={"side": "buy", "outcome": outcome, "shares": shares, "max_cost": 10 * MICRO})
                latencies.append(time.perf_counter() - t0)
                statuses.append(("trade", r.status_code))
            if bet_ids:
                r = await client.post(f"/v1/bets/{bet_ids[i % len(bet_ids)]}/accept", headers=_idem(who))
                statuses.append(("accept", r.status_code))

        t0 = time.perf_counter()
        await asyncio.gather(*(run(i) for i in range(n_clients)))
        elapsed = time.perf_counter() - t0
        return {"market_id": market, "question_id": qid, "bet_ids": bet_ids, "statuses": statuses,
                "latencies": latencies, "elapsed": elapsed, "clients": clients, "opener": opener}


def _databases() -> Iterator[str]:
    yield "sqlite"
    if _pg_url() is not None:
        yield "postgres"


async def _bench(database: str, n_clients: int = 32, trades_per_client: int = 15) -> dict[str, Any]:
    async with running_server(database) as server:
        await contend(server, 4, 2, seed=1)  # warm-up
        out = await contend(server, n_clients, trades_per_client, seed=2)
        async with httpx.AsyncClient(base_url=server.base_url) as client:
            audit = (await client.get("/v1/admin/ledger/audit", headers=server.admin_headers)).json()
    ok = sum(1 for kind, s in out["statuses"] if kind == "trade" and s == 201)
    lat = sorted(out["latencies"])
    return {"database": database, "clients": n_clients, "trades": ok,
            "failed": len(out["statuses"]) - ok, "trades_per_s": round(ok / out["elapsed"], 1),
            "p50_ms": round(1000 * lat[len(lat) // 2], 1), "p99_ms": round(1000 * lat[int(len(lat) * 0.99) - 1], 1),
            "audit_ok": audit["ok"]}


def run() -> list[dict]:
    return [asyncio.run(_bench(db)) for db in _databases()]


if __name__ == "__main__":
    for row in run():
        print(row)
