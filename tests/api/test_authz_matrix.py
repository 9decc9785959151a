"""The authorization matrix (issue 21): every route of the app x {anonymous, owner, other, admin} x
{before_close, after_close, resolved, sealed, revealed}, declared once in `ROWS` from the route
table: a route the app serves without a row fails `test_every_route_has_a_row`.

One world per database (module scope) walks through the phases in order: `owner` (alice) asks two
questions, forecasts on both, offers a bet that a third participant accepts, opens a market, uploads
a private dataset and requests a fit on it; `other` (bob) is a plain participant. Then both questions
close, the first is resolved by an admin, a sealed result for the second is uploaded, and revealed.

Each cell sends the row's request as that viewer in that phase and checks: no 5xx; anonymous gets
401 except on public routes; non-admins get 403 on admin routes; `other` gets 403/404 on rows marked
`owner_only`; and no private value appears in the reply to a viewer not allowed to see it then
(`SECRETS`: the owner's forecasts until their question resolves, the sealed result's value until it
is revealed, the private dataset and its fit, the accepted bet between two other participants).
Cells whose request would change the world for later cells are declared in the row's `skip` with
the test that covers them. Known leaks are strict xfails (`KNOWN_LEAKS`): remove them when fixed.
"""
from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import update

from api.app import create_app
from api.db import transaction
from api.db.models import Question
from api.settings import Settings
from tests.api.conftest import DATABASES, GENEROUS_LIMITS, POSTGRES_URL, Actor, _pg_admin, create_actor, db

pytestmark = pytest.mark.anyio

PHASES = ("before_close", "after_close", "resolved", "sealed", "revealed")
VIEWERS = ("anonymous", "owner", "other", "admin")
OLMO = Path(__file__).resolve().parents[2] / "examples" / "data" / "olmo_ladder.csv"
LINK = {"family": "olmo", "model": "olmo-secret-70b", "task": "arc_easy", "metric": "acc"}
Q1_FORECAST, Q2_FORECAST, RESULT_VALUE, BET_STAKE = 0.61379, 0.37791, 0.83173, 3_141_593
PRIVATE_DATASET_NAME = "alice-private-ds-5e1f"


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


def later(days: float) -> str:
    return (datetime.now(timezone.utc) + timedelta(days=days)).isoformat()


@dataclass
class World:
    """The shared state the cells run against; `ids` names what the rows address."""

    client: AsyncTestClient
    settings: Settings
    actors: dict[str, Actor]
    ids: dict[str, str] = field(default_factory=dict)
    phase: int = -1
    dataset_bytes: bytes = b""

    def headers(self, viewer: str, **extra: str) -> dict[str, str]:
        actor = self.actors.get(viewer)
        return {**(actor.headers if actor else {}), **extra}


# ----------------------------------------------------------------------------------- private values
def _phase_at_least(phase: str) -> Callable[[str, str], bool]:
    return lambda viewer, now: PHASES.index(now) >= PHASES.index(phase)


SECRETS: dict[str, tuple[Callable[[World], str], Callable[[str, str], bool]]] = {
    # name: (the text that must not appear, who may see it when: (viewer, phase) -> bool)
    "owner's forecast on q1": (lambda w: str(Q1_FORECAST),
                               lambda viewer, phase: viewer == "owner" or _phase_at_least("resolved")(viewer, phase)),
    "owner's forecast on q2": (lambda w: str(Q2_FORECAST),
                               lambda viewer, phase: viewer == "owner" or _phase_at_least("revealed")(viewer, phase)),
    "sealed result value": (lambda w: str(RESULT_VALUE),
                            lambda viewer, phase: viewer == "admin" or _phase_at_least("revealed")(viewer, phase)),
    "private dataset name": (lambda w: PRIVATE_DATASET_NAME, lambda viewer, phase: viewer in ("owner", "admin")),
    "private dataset id": (lambda w: w.ids["dataset"], lambda viewer, phase: viewer in ("owner", "admin")),
    "fit of the private dataset": (lambda w: w.ids["fit"], lambda viewer, phase: viewer in ("owner", "admin")),
    "accepted bet of others": (lambda w: str(BET_STAKE), lambda viewer, phase: viewer in ("owner", "admin")),
}


