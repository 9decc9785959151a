"""SQL statements (and, on SQLite, thread hops) per request on the two hot paths (issue 18).

    python -m benchmarks.count_statements            # SQLite, and PostgreSQL when TURNSIGNAL_TEST_POSTGRES_URL is set

Runs the app in-process (Litestar's AsyncTestClient) on a fresh database, sends `REQUESTS` of each
case after one warm-up request, and counts what reached the database driver, so statements that
bypass SQLAlchemy (`api.db.direct`) are counted too:

* SQLite: every statement a `sqlite3` connection runs (its trace callback: BEGIN and COMMIT
  included), and every hop to an aiosqlite connection's thread and back (`aiosqlite.Connection._execute`).
* PostgreSQL: every query an asyncpg connection sends (BEGIN and COMMIT included; asyncpg's
  prepared-statement and connection executions), each one round trip.
"""
from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
import tempfile
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any

REQUESTS = 20
COUNTS: Counter[str] = Counter()


@contextmanager
def _counting() -> Iterator[None]:
    """Count statements and hops in this process while inside the block."""
    import aiosqlite.core

    original_connect = sqlite3.connect

    def connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        connection = original_connect(*args, **kwargs)
        connection.set_trace_callback(lambda sql: COUNTS.update(["statements"]))
        return connection

    patches = [(aiosqlite.core.Connection, "_execute", "hops"), *_asyncpg_patches()]
    originals = [(owner, name, getattr(owner, name)) for owner, name, _ in patches]
    for owner, name, counter in patches:
        setattr(owner, name, _counted(getattr(owner, name), counter))
    sqlite3.connect = connect  # type: ignore[assignment]
    try:
        yield
    finally:
        sqlite3.connect = original_connect  # type: ignore[assignment]
        for owner, name, original in originals:
            setattr(owner, name, original)


def _counted(method: Any, counter: str) -> Any:
    async def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        if counter != "statements (no args)" or len(args) == 1:
            COUNTS["hops" if counter == "hops" else "statements"] += 1
        return await method(self, *args, **kwargs)
    return counted


def _asyncpg_patches() -> list[tuple[Any, str, str]]:
    """The asyncpg methods that each send one query: a prepared statement's execution, a query
    through the connection with arguments, and one without (BEGIN, COMMIT: `Connection.execute`)."""
    from asyncpg.connection import Connection
    from asyncpg.prepared_stmt import PreparedStatement

    return [(PreparedStatement, "_PreparedStatement__do_execute", "statements"),
            (Connection, "_do_execute", "statements"), (Connection, "execute", "statements (no args)")]


async def _count(settings: Any) -> dict[str, float]:
    from litestar.testing import AsyncTestClient

    from api.app import create_app
    from api.db import create_engine, create_session_factory
    from api.domain.participants.schemas import ParticipantCreate
    from api.domain.participants.service import create_participant

    result: dict[str, float] = {}
    async with AsyncTestClient(app=create_app(settings)) as client:
        engine = create_engine(settings)
        try:
            async with create_session_factory(engine)() as session:
                admin = await create_participant(session, ParticipantCreate(handle="countadmin", display_name="C", role="admin"))
        finally:
            await engine.dispose()
        headers = {"Authorization": f"Bearer {admin.api_key}"}
        closes = (datetime.now(timezone.utc) + timedelta(days=1)).isoformat()
        question = (await client.post("/v1/questions", headers=headers,
                                      json={"kind": "binary", "title": "count", "closes_at": closes})).json()["id"]
        cases = {"submit prediction (POST)": lambda: client.post(f"/v1/questions/{question}/predictions", headers=headers,
                                                                 json={"probability": 0.3}),
                 "read question (GET)": lambda: client.get(f"/v1/questions/{question}", headers=headers)}
        for case, send in cases.items():
            (await send()).raise_for_status()  # warm-up: key cache filled, connections open
            COUNTS.clear()
            for _ in range(REQUESTS):
                (await send()).raise_for_status()
            result[case] = {k: round(v / REQUESTS, 2) for k, v in COUNTS.items()}  # type: ignore[assignment]
    return result


def count(database: str, pg_url: str | None = None) -> dict[str, Any]:
    """{case: {"statements": per request, "hops": per request (SQLite)}} on a fresh `database`."""
    from api.settings import Settings

    limits = {"rate_registration": "off", "rate_writes": "off", "rate_plots": "off", "access_log": False}
    with ExitStack() as stack, _counting():
        if database == "sqlite":
            tmp = stack.enter_context(tempfile.TemporaryDirectory())
            settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp}/count.db", **limits)  # type: ignore[arg-type]
        else:
            from benchmarks.bench_api_load import pg_schema

            assert pg_url is not None
            schema = stack.enter_context(pg_schema(pg_url))
            settings = Settings(database_url=pg_url, database_schema=schema, **limits)  # type: ignore[arg-type]
        return asyncio.run(_count(settings))


def main(argv: list[str]) -> int:
    pg_url = os.environ.get("TURNSIGNAL_TEST_POSTGRES_URL")
    for database in ("sqlite", "postgresql") if pg_url else ("sqlite",):
        for case, counts in count(database, pg_url).items():
            print(f"{database:10s} {case:26s} " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
