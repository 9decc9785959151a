"""`api.db.run_transaction` and SQLite write transactions (issue 21), on real databases.

- A PostgreSQL deadlock / serialization failure (raised by the server with its SQLSTATE) is retried
  on a fresh transaction, and what the failed attempt wrote is gone; other errors are not retried;
  a failure that persists surfaces after the last attempt.
- SQLite "database is locked" (from a real second connection) is retried.
- A SQLite `transaction()` holds the write lock from its start (BEGIN IMMEDIATE), so a writer in
  another process cannot slip in between its reads and its writes.
"""
from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.db import MAX_ATTEMPTS, create_engine, create_session_factory, is_retryable, run_transaction, transaction
from api.settings import Settings

pytestmark = pytest.mark.anyio


@pytest.fixture
async def factory(settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(settings)
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE retry_probe (n INTEGER)"))
    try:
        yield create_session_factory(engine)
    finally:
        await engine.dispose()


async def _raise_sqlstate(session: AsyncSession, sqlstate: str) -> None:
    await session.execute(text(f"DO $$ BEGIN RAISE EXCEPTION 'probe' USING ERRCODE = '{sqlstate}'; END $$"))


async def _rows(factory: async_sessionmaker[AsyncSession]) -> list[int]:
    async with factory() as session:
        return [r[0] for r in (await session.execute(text("SELECT n FROM retry_probe ORDER BY n"))).all()]


@pytest.mark.parametrize("sqlstate", ["40P01", "40001"])
async def test_postgres_deadlock_and_serialization_failures_are_retried(settings: Settings, factory, sqlstate: str) -> None:
    if factory.kw["bind"].dialect.name != "postgresql":
        pytest.skip("PostgreSQL SQLSTATEs")
    attempts = []

    async def work(session: AsyncSession) -> str:
        attempts.append(1)
        await session.execute(text("INSERT INTO retry_probe VALUES (:n)"), {"n": len(attempts)})
        if len(attempts) < 3:
            await _raise_sqlstate(session, sqlstate)
        return "done"

    assert await run_transaction(factory, work) == "done"
    assert len(attempts) == 3
    assert await _rows(factory) == [3]  # the failed attempts' writes rolled back


async def test_other_errors_are_not_retried_and_persistent_ones_surface(settings: Settings, factory) -> None:
    postgres = factory.kw["bind"].dialect.name == "postgresql"
    attempts = []

    async def broken(session: AsyncSession) -> None:
        attempts.append(1)
        await session.execute(text("SELECT * FROM no_such_table"))

    with pytest.raises(DBAPIError) as caught:
        await run_transaction(factory, broken)
    assert len(attempts) == 1 and not is_retryable(caught.value)
    if postgres:
        attempts.clear()

        async def always_deadlocked(session: AsyncSession) -> None:
            attempts.append(1)
            await _raise_sqlstate(session, "40P01")

        with pytest.raises(DBAPIError):
            await run_transaction(factory, always_deadlocked)
        assert len(attempts) == MAX_ATTEMPTS


async def test_sqlite_write_transaction_takes_the_lock_at_begin_and_locked_is_retried(settings: Settings, factory) -> None:
    engine = factory.kw["bind"]
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite locking")
    other = sqlite3.connect(engine.url.database, timeout=0, isolation_level=None)  # "another process"
    attempts = []
    try:
        async def work(session: AsyncSession) -> int:
            attempts.append(1)
            if len(attempts) == 1:  # before any write of ours: BEGIN IMMEDIATE already holds the lock
                with pytest.raises(sqlite3.OperationalError, match="database is locked") as locked:
                    other.execute("BEGIN IMMEDIATE")
                raise OperationalError("BEGIN IMMEDIATE", {}, locked.value)  # as the driver would report it
            await session.execute(text("INSERT INTO retry_probe VALUES (7)"))
            return len(attempts)

        assert await run_transaction(factory, work) == 2
        assert await _rows(factory) == [7]
        other.execute("BEGIN IMMEDIATE")  # free again once the transaction ended
        other.execute("ROLLBACK")
    finally:
        other.close()


async def test_sqlite_read_then_transaction_sees_current_data(settings: Settings, factory) -> None:
    """A session that read first (a deferred read transaction) still writes on a fresh snapshot."""
    engine = factory.kw["bind"]
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite locking")
    async with factory() as session:
        assert (await session.execute(text("SELECT count(*) FROM retry_probe"))).scalar_one() == 0
        other = sqlite3.connect(engine.url.database, isolation_level=None)
        other.execute("INSERT INTO retry_probe VALUES (1)")
        other.close()
        async with transaction(session):
            count = (await session.execute(text("SELECT count(*) FROM retry_probe"))).scalar_one()
            await session.execute(text("INSERT INTO retry_probe VALUES (:n)"), {"n": count + 1})
    assert await _rows(factory) == [1, 2]
