"""/v1/fits: request (queued for a worker), state, cancel, posterior download, emergence, predict, plot."""
from __future__ import annotations

from typing import Annotated

from litestar import Request, Response, get, post
from litestar.params import Parameter
from litestar.response import File
from sqlalchemy.ext.asyncio import AsyncSession

from api.db.models import Participant
from api.domain.fits import service
from api.domain.fits.schemas import (BotNoteOut, EmergenceOut, FitCreate, FitOut, PredictionRow, PredictMany,
                                     PredictTarget)
from api.errors import ApiError

Level = Annotated[float | None, Parameter(gt=0, lt=1)]
Log10Flops = Annotated[float | None, Parameter(ge=0, le=60)]
PLOT_MEDIA = {"emergence.png": "image/png", "emergence.svg": "image/svg+xml"}


@post("/v1/fits", tags=["fits"], status_code=202)
async def request_fit(request: Request, db_session: AsyncSession, participant: Participant, data: FitCreate) -> Response[FitOut]:
    """Queue a fit (202, runs in a worker process) or return the cached equal one (200)."""
    state = request.app.state
    job, created = await service.request_fit(db_session, participant, data, state.settings.fit_max_attempts, state.fit_queue)
    return Response(job, status_code=202 if created else 200)


@get("/v1/fits", tags=["fits"])
async def list_fits(db_session: AsyncSession, participant: Participant,
                    fit_state: Annotated[str | None, Parameter(query="state")] = None) -> list[FitOut]:
    """Fits on datasets the caller may read, newest first (`?state=` filters)."""
    return await service.list_fits(db_session, participant, fit_state)


@get("/v1/fits/{fit_id:str}", tags=["fits"])
async def get_fit(db_session: AsyncSession, participant: Participant, fit_id: str) -> FitOut:
    """State (queued | running with progress | done | failed with the reason | cancelled), diagnostics, timings."""
    return await service.get_fit(db_session, participant, fit_id)


@post("/v1/fits/{fit_id:str}/cancel", status_code=200, tags=["fits"])
async def cancel_fit(request: Request, db_session: AsyncSession, participant: Participant, fit_id: str) -> FitOut:
    """Cancel a queued fit now, or a running one within about a second (its worker aborts the sampler)."""
    return await service.cancel_fit(db_session, participant, fit_id, request.app.state.fit_queue)


@get("/v1/fits/{fit_id:str}/idata.nc", tags=["fits"])
async def download_idata(db_session: AsyncSession, participant: Participant, fit_id: str) -> File:
    """The posterior (ArviZ InferenceData, NetCDF) with config, design and training rows in its attrs."""
    path = await service.idata_path(db_session, participant, fit_id)
    return File(path=path, filename=f"fit-{fit_id}.nc", media_type="application/x-netcdf")


@get("/v1/fits/{fit_id:str}/emergence", tags=["fits"])
async def emergence(db_session: AsyncSession, participant: Participant, fit_id: str, level: Level = None,
                    success_at: Level = None, reached_by: Log10Flops = None) -> EmergenceOut:
    """Emergence scale per task in log10 FLOPs: at relative `level` (default 0.5) or absolute `success_at`."""
    return await service.emergence(db_session, participant, fit_id, level, success_at, reached_by)


@get("/v1/fits/{fit_id:str}/predict", tags=["fits"])
async def predict_one(db_session: AsyncSession, participant: Participant, fit_id: str, task: str,
                      params: Annotated[float, Parameter(gt=0)], tokens: Annotated[float | None, Parameter(gt=0)] = None,
                      compute_flops: Annotated[float | None, Parameter(gt=0)] = None, model: str = "target") -> list[PredictionRow]:
    """Predicted success quantiles of one target model (params, and tokens or compute_flops)."""
    target = PredictTarget(task=task, params=params, tokens=tokens, compute_flops=compute_flops, model=model)
    return await service.predict(db_session, participant, fit_id, [target])


@post("/v1/fits/{fit_id:str}/predict", status_code=200, tags=["fits"])
async def predict_many(db_session: AsyncSession, participant: Participant, fit_id: str, data: PredictMany) -> list[PredictionRow]:
    """Predicted success quantiles of many targets (one row each, in order)."""
    return await service.predict(db_session, participant, fit_id, data.targets)


@get("/v1/fits/{fit_id:str}/plots/{name:str}", tags=["fits"])
async def plot(db_session: AsyncSession, participant: Participant, fit_id: str, name: str, task: str) -> Response[bytes]:
    """`emergence.png` or `emergence.svg` for `task`: observed points, posterior median, 50/90% bands."""
    if name not in PLOT_MEDIA:
        raise ApiError(404, f"unknown plot {name!r}; plots: {sorted(PLOT_MEDIA)}", "name")
    content = await service.emergence_plot(db_session, participant, fit_id, task, name.rsplit(".", 1)[1])
    return Response(content, media_type=PLOT_MEDIA[name])


@get("/v1/questions/{question_id:str}/bot", tags=["fits"])
async def bot_note(db_session: AsyncSession, participant: Participant, question_id: str) -> BotNoteOut:
    """What the model bot did about this question: `forecast` (from which fit, at which scale),
    `abstained` (why, in plain words) or `none` (not looked at, or not linked). The bot uses only
    public datasets and their fits, so the note names nothing the caller may not read."""
    from api.domain.fits.bot import bot_note as note
    from api.domain.questions.service import load_question

    return BotNoteOut(**await note(db_session, await load_question(db_session, question_id, participant)))


ROUTES = [request_fit, list_fits, get_fit, cancel_fit, download_idata, emergence, predict_one, predict_many, plot,
          bot_note]
