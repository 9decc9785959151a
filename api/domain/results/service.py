"""Sealed results, reveal, resolution, annulment and correction.

Every resolution change of a question runs in ONE transaction: the new `resolutions` row (older ones
kept with is_current=False), the question's state/outcome, fresh scores (older ones kept,
is_current=False), then the registered resolution hooks (`api.hooks`), then commit. A reveal resolves
each linked question in its own such transaction: one that fails (e.g. a question whose terms cannot
be scored) is recorded on the result (`resolution_errors`, shown to admins only), is closed at once
(the result is public now) and leaves the others resolved; an admin retries it with the same reveal
action (or annuls the question).

Counting: per participant, the latest version before close counts. If that is a commitment left
unopened, it is scored as the worst forecast the rules allow, so opening only the commitments that
turned out well gains nothing.

Hidden-data rule: non-admins get the same 404 for an unrevealed result as for a missing one, and
nothing (counts, scores, question state) changes before the reveal.
"""
from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import require_admin
from api.db import transaction, utcnow
from api.db.models import Participant, Prediction, Question, Resolution, Score, SealedResult
from api.domain.predictions.service import PROBABILITY_MAX, PROBABILITY_MIN
from api.domain.questions.service import as_utc, load_question, question_grid
from api.domain.reading import Readable
from api.domain.results.schemas import ResolutionIn, ResolutionOut, ResultOut, ResultUpload, RevealReport
from api.domain.scoring.service import score_rows
from api.errors import ApiError, not_found
from api.hooks import ResolutionEvent, run_resolution_hooks
from forecast.scoring import GRID_POINTS, to_scale

log = logging.getLogger("turnsignal.results")

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


class _Results(Readable[ResultOut]):
    """Sealed results as `Readable`, with `resolution_errors` shown to admins only."""

    async def get(self, session: AsyncSession, viewer: Participant, row_id: str) -> ResultOut:
        return _for_viewer(viewer, await super().get(session, viewer, row_id))

    async def list_all(self, session: AsyncSession, viewer: Participant) -> list[ResultOut]:
        return [_for_viewer(viewer, out) for out in await super().list_all(session, viewer)]


def _for_viewer(viewer: Participant, out: ResultOut) -> ResultOut:
    return out if viewer.role == "admin" else out.model_copy(update={"resolution_errors": None})


RESULTS = _Results(SealedResult, ResultOut, "result", "result_id", lambda viewer: SealedResult.revealed_at.is_not(None))


def _counting(predictions: list[Prediction], cutoff: datetime) -> list[Prediction]:
    """Latest version before `cutoff` per participant, opened or not (an unopened commitment is
    scored as the worst forecast: `_as_scored`)."""
    latest: dict[str, Prediction] = {}
    for p in sorted(predictions, key=lambda r: (r.created_at, r.id)):
        if p.created_at < cutoff:
            latest[p.participant_id] = p
    return list(latest.values())


def _worst_forecast(question: Question, outcome: float) -> dict[str, Any]:
    """The worst forecast the rules allow for `outcome` (`probability` and `payload`): binary, the
    bound probability against the outcome; numeric, a grid CDF with all its mass in the bucket
    farthest from the outcome."""
    if question.kind == "binary":
        p = PROBABILITY_MIN if outcome == 1.0 else PROBABILITY_MAX
        return {"probability": p, "payload": {"probability": p}}
    edges = to_scale(question_grid(question) or [], question.scale or "linear")
    in_upper_half = float(to_scale([outcome], question.scale or "linear")[0]) >= (edges[0] + edges[-1]) / 2
    cdf = [0.0] + [1.0] * (GRID_POINTS - 1) if in_upper_half else [0.0] * (GRID_POINTS - 1) + [1.0]
    return {"probability": None, "payload": {"cdf": cdf}}


def _as_scored(question: Question, outcome: float, prediction: Prediction) -> Any:
    """What is scored for a counting version: itself, or for an unopened commitment the worst
    forecast, so that leaving a commitment unopened never beats opening it (no selective opening)."""
    if prediction.kind != "commitment":
        return prediction
    return SimpleNamespace(id=prediction.id, participant_id=prediction.participant_id,
                           **_worst_forecast(question, outcome))


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
    counting = [_as_scored(question, outcome, p) for p in _counting(predictions, cutoff)]
    for values in score_rows(question, outcome, counting):
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


def _is_postgres(session: AsyncSession) -> bool:
    return session.bind.dialect.name == "postgresql"


async def _open_linked(session: AsyncSession, rows: list[dict[str, Any]]) -> list[tuple[str, float]]:
    """(question id, linked value) of every open question linked to one of `rows`."""
    values = {tuple(str(row.get(c)) for c in LINK_COLUMNS): row.get("value") for row in rows}
    questions = (await session.execute(select(Question).where(Question.state == "open", Question.link_family.is_not(None)))).scalars().all()
    linked = [(q.id, values.get((q.link_family, q.link_model, q.link_task, q.link_metric))) for q in questions]
    await session.rollback()  # end the read: each question then resolves in its own transaction
    return [(question_id, float(value)) for question_id, value in linked if value is not None]


