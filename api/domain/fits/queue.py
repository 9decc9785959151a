"""How a requested fit's id reaches a worker: the `fit_jobs` table on SQLite (`TableQueue`: workers poll
it), procrastinate on PostgreSQL (`ProcrastinateQueue`: its job is deferred in the row's transaction).

Both end in the same `execute_fit` (api/domain/fits/worker.py), which the worker hands to
`run_procrastinate_worker`. On PostgreSQL this module also settles fits whose worker was lost
(`recover_stalled`: procrastinate's stalled jobs; `reconcile`: rows with no live job).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import make_url, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.db import create_engine, create_session_factory, transaction, utcnow
from api.domain.fits.repository import FitJob
from api.settings import Settings

if TYPE_CHECKING:
    import procrastinate

log = logging.getLogger("turnsignal.fit_queue")

RUN_FIT = "turnsignal.run_fit"
QUEUE = "fits"
RUNTIME_KEY = "turnsignal"
LOST = "its worker stopped responding"


def uses_procrastinate(settings: Settings) -> bool:
    """PostgreSQL databases dispatch fits through procrastinate; SQLite through the table queue."""
    return settings.database_url.startswith("postgresql")


class TableQueue:
    """SQLite: the queued `fit_jobs` row is the job; workers poll the table (api/domain/fits/worker.py)."""

    name = "table"

    @contextlib.asynccontextmanager
    async def session(self, session: AsyncSession) -> AsyncIterator[AsyncSession]:
        yield session

    async def enqueue(self, session: AsyncSession, job: FitJob) -> None:
        """Nothing to do: inserting the queued row queued it."""

    async def cancel_queued(self, session: AsyncSession, job: FitJob) -> None:
        """Nothing to do: the cancelled row is no longer claimable."""

    async def close(self) -> None:
        pass


class ProcrastinateQueue:
    """PostgreSQL: fit writes run on a psycopg session so the procrastinate job is deferred (or
    cancelled) in the same transaction as the row. The procrastinate app is never opened here."""

    name = "procrastinate"

    def __init__(self, settings: Settings) -> None:
        self.app = procrastinate_app(settings)
        self.engine = create_engine(settings, driver="psycopg", pool_size=2)
        self._sessions = create_session_factory(self.engine)

    @contextlib.asynccontextmanager
    async def session(self, session: AsyncSession) -> AsyncIterator[AsyncSession]:
        async with self._sessions() as own:
            yield own

    async def enqueue(self, session: AsyncSession, job: FitJob) -> None:
        job.queue_job_id = await defer_fit(self.app, job.id, await _driver_connection(session))

    async def cancel_queued(self, session: AsyncSession, job: FitJob) -> None:
        if job.queue_job_id is not None:
            await self.app.job_manager.cancel_job_by_id_async(job.queue_job_id,
                                                              connection=await _driver_connection(session))

    async def close(self) -> None:
        await self.engine.dispose()


FitQueue = TableQueue | ProcrastinateQueue


def make_fit_queue(settings: Settings) -> FitQueue:
    """The API side of the dispatcher for `settings.database_url` (no connection is opened here)."""
    return ProcrastinateQueue(settings) if uses_procrastinate(settings) else TableQueue()


async def _driver_connection(session: AsyncSession) -> Any:
    """The psycopg connection under `session` (inside its open transaction)."""
    connection = await session.connection()
    return (await connection.get_raw_connection()).driver_connection


async def defer_fit(app: "procrastinate.App", fit_id: str, connection: Any | None = None) -> int:
    """Defer `turnsignal.run_fit(fit_id)`; on `connection` (psycopg) it joins that transaction. The
    queueing lock keeps at most one waiting job per fit."""
    return await app.configure_task(RUN_FIT, connection=connection,
                                    queueing_lock=f"fit:{fit_id}").defer_async(fit_id=fit_id)


def _conninfo(settings: Settings) -> tuple[str, dict[str, Any]]:
    """libpq conninfo and connection kwargs (search_path) for psycopg, from the SQLAlchemy URL."""
    url = make_url(settings.database_url).set(drivername="postgresql")
    kwargs = {"options": f"-c search_path={settings.database_schema}"} if settings.database_schema else {}
    return url.render_as_string(hide_password=False), kwargs


ExecuteFit = Callable[[async_sessionmaker[AsyncSession], Settings, str, str | None], Awaitable[str | None]]
"""`execute_fit(session_factory, settings, owner, fit_id)`: claim and run one fit; its final state, or
None when it was not claimable (api/domain/fits/worker.py)."""


@dataclass(frozen=True)
class WorkerRuntime:
    """What the task needs from the worker process (procrastinate's `additional_context`)."""

    settings: Settings
    session_factory: async_sessionmaker[AsyncSession]
    owner: str
    execute_fit: ExecuteFit


def procrastinate_app(settings: Settings) -> "procrastinate.App":
    """A procrastinate app on the service's PostgreSQL database with the `turnsignal.run_fit` task."""
    import procrastinate

    conninfo, kwargs = _conninfo(settings)
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=conninfo, kwargs=kwargs,
                                                                     min_size=1, max_size=4))

    @app.task(name=RUN_FIT, queue=QUEUE, pass_context=True,
              retry=procrastinate.RetryStrategy(retry_exceptions=[asyncio.CancelledError]))  # type: ignore[list-item]
    async def run_fit(context: procrastinate.JobContext, fit_id: str) -> str:
        return await _run_fit_task(context.additional_context[RUNTIME_KEY], fit_id)

    return app


