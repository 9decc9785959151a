"""The fit worker process (`turnsignal worker`, or spawned by `turnsignal serve --with-worker`): runs
requested fits and lets the model bot forecast.

`execute_fit` is the one place a fit runs, whichever queue delivered its id (api/domain/fits/queue.py):
claim the `fit_jobs` row (compare-and-set queued -> running, attempts + 1, lease), fit in a thread
(PyMC is imported there), heartbeat (renew the lease, publish progress, read the cancel flag), then
record done / failed with the error / cancelled. On SQLite `run_worker` polls the table itself and
its reaper (`reap_expired`) re-queues or fails running rows whose lease expired; on PostgreSQL it
runs procrastinate's worker with `execute_fit` as the task's body. A cancel, a lost lease or a
stopping worker stops the fit thread's sampler (`should_stop`, models/sampling.py).
"""
from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import time
import traceback
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import and_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.db import create_engine, create_session_factory, run_migrations, transaction, utcnow
from api.domain.fits.queue import run_procrastinate_worker, uses_procrastinate
from api.domain.fits.repository import Dataset, FitJob
from api.settings import Settings

log = logging.getLogger("turnsignal.worker")

CANCEL_POLL_SECONDS = 1.0
"""How often a running fit's cancel flag is read (the lease is renewed every lease/4 seconds)."""


def worker_name() -> str:
    """host:pid, recorded as the lease owner."""
    return f"{socket.gethostname()}:{os.getpid()}"


def posterior_path(settings: Settings, fit_id: str) -> Path:
    """Where the NetCDF posterior of fit `fit_id` lives: <data_dir>/fits/<id>.nc."""
    return Path(settings.data_dir).resolve() / "fits" / f"{fit_id}.nc"


async def reap_expired(session: AsyncSession) -> int:
    """Re-queue (or fail, after max_attempts) running jobs whose lease expired; returns how many."""
    now = utcnow()
    expired = and_(FitJob.state == "running", FitJob.lease_expires_at < now)
    async with transaction(session):
        cancelled = await session.execute(update(FitJob).where(expired, FitJob.cancel_requested.is_(True)).values(
            state="cancelled", stage="cancelled (its worker stopped)", lease_owner=None, finished_at=now))
        failed = await session.execute(update(FitJob).where(expired, FitJob.attempts >= FitJob.max_attempts).values(
            state="failed", stage="failed", lease_owner=None, finished_at=now,
            error="the worker running this fit stopped responding (lease expired) and every attempt is used"))
        retried = await session.execute(update(FitJob).where(expired).values(
            state="queued", stage="re-queued: its worker stopped responding", progress=0.0, lease_owner=None))
    return cancelled.rowcount + failed.rowcount + retried.rowcount


async def claim(session: AsyncSession, owner: str, lease_seconds: float, fit_id: str | None = None) -> FitJob | None:
    """Atomically take fit `fit_id` (procrastinate's task) or else the oldest queued fit (the table
    queue) with one compare-and-set; None when it is not queued (or the queue is empty)."""
    if fit_id is not None:
        target: Any = fit_id
    else:
        candidate = select(FitJob.id).where(FitJob.state == "queued").order_by(FitJob.created_at).limit(1)
        if session.bind.dialect.name == "postgresql":
            candidate = candidate.with_for_update(skip_locked=True)
        target = candidate.scalar_subquery()
    now = utcnow()
    async with transaction(session):
        claimed = (await session.execute(
            update(FitJob).where(FitJob.id == target, FitJob.state == "queued")
            .values(state="running", attempts=FitJob.attempts + 1, lease_owner=owner,
                    lease_expires_at=now + timedelta(seconds=lease_seconds), started_at=now, progress=0.02,
                    stage="claimed by a worker", error=None)
            .returning(FitJob.id)
        )).scalar_one_or_none()
    if claimed is None:
        return None
    return await session.get(FitJob, claimed, populate_existing=True)


async def _update_own(session: AsyncSession, job_id: str, owner: str, **values: Any) -> bool:
    """Update the job only while this worker holds its lease; False if the lease was lost."""
    async with transaction(session):
        result = await session.execute(update(FitJob).where(FitJob.id == job_id, FitJob.lease_owner == owner,
                                                            FitJob.state == "running").values(**values))
    return result.rowcount == 1


