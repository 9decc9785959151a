"""/v1/participants/{id}/plots/{reliability|calibration}.{png|svg}: reliability diagram (ECE, Brier
decomposition) and, when the participant has resolved numeric forecasts, PIT histogram; titled with
the participant's handle."""
from __future__ import annotations

import asyncio

from litestar import Response, get
from sqlalchemy.ext.asyncio import AsyncSession

from api.db.models import Participant
from api.domain.scoring import service as scoring
from api.errors import ApiError

MEDIA = {"png": "image/png", "svg": "image/svg+xml"}
NAMES = ("reliability", "pit", "calibration")  # one figure with both panels under each name


@get("/v1/participants/{participant_id:str}/plots/{name:str}", tags=["scores"])
async def calibration_plot(db_session: AsyncSession, participant: Participant, participant_id: str, name: str) -> Response[bytes]:
    """`reliability.png|svg` (also `pit.*`, `calibration.*`): reliability diagram + PIT histogram from the calibration data."""
    stem, _, fmt = name.rpartition(".")
    if stem not in NAMES or fmt not in MEDIA:
        raise ApiError(404, f"unknown plot {name!r}; plots: reliability|pit|calibration .png|.svg", "name")
    return Response(await _render(db_session, participant_id, fmt), media_type=MEDIA[fmt])


async def _render(session: AsyncSession, participant_id: str, fmt: str) -> bytes:
    from models.plots import calibration_plots

    data = await scoring.calibration(session, participant_id, 10)  # 404 for an unknown participant
    handle = (await session.get(Participant, participant_id)).handle
    bins = [b.model_dump() for b in data.binary.reliability_bins]
    title = f"@{handle}: {data.binary.n} binary, {data.numeric.n} numeric forecasts resolved"
    coverage = {"coverage_50": data.numeric.coverage_50, "coverage_90": data.numeric.coverage_90}
    return await asyncio.to_thread(calibration_plots, bins, data.numeric.pit_histogram, fmt, title,
                                   data.binary.mean_brier, coverage)


ROUTES = [calibration_plot]
