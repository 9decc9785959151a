"""Fits as durable jobs (issue 5), on SQLite and PostgreSQL: bad input, cache, cancel, the API never
importing PyMC, a fit over HTTP end to end on a small real OLMo slice (upload, fit by a worker, poll,
emergence, predict, plots, the bot's forecast on a linked question, reveal, scores), and durability
(a SIGKILLed worker's job is retried by another worker; queued jobs survive an API restart).

On PostgreSQL the same tests go through procrastinate (api/domain/fits/queue.py): each fit has a procrastinate
job deferred with its row, the worker is a procrastinate worker, and a SIGKILLed worker's job is found
by procrastinate's stalled-job query and retried (or failed once its attempts are used); the tests
check the procrastinate job's status too. On SQLite they exercise the table queue and its reaper.

Tiny fits (3 tasks, 150 draws x 2 chains) keep this fast; the low ESS this gives is itself the
"done, with the warning in the diagnostics" case."""
from __future__ import annotations

import asyncio
import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
from litestar.testing import AsyncTestClient

from api.app import create_app
from api.db import utcnow
from api.domain.fits.worker import run_worker
from tests.api.test_datasets import csv_bytes, small_slice, upload

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]
TASKS = ["arc_easy", "piqa", "hellaswag"]
FAMILY = "OLMo-2 (peteish) ladder"
HELD_BACK = "1B-5xC"
TINY = {"tasks": TASKS, "trend": "compute", "smooth_metric": "bpb", "success_metric": ["len_norm", "acc"], "draws": 150, "tune": 150,
        "chains": 2, "seed": 1}


def on_postgres(settings) -> bool:
    return settings.database_url.startswith("postgresql")


async def procrastinate_job(db_session, fit_id) -> dict | None:
    """The fit's procrastinate job (id, status, attempts) on PostgreSQL; None when it has none."""
    from sqlalchemy import text

    row = (await db_session.execute(text(
        "SELECT j.id, j.status, j.attempts FROM fit_jobs f JOIN procrastinate_jobs j ON j.id = f.queue_job_id "
        "WHERE f.id = :fit_id"), {"fit_id": fit_id})).mappings().one_or_none()
    await db_session.commit()  # a fresh snapshot next time
    return None if row is None else {**row, "status": str(row["status"])}


def training_table() -> pd.DataFrame:
    return small_slice(TASKS, max_params=8e8)


def held_back_rows() -> pd.DataFrame:
    table = small_slice(TASKS)
    return table[table["model"] == HELD_BACK]