# --------------------------------------------------------------------------------------- the rows
@dataclass(frozen=True)
class Row:
    """How to call one route, and what it may answer. `request(world, viewer, phase)` -> (kwargs
    for client.request); `access`: public | key | admin; `owner_only`: `other` must get 403/404;
    `skip`: viewer -> why the cell is not sent (the test that covers it); `phases`: the phases it
    is sent in (default all; fewer only for documents that no phase changes)."""

    request: Callable[[World, str, str], dict[str, Any]]
    access: str = "key"
    owner_only: bool = False
    skip: dict[str, str] = field(default_factory=dict)
    phases: tuple[str, ...] = PHASES


def get(path: str | Callable[[World], str], **params: Any) -> Callable[[World, str, str], dict[str, Any]]:
    return lambda w, viewer, phase: {"url": path(w) if callable(path) else path, "params": params}


def post(path: str | Callable[[World], str], body: Callable[[World, str, str], Any] | None = None,
         ) -> Callable[[World, str, str], dict[str, Any]]:
    def build(w: World, viewer: str, phase: str) -> dict[str, Any]:
        url = path(w) if callable(path) else path
        return {"url": url, "json": body(w, viewer, phase) if body else None,
                "headers": {"Idempotency-Key": f"{viewer}-{phase}-{url}"}}
    return build


def _upload(w: World, viewer: str, phase: str) -> dict[str, Any]:
    """The owner's private file again: for `other` it must not reveal the owner's dataset."""
    return {"url": "/v1/datasets", "files": {"file": ("t.csv", w.dataset_bytes)},
            "data": {"name": f"{viewer} upload", "visibility": "private"}}


def q(name: str) -> Callable[[World], str]:
    return lambda w: w.ids[name]


