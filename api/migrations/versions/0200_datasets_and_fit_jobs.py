"""issue 5: datasets (content-addressed eval tables) and fit_jobs (the durable fit queue)

Revision ID: 0200_fits
Revises: 0100_money
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0200_fits"
down_revision: str | None = "0100_money"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "datasets",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("visibility", sa.String(16), nullable=False),
        sa.Column("owner_id", sa.String(32), sa.ForeignKey("participants.id"), nullable=False),
        sa.Column("source_format", sa.String(16), nullable=False),
        sa.Column("n_rows", sa.Integer(), nullable=False),
        sa.Column("families", sa.JSON(), nullable=False),
        sa.Column("models", sa.JSON(), nullable=False),
        sa.Column("tasks", sa.JSON(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "fit_jobs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("dataset_id", sa.String(32), sa.ForeignKey("datasets.id"), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("options_key", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("stage", sa.String(100), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("lease_owner", sa.String(100), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("diagnostics", sa.JSON(), nullable=True),
        sa.Column("emergence", sa.JSON(), nullable=True),
        sa.Column("idata_path", sa.String(500), nullable=True),
        sa.Column("created_by", sa.String(32), sa.ForeignKey("participants.id"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("fit_seconds", sa.Float(), nullable=True),
    )
    op.create_index("ix_fit_jobs_state_created", "fit_jobs", ["state", "created_at"])
    op.create_index("ix_fit_jobs_options_key", "fit_jobs", ["options_key"])


def downgrade() -> None:
    op.drop_index("ix_fit_jobs_options_key", table_name="fit_jobs")
    op.drop_index("ix_fit_jobs_state_created", table_name="fit_jobs")
    op.drop_table("fit_jobs")
    op.drop_table("datasets")
