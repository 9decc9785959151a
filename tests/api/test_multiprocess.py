"""Multi-process safety on SQLite (issue 21): two real server processes (`python -m api.cli serve`)
on one database file, on free 127.0.0.1 ports.

- Both start at once on a fresh file (their migrations would race without the migration lock).
- Cancel (through one process) races accept (through the other) on the same open offer: exactly one
  wins, and the ledger audit holds.
- SIGKILL of one process under load: every write acknowledged by either process is present exactly
  once afterwards (retrying the unacknowledged ones with their Idempotency-Key through the survivor
  creates each at most once), and the audit holds.
"""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from api.admin import create_participant_with_migrations
from api.db import utcnow
from api.devserver import server_process
from api.settings import Settings
from tests.api.conftest import Actor
from tests.api.money_helpers import MICRO, make_question

pytestmark = pytest.mark.anyio


@dataclass
class Cluster:
    """Two server processes on one SQLite file: their processes, base URLs, the database's Settings
    and an admin."""

    processes: list[subprocess.Popen]
    urls: list[str]
    settings: Settings
    admin: Actor


@asynccontextmanager
async def two_servers(tmp_path: Path) -> AsyncIterator[Cluster]:
    """Start two `turnsignal serve` processes at the same moment on a fresh (unmigrated) SQLite file."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    env = {**os.environ, "TURNSIGNAL_DATABASE_URL": url}
    contexts = [server_process(env, timeout=120.0) for _ in range(2)]
    async with AsyncExitStack() as stack:
        started = await asyncio.gather(*[asyncio.to_thread(c.__enter__) for c in contexts], return_exceptions=True)
        for context, result in zip(contexts, started):
            if not isinstance(result, BaseException):
                stack.push_async_exit(lambda *exc, c=context: asyncio.to_thread(c.__exit__, *exc))
        for result in started:
            if isinstance(result, BaseException):
                raise result
        settings = Settings(database_url=url)
        key = await create_participant_with_migrations("root", "Root", "admin", False, settings)
        async with httpx.AsyncClient(base_url=started[0][1]) as client:
            admin_id = (await client.get("/v1/me", headers={"Authorization": f"Bearer {key}"})).json()["id"]
        yield Cluster([p for p, _ in started], [u for _, u in started], settings, Actor(admin_id, "root", key))


async def _register(client: httpx.AsyncClient, url: str, handle: str) -> Actor:
    r = await client.post(url, json={"handle": handle, "display_name": handle})
    assert r.status_code == 201, r.text
    body = r.json()
    return Actor(body["participant"]["id"], handle, body["api_key"])


def _with_key(actor: Actor, key: str) -> dict[str, str]:
    return {**actor.headers, "Idempotency-Key": key}


async def _audit(client: httpx.AsyncClient, base_url: str, admin: Actor) -> dict:
    r = await client.get(f"{base_url}/v1/admin/ledger/audit", headers=admin.headers)
    assert r.status_code == 200, r.text
    return r.json()


async def test_two_processes_start_together_and_cancel_races_accept(tmp_path: Path) -> None:
    races = 10
    async with two_servers(tmp_path) as cluster, httpx.AsyncClient(base_url=cluster.urls[0]) as one, \
            httpx.AsyncClient(base_url=cluster.urls[1]) as two:
        offerer, taker = await _register(one, "/v1/participants", "offerer"), await _register(two, "/v1/participants", "taker")
        qid = await make_question(cluster.settings, cluster.admin.id)
        both_won = []
        for i in range(races):
            offer = {"question_id": qid, "proposition": {"kind": "binary", "outcome": True}, "side": "for",
                     "stake": 2 * MICRO, "taker_stake": MICRO, "expires_at": (utcnow() + timedelta(minutes=30)).isoformat()}
            bet = (await one.post("/v1/bets", json=offer, headers=_with_key(offerer, f"offer-{i}"))).json()
            cancel, accept = await asyncio.gather(
                one.post(f"/v1/bets/{bet['id']}/cancel", headers=_with_key(offerer, f"cancel-{i}")),
                two.post(f"/v1/bets/{bet['id']}/accept", headers=_with_key(taker, f"accept-{i}")))
            assert sorted([cancel.status_code, accept.status_code]) in ([200, 409], [200, 200]), (cancel.text, accept.text)
            both_won += [i] if cancel.status_code == accept.status_code == 200 else []
            final = (await two.get(f"/v1/bets/{bet['id']}", headers=offerer.headers)).json()["status"]
            assert final == ("cancelled" if cancel.status_code == 200 else "accepted")
        print(f"2-process cancel vs accept: both succeeded in {len(both_won)} of {races} races")
        assert not both_won
        audit = await _audit(two, "", cluster.admin)
        assert audit["ok"], audit["violations"]


async def test_sigkill_under_load_loses_no_acknowledged_write(tmp_path: Path) -> None:
    async with two_servers(tmp_path) as cluster, httpx.AsyncClient(timeout=30) as client:
        survivor = cluster.urls[1]
        actors = [await _register(client, f"{survivor}/v1/participants", f"p{i}") for i in range(4)]
        qid = await make_question(cluster.settings, cluster.admin.id)
        market = (await client.post(f"{survivor}/v1/markets", json={"question_id": qid, "b": 100 * MICRO},
                                    headers=_with_key(actors[0], "market"))).json()
        sent: list[tuple[Actor, str, str, dict]] = []  # (who, path, key, body)
        acknowledged: dict[str, str] = {}  # key -> id of what was written

        async def load(who: Actor, n: int) -> None:
            for k in range(n):
                url = cluster.urls[k % 2]
                if k % 2:
                    path, body = f"/v1/questions/{qid}/predictions", {"probability": round(0.05 + 0.9 * k / n, 3)}
                else:
                    path, body = f"/v1/markets/{market['id']}/trades", {"side": "buy", "outcome": k % 4 // 2, "shares": MICRO}
                key = f"{who.handle}-{k}"
                sent.append((who, path, key, body))
                try:
                    r = await client.post(url + path, json=body, headers=_with_key(who, key))
                except httpx.TransportError:
                    continue  # the killed process: not acknowledged
                assert r.status_code < 500, r.text
                if r.status_code == 201:
                    acknowledged[key] = str(r.json().get("trade_id", r.json().get("id")))

        async def kill_soon() -> None:
            await asyncio.sleep(1.5)
            os.killpg(cluster.processes[0].pid, signal.SIGKILL)

        await asyncio.gather(kill_soon(), *[load(who, 30) for who in actors])
        assert cluster.processes[0].wait(timeout=10) == -signal.SIGKILL
        assert len(acknowledged) >= 20, len(acknowledged)
        # Retry every request through the survivor with its key: acknowledged ones replay the same write.
        for who, path, key, body in sent:
            r = await client.post(survivor + path, json=body, headers=_with_key(who, key))
            assert r.status_code in (201, 409), r.text
            if key in acknowledged:
                assert r.headers.get("Idempotent-Replayed") == "true"
                assert str(r.json().get("trade_id", r.json().get("id"))) == acknowledged[key]
        history = (await client.get(f"{survivor}/v1/markets/{market['id']}/history", params={"limit": 1000},
                                    headers=cluster.admin.headers)).json()
        trade_ids = [str(t["trade_id"]) for t in history]
        assert len(trade_ids) == len(set(trade_ids))
        predictions = []
        for who in actors:
            predictions += [p["id"] for p in (await client.get(f"{survivor}/v1/questions/{qid}/predictions",
                                                                headers=who.headers)).json()]
        written = set(trade_ids) | set(predictions)
        assert set(acknowledged.values()) <= written  # every acknowledged write is there, once
        n_sent = {"trades": sum("/trades" in p for _, p, _, _ in sent), "predictions": sum("/predictions" in p for _, p, _, _ in sent)}
        assert len(trade_ids) == n_sent["trades"] and len(predictions) == n_sent["predictions"]  # each key wrote once
        audit = await _audit(client, survivor, cluster.admin)
        assert audit["ok"], audit["violations"]
