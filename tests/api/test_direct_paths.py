"""The one-statement hot paths (`api.db.direct`): a binary probability without an Idempotency-Key and
a question read give the same replies as the ordinary path, and its refusals are the ordinary path's."""
from __future__ import annotations

import pytest

from tests.api.test_questions_predictions import BINARY, _question

pytestmark = pytest.mark.anyio


async def test_direct_and_ordinary_submissions_share_versions_and_shape(client, make_participant) -> None:
    alice, bob = await make_participant("alice"), await make_participant("bob")
    q = await _question(client, alice)
    path = f"/v1/questions/{q['id']}/predictions"
    direct = await client.post(path, json={"probability": 0.3}, headers=alice.headers)
    keyed = await client.post(path, json={"probability": 0.4}, headers=alice.headers | {"Idempotency-Key": "k1"})
    again = await client.post(path, json={"probability": 0.5}, headers=alice.headers)
    assert [r.status_code for r in (direct, keyed, again)] == [201, 201, 201]
    assert [r.json()["version"] for r in (direct, keyed, again)] == [1, 2, 3]
    assert set(direct.json()) == set(keyed.json())
    assert {k: direct.json()[k] for k in ("kind", "probability", "quantiles", "cdf", "commitment", "opened_at")} == {
        "kind": "probability", "probability": 0.3, "quantiles": None, "cdf": None, "commitment": None, "opened_at": None}
    stored = (await client.get(path, headers=alice.headers)).json()
    assert [(p["version"], p["probability"]) for p in stored] == [(1, 0.3), (2, 0.4), (3, 0.5)]
    assert (await client.post(path, json={"probability": 0.3}, headers=bob.headers)).json()["version"] == 1
    question = (await client.get(f"/v1/questions/{q['id']}", headers=bob.headers)).json()
    assert question["n_forecasters"] == 2 and question["accepting_predictions"] is True


async def test_refusals_are_the_ordinary_paths(client, make_participant) -> None:
    alice = await make_participant("alice")
    numeric = await _question(client, alice, {**BINARY, "kind": "numeric", "lower": 0.0, "upper": 1.0})
    reply = await client.post(f"/v1/questions/{numeric['id']}/predictions", json={"probability": 0.3}, headers=alice.headers)
    assert reply.status_code == 422 and reply.json()["error"]["field"] == "probability"
    missing = await client.post(f"/v1/questions/{'0' * 32}/predictions", json={"probability": 0.3}, headers=alice.headers)
    assert missing.status_code == 404
    q = await _question(client, alice)
    await client.post(f"/v1/questions/{q['id']}/close", headers=alice.headers)
    closed = await client.post(f"/v1/questions/{q['id']}/predictions", json={"probability": 0.3}, headers=alice.headers)
    assert closed.status_code == 409 and "closed" in closed.json()["error"]["message"]
