"""Models: datasets and fits, a fit's page (state and progress, refreshed while it runs; the
emergence table; per-task emergence charts) and the predict form. All through the fits/datasets services."""
from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from api.db.models import Participant
from api.domain.datasets.service import DATASETS
from api.domain.fits import service as fits
from api.domain.fits.schemas import PredictTarget
from api.web.common import FormError, attempt, need, number, page, parse

Req = Request[Any, Any, Any]
PLOT_MEDIA = {"svg": "image/svg+xml", "png": "image/png"}


@get("/fits")
async def fit_list(request: Req, db_session: AsyncSession, viewer: Participant | None) -> Template:
    """Datasets the viewer may read and the fits on them."""
    me = need(viewer)
    datasets = await DATASETS.list_all(db_session, me)
    return page(request, "fits.html", me, fits=await fits.list_fits(db_session, me, None), datasets=datasets)


async def _predictions(session: AsyncSession, me: Participant, fit_id: str, data: dict[str, str]) -> list[Any]:
    target = parse(PredictTarget, {"task": data.get("task", ""), "params": number(data, "params"),
                                   "tokens": number(data, "tokens", required=False)})
    return await attempt(fits.predict(session, me, fit_id, [target]))


@get("/fits/{fit_id:str}")
async def fit_page(request: Req, db_session: AsyncSession, viewer: Participant | None, fit_id: str,
                   task: str = "", params: str = "", tokens: str = "") -> Template:
    """A fit: state, progress, the emergence table and charts when done; the predict form's answer."""
    me = need(viewer)
    fit = await fits.get_fit(db_session, me, fit_id)
    table, rows, errors = None, None, {}
    values = {"task": task, "params": params, "tokens": tokens}
    if fit.state == "done":
        table = await fits.emergence(db_session, me, fit_id, None, None, None)
        if task or params:
            try:
                rows = await _predictions(db_session, me, fit_id, values)
            except FormError as error:
                errors = error.errors
    return page(request, "fit.html", me, status=422 if errors else 200, fit=fit, table=table, predicted=rows,
                errors=errors, values=values)


@get("/fits/{fit_id:str}/plots/{fmt:str}")
async def fit_chart(db_session: AsyncSession, viewer: Participant | None, fit_id: str, fmt: str, task: str) -> Response[bytes]:
    """The emergence chart of one task (SVG or PNG), as GET /v1/fits/{id}/plots/emergence.*."""
    me = need(viewer)
    fmt = fmt if fmt in PLOT_MEDIA else "svg"
    return Response(await fits.emergence_plot(db_session, me, fit_id, task, fmt), media_type=PLOT_MEDIA[fmt])


ROUTES = [fit_list, fit_page, fit_chart]
