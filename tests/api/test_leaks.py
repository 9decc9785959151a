"""Issue 21, leaks: what one participant can learn about another's private things, on SQLite and
PostgreSQL. The model bot uses only public datasets and fits and its note names only those (no posterior is loaded here); identical
bytes uploaded by two owners make two datasets (and two fit caches); the bets listing shows open
public offers and one's own bets only. No sampling: fits are `done` rows whose posterior is absent."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from api.db import transaction, utcnow
from api.db.models import Prediction
from api.domain.fits.bot import bot_tick, ensure_bot
from api.domain.fits.repository import BotNote, FitJob
from tests.api.money_helpers import idem, make_admin, make_question, register
from tests.api.test_bets import offer_body
from tests.api.test_datasets import csv_bytes, upload
from tests.api.test_fits import FAMILY, TINY, training_table

pytestmark = pytest.mark.anyio


async def _done_fit(session, dataset_id: str, owner_id: str) -> str:
    """A `done` fit row on `dataset_id` covering len_norm (its posterior file does not exist)."""
    job = FitJob(dataset_id=dataset_id, options={**TINY, "seed": 0, "targets": []}, options_key="k" * 64, state="done",
                 progress=1.0, stage="done", attempts=1, max_attempts=2, cancel_requested=False, created_by=owner_id,
                 created_at=utcnow(), finished_at=utcnow(), idata_path=None)
    async with transaction(session):
        session.add(job)
    return job.id


async def _bot_forecasts(session, question_id: str) -> int:
    bot = await ensure_bot(session)
    n = (await session.execute(select(func.count()).select_from(Prediction).where(
        Prediction.question_id == question_id, Prediction.participant_id == bot.id))).scalar_one()
    await session.commit()
    return int(n)


async def test_identical_bytes_make_each_owner_a_dataset_and_a_fit_cache(client, make_participant) -> None:
    alice, bob = await make_participant("alice"), await make_participant("bob")
    content = csv_bytes(training_table())
    mine = await upload(client, alice, content, name="alice private", visibility="private")
    assert mine.status_code == 201, mine.text
    theirs = await upload(client, bob, content, name="bob copy", visibility="private")
    assert theirs.status_code == 201, theirs.text  # his own dataset, not alice's metadata
    assert theirs.json()["id"] != mine.json()["id"] and theirs.json()["owner_id"] == bob.id
    assert "alice" not in theirs.text and mine.json()["id"] not in theirs.text
    again = await upload(client, alice, content, name="again", visibility="private")
    assert again.status_code == 200 and again.json()["id"] == mine.json()["id"]  # dedupe per owner still holds
    assert (await client.get(f"/v1/datasets/{mine.json()['id']}", headers=bob.headers)).status_code == 404
    # the fit cache is per dataset: bob's equal request is a new fit of his dataset, not alice's fit
    first = await client.post("/v1/fits", json={**TINY, "dataset_id": mine.json()["id"]}, headers=alice.headers)
    second = await client.post("/v1/fits", json={**TINY, "dataset_id": theirs.json()["id"]}, headers=bob.headers)
    assert first.status_code == 202 and second.status_code == 202, second.text
    assert second.json()["id"] != first.json()["id"] and second.json()["dataset_id"] == theirs.json()["id"]
    cached = await client.post("/v1/fits", json={**TINY, "dataset_id": mine.json()["id"]}, headers=alice.headers)
    assert cached.status_code == 200 and cached.json()["id"] == first.json()["id"]


async def test_the_bot_uses_and_names_only_public_fits(client, make_participant, db_session) -> None:
    admin, alice, bob = await make_participant("root", role="admin"), await make_participant("alice"), await make_participant("bob")
    now = utcnow()
    question = (await client.post("/v1/questions", headers=admin.headers, json={
        "kind": "binary", "title": "secret", "opens_at": (now - timedelta(minutes=1)).isoformat(),
        "closes_at": (now + timedelta(days=1)).isoformat(), "link": {
            "family": FAMILY, "model": "70B-secret", "task": "arc_easy", "metric": "len_norm", "threshold": 0.7}})).json()
    content = csv_bytes(training_table())
    private = (await upload(client, alice, content, name="alice-private-ladder", visibility="private")).json()["id"]
    private_fit = await _done_fit(db_session, private, alice.id)
    await bot_tick(db_session)
    note = (await client.get(f"/v1/questions/{question['id']}/bot", headers=bob.headers)).json()
    assert note["status"] == "abstained" and note["fit_id"] is None, note
    assert "no finished fit on a public dataset covers" in note["reason"]
    for secret in (private, private_fit, "alice-private-ladder", "1 finished"):
        assert secret not in str(note), (secret, note)
    assert await _bot_forecasts(db_session, question["id"]) == 0
    # a public fit is considered (the model's scale is unknown to it, so the bot says that instead)
    public = (await upload(client, bob, content, name="bob-public-ladder", visibility="public")).json()["id"]
    await _done_fit(db_session, public, bob.id)
    await bot_tick(db_session)
    note = (await client.get(f"/v1/questions/{question['id']}/bot", headers=bob.headers)).json()
    assert note["status"] == "abstained" and "scale of model '70B-secret' is unknown" in note["reason"], note
    assert private_fit not in str(note) and private not in str(note) and "finished fit(s)" not in str(note)
    # a note written before this rule, naming the private fit, is withheld
    async with transaction(db_session):
        await db_session.execute(update(BotNote).where(BotNote.question_id == question["id"]).values(
            status="forecast", fit_id=private_fit, reason=f"forecast from fit {private_fit} (scale from dataset {private})"))
    note = (await client.get(f"/v1/questions/{question['id']}/bot", headers=bob.headers)).json()
    assert note["status"] == "none" and private_fit not in str(note) and private not in str(note), note


async def test_bets_list_and_read_show_open_public_offers_and_own_bets_only(client, settings) -> None:
    admin = await make_admin(settings)
    alice, bob, carol, dave = [await register(client, h) for h in ("alice", "bob", "carol", "dave")]
    qid = await make_question(settings, admin.id)
    taken = (await client.post("/v1/bets", json=offer_body(qid), headers=idem(alice.headers))).json()
    assert (await client.post(f"/v1/bets/{taken['id']}/accept", headers=idem(bob.headers))).status_code == 200
    cancelled = (await client.post("/v1/bets", json=offer_body(qid), headers=idem(alice.headers))).json()
    assert (await client.post(f"/v1/bets/{cancelled['id']}/cancel", headers=idem(alice.headers))).status_code == 200
    private = (await client.post("/v1/bets", json=offer_body(qid, counterparty_id=carol.id), headers=idem(alice.headers))).json()
    public = (await client.post("/v1/bets", json=offer_body(qid), headers=idem(alice.headers))).json()

    def ids(reply) -> set[str]:
        assert reply.status_code == 200, reply.text
        return {b["id"] for b in reply.json()}

    assert ids(await client.get("/v1/bets", headers=dave.headers)) == {public["id"]}
    assert ids(await client.get("/v1/bets?status=accepted", headers=dave.headers)) == set()
    assert ids(await client.get("/v1/bets?status=cancelled", headers=dave.headers)) == set()
    assert ids(await client.get(f"/v1/bets?question_id={qid}", headers=carol.headers)) == {public["id"], private["id"]}
    assert ids(await client.get("/v1/bets", headers=bob.headers)) == {public["id"], taken["id"]}
    assert ids(await client.get("/v1/bets", headers=alice.headers)) == {public["id"], taken["id"], cancelled["id"], private["id"]}
    assert ids(await client.get("/v1/bets", headers=admin.headers)) == {public["id"], taken["id"], cancelled["id"], private["id"]}
    for hidden in (taken, cancelled, private):
        assert (await client.get(f"/v1/bets/{hidden['id']}", headers=dave.headers)).status_code == 404
    assert (await client.get(f"/v1/bets/{public['id']}", headers=dave.headers)).status_code == 200
    assert (await client.get(f"/v1/bets/{taken['id']}", headers=bob.headers)).json()["taker_id"] == bob.id
    late = await client.post(f"/v1/bets/{taken['id']}/accept", headers=idem(dave.headers))  # lost the race
    assert late.status_code == 409 and "no longer open" in late.json()["error"]["message"] and bob.id not in late.text
    assert (await client.post(f"/v1/bets/{private['id']}/accept", headers=idem(dave.headers))).status_code == 404
