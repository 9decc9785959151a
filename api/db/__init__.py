"""The one place for the database: engine, sessions, the declarative base, transactions, migrations.

Models live in `api/db/models.py` (core service tables); later features add their own modules
(`api/db/money.py`, `api/domain/fits/repository.py`) importing `Base` or `IdBase` from here, and their
own Alembic revision chained after the current head (api/migrations/env.py imports every such module).

SQLite (the embedded default) runs in WAL mode with foreign keys on and a busy timeout. Every write
transaction (`transaction()`) starts with ``BEGIN IMMEDIATE``, so writers in several processes on one
file serialise on SQLite's own lock and everything a write transaction reads is current; inside one
process an asyncio lock queues writers first (fair, no busy polling). PostgreSQL needs no lock:
row locks, constraints and transactions do the work. Three hot paths (a binary prediction without an
Idempotency-Key, a question read, an API-key lookup) run one statement outside any session instead: `api.db.direct`
(on SQLite under the same rules: BEGIN IMMEDIATE, and never while the asyncio lock is held).

Lock order (PostgreSQL row locks; every transaction that takes several takes them in this order, so
two transactions cannot deadlock on them): idempotency key -> question -> markets (by id) -> bets (by
id) -> market positions -> ledger accounts (sorted by id). `run_transaction` still retries the
serialization and deadlock failures PostgreSQL may report (SQLSTATE 40001, 40P01), and "database is
locked" on SQLite, so a client never sees them.
"""
from __future__ import annotations

import asyncio
import fcntl
import functools
import random
import time
import uuid
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import DateTime, String, event, make_url, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from api.settings import Settings

_WRITE_LOCKS: "weakref.WeakKeyDictionary[Any, asyncio.Lock]" = weakref.WeakKeyDictionary()
_BUSY_SECONDS: "weakref.WeakKeyDictionary[Any, float]" = weakref.WeakKeyDictionary()  # SQLite engines' busy timeout
MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
IMMEDIATE = "turnsignal_begin_immediate"  # connection execution option: SQLite BEGIN IMMEDIATE
RETRY_SQLSTATES = frozenset({"40001", "40P01"})  # serialization failure, deadlock detected
MAX_ATTEMPTS = 6
T = TypeVar("T")


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


