"""Sealed results, reveal, resolution, annulment and correction.

Every resolution change runs in ONE transaction: the new `resolutions` row (older ones kept with
is_current=False), the question's state/outcome, fresh scores (older ones kept, is_current=False),
then the registered resolution hooks (`api.hooks`), then commit.

Hidden-data rule: non-admins get the same 404 for an unrevealed result as for a missing one, and
nothing (counts, scores, question state) changes before the reveal.
"""
from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import require_admin
from api.db import transaction, utcnow
from api.db.models import Participant, Prediction, Question, Resolution, Score, SealedResult
from api.domain.questions.service import as_utc, load_question
from api.domain.reading import Readable
from api.domain.results.schemas import ResolutionIn, ResolutionOut, ResultOut, ResultUpload, RevealReport
from api.domain.scoring.service import score_rows
from api.errors import ApiError, not_found
from api.hooks import ResolutionEvent, run_resolution_hooks

LINK_COLUMNS = ("family", "model", "task", "metric")


def _validated_rows(data: ResultUpload) -> list[dict[str, Any]]:
    """Rows validated by forecast.evaltable (422 naming the first bad row/column) as JSON-safe dicts."""
    import pandas as pd

    from forecast.evaltable import EvalTableError, validate_eval_table

    try:
        table = validate_eval_table(pd.DataFrame(data.rows), source=data.source, chance=data.chance)
    except EvalTableError as error:
        first = error.problems[0]
        field = "rows" if first.row is None else f"rows[{first.row - 1}]"
        if first.column is not None:
            field += f".{first.column}"
        raise ApiError(422, str(error), field) from None
    except (ValueError, TypeError) as error:
        raise ApiError(422, f"invalid eval-table rows: {error}", "rows") from None
    records = table.to_dict(orient="records")
    return [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()} for r in records]


async def upload_result(session: AsyncSession, admin: Participant, data: ResultUpload) -> ResultOut:
    require_admin(admin)
    rows = _validated_rows(data)
    result = SealedResult(source=data.source, rows=rows, reveal_at=as_utc(data.reveal_at), created_by=admin.id)
    async with transaction(session):
        session.add(result)
    return ResultOut.model_validate(result)


RESULTS = Readable(SealedResult, ResultOut, "result", "result_id", lambda viewer: SealedResult.revealed_at.is_not(None))


def _counting(predictions: list[Prediction], cutoff: datetime) -> list[Prediction]:
    """Latest opened prediction before `cutoff` per participant."""
    latest: dict[str, Prediction] = {}
    for p in sorted(predictions, key=lambda r: (r.created_at, r.id)):
        if p.kind != "commitment" and p.created_at < cutoff:
            latest[p.participant_id] = p
    return list(latest.values())


async def _new_resolution(session: AsyncSession, question: Question, kind: str, outcome: float | None,
                          source: str, actor_id: str | None) -> Resolution:
    version = (await session.execute(select(func.coalesce(func.max(Resolution.version), 0))
                                     .where(Resolution.question_id == question.id))).scalar_one()
    await session.execute(update(Resolution).where(Resolution.question_id == question.id).values(is_current=False))
    await session.execute(update(Score).where(Score.question_id == question.id).values(is_current=False))
    resolution = Resolution(question_id=question.id, version=int(version) + 1, kind=kind, outcome=outcome,
                            source=source, created_by=actor_id, created_at=utcnow(), is_current=True)
    session.add(resolution)
    await session.flush()
    return resolution


def _check_outcome(question: Question, outcome: float) -> float:
    if not math.isfinite(outcome):
        raise ApiError(422, "outcome must be finite", "outcome")
    if question.kind == "binary" and outcome not in (0.0, 1.0):
        raise ApiError(422, "a binary outcome must be 0 or 1", "outcome")
    if question.kind == "numeric" and question.scale == "log" and outcome <= 0:
        raise ApiError(422, "a log-scale outcome must be > 0", "outcome")
    return float(outcome)


