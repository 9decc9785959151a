"""Questions, predictions, validation, blinding, commit-reveal and idempotency over HTTP."""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from api.commitment import commitment_digest
from api.db.models import IdempotencyRecord, Prediction

pytestmark = pytest.mark.anyio


def later(**delta: float) -> str:
    return (datetime.now(timezone.utc) + timedelta(**delta)).isoformat()


BINARY = {"kind": "binary", "title": "Will M reach 60% on T?", "closes_at": later(days=7)}
NUMERIC = {"kind": "numeric", "title": "Accuracy of M on T", "closes_at": later(days=7), "lower": 0.0, "upper": 1.0,
           "unit": "accuracy", "scale": "linear"}
QUANTILES = {"quantiles": {"levels": [0.05, 0.5, 0.95], "values": [0.3, 0.5, 0.7]}}


async def _question(client, actor, body=BINARY) -> dict:
    reply = await client.post("/v1/questions", json=body, headers=actor.headers)
    assert reply.status_code == 201, reply.text
    return reply.json()


async def test_create_and_read_questions(client, make_participant) -> None:
    alice = await make_participant("alice")
    q = await _question(client, alice, NUMERIC)
    assert q["state"] == "open" and q["accepting_predictions"] and len(q["grid"]) == 21
    log_q = await _question(client, alice, {**NUMERIC, "lower": 1e20, "upper": 1e26, "scale": "log", "unit": "FLOPs"})
    assert log_q["grid"][10] == pytest.approx(1e23)
    listed = await client.get("/v1/questions?state=open", headers=alice.headers)
    assert {x["id"] for x in listed.json()} == {q["id"], log_q["id"]}
    assert (await client.get(f"/v1/questions/{q['id']}", headers=alice.headers)).json()["n_forecasters"] == 0


@pytest.mark.parametrize("body, field", [
    ({**NUMERIC, "lower": 2.0}, "upper"),
    ({**NUMERIC, "lower": None}, "lower"),
    ({**NUMERIC, "scale": "log", "lower": 0.0}, "lower"),
    ({**BINARY, "lower": 0.0}, "lower"),
    ({**BINARY, "closes_at": "2000-01-01T00:00:00Z"}, "closes_at"),
    ({**BINARY, "link": {"family": "f", "model": "m", "task": "t", "metric": "acc"}}, "link.threshold"),
    ({**BINARY, "kind": "ternary"}, "kind"),
    ({**NUMERIC, "upper": "big"}, "upper"),
])
async def test_bad_questions_are_4xx_naming_the_field(client, make_participant, body, field) -> None:
    alice = await make_participant("alice")
    reply = await client.post("/v1/questions", json=body, headers=alice.headers)
    assert 400 <= reply.status_code < 500 and reply.json()["error"]["field"] == field, reply.text


async def test_edit_only_by_creator_and_only_before_predictions(client, make_participant) -> None:
    alice, bob = await make_participant("alice"), await make_participant("bob")
    q = await _question(client, alice)
    assert (await client.patch(f"/v1/questions/{q['id']}", json={"title": "x"}, headers=bob.headers)).status_code == 403
    assert (await client.patch(f"/v1/questions/{q['id']}", json={"title": "New"}, headers=alice.headers)).json()["title"] == "New"
    await client.post(f"/v1/questions/{q['id']}/predictions", json={"probability": 0.4}, headers=bob.headers)
    reply = await client.patch(f"/v1/questions/{q['id']}", json={"title": "Newer"}, headers=alice.headers)
    assert reply.status_code == 409


async def test_drafts_are_invisible_to_others_and_refuse_predictions(client, make_participant) -> None:
    alice, bob = await make_participant("alice"), await make_participant("bob")
    q = await _question(client, alice, {**BINARY, "state": "draft"})
    assert (await client.get(f"/v1/questions/{q['id']}", headers=bob.headers)).status_code == 404
    assert (await client.post(f"/v1/questions/{q['id']}/predictions", json={"probability": 0.5}, headers=alice.headers)).status_code == 409
    assert (await client.post(f"/v1/questions/{q['id']}/open", headers=alice.headers)).json()["state"] == "open"
    assert (await client.get(f"/v1/questions/{q['id']}", headers=bob.headers)).status_code == 200


