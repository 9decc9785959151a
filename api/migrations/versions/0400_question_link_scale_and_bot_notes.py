"""issue 5: the linked model's announced scale on questions, and the model bot's notes

`questions.link_params` / `link_tokens`: optional, set together; the linked model's parameters and
training tokens, public like the rest of the link, so the model bot (and anyone) can extrapolate to
that model. `bot_notes`: per linked question, what the model bot last did (forecast | abstained) and
why, in plain words.

Revision ID: 0400_link_scale
Revises: 0300_procrastinate
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0400_link_scale"
down_revision: str | None = "0300_procrastinate"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("questions") as batch:
        batch.add_column(sa.Column("link_params", sa.Float(), nullable=True))
        batch.add_column(sa.Column("link_tokens", sa.Float(), nullable=True))
    op.create_table(
        "bot_notes",
        sa.Column("question_id", sa.String(32), sa.ForeignKey("questions.id"), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("fit_id", sa.String(32), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("bot_notes")
    with op.batch_alter_table("questions") as batch:
        batch.drop_column("link_tokens")
        batch.drop_column("link_params")