async def _run_fit_task(runtime: WorkerRuntime, fit_id: str) -> str:
    try:
        state = await runtime.execute_fit(runtime.session_factory, runtime.settings, runtime.owner, fit_id)
    except asyncio.CancelledError:  # the worker is stopping: hand the fit back (procrastinate retries the job)
        await asyncio.shield(_release(runtime, fit_id))
        raise
    except Exception as error:  # bookkeeping failed (e.g. the database went away): fail the row if we can
        with contextlib.suppress(Exception):
            await _fail_own(runtime, fit_id, f"the worker failed while running this fit: {type(error).__name__}: {error}")
        raise
    return state or "not claimed (no longer queued)"


async def _release(runtime: WorkerRuntime, fit_id: str) -> None:
    async with runtime.session_factory() as session, transaction(session):
        await session.execute(update(FitJob).where(FitJob.id == fit_id, FitJob.state == "running",
                                                   FitJob.lease_owner == runtime.owner)
                              .values(state="queued", stage="re-queued: its worker was stopped", progress=0.0,
                                      lease_owner=None, attempts=FitJob.attempts - 1))


async def _fail_own(runtime: WorkerRuntime, fit_id: str, reason: str) -> None:
    async with runtime.session_factory() as session, transaction(session):
        await session.execute(update(FitJob).where(FitJob.id == fit_id, FitJob.state == "running",
                                                   FitJob.lease_owner == runtime.owner)
                              .values(state="failed", stage="failed", error=reason[:4000], finished_at=utcnow(),
                                      lease_owner=None))


async def settle_lost_fit(session: AsyncSession, fit_id: str | None, why: str) -> str:
    """A fit whose procrastinate job lost its worker: update the row and say what procrastinate should do
    with the job: 'retry' (row queued again), 'failed' (row failed with the reason: every attempt used),
    'aborted' (row cancelled: cancel was requested) or 'succeeded' (the row was already done)."""
    async with transaction(session):
        job = (await session.execute(select(FitJob).where(FitJob.id == fit_id).with_for_update())).scalar_one_or_none()
        if job is None or job.state in ("failed", "cancelled"):
            return "failed" if job is None or job.state == "failed" else "aborted"
        if job.state == "done":
            return "succeeded"
        if job.state == "queued":  # lost before it was claimed: nothing to undo
            return "retry"
        now = utcnow()
        if job.cancel_requested:
            job.state, job.stage, job.finished_at, job.lease_owner = "cancelled", "cancelled (its worker stopped)", now, None
            return "aborted"
        if job.attempts >= job.max_attempts:
            job.state, job.stage, job.finished_at, job.lease_owner = "failed", "failed", now, None
            job.error = f"the worker running this fit stopped responding ({why}) and every attempt is used"
            return "failed"
        job.state, job.stage, job.progress, job.lease_owner = "queued", f"re-queued: {LOST}", 0.0, None
        return "retry"


async def recover_stalled(app: "procrastinate.App", session_factory: async_sessionmaker[AsyncSession],
                          settings: Settings) -> int:
    """Settle the fit jobs procrastinate reports as stalled (their worker's heartbeat is older than the
    lease): retry, fail or abort each (see `settle_lost_fit`). Returns how many were settled."""
    from procrastinate import exceptions, jobs

    why = f"no heartbeat for {settings.fit_lease_seconds:g} s"
    stalled = await app.job_manager.get_stalled_jobs(queue=QUEUE, task_name=RUN_FIT,
                                                     seconds_since_heartbeat=settings.fit_lease_seconds)
    settled = 0
    for job in stalled:
        async with session_factory() as session:
            action = await settle_lost_fit(session, job.task_kwargs.get("fit_id"), why)
        try:
            if action == "retry":
                await app.job_manager.retry_job(job)
            else:
                await app.job_manager.finish_job(job, status=jobs.Status(action), delete_job=False)
        except exceptions.ConnectorException as error:  # another worker settled it first
            log.debug("stalled job %s: %s", job.id, error)
            continue
        log.warning("fit %s: its worker stopped responding; job %s -> %s", job.task_kwargs.get("fit_id"), job.id, action)
        settled += 1
    return settled


