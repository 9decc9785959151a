"""/v1/results (sealed results) and question resolution actions."""
from __future__ import annotations

from litestar import get, post
from sqlalchemy.ext.asyncio import AsyncSession

from api.db.models import Participant
from api.domain.reading import read_routes
from api.domain.results import service
from api.domain.results.schemas import ResolutionIn, ResolutionOut, ResultOut, ResultUpload, RevealReport


@post("/v1/results", tags=["results"])
async def upload_result(db_session: AsyncSession, admin: Participant, data: ResultUpload) -> ResultOut:
    """Admin: upload a sealed result (eval-table rows) with its reveal_at."""
    return await service.upload_result(db_session, admin, data)


@post("/v1/results/{result_id:str}/reveal", status_code=200, tags=["results"])
async def reveal_result(db_session: AsyncSession, admin: Participant, result_id: str) -> RevealReport:
    """Admin: reveal now; resolves and scores every linked question."""
    return await service.reveal_result(db_session, admin, result_id)


@post("/v1/questions/{question_id:str}/resolution", status_code=200, tags=["results"])
async def resolve_question(db_session: AsyncSession, admin: Participant, question_id: str, data: ResolutionIn) -> ResolutionOut:
    """Admin: resolve manually, or correct a resolution (old scores kept in history)."""
    return await service.resolve_manually(db_session, admin, question_id, data)


@post("/v1/questions/{question_id:str}/annul", status_code=200, tags=["results"])
async def annul_question(db_session: AsyncSession, admin: Participant, question_id: str) -> ResolutionOut:
    """Admin: annul a question (no scores count)."""
    return await service.annul_question(db_session, admin, question_id)


@get("/v1/questions/{question_id:str}/resolutions", tags=["results"])
async def list_resolutions(db_session: AsyncSession, participant: Participant, question_id: str) -> list[ResolutionOut]:
    """Every resolution version of a question (history of corrections)."""
    return await service.list_resolutions(db_session, participant, question_id)


ROUTES = [upload_result, *read_routes(service.RESULTS, "/v1/results", "results", "Revealed results (admins also see sealed ones).",
                                      "A revealed result (sealed ones: admins only; 404 to others)."),
          reveal_result, resolve_question, annul_question, list_resolutions]
