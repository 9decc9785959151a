"""The community aggregate: GET /v1/questions/{id}/aggregate (blinded until resolution like the
forecasts themselves; binary median and extremised log-odds pool; numeric quantile average of the
latest counting forecasts) and the leaderboard's `community=true` pseudo-participant."""
from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import pytest

from api.domain.predictions.aggregate import EXTREMISE, pool_binary

pytestmark = pytest.mark.anyio


def later(days: float) -> str:
    return (datetime.now(timezone.utc) + timedelta(days=days)).isoformat()


def test_pool_binary_is_the_median_and_the_extremised_mean_log_odds() -> None:
    median, pooled = pool_binary([0.6, 0.7, 0.9])
    logit = sum(math.log(p / (1 - p)) for p in (0.6, 0.7, 0.9)) / 3
    assert median == 0.7 and math.isclose(pooled, 1 / (1 + math.exp(-EXTREMISE * logit)))
    assert pool_binary([0.5, 0.5]) == (0.5, 0.5)


async def test_the_aggregate_is_hidden_until_resolution_then_counts_latest_forecasts(client, make_participant) -> None:
    admin, alice, bob = await make_participant("root", role="admin"), await make_participant("alice"), await make_participant("bob")
    q = (await client.post("/v1/questions", headers=admin.headers, json={
        "kind": "binary", "title": "t", "closes_at": later(1)})).json()
    for who, p in ((alice, 0.2), (alice, 0.6), (bob, 0.8)):  # alice's first version does not count
        assert (await client.post(f"/v1/questions/{q['id']}/predictions", headers=who.headers, json={"probability": p})).status_code == 201
    hidden = await client.get(f"/v1/questions/{q['id']}/aggregate", headers=alice.headers)
    assert hidden.status_code == 409 and hidden.json()["error"]["field"] == "question_id"
    await client.post(f"/v1/questions/{q['id']}/resolution", headers=admin.headers, json={"outcome": 1})
    body = (await client.get(f"/v1/questions/{q['id']}/aggregate", headers=alice.headers)).json()
    assert body["n_forecasts"] == 2 and math.isclose(body["median"], 0.7)
    assert body["pooled"] == pool_binary([0.6, 0.8])[1]

    board = (await client.get("/v1/leaderboard?metric=brier&community=true", headers=alice.headers)).json()
    community = [r for r in board["ranked"] if r["participant_id"] == "community"]
    assert len(community) == 1 and math.isclose(community[0]["score"], (1 - body["pooled"]) ** 2)
    plain = (await client.get("/v1/leaderboard?metric=brier", headers=alice.headers)).json()
    assert all(r["participant_id"] != "community" for r in plain["ranked"])


async def test_numeric_aggregate_averages_the_quantiles(client, make_participant) -> None:
    admin, alice, bob = await make_participant("root", role="admin"), await make_participant("alice"), await make_participant("bob")
    q = (await client.post("/v1/questions", headers=admin.headers, json={
        "kind": "numeric", "title": "n", "closes_at": later(1), "lower": 0, "upper": 100})).json()
    for who, values in ((alice, [10, 20, 30]), (bob, [30, 40, 50])):
        reply = await client.post(f"/v1/questions/{q['id']}/predictions", headers=who.headers,
                                  json={"quantiles": {"levels": [0.05, 0.5, 0.95], "values": values}})
        assert reply.status_code == 201
    await client.post(f"/v1/questions/{q['id']}/resolution", headers=admin.headers, json={"outcome": 33})
    body = (await client.get(f"/v1/questions/{q['id']}/aggregate", headers=bob.headers)).json()
    levels, values = body["quantiles"]["levels"], body["quantiles"]["values"]
    assert values[levels.index(0.05)] == 20 and values[levels.index(0.5)] == 30 and values[levels.index(0.95)] == 40
    assert body["median"] is None
