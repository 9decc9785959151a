"""Concurrency (issue 4): 50 clients trading on one market and racing to accept bets at once, against
a real server process, on SQLite and (when configured) PostgreSQL: no lost update, no double
acceptance, no negative balance, the ledger audit clean."""
from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import httpx
import pytest

from api.app import create_app
from api.db import utcnow
from api.settings import Settings
from benchmarks.bench_markets import contend, running_server
from tests.api.conftest import DATABASES, Actor
from tests.api.money_helpers import audit, balance, idem, make_admin, make_question, register

pytestmark = pytest.mark.anyio
MICRO = 1_000_000
GRANT = 1000 * MICRO


@pytest.mark.parametrize("database", DATABASES)
async def test_fifty_clients_trade_and_accept_at_once(database: str) -> None:
    async with running_server(database) as server:
        out = await contend(server, n_clients=50, trades_per_client=3, offers=10, seed=7)
        counts = collections.Counter(out["statuses"])
        assert counts[("trade", 201)] == 150, counts  # every trade executed
        assert counts[("accept", 200)] == 10 and counts[("accept", 409)] == 40, counts  # each offer taken once
        async with httpx.AsyncClient(base_url=server.base_url) as client:
            market = (await client.get(f"/v1/markets/{out['market_id']}", headers=server.admin_headers)).json()
            assert market["trade_count"] == 150  # no lost update
            positions = (await client.get(f"/v1/markets/{out['market_id']}/positions", headers=server.admin_headers)).json()
            assert [sum(p["shares"][k] for p in positions) for k in range(2)] == market["q"]
            history = (await client.get(f"/v1/markets/{out['market_id']}/history", params={"limit": 1000},
                                        headers=server.admin_headers)).json()
            assert len(history) == 150
            for who in out["clients"]:
                bal = (await client.get("/v1/me/balance", headers={"Authorization": who["Authorization"]})).json()["balance"]
                assert bal >= 0
            bets = [(await client.get(f"/v1/bets/{b}", headers=server.admin_headers)).json() for b in out["bet_ids"]]
            assert all(b["status"] == "accepted" and b["taker_id"] for b in bets)
            audit = (await client.get("/v1/admin/ledger/audit", headers=server.admin_headers)).json()
            assert audit["ok"], audit["violations"]


# ------------------------------------------------------------------------------------- issue 21 races
# The PostgreSQL races of issue 21, each run `trials` times on one app (concurrent requests through
# httpx.ASGITransport in the test's own event loop, so they truly overlap on the app's pool). A trial
# fails on any 5xx or wrong outcome; the test reports how many of its trials failed, then the audit.

def _offer(question_id: str) -> dict:
    return {"question_id": question_id, "proposition": {"kind": "binary", "outcome": True}, "side": "for",
            "stake": 3 * MICRO, "taker_stake": MICRO, "expires_at": (utcnow() + timedelta(minutes=30)).isoformat()}


@asynccontextmanager
async def _asgi_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The real app, started (migrations applied), behind httpx's ASGI transport in this event loop."""
    app = create_app(settings)
    async with app.lifespan():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://race") as client:
            yield client


async def _race_same_key_offers(client: httpx.AsyncClient, settings: Settings, admin: Actor, trial: int) -> str | None:
    who = await register(client, f"offerer{trial}")
    qid = await make_question(settings, admin.id)
    headers = idem(who.headers, f"same-offer-{trial}")
    body = _offer(qid)
    replies = await asyncio.gather(*[client.post("/v1/bets", json=body, headers=headers) for _ in range(2)])
    if sorted(r.status_code for r in replies) != [201, 201] or replies[0].json()["id"] != replies[1].json()["id"]:
        return f"offers {[(r.status_code, r.text[:80]) for r in replies]}"
    if sum(r.headers.get("Idempotent-Replayed") == "true" for r in replies) != 1:
        return "not exactly one replay"
    if await balance(client, who) != GRANT - 3 * MICRO:
        return "stake escrowed twice"
    return None