MUTATES = "changes the shared world for later cells"
BET = {"kind": "binary", "outcome": True}
ROWS: dict[tuple[str, str], Row] = {
    ("POST", "/v1/participants"): Row(post("/v1/participants", lambda w, v, p: {
        "handle": f"new-{v}-{p}".replace("_", "-"), "display_name": "New"}), access="public"),
    ("GET", "/v1/participants"): Row(get("/v1/participants")),
    ("GET", "/v1/me"): Row(get("/v1/me")),
    ("POST", "/v1/me/keys/rotate"): Row(post("/v1/me/keys/rotate"), skip={
        v: f"{MUTATES} (the viewer's key); tests/api/test_keys.py" for v in ("owner", "other", "admin")}),
    ("DELETE", "/v1/me/keys"): Row(lambda w, v, p: {"url": "/v1/me/keys"}, skip={
        v: f"{MUTATES} (the viewer's key); tests/api/test_keys.py" for v in ("owner", "other", "admin")}),
    ("POST", "/v1/participants/{participant_id:str}/keys/rotate"): Row(
        post(lambda w: f"/v1/participants/{w.actors['owner'].id}/keys/rotate"), access="admin",
        skip={"admin": f"{MUTATES} (the owner's key); tests/api/test_keys.py"}),
    ("POST", "/v1/participants/{participant_id:str}/keys/revoke"): Row(
        post(lambda w: f"/v1/participants/{w.actors['owner'].id}/keys/revoke"), access="admin",
        skip={"admin": f"{MUTATES} (the owner's key); tests/api/test_keys.py"}),
    ("GET", "/v1/questions"): Row(get("/v1/questions")),
    ("POST", "/v1/questions"): Row(post("/v1/questions", lambda w, v, p: {
        "kind": "binary", "title": f"{v} asks in {p}", "closes_at": later(3)})),
    ("GET", "/v1/questions/{question_id:str}"): Row(get(lambda w: f"/v1/questions/{w.ids['q2']}")),
    ("PATCH", "/v1/questions/{question_id:str}"): Row(
        lambda w, v, p: {"url": f"/v1/questions/{w.ids['q1']}", "json": {"description": "edited"}},
        owner_only=True, skip={v: f"{MUTATES}; tests/api/test_questions_predictions.py" for v in ("owner", "admin")}),
    ("POST", "/v1/questions/{question_id:str}/open"): Row(
        post(lambda w: f"/v1/questions/{w.ids['q1']}/open"), owner_only=True,
        skip={v: f"{MUTATES}; tests/api/test_questions_predictions.py" for v in ("owner", "admin")}),
    ("POST", "/v1/questions/{question_id:str}/close"): Row(
        post(lambda w: f"/v1/questions/{w.ids['q2']}/close"), owner_only=True,
        skip={v: f"{MUTATES}; tests/api/test_questions_predictions.py" for v in ("owner", "admin")}),
    ("GET", "/v1/questions/{question_id:str}/predictions"): Row(get(lambda w: f"/v1/questions/{w.ids['q1']}/predictions")),
    ("GET", "/v1/questions/{question_id:str}/aggregate"): Row(get(lambda w: f"/v1/questions/{w.ids['q1']}/aggregate")),
    ("POST", "/v1/questions/{question_id:str}/predictions"): Row(
        post(lambda w: f"/v1/questions/{w.ids['q2']}/predictions",
             lambda w, v, p: {"probability": Q2_FORECAST if v == "owner" else 0.5})),
    ("GET", "/v1/predictions/{prediction_id:str}"): Row(get(q("prediction_q2_path")), owner_only=False),
    ("POST", "/v1/predictions/{prediction_id:str}/open"): Row(
        post(lambda w: f"/v1/predictions/{w.ids['prediction_q2']}/open",
             lambda w, v, p: {"salt": "not-the-salt", "prediction": {"probability": 0.5}}), owner_only=True,
        skip={"owner": "a wrong opening of a forecast that is no commitment; tests/api/test_questions_predictions.py"}),
    ("GET", "/v1/me/predictions"): Row(get("/v1/me/predictions")),
    ("GET", "/v1/results"): Row(get("/v1/results")),
    ("POST", "/v1/results"): Row(post("/v1/results", lambda w, v, p: {
        "source": "lab", "reveal_at": later(300), "rows": [{**LINK, "model": "unrelated-1b", "params": 1e9,
                                                            "value": 0.5, "chance": 0.25}]}), access="admin"),
    ("GET", "/v1/results/{result_id:str}"): Row(get(q("result_path"))),
    ("POST", "/v1/results/{result_id:str}/reveal"): Row(post(q("result_reveal_path")), access="admin",
                                                        skip={"admin": f"{MUTATES}; tests/api/test_results_scoring.py"}),
    ("POST", "/v1/questions/{question_id:str}/resolution"): Row(
        post(lambda w: f"/v1/questions/{w.ids['q2']}/resolution", lambda w, v, p: {"outcome": 1.0}), access="admin",
        skip={"admin": f"{MUTATES}; tests/api/test_results_scoring.py"}),
    ("POST", "/v1/questions/{question_id:str}/annul"): Row(
        post(lambda w: f"/v1/questions/{w.ids['q2']}/annul"), access="admin",
        skip={"admin": f"{MUTATES}; tests/api/test_results_scoring.py"}),
    ("GET", "/v1/questions/{question_id:str}/resolutions"): Row(get(lambda w: f"/v1/questions/{w.ids['q2']}/resolutions")),
    ("GET", "/v1/leaderboard"): Row(get("/v1/leaderboard", min_questions=0)),
    ("GET", "/v1/participants/{participant_id:str}/calibration"): Row(
        get(lambda w: f"/v1/participants/{w.actors['owner'].id}/calibration")),
    ("GET", "/v1/participants/{participant_id:str}/scores"): Row(
        get(lambda w: f"/v1/participants/{w.actors['owner'].id}/scores")),
    ("GET", "/v1/me/scores"): Row(get("/v1/me/scores")),
    ("GET", "/v1/questions/{question_id:str}/scores"): Row(get(lambda w: f"/v1/questions/{w.ids['q2']}/scores")),
    ("GET", "/v1/me/balance"): Row(get("/v1/me/balance")),
    ("GET", "/v1/me/ledger"): Row(get("/v1/me/ledger")),
    ("POST", "/v1/admin/grants"): Row(post("/v1/admin/grants", lambda w, v, p: {
        "participant_id": w.actors["other"].id, "amount": 1_000_000}), access="admin"),
    ("GET", "/v1/admin/ledger/audit"): Row(get("/v1/admin/ledger/audit"), access="admin"),
    ("GET", "/v1/bets"): Row(get("/v1/bets")),
    ("POST", "/v1/bets"): Row(post("/v1/bets", lambda w, v, p: {
        "question_id": w.ids["q2"], "proposition": BET, "stake": 1_000_000, "taker_stake": 1_000_000,
        "expires_at": later(300)})),
    ("GET", "/v1/bets/{bet_id:str}"): Row(get(lambda w: f"/v1/bets/{w.ids['bet']}")),
    ("POST", "/v1/bets/{bet_id:str}/accept"): Row(post(lambda w: f"/v1/bets/{w.ids['bet']}/accept")),
    ("POST", "/v1/bets/{bet_id:str}/cancel"): Row(post(lambda w: f"/v1/bets/{w.ids['bet']}/cancel"), owner_only=True,
                                                 skip={"admin": f"{MUTATES}; tests/api/test_bets.py"}),
    ("POST", "/v1/admin/bets/expire"): Row(post("/v1/admin/bets/expire"), access="admin"),
    ("GET", "/v1/markets"): Row(get("/v1/markets")),
    ("POST", "/v1/markets"): Row(post("/v1/markets", lambda w, v, p: {"question_id": w.ids["q1"], "b": 10_000_000})),
    ("GET", "/v1/markets/{market_id:str}"): Row(get(lambda w: f"/v1/markets/{w.ids['market']}")),
    ("POST", "/v1/markets/{market_id:str}/trades"): Row(post(lambda w: f"/v1/markets/{w.ids['market']}/trades",
                                                            lambda w, v, p: {"side": "buy", "outcome": 1,
                                                                             "shares": 1_000, "max_cost": 1_000_000})),
    ("GET", "/v1/markets/{market_id:str}/positions"): Row(get(lambda w: f"/v1/markets/{w.ids['market']}/positions")),
    ("GET", "/v1/markets/{market_id:str}/history"): Row(get(lambda w: f"/v1/markets/{w.ids['market']}/history")),
    ("GET", "/v1/datasets"): Row(get("/v1/datasets")),
    ("POST", "/v1/datasets"): Row(_upload),
    ("GET", "/v1/datasets/{dataset_id:str}"): Row(get(lambda w: f"/v1/datasets/{w.ids['dataset']}"), owner_only=True),
    ("GET", "/v1/datasets/{dataset_id:str}/table.csv"): Row(get(lambda w: f"/v1/datasets/{w.ids['dataset']}/table.csv"),
                                                             owner_only=True),
    ("GET", "/v1/fits"): Row(get("/v1/fits")),
    ("POST", "/v1/fits"): Row(post("/v1/fits", lambda w, v, p: {"dataset_id": w.ids["dataset"], "seed": 0,
                                                                   "success_metric": ["len_norm"]}),
                              owner_only=True),
    ("GET", "/v1/fits/{fit_id:str}"): Row(get(lambda w: f"/v1/fits/{w.ids['fit']}"), owner_only=True),
    ("POST", "/v1/fits/{fit_id:str}/cancel"): Row(post(lambda w: f"/v1/fits/{w.ids['fit']}/cancel"), owner_only=True,
                                                 skip={v: f"{MUTATES}; tests/api/test_fit_runs.py" for v in ("owner", "admin")}),
    ("GET", "/v1/fits/{fit_id:str}/idata.nc"): Row(get(lambda w: f"/v1/fits/{w.ids['fit']}/idata.nc"), owner_only=True),
    ("GET", "/v1/fits/{fit_id:str}/emergence"): Row(get(lambda w: f"/v1/fits/{w.ids['fit']}/emergence"), owner_only=True),
    ("GET", "/v1/fits/{fit_id:str}/predict"): Row(get(lambda w: f"/v1/fits/{w.ids['fit']}/predict", task="arc_easy",
                                                      params=1e9, tokens=1e11), owner_only=True),
    ("POST", "/v1/fits/{fit_id:str}/predict"): Row(post(lambda w: f"/v1/fits/{w.ids['fit']}/predict", lambda w, v, p: {
        "targets": [{"task": "arc_easy", "params": 1e9, "tokens": 1e11}]}), owner_only=True),
    ("GET", "/v1/fits/{fit_id:str}/plots/{name:str}"): Row(get(lambda w: f"/v1/fits/{w.ids['fit']}/plots/emergence.svg",
                                                              task="arc_easy"), owner_only=True),
    ("GET", "/v1/questions/{question_id:str}/bot"): Row(get(lambda w: f"/v1/questions/{w.ids['q2']}/bot")),
    ("GET", "/v1/participants/{participant_id:str}/plots/{name:str}"): Row(
        get(lambda w: f"/v1/participants/{w.actors['owner'].id}/plots/reliability.svg"),
        skip={v: "renders a figure (~0.5 s each); tests/api/test_plot_route.py" for v in ("owner", "admin")}),
    **{("GET", path): Row(get(path.replace("{path:str}", "swagger").replace("{file_path:path}", "swagger-ui.css")),
                          access="public", phases=PHASES[:1],
                          skip={v: "the same public document for every viewer" for v in ("owner", "admin")})
       for path in ("/schema", "/schema/redoc", "/schema/swagger", "/schema/openapi.json", "/schema/openapi.yaml",
                    "/schema/openapi.yml", "/schema/{path:str}", "/schema/oauth2-redirect.html",
                    "/schema/static/{file_path:path}")},
}

