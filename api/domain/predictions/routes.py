"""/v1/questions/{id}/predictions, /v1/predictions/{id}, /v1/me/predictions."""
from __future__ import annotations

from typing import Annotated, Any

from litestar import Response, get, post
from litestar.datastructures import State
from litestar.params import Parameter

from api.db.models import Participant
from api.db.sessions import Db
from api.domain.handlers import forward
from api.domain.predictions import aggregate, service
from api.domain.predictions.schemas import PredictionSubmit

IdempotencyKey = Annotated[str | None, Parameter(header="Idempotency-Key", required=False)]


@post("/v1/questions/{question_id:str}/predictions", tags=["predictions"])
async def submit_prediction(
    state: State, participant: Participant, question_id: str, data: PredictionSubmit,
    idempotency_key: IdempotencyKey = None,
) -> Response[Any]:
    """Submit a new version (or a commitment). Retries with the same Idempotency-Key replay the first reply."""
    return (await service.submit_prediction(Db.for_request(state), participant, question_id, data, idempotency_key)).response()


TAGS = ["predictions"]
ROUTES = [
    submit_prediction,
    forward(get("/v1/questions/{question_id:str}/predictions", tags=TAGS), service.list_question_predictions,
            "Own versions before resolution; everyone's after."),
    forward(get("/v1/predictions/{prediction_id:str}", tags=TAGS), service.get_prediction,
            "One prediction (own, or anyone's once its question resolved)."),
    forward(post("/v1/predictions/{prediction_id:str}/open", status_code=200, tags=TAGS), service.open_commitment,
            "Open a commitment with its salt and forecast."),
    forward(get("/v1/questions/{question_id:str}/aggregate", tags=TAGS), aggregate.question_aggregate,
            "The community aggregate of the forecasts that count (hidden until the question resolves).",
            "question_aggregate"),
    forward(get("/v1/me/predictions", tags=TAGS), service.list_own_predictions, "All of the caller's prediction versions.",
            "my_predictions"),
]
