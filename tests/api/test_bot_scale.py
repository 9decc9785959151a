"""The model bot needs the target model's scale to forecast a linked question. Besides a fit request's
`targets` and the fitted dataset, it now takes it from the question's link (`link.params`,
`link.tokens`: the linked model's announced scale, public); when it cannot forecast it records why,
in plain words (`GET /v1/questions/{id}/bot`). On SQLite and PostgreSQL, with a real tiny fit run by
the real worker loop.
"""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from api.db import utcnow
from api.db.models import Participant, Prediction
from api.domain.fits.worker import run_worker
from tests.api.test_fits import FAMILY, HELD_BACK, TINY, dataset_id, held_back_rows, poll

pytestmark = pytest.mark.anyio

ANNOUNCED = "1B-5xC-announced"  # the same scale as HELD_BACK, announced in the fit request's targets


def _scale() -> dict[str, float]:
    held = held_back_rows().iloc[0]
    return {"params": float(held["params"]), "tokens": float(held["tokens"])}


async def _question(client, admin, model, task="arc_easy", metric="len_norm", threshold=0.7, **scale):
    now = utcnow()
    body = {"kind": "binary", "title": f"{model} on {task}", "opens_at": (now - timedelta(minutes=1)).isoformat(),
            "closes_at": (now + timedelta(days=1)).isoformat(),
            "link": {"family": FAMILY, "model": model, "task": task, "metric": metric, "threshold": threshold, **scale}}
    r = await client.post("/v1/questions", json=body, headers=admin.headers)
    assert r.status_code == 201, r.text
    return r.json()


async def _note(client, actor, question_id):
    r = await client.get(f"/v1/questions/{question_id}/bot", headers=actor.headers)
    assert r.status_code == 200, r.text
    return r.json()


async def _bot_probability(db_session, question_id) -> float | None:
    rows = (await db_session.execute(select(Prediction.probability).join(Participant, Participant.id == Prediction.participant_id)
                                     .where(Prediction.question_id == question_id, Participant.is_bot.is_(True)))).scalars().all()
    await db_session.commit()
    assert len(rows) <= 1
    return rows[0] if rows else None


async def test_link_scale_is_validated_and_shown(client, make_participant):
    admin = await make_participant("root", role="admin")
    q = await _question(client, admin, HELD_BACK, **_scale())
    assert q["link"]["params"] == _scale()["params"] and q["link"]["tokens"] == _scale()["tokens"]
    plain = await _question(client, admin, "other")
    assert plain["link"]["params"] is None and plain["link"]["tokens"] is None
    base = {"kind": "binary", "title": "t", "closes_at": (utcnow() + timedelta(days=1)).isoformat()}
    link = {"family": FAMILY, "model": "m", "task": "arc_easy", "metric": "len_norm", "threshold": 0.5}
    for extra, field in (({"params": 1e9}, "link.tokens"), ({"tokens": 1e11}, "link.params"),
                         ({"params": -1.0, "tokens": 1e11}, "link.params"), ({"params": 1e9, "tokens": 0}, "link.tokens")):
        r = await client.post("/v1/questions", json={**base, "link": {**link, **extra}}, headers=admin.headers)
        assert r.status_code in (400, 422), (extra, r.text)
        assert r.json()["error"]["field"] == field, (extra, r.json())
    # an edit can add the scale later (while nobody has forecast)
    r = await client.patch(f"/v1/questions/{plain['id']}", json={"link": {**link, "model": "other", **_scale()}},
                           headers=admin.headers)
    assert r.status_code == 200 and r.json()["link"]["params"] == _scale()["params"], r.text


async def test_the_bot_takes_the_scale_from_the_link_and_says_why_it_abstains(client, make_participant, fit_settings, db_session):
    admin, alice = await make_participant("root", role="admin"), await make_participant("alice")
    scale = _scale()
    big = {"params": 10 * scale["params"], "tokens": 10 * scale["tokens"]}  # 100x the compute
    from_link = (await _question(client, admin, HELD_BACK, **scale))["id"]
    from_targets = (await _question(client, admin, ANNOUNCED))["id"]
    from_link_big = (await _question(client, admin, "10B-future", **big))["id"]
    no_scale = (await _question(client, admin, "70B-secret"))["id"]
    no_fit = (await _question(client, admin, HELD_BACK, task="boolq", metric="acc", **scale))["id"]
    assert (await _note(client, alice, no_scale))["status"] == "none"

    ds = await dataset_id(client, alice)  # the training runs only: HELD_BACK's rows are not in it
    r = await client.post("/v1/fits", json={**TINY, "dataset_id": ds, "targets": [{"model": ANNOUNCED, **scale}]},
                          headers=alice.headers)
    assert r.status_code == 202, r.text
    fit_id = r.json()["id"]
    await run_worker(fit_settings, once=True)  # runs the fit, then the bot's tick
    assert (await poll(client, alice, fit_id, timeout=5))["state"] == "done"

    linked = await _note(client, alice, from_link)
    assert linked["status"] == "forecast" and linked["fit_id"] == fit_id, linked
    assert "scale from the question's link" in linked["reason"], linked
    announced = await _note(client, alice, from_targets)
    assert announced["status"] == "forecast" and f"scale from the targets of fit {fit_id}" in announced["reason"]
    # same fit, same scale, same seed: the link gives exactly the forecast the announced targets give
    p_link, p_targets = await _bot_probability(db_session, from_link), await _bot_probability(db_session, from_targets)
    assert p_link is not None and p_link == p_targets
    # and the scale matters: 100x the compute is no less likely to reach the threshold
    p_big = await _bot_probability(db_session, from_link_big)
    assert p_big is not None and p_big >= p_link, (p_link, p_big)
    assert p_big > p_link or p_link == 0.999, (p_link, p_big)

    missing = await _note(client, alice, no_scale)
    assert missing["status"] == "abstained" and missing["fit_id"] is None
    assert "scale of model '70B-secret' is unknown" in missing["reason"] and "link.params" in missing["reason"]
    uncovered = await _note(client, alice, no_fit)
    assert uncovered["status"] == "abstained" and "no finished fit on a public dataset covers" in uncovered["reason"]
    assert "'boolq'" in uncovered["reason"]
    assert await _bot_probability(db_session, no_scale) is None and await _bot_probability(db_session, no_fit) is None
    n = (await client.get(f"/v1/questions/{no_scale}", headers=alice.headers)).json()["n_forecasters"]
    assert n == 0

    # the admin announces the missing scale on the question: the bot's next tick forecasts it
    r = await client.patch(f"/v1/questions/{no_scale}", json={"link": {
        "family": FAMILY, "model": "70B-secret", "task": "arc_easy", "metric": "len_norm", "threshold": 0.7, **big}},
        headers=admin.headers)
    assert r.status_code == 200, r.text
    await run_worker(fit_settings, once=True)
    now_known = await _note(client, alice, no_scale)
    assert now_known["status"] == "forecast" and "scale from the question's link" in now_known["reason"], now_known
    assert await _bot_probability(db_session, no_scale) == p_big  # the same scale as from_link_big
    assert (await client.get("/v1/questions/nope/bot", headers=alice.headers)).status_code == 404
