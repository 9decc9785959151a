"""One-statement hot paths that skip the ORM session (issue 18): a prediction submission, a
question read and an API-key lookup (on a key-cache miss) cost one statement each, on SQLite no
thread hop, and no request session is opened for them (`api.db.sessions.Db` opens one only when a
path falls back). `first(engine, sqlite_work, postgres_statement, params)` is the one place that
decides between the two databases.

Why: per statement, SQLAlchemy's aiosqlite adapter hops to the connection's thread and back about
four times (cursor, execute, fetch, close), and each hop hands the GIL between two threads; on
PostgreSQL an ORM write is BEGIN, SELECT, INSERT, COMMIT. Here:

* **SQLite** (a database file): a plain `sqlite3` connection per engine (one per thread that uses
  it), used on the event loop's own thread. A statement of this kind takes microseconds, so running
  it in place costs less than one hop. It never waits: its busy timeout is 0, and `run_sqlite`
  returns `BUSY` when the in-process write lock (`api.db.transaction`) is held or SQLite reports the
  file locked (another process writing), so the caller falls back to its ordinary (queueing, async)
  path. Writes run in BEGIN IMMEDIATE ... COMMIT, as `api.db.transaction`'s do. WAL checkpoints are
  not run on the loop's thread: the connection's auto-checkpoint is off and every
  `CHECKPOINT_EVERY` writes a passive checkpoint runs in a worker thread.
* **PostgreSQL**: asyncpg sends the statement on a pooled connection outside any transaction (one
  round trip, no BEGIN/COMMIT; the submission is one statement, so it is atomic by itself).

Statements are SQLAlchemy Core, written once at import by the callers
(`api.domain.predictions.service`, `api.domain.questions.service`, `api.auth`); `Prepared` compiles one for
a dialect once, with the column types' bind and result conversions, so a value is stored and read
exactly as through SQLAlchemy.
"""
from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import sqlite3
import threading
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Executable, Float
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.expression import Select

from api.db import write_lock

T = TypeVar("T")
BUSY: Any = object()
"""What `run_sqlite` returns when it could not run without waiting (the caller falls back)."""
CHECKPOINT_EVERY = 1000
_SQLITE = sqlite.dialect()
POSTGRES = postgresql.asyncpg.dialect()
"""The dialect to `Prepared` a statement for `fetch_one` with."""
_PRAGMAS = ("PRAGMA foreign_keys=ON", "PRAGMA synchronous=NORMAL", "PRAGMA wal_autocheckpoint=0")


def _result_processor(type_: Any, dialect: Dialect) -> Callable[[Any], Any] | None:
    """SQLAlchemy's conversion of a column of `type_` read through `dialect` (PostgreSQL's numeric
    conversions depend on the column's type oid: a Float column is float8, 701)."""
    return type_.dialect_impl(dialect).result_processor(dialect, 701 if isinstance(type_, Float) else None)  # type: ignore[no-any-return]


class Prepared:
    """A Core statement compiled once for one dialect (SQLite's pysqlite, or PostgreSQL's asyncpg):
    its SQL, its parameters' order and conversions (e.g. a datetime to SQLAlchemy's stored text, a
    dict to JSON) and, for a SELECT, its columns' conversions; rows come back as named tuples
    (attribute access by column key), converted as SQLAlchemy would."""

    def __init__(self, statement: Executable, dialect: Dialect = _SQLITE) -> None:
        compiled = statement.compile(dialect=dialect)
        self.compiled = compiled
        self.sql = compiled.string
        self.names = list(compiled.positiontup or ())
        binds = [compiled.binds[name] for name in self.names]
        # per position: (name, the statement's own value for a literal, its bind conversion or None)
        self.positions = [(name, bind.effective_value, bind.type.dialect_impl(dialect).bind_processor(dialect))
                          for name, bind in zip(self.names, binds)]
        columns = list(statement.selected_columns) if isinstance(statement, Select) else []
        self.result = [_result_processor(c.type, dialect) for c in columns]
        self.row = collections.namedtuple("Row", [c.key for c in columns], rename=True) if columns else None  # type: ignore[misc]

    def parameters(self, params: dict[str, Any]) -> list[Any]:
        """The driver's positional parameters: `params` by name (a literal of the statement when
        absent), converted as SQLAlchemy would."""
        values = [params.get(name, literal) for name, literal, _ in self.positions]
        return [convert(value) if convert else value for value, (_, _, convert) in zip(values, self.positions)]

    def execute(self, connection: sqlite3.Connection, params: dict[str, Any]) -> sqlite3.Cursor:
        return connection.execute(self.sql, self.parameters(params))

    def convert(self, raw: Any) -> Any:
        """A driver's row (a tuple or an asyncpg Record) as a named tuple of converted values; None stays None."""
        if raw is None:
            return None
        assert self.row is not None
        return self.row(*(convert(v) if convert else v for convert, v in zip(self.result, raw)))

    def first(self, connection: sqlite3.Connection, params: dict[str, Any]) -> Any:
        """The first row (converted), or None."""
        return self.convert(self.execute(connection, params).fetchone())