async def poll(client, actor, fit_id, until=("done", "failed", "cancelled"), timeout=300.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = (await client.get(f"/v1/fits/{fit_id}", headers=actor.headers)).json()
        if body["state"] in until:
            return body
        await asyncio.sleep(0.3)
    raise AssertionError(f"fit {fit_id} still {body['state']} after {timeout} s")


async def dataset_id(client, actor, table=None) -> str:
    r = await upload(client, actor, csv_bytes(training_table() if table is None else table))
    assert r.status_code in (200, 201), r.text
    return r.json()["id"]


async def queued_fit(client, make_participant) -> tuple:
    """(alice, her training dataset's id, the id of the TINY fit of it she requested): a fit just queued."""
    alice = await make_participant("alice")
    ds = await dataset_id(client, alice)
    fit_id = (await client.post("/v1/fits", json={**TINY, "dataset_id": ds}, headers=alice.headers)).json()["id"]
    return alice, ds, fit_id


def test_the_api_process_never_imports_pymc(tmp_path):
    code = ("import sys; from api.app import create_app; from api.settings import Settings; "
            f"create_app(Settings(database_url='sqlite+aiosqlite:///{tmp_path / 'x.db'}')); "
            "create_app(Settings(database_url='postgresql+asyncpg://nobody@127.0.0.1:1/none')); "  # procrastinate's side
            "import api.domain.fits.queue; "
            "import api.domain.fits.service, api.domain.fits.posterior, models.forecaster, models.stacking; "
            "assert 'pymc' not in sys.modules and 'pytensor' not in sys.modules, 'pymc imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=120)


async def test_bad_fit_requests_are_clear_4xx(client, make_participant):
    alice = await make_participant("alice")
    ds = await dataset_id(client, alice)
    post = lambda body: client.post("/v1/fits", json=body, headers=alice.headers)  # noqa: E731
    r = await post({**TINY, "dataset_id": "nope"})
    assert r.status_code == 404 and r.json()["error"]["field"] == "dataset_id"
    r = await post({**TINY, "dataset_id": ds, "tasks": ["arc_easy", "no_such_task"]})
    assert r.status_code == 422 and r.json()["error"]["field"] == "tasks" and "no_such_task" in r.text
    r = await post({**TINY, "dataset_id": ds, "smooth_metric": "nll"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "smooth_metric"
    r = await post({**TINY, "dataset_id": ds, "success_metric": ["exact_match"]})
    assert r.status_code == 422 and r.json()["error"]["field"] == "success_metric"
    r = await post({**TINY, "dataset_id": ds, "draws": 5})
    assert r.status_code in (400, 422) and r.json()["error"]["field"] == "draws"
    r = await post({**TINY, "dataset_id": ds, "trend": "cubic"})
    assert r.status_code in (400, 422) and r.json()["error"]["field"] == "trend" and "stacked" in r.text
    r = await post({**TINY, "dataset_id": ds, "priors": {"bogus": {"dist": "Normal"}}})
    assert r.status_code == 422 and "bogus" in r.text
    for spec, says in (({"dist": "Norml", "mu": 0}, "one of"), ({"dist": "Normal", "sd": 1}, "no parameter 'sd'"),
                       ({"dist": "Normal", "sigma": -1}, "must be > 0")):
        r = await post({**TINY, "dataset_id": ds, "priors": {"log_rate_mu": spec}})
        assert r.status_code == 422 and says in r.text, r.text
    tiny = small_slice(TASKS)
    tiny = tiny[tiny["model"].isin(["190M-1xC", "370M-1xC"])]
    r = await post({**TINY, "dataset_id": await dataset_id(client, alice, tiny)})
    assert r.status_code == 422 and "too small" in r.json()["error"]["message"]
    assert (await client.get("/v1/fits", headers=alice.headers)).json() == []
    assert (await client.get("/v1/fits/nope", headers=alice.headers)).status_code == 404


async def test_rows_the_request_cannot_judge_fail_the_fit_with_the_reason(client, make_participant, fit_settings):
    """The request checks only the dataset's summary; the worker's fit selects the rows and builds the
    design once, and a design it refuses (three runs within 0.28 decades of compute) is the fit's failure."""
    alice = await make_participant("alice")
    narrow = small_slice(TASKS)
    narrow = narrow[narrow["model"].isin(["190M-1xC", "190M-1xC-rerun", "370M-0.5xC"])]
    r = await client.post("/v1/fits", json={**TINY, "dataset_id": await dataset_id(client, alice, narrow)},
                          headers=alice.headers)
    assert r.status_code == 202, r.text
    await run_worker(fit_settings, once=True, bot=False)
    fit = await poll(client, alice, r.json()["id"], timeout=30)
    assert fit["state"] == "failed" and "decades" in fit["error"], fit


async def test_same_request_is_cached_and_a_queued_fit_can_be_cancelled(client, make_participant, settings, db_session):
    alice, bob = await make_participant("alice"), await make_participant("bob")
    ds = await dataset_id(client, alice)
    first = await client.post("/v1/fits", json={**TINY, "dataset_id": ds}, headers=alice.headers)
    assert first.status_code == 202 and first.json()["state"] == "queued"
    if on_postgres(settings):  # deferred to procrastinate with the row
        assert (await procrastinate_job(db_session, first.json()["id"]))["status"] == "todo"
    again = await client.post("/v1/fits", json={**TINY, "dataset_id": ds}, headers=bob.headers)
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    fit_id = first.json()["id"]
    assert (await client.post(f"/v1/fits/{fit_id}/cancel", headers=bob.headers)).status_code == 403
    r = await client.post(f"/v1/fits/{fit_id}/cancel", headers=alice.headers)
    assert r.status_code == 200 and r.json()["state"] == "cancelled"
    if on_postgres(settings):  # its procrastinate job is cancelled in the same transaction
        assert (await procrastinate_job(db_session, fit_id))["status"] == "cancelled"
    assert (await client.post(f"/v1/fits/{fit_id}/cancel", headers=alice.headers)).status_code == 409
    assert (await client.get(f"/v1/fits/{fit_id}/emergence", headers=alice.headers)).status_code == 409
    renewed = await client.post("/v1/fits", json={**TINY, "dataset_id": ds}, headers=alice.headers)
    assert renewed.status_code == 202 and renewed.json()["id"] != fit_id  # a cancelled fit is not a cache hit
    auto = await client.post("/v1/fits", json={**TINY, "dataset_id": ds, "smooth_metric": "auto"}, headers=alice.headers)
    assert auto.status_code == 202 and auto.json()["options"]["smooth_metric"] == "auto"  # chosen by the fit itself


async def _question(client, admin, kind="binary"):
    now = utcnow()
    body = {"kind": kind, "title": f"{HELD_BACK} on arc_easy", "opens_at": (now - timedelta(minutes=1)).isoformat(),
            "closes_at": (now + timedelta(days=1)).isoformat(),
            "link": {"family": FAMILY, "model": HELD_BACK, "task": "arc_easy", "metric": "len_norm",
                     **({"threshold": 0.6} if kind == "binary" else {})}}
    if kind == "numeric":
        body.update({"lower": 0.0, "upper": 1.0, "unit": "accuracy", "scale": "linear"})
    r = await client.post("/v1/questions", json=body, headers=admin.headers)
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def test_fit_over_http_end_to_end_with_the_bot(client, make_participant, fit_settings):
    admin, alice = await make_participant("root", role="admin"), await make_participant("alice")
    binary_q, numeric_q = await _question(client, admin, "binary"), await _question(client, admin, "numeric")
    held = held_back_rows().iloc[0]
    ds = await dataset_id(client, alice)
    target = {"model": HELD_BACK, "params": float(held["params"]), "tokens": float(held["tokens"])}
    r = await client.post("/v1/fits", json={**TINY, "dataset_id": ds, "targets": [target]}, headers=alice.headers)
    assert r.status_code == 202, r.text
    fit_id = r.json()["id"]
    for q in (binary_q, numeric_q):  # alice forecasts too
        body = {"probability": 0.5} if q == binary_q else {"quantiles": {"levels": [0.05, 0.5, 0.95], "values": [0.3, 0.5, 0.7]}}
        assert (await client.post(f"/v1/questions/{q}/predictions", json=body, headers=alice.headers)).status_code == 201

    await run_worker(fit_settings, once=True)  # the worker process's loop, here in the test's process

    fit = await poll(client, alice, fit_id, timeout=5)
    assert fit["state"] == "done", fit
    assert fit["attempts"] == 1 and fit["progress"] == 1.0
    diagnostics = fit["diagnostics"]
    assert {"rhat_max", "ess_bulk_min", "divergences", "warnings"} <= set(diagnostics)
    assert diagnostics["warnings"], "150 draws x 2 chains must be flagged (low ESS) in the diagnostics"
    assert fit["timings"]["run_seconds"] > 0 and fit["timings"]["sampling_seconds"] > 0

    em = (await client.get(f"/v1/fits/{fit_id}/emergence", headers=alice.headers)).json()
    assert sorted(row["task"] for row in em["rows"]) == sorted(TASKS)
    at = await client.get(f"/v1/fits/{fit_id}/emergence", params={"success_at": 0.6, "reached_by": 21.0}, headers=alice.headers)
    assert at.status_code == 200, at.text
    assert all(0 <= row["p_reached_by"] <= 1 for row in at.json()["rows"])
    one = await client.get(f"/v1/fits/{fit_id}/predict", params={"task": "arc_easy", **{k: target[k] for k in ("params", "tokens")}},
                           headers=alice.headers)
    assert one.status_code == 200, one.text
    row = one.json()[0]
    assert 0 <= row["q05"] <= row["median"] <= row["q95"] <= 1
    many = await client.post(f"/v1/fits/{fit_id}/predict", json={"targets": [
        {"task": t, "params": target["params"], "compute_flops": 6 * target["params"] * target["tokens"]} for t in TASKS]},
        headers=alice.headers)
    assert many.status_code == 200 and [r["task"] for r in many.json()] == TASKS
    bad = await client.get(f"/v1/fits/{fit_id}/predict", params={"task": "boolq", "params": 1e9, "tokens": 1e10}, headers=alice.headers)
    assert bad.status_code == 422

    png = await client.get(f"/v1/fits/{fit_id}/plots/emergence.png", params={"task": "arc_easy"}, headers=alice.headers)
    assert png.status_code == 200 and png.headers["content-type"].startswith("image/png")
    import matplotlib.image as mpimg
    assert mpimg.imread(io.BytesIO(png.content), format="png").shape[:2] == (600, 800)
    svg = await client.get(f"/v1/fits/{fit_id}/plots/emergence.svg", params={"task": "piqa"}, headers=alice.headers)
    assert svg.status_code == 200 and b"<svg" in svg.content
    nc = await client.get(f"/v1/fits/{fit_id}/idata.nc", headers=alice.headers)
    assert nc.status_code == 200 and nc.content[:4] in (b"\x89HDF", b"CDF\x01", b"CDF\x02")

    # the bot forecast both linked questions through the normal prediction path
    counts = [(await client.get(f"/v1/questions/{q}", headers=alice.headers)).json() for q in (binary_q, numeric_q)]
    assert [c["n_forecasters"] for c in counts] == [2, 2], counts
    # reveal the held-back result: both questions resolve, the bot is scored and on the leaderboard
    result = {"source": "held-back run", "reveal_at": (utcnow() + timedelta(days=30)).isoformat(),
              "rows": held_back_rows().astype(object).where(held_back_rows().notna(), None).to_dict(orient="records")}
    r = await client.post("/v1/results", json=result, headers=admin.headers)
    assert r.status_code == 201, r.text
    revealed = await client.post(f"/v1/results/{r.json()['id']}/reveal", headers=admin.headers)
    assert sorted(revealed.json()["resolved_question_ids"]) == sorted([binary_q, numeric_q])
    scores = (await client.get(f"/v1/questions/{binary_q}/scores", headers=alice.headers)).json()
    assert len(scores) == 2
    board = (await client.get("/v1/leaderboard", headers=alice.headers)).json()
    handles = [row.get("handle") for row in board["ranked"] + board["unranked"]]
    assert "turnsignal-model" in handles, board
    bot_id = next(row["participant_id"] for row in board["ranked"] + board["unranked"] if row.get("handle") == "turnsignal-model")
    plot = await client.get(f"/v1/participants/{bot_id}/plots/reliability.png", headers=alice.headers)
    assert plot.status_code == 200 and mpimg.imread(io.BytesIO(plot.content), format="png").shape[:2] == (600, 800)


def _worker_env(settings) -> dict[str, str]:
    env = {**os.environ, "TURNSIGNAL_DATABASE_URL": settings.database_url, "TURNSIGNAL_DATA_DIR": settings.data_dir,
           "TURNSIGNAL_FIT_LEASE_SECONDS": str(settings.fit_lease_seconds), "TURNSIGNAL_WORKER_POLL_SECONDS": "0.2"}
    if settings.database_schema:
        env["TURNSIGNAL_DATABASE_SCHEMA"] = settings.database_schema
    return env


@contextmanager
def worker_process(settings) -> Iterator[subprocess.Popen]:
    """`python -m api.domain.fits.worker` on `settings`' database and data dir; killed (if still running) and reaped on exit."""
    worker = subprocess.Popen([sys.executable, "-m", "api.domain.fits.worker"], cwd=ROOT, env=_worker_env(settings),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield worker
    finally:
        if worker.poll() is None:
            worker.kill()  # a stopped worker's abandoned sampler thread would keep it alive until the fit ends
        worker.wait(timeout=10)


async def test_sigkilled_worker_job_is_retried_and_queued_jobs_survive_an_api_restart(client, make_participant, fit_settings,
                                                                                     db_session):
    alice, ds, fit_id = await queued_fit(client, make_participant)
    with worker_process(fit_settings) as worker:
        running = await poll(client, alice, fit_id, until=("running", "done", "failed"), timeout=120)
        assert running["state"] == "running", running
        os.kill(worker.pid, signal.SIGKILL)  # mid-fit
        worker.wait(timeout=10)
    assert (await client.get(f"/v1/fits/{fit_id}", headers=alice.headers)).json()["state"] == "running"
    if on_postgres(fit_settings):  # the killed procrastinate worker's job is left 'doing'
        assert (await procrastinate_job(db_session, fit_id))["status"] == "doing"
    # the API restarts (a new app on the same database) while a second job is queued
    second = (await client.post("/v1/fits", json={**TINY, "seed": 2, "dataset_id": ds}, headers=alice.headers)).json()["id"]
    async with AsyncTestClient(app=create_app(fit_settings)) as restarted:
        await asyncio.sleep(fit_settings.fit_lease_seconds + 0.5)  # the dead worker's lease / heartbeat expires
        await run_worker(fit_settings, once=True, bot=False)  # a new worker recovers, retries, and runs the queue
        first = await poll(restarted, alice, fit_id, timeout=5)
        assert first["state"] == "done" and first["attempts"] == 2, first
        assert (await poll(restarted, alice, second, timeout=5))["state"] == "done"
    if on_postgres(fit_settings):  # procrastinate retried the stalled job (attempts: killed run + retry)
        job = await procrastinate_job(db_session, fit_id)
        assert job["status"] == "succeeded" and job["attempts"] == 2, job
        assert (await procrastinate_job(db_session, second))["status"] == "succeeded"


async def test_a_lost_job_is_failed_with_its_reason_once_attempts_are_used(client, make_participant, fit_settings, db_session):
    from sqlalchemy import update

    from api.domain.fits.repository import FitJob
    from api.domain.fits.worker import reap_expired

    alice, _, fit_id = await queued_fit(client, make_participant)
    await db_session.execute(update(FitJob).where(FitJob.id == fit_id).values(
        state="running", attempts=2, lease_owner="dead:1", lease_expires_at=utcnow() - timedelta(seconds=1)))
    await db_session.commit()
    if not on_postgres(fit_settings):
        assert await reap_expired(db_session) == 1
        body = (await client.get(f"/v1/fits/{fit_id}", headers=alice.headers)).json()
        assert body["state"] == "failed" and "lease expired" in body["error"]
        return
    # PostgreSQL: a procrastinate worker took the job and went silent; procrastinate reports it stalled
    from sqlalchemy import text

    from api.db import create_session_factory
    from api.domain.fits.queue import QUEUE, procrastinate_app, recover_stalled

    app = procrastinate_app(fit_settings)
    async with app.open_async():
        dead = await app.job_manager.register_worker()
        assert (await app.job_manager.fetch_job(queues=[QUEUE], worker_id=dead)).task_kwargs == {"fit_id": fit_id}
        await db_session.execute(text("UPDATE procrastinate_workers SET last_heartbeat = now() - interval '1 minute' "
                                      "WHERE id = :id"), {"id": dead})
        await db_session.commit()
        assert await recover_stalled(app, create_session_factory(db_session.bind), fit_settings) == 1
        assert await recover_stalled(app, create_session_factory(db_session.bind), fit_settings) == 0
    body = (await client.get(f"/v1/fits/{fit_id}", headers=alice.headers)).json()
    assert body["state"] == "failed" and "stopped responding" in body["error"] and "every attempt" in body["error"], body
    assert (await procrastinate_job(db_session, fit_id))["status"] == "failed"


async def test_a_stopped_worker_hands_its_running_fit_back(client, make_participant, fit_settings, db_session):
    """PostgreSQL: SIGTERM stops a procrastinate worker at once; its running fit goes back to queued (the
    attempt is not counted) and procrastinate retries the job. (On SQLite SIGTERM is a kill: the reaper
    test above covers it.)"""
    if not on_postgres(fit_settings):
        pytest.skip("procrastinate worker shutdown: PostgreSQL only")
    alice, _, fit_id = await queued_fit(client, make_participant)
    with worker_process(fit_settings) as worker:
        assert (await poll(client, alice, fit_id, until=("running", "done", "failed"), timeout=120))["state"] == "running"
        worker.send_signal(signal.SIGTERM)
        handed_back = await poll(client, alice, fit_id, until=("queued", "done", "failed"), timeout=30)
    assert handed_back["state"] == "queued" and handed_back["attempts"] == 0, handed_back
    assert "stopped" in handed_back["stage"]
    job = await procrastinate_job(db_session, fit_id)
    assert job["status"] == "todo" and job["attempts"] == 1, job


async def test_a_fit_without_a_live_procrastinate_job_gets_a_new_one(client, make_participant, fit_settings, db_session):
    """PostgreSQL: reconciliation gives a queued or running fit whose procrastinate job is gone (or final)
    a new job, settling a running one as lost first."""
    if not on_postgres(fit_settings):
        pytest.skip("procrastinate reconciliation: PostgreSQL only")
    from sqlalchemy import text, update

    from api.db import create_session_factory
    from api.domain.fits.repository import FitJob
    from api.domain.fits.queue import procrastinate_app, reconcile

    alice, _, fit_id = await queued_fit(client, make_participant)
    sessions = create_session_factory(db_session.bind)
    app = procrastinate_app(fit_settings)
    async with app.open_async():
        assert await reconcile(app, sessions) == 0  # its job is waiting: nothing to do
        first = await procrastinate_job(db_session, fit_id)
        await db_session.execute(update(FitJob).where(FitJob.id == fit_id).values(state="running", attempts=1,
                                                                                  lease_owner="gone:1"))
        await db_session.execute(text("DELETE FROM procrastinate_jobs WHERE id = :id"), {"id": first["id"]})
        await db_session.commit()
        assert await reconcile(app, sessions) == 1
        body = (await client.get(f"/v1/fits/{fit_id}", headers=alice.headers)).json()
        assert body["state"] == "queued" and body["attempts"] == 1, body
        second = await procrastinate_job(db_session, fit_id)
        assert second["id"] != first["id"] and second["status"] == "todo"
        assert await reconcile(app, sessions) == 0


def test_procrastinate_schema_has_no_migration_newer_than_revision_0300():
    """Alembic revision 0300 applies procrastinate's schema.sql; a procrastinate release that ships a newer
    schema migration needs a new Alembic revision running it (then move this pin)."""
    from procrastinate.schema import SchemaManager

    newest = max(p.name for p in Path(SchemaManager.get_migrations_path()).glob("*.sql"))
    assert newest <= "03.04.00_50_post_add_retry_failed_job_procedure.sql", newest
