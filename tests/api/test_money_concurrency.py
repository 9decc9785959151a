"""Concurrency (issue 4): 50 clients trading on one market and racing to accept bets at once, against
a real server process, on SQLite and (when configured) PostgreSQL: no lost update, no double
acceptance, no negative balance, the ledger audit clean."""
from __future__ import annotations

import collections

import httpx
import pytest

from benchmarks.bench_markets import contend, running_server
from tests.api.conftest import DATABASES

pytestmark = pytest.mark.anyio
MICRO = 1_000_000


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