@pytest.mark.parametrize("body, field", [
    ({"probability": 0.0}, "probability"),
    ({"probability": 1.5}, "probability"),
    ({"probability": "high"}, "probability"),
    ({}, "probability"),
    ({"probability": 0.5, "extra": 1}, "extra"),
])
async def test_bad_binary_predictions(client, make_participant, body, field) -> None:
    alice = await make_participant("alice")
    q = await _question(client, alice)
    reply = await client.post(f"/v1/questions/{q['id']}/predictions", json=body, headers=alice.headers)
    assert 400 <= reply.status_code < 500 and reply.json()["error"]["field"] == field, reply.text


@pytest.mark.parametrize("raw", [b'{"probability": NaN}', b'{"probability": Infinity}', b'{"probability": 1e999}', b'{"probability": 0.5'])
async def test_nan_inf_and_malformed_json_are_4xx(client, make_participant, raw) -> None:
    alice = await make_participant("alice")
    q = await _question(client, alice)
    reply = await client.post(f"/v1/questions/{q['id']}/predictions", content=raw,
                              headers={**alice.headers, "content-type": "application/json"})
    assert 400 <= reply.status_code < 500, reply.text
    assert reply.json()["error"]["field"] in {"probability", "body"}


@pytest.mark.parametrize("body, field", [
    ({"quantiles": {"levels": [0.05, 0.5, 0.95], "values": [0.5, 0.4, 0.7]}}, "quantiles.values"),
    ({"quantiles": {"levels": [0.1, 0.5, 0.9], "values": [0.3, 0.5, 0.7]}}, "quantiles.levels"),
    ({"quantiles": {"levels": [0.05, 0.5, 0.95], "values": [0.3, 0.5, 1.7]}}, "quantiles.values"),
    ({"quantiles": {"levels": [0.05, 0.5, 0.95], "values": [0.3, 0.5]}}, "quantiles.values"),
    ({"cdf": [0.5] * 20}, "cdf"),
    ({"cdf": [1.0] + [0.5] * 20}, "cdf"),
    ({"probability": 0.5}, "probability"),
    ({**QUANTILES, "cdf": [0.0] * 21}, "quantiles"),
])
async def test_bad_numeric_predictions(client, make_participant, body, field) -> None:
    alice = await make_participant("alice")
    q = await _question(client, alice, NUMERIC)
    reply = await client.post(f"/v1/questions/{q['id']}/predictions", json=body, headers=alice.headers)
    assert reply.status_code in (400, 422) and reply.json()["error"]["field"] == field, reply.text


async def test_unknown_question_and_closed_question(client, make_participant) -> None:
    alice = await make_participant("alice")
    assert (await client.post("/v1/questions/nope/predictions", json={"probability": 0.5}, headers=alice.headers)).status_code == 404
    q = await _question(client, alice)
    assert (await client.post(f"/v1/questions/{q['id']}/close", headers=alice.headers)).json()["state"] == "closed"
    reply = await client.post(f"/v1/questions/{q['id']}/predictions", json={"probability": 0.5}, headers=alice.headers)
    assert reply.status_code == 409 and "closed" in reply.json()["error"]["message"]


async def test_versions_are_append_only_and_blinded(client, make_participant) -> None:
    alice, bob = await make_participant("alice"), await make_participant("bob")
    q = await _question(client, alice, NUMERIC)
    first = await client.post(f"/v1/questions/{q['id']}/predictions", json=QUANTILES, headers=alice.headers)
    second = await client.post(f"/v1/questions/{q['id']}/predictions", json={"cdf": [i / 20 for i in range(21)]}, headers=alice.headers)
    assert first.json()["version"] == 1 and second.json()["version"] == 2
    await client.post(f"/v1/questions/{q['id']}/predictions", json=QUANTILES, headers=bob.headers)
    mine = (await client.get(f"/v1/questions/{q['id']}/predictions", headers=alice.headers)).json()
    assert [p["participant_id"] for p in mine] == [alice.id, alice.id]
    assert (await client.get(f"/v1/predictions/{first.json()['id']}", headers=bob.headers)).status_code == 404
    question = (await client.get(f"/v1/questions/{q['id']}", headers=bob.headers)).json()
    assert question["n_forecasters"] == 2


