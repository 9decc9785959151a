"""issue 21 (leaks, integrity): datasets unique per (owner, sha256); sealed results' resolution errors

`datasets`: the content address is unique per owner, not globally, so another owner's identical
upload creates the uploader's own dataset instead of returning (and naming) someone else's.
`sealed_results.resolution_errors`: the linked questions a reveal could not resolve, and why
(admins only; each question resolves in its own transaction).

Revision ID: 0510_leaks
Revises: 0400_link_scale
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0510_leaks"
down_revision: str | None = "0400_link_scale"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite's unique constraint from 0200 has no name: batch mode names it through this convention.
SQLITE_NAMES = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def _global_unique_name() -> str:
    return "datasets_sha256_key" if op.get_bind().dialect.name == "postgresql" else "uq_datasets_sha256"


def upgrade() -> None:
    with op.batch_alter_table("datasets", naming_convention=SQLITE_NAMES) as batch:
        batch.drop_constraint(_global_unique_name(), type_="unique")
        batch.create_unique_constraint("uq_datasets_owner_sha256", ["owner_id", "sha256"])
    with op.batch_alter_table("sealed_results") as batch:
        batch.add_column(sa.Column("resolution_errors", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sealed_results") as batch:
        batch.drop_column("resolution_errors")
    with op.batch_alter_table("datasets", naming_convention=SQLITE_NAMES) as batch:
        batch.drop_constraint("uq_datasets_owner_sha256", type_="unique")
        batch.create_unique_constraint(_global_unique_name(), ["sha256"])
