"""Predictions: validated, append-only, blinded; commit-reveal; Idempotency-Key.

`submit_prediction` is THE entry point for every forecaster, human or bot: a bot participant
(issue 5) calls it in-process with its own `Participant` row and the same `PredictionSubmit` body,
so the same rules (bounds, timing, versioning, blinding) apply to it.
"""
from __future__ import annotations

import math
import sqlite3
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from sqlalchemy import JSON, Float, String, bindparam, func, insert, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.commitment import canonical_json, commitment_digest
from api.db import UTCDateTime, direct, new_id, transaction, utcnow
from api.db.models import Participant, Prediction, Question
from api.db.sessions import Db
from api.domain.predictions.schemas import PredictionBody, PredictionOpening, PredictionOut, PredictionSubmit
from api.domain.questions.service import can_manage, derived_state, load_question, open_conditions, question_is_open
from api.errors import ApiError, not_found
from api.idempotency import Outcome, check_key, request_digest, run_once
from forecast.scoring import GRID_POINTS

PROBABILITY_MIN, PROBABILITY_MAX = 0.001, 0.999
REQUIRED_LEVELS = (0.05, 0.5, 0.95)
SUBMIT_SCOPE = "predictions.submit"


def _validate_binary(body: PredictionBody) -> tuple[str, float, dict[str, Any]]:
    if body.quantiles is not None or body.cdf is not None:
        raise ApiError(422, "a binary question takes only 'probability'", "quantiles" if body.quantiles else "cdf")
    p = body.probability
    if p is None:
        raise ApiError(422, "probability is required for a binary question", "probability")
    if not PROBABILITY_MIN <= p <= PROBABILITY_MAX:
        raise ApiError(422, f"probability must be in [{PROBABILITY_MIN}, {PROBABILITY_MAX}]", "probability")
    return "probability", p, {"probability": p}


def _validate_quantiles(question: Question, body: PredictionBody) -> dict[str, Any]:
    assert body.quantiles is not None
    levels, values = body.quantiles.levels, body.quantiles.values
    if len(levels) != len(values):
        raise ApiError(422, "quantiles.levels and quantiles.values must have the same length", "quantiles.values")
    if any(not 0 < a < 1 for a in levels) or any(b <= a for a, b in zip(levels, levels[1:])):
        raise ApiError(422, "quantile levels must be strictly increasing inside (0, 1)", "quantiles.levels")
    for required in REQUIRED_LEVELS:
        if not any(math.isclose(a, required, abs_tol=1e-9) for a in levels):
            raise ApiError(422, "quantile levels must include 0.05, 0.5 and 0.95", "quantiles.levels")
    if any(b <= a for a, b in zip(values, values[1:])):
        raise ApiError(422, "quantile values must be strictly increasing", "quantiles.values")
    assert question.lower is not None and question.upper is not None
    if values[0] < question.lower or values[-1] > question.upper:
        raise ApiError(422, f"quantile values must lie inside the bounds [{question.lower}, {question.upper}]", "quantiles.values")
    return {"quantiles": {"levels": list(levels), "values": list(values)}}


def _validate_cdf(body: PredictionBody) -> dict[str, Any]:
    cdf = body.cdf or []
    if len(cdf) != GRID_POINTS:
        raise ApiError(422, f"cdf must have {GRID_POINTS} values, one per grid edge", "cdf")
    if any(not 0 <= c <= 1 for c in cdf):
        raise ApiError(422, "cdf values must lie in [0, 1]", "cdf")
    if any(b < a for a, b in zip(cdf, cdf[1:])):
        raise ApiError(422, "cdf values must be nondecreasing", "cdf")
    return {"cdf": list(cdf)}


def validate_forecast(question: Question, body: PredictionBody) -> tuple[str, float | None, dict[str, Any]]:
    """(kind, probability, canonical payload) for a forecast on `question`, or a 422 naming the field."""
    if question.kind == "binary":
        return _validate_binary(body)
    if body.probability is not None:
        raise ApiError(422, "a numeric question takes 'quantiles' or 'cdf', not 'probability'", "probability")
    if (body.quantiles is None) == (body.cdf is None):
        raise ApiError(422, "give exactly one of 'quantiles' or 'cdf'", "quantiles")
    if body.quantiles is not None:
        return "quantiles", None, _validate_quantiles(question, body)
    return "cdf", None, _validate_cdf(body)


def _check_accepting(question: Question) -> None:
    state = derived_state(question)
    if state in {"resolved", "annulled"}:
        raise ApiError(409, f"the question is {state}: predictions are locked", "question_id")
    if state == "closed":
        raise ApiError(409, "the question is closed: predictions are no longer accepted", "question_id")
    if not question_is_open(question):
        raise ApiError(409, "the question is not open for predictions yet", "question_id")


async def _version_of(session: AsyncSession, prediction: Prediction) -> int:
    count = await session.execute(select(func.count()).select_from(Prediction).where(
        Prediction.question_id == prediction.question_id, Prediction.participant_id == prediction.participant_id,
        Prediction.created_at <= prediction.created_at))
    return int(count.scalar_one())