KNOWN_LEAKS: dict[tuple[str, str, str], str] = {
    # (method, path, viewer) -> reason; strict: the test fails once the leak is gone
}


# ---------------------------------------------------------------------------------------- the world
async def _ok(reply: Any, status: int = 201) -> dict[str, Any]:
    assert reply.status_code == status, reply.text
    return reply.json()


async def _build(w: World) -> None:
    """Phase before_close: everything the owner does while the questions are open."""
    c, owner = w.client, w.headers("owner")
    taker = w.actors["taker"].headers
    for name, link in (("q1", None), ("q2", {**LINK, "threshold": 0.8})):
        w.ids[name] = (await _ok(await c.post("/v1/questions", headers=owner, json={
            "kind": "binary", "title": f"matrix {name}", "closes_at": later(1), "link": link})))["id"]
    await _ok(await c.post(f"/v1/questions/{w.ids['q1']}/predictions", headers=owner, json={"probability": Q1_FORECAST}))
    w.ids["prediction_q2"] = (await _ok(await c.post(f"/v1/questions/{w.ids['q2']}/predictions", headers=owner,
                                                     json={"probability": Q2_FORECAST})))["id"]
    w.ids["prediction_q2_path"] = f"/v1/predictions/{w.ids['prediction_q2']}"
    w.ids["bet"] = (await _ok(await c.post("/v1/bets", headers={**owner, "Idempotency-Key": "world-bet"}, json={
        "question_id": w.ids["q1"], "proposition": BET, "stake": BET_STAKE, "taker_stake": 1_000_000,
        "expires_at": later(300)})))["id"]
    await _ok(await c.post(f"/v1/bets/{w.ids['bet']}/accept", headers={**taker, "Idempotency-Key": "world-accept"}), 200)
    w.ids["market"] = (await _ok(await c.post("/v1/markets", headers={**owner, "Idempotency-Key": "world-market"},
                                              json={"question_id": w.ids["q2"], "b": 10_000_000})))["id"]
    table = pd.read_csv(OLMO)
    w.dataset_bytes = table[table["task"].isin(["arc_easy", "piqa"])].to_csv(index=False).encode()
    w.ids["dataset"] = (await _ok(await c.post("/v1/datasets", headers=owner, files={"file": ("t.csv", w.dataset_bytes)},
                                               data={"name": PRIVATE_DATASET_NAME, "visibility": "private"})))["id"]
    fit = await c.post("/v1/fits", headers=owner, json={"dataset_id": w.ids["dataset"], "seed": 0,
                                                                "success_metric": ["len_norm"]})
    assert fit.status_code in (200, 201, 202), fit.text
    w.ids["fit"] = fit.json()["id"]
    w.ids["result_path"] = "/v1/results/00000000000000000000000000000000"  # none yet: 404 for all
    w.ids["result_reveal_path"] = w.ids["result_path"] + "/reveal"


