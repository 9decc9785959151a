"""The model as a forecaster: a bot participant that submits its posterior on linked questions.

Runs in the worker process (never in a request). Every tick it looks for open questions (open, opened,
not closed) linked to an eval result (family, model, task, metric) that the bot has not answered yet,
and a done fit on a PUBLIC dataset whose dataset has that family, whose tasks include the linked task
and whose success metrics include the linked metric. Private datasets and fits on them are never read:
every participant may see what the bot used (its note names the fit, the dataset and the scale's
source), so it uses only what every participant may read (docs/security.md). The target's scale (params, tokens) comes, first found, from the
question's link (`link.params`/`link.tokens`: the linked model's announced scale), the fit request's
`targets` (public announcements), or the fit's dataset rows for that model. A sealed result's rows
are never read: they stay blind until revealed. Without a scale (or without a covering fit) the bot
abstains, and what it did, or why it could not, is recorded per question in `bot_notes` (plain
words; `GET /v1/questions/{id}/bot`). It forecasts through `submit_prediction`, the same code path
and rules as any participant:

- binary (success >= threshold): P = share of posterior predictive draws at or above the threshold,
  clipped to [0.001, 0.999];
- numeric: quantiles 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95 of the predictive draws, clipped into the
  question's bounds and made strictly increasing.
"""
from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import hash_api_key, new_api_key
from api.db import transaction, utcnow
from api.db.models import Participant, Prediction, Question
from api.db.sessions import Db
from api.domain.datasets.service import read_content
from api.domain.fits.posterior import load_forecaster
from api.domain.fits.repository import BotNote, Dataset, FitJob
from api.errors import ApiError
from api.settings import Settings

if TYPE_CHECKING:
    from models.forecaster_protocol import Forecaster

log = logging.getLogger("turnsignal.bot")

BOT_HANDLE = "turnsignal-model"
BOT_DISPLAY_NAME = "Turnsignal model (hierarchical Bayesian)"
QUANTILE_LEVELS = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)
PROBABILITY_BOUNDS = (0.001, 0.999)


async def ensure_bot(session: AsyncSession) -> Participant:
    """The bot participant (role participant, is_bot), created on first start. Its API key is
    discarded: the bot acts in-process only."""
    existing = (await session.execute(select(Participant).where(Participant.handle == BOT_HANDLE))).scalar_one_or_none()
    if existing is not None:
        return existing
    bot = Participant(handle=BOT_HANDLE, display_name=BOT_DISPLAY_NAME, role="participant", is_bot=True,
                      api_key_hash=hash_api_key(new_api_key()))
    try:
        async with transaction(session):
            session.add(bot)
    except IntegrityError:  # another worker created it first
        return (await session.execute(select(Participant).where(Participant.handle == BOT_HANDLE))).scalar_one()
    return bot


async def _pending_questions(session: AsyncSession, bot: Participant) -> list[Question]:
    now = utcnow()
    answered = select(Prediction.question_id).where(Prediction.participant_id == bot.id)
    statement = select(Question).where(Question.state == "open", Question.link_family.is_not(None),
                                       Question.link_task.is_not(None), Question.link_metric.is_not(None),
                                       Question.opens_at <= now, Question.closes_at > now,
                                       Question.id.not_in(answered))
    return list((await session.execute(statement)).scalars())


Scale = tuple[float, float, str]
"""(params, tokens, where they came from)."""


def _link_scale(question: Question) -> Scale | None:
    if question.link_params is not None and question.link_tokens is not None:
        return float(question.link_params), float(question.link_tokens), "the question's link"
    return None


def _target_scale(question: Question, job: FitJob, dataset: Dataset) -> Scale | None:
    for target in job.options.get("targets") or []:
        if target["model"] == question.link_model:
            return float(target["params"]), float(target["tokens"]), f"the targets of fit {job.id}"
    if question.link_model in dataset.models:
        rows = read_content(dataset.content)
        rows = rows[rows["model"].astype(str) == question.link_model]
        params = pd.to_numeric(rows["params"], errors="coerce")
        tokens = pd.to_numeric(rows["tokens"], errors="coerce") if "tokens" in rows else None
        if params.notna().any() and tokens is not None and tokens.notna().any():
            return float(params.dropna().iloc[0]), float(tokens.dropna().iloc[0]), f"dataset {dataset.id}"
    return None


def _fit_covers(question: Question, job: FitJob, dataset: Dataset) -> bool:
    tasks = job.options.get("tasks") or dataset.tasks
    families = job.options.get("families") or dataset.families
    return (question.link_family in dataset.families and question.link_family in families
            and question.link_task in tasks and question.link_metric in job.options.get("success_metric", []))


async def _fit_for(session: AsyncSession, question: Question) -> tuple[FitJob, Dataset, Scale] | str:
    """The newest done fit on a public dataset covering the question's link, with the target's scale;
    else why not (naming only public things)."""
    rows = (await session.execute(select(FitJob, Dataset).join(Dataset, Dataset.id == FitJob.dataset_id)
                                  .where(FitJob.state == "done", Dataset.visibility == "public")
                                  .order_by(FitJob.finished_at.desc()))).all()
    covering = [(job, dataset) for job, dataset in rows if _fit_covers(question, job, dataset)]
    if not covering:
        return (f"no finished fit on a public dataset covers family {question.link_family!r}, task {question.link_task!r} and "
                f"success metric {question.link_metric!r}")
    for job, dataset in covering:
        scale = _link_scale(question) or _target_scale(question, job, dataset)
        if scale is not None:
            return job, dataset, scale
    return (f"the scale of model {question.link_model!r} is unknown, so there is nothing to extrapolate to: "
            f"give link.params and link.tokens on the question, list the model in a fit request's targets, "
            f"or include its rows in a public fitted dataset")


