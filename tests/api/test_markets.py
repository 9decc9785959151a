"""LMSR markets: open, trade with slippage bounds, close, settle, annul, correct, positions, history."""
from __future__ import annotations

import math

import pytest

from forecast import lmsr
from tests.api.money_helpers import (
    MICRO, audit, balance, close_question, entry_count, idem, make_admin, make_question, register, resolve,
)

pytestmark = pytest.mark.anyio
GRANT = 1000 * MICRO
B = 100 * MICRO


async def open_market(client, who, qid, **kw):
    r = await client.post("/v1/markets", json={"question_id": qid, "b": B} | kw, headers=idem(who.headers))
    assert r.status_code == 201, r.text
    return r.json()


async def trade(client, who, mid, side, outcome, shares, **kw):
    return await client.post(f"/v1/markets/{mid}/trades", json={"side": side, "outcome": outcome, "shares": shares} | kw,
                             headers=idem(who.headers))


async def test_binary_market_lifecycle(client, settings) -> None:
    admin = await make_admin(settings)
    opener, alice, bob = [await register(client, h) for h in ("opener", "alice", "bob")]
    qid = await make_question(settings, admin.id)
    m = await open_market(client, opener, qid)
    funding = lmsr.maker_funding(B, 2)
    assert m["funding"] == funding and m["prices"] == [0.5, 0.5] and m["trading_open"]
    assert await balance(client, opener) == GRANT - funding
    r = await trade(client, alice, m["id"], "buy", 1, 50 * MICRO, max_cost=30 * MICRO)
    assert r.status_code == 201, r.text
    paid = r.json()["amount"]
    assert paid == lmsr.buy_charge([0, 0], 1, 50 * MICRO, B) and r.json()["prices_after"][1] > 0.5
    await balance(client, bob)  # bob's account and starting grant exist before the refused trade
    n = await entry_count(settings)
    r = await trade(client, bob, m["id"], "buy", 1, 50 * MICRO, max_cost=paid)  # price moved: slippage refusal
    assert r.status_code == 409 and r.json()["error"]["field"] == "max_cost" and await entry_count(settings) == n
    r_bob = await trade(client, bob, m["id"], "buy", 0, 20 * MICRO)
    assert r_bob.status_code == 201
    bob_paid = r_bob.json()["amount"]
    r = await trade(client, alice, m["id"], "sell", 1, 10 * MICRO, min_proceeds=1)
    assert r.status_code == 201 and r.json()["amount"] < 0
    alice_got = -r.json()["amount"]
    assert (await trade(client, alice, m["id"], "sell", 1, 41 * MICRO)).status_code == 409  # holds only 40
    assert (await trade(client, alice, m["id"], "sell", 1, MICRO, min_proceeds=MICRO)).status_code == 409
    # Positions are private while the market is open; history is anonymous.
    pos = (await client.get(f"/v1/markets/{m['id']}/positions", headers=bob.headers)).json()
    assert [p["participant_id"] for p in pos] == [bob.id]
    hist = (await client.get(f"/v1/markets/{m['id']}/history", headers=bob.headers)).json()
    assert len(hist) == 3 and "participant_id" not in hist[0]
    assert all(math.isclose(sum(h["prices_after"]), 1.0) for h in hist)
    await audit(client, admin)
    await close_question(settings, qid)
    assert (await trade(client, bob, m["id"], "buy", 0, MICRO)).status_code == 409  # trading stops at close
    await resolve(settings, qid, "resolved", 1.0)
    assert await balance(client, alice) == GRANT - paid + alice_got + 40 * MICRO  # 1 credit per winning share
    assert await balance(client, bob) == GRANT - bob_paid
    pool = paid + bob_paid - alice_got
    assert await balance(client, opener) == GRANT - funding + pool + funding - 40 * MICRO
    assert GRANT - (await balance(client, opener)) <= B * math.log(2)  # maker loss bounded
    assert len((await client.get(f"/v1/markets/{m['id']}/positions", headers=bob.headers)).json()) == 2
    await audit(client, admin)
    # Correction to "no": the settlement is reversed and redone; bob's 20 shares now pay.
    await resolve(settings, qid, "corrected", 0.0)
    assert await balance(client, bob) == GRANT - bob_paid + 20 * MICRO
    assert await balance(client, alice) == GRANT - paid + alice_got
    assert (await client.get(f"/v1/markets/{m['id']}", headers=bob.headers)).json()["winning_outcome"] == 0
    await audit(client, admin)


