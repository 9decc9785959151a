"""Registration, API keys, authentication and the error shape."""
from __future__ import annotations

import pytest

from api.auth import hash_api_key

pytestmark = pytest.mark.anyio


async def test_register_returns_key_once_and_stores_only_its_hash(client, db_session) -> None:
    reply = await client.post("/v1/participants", json={"handle": "alice", "display_name": "Alice"})
    assert reply.status_code == 201
    body = reply.json()
    key = body["api_key"]
    assert key.startswith("ts_") and len(key) >= 43
    me = await client.get("/v1/me", headers={"Authorization": f"Bearer {key}"})
    assert me.json()["handle"] == "alice"
    from sqlalchemy import text

    stored = (await db_session.execute(text("SELECT api_key_hash FROM participants"))).scalar_one()
    assert stored == hash_api_key(key) and key not in stored


async def test_no_key_and_wrong_key_are_401_with_the_error_shape(client) -> None:
    for headers in ({}, {"Authorization": "Bearer ts_wrong"}, {"Authorization": "Basic abc"}):
        reply = await client.get("/v1/me", headers=headers)
        assert reply.status_code == 401
        assert reply.json()["error"]["field"] == "Authorization"


async def test_duplicate_handle_is_409(client) -> None:
    await client.post("/v1/participants", json={"handle": "bob", "display_name": "Bob"})
    reply = await client.post("/v1/participants", json={"handle": "BOB", "display_name": "Bob 2"})
    assert reply.status_code == 409 and reply.json()["error"]["field"] == "handle"


async def test_only_admins_create_admins_and_bots(client, make_participant) -> None:
    reply = await client.post("/v1/participants", json={"handle": "eve", "display_name": "Eve", "role": "admin"})
    assert reply.status_code == 403 and reply.json()["error"]["field"] == "role"
    reply = await client.post("/v1/participants", json={"handle": "eve", "display_name": "Eve", "is_bot": True})
    assert reply.status_code == 403
    admin = await make_participant("root", role="admin")
    reply = await client.post("/v1/participants", headers=admin.headers,
                              json={"handle": "model", "display_name": "Model", "is_bot": True})
    assert reply.status_code == 201 and reply.json()["participant"]["is_bot"] is True


async def test_bad_bodies_are_4xx_naming_the_field(client) -> None:
    cases = [
        (b"{bad json", "body"),
        (b'{"handle": 5, "display_name": "x"}', "handle"),
        (b'{"handle": "ok"}', "display_name"),
        (b'{"handle": "a b", "display_name": "x"}', "handle"),
        (b'{"handle": "ok", "display_name": "x", "extra": 1}', "extra"),
        (b"[]", None),
    ]
    for body, field in cases:
        reply = await client.post("/v1/participants", content=body, headers={"content-type": "application/json"})
        assert 400 <= reply.status_code < 500, body
        error = reply.json()["error"]
        assert error["message"]
        if field is not None:
            assert error["field"] == field, (body, error)


async def test_oversized_body_is_413(client) -> None:
    reply = await client.post("/v1/participants", json={"handle": "big", "display_name": "x" * 200_000})
    assert reply.status_code == 413 and reply.json()["error"]["field"] == "body"


async def test_openapi_schema_is_served(client) -> None:
    reply = await client.get("/schema/openapi.json")
    assert reply.status_code == 200 and "/v1/participants" in reply.json()["paths"]
