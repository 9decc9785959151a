"""Issue 21, integrity, on SQLite and PostgreSQL: a numeric question whose grid cannot be scored is
refused at creation and edit; a question whose resolution fails blocks no other question, is closed
and reported to admins, and the background reveal goes on; a question's terms are frozen once a
prediction, bet or market exists; leaving a commitment unopened never beats opening it."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import anyio
import pytest
from sqlalchemy import update

from api.commitment import commitment_digest
from api.db import transaction
from api.db.models import Question
from api.hooks import register_resolution_hook, unregister_resolution_hook
from tests.api.conftest import db
from tests.api.money_helpers import MICRO, idem

pytestmark = pytest.mark.anyio


def later(**delta: float) -> str:
    return (datetime.now(timezone.utc) + timedelta(**delta)).isoformat()


def link(task: str, **extra: float) -> dict:
    return {"family": "olmo", "model": "olmo-70b", "task": task, "metric": "acc", **extra}


def row(task: str, value: float) -> dict:
    return {**link(task), "params": 7e10, "tokens": 2e12, "value": value, "chance": 0.25}


async def _question(client, actor, task: str, kind: str = "binary", **extra) -> dict:
    body = {"kind": kind, "title": task, "closes_at": later(days=1), **extra}
    body["link"] = link(task, threshold=0.5) if kind == "binary" else link(task)
    if kind == "numeric":
        body = {"lower": 0.0, "upper": 1.0, **body}
    r = await client.post("/v1/questions", headers=actor.headers, json=body)
    assert r.status_code == 201, r.text
    return r.json()


async def test_a_grid_that_cannot_be_scored_is_refused(client, make_participant) -> None:
    alice = await make_participant("alice")
    base = {"kind": "numeric", "title": "poison", "closes_at": later(days=1), "link": link("arc")}
    for lower, upper, scale in ((0.0, 5e-324, "linear"), (-1e308, 1e308, "linear"), (1.0, 1.0 + 1e-15, "linear"),
                                (5e-324, 1e-323, "log")):
        r = await client.post("/v1/questions", headers=alice.headers, json={**base, "lower": lower, "upper": upper, "scale": scale})
        assert r.status_code == 422 and r.json()["error"]["field"] == "upper", (lower, upper, r.text)
    fine = await _question(client, alice, "arc", kind="numeric")
    r = await client.patch(f"/v1/questions/{fine['id']}", headers=alice.headers, json={"upper": 5e-324})
    assert r.status_code == 422 and r.json()["error"]["field"] == "upper", r.text
    assert (await client.post("/v1/questions", headers=alice.headers, json={**base, "lower": 0, "upper": 1e-300})).status_code == 201


async def test_a_failing_resolution_blocks_no_other_and_is_reported(client, make_participant, settings) -> None:
    admin, alice = await make_participant("root", role="admin"), await make_participant("alice")
    good = await _question(client, alice, "good")
    poisoned = await _question(client, alice, "poisoned", kind="numeric")
    broken = await _question(client, alice, "broken")
    async with db(settings) as session, transaction(session):  # a degenerate row, from before grids were validated
        await session.execute(update(Question).where(Question.id == poisoned["id"]).values(upper=0.0))
    await client.post(f"/v1/questions/{poisoned['id']}/predictions", headers=alice.headers, json={"cdf": [i / 20 for i in range(21)]})
    for q in (good, broken):
        await client.post(f"/v1/questions/{q['id']}/predictions", headers=alice.headers, json={"probability": 0.7})

    async def settlement_down(session, event) -> None:  # e.g. a hook failing for one question only
        if event.question_id == broken["id"]:
            raise RuntimeError("settlement unavailable")

    register_resolution_hook(settlement_down)
    try:
        await client.post("/v1/results", headers=admin.headers, json={
            "source": "lab", "reveal_at": later(seconds=-1), "rows": [row("good", 0.8), row("poisoned", 0.5), row("broken", 0.8)]})
        first = await _until_revealed(client, admin)
        # the next due result is revealed too: the loop is not stuck on the failing questions
        await client.post("/v1/results", headers=admin.headers, json={"source": "lab", "reveal_at": later(seconds=-1),
                                                                        "rows": [row("next", 0.9)]})
        after = await _question(client, alice, "next")
        second = await _until_revealed(client, admin, skip={first["id"]})
    finally:
        unregister_resolution_hook(settlement_down)
    assert (await client.get(f"/v1/questions/{good['id']}", headers=alice.headers)).json()["state"] == "resolved"
    failed = {e["question_id"] for e in first["resolution_errors"] or []}
    assert failed == {broken["id"], poisoned["id"]}, first
    for q in failed:
        shown = (await client.get(f"/v1/questions/{q}", headers=alice.headers)).json()
        assert shown["state"] == "closed" and not shown["accepting_predictions"]
    assert (await client.get(f"/v1/results/{first['id']}", headers=alice.headers)).json()["resolution_errors"] is None
    assert second["resolution_errors"] is None
    del after  # created after `second` was uploaded but before its reveal: resolved or not, never an error
    # the admin retries: the broken hook is gone now; a question that still fails can be annulled
    retry = (await client.post(f"/v1/results/{first['id']}/reveal", headers=admin.headers)).json()
    assert retry["resolved_question_ids"] == [broken["id"]]
    assert [e["question_id"] for e in retry["result"]["resolution_errors"]] == [poisoned["id"]]
    assert (await client.post(f"/v1/questions/{poisoned['id']}/annul", headers=admin.headers)).status_code == 200
    last = (await client.post(f"/v1/results/{first['id']}/reveal", headers=admin.headers)).json()
    assert last["resolved_question_ids"] == [] and last["result"]["resolution_errors"] is None
    assert (await client.post(f"/v1/results/{first['id']}/reveal", headers=admin.headers)).status_code == 409


async def _until_revealed(client, admin, skip: set[str] = frozenset()) -> dict:  # type: ignore[assignment]
    for _ in range(100):
        for result in (await client.get("/v1/results", headers=admin.headers)).json():
            if result["id"] not in skip and result["revealed_at"] is not None:
                return result
        await anyio.sleep(0.1)
    raise AssertionError("the background loop revealed nothing")


async def test_terms_are_frozen_once_a_prediction_bet_or_market_exists(client, make_participant) -> None:
    alice, bob = await make_participant("alice"), await make_participant("bob")
    change = {"link": link("x", threshold=0.1)}
    free = await _question(client, alice, "free")
    assert (await client.patch(f"/v1/questions/{free['id']}", headers=alice.headers, json=change)).status_code == 200
    bet_on = await _question(client, alice, "bet")
    offer = {"question_id": bet_on["id"], "proposition": {"kind": "binary", "outcome": True}, "side": "for",
             "stake": 3 * MICRO, "taker_stake": MICRO, "expires_at": later(minutes=30)}
    assert (await client.post("/v1/bets", json=offer, headers=idem(bob.headers))).status_code == 201
    market_on = await _question(client, alice, "market")
    r = await client.post("/v1/markets", json={"question_id": market_on["id"], "b": 10 * MICRO}, headers=idem(bob.headers))
    assert r.status_code == 201, r.text
    for q, what in ((bet_on, "bets"), (market_on, "a market")):
        r = await client.patch(f"/v1/questions/{q['id']}", headers=alice.headers, json=change)
        assert r.status_code == 409 and what in r.json()["error"]["message"], r.text
        assert (await client.get(f"/v1/questions/{q['id']}", headers=bob.headers)).json()["link"]["threshold"] == 0.5


async def test_leaving_a_commitment_unopened_never_pays(client, make_participant) -> None:
    admin = await make_participant("root", role="admin")
    alice, bob = await make_participant("alice"), await make_participant("bob")
    q = await _question(client, admin, "commit")
    numeric = await _question(client, admin, "commit-n", kind="numeric")

    async def commit(actor, question, forecast) -> tuple[str, str]:
        salt = f"salt-{actor.id}-{forecast}"
        r = await client.post(f"/v1/questions/{question['id']}/predictions", headers=actor.headers,
                              json={"commitment": commitment_digest(salt, forecast)})
        assert r.status_code == 201, r.text
        return r.json()["id"], salt

    low = await commit(alice, q, {"probability": 0.01})
    await commit(alice, q, {"probability": 0.99})  # her latest version: left unopened below
    await client.post(f"/v1/questions/{q['id']}/predictions", headers=bob.headers, json={"probability": 0.5})
    await commit(bob, q, {"probability": 0.99})  # bob's latest too, after a plain forecast
    await commit(alice, numeric, {"cdf": [i / 20 for i in range(21)]})
    for question in (q, numeric):
        assert (await client.post(f"/v1/questions/{question['id']}/close", headers=admin.headers)).status_code == 200
    # the outcome turns out NO: alice opens only her 0.01 commitment, bob opens nothing
    opened = await client.post(f"/v1/predictions/{low[0]}/open", headers=alice.headers,
                               json={"salt": low[1], "prediction": {"probability": 0.01}})
    assert opened.status_code == 200, opened.text
    result = (await client.post("/v1/results", headers=admin.headers, json={
        "source": "lab", "reveal_at": later(days=1), "rows": [row("commit", 0.2), row("commit-n", 0.9)]})).json()
    assert (await client.post(f"/v1/results/{result['id']}/reveal", headers=admin.headers)).status_code == 200
    scores = {s["participant_id"]: s for s in (await client.get(f"/v1/questions/{q['id']}/scores", headers=bob.headers)).json()}
    for who in (alice, bob):  # scored as the worst forecast: 0.999 on YES, worse than opening 0.99
        assert scores[who.id]["probability"] == 0.999 and scores[who.id]["brier"] == pytest.approx(0.999 ** 2), scores
    worst_numeric = (await client.get(f"/v1/questions/{numeric['id']}/scores", headers=bob.headers)).json()[0]
    honest_uniform = -2.995732  # log(1/20): what opening her uniform CDF would have scored
    assert worst_numeric["log_score"] < honest_uniform and worst_numeric["pit"] == pytest.approx(1.0), worst_numeric


async def test_racing_reveals_resolve_each_question_once(client, make_participant, settings) -> None:
    """Three reveal loops (own engines, as in three processes) and the app's own race for one due
    result: on PostgreSQL SKIP LOCKED hands it to one of them; either way every question resolves once."""
    from sqlalchemy import func, select

    from api.db.models import Resolution
    from api.domain.results.service import reveal_due_results

    admin, alice = await make_participant("root", role="admin"), await make_participant("alice")
    questions = [await _question(client, alice, f"race-{i}") for i in range(4)]
    async with db(settings) as a, db(settings) as b, db(settings) as c:
        await client.post("/v1/results", headers=admin.headers, json={
            "source": "lab", "reveal_at": later(seconds=-1), "rows": [row(f"race-{i}", 0.8) for i in range(4)]})
        async with anyio.create_task_group() as group:
            for session in (a, b, c):
                group.start_soon(reveal_due_results, session)
    await _until_revealed(client, admin)  # the app's loop may be the one that got it
    for q in questions:
        assert (await client.get(f"/v1/questions/{q['id']}", headers=alice.headers)).json()["state"] == "resolved"
    async with db(settings) as session:
        counts = dict((await session.execute(select(Resolution.question_id, func.count()).group_by(Resolution.question_id))).all())
    assert {q["id"]: counts.get(q["id"]) for q in questions} == {q["id"]: 1 for q in questions}
