"""Fixtures for the API tests: a fresh real database per test, parametrised over SQLite (always) and
PostgreSQL (when TURNSIGNAL_TEST_POSTGRES_URL is set), and an AsyncTestClient on the real app.

`settings` names the test's database; `fit_settings` adds a private data directory (fit posteriors)
and a short fit lease and worker poll, so a test's worker finds a dead one within seconds. The app
runs on `fit_settings`; tests that run a worker pass it `fit_settings` too.

PostgreSQL isolation: each test gets its own randomly named schema (search_path), created before
and dropped (CASCADE) after the test, so parallel runs and leftovers never collide.

Test modules set `pytestmark = pytest.mark.anyio`. Use from other test modules (e.g. issue 4's)::

    async def test_x(client, make_participant):
        admin = await make_participant("root", role="admin")      # -> Actor(key, id, headers)
        r = await client.get("/v1/me", headers=admin.headers)
"""
from __future__ import annotations

import dataclasses
import functools
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from sqlalchemy.ext.asyncio import AsyncSession

from api.app import create_app
from api.db import create_engine, create_session_factory
from api.settings import Settings

POSTGRES_URL = os.environ.get("TURNSIGNAL_TEST_POSTGRES_URL")
# Rate limits far above what any test sends (the middleware still runs); test_rate_limits sets tight ones.
GENEROUS_LIMITS = {"rate_registration": "100000/minute", "rate_writes": "100000/minute", "rate_plots": "100000/minute"}
DATABASES = ["sqlite"] + (["postgres"] if POSTGRES_URL else [])


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def _pg_admin(sql: str) -> None:
    import asyncpg

    assert POSTGRES_URL is not None
    conn = await asyncpg.connect(POSTGRES_URL.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(params=DATABASES)
async def settings(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Settings]:
    """Settings pointing at a fresh, empty database of the parametrised kind."""
    if request.param == "sqlite":
        yield Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'turnsignal.db'}", reveal_poll_seconds=0.2,
                       leaderboard_min_questions=1, max_body_bytes=65_536, **GENEROUS_LIMITS)
        return
    schema = f"ts_test_{uuid.uuid4().hex[:12]}"
    await _pg_admin(f'CREATE SCHEMA "{schema}"')
    try:
        yield Settings(database_url=POSTGRES_URL or "", database_schema=schema, reveal_poll_seconds=0.2,
                       leaderboard_min_questions=1, max_body_bytes=65_536, db_pool_size=25,
                       **GENEROUS_LIMITS)
    finally:
        await _pg_admin(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def fit_settings(settings: Settings, tmp_path: Path) -> Settings:
    """`settings` with fit posteriors under the test's tmp dir, a 3 s fit lease and a 0.2 s worker poll."""
    return dataclasses.replace(settings, data_dir=str(tmp_path / "data"), fit_lease_seconds=3.0,
                               worker_poll_seconds=0.2)


@pytest.fixture
async def app(fit_settings: Settings) -> Litestar:
    return create_app(fit_settings)


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[AsyncTestClient]:
    """A started app (migrations applied) behind Litestar's AsyncTestClient."""
    async with AsyncTestClient(app=app) as test_client:
        yield test_client


@dataclass(frozen=True)
class Actor:
    """A registered participant as the tests see it."""

    id: str
    handle: str
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


@asynccontextmanager
async def db(settings: Settings) -> AsyncIterator[AsyncSession]:
    """A session on a private engine (disposed afterwards) in the caller's event loop: the test client
    runs the app in another loop, and an asyncpg connection must not cross loops, so the app's pooled
    connections are never used from a test."""
    engine = create_engine(settings)
    try:
        async with create_session_factory(engine)() as session:
            yield session
    finally:
        await engine.dispose()


@pytest.fixture
async def db_session(settings: Settings, client: AsyncTestClient) -> AsyncIterator[AsyncSession]:
    """A session on the test database from the test's own event loop (after the app has migrated it)."""
    async with db(settings) as session:
        yield session


async def create_actor(session: AsyncSession, handle: str, role: str = "participant", is_bot: bool = False,
                       display_name: str | None = None) -> Actor:
    """Create a participant directly through the service (as `turnsignal admin create-participant` does)."""
    from api.domain.participants.schemas import ParticipantCreate
    from api.domain.participants.service import create_participant

    created = await create_participant(session, ParticipantCreate(
        handle=handle, display_name=display_name or handle.title(), role=role, is_bot=is_bot))
    return Actor(created.participant.id, created.participant.handle, created.api_key)


@pytest.fixture
def make_participant(db_session: AsyncSession) -> Callable[..., Awaitable[Actor]]:
    """`await make_participant(handle, role="participant", is_bot=False)` -> Actor, on the test database."""
    return functools.partial(create_actor, db_session)
