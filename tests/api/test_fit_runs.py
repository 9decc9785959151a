"""Fits over HTTP that do not end the easy way, on SQLite and PostgreSQL (real worker loop, real
sampler): a fit that diverges is still `done`, with the divergences and a plain-words warning in
its diagnostics; a running fit cancelled over HTTP is stopped for real (its sampler aborted, not
abandoned) and its worker runs the next fit at once.

The divergent configuration is a legitimate request, not a mock: the same tiny 3-task fit as
tests/api/test_fits.py with `target_accept` at its lower bound (0.55: NUTS adapts to large steps)
and the shortest allowed warm-up (`tune` 50), which leaves the step size and mass matrix barely
adapted to the model's curved link posterior. On this slice that diverges on 11 of 12 seeds tried
(4 to 29 divergent transitions); nutpie is deterministic per seed, and seed 3 gives 8 here.
"""
from __future__ import annotations

import asyncio
import threading
import time
from datetime import datetime

import pytest

from api.domain.fits.worker import posterior_path, run_worker
from tests.api.test_fits import TINY, dataset_id, poll

pytestmark = pytest.mark.anyio

DIVERGENT = {**TINY, "target_accept": 0.55, "tune": 50, "seed": 3}
LONG = {**TINY, "draws": 20_000, "tune": 1000, "seed": 5}  # minutes of sampling if nobody stops it


async def test_a_divergent_fit_is_done_with_the_warning_in_its_diagnostics(client, make_participant, fit_settings):
    alice = await make_participant("alice")
    ds = await dataset_id(client, alice)
    r = await client.post("/v1/fits", json={**DIVERGENT, "dataset_id": ds}, headers=alice.headers)
    assert r.status_code == 202, r.text
    assert r.json()["options"]["target_accept"] == 0.55 and r.json()["options"]["tune"] == 50
    fit_id = r.json()["id"]

    await run_worker(fit_settings, once=True, bot=False)

    fit = await poll(client, alice, fit_id, timeout=5)
    assert fit["state"] == "done" and fit["error"] is None, fit
    diagnostics = fit["diagnostics"]
    assert diagnostics["divergences"] > 0, diagnostics
    warning = next((w for w in diagnostics["warnings"] if "divergent" in w), None)
    assert warning is not None, diagnostics["warnings"]
    assert warning.startswith(f"{diagnostics['divergences']} divergent transitions") and "raise target_accept" in warning
    # a divergent fit is still a usable (if flagged) posterior: its estimates are served
    em = await client.get(f"/v1/fits/{fit_id}/emergence", headers=alice.headers)
    assert em.status_code == 200 and len(em.json()["rows"]) == len(TINY["tasks"])


async def test_sampler_options_out_of_range_are_clear_4xx(client, make_participant):
    alice = await make_participant("alice")
    ds = await dataset_id(client, alice)
    for field, value in (("target_accept", 0.5), ("target_accept", 1.0), ("tune", 10), ("chains", 0)):
        r = await client.post("/v1/fits", json={**TINY, field: value, "dataset_id": ds}, headers=alice.headers)
        assert r.status_code in (400, 422), (field, value, r.text)
        assert r.json()["error"]["field"] == field, r.json()


async def _wait_for(client, actor, fit_id, ok, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = (await client.get(f"/v1/fits/{fit_id}", headers=actor.headers)).json()
        if ok(body):
            return body
        assert body["state"] in ("queued", "running"), body
        await asyncio.sleep(0.2)
    raise AssertionError(f"fit {fit_id}: still {body['state']} / {body['stage']} after {timeout} s")


CPU_WINDOW = 3.0


class _WorkerThread:
    """The worker loop on its own thread and event loop, as in the worker process. On the test's loop
    it would deadlock: the test client's requests block that loop while the app serves them, so a
    worker suspended between its UPDATE and COMMIT keeps the row lock the app's request waits for."""

    def __init__(self, settings) -> None:
        self.loop = asyncio.new_event_loop()
        self.stop = asyncio.Event()
        self.thread = threading.Thread(
            target=lambda: self.loop.run_until_complete(run_worker(settings, stop=self.stop, bot=False)), daemon=True)
        self.thread.start()

    async def halt(self, timeout: float) -> None:
        self.loop.call_soon_threadsafe(self.stop.set)
        await asyncio.to_thread(self.thread.join, timeout)
        assert not self.thread.is_alive(), f"the worker did not stop within {timeout} s"
        self.loop.close()


async def _cpu_seconds_over(seconds: float) -> float:
    """CPU time (all threads of this process) spent while the test just waits `seconds`."""
    start = time.process_time()
    await asyncio.sleep(seconds)
    return time.process_time() - start


def _at(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


async def test_cancelling_a_running_fit_stops_its_sampler_and_frees_the_worker(client, make_participant, fit_settings):
    alice = await make_participant("alice")
    ds = await dataset_id(client, alice)
    long_id = (await client.post("/v1/fits", json={**LONG, "dataset_id": ds}, headers=alice.headers)).json()["id"]
    worker = _WorkerThread(fit_settings)
    try:
        # the stage says when compilation is over and the chains are drawing
        sampling = await _wait_for(client, alice, long_id,
                                   lambda b: b["state"] == "running" and b["stage"].startswith("sampling"), timeout=240)
        assert sampling["progress"] < 1
        busy = await _cpu_seconds_over(CPU_WINDOW)  # this process (API, worker, sampler threads) while sampling
        asked = time.monotonic()
        r = await client.post(f"/v1/fits/{long_id}/cancel", headers=alice.headers)
        assert r.status_code == 200 and r.json()["cancel_requested"] is True, r.text
        cancelled = await _wait_for(client, alice, long_id, lambda b: b["state"] == "cancelled", timeout=15)
        assert time.monotonic() - asked < 5, "a running fit must be cancelled within seconds"
        assert cancelled["stage"] == "cancelled while running" and cancelled["diagnostics"] is None, cancelled
        assert (await client.get(f"/v1/fits/{long_id}/idata.nc", headers=alice.headers)).status_code == 409
        assert not posterior_path(fit_settings, long_id).exists()
        # the sampler stopped (an abandoned one would keep ~2 cores busy for minutes) ...
        idle = await _cpu_seconds_over(CPU_WINDOW)
        print(f"CPU seconds over {CPU_WINDOW} s: {busy:.2f} while sampling, {idle:.2f} after the cancel")
        assert busy > 1.0, f"the fit was not sampling: {busy:.2f} CPU s in {CPU_WINDOW} s"
        assert idle < 0.5, f"the cancelled fit still burns CPU: {idle:.2f} CPU s in {CPU_WINDOW} s"
        # ... and the worker is free: it claims the next fit at once and runs it
        next_id = (await client.post("/v1/fits", json={**TINY, "draws": 50, "tune": 50, "seed": 7, "dataset_id": ds},
                                     headers=alice.headers)).json()["id"]
        claimed = await _wait_for(client, alice, next_id, lambda b: b["state"] != "queued", timeout=15)
        assert (_at(claimed["started_at"]) - _at(claimed["created_at"])).total_seconds() < 5, claimed
        done = await _wait_for(client, alice, next_id, lambda b: b["state"] == "done", timeout=240)
        assert done["attempts"] == 1
    finally:
        await worker.halt(timeout=120)
