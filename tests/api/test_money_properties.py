"""Property test (issue 4): random sequences of grants, offers, accepts, cancels, trades, resolutions,
annulments and corrections through the real API on a real database; after every step the ledger
audit is clean (every transaction balances, balances equal their entries, nothing negative, money
held equals money minted, escrows match bet states, open markets can pay any outcome) and no request
ever gets a 5xx."""
from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings as hsettings
from hypothesis import strategies as st

from api.db import utcnow
from tests.api.money_helpers import MICRO, audit, idem, make_admin, make_question, register, resolve

pytestmark = pytest.mark.anyio
_run = itertools.count()

who = st.integers(0, 2)
amount = st.integers(1, 400).map(lambda x: x * MICRO // 4)
op = st.one_of(
    st.tuples(st.just("grant"), who, amount),
    st.tuples(st.just("offer"), who, amount, amount, st.sampled_from(["for", "against"])),
    st.tuples(st.just("accept"), who, st.integers(0, 5)),
    st.tuples(st.just("cancel"), who, st.integers(0, 5)),
    st.tuples(st.just("buy"), who, st.integers(0, 1), amount),
    st.tuples(st.just("sell"), who, st.integers(0, 1), amount),
    st.tuples(st.just("resolve"), st.integers(0, 1)),
    st.tuples(st.just("annul")),
    st.tuples(st.just("correct"), st.integers(0, 1)),
)


@given(ops=st.lists(op, min_size=1, max_size=20))
@hsettings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
async def test_invariants_hold_after_every_step(client, settings, ops) -> None:
    run = next(_run)
    admin = await make_admin(settings, f"root{run}")
    people = [await register(client, f"p{run}-{i}") for i in range(3)]
    qid = await make_question(settings, admin.id)
    market = (await client.post("/v1/markets", json={"question_id": qid, "b": 50 * MICRO},
                                headers=idem(people[0].headers))).json()["id"]
    bets: list[str] = []
    state = "open"
    for step in ops:
        kind = step[0]
        if kind == "grant":
            r = await client.post("/v1/admin/grants", json={"participant_id": people[step[1]].id, "amount": step[2]},
                                  headers=idem(admin.headers))
        elif kind == "offer":
            r = await client.post("/v1/bets", headers=idem(people[step[1]].headers), json={
                "question_id": qid, "proposition": {"kind": "binary", "outcome": True}, "side": step[4],
                "stake": step[2], "taker_stake": step[3], "expires_at": (utcnow() + timedelta(hours=1)).isoformat()})
            if r.status_code == 201:
                bets.append(r.json()["id"])
        elif kind in ("accept", "cancel"):
            if not bets:
                continue
            r = await client.post(f"/v1/bets/{bets[step[2] % len(bets)]}/{kind}", headers=idem(people[step[1]].headers))
        elif kind in ("buy", "sell"):
            r = await client.post(f"/v1/markets/{market}/trades", headers=idem(people[step[1]].headers),
                                  json={"side": kind, "outcome": step[2], "shares": step[3]})
            if state != "open":
                assert r.status_code == 409  # no trading after resolution
        else:
            if kind == "resolve" and state == "open":
                await resolve(settings, qid, "resolved", float(step[1]))
                state = "resolved"
            elif kind == "annul" and state != "annulled":
                await resolve(settings, qid, "annulled", None)
                state = "annulled"
            elif kind == "correct" and state != "open":
                await resolve(settings, qid, "corrected", float(step[1]))
                state = "resolved"
            await audit(client, admin)
            continue
        assert r.status_code < 500, (step, r.text)
        await audit(client, admin)
