"""issue 5 scale-out: fit_jobs.queue_job_id and, on PostgreSQL only, procrastinate's own schema

On PostgreSQL fits are dispatched by procrastinate (api/domain/fits/queue.py): this revision applies the
`schema.sql` that ships with the installed procrastinate (its tables, types, PL/pgSQL functions and
NOTIFY triggers) into the current schema (search_path), unless procrastinate's tables are already
there. `fit_jobs.queue_job_id` links a fit to its procrastinate job (NULL on SQLite, where the
`fit_jobs` table itself is the queue).

Upgrading procrastinate: its schema changes ship as files in `procrastinate/sql/migrations`; the last
one is 03.04.00 (pinned by a test in tests/api/test_fits.py). A release that adds one needs a new Alembic
revision executing that file.

Revision ID: 0300_procrastinate
Revises: 0200_fits
"""
from __future__ import annotations

import inspect
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0300_procrastinate"
down_revision: str | None = "0200_fits"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _execute_script(bind: sa.Connection, script: str) -> None:
    """Run a multi-statement SQL script on the driver connection (asyncpg and psycopg run several
    statements in one call only without bind parameters, which SQLAlchemy always prepares)."""
    from sqlalchemy.util import await_only

    result = bind.connection.driver_connection.execute(script)
    if inspect.isawaitable(result):
        await_only(result)


def upgrade() -> None:
    with op.batch_alter_table("fit_jobs") as batch:
        batch.add_column(sa.Column("queue_job_id", sa.BigInteger(), nullable=True))
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    if bind.execute(sa.text("SELECT to_regclass('procrastinate_jobs')")).scalar() is None:
        from procrastinate.schema import SchemaManager

        _execute_script(bind, SchemaManager.get_schema())


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        _execute_script(bind, r"""
            DROP TABLE IF EXISTS procrastinate_events, procrastinate_periodic_defers, procrastinate_jobs,
                procrastinate_workers CASCADE;
            DO $$ DECLARE f record; BEGIN
                FOR f IN SELECT p.oid::regprocedure AS signature FROM pg_proc p
                         JOIN pg_namespace n ON n.oid = p.pronamespace
                         WHERE p.proname LIKE 'procrastinate\_%' AND n.nspname = current_schema() LOOP
                    EXECUTE 'DROP FUNCTION IF EXISTS ' || f.signature || ' CASCADE';
                END LOOP;
            END $$;
            DROP TYPE IF EXISTS procrastinate_job_to_defer_v1, procrastinate_job_event_type,
                procrastinate_job_status CASCADE;""")
    with op.batch_alter_table("fit_jobs") as batch:
        batch.drop_column("queue_job_id")