ORPHANS = text("""
    SELECT f.id FROM fit_jobs f
     WHERE f.state IN ('queued', 'running')
       AND NOT EXISTS (SELECT 1 FROM procrastinate_jobs j
                        WHERE j.task_name = :task AND j.args ->> 'fit_id' = f.id AND j.status IN ('todo', 'doing'))
""")


async def reconcile(app: "procrastinate.App", session_factory: async_sessionmaker[AsyncSession]) -> int:
    """Give a new procrastinate job to every queued or running fit that has no live one (settling a
    running one first, as if its worker was lost). Returns how many jobs were deferred."""
    from procrastinate import exceptions

    async with session_factory() as session:
        orphans = list((await session.execute(ORPHANS, {"task": RUN_FIT})).scalars())
    deferred = 0
    for fit_id in orphans:
        async with session_factory() as session:
            if await settle_lost_fit(session, fit_id, "its job ended without finishing the fit") != "retry":
                continue
            try:
                job_id = await defer_fit(app, fit_id)
            except exceptions.AlreadyEnqueued:  # another worker deferred it first
                continue
            async with transaction(session):
                await session.execute(update(FitJob).where(FitJob.id == fit_id).values(queue_job_id=job_id))
        log.warning("fit %s had no live procrastinate job: deferred job %s", fit_id, job_id)
        deferred += 1
    return deferred


async def run_procrastinate_worker(settings: Settings, session_factory: async_sessionmaker[AsyncSession], owner: str,
                                   execute_fit: ExecuteFit, *, once: bool = False, stop: asyncio.Event | None = None,
                                   tick: Callable[[], Awaitable[Any]] | None = None,
                                   install_signal_handlers: bool = False) -> None:
    """Run a procrastinate worker on the `fits` queue (its task calls `execute_fit`), and every poll:
    stalled-job recovery, reconciliation and `tick` (the model bot). With `once`: recover, run every
    runnable job, tick, return.

    Stopping (`stop` set, or SIGTERM/SIGINT with `install_signal_handlers`): the maintenance loop stops
    first (a stopping worker's heartbeat stops too, and it must not judge its own job stalled), then
    procrastinate's worker stops at once: a running fit is aborted, handed back (row queued) and its
    job retried."""
    app = procrastinate_app(settings)
    options: dict[str, Any] = dict(
        queues=[QUEUE], name=owner, concurrency=1, wait=not once, listen_notify=not once,
        fetch_job_polling_interval=settings.worker_poll_seconds,
        abort_job_polling_interval=max(settings.worker_poll_seconds, 1.0),
        update_heartbeat_interval=max(0.2, settings.fit_lease_seconds / 4),
        stalled_worker_timeout=settings.fit_lease_seconds, shutdown_graceful_timeout=0,
        install_signal_handlers=False, additional_context={
            RUNTIME_KEY: WorkerRuntime(settings=settings, session_factory=session_factory, owner=owner,
                                       execute_fit=execute_fit)},
    )

    async def maintain() -> None:
        try:
            await recover_stalled(app, session_factory, settings)
            await reconcile(app, session_factory)
        except Exception:  # never fatal: the next poll retries
            log.exception("fit queue maintenance failed")
        if tick is not None:
            await tick()

    async with app.open_async():
        if once:
            await maintain()
            await app.run_worker_async(**options)
            if tick is not None:
                await tick()
            return

        async def maintenance_loop() -> None:
            while True:
                await maintain()
                await asyncio.sleep(settings.worker_poll_seconds)

        stop = stop or asyncio.Event()
        signals = (signal.SIGTERM, signal.SIGINT) if install_signal_handlers else ()
        loop = asyncio.get_running_loop()
        for signum in signals:
            loop.add_signal_handler(signum, stop.set)
        worker = asyncio.create_task(app.run_worker_async(**options), name="procrastinate worker")
        maintenance = asyncio.create_task(maintenance_loop(), name="fit queue maintenance")
        stopper = asyncio.create_task(stop.wait(), name="stop")
        try:
            done, _ = await asyncio.wait({worker, maintenance, stopper}, return_when=asyncio.FIRST_COMPLETED)
            for task in done & {worker, maintenance}:
                task.result()  # re-raise a crash
        finally:
            for task in (maintenance, stopper, worker):  # in this order; cancelling procrastinate's worker stops it
                if not task.done():
                    task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            for signum in signals:
                loop.remove_signal_handler(signum)