async def resolve_question(session: AsyncSession, question: Question, outcome: float, source: str,
                           actor_id: str | None) -> Resolution:
    """Resolve (or correct) inside the caller's transaction: resolution row, scores, hooks."""
    outcome = _check_outcome(question, outcome)
    if question.state == "annulled":
        raise ApiError(409, "the question is annulled", "question_id")
    if question.state == "draft":
        raise ApiError(409, "a draft question cannot be resolved", "question_id")
    previous = question.outcome if question.state == "resolved" else None
    kind = "corrected" if question.state == "resolved" else "resolved"
    now = utcnow()
    resolution = await _new_resolution(session, question, "resolved", outcome, source, actor_id)
    question.state, question.outcome = "resolved", outcome
    question.resolved_at = question.resolved_at or now
    question.updated_at = now
    cutoff = min(question.closes_at, question.resolved_at)
    predictions = list((await session.execute(select(Prediction).where(Prediction.question_id == question.id))).scalars())
    for values in score_rows(question, outcome, _counting(predictions, cutoff)):
        session.add(Score(question_id=question.id, resolution_id=resolution.id, is_current=True, computed_at=now, **values))
    await session.flush()
    await run_resolution_hooks(session, ResolutionEvent(question.id, kind, outcome, previous, resolution.id, source))
    return resolution


async def annul_question(session: AsyncSession, admin: Participant, question_id: str) -> ResolutionOut:
    """Annul: no scores count (previous ones kept as history), hooks told `annulled`."""
    require_admin(admin)
    async with transaction(session):
        question = await load_question(session, question_id, admin, for_update=True)
        if question.state == "annulled":
            raise ApiError(409, "the question is already annulled", "question_id")
        previous = question.outcome if question.state == "resolved" else None
        resolution = await _new_resolution(session, question, "annulled", None, "manual", admin.id)
        question.state, question.outcome, question.updated_at = "annulled", None, utcnow()
        await run_resolution_hooks(session, ResolutionEvent(question.id, "annulled", None, previous, resolution.id, "manual"))
    return ResolutionOut.model_validate(resolution)


async def resolve_manually(session: AsyncSession, admin: Participant, question_id: str, data: ResolutionIn) -> ResolutionOut:
    """Admin resolution of an open/closed question, or correction of a resolved one."""
    require_admin(admin)
    async with transaction(session):
        question = await load_question(session, question_id, admin, for_update=True)
        resolution = await resolve_question(session, question, data.outcome, "manual", admin.id)
    return ResolutionOut.model_validate(resolution)


async def list_resolutions(session: AsyncSession, viewer: Participant, question_id: str) -> list[ResolutionOut]:
    question = await load_question(session, question_id, viewer)
    rows = (await session.execute(select(Resolution).where(Resolution.question_id == question.id).order_by(Resolution.version))).scalars()
    return [ResolutionOut.model_validate(r) for r in rows]


def _outcome_from_row(question: Question, value: float) -> float:
    if question.kind == "binary":
        assert question.link_threshold is not None
        return 1.0 if value >= question.link_threshold else 0.0
    return float(value)


async def _reveal(session: AsyncSession, result: SealedResult, now: datetime) -> list[str]:
    """Mark revealed and resolve every open linked question; returns their ids."""
    result.revealed_at = now
    values = {tuple(str(row.get(c)) for c in LINK_COLUMNS): row.get("value") for row in result.rows}
    questions = (await session.execute(select(Question).where(Question.state == "open", Question.link_family.is_not(None)))).scalars().all()
    resolved = []
    for question in questions:
        value = values.get((question.link_family, question.link_model, question.link_task, question.link_metric))
        if value is None:
            continue
        await resolve_question(session, question, _outcome_from_row(question, float(value)), f"result:{result.id}", None)
        resolved.append(question.id)
    return resolved


async def reveal_result(session: AsyncSession, admin: Participant, result_id: str) -> RevealReport:
    """Admin action: reveal now (before `reveal_at` if wanted)."""
    require_admin(admin)
    async with transaction(session):
        result = await session.get(SealedResult, result_id)
        if result is None:
            raise not_found("result", "result_id")
        if result.revealed_at is not None:
            raise ApiError(409, "the result is already revealed", "result_id")
        resolved = await _reveal(session, result, utcnow())
    return RevealReport(result=ResultOut.model_validate(result), resolved_question_ids=resolved)


async def reveal_due_results(session: AsyncSession, now: datetime | None = None) -> list[str]:
    """Reveal every result whose reveal_at has passed (background loop); returns revealed ids."""
    now = now or utcnow()
    revealed = []
    async with transaction(session):
        due = (await session.execute(select(SealedResult).where(SealedResult.revealed_at.is_(None), SealedResult.reveal_at <= now))).scalars().all()
        for result in due:
            await _reveal(session, result, now)
            revealed.append(result.id)
    return revealed
