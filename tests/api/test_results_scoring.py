"""Sealed results, reveal, resolution, scores, leaderboard, calibration, corrections, hooks, authz."""
from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import pytest

from api.hooks import ResolutionEvent, register_resolution_hook, unregister_resolution_hook

pytestmark = pytest.mark.anyio

LINK = {"family": "olmo", "model": "olmo-70b", "task": "arc_easy", "metric": "acc"}
ROWS = [{**LINK, "params": 7.0e10, "tokens": 2.0e12, "value": 0.81, "chance": 0.25}]


def later(**delta: float) -> str:
    return (datetime.now(timezone.utc) + timedelta(**delta)).isoformat()


async def _setup(client, make_participant):
    admin = await make_participant("root", role="admin")
    alice, bob = await make_participant("alice"), await make_participant("bob")
    numeric = (await client.post("/v1/questions", headers=admin.headers, json={
        "kind": "numeric", "title": "acc of 70B on arc_easy", "closes_at": later(days=1), "lower": 0.0, "upper": 1.0,
        "unit": "accuracy", "link": LINK})).json()
    binary = (await client.post("/v1/questions", headers=admin.headers, json={
        "kind": "binary", "title": "70B >= 0.8 on arc_easy?", "closes_at": later(days=1),
        "link": {**LINK, "threshold": 0.8}})).json()
    await client.post(f"/v1/questions/{numeric['id']}/predictions", headers=alice.headers,
                      json={"quantiles": {"levels": [0.05, 0.5, 0.95], "values": [0.6, 0.8, 0.9]}})
    await client.post(f"/v1/questions/{numeric['id']}/predictions", headers=bob.headers,
                      json={"quantiles": {"levels": [0.05, 0.5, 0.95], "values": [0.2, 0.4, 0.6]}})
    await client.post(f"/v1/questions/{binary['id']}/predictions", headers=alice.headers, json={"probability": 0.9})
    await client.post(f"/v1/questions/{binary['id']}/predictions", headers=bob.headers, json={"probability": 0.2})
    result = await client.post("/v1/results", headers=admin.headers,
                               json={"source": "lab-x", "reveal_at": later(days=30), "rows": ROWS})
    assert result.status_code == 201, result.text
    return admin, alice, bob, numeric, binary, result.json()


async def test_sealed_result_is_invisible_until_reveal(client, make_participant) -> None:
    admin, alice, bob, numeric, binary, result = await _setup(client, make_participant)
    assert (await client.get(f"/v1/results/{result['id']}", headers=alice.headers)).status_code == 404
    missing = await client.get("/v1/results/0123456789abcdef0123456789abcdef", headers=alice.headers)
    assert (await client.get(f"/v1/results/{result['id']}", headers=alice.headers)).json() == missing.json()
    assert (await client.get("/v1/results", headers=alice.headers)).json() == []
    reply = await client.post(f"/v1/results/{result['id']}/reveal", headers=alice.headers)
    assert reply.status_code == 403 and "0.81" not in reply.text
    q = (await client.get(f"/v1/questions/{numeric['id']}", headers=alice.headers)).json()
    assert q["state"] == "open" and q["outcome"] is None
    assert (await client.get(f"/v1/questions/{numeric['id']}/scores", headers=alice.headers)).json() == []
    board = (await client.get("/v1/leaderboard?min_questions=0", headers=alice.headers)).json()
    assert board["ranked"] == []
    for path in (f"/v1/questions/{numeric['id']}/predictions", f"/v1/questions/{binary['id']}/predictions"):
        seen = (await client.get(path, headers=alice.headers)).json()
        assert {p["participant_id"] for p in seen} == {alice.id}
    assert (await client.get(f"/v1/results/{result['id']}", headers=admin.headers)).status_code == 200


async def test_admin_only_actions_are_refused_to_participants(client, make_participant) -> None:
    admin, alice, bob, numeric, binary, result = await _setup(client, make_participant)
    upload = await client.post("/v1/results", headers=alice.headers, json={"source": "x", "reveal_at": later(days=1), "rows": ROWS})
    assert upload.status_code == 403
    assert (await client.post(f"/v1/questions/{numeric['id']}/resolution", headers=alice.headers, json={"outcome": 0.5})).status_code == 403
    assert (await client.post(f"/v1/questions/{numeric['id']}/annul", headers=alice.headers)).status_code == 403
    assert (await client.post("/v1/results", json={"source": "x", "reveal_at": later(days=1), "rows": ROWS})).status_code == 401


async def test_bad_result_rows_name_row_and_column(client, make_participant) -> None:
    admin = await make_participant("root", role="admin")
    reply = await client.post("/v1/results", headers=admin.headers,
                              json={"source": "x", "reveal_at": later(days=1), "rows": [{**ROWS[0], "params": -1}]})
    assert reply.status_code == 422 and reply.json()["error"]["field"] == "rows[0].params"
    reply = await client.post("/v1/results", headers=admin.headers,
                              json={"source": "x", "reveal_at": later(days=1), "rows": [{"model": "m"}]})
    assert reply.status_code == 422 and reply.json()["error"]["field"].startswith("rows")


