"""Bets between two researchers: offer/accept/cancel/expiry, settlement, annulment, correction, bad input."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from api.db import transaction, utcnow
from api.db.money import Bet
from tests.api.money_helpers import (
    MICRO, audit, balance, close_question, db, entry_count, idem, make_admin, make_question, register, resolve,
)

pytestmark = pytest.mark.anyio
GRANT = 1000 * MICRO


def offer_body(question_id: str, **kw) -> dict:
    body = {"question_id": question_id, "proposition": {"kind": "binary", "outcome": True}, "side": "for",
            "stake": 3 * MICRO, "taker_stake": MICRO, "expires_at": (utcnow() + timedelta(minutes=30)).isoformat()}
    return body | kw


async def setup(client, settings, kind="binary"):
    admin = await make_admin(settings)
    alice, bob, carol = [await register(client, h) for h in ("alice", "bob", "carol")]
    qid = await make_question(settings, admin.id, kind)
    return admin, alice, bob, carol, qid


async def test_offer_accept_settle_and_correct(client, settings) -> None:
    admin, alice, bob, carol, qid = await setup(client, settings)
    r = await client.post("/v1/bets", json=offer_body(qid), headers=idem(alice.headers, "offer-1"))
    assert r.status_code == 201, r.text
    bet = r.json()
    assert bet["status"] == "open" and set(bet) >= {"proposition", "offerer_stake", "taker_stake"}
    assert await balance(client, alice) == GRANT - 3 * MICRO
    again = await client.post("/v1/bets", json=offer_body(qid) | {"expires_at": offer_body(qid)["expires_at"]},
                              headers=idem(alice.headers, "offer-1"))
    assert again.status_code == 409  # same key, different body (new expires_at)
    r = await client.post(f"/v1/bets/{bet['id']}/accept", headers=idem(bob.headers, "acc-1"))
    assert r.status_code == 200 and r.json()["status"] == "accepted", r.text
    n = await entry_count(settings)
    retry = await client.post(f"/v1/bets/{bet['id']}/accept", headers=idem(bob.headers, "acc-1"))
    assert retry.status_code == 200 and retry.json() == r.json() and await entry_count(settings) == n
    assert await balance(client, bob) == GRANT - MICRO
    await audit(client, admin)
    await resolve(settings, qid, "resolved", 1.0)  # yes: alice (for) wins the pot of 4
    assert await balance(client, alice) == GRANT + MICRO and await balance(client, bob) == GRANT - MICRO
    assert (await client.get(f"/v1/bets/{bet['id']}", headers=bob.headers)).json()["status"] == "settled"
    await audit(client, admin)
    await resolve(settings, qid, "corrected", 0.0)  # corrected to no: reversed and redone, bob wins
    assert await balance(client, alice) == GRANT - 3 * MICRO and await balance(client, bob) == GRANT + 3 * MICRO
    got = (await client.get(f"/v1/bets/{bet['id']}", headers=alice.headers)).json()
    assert got["status"] == "settled" and got["offerer_won"] is False
    kinds = [i["kind"] for i in (await client.get("/v1/me/ledger", headers=alice.headers)).json()["items"]]
    assert kinds == ["reversal", "bet_settle", "bet_offer", "grant"]
    await resolve(settings, qid, "annulled", None)  # annulled after all: both stakes back
    assert await balance(client, alice) == GRANT and await balance(client, bob) == GRANT
    await audit(client, admin)


async def test_numeric_bet_and_annulment(client, settings) -> None:
    admin, alice, bob, carol, qid = await setup(client, settings, "numeric")
    prop = {"kind": "interval", "lower": 0.6, "upper": 0.8}
    r = await client.post("/v1/bets", json=offer_body(qid, proposition=prop, side="against"), headers=idem(alice.headers))
    assert r.status_code == 201, r.text
    bid = r.json()["id"]
    assert (await client.post(f"/v1/bets/{bid}/accept", headers=idem(carol.headers))).status_code == 200
    await resolve(settings, qid, "annulled", None)
    assert await balance(client, alice) == GRANT and await balance(client, carol) == GRANT
    assert (await client.get(f"/v1/bets/{bid}", headers=alice.headers)).json()["status"] == "refunded"
    await audit(client, admin)


async def test_cancel_expiry_and_private_offers(client, settings) -> None:
    admin, alice, bob, carol, qid = await setup(client, settings)
    b1 = (await client.post("/v1/bets", json=offer_body(qid), headers=idem(alice.headers))).json()
    assert (await client.post(f"/v1/bets/{b1['id']}/cancel", headers=idem(bob.headers))).status_code == 403
    assert (await client.post(f"/v1/bets/{b1['id']}/cancel", headers=idem(alice.headers))).json()["status"] == "cancelled"
    assert (await client.post(f"/v1/bets/{b1['id']}/accept", headers=idem(bob.headers))).status_code == 409
    assert await balance(client, alice) == GRANT
    b2 = (await client.post("/v1/bets", json=offer_body(qid, counterparty_id=bob.id), headers=idem(alice.headers))).json()
    assert (await client.get(f"/v1/bets/{b2['id']}", headers=carol.headers)).status_code == 404  # private offer
    assert b2["id"] not in [b["id"] for b in (await client.get("/v1/bets", headers=carol.headers)).json()]
    assert (await client.post(f"/v1/bets/{b2['id']}/accept", headers=idem(carol.headers))).status_code == 404
    async with db(settings) as session:
        async with transaction(session):
            await session.execute(update(Bet).where(Bet.id == b2["id"]).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert (await client.post(f"/v1/bets/{b2['id']}/accept", headers=idem(bob.headers))).status_code == 409
    r = await client.post("/v1/admin/bets/expire", headers=admin.headers)
    assert r.json() == {"expired": 1}
    assert await balance(client, alice) == GRANT
    await audit(client, admin)


async def test_bad_bet_input_moves_nothing(client, settings) -> None:
    admin, alice, bob, carol, qid = await setup(client, settings, "numeric")
    good = offer_body(qid, proposition={"kind": "compare", "op": ">=", "threshold": 0.6})
    assert (await client.post("/v1/bets", json=good, headers=idem(alice.headers))).status_code == 201
    bid = (await client.get("/v1/bets", headers=alice.headers)).json()[0]["id"]
    await balance(client, bob)
    await balance(client, carol)
    n = await entry_count(settings)
    bad_offers = [
        (good | {"stake": 0}, 400), (good | {"stake": -5}, 400), (good | {"taker_stake": 0}, 400),
        (good | {"stake": 1.5}, 400), (good | {"stake": GRANT * 2}, 409),
        (good | {"proposition": {"kind": "compare", "op": "==", "threshold": 0.6}}, 422),
        (good | {"proposition": {"kind": "compare", "op": "<", "threshold": 7}}, 422),
        (good | {"proposition": {"kind": "interval", "lower": 0.8, "upper": 0.2}}, 422),
        (good | {"proposition": {"kind": "binary", "outcome": True}}, 422),
        (good | {"proposition": "yes"}, 400), (good | {"side": "maybe"}, 400),
        (good | {"question_id": "nope"}, 404), (good | {"counterparty_id": alice.id}, 422),
        (good | {"expires_at": (utcnow() - timedelta(minutes=1)).isoformat()}, 422),
    ]
    for body, status in bad_offers:
        r = await client.post("/v1/bets", json=body, headers=idem(alice.headers))
        assert r.status_code == status, (body, r.text)
        assert r.json()["error"]["message"]
    assert (await client.post("/v1/bets", json=good, headers=alice.headers)).status_code == 400  # no key
    assert (await client.post(f"/v1/bets/{bid}/accept", headers=idem(alice.headers))).status_code == 409  # self
    assert (await client.post(f"/v1/bets/{bid}/accept", headers=idem(bob.headers))).status_code == 200
    n = await entry_count(settings)
    assert (await client.post(f"/v1/bets/{bid}/accept", headers=idem(carol.headers))).status_code == 409  # double
    assert (await client.post("/v1/bets/nope/accept", headers=idem(carol.headers))).status_code == 404
    assert await entry_count(settings) == n
    # Taker stake above balance: nothing moves.
    big = (await client.post("/v1/bets", json=good | {"taker_stake": GRANT + 1}, headers=idem(alice.headers))).json()
    n = await entry_count(settings)
    r = await client.post(f"/v1/bets/{big['id']}/accept", headers=idem(carol.headers))
    assert r.status_code == 409 and r.json()["error"]["field"] == "taker_stake"
    assert await entry_count(settings) == n and await balance(client, carol) == GRANT
    # No acceptance after the question closes.
    late = (await client.post("/v1/bets", json=good, headers=idem(alice.headers))).json()
    await close_question(settings, qid)
    assert (await client.post(f"/v1/bets/{late['id']}/accept", headers=idem(carol.headers))).status_code == 409
    assert (await client.post("/v1/bets", json=good, headers=idem(alice.headers))).status_code == 409
    await audit(client, admin)
