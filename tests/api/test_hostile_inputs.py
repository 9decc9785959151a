"""Hostile and careless inputs from issue 21 get a 4xx naming the field, never a 5xx, on SQLite and
PostgreSQL: deep JSON, null in a PATCH of a required field, times at the year limits with offsets,
huge integers in query parameters, NUL characters anywhere, and ill-typed JSON values."""
from __future__ import annotations

from typing import Any

import pytest

from api.input_limits import MAX_JSON_DEPTH, json_depth_exceeds
from api.schemas import INT32_MAX

pytestmark = pytest.mark.anyio

LATER = "2031-01-01T00:00:00Z"
NESTED = "[" * 1500 + "]" * 1500


def _deep(depth: int) -> str:
    """A registration body whose display_name is an array nested `depth` deep."""
    return '{"handle": "deep", "display_name": ' + "[" * depth + "]" * depth + "}"


def test_json_depth_counts_brackets_outside_strings_only() -> None:
    assert not json_depth_exceeds(b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH)
    assert json_depth_exceeds(b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1))
    assert not json_depth_exceeds(b'{"a": "' + b"[{" * 500 + b'\\" ["}')
    assert json_depth_exceeds(b'{"a": "\\"", "b": ' + b"[" * 40 + b"]" * 40 + b"}")


def _cases(question: str, market: str) -> list[tuple[str, str, dict[str, Any], int, str | None]]:
    """(method, path, request kwargs, expected status, expected field) for every hostile request."""
    bet = {"question_id": question, "proposition": {"kind": "binary", "outcome": True}, "stake": 1000,
           "taker_stake": 1000, "expires_at": "2030-01-01T00:00:00Z"}
    key = {"headers": {"Idempotency-Key": "hostile"}}
    raw = {"headers": {"content-type": "application/json"}}
    return [
        # JSON nesting
        ("POST", "/v1/participants", {"content": NESTED, **raw}, 400, "body"),
        ("POST", "/v1/questions", {"content": NESTED, **raw}, 400, "body"),
        ("POST", "/v1/participants", {"content": _deep(MAX_JSON_DEPTH + 5), **raw}, 400, "body"),
        ("POST", "/v1/participants", {"content": _deep(3), **raw}, 400, "display_name"),  # shallow: the type error
        # PATCH null on a required field
        *[("PATCH", f"/v1/questions/{question}", {"json": {name: None}}, 400, name)
          for name in ("title", "description", "resolution_criteria", "opens_at", "closes_at")],
        # times at the year limits, with offsets
        ("POST", "/v1/questions", {"json": {"kind": "binary", "title": "t", "closes_at": "9999-12-31T23:59:59-05:00"}},
         400, "closes_at"),
        ("POST", "/v1/questions", {"json": {"kind": "binary", "title": "t", "closes_at": "0001-01-01T00:00:00+05:00"}},
         400, "closes_at"),
        ("PATCH", f"/v1/questions/{question}", {"json": {"closes_at": "9999-12-31T23:59:59-05:00"}}, 400, "closes_at"),
        ("POST", "/v1/bets", {"json": bet | {"expires_at": "9999-12-31T23:59:59-05:00"}, **key}, 400, "expires_at"),
        ("POST", "/v1/results", {"json": {"source": "s", "reveal_at": "9999-12-31T23:59:59-14:00", "rows": [{}]}},
         400, "reveal_at"),
        # unbounded integers in query parameters
        *[("GET", f"{path}?{name}={value}", {}, 400, name)
          for path, name in (("/v1/questions", "offset"), ("/v1/me/ledger", "before"), (f"/v1/markets/{market}/history", "after"))
          for value in (2**63, 2**31, 10**40)],
        # NUL characters in paths, queries and bodies (keys and nested values too)
        ("GET", "/v1/questions/abc%00def", {}, 400, "question_id"),
        ("GET", "/v1/bets?question_id=a%00b", {}, 400, "question_id"),
        ("GET", "/v1/bets?x%00y=1", {}, 400, "xy"),
        ("POST", "/v1/questions", {"json": {"kind": "binary", "title": "a\x00b", "closes_at": LATER}}, 400, "title"),
        ("POST", "/v1/bets", {"json": bet | {"proposition": {"kind": "binary", "outcome": True, "k\x00": 1}}, **key},
         400, "proposition"),
        ("POST", "/v1/results", {"json": {"source": "s", "reveal_at": LATER, "rows": [{"model": "m\x00"}]}}, 400, "rows"),
        ("POST", "/v1/participants", {"json": {"handle": "nul", "display_name": "x\x00"}}, 400, "display_name"),
        ("POST", "/v1/datasets", {"files": {"file": ("t.csv", b"a,b\n1,2\n", "text/csv")}, "data": {"name": "a\x00b"}},
         400, "name"),
        # ill-typed JSON values are refused, not coerced
        ("POST", "/v1/bets", {"json": bet | {"stake": True}, **key}, 400, "stake"),
        ("POST", "/v1/bets", {"json": bet | {"taker_stake": "5"}, **key}, 400, "taker_stake"),
        ("POST", "/v1/bets", {"json": bet | {"stake": 1000.0}, **key}, 400, "stake"),
        ("POST", f"/v1/questions/{question}/predictions", {"json": {"probability": "0.5"}}, 400, "probability"),
        ("POST", f"/v1/questions/{question}/predictions", {"json": {"probability": True}}, 400, "probability"),
        ("POST", "/v1/markets", {"json": {"question_id": question, "b": "10000"}, **key}, 400, "b"),
        ("POST", "/v1/participants", {"json": {"handle": "typed", "display_name": "T", "is_bot": "false"}}, 400, "is_bot"),
    ]


