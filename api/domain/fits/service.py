"""Fits: request (validated here, run by a worker process: api/domain/fits/worker.py), state, cancel,
cache, posterior download, estimates (emergence, predict) and the emergence plot.

The request validates cheaply, against the dataset's stored summary (its tasks, families, metrics and
models; 422s name the field) and never reads its rows: rows are selected and the design built once,
by the worker's fit, whose error (e.g. too narrow a compute range) is the fit's failure reason. The
request inserts a `queued` row in `fit_jobs` and hands it to the fit queue (api/domain/fits/queue.py).
Equal (dataset, canonical options) return the existing queued/running/done job (200) instead of a new
one (202): the fit cache, per dataset (two owners' identical datasets do not share fits, which would
tell one that the other's private dataset exists).
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from pydantic import ValidationError
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api.db import transaction, utcnow
from api.db.models import Participant
from api.domain.datasets.service import can_read, load_dataset
from api.domain.fits.posterior import load_forecaster
from api.domain.fits.queue import FitQueue, TableQueue
from api.domain.fits.repository import Dataset, FitJob
from api.domain.fits.schemas import (EmergenceOut, EmergenceRow, FitCreate, FitOut, FitTimings, PredictionRow,
                                     PredictTarget)
from api.errors import ApiError, not_found
from forecast.compute import training_flops
from models.config import FitConfig

if TYPE_CHECKING:
    from models.forecaster_protocol import Forecaster

LIVE_STATES = ("queued", "running", "done")
MIN_MODELS = 3
"""The fewest runs (family, model) a fit needs; the fit itself checks it again on the selected rows."""


def fit_config_options(data: FitCreate) -> dict[str, Any]:
    """The FitConfig part of a request, validated by FitConfig itself (priors), as JSON."""
    options = data.model_dump(exclude={"dataset_id", "targets"})
    try:
        return FitConfig(**options).model_dump(mode="json")
    except ValidationError as error:
        first = error.errors()[0]
        raise ApiError(422, f"invalid fit options: {first['msg']}", ".".join(map(str, first["loc"])) or "body") from None


def options_key(dataset_sha256: str, options: dict[str, Any]) -> str:
    """sha256 of the dataset content hash and the canonical options JSON (the fit cache key)."""
    return hashlib.sha256((dataset_sha256 + json.dumps(options, sort_keys=True)).encode()).hexdigest()


def check_fit_against_dataset(dataset: Dataset, config: dict[str, Any]) -> None:
    """422 naming the field when the dataset's summary rules the fit out (its rows are not read)."""
    tasks, metrics, families = set(dataset.tasks), set(dataset.metrics), set(dataset.families)
    if config["tasks"] and (absent := sorted(set(config["tasks"]) - tasks)):
        raise ApiError(422, f"tasks not in the dataset: {absent}; it has {sorted(tasks - {'*'})}", "tasks")
    if config["families"] and (absent := sorted(set(config["families"]) - families)):
        raise ApiError(422, f"families not in the dataset: {absent}; it has {sorted(families)}", "families")
    if config["smooth_metric"] not in metrics and config["smooth_metric"] != "auto":
        raise ApiError(422, f"smooth metric {config['smooth_metric']!r} not in the dataset; it has {sorted(metrics)} "
                       "(or auto)",
                       "smooth_metric")
    if not set(config["success_metric"]) & metrics:
        raise ApiError(422, f"none of the success metrics {config['success_metric']} is in the dataset; it has "
                       f"{sorted(metrics)}", "success_metric")
    runs = len(dataset.models) * len(dataset.families)  # at most: model names may repeat across families
    if runs < MIN_MODELS:
        raise ApiError(422, f"dataset too small to fit: at most {runs} model run(s); need at least {MIN_MODELS}",
                       "dataset_id")


def _seconds(later, earlier) -> float | None:
    return None if later is None or earlier is None else max(0.0, (later - earlier).total_seconds())


