"""Ledger: balances, paginated ledger, admin grants, idempotency, the invariant audit (issue 4)."""
from __future__ import annotations

import dataclasses

import pytest
from litestar.testing import AsyncTestClient

from api.app import create_app
from tests.api.money_helpers import MICRO, audit, balance, entry_count, idem, make_admin, make_question, register

pytestmark = pytest.mark.anyio
GRANT = 1000 * MICRO


async def test_starting_grant_balance_and_ledger(client) -> None:
    alice = await register(client, "alice")
    assert await balance(client, alice) == GRANT
    r = await client.get("/v1/me/balance", headers=alice.headers)
    assert r.json()["credits"] == "1000.000000"
    page = (await client.get("/v1/me/ledger", headers=alice.headers)).json()
    assert [i["kind"] for i in page["items"]] == ["grant"] and page["items"][0]["amount"] == GRANT
    assert page["next_before"] is None


async def test_admin_grants_are_idempotent_and_paginated(client, settings) -> None:
    admin, bob = await make_admin(settings), await register(client, "bob")
    headers = idem(admin.headers, "grant-1")
    body = {"participant_id": bob.id, "amount": 5 * MICRO}
    first = await client.post("/v1/admin/grants", json=body, headers=headers)
    assert first.status_code == 201, first.text
    before = await entry_count(settings)
    retry = await client.post("/v1/admin/grants", json=body, headers=headers)
    assert retry.status_code == 201 and retry.json() == first.json()
    assert await entry_count(settings) == before  # the retry moved nothing
    assert (await client.post("/v1/admin/grants", json={**body, "amount": 6}, headers=headers)).status_code == 409
    for _ in range(4):
        assert (await client.post("/v1/admin/grants", json=body, headers=idem(admin.headers))).status_code == 201
    assert await balance(client, bob) == GRANT + 5 * 5 * MICRO
    seen, before_id = [], None
    while True:
        params = {"limit": 2} | ({"before": before_id} if before_id else {})
        page = (await client.get("/v1/me/ledger", params=params, headers=bob.headers)).json()
        seen += page["items"]
        before_id = page["next_before"]
        if before_id is None:
            break
    assert len(seen) == 6 and sum(i["amount"] for i in seen) == GRANT + 25 * MICRO
    assert seen[0]["balance_after"] == GRANT + 25 * MICRO
    report = await audit(client, admin)
    assert report["minted"] == report["held"] == 2 * GRANT + 25 * MICRO


async def test_grant_refusals_move_nothing(client, settings) -> None:
    admin, bob = await make_admin(settings), await register(client, "bob")
    await balance(client, bob)
    await balance(client, admin)  # every caller's account (and starting grant) exists first
    before = await entry_count(settings)
    ok = {"participant_id": bob.id, "amount": MICRO}
    cases = [
        (bob.headers | {"Idempotency-Key": "x"}, ok, 403),  # not an admin
        (admin.headers, ok, 400),  # no Idempotency-Key
        (idem(admin.headers), {"participant_id": bob.id, "amount": 0}, 400),
        (idem(admin.headers), {"participant_id": bob.id, "amount": -5}, 400),
        (idem(admin.headers), {"participant_id": bob.id, "amount": 1.5}, 400),
        (idem(admin.headers), {"participant_id": "nobody", "amount": 5}, 404),
    ]
    for headers, body, status in cases:
        r = await client.post("/v1/admin/grants", json=body, headers=headers)
        assert r.status_code == status, (body, r.text)
        assert set(r.json()["error"]) == {"status", "message", "field"}
    assert await entry_count(settings) == before
    assert (await client.get("/v1/admin/ledger/audit", headers=bob.headers)).status_code == 403
    assert (await client.get("/v1/me/ledger", params={"limit": 0}, headers=bob.headers)).status_code == 400
    await audit(client, admin)


async def test_starting_grant_comes_from_settings(settings) -> None:
    async with AsyncTestClient(app=create_app(dataclasses.replace(settings, starting_grant_credits=2.5))) as client:
        alice = await register(client, "alice")
        assert await balance(client, alice) == 2_500_000


async def test_one_key_rule_for_money_and_predictions(client, settings) -> None:
    admin, bob = await make_admin(settings), await register(client, "bob")
    body = {"participant_id": bob.id, "amount": MICRO}
    first = await client.post("/v1/admin/grants", json=body, headers=idem(admin.headers, "g-1"))
    retry = await client.post("/v1/admin/grants", json=body, headers=idem(admin.headers, "g-1"))
    assert first.status_code == retry.status_code == 201 and retry.json() == first.json()
    assert retry.headers.get("Idempotent-Replayed") == "true" and "Idempotent-Replayed" not in first.headers
    qid = await make_question(settings, admin.id)
    for path, payload in (("/v1/admin/grants", body), (f"/v1/questions/{qid}/predictions", {"probability": 0.5})):
        r = await client.post(path, json=payload, headers=idem(admin.headers, "x" * 201))
        assert r.status_code == 400 and r.json()["error"]["field"] == "Idempotency-Key"
    # keys live per scope: the grant's key is still free for a prediction
    r = await client.post(f"/v1/questions/{qid}/predictions", json={"probability": 0.5}, headers=idem(admin.headers, "g-1"))
    assert r.status_code == 201 and "Idempotent-Replayed" not in r.headers
