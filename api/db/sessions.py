"""Request sessions: `provide_db_session` gives each request one `AsyncSession`, from the app's
`session_factory`, except on routes marked read-only (`opt=READ_ONLY` on the route decorator) on
PostgreSQL, which read without a transaction.

Why: on PostgreSQL an ordinary session opens every request with BEGIN and ends it with ROLLBACK,
two round trips around a read that needs one. A read at PostgreSQL's default isolation (READ
COMMITTED) sees a fresh snapshot per statement either way, so reading in autocommit mode changes
nothing a handler can observe. Only routes that never write may be marked (not every GET: the
balance creates the account on first use); a read session refuses an ORM flush that would write
(`ReadOnlySession`), so a write reached from a marked route fails loudly instead of committing
statement by statement. SQLite gains nothing from autocommit (the driver begins no transaction for
a SELECT), so there the marked routes' sessions differ only by that refusal.

The hot paths (`api.db.direct`) take no request session at all: their routes pass a `Db`, which
opens a session only if the path falls back to the ORM.
"""
from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Request
from litestar.datastructures import State
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

READ_ONLY = {"db_read_only": True}
"""The route option marking a handler that never writes: `@get("/v1/...", opt=READ_ONLY)`."""


class ReadOnlySession(Session):
    """A session that refuses to flush pending changes (the sync half of a read session)."""

    def flush(self, objects: Any = None) -> None:
        if self.new or self.dirty or self.deleted:
            raise RuntimeError("a read session (GET request) cannot write: use a POST/PATCH route")
        super().flush(objects)


def read_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions for reads: autocommit on PostgreSQL (no BEGIN/ROLLBACK), refusing ORM writes."""
    bind = engine.execution_options(isolation_level="AUTOCOMMIT") if engine.dialect.name == "postgresql" else engine
    return async_sessionmaker(bind, expire_on_commit=False, sync_session_class=ReadOnlySession)


async def provide_db_session(request: Request[Any, Any, Any], state: State) -> AsyncIterator[AsyncSession]:
    """One session per request; services commit their own writes (see `api.db.transaction`)."""
    factory = state.read_session_factory if request.route_handler.opt.get("db_read_only") else state.session_factory
    async with factory() as session:
        yield session


class Db:
    """A hot path's database access without a request session (`api.db.direct`): the `engine`, and
    `session()`, which opens a session from `factory` only when the path falls back to the ORM (or
    lends the caller's own session, for callers that already have one: `Db.of(session)`)."""

    __slots__ = ("engine", "_factory", "_session")

    def __init__(self, engine: AsyncEngine, factory: async_sessionmaker[AsyncSession] | None = None,
                 session: AsyncSession | None = None) -> None:
        self.engine, self._factory, self._session = engine, factory, session

    @classmethod
    def of(cls, session: AsyncSession) -> Db:
        """The access of a caller that holds `session` (the web pages, the model bot)."""
        assert isinstance(session.bind, AsyncEngine), "sessions are bound to an engine (create_session_factory)"
        return cls(session.bind, session=session)

    @classmethod
    def for_request(cls, state: State, read_only: bool = False) -> Db:
        """A request's access: sessions from the app's factory (its read factory when `read_only`)."""
        return cls(state.engine, state.read_session_factory if read_only else state.session_factory)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """The lent session, or a new one closed on exit."""
        if self._session is not None:
            yield self._session
            return
        assert self._factory is not None
        async with self._factory() as session:
            yield session
