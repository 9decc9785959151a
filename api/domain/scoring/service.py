"""Scoring: load counting predictions and stored scores, score and summarise them with
forecast.scoring (where the math and its conventions are documented), and store or return the rows:
score rows, leaderboards and calibration summaries.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.db.models import Participant, Question, Score
from api.domain.scoring.schemas import (
    BinaryCalibration, Calibration, Leaderboard, LeaderboardRow, NumericCalibration, ScoreOut,
)
from api.errors import ApiError
from forecast.scoring import NumericSpec, binary_calibration, numeric_calibration, score_binary, score_numeric_payloads


def numeric_spec(question: Question) -> NumericSpec:
    """The bounds and scale of a numeric question, as forecast.scoring takes them."""
    assert question.lower is not None and question.upper is not None
    return NumericSpec(question.lower, question.upper, question.scale or "linear")


def score_rows(question: Question, outcome: float, predictions: list[Any]) -> list[dict[str, Any]]:
    """Score values (dicts of Score columns) for the counting predictions of one question."""
    if not predictions:
        return []
    n = len(predictions)
    if question.kind == "binary":
        p = np.array([pr.probability for pr in predictions], dtype=float)
        values = score_binary(p, np.full(n, outcome))
    else:
        values = score_numeric_payloads(np.full(n, outcome), [numeric_spec(question)] * n, [pr.payload for pr in predictions])
    rows = []
    for i, pr in enumerate(predictions):
        row: dict[str, Any] = {"prediction_id": pr.id, "participant_id": pr.participant_id, "outcome": outcome,
                               "probability": pr.probability}
        for name, column in values.items():
            value = column[i]
            row[name] = bool(value) if column.dtype == bool else float(value)
        rows.append(row)
    return rows


async def question_scores(session: AsyncSession, question: Question, history: bool) -> list[ScoreOut]:
    statement = select(Score).where(Score.question_id == question.id).order_by(Score.computed_at, Score.id)
    if not history:
        statement = statement.where(Score.is_current.is_(True))
    return [ScoreOut.model_validate(s) for s in (await session.execute(statement)).scalars()]


async def participant_scores(session: AsyncSession, participant_id: str) -> list[ScoreOut]:
    statement = select(Score).where(Score.participant_id == participant_id, Score.is_current.is_(True)).order_by(Score.computed_at)
    return [ScoreOut.model_validate(s) for s in (await session.execute(statement)).scalars()]


LEADERBOARD_COLUMNS = {"log_score": (Score.log_score, True), "brier": (Score.brier, False), "crps": (Score.crps_normalized, False)}


def rank_rows(rows: list[tuple[str, str, str, bool, float, int]], metric: str, min_questions: int) -> Leaderboard:
    """Sort by mean score (best first), rank those with >= min_questions (ties share a rank)."""
    higher_is_better = LEADERBOARD_COLUMNS[metric][1]
    ordered = sorted(rows, key=lambda r: (-r[4] if higher_is_better else r[4], r[1]))
    ranked: list[LeaderboardRow] = []
    unranked: list[LeaderboardRow] = []
    for pid, handle, name, is_bot, score, n in ordered:
        row = LeaderboardRow(rank=None, participant_id=pid, handle=handle, display_name=name, is_bot=is_bot,
                             score=float(score), n_questions=int(n))
        if n >= min_questions:
            previous = ranked[-1] if ranked else None
            row.rank = previous.rank if previous is not None and previous.score == row.score else len(ranked) + 1
            ranked.append(row)
        else:
            unranked.append(row)
    return Leaderboard(metric=metric, min_questions=min_questions, ranked=ranked, unranked=unranked)


async def leaderboard(session: AsyncSession, metric: str, min_questions: int) -> Leaderboard:
    """Mean of the metric over each participant's current scores (one per resolved question)."""
    column = LEADERBOARD_COLUMNS[metric][0]
    statement = (
        select(Participant.id, Participant.handle, Participant.display_name, Participant.is_bot, func.avg(column), func.count(column))
        .join(Score, Score.participant_id == Participant.id)
        .where(Score.is_current.is_(True), column.is_not(None))
        .group_by(Participant.id, Participant.handle, Participant.display_name, Participant.is_bot)
    )
    rows = [tuple(r) for r in (await session.execute(statement)).all()]
    return rank_rows(rows, metric, min_questions)  # type: ignore[arg-type]


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


async def calibration(session: AsyncSession, participant_id: str, n_bins: int) -> Calibration:
    """Reliability bins, ECE, Brier decomposition (binary) and PIT histogram, coverage (numeric) of
    the participant's current scores."""
    if await session.get(Participant, participant_id) is None:
        raise ApiError(404, "participant not found", "participant_id")
    scores = (await session.execute(select(Score).where(Score.participant_id == participant_id, Score.is_current.is_(True)))).scalars().all()
    binary = [s for s in scores if s.brier is not None]
    numeric = [s for s in scores if s.pit is not None]
    binary_summary = binary_calibration([s.probability for s in binary], [s.outcome for s in binary], n_bins)
    return Calibration(
        participant_id=participant_id,
        binary=BinaryCalibration(**binary_summary, mean_log_score=_mean([s.log_score for s in binary])),
        numeric=NumericCalibration(**numeric_calibration([s.pit for s in numeric], n_bins),
                                   mean_log_score=_mean([s.log_score for s in numeric]),
                                   mean_crps_normalized=_mean([s.crps_normalized for s in numeric])),
    )
