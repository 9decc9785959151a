"""/v1/questions/{id}/predictions, /v1/predictions/{id}, /v1/me/predictions."""
from __future__ import annotations

from typing import Annotated, Any

from litestar import Response, get, post
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from api.db.models import Participant
from api.domain.predictions import service
from api.domain.predictions.schemas import PredictionOpening, PredictionOut, PredictionSubmit

IdempotencyKey = Annotated[str | None, Parameter(header="Idempotency-Key", required=False)]


@post("/v1/questions/{question_id:str}/predictions", tags=["predictions"])
async def submit_prediction(
    db_session: AsyncSession, participant: Participant, question_id: str, data: PredictionSubmit,
    idempotency_key: IdempotencyKey = None,
) -> Response[Any]:
    """Submit a new version (or a commitment). Retries with the same Idempotency-Key replay the first reply."""
    return (await service.submit_prediction(db_session, participant, question_id, data, idempotency_key)).response()


@get("/v1/questions/{question_id:str}/predictions", tags=["predictions"])
async def list_question_predictions(db_session: AsyncSession, participant: Participant, question_id: str) -> list[PredictionOut]:
    """Own versions before resolution; everyone's after."""
    return await service.list_question_predictions(db_session, participant, question_id)


@get("/v1/predictions/{prediction_id:str}", tags=["predictions"])
async def get_prediction(db_session: AsyncSession, participant: Participant, prediction_id: str) -> PredictionOut:
    """One prediction (own, or anyone's once its question resolved)."""
    return await service.get_prediction(db_session, participant, prediction_id)


@post("/v1/predictions/{prediction_id:str}/open", status_code=200, tags=["predictions"])
async def open_commitment(db_session: AsyncSession, participant: Participant, prediction_id: str, data: PredictionOpening) -> PredictionOut:
    """Open a commitment with its salt and forecast."""
    return await service.open_commitment(db_session, participant, prediction_id, data)


@get("/v1/me/predictions", tags=["predictions"])
async def my_predictions(db_session: AsyncSession, participant: Participant) -> list[PredictionOut]:
    """All of the caller's prediction versions."""
    return await service.list_own_predictions(db_session, participant)


ROUTES = [submit_prediction, list_question_predictions, get_prediction, open_commitment, my_predictions]
