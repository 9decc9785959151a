"""/v1/leaderboard, /v1/participants/{id}/calibration|scores, /v1/questions/{id}/scores, /v1/me/scores."""
from __future__ import annotations

from typing import Annotated, Literal

from litestar import Request, get
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from api.db.models import Participant
from api.db.sessions import READ_ONLY
from api.domain.questions.service import load_question
from api.domain.scoring import service
from api.domain.scoring.schemas import Calibration, Leaderboard, ScoreOut

Bins = Annotated[int, Parameter(ge=2, le=50)]


@get("/v1/leaderboard", tags=["scores"], opt=READ_ONLY)
async def leaderboard(
    request: Request, db_session: AsyncSession, participant: Participant,
    metric: Literal["log_score", "brier", "crps"] = "log_score",
    min_questions: Annotated[int | None, Parameter(ge=0, le=100_000)] = None, community: bool = False,
) -> Leaderboard:
    """Mean score per participant over resolved questions; ranked when >= min_questions.
    `community=true` adds the community aggregate as a pseudo-participant (id "community")."""
    minimum = request.app.state.settings.leaderboard_min_questions if min_questions is None else min_questions
    board = await service.leaderboard(db_session, metric, minimum)
    if community:
        from api.domain.scoring.community import with_community

        board = await with_community(db_session, board, metric, minimum)
    return board


@get("/v1/participants/{participant_id:str}/calibration", tags=["scores"])
async def calibration(db_session: AsyncSession, participant: Participant, participant_id: str, n_bins: Bins = 10) -> Calibration:
    """Calibration of a participant's resolved forecasts."""
    return await service.calibration(db_session, participant_id, n_bins)


@get("/v1/participants/{participant_id:str}/scores", tags=["scores"])
async def participant_scores(db_session: AsyncSession, participant: Participant, participant_id: str) -> list[ScoreOut]:
    """Current scores of a participant (resolved questions only)."""
    return await service.participant_scores(db_session, participant_id)


@get("/v1/me/scores", tags=["scores"])
async def my_scores(db_session: AsyncSession, participant: Participant) -> list[ScoreOut]:
    """The caller's current scores."""
    return await service.participant_scores(db_session, participant.id)


@get("/v1/questions/{question_id:str}/scores", tags=["scores"])
async def question_scores(db_session: AsyncSession, participant: Participant, question_id: str, history: bool = False) -> list[ScoreOut]:
    """Scores on a question (empty until it resolves); `history=true` includes superseded ones."""
    return await service.question_scores(db_session, await load_question(db_session, question_id, participant), history)


ROUTES = [leaderboard, calibration, participant_scores, my_scores, question_scores]
