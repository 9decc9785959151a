"""Questions: the list (state, task/family, search), the detail page (own history; everyone's
forecasts and the community aggregate only once resolved, as the API blinds them) and the forecast,
commitment and opening forms. Every read and write goes through the predictions/questions services."""
from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, get, post
from litestar.params import Parameter
from litestar.response import Redirect, Template
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.db.models import Participant
from api.db.sessions import Db
from api.domain.bets.service import list_bets
from api.domain.fits.bot import bot_note
from api.domain.markets.service import list_markets
from api.domain.predictions import aggregate, service as predictions
from api.domain.predictions.schemas import PredictionOpening, PredictionSubmit
from api.domain.questions import service as questions
from api.domain.scoring.service import question_scores
from api.web.common import FormError, attempt, done, form_of, need, number, page, parse

Req = Request[Any, Any, Any]
STATES = ("open", "closed", "resolved", "annulled", "draft")
LEVELS = (0.05, 0.5, 0.95)


def _matches(question: Any, text: str, task: str, family: str) -> bool:
    link = question.link
    if task and (link is None or link.task != task):
        return False
    if family and (link is None or link.family != family):
        return False
    return not text or text.lower() in f"{question.title} {question.description}".lower()


@get("/questions")
async def question_list(request: Req, db_session: AsyncSession, viewer: Participant | None,
                        state_filter: Annotated[str | None, Parameter(query="state")] = None,
                        q: str = "", task: str = "", family: str = "") -> Template:
    """Questions visible to the viewer, filtered by state, linked task/family and a text search."""
    me = need(viewer)
    chosen = state_filter if state_filter in STATES else None
    rows = await questions.list_questions(db_session, me, chosen, 500, 0)
    shown = [row for row in rows if _matches(row, q, task, family)]
    tasks = sorted({r.link.task for r in rows if r.link})
    families = sorted({r.link.family for r in rows if r.link})
    return page(request, "questions.html", me, questions=shown, state=chosen, q=q, task=task, family=family,
                tasks=tasks, families=families, states=STATES)


async def _handles(session: AsyncSession, ids: set[str]) -> dict[str, Participant]:
    if not ids:
        return {}
    rows = (await session.execute(select(Participant).where(Participant.id.in_(ids)))).scalars()
    return {p.id: p for p in rows}


async def _detail(request: Req, session: AsyncSession, me: Participant, question_id: str, status: int = 200,
                  **extra: Any) -> Template:
    question = await questions.get_question(Db.of(session), me, question_id)
    shown = await predictions.list_question_predictions(session, me, question_id)  # blinded by the service
    revealed = question.state in {"resolved", "annulled"}
    people = await _handles(session, {p.participant_id for p in shown})
    row = await questions.load_question(session, question_id, me)
    community = await aggregate.question_aggregate(session, me, question_id) if revealed else None
    scores = await question_scores(session, row, False) if revealed else []
    note = await bot_note(session, row)
    return page(request, "question.html", me, status=status, question=question, revealed=revealed,
                own=[p for p in shown if p.participant_id == me.id], everyone=shown if revealed else [],
                people=people, community=community, scores={s.prediction_id: s for s in scores},
                bets=await list_bets(session, me, question_id, None), markets=await list_markets(session, question_id),
                bot=note, levels=LEVELS, **extra)


@get("/questions/{question_id:str}")
async def question_page(request: Req, db_session: AsyncSession, viewer: Participant | None, question_id: str) -> Template:
    return await _detail(request, db_session, need(viewer), question_id)


def _forecast_body(kind: str, data: dict[str, str]) -> PredictionSubmit:
    if kind == "binary":
        return parse(PredictionSubmit, {"probability": number(data, "probability")})
    values = [number(data, f"q{int(level * 100):02d}") for level in LEVELS]
    return parse(PredictionSubmit, {"quantiles": {"levels": list(LEVELS), "values": values}})


@post("/questions/{question_id:str}/forecast")
async def forecast(request: Req, db_session: AsyncSession, viewer: Participant | None, question_id: str) -> Template | Redirect:
    """Submit a forecast through `submit_prediction` with the form's Idempotency-Key (a double post stores one)."""
    me = need(viewer)
    data = await form_of(request)
    question = await questions.get_question(Db.of(db_session), me, question_id)
    try:
        body = _forecast_body(question.kind, data)
        outcome = await attempt(predictions.submit_prediction(Db.of(db_session), me, question_id, body, data.get("idem") or None))
    except FormError as error:
        return await _detail(request, db_session, me, question_id, status=422, errors=_quantile_field(error.errors),
                             values=data)
    return done(request, f"/questions/{question_id}", f"Forecast saved (version {outcome.body['version']}).")


def _quantile_field(errors: dict[str, str]) -> dict[str, str]:
    """The API names quantile errors `quantiles`; the form shows them under its quantile inputs."""
    return {("quantiles" if key in {"quantiles", "q05", "q50", "q95"} else key): text for key, text in errors.items()}


@post("/questions/{question_id:str}/commit")
async def commit(request: Req, db_session: AsyncSession, viewer: Participant | None, question_id: str) -> Template | Redirect:
    """Store a commitment (sha256 of the salt and forecast, computed in the browser)."""
    me = need(viewer)
    data = await form_of(request)
    try:
        body = parse(PredictionSubmit, {"commitment": data.get("commitment", "")})
        await attempt(predictions.submit_prediction(Db.of(db_session), me, question_id, body, data.get("idem") or None))
    except FormError as error:
        return await _detail(request, db_session, me, question_id, status=422, errors=error.errors, values=data)
    return done(request, f"/questions/{question_id}", "Commitment stored: keep your salt to open it later.")


@post("/predictions/{prediction_id:str}/open")
async def open_commitment(request: Req, db_session: AsyncSession, viewer: Participant | None, prediction_id: str) -> Template | Redirect:
    """Open a commitment with its salt and the forecast it hid."""
    me = need(viewer)
    data = await form_of(request)
    question_id = data.get("question_id", "")
    try:
        body = parse(PredictionOpening, {"salt": data.get("salt", ""),
                                         "prediction": {"probability": number(data, "open_probability")}})
        await attempt(predictions.open_commitment(db_session, me, prediction_id, body))
    except FormError as error:
        return await _detail(request, db_session, me, question_id, status=422, errors=error.errors, values=data)
    return done(request, f"/questions/{question_id}", "Commitment opened: the forecast counts from its commitment time.")


ROUTES = [question_list, question_page, forecast, commit, open_commitment]
