"""Scores: the leaderboard (metric, min-questions, sample sizes) and a participant's page with the
reliability diagram / PIT histogram (the plots slice's figure) and the Brier decomposition."""
from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from api.db.models import Participant
from api.domain.plots.routes import _render as render_calibration
from api.domain.scoring import service as scoring
from api.errors import not_found
from api.web.common import need, page

Req = Request[Any, Any, Any]
METRICS = ("log_score", "brier", "crps")


@get("/leaderboard")
async def leaderboard(request: Req, db_session: AsyncSession, viewer: Participant | None, metric: str = "log_score",
                      min_questions: int | None = None, community: bool = False) -> Template:
    """The leaderboard as GET /v1/leaderboard computes it."""
    me = need(viewer)
    metric = metric if metric in METRICS else "log_score"
    minimum = request.app.state.settings.leaderboard_min_questions if min_questions is None else max(min_questions, 0)
    board = await scoring.leaderboard(db_session, metric, minimum)
    if community:
        from api.domain.scoring.community import with_community

        board = await with_community(db_session, board, metric, minimum)
    return page(request, "leaderboard.html", me, board=board, metrics=METRICS, community=community)


@get("/participants/{participant_id:str}")
async def participant_page(request: Req, db_session: AsyncSession, viewer: Participant | None, participant_id: str) -> Template:
    """Calibration summary, Brier decomposition and current scores of one participant."""
    me = need(viewer)
    who = await db_session.get(Participant, participant_id)
    if who is None:
        raise not_found("participant", "participant_id")
    calibration = await scoring.calibration(db_session, participant_id, 10)
    scores = await scoring.participant_scores(db_session, participant_id)
    return page(request, "participant.html", me, who=who, calibration=calibration, scores=scores)


@get("/participants/{participant_id:str}/plots/calibration.svg")
async def calibration_svg(db_session: AsyncSession, viewer: Participant | None, participant_id: str) -> Response[bytes]:
    """The reliability diagram and PIT histogram (SVG), as /v1/participants/{id}/plots/calibration.svg."""
    need(viewer)
    return Response(await render_calibration(db_session, participant_id, "svg"), media_type="image/svg+xml")


ROUTES = [leaderboard, participant_page, calibration_svg]