async def _close(w: World) -> None:
    async with db(w.settings) as session:
        async with transaction(session):
            past = datetime.now(timezone.utc) - timedelta(minutes=1)
            await session.execute(update(Question).where(Question.id.in_([w.ids["q1"], w.ids["q2"]]))
                                  .values(closes_at=past))


async def _resolve_q1(w: World) -> None:
    await _ok(await w.client.post(f"/v1/questions/{w.ids['q1']}/resolution", headers=w.headers("admin"),
                                  json={"outcome": 1.0}), 200)


async def _seal(w: World) -> None:
    result = await _ok(await w.client.post("/v1/results", headers=w.headers("admin"), json={
        "source": "lab", "reveal_at": later(30), "rows": [{**LINK, "params": 7e10, "tokens": 2e12,
                                                            "value": RESULT_VALUE, "chance": 0.25}]}))
    w.ids["result_path"] = f"/v1/results/{result['id']}"
    w.ids["result_reveal_path"] = f"/v1/results/{result['id']}/reveal"


async def _reveal(w: World) -> None:
    await _ok(await w.client.post(w.ids["result_reveal_path"], headers=w.headers("admin")), 200)


STEPS = {"before_close": _build, "after_close": _close, "resolved": _resolve_q1, "sealed": _seal, "revealed": _reveal}