async def _question_and_version_count(session: AsyncSession, question_id: str, participant: Participant) -> tuple[Question, int]:
    """The question as `load_question` returns it (404 unless visible) and, in the same query, how
    many versions the participant already stored on it (the new one's version is that + 1; inside
    the write transaction, on SQLite under the write lock, exactly what `_version_of` counts after
    the insert)."""
    earlier = (select(func.count()).select_from(Prediction)
               .where(Prediction.question_id == question_id, Prediction.participant_id == participant.id)
               .scalar_subquery())
    row = (await session.execute(select(Question, earlier).where(Question.id == question_id))).one_or_none()
    if row is None or (row[0].state == "draft" and not can_manage(row[0], participant)):
        raise not_found("question", "question_id")
    return row[0], int(row[1])


def to_out(prediction: Prediction, version: int) -> PredictionOut:
    payload = prediction.payload or {}
    return PredictionOut(
        id=prediction.id, question_id=prediction.question_id, participant_id=prediction.participant_id,
        version=version, created_at=prediction.created_at, kind=prediction.kind, probability=prediction.probability,
        quantiles=payload.get("quantiles"), cdf=payload.get("cdf"), commitment=prediction.commitment,
        opened_at=prediction.opened_at,
    )


def _new_prediction(question: Question, participant: Participant, data: PredictionSubmit) -> Prediction:
    if data.commitment is not None:
        if data.probability is not None or data.quantiles is not None or data.cdf is not None:
            raise ApiError(422, "send either a forecast or a commitment, not both", "commitment")
        return Prediction(question_id=question.id, participant_id=participant.id, kind="commitment",
                          commitment=data.commitment, created_at=utcnow())
    kind, probability, payload = validate_forecast(question, data)
    return Prediction(question_id=question.id, participant_id=participant.id, kind=kind, probability=probability,
                      payload=payload, created_at=utcnow())


# ------------------------------------------------------------------ the one-statement submission
# A binary probability without an Idempotency-Key (what bots and most forecasters send) is stored by
# one INSERT ... SELECT that inserts only when the question is an open binary question accepting
# predictions now (`question_is_open`), with the participant's earlier versions counted in the same
# statement (PostgreSQL: a CTE whose count does not see its own insert) or transaction (SQLite,
# BEGIN IMMEDIATE: `api.db.direct`). When it inserts nothing, the ordinary path below runs and
# decides the reply (404, 409, 422), so every refusal is the same as before.
_P = Prediction.__table__
_Q = Question.__table__
_NOW = bindparam("now", type_=UTCDateTime())
_INSERT_IF_OPEN = insert(_P).from_select(
    ["id", "question_id", "participant_id", "created_at", "kind", "probability", "payload"],
    select(bindparam("id", type_=String()), _Q.c.id, bindparam("participant_id", type_=String()), _NOW,
           literal("probability", String()), bindparam("probability", type_=Float()), bindparam("payload", type_=JSON()))
    .where(_Q.c.id == bindparam("question_id", type_=String()), _Q.c.kind == "binary", *open_conditions(_Q.c, _NOW)))
_EARLIER_VERSIONS = (select(func.count()).select_from(_P)
                     .where(_P.c.question_id == bindparam("question_id", type_=String()),
                            _P.c.participant_id == bindparam("participant_id", type_=String())))
_INSERTED = _INSERT_IF_OPEN.returning(_P.c.id).cte("inserted")
_PG_INSERT_AND_COUNT = direct.Prepared(select(_EARLIER_VERSIONS.scalar_subquery().label("earlier")).select_from(_INSERTED),
                                       direct.POSTGRES)


_SQLITE_EARLIER, _SQLITE_INSERT = direct.Prepared(_EARLIER_VERSIONS), direct.Prepared(_INSERT_IF_OPEN)


_NO_FIELDS = dict.fromkeys(PredictionOut.model_fields)
"""Every field of a `PredictionOut` reply, None: the direct path's reply fills in what a probability has."""


def _sqlite_insert_and_count(params: dict[str, Any]) -> Callable[[sqlite3.Connection], Any]:
    """The earlier versions' count and the insert, in `direct.first`'s BEGIN IMMEDIATE transaction:
    a row like PostgreSQL's (`.earlier`), or None if nothing was inserted."""
    def work(connection: sqlite3.Connection) -> Any:
        earlier = _SQLITE_EARLIER.execute(connection, params).fetchone()[0]
        return _PG_INSERT_AND_COUNT.convert((earlier,)) if _SQLITE_INSERT.execute(connection, params).rowcount else None
    return work


