"""The fits slice's tables: `datasets` (immutable, content-addressed eval tables), `fit_jobs` (one row
per fit request: its state, progress, result and lease; api/domain/fits/queue.py dispatches it) and
`bot_notes` (what the model bot did about each linked question)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (JSON, BigInteger, Boolean, Float, ForeignKey, Index, Integer, LargeBinary, String, Text,
                        UniqueConstraint)
from sqlalchemy.orm import Mapped, mapped_column

from api.db import Base, IdBase, UTCDateTime, utcnow


class Dataset(IdBase):
    """An uploaded eval table. Immutable; `sha256` of the canonical CSV `content`, unique per owner
    (two owners uploading the same bytes each get their own dataset: docs/security.md)."""

    __tablename__ = "datasets"

    sha256: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    visibility: Mapped[str] = mapped_column(String(16), default="public")  # public | private
    owner_id: Mapped[str] = mapped_column(ForeignKey("participants.id"))
    source_format: Mapped[str] = mapped_column(String(16))  # csv | parquet | lm_eval_json
    n_rows: Mapped[int] = mapped_column(Integer)
    families: Mapped[list[str]] = mapped_column(JSON)
    models: Mapped[list[str]] = mapped_column(JSON)
    tasks: Mapped[list[str]] = mapped_column(JSON)
    metrics: Mapped[list[str]] = mapped_column(JSON)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (UniqueConstraint("owner_id", "sha256", name="uq_datasets_owner_sha256"),)


class FitJob(IdBase):
    """One fit request and its life: queued -> running -> done | failed | cancelled.

    `options_key` = sha256(dataset sha256 + canonical options JSON): equal keys share a fit.
    `progress` in [0, 1] with a human `stage`; timings in seconds; `diagnostics` as the model reports
    them (rhat_max, ess_bulk_min, divergences, compile/sampling seconds, warnings)."""

    __tablename__ = "fit_jobs"

    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id"))
    options: Mapped[dict[str, Any]] = mapped_column(JSON)
    options_key: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default="queued")
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    stage: Mapped[str] = mapped_column(String(100), default="queued")
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=2)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    lease_owner: Mapped[str | None] = mapped_column(String(100), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    queue_job_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # procrastinate job (PostgreSQL)
    diagnostics: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    emergence: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, nullable=True)
    idata_path: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_by: Mapped[str] = mapped_column(ForeignKey("participants.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    fit_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)

    __table_args__ = (
        Index("ix_fit_jobs_state_created", "state", "created_at"),
        Index("ix_fit_jobs_options_key", "options_key"),
    )


class BotNote(Base):
    """What the model bot last did about a linked question: `status` forecast | abstained, with the
    reason in plain words (which fit and scale it used, or why it could not forecast)."""

    __tablename__ = "bot_notes"

    question_id: Mapped[str] = mapped_column(ForeignKey("questions.id"), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    fit_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
