"""The Litestar application factory: `create_app(settings=None) -> Litestar`.

Start-up applies Alembic migrations (unless `settings.run_migrations` is False) and starts a small
loop revealing sealed results whose `reveal_at` has passed. Each feature slice in `api/domain/*`
exposes `ROUTES`; add a slice by appending its name to `SLICES`. The OpenAPI pages under `/schema`
work offline (`api.schema_docs`); logging and the per-request access log: `api.access_log`; rate
limits: `api.rate_limits`.
"""
from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import configure_mappers

from api.access_log import logging_config, wrap_access_log
from api.auth import provide_admin, provide_participant
from api.db import create_engine, direct, create_session_factory, run_migrations
from api.db.sessions import provide_db_session, read_session_factory
from api.domain.fits.queue import make_fit_queue
from api.errors import EXCEPTION_HANDLERS
from api.input_limits import refuse_hostile_input
from api.openapi_docs import document_routes
from api.rate_limits import rate_limit_middleware, rate_limit_stores
from api.schema_docs import openapi_config, static_router
from api.settings import Settings
from api.web import static_files, template_config, web_router

log = logging.getLogger("turnsignal.api")


# The feature slices served, in order: each `api/domain/<name>/routes.py` exposes `ROUTES`. Add a
# slice by appending its name. A slice that fails to import fails start-up (never silently dropped).
SLICES = (
    "participants",
    "questions",
    "predictions",
    "results",
    "scoring",
    "ledger",
    "bets",
    "markets",
    "datasets",
    "fits",
    "plots",
)


def _route_handlers() -> list[Any]:
    """Every slice's route handlers, with their error statuses documented (`api.openapi_docs`)."""
    handlers = [handler for name in SLICES for handler in importlib.import_module(f"api.domain.{name}.routes").ROUTES]
    document_routes(handlers)
    return handlers


async def _reveal_loop(app: Litestar) -> None:
    """Reveal due sealed results every `reveal_poll_seconds`; errors are logged, never fatal."""
    from api.domain.results.service import reveal_due_results

    while True:
        await asyncio.sleep(app.state.settings.reveal_poll_seconds)
        try:
            async with app.state.session_factory() as session:
                await reveal_due_results(session)
        except Exception:  # keep the loop alive; the next tick retries
            log.exception("revealing due results failed")


async def _startup(app: Litestar) -> None:
    if app.state.settings.run_migrations:
        await run_migrations(app.state.engine)
    app.state.reveal_task = asyncio.create_task(_reveal_loop(app))
    # Everything loaded so far (modules, the app, SQLAlchemy's mappers) lives as long as the process:
    # move it out of the collector's generations, so collections under load scan only request garbage.
    gc.collect()
    gc.freeze()


async def _shutdown(app: Litestar) -> None:
    task = getattr(app.state, "reveal_task", None)
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await app.state.fit_queue.close()
    await app.state.engine.dispose()
    direct.dispose(app.state.engine)


# At most this many pooled SQLite connections (and as many overflow) in the API process, whatever
# TURNSIGNAL_DB_POOL_SIZE says: each aiosqlite connection is a thread that every statement hops to and
# back, SQLite runs one writer at a time anyway, and more threads than cores only add thread switches
# (docs/performance.md, "Where a request's time goes").
SQLITE_POOL_SIZE = 4


def _create_engine(settings: Settings) -> Any:
    if settings.database_url.startswith("sqlite"):
        return create_engine(settings, pool_size=min(settings.db_pool_size, SQLITE_POOL_SIZE))
    return create_engine(settings)


def create_app(settings: Settings | None = None) -> Litestar:
    """Build the service for `settings` (default: from the environment)."""
    settings = settings or Settings.from_env()
    engine = _create_engine(settings)
    state = State({"settings": settings, "engine": engine, "session_factory": create_session_factory(engine),
                   "read_session_factory": read_session_factory(engine), "fit_queue": make_fit_queue(settings)})
    app = Litestar(
        route_handlers=[*_route_handlers(), static_router(), web_router(settings), static_files()],
        dependencies={
            "db_session": Provide(provide_db_session),
            "participant": Provide(provide_participant),
            "admin": Provide(provide_admin),
        },
        exception_handlers=EXCEPTION_HANDLERS,
        before_request=refuse_hostile_input,
        on_startup=[_startup],
        on_shutdown=[_shutdown],
        state=state,
        middleware=rate_limit_middleware(settings),
        stores=rate_limit_stores(settings),
        request_max_body_size=settings.max_body_bytes,
        openapi_config=openapi_config(title="Turnsignal", version="0.1.0"),
        template_config=template_config(),
        logging_config=logging_config(settings.log_level, settings.access_log),
        debug=False,
    )
    # Every model is imported by now: set up the ORM's mappers here, not in the first request that
    # builds a mapped object (`api.auth` builds cached participants without the mapped constructor).
    configure_mappers()
    if settings.access_log:  # around the whole handler (routing included), so 404s are logged too
        app.asgi_handler = wrap_access_log(app.asgi_handler)
    return app