def to_out(job: FitJob) -> FitOut:
    diagnostics = job.diagnostics or {}
    timings = FitTimings(queued_seconds=_seconds(job.started_at or utcnow(), job.created_at),
                         run_seconds=_seconds(job.finished_at or (utcnow() if job.state == "running" else None), job.started_at),
                         compile_seconds=diagnostics.get("compile_seconds"), sampling_seconds=diagnostics.get("sampling_seconds"))
    return FitOut(id=job.id, dataset_id=job.dataset_id, state=job.state, progress=job.progress, stage=job.stage,
                  error=job.error, attempts=job.attempts, max_attempts=job.max_attempts,
                  cancel_requested=job.cancel_requested, options=job.options, diagnostics=job.diagnostics,
                  timings=timings, created_by=job.created_by, created_at=job.created_at, started_at=job.started_at,
                  finished_at=job.finished_at)


async def request_fit(session: AsyncSession, caller: Participant, data: FitCreate, max_attempts: int,
                      queue: FitQueue | None = None) -> tuple[FitOut, bool]:
    """Queue a fit (row and queue job in one transaction), or return the cached one; (job, created)."""
    queue = queue or TableQueue()
    dataset = await load_dataset(session, caller, data.dataset_id)
    config = fit_config_options(data)
    check_fit_against_dataset(dataset, config)
    options = {**config, "targets": [t.model_dump() for t in data.targets]}
    key = options_key(dataset.sha256, options)
    async with queue.session(session) as writer, transaction(writer):
        cached = (await writer.execute(select(FitJob).where(FitJob.options_key == key, FitJob.dataset_id == dataset.id,
                                                           FitJob.state.in_(LIVE_STATES))
                                       .order_by(FitJob.created_at.desc()).limit(1))).scalar_one_or_none()
        if cached is not None:
            return to_out(cached), False
        job = FitJob(dataset_id=dataset.id, options=options, options_key=key, state="queued", progress=0.0,
                     stage="queued", attempts=0, max_attempts=max_attempts, cancel_requested=False,
                     created_by=caller.id, created_at=utcnow())
        writer.add(job)
        await writer.flush()
        await queue.enqueue(writer, job)
    return to_out(job), True


async def load_fit(session: AsyncSession, viewer: Participant, fit_id: str) -> FitJob:
    """The job if it exists and its dataset is readable by `viewer`; 404 otherwise."""
    job = await session.get(FitJob, fit_id)
    if job is None:
        raise not_found("fit", "fit_id")
    dataset = await session.get(Dataset, job.dataset_id)
    if dataset is None or not can_read(viewer, dataset):
        raise not_found("fit", "fit_id")
    return job


async def get_fit(session: AsyncSession, viewer: Participant, fit_id: str) -> FitOut:
    return to_out(await load_fit(session, viewer, fit_id))


async def list_fits(session: AsyncSession, viewer: Participant, state: str | None) -> list[FitOut]:
    """Fits on readable datasets, newest first (at most 500)."""
    statement = select(FitJob, Dataset).join(Dataset, Dataset.id == FitJob.dataset_id).order_by(FitJob.created_at.desc()).limit(500)
    if state is not None:
        statement = statement.where(FitJob.state == state)
    return [to_out(job) for job, dataset in (await session.execute(statement)).all() if can_read(viewer, dataset)]


async def cancel_fit(session: AsyncSession, caller: Participant, fit_id: str, queue: FitQueue | None = None) -> FitOut:
    """Queued: cancelled at once (with its queue job). Running: the worker reads the flag within about
    a second, marks it cancelled and aborts its sampler. Else 409."""
    queue = queue or TableQueue()
    async with queue.session(session) as writer:
        async with transaction(writer):
            job = await load_fit(writer, caller, fit_id)
            if caller.role != "admin" and job.created_by != caller.id:
                raise ApiError(403, "only the fit's creator or an admin may cancel it", "fit_id")
            if job.state == "queued":
                cancelled = await writer.execute(update(FitJob).where(FitJob.id == job.id, FitJob.state == "queued")
                                                 .values(state="cancelled", stage="cancelled before it started",
                                                         finished_at=utcnow()))
                if cancelled.rowcount == 1:
                    await queue.cancel_queued(writer, job)
            elif job.state == "running":
                await writer.execute(update(FitJob).where(FitJob.id == job.id).values(cancel_requested=True))
            else:
                raise ApiError(409, f"the fit is {job.state}; only queued or running fits can be cancelled", "fit_id")
        await writer.refresh(job)
    return to_out(job)


