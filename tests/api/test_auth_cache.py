"""The API-key cache: hits skip the database, misses are never cached, entries expire, and
`forget_participant` makes a change of role take effect at once."""
from __future__ import annotations

from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import update

from api.app import create_app
from api.auth import KeyCache, forget_participant, hash_api_key, key_cache
from api.db.models import Participant
from api.settings import Settings

pytestmark = pytest.mark.anyio


def test_key_cache_ttl_bound_and_fresh_objects(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr("api.auth.time.monotonic", lambda: now[0])
    cache = KeyCache(ttl_seconds=30)
    p = Participant(id="p1", handle="h", display_name="H", role="participant", is_bot=False, api_key_hash="x" * 64)
    cache.put("k1", p)
    a, b = cache.get("k1"), cache.get("k1")
    assert a is not None and b is not None and a is not b and a is not p
    assert (a.id, a.role, a.handle) == ("p1", "participant", "h")
    now[0] += 30
    assert cache.get("k1") is None  # expired
    cache.put("k1", p)
    cache.forget_participant("p1")
    assert cache.get("k1") is None
    cache.max_entries = 2
    for i in range(3):
        cache.put(f"k{i}", p)
    assert cache.get("k0") is None and cache.get("k2") is not None  # least recently used dropped
    off = KeyCache(ttl_seconds=0)
    off.put("k", p)
    assert off.get("k") is None


async def test_wrong_keys_are_not_cached_and_role_changes_apply_after_forget(client: AsyncTestClient, make_participant, db_session) -> None:  # type: ignore[no-untyped-def]
    alice = await make_participant("alice")
    assert (await client.get("/v1/me", headers=alice.headers)).status_code == 200
    assert key_cache(client.app.state).get(hash_api_key(alice.key)) is not None
    wrong = {"Authorization": "Bearer ts_" + "x" * 43}
    for _ in range(2):
        assert (await client.get("/v1/me", headers=wrong)).status_code == 401
    assert key_cache(client.app.state).get(hash_api_key("ts_" + "x" * 43)) is None
    # an admin-only call, refused; promote alice in the database, forget her cached key: allowed
    assert (await client.get("/v1/admin/ledger/audit", headers=alice.headers)).status_code == 403
    await db_session.execute(update(Participant).where(Participant.id == alice.id).values(role="admin"))
    await db_session.commit()
    forget_participant(client.app.state, alice.id)
    assert (await client.get("/v1/admin/ledger/audit", headers=alice.headers)).status_code == 200


def test_cache_lifetime_comes_from_settings(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
    assert key_cache(create_app(Settings(database_url=url)).state).ttl_seconds == 30
    assert key_cache(create_app(Settings(database_url=url, auth_cache_seconds=0)).state).ttl_seconds == 0