async def _submit_probability_directly(db: Db, participant: Participant, question_id: str,
                                       data: PredictionSubmit) -> Outcome | None:
    """The submission stored by one statement (see above), or None when the ordinary path must run
    (another kind of body, a question not open to it, or on SQLite a writer to wait for)."""
    p = data.probability
    if (p is None or data.quantiles is not None or data.cdf is not None or data.commitment is not None
            or not PROBABILITY_MIN <= p <= PROBABILITY_MAX):
        return None
    now = utcnow()
    params = {"id": new_id(), "question_id": question_id, "participant_id": participant.id, "now": now,
              "probability": p, "payload": {"probability": p}}
    row = await direct.first(db.engine, _sqlite_insert_and_count(params), _PG_INSERT_AND_COUNT, params, write=True)
    if row is None or row is direct.BUSY:
        return None
    body = _NO_FIELDS | {"id": params["id"], "question_id": question_id, "participant_id": participant.id,
                         "version": int(row.earlier) + 1, "created_at": now, "kind": "probability", "probability": p}
    return Outcome(201, body, False)


async def submit_prediction(
    db: Db, participant: Participant, question_id: str, data: PredictionSubmit, idempotency_key: str | None = None,
) -> Outcome:
    """Store a new prediction version; returns (status, body, replayed) as an `api.idempotency.Outcome`.

    With an Idempotency-Key, a retry of the same request returns the first (status, body) and
    writes nothing; the same key with another body is a 409."""
    key = check_key(idempotency_key)
    if key is None and (stored := await _submit_probability_directly(db, participant, question_id, data)):
        return stored

    async def operation(session: AsyncSession) -> tuple[int, Any]:
        question, earlier_versions = await _question_and_version_count(session, question_id, participant)
        _check_accepting(question)
        prediction = _new_prediction(question, participant, data)
        session.add(prediction)
        await session.flush()
        return 201, to_out(prediction, earlier_versions + 1).model_dump(mode="json")

    digest = request_digest(question_id, data.model_dump(mode="json"))
    async with db.session() as session:
        return await run_once(session, participant.id, SUBMIT_SCOPE, key, digest, operation)


async def open_commitment(session: AsyncSession, participant: Participant, prediction_id: str, data: PredictionOpening) -> PredictionOut:
    """Reveal a committed forecast: verify sha256(salt || canonical JSON) and the forecast's validity.

    Accepted any time after the commitment until the question is resolved or annulled ("late"
    openings are refused); the forecast counts with the commitment's timestamp."""
    async with transaction(session):
        prediction = await session.get(Prediction, prediction_id)
        if prediction is None or prediction.participant_id != participant.id:
            raise not_found("prediction", "prediction_id")
        if prediction.kind != "commitment" or prediction.opened_at is not None:
            raise ApiError(409, "this prediction is not an unopened commitment", "prediction_id")
        question = await load_question(session, prediction.question_id, participant)
        if question.state in {"resolved", "annulled"}:
            raise ApiError(409, f"too late: the question is {question.state}", "prediction_id")
        kind, probability, payload = validate_forecast(question, data.prediction)
        if commitment_digest(data.salt, payload) != prediction.commitment:
            raise ApiError(422, "the opening does not match the commitment (sha256(salt || canonical JSON))", "salt")
        prediction.kind, prediction.probability, prediction.payload = kind, probability, payload
        prediction.salt, prediction.opened_at = data.salt, utcnow()
        version = await _version_of(session, prediction)
    return to_out(prediction, version)


def _with_versions(rows: list[Prediction]) -> list[PredictionOut]:
    counter: dict[tuple[str, str], int] = defaultdict(int)
    out = []
    for p in sorted(rows, key=lambda r: (r.created_at, r.id)):
        counter[(p.question_id, p.participant_id)] += 1
        out.append(to_out(p, counter[(p.question_id, p.participant_id)]))
    return out


async def list_question_predictions(session: AsyncSession, viewer: Participant, question_id: str) -> list[PredictionOut]:
    """Blinded listing: before resolution only the viewer's own versions; after it, everyone's."""
    question = await load_question(session, question_id, viewer)
    statement = select(Prediction).where(Prediction.question_id == question.id)
    if question.state not in {"resolved", "annulled"}:
        statement = statement.where(Prediction.participant_id == viewer.id)
    return _with_versions(list((await session.execute(statement)).scalars()))


async def list_own_predictions(session: AsyncSession, viewer: Participant) -> list[PredictionOut]:
    rows = (await session.execute(select(Prediction).where(Prediction.participant_id == viewer.id))).scalars()
    return _with_versions(list(rows))


async def get_prediction(session: AsyncSession, viewer: Participant, prediction_id: str) -> PredictionOut:
    """One prediction: the owner's any time, others' only after the question resolved; else 404."""
    prediction = await session.get(Prediction, prediction_id)
    if prediction is None:
        raise not_found("prediction", "prediction_id")
    question = await session.get(Question, prediction.question_id)
    visible = prediction.participant_id == viewer.id or (question is not None and question.state in {"resolved", "annulled"})
    if not visible:
        raise not_found("prediction", "prediction_id")
    return to_out(prediction, await _version_of(session, prediction))


__all__ = ["submit_prediction", "open_commitment", "validate_forecast", "canonical_json"]
