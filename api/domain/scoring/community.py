"""The community aggregate as a pseudo-participant on the leaderboard: on every resolved question,
the aggregate of the forecasts that counted (binary: the extremised log-odds pool; numeric: the
quantile average; see api.domain.predictions.aggregate) is scored like any forecast."""
from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.db.models import Prediction, Question
from api.domain.predictions.aggregate import aggregate, counting, cutoff_of
from api.domain.scoring.schemas import Leaderboard
from api.domain.scoring.service import rank_rows, score_rows

COMMUNITY_ID = "community"
METRIC_KEYS = {"log_score": "log_score", "brier": "brier", "crps": "crps_normalized"}


def _as_forecast(question: Question, predictions: list[Prediction]) -> Any | None:
    """The aggregate as an object `score_rows` scores, or None without forecasts."""
    summary = aggregate(question, counting(predictions, cutoff_of(question)))
    if summary.n_forecasts == 0:
        return None
    if question.kind == "binary":
        return SimpleNamespace(id=COMMUNITY_ID, participant_id=COMMUNITY_ID, probability=summary.pooled, payload=None)
    return SimpleNamespace(id=COMMUNITY_ID, participant_id=COMMUNITY_ID, probability=None,
                           payload={"quantiles": summary.quantiles})


async def community_scores(session: AsyncSession, metric: str) -> list[float]:
    """The community aggregate's `metric` on every resolved question it has a forecast for."""
    resolved = (await session.execute(select(Question).where(Question.state == "resolved"))).scalars().all()
    values = []
    for question in resolved:
        rows = list((await session.execute(select(Prediction).where(Prediction.question_id == question.id))).scalars())
        forecast = _as_forecast(question, rows)
        if forecast is None or question.outcome is None:
            continue
        value = score_rows(question, question.outcome, [forecast])[0].get(METRIC_KEYS[metric])
        if value is not None:
            values.append(float(value))
    return values


async def with_community(session: AsyncSession, board: Leaderboard, metric: str, min_questions: int) -> Leaderboard:
    """`board` re-ranked with the community aggregate as one more (non-bot) row."""
    rows = [(r.participant_id, r.handle, r.display_name, r.is_bot, r.score, r.n_questions) for r in board.ranked + board.unranked]
    values = await community_scores(session, metric)
    if values:
        rows.append((COMMUNITY_ID, COMMUNITY_ID, "Community aggregate", False, sum(values) / len(values), len(values)))
    return rank_rows(rows, metric, min_questions)