async def test_commit_reveal(client, make_participant) -> None:
    alice = await make_participant("alice")
    q = await _question(client, alice)
    salt, forecast = "pepper-salt-123", {"probability": 0.72}
    committed = await client.post(f"/v1/questions/{q['id']}/predictions",
                                  json={"commitment": commitment_digest(salt, forecast)}, headers=alice.headers)
    assert committed.status_code == 201 and committed.json()["kind"] == "commitment"
    pid = committed.json()["id"]
    await client.post(f"/v1/questions/{q['id']}/close", headers=alice.headers)
    bad = await client.post(f"/v1/predictions/{pid}/open", json={"salt": salt, "prediction": {"probability": 0.7}}, headers=alice.headers)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "salt"
    good = await client.post(f"/v1/predictions/{pid}/open", json={"salt": salt, "prediction": forecast}, headers=alice.headers)
    assert good.status_code == 200 and good.json()["probability"] == 0.72
    again = await client.post(f"/v1/predictions/{pid}/open", json={"salt": salt, "prediction": forecast}, headers=alice.headers)
    assert again.status_code == 409


async def test_idempotency_key_replays_and_writes_nothing(client, make_participant, db_session) -> None:
    alice = await make_participant("alice")
    q = await _question(client, alice)
    headers = {**alice.headers, "Idempotency-Key": "retry-1"}
    first = await client.post(f"/v1/questions/{q['id']}/predictions", json={"probability": 0.3}, headers=headers)
    second = await client.post(f"/v1/questions/{q['id']}/predictions", json={"probability": 0.3}, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json() and second.headers.get("Idempotent-Replayed") == "true"
    other = await client.post(f"/v1/questions/{q['id']}/predictions", json={"probability": 0.4}, headers=headers)
    assert other.status_code == 409 and other.json()["error"]["field"] == "Idempotency-Key"
    assert (await db_session.execute(select(func.count()).select_from(Prediction))).scalar_one() == 1
    assert (await db_session.execute(select(func.count()).select_from(IdempotencyRecord))).scalar_one() == 1


async def test_failed_request_leaves_no_rows(client, make_participant, db_session) -> None:
    alice = await make_participant("alice")
    q = await _question(client, alice)
    reply = await client.post(f"/v1/questions/{q['id']}/predictions", json={"probability": 2.0},
                              headers={**alice.headers, "Idempotency-Key": "k"})
    assert reply.status_code == 422
    assert (await db_session.execute(select(func.count()).select_from(Prediction))).scalar_one() == 0
    assert (await db_session.execute(select(func.count()).select_from(IdempotencyRecord))).scalar_one() == 0


async def test_200_predictions_from_20_concurrent_clients_are_all_stored(client, make_participant, db_session) -> None:
    owner = await make_participant("owner")
    q = await _question(client, owner)
    actors = [await make_participant(f"user{i}") for i in range(20)]

    async def submit_ten(actor) -> list[int]:
        codes = []
        for j in range(10):
            r = await client.post(f"/v1/questions/{q['id']}/predictions", json={"probability": 0.01 + 0.09 * j},
                                  headers={**actor.headers, "Idempotency-Key": f"{actor.handle}-{j}"})
            codes.append(r.status_code)
        return codes

    codes = await asyncio.gather(*(submit_ten(a) for a in actors))
    assert all(c == 201 for batch in codes for c in batch)
    assert (await db_session.execute(select(func.count()).select_from(Prediction))).scalar_one() == 200
    assert (await client.get(f"/v1/questions/{q['id']}", headers=owner.headers)).json()["n_forecasters"] == 20
