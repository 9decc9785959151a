"""Questions: create, edit (only before any prediction, bet or market), open/close, read with derived state."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import numpy as np
from sqlalchemy import String, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.db import direct, transaction, utcnow
from api.db.sessions import Db
from api.db.models import Participant, Prediction, Question
from api.db.money import Bet, Market
from api.domain.questions.schemas import QuestionCreate, QuestionOut, QuestionUpdate, ResultLinkOut
from api.errors import ApiError, forbidden, not_found
from forecast.scoring import GRID_POINTS, grid_edges, to_scale


def as_utc(moment: datetime) -> datetime:
    """Naive datetimes are UTC; aware ones are converted to UTC."""
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def derived_state(question: Question, now: datetime | None = None) -> str:
    """draft | open | closed | resolved | annulled (closed = open and past closes_at)."""
    if question.state == "open" and (now or utcnow()) >= question.closes_at:
        return "closed"
    return question.state


def open_conditions(question: Any, now: Any) -> tuple[Any, Any, Any]:
    """The one rule for taking part as three conditions: state open, opens_at <= now, now < closes_at.
    Bools for a loaded `Question` and a datetime; SQL expressions for `Question.__table__.c` and a
    bind parameter (the one-statement submission's WHERE in `api.domain.predictions.service`)."""
    return question.state == "open", question.opens_at <= now, now < question.closes_at


def question_is_open(question: Question, now: datetime | None = None) -> bool:
    """The one rule for taking part: predictions, bet offers and acceptances, market openings and
    trades are accepted while the question's state is open and now is in [opens_at, closes_at)."""
    return all(open_conditions(question, now or utcnow()))


async def load_open_question(session: AsyncSession, question_id: str, refusal: str) -> Question:
    """The question a bet or market is opened on: 404 if it is missing or a draft, 409 with
    `refusal` unless `question_is_open`. On PostgreSQL the row is share-locked until the caller's
    transaction ends, so a concurrent edit of the question's terms cannot slip in (`update_question`)."""
    statement = select(Question).where(Question.id == question_id)
    if session.bind.dialect.name == "postgresql":  # an edit (FOR UPDATE) waits for this bet or market, or it for the edit
        statement = statement.with_for_update(read=True)
    question = (await session.execute(statement)).scalar_one_or_none()
    if question is None or question.state == "draft":
        raise not_found("question", "question_id")
    if not question_is_open(question):
        raise ApiError(409, refusal, "question_id")
    return question


def question_grid(question: Question) -> list[float] | None:
    """The GRID_POINTS grid edges of a numeric question (in its unit); None for binary ones, and for
    a degenerate row stored before bounds were checked (`_check_grid`)."""
    if question.kind != "numeric" or question.lower is None or question.upper is None:
        return None
    try:
        return [float(v) for v in grid_edges(question.lower, question.upper, question.scale or "linear", GRID_POINTS)]
    except ValueError:
        return None


def _check_grid(q: Question) -> None:
    """422 naming `upper` unless the bounds give GRID_POINTS finite, strictly increasing edges whose
    bucket widths have finite reciprocals, in the question's unit and in the scale scores use (a
    degenerate grid, e.g. bounds [0, 5e-324], could not be scored and would block its resolution)."""
    assert q.lower is not None and q.upper is not None
    scale = q.scale or "linear"
    with np.errstate(all="ignore"):
        try:
            edges = grid_edges(q.lower, q.upper, scale, GRID_POINTS)
        except ValueError as error:
            raise ApiError(422, f"invalid bounds: {error}", "upper") from None
        usable = all(np.isfinite(e).all() and (np.diff(e) > 0).all() and np.isfinite(1.0 / np.diff(e)).all()
                     for e in (edges, to_scale(edges, scale)))
    if not usable:
        raise ApiError(422, f"lower and upper are too close (or too far apart) to split into {GRID_POINTS - 1} "
                       f"distinct buckets", "upper")


def _check_definition(q: Question) -> None:
    """Semantic checks shared by create and edit; 422 naming the field."""
    if q.closes_at <= q.opens_at:
        raise ApiError(422, "closes_at must be after opens_at", "closes_at")
    if q.kind == "numeric":
        if q.lower is None or q.upper is None:
            raise ApiError(422, "numeric questions need lower and upper bounds", "lower" if q.lower is None else "upper")
        if not q.lower < q.upper:
            raise ApiError(422, "upper must be greater than lower", "upper")
        if q.scale == "log" and q.lower <= 0:
            raise ApiError(422, "a log-scale question needs lower > 0", "lower")
        _check_grid(q)
    else:
        for name in ("lower", "upper", "unit", "scale"):
            if getattr(q, name) is not None:
                raise ApiError(422, f"binary questions have no {name}", name)
        if q.link_family is not None and q.link_threshold is None:
            raise ApiError(422, "a binary question linked to a result needs link.threshold", "link.threshold")
    if (q.link_params is None) != (q.link_tokens is None):
        missing = "tokens" if q.link_tokens is None else "params"
        raise ApiError(422, "give the linked model's scale as both link.params and link.tokens, or neither",
                       f"link.{missing}")


def _apply_link(question: Question, link: object | None) -> None:
    for name in ("family", "model", "task", "metric", "threshold", "params", "tokens"):
        setattr(question, f"link_{name}", getattr(link, name) if link is not None else None)


async def count_forecasters(session: AsyncSession, question_ids: list[str]) -> dict[str, int]:
    """Distinct forecasters per question id."""
    if not question_ids:
        return {}
    rows = await session.execute(
        select(Prediction.question_id, func.count(func.distinct(Prediction.participant_id)))
        .where(Prediction.question_id.in_(question_ids)).group_by(Prediction.question_id)
    )
    return {qid: int(n) for qid, n in rows.all()}


def to_out(question: Question, n_forecasters: int, now: datetime | None = None) -> QuestionOut:
    """The public view of a question (outcome only once resolved)."""
    link = None
    if question.link_family is not None:
        link = ResultLinkOut(family=question.link_family, model=question.link_model or "", task=question.link_task or "",
                             metric=question.link_metric or "", threshold=question.link_threshold,
                             params=question.link_params, tokens=question.link_tokens)
    resolved = question.state == "resolved"
    return QuestionOut(
        id=question.id, kind=question.kind, title=question.title, description=question.description,
        resolution_criteria=question.resolution_criteria, creator_id=question.creator_id,
        state=derived_state(question, now), accepting_predictions=question_is_open(question, now),
        opens_at=question.opens_at, closes_at=question.closes_at, lower=question.lower, upper=question.upper,
        unit=question.unit, scale=question.scale, grid=question_grid(question), link=link,
        outcome=question.outcome if resolved else None, resolved_at=question.resolved_at if resolved else None,
        n_forecasters=n_forecasters, created_at=question.created_at,
    )


def can_manage(question: Question, participant: Participant) -> bool:
    return participant.role == "admin" or question.creator_id == participant.id


async def load_question(session: AsyncSession, question_id: str, viewer: Participant, for_update: bool = False) -> Question:
    """The question if the viewer may see it (drafts only by creator/admin); 404 otherwise."""
    statement = select(Question).where(Question.id == question_id)
    if for_update and session.bind.dialect.name == "postgresql":
        statement = statement.with_for_update()
    question = (await session.execute(statement)).scalar_one_or_none()
    if question is None or (question.state == "draft" and not can_manage(question, viewer)):
        raise not_found("question", "question_id")
    return question


async def _load_managed(session: AsyncSession, actor: Participant, question_id: str, refusal: str) -> Question:
    """The question, row-locked on PostgreSQL, if `actor` may manage it; 404 if invisible, 403 with `refusal` otherwise."""
    question = await load_question(session, question_id, actor, for_update=True)
    if not can_manage(question, actor):
        raise forbidden(refusal)
    return question


async def create_question(session: AsyncSession, creator: Participant, data: QuestionCreate) -> QuestionOut:
    """Insert a question after semantic checks (bounds, scale, link, times)."""
    now = utcnow()
    question = Question(
        kind=data.kind, title=data.title, description=data.description, resolution_criteria=data.resolution_criteria,
        creator_id=creator.id, state=data.state, opens_at=as_utc(data.opens_at) if data.opens_at else now,
        closes_at=as_utc(data.closes_at), lower=data.lower, upper=data.upper, unit=data.unit,
        scale=data.scale or ("linear" if data.kind == "numeric" else None), created_at=now, updated_at=now,
    )
    _apply_link(question, data.link)
    _check_definition(question)
    async with transaction(session):
        session.add(question)
    return to_out(question, 0)


async def _stakes_on(session: AsyncSession, question_id: str) -> str | None:
    """What freezes a question's terms ("predictions", "bets", "a market"), or None if nothing does yet."""
    for what, model in (("predictions", Prediction), ("bets", Bet), ("a market", Market)):
        found = await session.execute(select(model.id).where(model.question_id == question_id).limit(1))
        if found.first() is not None:
            return what
    return None


async def update_question(session: AsyncSession, editor: Participant, question_id: str, data: QuestionUpdate) -> QuestionOut:
    """Edit fields; only creator/admin, only draft/open questions, only while no prediction, bet or
    market exists on it (then its terms are frozen: 409)."""
    async with transaction(session):
        question = await _load_managed(session, editor, question_id, "only the creator or an admin can edit this question")
        if question.state not in {"draft", "open"}:
            raise ApiError(409, f"a {question.state} question cannot be edited", "question_id")
        if (frozen := await _stakes_on(session, question.id)) is not None:
            raise ApiError(409, f"the question has {frozen}: its terms are frozen", "question_id")
        changes = data.model_dump(exclude_unset=True)
        for name, value in changes.items():
            if name == "link":
                _apply_link(question, data.link)
            elif name in {"opens_at", "closes_at"} and value is not None:
                setattr(question, name, as_utc(value))
            else:
                setattr(question, name, value)
        _check_definition(question)
        question.updated_at = utcnow()
    return to_out(question, 0)


async def set_open_state(session: AsyncSession, actor: Participant, question_id: str, action: str) -> QuestionOut:
    """`open` a draft, or `close` an open question now (creator or admin)."""
    async with transaction(session):
        question = await _load_managed(session, actor, question_id, "only the creator or an admin can do this")
        now = utcnow()
        if action == "open":
            if question.state != "draft":
                raise ApiError(409, "only a draft question can be opened", "question_id")
            question.state = "open"
            question.opens_at = min(question.opens_at, now)
        else:
            if derived_state(question, now) != "open":
                raise ApiError(409, "only an open question can be closed", "question_id")
            question.closes_at = now
        question.updated_at = now
    counts = await count_forecasters(session, [question.id])
    return to_out(question, counts.get(question.id, 0))


_Q = Question.__table__
_QUESTION_ID = bindparam("question_id", type_=String())
_P = Prediction.__table__
# The question's distinct forecasters, counted by stepping through them on the (question,
# participant, created_at) index: one index lookup per forecaster (the smallest participant id after
# the last one), not one per stored version, which COUNT(DISTINCT ...) reads (a loose index scan).
_FORECASTERS = select(func.min(_P.c.participant_id).label("pid")).where(_P.c.question_id == _QUESTION_ID).cte(
    "forecasters", recursive=True)
_FORECASTERS = _FORECASTERS.union_all(
    select(select(func.min(_P.c.participant_id)).where(_P.c.question_id == _QUESTION_ID, _P.c.participant_id > _FORECASTERS.c.pid)
           .scalar_subquery()).where(_FORECASTERS.c.pid.is_not(None)))
# The question's columns and its distinct forecasters, by id: one Core statement (no ORM session).
_QUESTION_AND_FORECASTERS = select(
    *_Q.c, select(func.count(_FORECASTERS.c.pid)).scalar_subquery().label("n_forecasters")).where(_Q.c.id == _QUESTION_ID)


_SQLITE_QUESTION_AND_FORECASTERS = direct.Prepared(_QUESTION_AND_FORECASTERS)
_PG_QUESTION_AND_FORECASTERS = direct.Prepared(_QUESTION_AND_FORECASTERS, direct.POSTGRES)


async def get_question(db: Db, viewer: Participant, question_id: str) -> QuestionOut:
    """One question with its forecaster count, in one statement (`api.db.direct`: no thread hop
    on SQLite, one round trip on PostgreSQL, no session); 404 as `load_question`."""
    params = {"question_id": question_id}
    row = await direct.first(db.engine, _SQLITE_QUESTION_AND_FORECASTERS, _PG_QUESTION_AND_FORECASTERS, params)
    if row is direct.BUSY:
        async with db.session() as session:
            row = (await session.execute(_QUESTION_AND_FORECASTERS, params)).first()
    # The row has every column of the question as an attribute, which is all `to_out` reads.
    if row is None or (row.state == "draft" and not can_manage(row, viewer)):
        raise not_found("question", "question_id")
    return to_out(row, int(row.n_forecasters))


async def list_questions(session: AsyncSession, viewer: Participant, state: str | None, limit: int, offset: int) -> list[QuestionOut]:
    """Questions visible to the viewer, newest first, optionally filtered by (derived) state."""
    statement = select(Question).order_by(Question.created_at.desc(), Question.id)
    if viewer.role != "admin":
        statement = statement.where((Question.state != "draft") | (Question.creator_id == viewer.id))
    now = utcnow()
    if state in {"open", "closed"}:
        statement = statement.where(Question.state == "open")
        statement = statement.where(Question.closes_at > now if state == "open" else Question.closes_at <= now)
    elif state is not None:
        statement = statement.where(Question.state == state)
    questions = list((await session.execute(statement.limit(limit).offset(offset))).scalars())
    counts = await count_forecasters(session, [q.id for q in questions])
    return [to_out(q, counts.get(q.id, 0), now) for q in questions]