async def test_annulment_refunds_net_cost(client, settings) -> None:
    admin = await make_admin(settings)
    opener, alice, bob = [await register(client, h) for h in ("opener", "alice", "bob")]
    qid = await make_question(settings, admin.id)
    m = await open_market(client, opener, qid)
    assert (await trade(client, alice, m["id"], "buy", 0, 30 * MICRO)).status_code == 201
    assert (await trade(client, bob, m["id"], "buy", 1, 70 * MICRO)).status_code == 201
    await resolve(settings, qid, "annulled", None)
    for who in (opener, alice, bob):
        assert await balance(client, who) == GRANT
    assert (await client.get(f"/v1/markets/{m['id']}", headers=bob.headers)).json()["status"] == "annulled"
    await audit(client, admin)


async def test_numeric_market_uses_scoring_grid(client, settings) -> None:
    admin = await make_admin(settings)
    opener, alice = await register(client, "opener"), await register(client, "alice")
    qid = await make_question(settings, admin.id, "numeric", lower=0.0, upper=1.0)
    m = await open_market(client, opener, qid, n_buckets=4)
    assert m["bucket_edges"] == [0.0, 0.25, 0.5, 0.75, 1.0] and len(m["prices"]) == 4
    assert m["funding"] == lmsr.maker_funding(B, 4)
    r = await trade(client, alice, m["id"], "buy", 2, 10 * MICRO)
    paid = r.json()["amount"]
    await resolve(settings, qid, "resolved", 0.6)  # bucket [0.5, 0.75)
    assert await balance(client, alice) == GRANT - paid + 10 * MICRO
    await audit(client, admin)


async def test_bad_market_input_moves_nothing(client, settings) -> None:
    admin = await make_admin(settings)
    opener, alice = await register(client, "opener"), await register(client, "alice")
    qid = await make_question(settings, admin.id)
    m = await open_market(client, opener, qid)
    await balance(client, alice)
    n = await entry_count(settings)
    for body, status in [
        ({"side": "buy", "outcome": 0, "shares": 0}, 400), ({"side": "buy", "outcome": 0, "shares": -3}, 400),
        ({"side": "buy", "outcome": 2, "shares": 5}, 422), ({"side": "hold", "outcome": 0, "shares": 5}, 400),
        ({"side": "buy", "outcome": 0, "shares": 5, "min_proceeds": 1}, 422),
        ({"side": "sell", "outcome": 0, "shares": 5}, 409),  # holds nothing
        ({"side": "buy", "outcome": 0, "shares": 10**13}, 409),  # costs more than the balance
        ({"side": "buy", "outcome": 0, "shares": 5, "max_cost": -1}, 400),
    ]:
        r = await client.post(f"/v1/markets/{m['id']}/trades", json=body, headers=idem(alice.headers))
        assert r.status_code == status, (body, r.text)
    assert (await client.post("/v1/markets/nope/trades", json={"side": "buy", "outcome": 0, "shares": 5},
                              headers=idem(alice.headers))).status_code == 404
    r = await client.post("/v1/markets", json={"question_id": qid, "b": 10**13}, headers=idem(alice.headers))
    assert r.status_code == 409 and r.json()["error"]["field"] == "b"  # funding above balance
    assert (await client.post("/v1/markets", json={"question_id": qid, "b": 0}, headers=idem(alice.headers))).status_code == 400
    assert await entry_count(settings) == n and await balance(client, alice) == GRANT
    await audit(client, admin)