async def heartbeat(session: AsyncSession, job_id: str, owner: str, lease_seconds: float, **values: Any) -> str:
    """Renew the lease; 'ok', 'cancel' (cancel requested) or 'lost' (reaped or finished elsewhere)."""
    renewed = await _update_own(session, job_id, owner, lease_expires_at=utcnow() + timedelta(seconds=lease_seconds), **values)
    if not renewed:
        return "lost"
    flag = (await session.execute(select(FitJob.cancel_requested).where(FitJob.id == job_id))).scalar_one()
    return "cancel" if flag else "ok"


def run_fit_blocking(content: bytes, options: dict[str, Any], out_path: Path,
                     should_stop: Callable[[], bool] | None = None,
                     on_phase: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Fit (PyMC/nutpie, imported here), save the NetCDF atomically, summarise; JSON-safe result.
    `should_stop` True aborts the sampler (models.sampling.FitCancelled is raised); `on_phase` is
    told "compiling", then "sampling"."""
    import math

    from api.domain.datasets.service import read_content
    from forecast.evaltable import validate_eval_table
    from models.config import FitConfig
    from models.stacking import make_forecaster

    table = validate_eval_table(read_content(content), source="dataset")
    config = FitConfig(**{k: v for k, v in options.items() if k != "targets"})
    forecaster = make_forecaster(config).fit(table, progress=False, should_stop=should_stop, on_phase=on_phase)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_suffix(".nc.tmp")
    forecaster.save(tmp)
    os.replace(tmp, out_path)
    emergence = forecaster.emergence(level=0.5)
    records = [{k: (float(v) if isinstance(v, float) else v) for k, v in r.items()} for r in emergence.to_dict("records")]
    records = [{k: (v if not isinstance(v, float) or math.isfinite(v) else None) for k, v in r.items()} for r in records]
    diagnostics = forecaster.diagnostics.to_dict() if forecaster.diagnostics else {}
    diagnostics["search_range"] = list(forecaster.search_range())
    diagnostics["tasks"] = list(forecaster.design.tasks)
    diagnostics["n_models"] = len(forecaster.design.models)
    if config.smooth_metric == "auto":
        diagnostics["smooth_choice"] = forecaster.smooth_choice_record()
    if config.trend == "stacked":
        diagnostics["stack"] = {"weights": forecaster.weights, "weights_from": forecaster.weights_from,
                                "link_discrepancy": forecaster.link_discrepancy,
                                "token_discrepancy": forecaster.token_discrepancy, "notes": forecaster.notes}
    return {"diagnostics": diagnostics, "emergence": records}


async def _cancel_requested(session: AsyncSession, job_id: str) -> bool:
    flag = (await session.execute(select(FitJob.cancel_requested).where(FitJob.id == job_id))).scalar_one()
    await session.commit()  # end the read, so the next poll sees a fresh row
    return bool(flag)


async def _stop_fit(stop: threading.Event, fit: asyncio.Future, out_path: Path) -> None:
    """Ask the fit thread to stop and wait until it has (FitCancelled, or any other end, is expected
    and discarded); a posterior it saved anyway (it finished meanwhile) is removed."""
    stop.set()
    try:
        await fit
    except Exception as error:  # FitCancelled, normally
        log.debug("stopped fit thread ended with %s: %s", type(error).__name__, error)
    out_path.unlink(missing_ok=True)


async def run_job(session_factory: async_sessionmaker[AsyncSession], settings: Settings, job: FitJob, owner: str) -> str:
    """Run one claimed job to done / failed / cancelled / lost; returns the final state."""
    async with session_factory() as session:
        dataset = await session.get(Dataset, job.dataset_id)
        content, options = dataset.content, dict(job.options)
        out_path = posterior_path(settings, job.id)
        started = time.perf_counter()
        await _update_own(session, job.id, owner, stage="compiling", progress=0.1)
        stop = threading.Event()  # the fit thread's should_stop: set on cancel, lost lease, or this task's end
        phase = ["compiling"]  # the fit thread appends "sampling" once the model is compiled
        fit = asyncio.ensure_future(asyncio.to_thread(run_fit_blocking, content, options, out_path, stop.is_set,
                                                      phase.append))
        interval = max(0.2, settings.fit_lease_seconds / 4)
        beat_at = time.perf_counter() + interval
        try:
            while not fit.done():
                await asyncio.wait({fit}, timeout=min(interval, CANCEL_POLL_SECONDS))
                if fit.done():
                    break
                if time.perf_counter() >= beat_at:
                    beat_at = time.perf_counter() + interval
                    elapsed = time.perf_counter() - started
                    status = await heartbeat(session, job.id, owner, settings.fit_lease_seconds,
                                             stage=f"{phase[-1]} ({elapsed:.0f} s)",
                                             progress=min(0.9, 0.1 + 0.8 * elapsed / (elapsed + 60.0)))
                else:
                    status = "cancel" if await _cancel_requested(session, job.id) else "ok"
                if status == "lost":
                    log.warning("fit %s: lease lost; stopping its sampler", job.id)
                    await _stop_fit(stop, fit, out_path)
                    return "lost"
                if status == "cancel":
                    await _update_own(session, job.id, owner, state="cancelled", stage="cancelled while running",
                                      finished_at=utcnow(), lease_owner=None)
                    await _stop_fit(stop, fit, out_path)  # the worker is free once the sampler has stopped
                    log.info("fit %s: cancelled; sampler stopped after %.1f s", job.id, time.perf_counter() - started)
                    return "cancelled"
        finally:
            stop.set()  # e.g. the worker is stopping (this task cancelled): the sampler must not run on
        try:
            result = fit.result()
        except Exception as error:  # a fit error is the job's failure reason, never the worker's death
            reason = f"{type(error).__name__}: {error}"
            log.warning("fit %s failed: %s\n%s", job.id, reason, traceback.format_exc())
            await _update_own(session, job.id, owner, state="failed", stage="failed", error=reason[:4000],
                              finished_at=utcnow(), lease_owner=None)
            return "failed"
        done = await _update_own(session, job.id, owner, state="done", stage="done", progress=1.0,
                                 diagnostics=result["diagnostics"], emergence=result["emergence"],
                                 idata_path=str(out_path), finished_at=utcnow(), lease_owner=None,
                                 fit_seconds=time.perf_counter() - started)
        return "done" if done else "lost"


async def execute_fit(session_factory: async_sessionmaker[AsyncSession], settings: Settings, owner: str,
                      fit_id: str | None = None) -> str | None:
    """THE place a fit runs, for both dispatchers: claim `fit_id` (or, for the table queue, the oldest
    queued fit) and run it to done / failed / cancelled / lost. None when nothing was claimable."""
    async with session_factory() as session:
        job = await claim(session, owner, settings.fit_lease_seconds, fit_id)
    if job is None:
        return None
    log.info("fit %s: claimed (attempt %d)", job.id, job.attempts)
    state = await run_job(session_factory, settings, job, owner)
    log.info("fit %s: %s", job.id, state)
    return state


async def run_worker(settings: Settings | None = None, *, once: bool = False, stop: asyncio.Event | None = None,
                     bot: bool = True, install_signal_handlers: bool = False) -> None:
    """Run fits until `stop` is set (or, with `once`, until none is runnable): through procrastinate on
    PostgreSQL, by polling the table on SQLite. The model bot ticks every poll."""
    settings = settings or Settings.from_env()
    engine = create_engine(settings)
    if settings.run_migrations:
        await run_migrations(engine)
    session_factory = create_session_factory(engine)
    owner = worker_name()
    stop = stop or asyncio.Event()
    if bot:
        from api.domain.fits.bot import bot_tick, ensure_bot

        async with session_factory() as session:
            await ensure_bot(session)

    async def tick() -> None:
        if not bot:
            return
        try:
            async with session_factory() as session:
                await bot_tick(session, settings)
        except Exception:  # the bot never stops the worker
            log.exception("bot tick failed")

    try:
        if uses_procrastinate(settings):
            log.info("worker %s: procrastinate worker on %s", owner, settings.database_url.split("@")[-1])
            await run_procrastinate_worker(settings, session_factory, owner, execute_fit, once=once, stop=stop,
                                           tick=tick, install_signal_handlers=install_signal_handlers)
            return
        log.info("worker %s polling the fit_jobs table in %s", owner, settings.database_url.split("@")[-1])
        while not stop.is_set():
            async with session_factory() as session:
                await reap_expired(session)
            state = await execute_fit(session_factory, settings, owner)
            await tick()
            if state is None:
                if once:
                    break
                with_timeout = asyncio.wait_for(stop.wait(), timeout=settings.worker_poll_seconds)
                try:
                    await with_timeout
                except asyncio.TimeoutError:
                    pass
    finally:
        await engine.dispose()


def main() -> None:
    """Entry point of `turnsignal worker` / `python -m api.domain.fits.worker`."""
    # libraries (Alembic's plugin set-up and migrations, procrastinate) at WARNING, as in the API process
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s worker %(levelname)s %(message)s")
    logging.getLogger("turnsignal").setLevel(logging.INFO)
    try:
        asyncio.run(run_worker(install_signal_handlers=True))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