# PostgreSQL runs the same matrix under `make test-slow` (it costs more than the SQLite run in `make test`).
MATRIX_DATABASES = [db if db == "sqlite" else pytest.param(db, marks=pytest.mark.slow) for db in DATABASES]


@pytest.fixture(scope="module", params=MATRIX_DATABASES)
async def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    common = dict(reveal_poll_seconds=3600.0, leaderboard_min_questions=1, max_body_bytes=65_536, access_log=False,
                  **GENEROUS_LIMITS)
    schema = None
    if request.param == "sqlite":
        base = tmp_path_factory.mktemp("matrix")
        settings = Settings(database_url=f"sqlite+aiosqlite:///{base / 'matrix.db'}", data_dir=str(base / "data"), **common)
    else:
        schema = f"ts_test_{uuid.uuid4().hex[:12]}"
        await _pg_admin(f'CREATE SCHEMA "{schema}"')
        settings = Settings(database_url=POSTGRES_URL or "", database_schema=schema, db_pool_size=10,
                            data_dir=str(tmp_path_factory.mktemp("matrix") / "data"), **common)
    try:
        async with AsyncTestClient(app=create_app(settings)) as client:
            async with db(settings) as session:
                actors = {"owner": await create_actor(session, "alice"), "other": await create_actor(session, "bob"),
                          "admin": await create_actor(session, "root", role="admin"),
                          "taker": await create_actor(session, "tara")}
            yield World(client, settings, actors)
    finally:
        if schema is not None:
            await _pg_admin(f'DROP SCHEMA "{schema}" CASCADE')


