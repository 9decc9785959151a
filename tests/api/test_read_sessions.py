"""GET requests' sessions (api.db.sessions): autocommit reads on PostgreSQL, the ordinary isolation
on SQLite, and an ORM write through a read session refused before it reaches the database."""
from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from api.auth import hash_api_key, new_api_key
from api.db import create_engine, create_session_factory
from api.db.models import Participant
from api.db.sessions import read_session_factory
from api.settings import Settings

pytestmark = pytest.mark.anyio


@pytest.fixture
async def engine(settings: Settings, client: AsyncTestClient) -> AsyncIterator[AsyncEngine]:
    """An engine of the test's own loop on the database the app has migrated (see conftest's `db`)."""
    engine = create_engine(settings)
    yield engine
    await engine.dispose()


async def test_a_read_session_reads_in_autocommit_on_postgresql_only(engine: AsyncEngine) -> None:
    async with read_session_factory(engine)() as session:
        count = (await session.execute(select(func.count()).select_from(Participant))).scalar_one()
        connection = await session.connection()
        level = connection.sync_connection.get_execution_options().get("isolation_level")  # type: ignore[union-attr]
        if engine.dialect.name == "postgresql":  # the driver opened no transaction for the SELECT
            assert not (await connection.get_raw_connection()).driver_connection.is_in_transaction()
    assert count == 0
    assert level == ("AUTOCOMMIT" if engine.dialect.name == "postgresql" else None)


async def test_a_read_session_refuses_an_orm_write(engine: AsyncEngine) -> None:
    async with read_session_factory(engine)() as session:
        session.add(Participant(handle="sneaky", display_name="S", api_key_hash=hash_api_key(new_api_key())))
        with pytest.raises(RuntimeError, match="cannot write"):
            await session.flush()
    async with create_session_factory(engine)() as session:
        assert (await session.execute(select(func.count()).select_from(Participant))).scalar_one() == 0


def test_the_hot_read_routes_are_marked_read_only() -> None:
    from api.domain.questions.routes import get_question
    from api.domain.scoring.routes import leaderboard

    assert get_question.opt.get("db_read_only") and leaderboard.opt.get("db_read_only")