def _sqlite_pragmas(busy_ms: int, dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={busy_ms}")  # first: setting WAL mode may itself wait
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
    # Let SQLAlchemy's "begin" event emit BEGIN itself (the driver would begin lazily, after the
    # first reads, so a transaction's reads could predate another process's write).
    dbapi_connection.isolation_level = None


def _sqlite_begin(connection: Connection) -> None:
    """BEGIN IMMEDIATE (take the write lock now, waiting up to the busy timeout) for write
    transactions (`transaction()`); a deferred BEGIN for reads."""
    immediate = connection.get_execution_options().get(IMMEDIATE, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def create_engine(settings: Settings, *, driver: str | None = None, pool_size: int | None = None) -> AsyncEngine:
    """An async engine for `settings.database_url` (SQLite via aiosqlite, or PostgreSQL via asyncpg).

    `driver="psycopg"` opens the same PostgreSQL database through psycopg 3 instead (the fit queue
    needs psycopg connections to defer procrastinate jobs inside a transaction: api/domain/fits/queue.py)."""
    url = settings.database_url
    pool_size = pool_size or settings.db_pool_size
    if url.startswith("sqlite"):
        busy = settings.db_busy_timeout_seconds
        engine = create_async_engine(url, connect_args={"timeout": busy}, pool_size=pool_size, max_overflow=pool_size)
        event.listen(engine.sync_engine, "connect", functools.partial(_sqlite_pragmas, round(busy * 1000)))
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
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
        _BUSY_SECONDS[engine.sync_engine] = settings.db_busy_timeout_seconds
    return engine


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit (responses are built after commit)."""
    return async_sessionmaker(engine, expire_on_commit=False)


def _sync_engine(session: AsyncSession) -> Any:
    bind = session.bind
    return bind.sync_engine if isinstance(bind, AsyncEngine) else bind.engine  # type: ignore[union-attr]


def _write_lock(session: AsyncSession) -> asyncio.Lock | None:
    return _WRITE_LOCKS.get(_sync_engine(session))


def write_lock(engine: AsyncEngine) -> asyncio.Lock | None:
    """The in-process asyncio lock that queues SQLite writers on `engine` (None on PostgreSQL)."""
    return _WRITE_LOCKS.get(engine.sync_engine)


@asynccontextmanager
async def transaction(session: AsyncSession) -> AsyncIterator[AsyncSession]:
    """One atomic write: commit on success (before the response is built), roll back on any error.

    On SQLite a read transaction the session already has is ended first, then the engine's asyncio
    lock is taken and the transaction begins with BEGIN IMMEDIATE (see the module doc), so writers
    queue instead of failing with "database is locked", in one process or several. Nothing is left
    half-written when the block raises.
    """
    lock = _write_lock(session)
    if lock is not None:
        if session.in_transaction():
            await session.commit()  # a deferred read transaction cannot become IMMEDIATE
        # Queue for the lock holding no pooled connection, so the holder can always get one.
        await lock.acquire()
    try:
        if lock is not None:
            await session.connection(execution_options={IMMEDIATE: True})
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise
    finally:
        if lock is not None:
            lock.release()


def is_retryable(error: BaseException) -> bool:
    """True for failures that a fresh attempt of the same transaction may pass: PostgreSQL
    serialization failures and deadlocks, SQLite "database is locked"."""
    if not isinstance(error, DBAPIError):
        return False
    if getattr(error.orig, "sqlstate", None) in RETRY_SQLSTATES or getattr(error.orig, "pgcode", None) in RETRY_SQLSTATES:
        return True
    return is_database_busy(error)


def is_database_busy(error: BaseException) -> bool:
    """True for SQLite's "database is locked" (another connection held the write lock past the busy timeout)."""
    return isinstance(error, DBAPIError) and "database is locked" in str(error.orig)


def _waited_long_enough(session: AsyncSession, error: DBAPIError, started: float) -> bool:
    busy = _BUSY_SECONDS.get(_sync_engine(session))
    return busy is not None and is_database_busy(error) and time.monotonic() - started >= busy


def session_factory_of(session: AsyncSession) -> async_sessionmaker[AsyncSession]:
    """A factory of sessions on the same engine as `session` (as `create_session_factory`)."""
    assert isinstance(session.bind, AsyncEngine), "sessions are bound to an engine (create_session_factory)"
    return create_session_factory(session.bind)


async def run_transaction(
    session_factory: async_sessionmaker[AsyncSession], fn: Callable[[AsyncSession], Awaitable[T]],
    attempts: int = MAX_ATTEMPTS,
) -> T:
    """`fn(session)` in one `transaction()` on a fresh session, retried (up to `attempts` times in
    all, after a short random pause of a few ms) when the database reports a retryable failure
    (`is_retryable`). `fn` must do nothing but database work: it may run more than once.

    On SQLite, "database is locked" is retried only until the engine's busy timeout
    (`Settings.db_busy_timeout_seconds`) has passed since the first attempt: a lock another
    connection holds longer than that surfaces (the API answers 503, `api.errors`) instead of
    being waited for `attempts` times over."""
    started = time.monotonic()
    for attempt in range(1, attempts + 1):
        async with session_factory() as session:
            try:
                async with transaction(session):
                    return await fn(session)
            except DBAPIError as error:
                if attempt == attempts or not is_retryable(error) or _waited_long_enough(session, error, started):
                    raise
        await asyncio.sleep(random.uniform(0.001, 0.005 * 2**attempt))  # seconds
    raise AssertionError("unreachable")


def _upgrade_with_connection(connection: Connection, revision: str) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config(str(MIGRATIONS_DIR / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


@contextmanager
def _migration_file_lock(engine: AsyncEngine) -> Iterator[None]:
    """An exclusive `fcntl` lock on `<database file>.migrate.lock` (SQLite files only; a no-op
    otherwise), so processes starting at once on one fresh file migrate one after the other."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:" or database.startswith("file:"):
        yield
        return
    with open(f"{database}.migrate.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


async def run_migrations(engine: AsyncEngine, revision: str = "head") -> None:
    """Apply Alembic migrations up to `revision` on `engine` (called at service start, and by every
    worker). Concurrent starts on one fresh database (several API processes, an API and its
    workers) migrate one at a time: on PostgreSQL under a transaction-scoped advisory lock, on
    SQLite under a file lock beside the database (and BEGIN IMMEDIATE)."""
    lock = _migration_file_lock(engine)
    await asyncio.to_thread(lock.__enter__)  # blocks while another process migrates
    try:
        async with engine.connect() as connection:
            connection = await connection.execution_options(**{IMMEDIATE: True})
            async with connection.begin():
                if connection.dialect.name == "postgresql":
                    await connection.execute(text("SELECT pg_advisory_xact_lock(hashtext(coalesce(current_schema(), '')), 5150)"))
                await connection.run_sync(_upgrade_with_connection, revision)
    finally:
        lock.__exit__(None, None, None)