async def test_reveal_resolves_scores_and_ranks(client, make_participant) -> None:
    admin, alice, bob, numeric, binary, result = await _setup(client, make_participant)
    events: list[ResolutionEvent] = []

    async def hook(session, event: ResolutionEvent) -> None:
        events.append(event)

    register_resolution_hook(hook)
    try:
        reply = await client.post(f"/v1/results/{result['id']}/reveal", headers=admin.headers)
    finally:
        unregister_resolution_hook(hook)
    assert reply.status_code == 200 and set(reply.json()["resolved_question_ids"]) == {numeric["id"], binary["id"]}
    assert {(e.kind, e.outcome) for e in events} == {("resolved", 0.81), ("resolved", 1.0)}
    q = (await client.get(f"/v1/questions/{binary['id']}", headers=bob.headers)).json()
    assert q["state"] == "resolved" and q["outcome"] == 1.0
    scores = {s["participant_id"]: s for s in (await client.get(f"/v1/questions/{binary['id']}/scores", headers=bob.headers)).json()}
    assert scores[alice.id]["log_score"] == pytest.approx(math.log(0.9))
    assert scores[bob.id]["brier"] == pytest.approx(0.64)
    nscores = {s["participant_id"]: s for s in (await client.get(f"/v1/questions/{numeric['id']}/scores", headers=bob.headers)).json()}
    assert nscores[alice.id]["crps"] < nscores[bob.id]["crps"]
    assert nscores[alice.id]["covered_90"] is True and nscores[bob.id]["covered_90"] is False
    assert (await client.get(f"/v1/questions/{numeric['id']}/predictions", headers=bob.headers)).json().__len__() == 2
    board = (await client.get("/v1/leaderboard?metric=log_score&min_questions=2", headers=bob.headers)).json()
    assert [r["handle"] for r in board["ranked"]] == ["alice", "bob"] and board["ranked"][0]["n_questions"] == 2
    assert (await client.get("/v1/leaderboard?metric=crps&min_questions=5", headers=bob.headers)).json()["ranked"] == []
    calibration = (await client.get(f"/v1/participants/{alice.id}/calibration", headers=bob.headers)).json()
    assert calibration["binary"]["n"] == 1 and calibration["binary"]["reliability_bins"][9]["count"] == 1
    assert calibration["binary"]["ece"] == pytest.approx(0.1)
    assert sum(calibration["numeric"]["pit_histogram"]) == 1
    locked = await client.post(f"/v1/questions/{binary['id']}/predictions", headers=bob.headers, json={"probability": 0.5})
    assert locked.status_code == 409
    assert (await client.get(f"/v1/results/{result['id']}", headers=alice.headers)).json()["rows"][0]["value"] == 0.81


async def test_correction_keeps_history_and_annulment_removes_scores(client, make_participant) -> None:
    admin, alice, bob, numeric, binary, result = await _setup(client, make_participant)
    await client.post(f"/v1/results/{result['id']}/reveal", headers=admin.headers)
    corrected = await client.post(f"/v1/questions/{binary['id']}/resolution", headers=admin.headers, json={"outcome": 0})
    assert corrected.status_code == 200 and corrected.json()["version"] == 2
    current = (await client.get(f"/v1/questions/{binary['id']}/scores", headers=alice.headers)).json()
    history = (await client.get(f"/v1/questions/{binary['id']}/scores?history=true", headers=alice.headers)).json()
    assert len(current) == 2 and len(history) == 4
    assert {s["outcome"] for s in current} == {0.0}
    bad = await client.post(f"/v1/questions/{binary['id']}/resolution", headers=admin.headers, json={"outcome": 0.5})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "outcome"
    annulled = await client.post(f"/v1/questions/{binary['id']}/annul", headers=admin.headers)
    assert annulled.status_code == 200 and annulled.json()["kind"] == "annulled"
    assert (await client.get(f"/v1/questions/{binary['id']}/scores", headers=alice.headers)).json() == []
    versions = (await client.get(f"/v1/questions/{binary['id']}/resolutions", headers=alice.headers)).json()
    assert [v["kind"] for v in versions] == ["resolved", "resolved", "annulled"]


async def test_failing_hook_rolls_back_only_its_resolution(client, make_participant) -> None:
    admin, alice, bob, numeric, binary, result = await _setup(client, make_participant)

    async def broken(session, event) -> None:
        raise RuntimeError("ledger unavailable")

    register_resolution_hook(broken)
    try:
        reply = await client.post(f"/v1/results/{result['id']}/reveal", headers=admin.headers)
    finally:
        unregister_resolution_hook(broken)
    # Each question's resolution rolled back on its own, reported to the admin; the questions close.
    assert reply.status_code == 200 and reply.json()["resolved_question_ids"] == []
    errors = reply.json()["result"]["resolution_errors"]
    assert {e["question_id"] for e in errors} == {numeric["id"], binary["id"]} and "ledger unavailable" in errors[0]["error"]
    shown = (await client.get(f"/v1/questions/{binary['id']}", headers=alice.headers)).json()
    assert shown["state"] == "closed" and not shown["accepting_predictions"]
    assert (await client.get(f"/v1/results/{result['id']}", headers=alice.headers)).json()["resolution_errors"] is None
    retry = await client.post(f"/v1/results/{result['id']}/reveal", headers=admin.headers)
    assert retry.status_code == 200 and set(retry.json()["resolved_question_ids"]) == {numeric["id"], binary["id"]}
    assert retry.json()["result"]["resolution_errors"] is None
    assert (await client.post(f"/v1/results/{result['id']}/reveal", headers=admin.headers)).status_code == 409


async def test_reveal_at_passes_and_background_loop_reveals(client, make_participant) -> None:
    import anyio

    admin = await make_participant("root", role="admin")
    q = (await client.post("/v1/questions", headers=admin.headers, json={
        "kind": "binary", "title": "t", "closes_at": later(days=1), "link": {**LINK, "threshold": 0.5}})).json()
    await client.post("/v1/results", headers=admin.headers, json={"source": "s", "reveal_at": later(seconds=0.3), "rows": ROWS})
    for _ in range(50):
        await anyio.sleep(0.1)
        if (await client.get(f"/v1/questions/{q['id']}", headers=admin.headers)).json()["state"] == "resolved":
            break
    assert (await client.get(f"/v1/questions/{q['id']}", headers=admin.headers)).json()["outcome"] == 1.0
