"""Schema fuzz of the whole API (issue 21): schemathesis reads the app's own OpenAPI document and
generates requests for every operation, valid ones and invalid ones, sent through the test client as
an admin, a participant or anonymously, some with the ids of real rows in the path. A run fails on any 5xx, a status the
document does not list for the operation, or a reply whose content type or body the document does
not describe.

The budget is bounded (`EXAMPLES` cases per operation and generation mode, derandomized, so a run is
repeatable); `test_schema_fuzz_long` (slow) runs a larger, random one. Failures are collected over the
whole run, deduplicated by (operation, check, status), and listed together.
"""
from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings, strategies as st
from hypothesis.errors import Unsatisfiable
from litestar.testing import AsyncTestClient
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (content_type_conformance, response_schema_conformance,
                                               status_code_conformance)

from tests.api.conftest import Actor

pytestmark = pytest.mark.anyio

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = int(os.environ.get("TURNSIGNAL_FUZZ_EXAMPLES", "5"))  # per operation and mode in `make test`
LONG_EXAMPLES = 40  # per operation and mode in the slow run
BASE_URL = "http://testserver.local"  # the AsyncTestClient's own


@dataclass
class FuzzRun:
    """Counts of one fuzz run and its unique failures: (operation, check, status) -> first message."""

    operations: int = 0
    cases: int = 0
    failures: dict[tuple[str, str, int], str] = field(default_factory=dict)

    def summary(self) -> str:
        lines = [f"{self.operations} operations, {self.cases} cases, {len(self.failures)} unique failures"]
        lines += [f"- {op} [{check}] {status}: {message[:300]}" for (op, check, status), message in sorted(self.failures.items())]
        return "\n".join(lines)


async def _seed(client: AsyncTestClient, admin: Actor) -> dict[str, list[str]]:
    """Real rows the fuzzer may name in paths: the ids of a binary and a numeric question, a market,
    a bet and the admin, by path-parameter name."""
    headers = admin.headers
    closes = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    binary = (await client.post("/v1/questions", headers=headers,
                                json={"kind": "binary", "title": "fuzz binary", "closes_at": closes})).json()["id"]
    numeric = (await client.post("/v1/questions", headers=headers, json={
        "kind": "numeric", "title": "fuzz numeric", "closes_at": closes, "lower": 0, "upper": 1})).json()["id"]
    market = await client.post("/v1/markets", json={"question_id": binary, "b": 10_000},
                               headers=headers | {"Idempotency-Key": "fuzz-market"})
    bet = await client.post("/v1/bets", headers=headers | {"Idempotency-Key": "fuzz-bet"}, json={
        "question_id": binary, "proposition": {"kind": "binary", "outcome": True}, "stake": 1000,
        "taker_stake": 1000, "expires_at": closes})
    assert market.status_code == 201 and bet.status_code == 201, (market.text, bet.text)
    return {"question_id": [binary, numeric], "market_id": [market.json()["id"]], "bet_id": [bet.json()["id"]],
            "participant_id": [admin.id]}


def _with_known_ids(operation: Any, mode: GenerationMode, known: dict[str, list[str]]) -> st.SearchStrategy[Any]:
    """Cases of `operation` in `mode`; half of them, where the path names a known kind of row, name a real one."""
    generated = operation.as_strategy(generation_mode=mode)
    names = [p.name for p in operation.path_parameters if p.name in known]
    if not names:
        return generated
    real = st.fixed_dictionaries({n: st.sampled_from(known[n]) for n in names}).flatmap(
        lambda ids: operation.as_strategy(generation_mode=mode, path_parameters=ids))
    return st.one_of(generated, real)


def _send(client: AsyncTestClient, case: Any, headers: dict[str, str]) -> Any:
    """Send `case` (from a worker thread) through the test client running in the test's event loop."""
    kwargs = case.as_transport_kwargs(base_url=BASE_URL, headers=headers)
    prepared = requests.Request(method=kwargs["method"], url=kwargs["url"], headers=kwargs.get("headers"),
                                params=kwargs.get("params"), data=kwargs.get("data"), json=kwargs.get("json"),
                                files=kwargs.get("files"), cookies=kwargs.get("cookies")).prepare()
    body = prepared.body.encode() if isinstance(prepared.body, str) else prepared.body
    request = functools.partial(client.request, prepared.method or "GET", prepared.url or "",
                                headers=dict(prepared.headers), content=body)
    return anyio.from_thread.run(request)


def _check(run: FuzzRun, case: Any, response: Any) -> None:
    """Validate one reply and record each failing check once per (operation, check, status)."""
    run.cases += 1
    try:
        case.validate_response(response, checks=CHECKS)
    except FailureGroup as group:
        for failure in group.exceptions:
            key = (case.operation.label, failure.title, response.status_code)
            run.failures.setdefault(key, f"{failure.message} | body: {response.text[:200]}")


def _fuzz_operation(run: FuzzRun, client: AsyncTestClient, operation: Any, known: dict[str, list[str]],
                    callers: list[dict[str, str]], examples: int, derandomize: bool) -> None:
    """Up to `examples` cases of `operation` per generation mode (blocking: run it in a worker thread).
    Invalid cases only where the operation has a body or query parameters: a string path parameter has
    no invalid value, and hypothesis would spend seconds finding none."""
    negatable = operation.body or operation.query
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE) if negatable else (GenerationMode.POSITIVE,):
        @settings(max_examples=examples, derandomize=derandomize, database=None, deadline=None,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
        @given(case=_with_known_ids(operation, mode, known), headers=st.sampled_from(callers))
        def one(case: Any, headers: dict[str, str]) -> None:
            _check(run, case, _send(client, case, headers))

        with contextlib.suppress(Unsatisfiable):  # nothing to negate (no parameter, no body)
            one()


async def fuzz(client: AsyncTestClient, admin: Actor, other: Actor, examples: int, derandomize: bool = True) -> FuzzRun:
    """Fuzz every operation of the served OpenAPI document as `admin` (half the cases), `other` (a
    participant) or anonymously; the counts and unique failures."""
    callers = [admin.headers, admin.headers, other.headers, {}]
    document = (await client.get("/schema/openapi.json")).json()
    schema = schemathesis.openapi.from_dict(document)
    known = await _seed(client, admin)
    run = FuzzRun()
    for result in schema.get_all_operations():
        operation = result.ok()
        run.operations += 1
        job: Callable[[], None] = functools.partial(_fuzz_operation, run, client, operation, known, callers,
                                                    examples, derandomize)
        await anyio.to_thread.run_sync(job)
    return run


async def test_schema_fuzz_finds_no_server_error_and_no_undocumented_reply(client, make_participant) -> None:
    admin, other = await make_participant("fuzzadmin", role="admin"), await make_participant("fuzzer")
    run = await fuzz(client, admin, other, EXAMPLES)
    print(run.summary())
    assert run.operations >= 57 and run.cases >= run.operations * EXAMPLES
    assert not run.failures, run.summary()


@pytest.mark.slow
async def test_schema_fuzz_long(client, make_participant) -> None:
    admin, other = await make_participant("fuzzadmin", role="admin"), await make_participant("fuzzer")
    run = await fuzz(client, admin, other, LONG_EXAMPLES, derandomize=False)
    print(run.summary())
    assert not run.failures, run.summary()
