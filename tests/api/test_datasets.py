"""Datasets (issue 5): upload CSV / Parquet / lm-eval JSON, validation errors naming rows and columns,
content addressing (same table -> same dataset), visibility, listing. SQLite and PostgreSQL."""
from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]
OLMO = ROOT / "examples" / "data" / "olmo_ladder.csv"
LM_EVAL = ROOT / "tests" / "fixtures" / "lm_eval" / "pythia-160m_zero-shot_step113000.json"


def small_slice(tasks=("arc_easy", "piqa", "hellaswag"), max_params: float | None = None) -> pd.DataFrame:
    table = pd.read_csv(OLMO)
    table = table[table["task"].isin(tasks)]
    if max_params is not None:
        table = table[table["params"] <= max_params]
    return table


def csv_bytes(table: pd.DataFrame) -> bytes:
    return table.to_csv(index=False).encode()


async def upload(client, actor, content: bytes, filename="table.csv", name="olmo slice", visibility="public", **extra):
    data = {"name": name, "visibility": visibility, **{k: str(v) for k, v in extra.items()}}
    return await client.post("/v1/datasets", files={"file": (filename, content)}, data=data, headers=actor.headers)


async def test_upload_csv_then_same_content_returns_the_existing_dataset(client, make_participant):
    alice = await make_participant("alice")
    table = small_slice()
    first = await upload(client, alice, csv_bytes(table))
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["tasks"] == ["arc_easy", "hellaswag", "piqa"]
    assert body["n_rows"] == len(table) and len(body["sha256"]) == 64
    # Same rows in another order and as Parquet: the same dataset
    buffer = io.BytesIO()
    table.sample(frac=1.0, random_state=1).to_parquet(buffer, index=False)
    again = await upload(client, alice, buffer.getvalue(), filename="t.parquet", name="other name")
    assert again.status_code == 200, again.text
    assert again.json()["id"] == body["id"]
    listed = await client.get("/v1/datasets", headers=alice.headers)
    assert [d["id"] for d in listed.json()] == [body["id"]]
    csv = await client.get(f"/v1/datasets/{body['id']}/table.csv", headers=alice.headers)
    assert csv.status_code == 200 and csv.text.startswith("family,")


async def test_upload_lm_eval_results_json(client, make_participant):
    alice = await make_participant("alice")
    r = await upload(client, alice, LM_EVAL.read_bytes(), filename=LM_EVAL.name, name="pythia lm-eval")
    assert r.status_code == 422 and "params" in r.json()["error"]["message"]  # the file's config lacks them
    r = await upload(client, alice, LM_EVAL.read_bytes(), filename=LM_EVAL.name, name="pythia lm-eval",
                     family="pythia", model="pythia-160m", params=1.6e8, tokens=3e11, chance=0.25)
    assert r.status_code == 201, r.text
    assert r.json()["source_format"] == "lm_eval_json" and r.json()["n_rows"] > 0


async def test_invalid_table_is_a_422_naming_rows_and_columns(client, make_participant):
    alice = await make_participant("alice")
    table = small_slice().reset_index(drop=True)
    table["value"] = table["value"].astype(object)
    table.loc[3, "params"] = -5
    table.loc[7, "value"] = "abc"
    r = await upload(client, alice, csv_bytes(table))
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert "params" in error["message"] and "value" in error["message"]
    assert error["field"].startswith("file.rows[")
    missing = await upload(client, alice, csv_bytes(table.drop(columns=["family"])))
    assert missing.status_code == 422 and "family" in missing.json()["error"]["message"]
    garbage = await upload(client, alice, b"\x00\x01PAR1garbage", filename="x.parquet")
    assert garbage.status_code == 422 and garbage.json()["error"]["field"] == "file"
    empty = await upload(client, alice, b"", filename="x.csv")
    assert empty.status_code == 422
    bad_visibility = await upload(client, alice, csv_bytes(small_slice()), visibility="secret")
    assert bad_visibility.status_code == 422 and bad_visibility.json()["error"]["field"] == "visibility"
    no_file = await client.post("/v1/datasets", data={"name": "x"}, headers=alice.headers)
    assert 400 <= no_file.status_code < 500
    assert (await client.get("/v1/datasets", headers=alice.headers)).json() == []


async def test_private_datasets_are_invisible_to_others(client, make_participant):
    alice, bob = await make_participant("alice"), await make_participant("bob")
    admin = await make_participant("root", role="admin")
    r = await upload(client, alice, csv_bytes(small_slice()), visibility="private")
    dataset_id = r.json()["id"]
    assert (await client.get(f"/v1/datasets/{dataset_id}", headers=bob.headers)).status_code == 404
    assert (await client.get("/v1/datasets", headers=bob.headers)).json() == []
    assert (await client.get(f"/v1/datasets/{dataset_id}", headers=admin.headers)).status_code == 200
    assert (await client.get("/v1/datasets/nope", headers=alice.headers)).status_code == 404
    assert (await client.get("/v1/datasets")).status_code == 401
