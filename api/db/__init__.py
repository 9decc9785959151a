"""The one place for the database: engine, sessions, the declarative base, transactions, migrations.

Models live in `api/db/models.py` (core service tables); later features add their own modules
(`api/db/money.py`, `api/domain/fits/repository.py`) importing `Base` or `IdBase` from here, and their
own Alembic revision chained after the current head (api/migrations/env.py imports every such module).

SQLite (the embedded default) runs in WAL mode with foreign keys on and a busy timeout; writes inside
one process are serialised by an asyncio lock (`transaction()`), so concurrent requests never see
"database is locked". PostgreSQL needs no lock: row-level constraints and transactions do the work.
"""
from __future__ import annotations

import asyncio
import uuid
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, String, event, make_url, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from api.settings import Settings

_WRITE_LOCKS: "weakref.WeakKeyDictionary[Any, asyncio.Lock]" = weakref.WeakKeyDictionary()
MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(timezone.utc)


def new_id() -> str:
    """A random 32-hex-digit identifier (uuid4). Random ids leak no counts, unlike sequences."""
    return uuid.uuid4().hex


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as UTC and always returned timezone-aware (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    """Declarative base for every table of the service."""


class IdBase(Base):
    """Base of the tables keyed by `id`, a random 32-hex string (`new_id`)."""

    __abstract__ = True

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id, sort_order=-1)  # first column


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def create_engine(settings: Settings, *, driver: str | None = None, pool_size: int | None = None) -> AsyncEngine:
    """An async engine for `settings.database_url` (SQLite via aiosqlite, or PostgreSQL via asyncpg).

    `driver="psycopg"` opens the same PostgreSQL database through psycopg 3 instead (the fit queue
    needs psycopg connections to defer procrastinate jobs inside a transaction: api/domain/fits/queue.py)."""
    url = settings.database_url
    pool_size = pool_size or settings.db_pool_size
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30}, pool_size=pool_size, max_overflow=pool_size)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    elif driver == "psycopg":
        connect_args: dict[str, Any] = {}
        if settings.database_schema:
            connect_args["options"] = f"-c search_path={settings.database_schema}"
        engine = create_async_engine(make_url(url).set(drivername="postgresql+psycopg"), pool_size=pool_size,
                                     max_overflow=pool_size, connect_args=connect_args)
    else:
        connect_args = {}
        if settings.database_schema:
            connect_args["server_settings"] = {"search_path": settings.database_schema}
        engine = create_async_engine(
            url, pool_size=pool_size, max_overflow=pool_size, connect_args=connect_args
        )
    if url.startswith("sqlite"):
        _WRITE_LOCKS[engine.sync_engine] = asyncio.Lock()
    return engine


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit (responses are built after commit)."""
    return async_sessionmaker(engine, expire_on_commit=False)


def _write_lock(session: AsyncSession) -> asyncio.Lock | None:
    bind = session.bind
    sync_engine = bind.sync_engine if isinstance(bind, AsyncEngine) else bind.engine  # type: ignore[union-attr]
    return _WRITE_LOCKS.get(sync_engine)


@asynccontextmanager
async def transaction(session: AsyncSession) -> AsyncIterator[AsyncSession]:
    """One atomic write: commit on success (before the response is built), roll back on any error.

    On SQLite the engine's asyncio lock is held for the whole transaction so writers queue instead
    of failing with "database is locked". Nothing is left half-written when the block raises.
    """
    lock = _write_lock(session)
    if lock is not None:
        # Check out the connection BEFORE queueing for the lock: a lock holder waiting for a pooled
        # connection while connection holders wait for the lock would deadlock.
        await session.connection()
        await lock.acquire()
    try:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise
    finally:
        if lock is not None:
            lock.release()


def _upgrade_with_connection(connection: Connection, revision: str) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config(str(MIGRATIONS_DIR / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


async def run_migrations(engine: AsyncEngine, revision: str = "head") -> None:
    """Apply Alembic migrations up to `revision` on `engine` (called at service start, and by every
    worker). On PostgreSQL a transaction-scoped advisory lock serialises concurrent starts (an API and
    its workers migrating one fresh database at once)."""
    async with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            await connection.execute(text("SELECT pg_advisory_xact_lock(hashtext(coalesce(current_schema(), '')), 5150)"))
        await connection.run_sync(_upgrade_with_connection, revision)
