"""Core service tables: participants, questions, predictions, resolutions, scores, sealed results,
idempotency records. All ids are random 32-hex strings; all timestamps UTC (`UTCDateTime`).

Append-only by design: predictions are never updated except that a commitment row receives its
opening once (salt, payload, opened_at); resolutions and scores get new rows on correction, the old
ones are kept with `is_current = False`.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from api.db import IdBase, UTCDateTime, utcnow


class Participant(IdBase):
    """A researcher, admin or bot. The API key is stored only as its sha256 hex digest."""

    __tablename__ = "participants"

    handle: Mapped[str] = mapped_column(String(40), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16), default="participant")  # participant | admin
    is_bot: Mapped[bool] = mapped_column(Boolean, default=False)
    api_key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Question(IdBase):
    """A binary or numeric question. `state` stored is draft|open|resolved|annulled; "closed" is
    derived (open and now >= closes_at). Numeric questions have bounds, unit and scale (linear|log)."""

    __tablename__ = "questions"

    kind: Mapped[str] = mapped_column(String(16))  # binary | numeric
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    resolution_criteria: Mapped[str] = mapped_column(Text, default="")
    creator_id: Mapped[str] = mapped_column(ForeignKey("participants.id"))
    state: Mapped[str] = mapped_column(String(16), default="open")
    opens_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closes_at: Mapped[datetime] = mapped_column(UTCDateTime())
    lower: Mapped[float | None] = mapped_column(Float, nullable=True)
    upper: Mapped[float | None] = mapped_column(Float, nullable=True)
    unit: Mapped[str | None] = mapped_column(String(40), nullable=True)
    scale: Mapped[str | None] = mapped_column(String(8), nullable=True)  # linear | log
    link_family: Mapped[str | None] = mapped_column(String(100), nullable=True)
    link_model: Mapped[str | None] = mapped_column(String(200), nullable=True)
    link_task: Mapped[str | None] = mapped_column(String(200), nullable=True)
    link_metric: Mapped[str | None] = mapped_column(String(100), nullable=True)
    link_threshold: Mapped[float | None] = mapped_column(Float, nullable=True)
    link_params: Mapped[float | None] = mapped_column(Float, nullable=True)  # the linked model's announced scale
    link_tokens: Mapped[float | None] = mapped_column(Float, nullable=True)
    outcome: Mapped[float | None] = mapped_column(Float, nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (Index("ix_questions_link", "link_family", "link_model", "link_task", "link_metric"),)


class Prediction(IdBase):
    """One submitted version (append-only). `kind` is probability|quantiles|cdf, or commitment until
    opened. `payload` is the canonical prediction body; `probability` duplicates binary values."""

    __tablename__ = "predictions"

    question_id: Mapped[str] = mapped_column(ForeignKey("questions.id"))
    participant_id: Mapped[str] = mapped_column(ForeignKey("participants.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    kind: Mapped[str] = mapped_column(String(16))
    probability: Mapped[float | None] = mapped_column(Float, nullable=True)
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    commitment: Mapped[str | None] = mapped_column(String(64), nullable=True)
    salt: Mapped[str | None] = mapped_column(String(200), nullable=True)
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (Index("ix_predictions_question_participant", "question_id", "participant_id", "created_at"),)


class Resolution(IdBase):
    """A resolution version of a question: resolved (outcome) or annulled. Corrections add versions."""

    __tablename__ = "resolutions"

    question_id: Mapped[str] = mapped_column(ForeignKey("questions.id"))
    version: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))  # resolved | annulled
    outcome: Mapped[float | None] = mapped_column(Float, nullable=True)
    source: Mapped[str] = mapped_column(String(100))  # "result:<id>" | "manual"
    created_by: Mapped[str | None] = mapped_column(ForeignKey("participants.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    is_current: Mapped[bool] = mapped_column(Boolean, default=True)

    __table_args__ = (UniqueConstraint("question_id", "version", name="uq_resolutions_question_version"),)


class Score(IdBase):
    """Scores of the counting prediction of one participant under one resolution version.

    Units: log_score in nats (higher is better; binary log p(outcome), numeric log p(bucket));
    brier in probability^2 (binary only); crps in the question's scale units (log10 for log-scale
    questions) and crps_normalized = crps / range; pit in [0, 1]; covered_50/90 central intervals."""

    __tablename__ = "scores"

    prediction_id: Mapped[str] = mapped_column(ForeignKey("predictions.id"))
    question_id: Mapped[str] = mapped_column(ForeignKey("questions.id"))
    participant_id: Mapped[str] = mapped_column(ForeignKey("participants.id"))
    resolution_id: Mapped[str] = mapped_column(ForeignKey("resolutions.id"))
    is_current: Mapped[bool] = mapped_column(Boolean, default=True)
    outcome: Mapped[float] = mapped_column(Float)
    probability: Mapped[float | None] = mapped_column(Float, nullable=True)
    log_score: Mapped[float] = mapped_column(Float)
    brier: Mapped[float | None] = mapped_column(Float, nullable=True)
    crps: Mapped[float | None] = mapped_column(Float, nullable=True)
    crps_normalized: Mapped[float | None] = mapped_column(Float, nullable=True)
    pit: Mapped[float | None] = mapped_column(Float, nullable=True)
    covered_50: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    covered_90: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (
        Index("ix_scores_participant_current", "participant_id", "is_current"),
        Index("ix_scores_question_current", "question_id", "is_current"),
    )


class SealedResult(IdBase):
    """An uploaded large-model result (eval-table rows), invisible to non-admins until revealed.
    `resolution_errors`: the linked questions its reveal could not resolve, and why."""

    __tablename__ = "sealed_results"

    source: Mapped[str] = mapped_column(String(200))
    rows: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    reveal_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revealed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    resolution_errors: Mapped[list[dict[str, str]] | None] = mapped_column(JSON, nullable=True)  # admins only
    created_by: Mapped[str] = mapped_column(ForeignKey("participants.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class IdempotencyRecord(IdBase):
    """The first response to a POST with an `Idempotency-Key`, replayed on retries.

    `scope` names the operation (e.g. "predictions.submit"); `request_hash` is sha256 of the
    canonical request, so a reused key with a different body is refused (409)."""

    __tablename__ = "idempotency_records"

    participant_id: Mapped[str] = mapped_column(ForeignKey("participants.id"))
    scope: Mapped[str] = mapped_column(String(60))
    key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[Any] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (UniqueConstraint("participant_id", "scope", "key", name="uq_idempotency_key"),)