async def _race_first_two_trades(client: httpx.AsyncClient, settings: Settings, admin: Actor, trial: int) -> str | None:
    opener, trader = await register(client, f"opener{trial}"), await register(client, f"trader{trial}")
    qid = await make_question(settings, admin.id)
    market = (await client.post("/v1/markets", json={"question_id": qid, "b": 100 * MICRO}, headers=idem(opener.headers))).json()
    trade = {"side": "buy", "outcome": 1, "shares": MICRO}
    replies = await asyncio.gather(*[client.post(f"/v1/markets/{market['id']}/trades", json=trade, headers=idem(trader.headers))
                                     for _ in range(2)])
    if [r.status_code for r in replies] != [201, 201]:
        return f"trades {[(r.status_code, r.text[:80]) for r in replies]}"
    after = (await client.get(f"/v1/markets/{market['id']}", headers=admin.headers)).json()
    positions = (await client.get(f"/v1/markets/{market['id']}/positions", headers=admin.headers)).json()
    if after["trade_count"] != 2 or after["q"] != [0, 2 * MICRO] or [p["shares"] for p in positions] != [[0, 2 * MICRO]]:
        return f"market {after['trade_count']} trades, q {after['q']}, positions {positions}"
    return None


async def _race_same_key_predictions(client: httpx.AsyncClient, settings: Settings, admin: Actor, trial: int) -> str | None:
    who = await register(client, f"forecaster{trial}")
    qid = await make_question(settings, admin.id)
    headers = {**who.headers, "Idempotency-Key": f"same-prediction-{trial}"}
    replies = await asyncio.gather(*[client.post(f"/v1/questions/{qid}/predictions", json={"probability": 0.3}, headers=headers)
                                     for _ in range(2)])
    if [r.status_code for r in replies] != [201, 201] or replies[0].json()["id"] != replies[1].json()["id"]:
        return f"predictions {[(r.status_code, r.text[:80]) for r in replies]}"
    mine = (await client.get(f"/v1/questions/{qid}/predictions", headers=who.headers)).json()
    return None if len(mine) == 1 else f"{len(mine)} predictions stored"


async def _race_resolution_vs_trades(client: httpx.AsyncClient, settings: Settings, admin: Actor, trial: int) -> str | None:
    traders = [await register(client, f"t{trial}x{i}") for i in range(4)]
    qid = await make_question(settings, admin.id)
    market = (await client.post("/v1/markets", json={"question_id": qid, "b": 100 * MICRO}, headers=idem(traders[0].headers))).json()
    bet = (await client.post("/v1/bets", json=_offer(qid), headers=idem(traders[1].headers))).json()
    await client.post(f"/v1/bets/{bet['id']}/accept", headers=idem(traders[2].headers))

    async def trades(who: Actor) -> list[httpx.Response]:
        return [await client.post(f"/v1/markets/{market['id']}/trades", json={"side": "buy", "outcome": k % 2, "shares": MICRO},
                                  headers=idem(who.headers)) for k in range(3)]

    async def resolve_soon() -> httpx.Response:
        await asyncio.sleep(0.002 * trial)
        return await client.post(f"/v1/questions/{qid}/resolution", json={"outcome": 1}, headers=admin.headers)

    resolution, *traded = await asyncio.gather(resolve_soon(), *[trades(t) for t in traders])
    statuses = [r.status_code for rs in traded for r in rs]
    if resolution.status_code != 200 or any(s not in (201, 409) for s in statuses):
        bad = [r.text[:80] for rs in traded for r in rs if r.status_code >= 500]
        return f"resolution {resolution.status_code} {resolution.text[:80]}, trades {statuses} {bad}"
    question = (await client.get(f"/v1/questions/{qid}", headers=admin.headers)).json()
    return None if question["state"] == "resolved" else f"question left {question['state']}"


RACES = {"same_key_offers": _race_same_key_offers, "first_two_trades": _race_first_two_trades,
         "same_key_predictions": _race_same_key_predictions, "resolution_vs_trades": _race_resolution_vs_trades}


@pytest.mark.parametrize("trials", [3, pytest.param(10, marks=pytest.mark.slow)])
@pytest.mark.parametrize("race", list(RACES))
async def test_issue21_race(settings: Settings, race: str, trials: int) -> None:
    async with _asgi_client(settings) as client:
        admin = await make_admin(settings)
        failures = [f for trial in range(trials) if (f := await RACES[race](client, settings, admin, trial))]
        print(f"race {race} on {settings.database_url.split(':')[0]}: {len(failures)} of {trials} trials failed")
        assert not failures, f"{len(failures)} of {trials} trials failed: {failures}"
        await audit(client, admin)