async def advance(w: World, phase: str) -> None:
    """Bring the world to `phase` (phases only move forward; the cells run in phase order)."""
    target = PHASES.index(phase)
    if target < w.phase:
        pytest.fail(f"the matrix ran out of phase order: {phase} after {PHASES[w.phase]}")
    while w.phase < target:
        w.phase += 1
        await STEPS[PHASES[w.phase]](w)


# -------------------------------------------------------------------------------------- the checks
def cell_problems(w: World, row: Row, viewer: str, phase: str, reply: Any) -> list[str]:
    """What is wrong with `reply` for this cell (empty: nothing)."""
    status, text, problems = reply.status_code, reply.text, []
    if status >= 500:
        problems.append(f"{status}")
    if viewer == "anonymous" and row.access != "public" and status != 401:
        problems.append(f"anonymous got {status}, not 401")
    if row.access == "admin" and viewer in ("owner", "other") and status != 403:
        problems.append(f"{viewer} got {status} on an admin route, not 403")
    if row.owner_only and viewer == "other" and status not in (403, 404):
        problems.append(f"other got {status} on the owner's resource, not 403/404")
    for name, (value, allowed) in SECRETS.items():
        secret = value(w)
        if secret in text and not allowed(viewer, phase):
            problems.append(f"leaks {name} ({secret})")
    return problems


CELLS = [(phase, key) for phase in PHASES for key in sorted(ROWS) if phase in ROWS[key].phases]


def _is_web_page(route: Any) -> bool:
    """The server-rendered pages (api/web) and their static files: signed in by a session cookie, not a
    key; their blinding and refusals are tested in a browser (tests/web)."""
    handlers = getattr(route, "route_handlers", ())
    return route.path.startswith("/static/") or any(h.fn.__module__.startswith("api.web") for h in handlers)


async def test_every_route_has_a_row(world: World) -> None:
    served = {(method, route.path) for route in world.client.app.routes for method in getattr(route, "methods", ())
              if method not in ("HEAD", "OPTIONS") and not _is_web_page(route)}
    assert sorted(served - set(ROWS)) == [], "routes without a row in the authorization matrix"
    assert sorted(set(ROWS) - served) == [], "rows for routes the app does not serve"


@pytest.mark.parametrize(("phase", "key"), CELLS, ids=[f"{phase}-{m} {p}" for phase, (m, p) in CELLS])
async def test_cell(world: World, phase: str, key: tuple[str, str]) -> None:
    """One route in one phase, as each of the four viewers."""
    await advance(world, phase)
    row, failures, leaks_seen = ROWS[key], [], []
    for viewer in VIEWERS:
        if viewer in row.skip:
            continue
        kwargs = row.request(world, viewer, phase)
        kwargs["headers"] = world.headers(viewer, **kwargs.get("headers", {}))
        if kwargs.get("json") is None:
            kwargs.pop("json", None)
        reply = await world.client.request(key[0], **kwargs)
        problems = cell_problems(world, row, viewer, phase, reply)
        known = KNOWN_LEAKS.get((*key, viewer))
        if known is not None:
            if not problems:
                failures.append(f"{viewer}: the known leak is gone: remove it from KNOWN_LEAKS ({known})")
            leaks_seen.append(f"{viewer}: {'; '.join(problems)}")
        elif problems:
            failures.append(f"{viewer}: {'; '.join(problems)}")
    assert not failures, f"{key[0]} {key[1]} in {phase}: " + " | ".join(failures)
    if leaks_seen:
        pytest.xfail("known leak, " + KNOWN_LEAKS[next(k for k in KNOWN_LEAKS if k[:2] == key)] + ": " + " | ".join(leaks_seen))