async def _note(session: AsyncSession, question_id: str, status: str, reason: str, fit_id: str | None = None) -> None:
    """Record what the bot did about a question (written only when it changed)."""
    async with transaction(session):
        note = await session.get(BotNote, question_id)
        if note is None:
            session.add(BotNote(question_id=question_id, status=status, reason=reason, fit_id=fit_id, updated_at=utcnow()))
        elif (note.status, note.reason, note.fit_id) != (status, reason, fit_id):
            note.status, note.reason, note.fit_id, note.updated_at = status, reason, fit_id, utcnow()


async def _public_fit(session: AsyncSession, fit_id: str) -> bool:
    """Whether fit `fit_id` exists and its dataset is public."""
    statement = (select(Dataset.visibility).join(FitJob, FitJob.dataset_id == Dataset.id).where(FitJob.id == fit_id))
    return (await session.execute(statement)).scalar_one_or_none() == "public"


async def bot_note(session: AsyncSession, question: Question) -> dict[str, Any]:
    """The bot's note on `question` (status forecast | abstained | none, reason, fit_id, updated_at)."""
    note = await session.get(BotNote, question.id)
    if note is not None and note.fit_id is not None and not await _public_fit(session, note.fit_id):
        note = None  # written before the bot kept to public data: it names private things, so withhold it
    if note is not None:
        return {"question_id": question.id, "status": note.status, "reason": note.reason, "fit_id": note.fit_id,
                "updated_at": note.updated_at}
    if question.link_family is None:
        reason = "the question is not linked to an eval result, so the model bot does not forecast it"
    else:
        reason = "the model bot has not looked at this question yet (it looks at open, linked questions every poll)"
    return {"question_id": question.id, "status": "none", "reason": reason, "fit_id": None, "updated_at": None}


def forecast_body(forecaster: Forecaster, question: Question, params: float, tokens: float, seed: int) -> dict[str, Any]:
    """The bot's PredictionSubmit fields for `question` from the posterior predictive (blocking)."""
    targets = pd.DataFrame([{"model": question.link_model, "family": question.link_family, "task": question.link_task,
                             "params": params, "tokens": tokens}])
    success, _ = forecaster.predictive_draws(targets, seed=seed)
    draws = success[:, 0]
    if question.kind == "binary":
        p = float(np.mean(draws >= float(question.link_threshold)))
        return {"probability": float(np.clip(p, *PROBABILITY_BOUNDS))}
    lower, upper = float(question.lower), float(question.upper)
    values = np.clip(np.quantile(draws, QUANTILE_LEVELS), lower, upper)
    eps = (upper - lower) * 1e-6
    for i in range(1, len(values)):  # strictly increasing inside the bounds
        values[i] = max(values[i], values[i - 1] + eps)
    if values[-1] > upper:
        values = np.linspace(max(lower, upper - eps * len(values)), upper, len(values))
    return {"quantiles": {"levels": list(QUANTILE_LEVELS), "values": [float(v) for v in values]}}


async def bot_tick(session: AsyncSession, settings: Settings | None = None) -> list[str]:
    """Forecast every pending linked question the bot can; returns the question ids answered."""
    from api.domain.predictions.schemas import PredictionSubmit
    from api.domain.predictions.service import submit_prediction

    bot = await ensure_bot(session)
    answered = []
    for question in await _pending_questions(session, bot):
        found = await _fit_for(session, question)
        if isinstance(found, str):
            await _note(session, question.id, "abstained", found)
            continue
        job, _, (params, tokens, source) = found
        try:
            forecaster = await asyncio.to_thread(load_forecaster, job.id, job.idata_path)
            forecaster.design.task_key(question.link_task, question.link_family)  # ValueError if not fitted
            body = await asyncio.to_thread(forecast_body, forecaster, question, params, tokens,
                                           int(job.options.get("seed", 0)))
        except Exception as error:  # a broken or missing posterior: abstain with the reason, try again next tick
            await _note(session, question.id, "abstained", f"fit {job.id} could not forecast: {error}", job.id)
            log.warning("bot could not forecast question %s from fit %s: %s", question.id, job.id, error)
            continue
        try:
            status, _, _ = await submit_prediction(Db.of(session), bot, question.id, PredictionSubmit(**body),
                                                   idempotency_key=f"bot-{question.id}-{job.id}")
        except ApiError as error:  # e.g. the question closed meanwhile: same rules as for anyone
            await _note(session, question.id, "abstained", f"its forecast was refused: {error.message}", job.id)
            log.info("bot forecast on question %s refused: %s", question.id, error.message)
            continue
        await _note(session, question.id, "forecast", f"forecast from fit {job.id} for {question.link_model} at "
                    f"{params:.3g} parameters and {tokens:.3g} training tokens (scale from {source})", job.id)
        log.info("bot forecast on question %s from fit %s: %s (%s)", question.id, job.id, body, status)
        answered.append(question.id)
    return answered
