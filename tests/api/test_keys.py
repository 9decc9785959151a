"""API key rotation and revocation (issue 21): a rotated or revoked key fails at once, even though
the key cache had it; the new key is shown once and works. SQLite and PostgreSQL."""
from __future__ import annotations

import pytest

from tests.api.money_helpers import make_admin, register

pytestmark = pytest.mark.anyio


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_rotating_my_key_retires_the_old_one(client) -> None:
    alice = await register(client, "alice")
    assert (await client.get("/v1/me", headers=alice.headers)).status_code == 200  # now cached
    rotated = await client.post("/v1/me/keys/rotate", headers=alice.headers)
    assert rotated.status_code == 200, rotated.text
    new_key = rotated.json()["api_key"]
    assert new_key != alice.key and rotated.json()["participant"]["id"] == alice.id
    assert (await client.get("/v1/me", headers=alice.headers)).status_code == 401
    assert (await client.get("/v1/me", headers=bearer(new_key))).json()["handle"] == "alice"


async def test_revoking_my_key_locks_me_out_until_an_admin_rotates(client, settings) -> None:
    alice, admin = await register(client, "alice"), await make_admin(settings)
    assert (await client.get("/v1/me", headers=alice.headers)).status_code == 200
    assert (await client.delete("/v1/me/keys", headers=alice.headers)).status_code == 204
    assert (await client.get("/v1/me", headers=alice.headers)).status_code == 401
    reissued = await client.post(f"/v1/participants/{alice.id}/keys/rotate", headers=admin.headers)
    assert reissued.status_code == 200, reissued.text
    assert (await client.get("/v1/me", headers=bearer(reissued.json()["api_key"]))).status_code == 200


async def test_only_admins_revoke_or_rotate_others(client, settings) -> None:
    alice, bob, admin = await register(client, "alice"), await register(client, "bob"), await make_admin(settings)
    for action in ("revoke", "rotate"):
        reply = await client.post(f"/v1/participants/{alice.id}/keys/{action}", headers=bob.headers)
        assert reply.status_code == 403 and reply.json()["error"]["message"] == "admin only"
    assert (await client.post("/v1/participants/nobody/keys/revoke", headers=admin.headers)).status_code == 404
    assert (await client.get("/v1/me", headers=alice.headers)).status_code == 200
    assert (await client.post(f"/v1/participants/{alice.id}/keys/revoke", headers=admin.headers)).status_code == 204
    assert (await client.get("/v1/me", headers=alice.headers)).status_code == 401
    assert (await client.get("/v1/me", headers=bob.headers)).status_code == 200
