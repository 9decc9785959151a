"""Alembic environment. The service passes an open connection via `config.attributes["connection"]`
(see `api.db.run_migrations`); the `alembic` command line uses TURNSIGNAL_DATABASE_URL instead."""
from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

import api.db.models  # noqa: F401  (registers the core tables on Base.metadata)
import api.db.money  # noqa: F401  (issue 4: ledger, bets and markets tables)
import api.domain.fits.repository  # noqa: F401  (datasets, fit_jobs and bot_notes tables)
from api.db import Base, create_engine
from api.settings import Settings

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_from_settings() -> None:
    engine = create_engine(Settings.from_env())
    async with engine.begin() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


connection = context.config.attributes.get("connection")
if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run against a database")
elif connection is not None:
    _run(connection)
else:
    asyncio.run(_run_from_settings())