async def _resolve_from(session: AsyncSession, result_id: str, question_id: str, value: float) -> bool:
    """Resolve one linked question in its own transaction; False if it is no longer open (another
    worker, process or admin got there first). The transaction starts with a conditional UPDATE of
    the question's row: it takes the row lock on PostgreSQL and the write lock on SQLite before the
    state is read, so two resolvers can never both see it open."""
    claim = update(Question).where(Question.id == question_id, Question.state == "open").values(updated_at=utcnow())
    statement = select(Question).where(Question.id == question_id).execution_options(populate_existing=True)
    async with transaction(session):
        if (await session.execute(claim)).rowcount != 1:
            return False
        question = (await session.execute(statement)).scalar_one()
        await resolve_question(session, question, _outcome_from_row(question, value), f"result:{result_id}", None)
    return True


async def _resolve_linked(session: AsyncSession, result_id: str, rows: list[dict[str, Any]]) -> tuple[list[str], dict[str, str]]:
    """Resolve every open question linked to the result's rows, each in its own transaction, so one
    that cannot be resolved blocks none of the others; (resolved ids, {question id: why it failed})."""
    resolved: list[str] = []
    errors: dict[str, str] = {}
    for question_id, value in await _open_linked(session, rows):
        try:
            if await _resolve_from(session, result_id, question_id, value):
                resolved.append(question_id)
        except ApiError as error:
            errors[question_id] = error.message
        except Exception as error:  # a bug or a database failure: reported to admins, the others go on
            log.exception("resolving question %s from result %s failed", question_id, result_id)
            errors[question_id] = f"{type(error).__name__}: {error}"
        if question_id in errors:
            await _close_now(session, question_id)
    return resolved, errors


async def _close_now(session: AsyncSession, question_id: str) -> None:
    """Close a question its result's reveal could not resolve: once the result is public nobody may
    forecast, bet or trade on it any more (it stays open for the admin's retry of the resolution)."""
    statement = select(Question).where(Question.id == question_id).execution_options(populate_existing=True)
    try:
        async with transaction(session):
            question = (await session.execute(statement.with_for_update() if _is_postgres(session) else statement)).scalar_one()
            now = utcnow()
            if question.state == "open" and question.closes_at > now:
                question.closes_at, question.updated_at = now, now
    except Exception:  # the database itself is failing: the admin sees the resolution error anyway
        log.exception("closing unresolved question %s failed", question_id)


@asynccontextmanager
async def _result_writer(session: AsyncSession) -> AsyncIterator[AsyncSession]:
    """Where sealed results are locked and marked revealed. PostgreSQL: a second session whose one
    transaction holds the result rows' locks while the questions resolve through `session`, so two
    workers never reveal the same result at once. SQLite: `session` itself (one writer at a time)."""
    if not _is_postgres(session):
        yield session
        return
    async with AsyncSession(session.bind, expire_on_commit=False) as claim, claim.begin():
        yield claim


async def _mark_revealed(session: AsyncSession, writer: AsyncSession, result_id: str, now: datetime,
                         errors: dict[str, str]) -> SealedResult:
    """Set `revealed_at` (kept if already set) and the resolution errors (None when all resolved)."""
    async def mark() -> SealedResult:
        result = await writer.get(SealedResult, result_id, populate_existing=True)
        assert result is not None
        result.revealed_at = result.revealed_at or now
        result.resolution_errors = [{"question_id": q, "error": e} for q, e in errors.items()] or None
        await writer.flush()
        return result

    if writer is not session:
        return await mark()  # committed with the writer's transaction, which holds the row lock
    async with transaction(session):
        return await mark()


async def _reveal(session: AsyncSession, writer: AsyncSession, result_id: str, rows: list[dict[str, Any]],
                  now: datetime) -> tuple[SealedResult, list[str]]:
    resolved, errors = await _resolve_linked(session, result_id, rows)
    return await _mark_revealed(session, writer, result_id, now, errors), resolved


def _locked(session: AsyncSession, statement: Any, skip_locked: bool = False) -> Any:
    return statement.with_for_update(skip_locked=skip_locked) if _is_postgres(session) else statement


async def reveal_result(session: AsyncSession, admin: Participant, result_id: str) -> RevealReport:
    """Admin action: reveal now (before `reveal_at` if wanted), or retry the questions whose
    resolution failed at an earlier reveal (`resolution_errors`); 409 if nothing is left to do."""
    require_admin(admin)
    async with _result_writer(session) as writer:
        statement = _locked(writer, select(SealedResult).where(SealedResult.id == result_id))
        result = (await writer.execute(statement)).scalar_one_or_none()
        if result is None:
            raise not_found("result", "result_id")
        if result.revealed_at is not None and not result.resolution_errors:
            raise ApiError(409, "the result is already revealed", "result_id")
        rows = list(result.rows)
        if writer is session:
            await session.rollback()
        result, resolved = await _reveal(session, writer, result_id, rows, utcnow())
    return RevealReport(result=ResultOut.model_validate(result), resolved_question_ids=resolved)


async def reveal_due_results(session: AsyncSession, now: datetime | None = None) -> list[str]:
    """Reveal every result whose reveal_at has passed (background loop); returns revealed ids. A
    question that cannot be resolved is recorded on its result (`resolution_errors`) and skipped;
    results another worker is revealing (row-locked on PostgreSQL) are left to it."""
    now = now or utcnow()
    revealed = []
    async with _result_writer(session) as writer:
        statement = select(SealedResult).where(SealedResult.revealed_at.is_(None), SealedResult.reveal_at <= now)
        due = [(r.id, list(r.rows)) for r in (await writer.execute(_locked(writer, statement, skip_locked=True))).scalars()]
        if writer is session:
            await session.rollback()
        for result_id, rows in due:
            await _reveal(session, writer, result_id, rows, now)
            revealed.append(result_id)
    return revealed
