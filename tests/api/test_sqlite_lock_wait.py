"""Write requests while another connection holds SQLite's write lock (BEGIN IMMEDIATE, as another
process's writer does) wait for it, up to the busy timeout (`db_busy_timeout_seconds`), instead of
failing: they succeed once the lock is released, and a lock held past the timeout is a 503 with
the {"error": ...} shape, never a 500. Covers a one-statement submission (`api.db.direct`), a
keyed one (`run_transaction`) and a market trade (an account created on first use, then the trade)."""
from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
import threading

import pytest
from litestar.testing import AsyncTestClient

from api.app import create_app
from tests.api.money_helpers import idem, make_admin, make_question, register

pytestmark = pytest.mark.anyio


def _hold_write_lock(path: str, seconds: float, taken: threading.Event) -> None:
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("UPDATE participants SET display_name = display_name")  # a pending write, as a writer's
        taken.set()
        threading.Event().wait(seconds)
        connection.execute("COMMIT")
    finally:
        connection.close()


async def _writes_under_lock(settings, busy_seconds: float, hold_seconds: float) -> list:
    if not settings.database_url.startswith("sqlite"):
        pytest.skip("SQLite's file lock")
    settings = dataclasses.replace(settings, db_busy_timeout_seconds=busy_seconds)
    async with AsyncTestClient(app=create_app(settings)) as client:
        admin = await make_admin(settings)
        opener, alice = await register(client, "opener"), await register(client, "alice")
        qid = await make_question(settings, admin.id)
        market = await client.post("/v1/markets", json={"question_id": qid, "b": 10**8}, headers=idem(opener.headers))
        assert market.status_code == 201, market.text
        taken = threading.Event()
        holder = asyncio.create_task(asyncio.to_thread(
            _hold_write_lock, settings.database_url.split("///", 1)[1], hold_seconds, taken))
        await asyncio.to_thread(taken.wait)
        predictions = f"/v1/questions/{qid}/predictions"
        try:
            return [await client.post(predictions, json={"probability": 0.3}, headers=alice.headers),
                    await client.post(predictions, json={"probability": 0.2}, headers=idem(alice.headers)),
                    await client.post(f"/v1/markets/{market.json()['id']}/trades",
                                      json={"side": "buy", "outcome": 1, "shares": 10**6}, headers=idem(alice.headers))]
        finally:
            await holder


async def test_writes_wait_for_another_connections_write_lock(settings) -> None:
    replies = await _writes_under_lock(settings, 30.0, hold_seconds=1.0)
    assert [r.status_code for r in replies] == [201, 201, 201], [r.text for r in replies]
    assert [r.json()["version"] for r in replies[:2]] == [1, 2]


async def test_a_lock_held_past_the_busy_timeout_is_a_503(settings) -> None:
    first, *others = await _writes_under_lock(settings, 0.3, hold_seconds=2.0)
    assert [r.status_code for r in (first, *others)] == [503, 503, 503], [r.text for r in (first, *others)]
    assert first.json()["error"]["status"] == 503 and "busy" in first.json()["error"]["message"]
    assert first.headers["retry-after"] == "1"