async def _done_fit(session: AsyncSession, viewer: Participant, fit_id: str) -> FitJob:
    job = await load_fit(session, viewer, fit_id)
    if job.state != "done" or not job.idata_path:
        raise ApiError(409, f"the fit is {job.state}, not done: no posterior yet", "fit_id")
    if not Path(job.idata_path).exists():
        raise ApiError(410, "the posterior file of this fit is missing from the data directory", "fit_id")
    return job


async def idata_path(session: AsyncSession, viewer: Participant, fit_id: str) -> Path:
    """The NetCDF file of a done fit."""
    return Path((await _done_fit(session, viewer, fit_id)).idata_path)


def _finite(value: Any) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _emergence_rows(records: list[dict[str, Any]]) -> list[EmergenceRow]:
    return [EmergenceRow(**{k: (_finite(v) if isinstance(v, float) else v) for k, v in r.items()}) for r in records]


def emergence_records(forecaster: Forecaster, level: float | None, success_at: float | None,
                      reached_by: float | None) -> list[dict[str, Any]]:
    """The forecaster's emergence table as JSON-safe records (blocking)."""
    table = forecaster.emergence(level=level, success_at=success_at, reached_by=reached_by)
    return [{k: (float(v) if isinstance(v, (float, np.floating)) else v) for k, v in row.items()}
            for row in table.to_dict(orient="records")]


async def emergence(session: AsyncSession, viewer: Participant, fit_id: str, level: float | None,
                    success_at: float | None, reached_by: float | None) -> EmergenceOut:
    """Per-task emergence scale; the default (level 0.5) comes from the table stored at fit end."""
    if level is not None and success_at is not None:
        raise ApiError(422, "give at most one of level or success_at", "success_at")
    job = await _done_fit(session, viewer, fit_id)
    level = None if success_at is not None else (0.5 if level is None else level)
    if level == 0.5 and reached_by is None and job.emergence is not None:
        records, search = job.emergence, (job.diagnostics or {}).get("search_range")
    else:
        forecaster = await asyncio.to_thread(load_forecaster, job.id, job.idata_path)
        records = await asyncio.to_thread(emergence_records, forecaster, level, success_at, reached_by)
        search = list(forecaster.search_range())
    return EmergenceOut(fit_id=job.id, level=level, success_at=success_at, reached_by=reached_by,
                        search_range=search, rows=_emergence_rows(records))


def _predict_blocking(forecaster: Forecaster, targets: list[PredictTarget], seed: int | None) -> list[PredictionRow]:
    frame = pd.DataFrame([t.model_dump() for t in targets])
    table = forecaster.predict(frame, seed=seed)
    return [PredictionRow(**row) for row in table.to_dict(orient="records")]


async def predict(session: AsyncSession, viewer: Participant, fit_id: str, targets: list[PredictTarget],
                  seed: int | None = None) -> list[PredictionRow]:
    """Posterior predictive success quantiles for each target (422 for tasks not in the fit)."""
    for i, target in enumerate(targets):
        if target.tokens is None and target.compute_flops is None:
            raise ApiError(422, "give tokens or compute_flops", f"targets[{i}].tokens")
    job = await _done_fit(session, viewer, fit_id)
    forecaster = await asyncio.to_thread(load_forecaster, job.id, job.idata_path)
    try:
        return await asyncio.to_thread(_predict_blocking, forecaster, targets, seed)
    except ValueError as error:
        raise ApiError(422, str(error), "task") from None


def _plot_blocking(forecaster: Forecaster, task: str, fmt: str, targets: list[dict[str, Any]]) -> bytes:
    from models.plots import emergence_curve

    marks = {t["model"]: float(np.log10(training_flops(t["params"], t["tokens"]))) for t in targets}
    return emergence_curve(forecaster, task, fmt=fmt, target_scales=marks)


async def emergence_plot(session: AsyncSession, viewer: Participant, fit_id: str, task: str, fmt: str) -> bytes:
    """PNG or SVG emergence curve of one task (targets of the fit request marked)."""
    job = await _done_fit(session, viewer, fit_id)
    forecaster = await asyncio.to_thread(load_forecaster, job.id, job.idata_path)
    if task not in forecaster.design.tasks:
        raise ApiError(422, f"task {task!r} is not in this fit; fitted tasks: {forecaster.design.tasks}", "task")
    return await asyncio.to_thread(_plot_blocking, forecaster, task, fmt, job.options.get("targets") or [])
