"""Abuse limits (issue 21): rate limits per rule (api.rate_limits), their shared Redis store, the
daily cap on starting grants, and the streaming dataset upload limit. SQLite and PostgreSQL."""
from __future__ import annotations

import dataclasses
import socket
import uuid

import pytest
from litestar.testing import AsyncTestClient

from api.app import create_app
from api.domain.datasets.upload_limit import MULTIPART_SLACK_BYTES, limit_upload_body
from api.errors import ApiError
from api.rate_limits import parse_rate, rate_limit_middleware
from api.settings import Settings
from tests.api.money_helpers import MICRO, audit, balance, make_admin, register

pytestmark = pytest.mark.anyio
REDIS_URL = "redis://127.0.0.1:6379/0"


def assert_429(reply, rule: str, limit: int) -> None:
    assert reply.status_code == 429, reply.text
    error = reply.json()["error"]
    assert error["status"] == 429 and f"'{rule}'" in error["message"] and error["field"] is None
    assert reply.headers["RateLimit-Limit"] == str(limit) and int(reply.headers["RateLimit-Reset"]) > 0


async def test_each_rule_counts_its_requests_for_its_caller(settings: Settings) -> None:
    tight = dataclasses.replace(settings, rate_registration="3/hour", rate_writes="2/minute", rate_plots="1/minute")
    async with AsyncTestClient(app=create_app(tight)) as client:
        alice, bob, _ = [await register(client, handle) for handle in ("alice", "bob", "carol")]
        assert_429(await client.post("/v1/participants", json={"handle": "dave", "display_name": "D"}), "registration", 3)
        for _ in range(2):  # refused bodies count too: the limit is on requests
            assert (await client.post("/v1/questions", json={}, headers=alice.headers)).status_code in (400, 422)
        assert_429(await client.post("/v1/questions", json={}, headers=alice.headers), "writes", 2)
        assert (await client.post("/v1/questions", json={}, headers=bob.headers)).status_code in (400, 422)
        assert (await client.get("/v1/me", headers=alice.headers)).status_code == 200  # reads are not limited
        plot = f"/v1/participants/{alice.id}/plots/nothing.png"
        assert (await client.get(plot, headers=alice.headers)).status_code == 404
        assert_429(await client.get(plot, headers=alice.headers), "plots", 1)
        assert (await client.get(plot, headers=bob.headers)).status_code == 404


def test_rate_settings_are_parsed_or_refused_naming_the_variable(tmp_path) -> None:
    assert parse_rate("5/minutes", "X") == ("minute", 5) and parse_rate(" OFF ", "X") is None
    for bad in ("5", "0/hour", "five/hour", "5/week", "-1/day"):
        with pytest.raises(ValueError, match="TURNSIGNAL_RATE_WRITES"):
            create_app(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", rate_writes=bad))
    off = Settings(rate_registration="off", rate_writes="off", rate_plots="off")
    assert rate_limit_middleware(off) == [] and len(rate_limit_middleware(Settings())) == 1  # one for all rules


def _redis_answers() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=0.5).close()
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _redis_answers(), reason="no Redis on 127.0.0.1:6379")
async def test_processes_share_the_counters_in_redis(tmp_path) -> None:
    namespace = f"ts-test-abuse-{uuid.uuid4().hex[:8]}"
    shared = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", rate_registration="1/hour",
                      redis_url=REDIS_URL, redis_namespace=namespace)
    async with AsyncTestClient(app=create_app(shared)) as first:
        assert (await first.post("/v1/participants", json={"handle": "one", "display_name": "One"})).status_code == 201
    async with AsyncTestClient(app=create_app(shared)) as second:  # another app: no memory in common
        assert_429(await second.post("/v1/participants", json={"handle": "two", "display_name": "Two"}),
                   "registration", 1)
    from redis.asyncio import Redis

    client = Redis.from_url(REDIS_URL)
    keys = [key async for key in client.scan_iter(f"{namespace}:*")]
    assert keys  # the counter lived in Redis, under the namespace
    await client.delete(*keys)
    await client.aclose()


async def test_starting_grants_stop_at_the_daily_cap(settings: Settings) -> None:
    async with AsyncTestClient(app=create_app(dataclasses.replace(settings, daily_grant_cap=2))) as client:
        actors = [await register(client, handle) for handle in ("ann", "ben", "cid")]
        assert [await balance(client, actor) for actor in actors] == [1000 * MICRO, 1000 * MICRO, 0]
        await audit(client, await make_admin(settings))


async def test_upload_announcing_too_many_bytes_is_refused_before_reading(settings: Settings) -> None:
    small = dataclasses.replace(settings, max_dataset_bytes=10_000)
    async with AsyncTestClient(app=create_app(small)) as client:
        actor = await register(client, "up")
        reply = await client.post("/v1/datasets", files={"file": ("t.csv", b"x" * (10_000 + MULTIPART_SLACK_BYTES))},
                                  data={"name": "big", "visibility": "public"}, headers=actor.headers)
        assert reply.status_code == 413 and reply.json()["error"]["field"] == "file", reply.text


async def test_streamed_upload_is_cut_off_once_past_the_limit() -> None:
    """The middleware stops the body after the limit is passed, without a Content-Length to trust."""
    limit, chunk, pulled = 100_000, 16_384, []

    async def receive():
        pulled.append(chunk)
        return {"type": "http.request", "body": b"x" * chunk, "more_body": True}  # an endless stream

    async def read_everything(scope, receive, send):
        while (await receive())["more_body"]:
            pass

    state = type("State", (), {"settings": Settings(max_dataset_bytes=limit)})()
    scope = {"type": "http", "headers": [], "litestar_app": type("App", (), {"state": state})()}
    with pytest.raises(ApiError) as refused:
        await limit_upload_body(read_everything)(scope, receive, None)
    assert refused.value.status == 413
    assert limit + MULTIPART_SLACK_BYTES < sum(pulled) <= limit + MULTIPART_SLACK_BYTES + chunk
