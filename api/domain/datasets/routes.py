"""/v1/datasets: upload (multipart), list, read, download the canonical CSV."""
from __future__ import annotations

from typing import Annotated

from litestar import Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from sqlalchemy.ext.asyncio import AsyncSession

from api.db.models import Participant
from api.domain.datasets import service
from api.domain.datasets.schemas import DatasetOut, DatasetUpload
from api.domain.datasets.upload_limit import limit_upload_body
from api.domain.reading import read_routes

HARD_CAP_BYTES = 512 * 1024 * 1024  # the settings limit (TURNSIGNAL_MAX_DATASET_BYTES) is enforced while streaming
Form = Annotated[DatasetUpload, Body(media_type=RequestEncodingType.MULTI_PART)]


@post("/v1/datasets", tags=["datasets"], request_max_body_size=HARD_CAP_BYTES, middleware=[limit_upload_body])
async def upload_dataset(request: Request, db_session: AsyncSession, participant: Participant, data: Form) -> Response[DatasetOut]:
    """Upload an eval table; 201 new, 200 when the caller already has the same content; 422 lists bad rows/columns."""
    dataset, created = await service.upload_dataset(db_session, participant, data, request.app.state.settings.max_dataset_bytes)
    return Response(dataset, status_code=201 if created else 200)


@get("/v1/datasets/{dataset_id:str}/table.csv", tags=["datasets"], media_type="text/csv")
async def dataset_table(db_session: AsyncSession, participant: Participant, dataset_id: str) -> bytes:
    """The canonical CSV whose sha256 is the dataset's address."""
    return await service.dataset_csv(db_session, participant, dataset_id)


ROUTES = [upload_dataset, *read_routes(service.DATASETS, "/v1/datasets", "datasets",
                                       "Datasets the caller may read (public ones and their own).",
                                       "One dataset's metadata (404 if absent or private to someone else)."), dataset_table]
