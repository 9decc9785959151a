"""The community aggregate of a question: one forecast summarising the forecasts that count
(each participant's latest opened forecast before the question's cutoff, as scoring counts them).

Binary: the median probability and the extremised log-odds pool, sigmoid(EXTREMISE * mean logit(p)).
Numeric: the average of each forecast's quantile values at AGGREGATE_LEVELS (a CDF forecast's
quantiles are read off its grid by linear interpolation). Hidden, like individual forecasts, until
the question resolves or is annulled.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.db import utcnow
from api.db.models import Participant, Prediction, Question
from api.domain.predictions.schemas import AggregateOut
from api.domain.questions.service import as_utc, load_question, question_grid
from api.errors import ApiError

EXTREMISE = 1.5  # log-odds multiplier of the pooled forecast (crowds tend to be under-confident)
AGGREGATE_LEVELS = (0.05, 0.25, 0.5, 0.75, 0.95)
P_MIN, P_MAX = 0.001, 0.999


def counting(predictions: list[Prediction], cutoff: Any) -> list[Prediction]:
    """Latest opened prediction before `cutoff` per participant (what scoring counts)."""
    from api.domain.results.service import _counting

    return _counting(predictions, cutoff)


def pool_binary(probabilities: list[float]) -> tuple[float, float]:
    """(median, extremised log-odds pool) of probabilities, both clipped to [P_MIN, P_MAX]."""
    p = np.clip(np.asarray(probabilities, dtype=float), P_MIN, P_MAX)
    pooled = 1.0 / (1.0 + math.exp(-EXTREMISE * float(np.mean(np.log(p / (1 - p))))))
    return float(np.median(p)), float(min(max(pooled, P_MIN), P_MAX))


def _quantiles_of(question: Question, prediction: Prediction) -> list[float]:
    payload = prediction.payload or {}
    if "quantiles" in payload:
        return list(np.interp(AGGREGATE_LEVELS, payload["quantiles"]["levels"], payload["quantiles"]["values"]))
    grid = question_grid(question) or []
    cdf = np.maximum.accumulate(np.asarray(payload["cdf"], dtype=float))
    return list(np.interp(AGGREGATE_LEVELS, cdf + np.arange(len(cdf)) * 1e-12, grid))


def aggregate(question: Question, forecasts: list[Prediction]) -> AggregateOut:
    """The aggregate of `forecasts` (already the counting ones) on `question`."""
    out = AggregateOut(question_id=question.id, kind=question.kind, n_forecasts=len(forecasts))
    if not forecasts:
        return out
    if question.kind == "binary":
        out.median, out.pooled = pool_binary([f.probability for f in forecasts if f.probability is not None])
    else:
        values = np.mean([_quantiles_of(question, f) for f in forecasts], axis=0)
        out.quantiles = {"levels": list(AGGREGATE_LEVELS), "values": [float(v) for v in values]}
    return out


def cutoff_of(question: Question) -> Any:
    """The moment after which forecasts no longer count: the close, or the resolution if earlier."""
    ends = [as_utc(question.closes_at), as_utc(question.resolved_at) if question.resolved_at else utcnow()]
    return min(ends)


async def question_aggregate(session: AsyncSession, viewer: Participant, question_id: str) -> AggregateOut:
    """The community aggregate of a resolved (or annulled) question; 409 before that."""
    question = await load_question(session, question_id, viewer)
    if question.state not in {"resolved", "annulled"}:
        raise ApiError(409, "the community aggregate is hidden until the question resolves", "question_id")
    rows = list((await session.execute(select(Prediction).where(Prediction.question_id == question.id))).scalars())
    return aggregate(question, counting(rows, cutoff_of(question)))