async def test_hostile_requests_get_a_4xx_naming_the_field(client, make_participant) -> None:
    admin = await make_participant("hostadmin", role="admin")
    question = (await client.post("/v1/questions", headers=admin.headers,
                                  json={"kind": "binary", "title": "hostile", "closes_at": LATER})).json()["id"]
    market = (await client.post("/v1/markets", json={"question_id": question, "b": 10_000},
                                headers=admin.headers | {"Idempotency-Key": "m"})).json()["id"]
    wrong = []
    for method, path, kwargs, status, field in _cases(question, market):
        headers = admin.headers | kwargs.pop("headers", {})
        reply = await client.request(method, path, headers=headers, **kwargs)
        body = reply.json()
        if reply.status_code != status or body.get("error", {}).get("field") != field:
            wrong.append(f"{method} {path[:60]}: {reply.status_code} {reply.text[:200]}")
    assert not wrong, "\n".join(wrong)
    # the question kept its terms, and valid values at the limits are still accepted
    kept = (await client.get(f"/v1/questions/{question}", headers=admin.headers)).json()
    assert kept["title"] == "hostile" and kept["closes_at"].startswith("2031-01-01")
    # terms freeze once a market exists (409), so the limit values are tried on a fresh question
    fresh = (await client.post("/v1/questions", headers=admin.headers,
                               json={"kind": "binary", "title": "edge", "closes_at": LATER})).json()["id"]
    edge = await client.patch(f"/v1/questions/{fresh}", headers=admin.headers,
                              json={"closes_at": "9998-12-31T23:59:59-05:00", "lower": None})
    assert edge.status_code == 200 and edge.json()["closes_at"].startswith("9999-01-01T04:59:59"), edge.text
    assert (await client.get(f"/v1/questions?offset={INT32_MAX}", headers=admin.headers)).json() == []
    history = await client.get(f"/v1/markets/{market}/history?after={INT32_MAX}", headers=admin.headers)
    assert history.status_code == 200 and history.json() == []
    ledger = await client.get(f"/v1/me/ledger?before={INT32_MAX}", headers=admin.headers)
    assert ledger.status_code == 200, ledger.text
    typed = await client.post(f"/v1/questions/{question}/predictions", headers=admin.headers, json={"probability": 0.5})
    assert typed.status_code == 201, typed.text