class _DirectSqlite:
    """sqlite3 connections on one database file (one per thread), and the write counter for checkpoints."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.local = threading.local()
        self.writes = 0
        self.checkpointing = False

    def connection(self) -> sqlite3.Connection:
        connection = getattr(self.local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(self.path, timeout=0, isolation_level=None, check_same_thread=False)
            for pragma in _PRAGMAS:
                connection.execute(pragma)
            self.local.connection = connection
        return connection  # type: ignore[no-any-return]

    def wrote(self) -> None:
        self.writes += 1
        if self.writes % CHECKPOINT_EVERY == 0 and not self.checkpointing:
            self.checkpointing = True
            task = asyncio.get_running_loop().run_in_executor(None, self._checkpoint)
            task.add_done_callback(lambda _: setattr(self, "checkpointing", False))

    def _checkpoint(self) -> None:
        with contextlib.suppress(sqlite3.Error), contextlib.closing(sqlite3.connect(self.path, timeout=0)) as connection:
            connection.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def close(self) -> None:
        connection = getattr(self.local, "connection", None)
        if connection is not None:
            connection.close()
            self.local.connection = None


_ENGINES: "weakref.WeakKeyDictionary[Any, _DirectSqlite | None]" = weakref.WeakKeyDictionary()


def _direct_sqlite(engine: AsyncEngine) -> _DirectSqlite | None:
    """The sqlite3 twin of `engine` (created on first use); None for in-memory or URI databases."""
    key = engine.sync_engine
    if key not in _ENGINES:
        database = engine.url.database
        usable = bool(database) and database != ":memory:" and not str(database).startswith("file:")
        _ENGINES[key] = _DirectSqlite(str(database)) if usable else None
    return _ENGINES[key]


def _busy(error: sqlite3.OperationalError) -> bool:
    return "locked" in str(error) or "busy" in str(error)


def run_sqlite(engine: AsyncEngine, work: Callable[[sqlite3.Connection], T], write: bool) -> T:
    """`work(connection)` on the engine's sqlite3 connection: when `write`, in one BEGIN IMMEDIATE
    transaction, committed unless `work` raises; otherwise in autocommit mode (one SELECT reads one
    snapshot). `BUSY` when it would have to wait or the database is not a file (the caller then
    takes its ordinary path)."""
    direct = _direct_sqlite(engine)
    lock = write_lock(engine)
    if direct is None or (write and lock is not None and lock.locked()):
        return BUSY  # type: ignore[no-any-return]
    connection = direct.connection()
    try:
        if not write:
            return work(connection)
        connection.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as error:
        if _busy(error):
            return BUSY  # type: ignore[no-any-return]
        raise
    try:
        result = work(connection)
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    direct.wrote()
    return result


async def fetch_one(engine: AsyncEngine, prepared: Prepared, params: dict[str, Any]) -> Any:
    """The first row (converted) of a statement `Prepared` for `POSTGRES`, sent by asyncpg on a
    pooled connection outside any transaction (one round trip; asyncpg keeps the statement
    prepared), or None when it returns no row."""
    async with engine.connect() as connection:
        raw = await connection.get_raw_connection()
        return prepared.convert(await raw.driver_connection.fetchrow(prepared.sql, *prepared.parameters(params)))


async def first(engine: AsyncEngine, sqlite_work: Prepared | Callable[[sqlite3.Connection], Any], postgres: Prepared,
                params: dict[str, Any], write: bool = False) -> Any:
    """One statement's first row, on whichever database `engine` is (the one place that decides):
    SQLite runs `sqlite_work` on the loop thread's sqlite3 connection (`run_sqlite`; a `Prepared`
    gives its first row, a callable its result), PostgreSQL sends `postgres` by asyncpg
    (`fetch_one`). None when there is no row; `BUSY` when the caller must take its ordinary path
    (SQLite only: a writer to wait for, or a database that is not a file)."""
    if engine.dialect.name == "postgresql":
        return await fetch_one(engine, postgres, params)
    work = functools.partial(sqlite_work.first, params=params) if isinstance(sqlite_work, Prepared) else sqlite_work
    return run_sqlite(engine, work, write)


def dispose(engine: AsyncEngine) -> None:
    """Close the event loop thread's sqlite3 connection of `engine`, if one was made (at app shutdown)."""
    direct = _ENGINES.pop(engine.sync_engine, None)
    if direct is not None:
        direct.close()


__all__ = ["BUSY", "POSTGRES", "Prepared", "dispose", "fetch_one", "first", "run_sqlite"]
