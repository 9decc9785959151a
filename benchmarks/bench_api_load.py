"""The REST hot paths against bare references (issue 18), loaded by wrk on 127.0.0.1.

Cases, each on SQLite and (when TURNSIGNAL_TEST_POSTGRES_URL is set) PostgreSQL:

* `POST /v1/questions/{id}/predictions`: the project's authenticated, persisted submit (a
  binary probability) against a bare Litestar app that validates the same body with the project's
  pydantic model (`PredictionSubmit`) and inserts one row (SQLite: one aiosqlite connection in WAL
  mode, synchronous=NORMAL; PostgreSQL: an asyncpg pool), with no auth, ORM or logging.
* `GET /v1/questions/{id}`: the project's read (auth, visibility, forecaster count, derived
  state) against the bare app selecting the question row by id and returning it.
* the leaderboard over 100,000 resolved predictions (scores written straight into the project's
  tables), timed as one `GET /v1/leaderboard` after a warm-up call.

Every server is a real process (uvicorn, one worker, as `turnsignal serve` runs); the project and
its bare reference run alternately, `ROUNDS` times each, in one run, so both see the same machine
load, after an unmeasured warm-up run of `WARMUP_S` each, and each row gives the median over the
rounds. wrk (2 threads, 32 connections) is the load
generator: a compiled client, so Python does not compete with the servers for the 2 cores; the
bench installs it with apt-get when it is missing (as root) or says how to.

    python -m benchmarks api_load              # through `make bench`'s runner (rows saved)
    python -m benchmarks.bench_api_load --quick   # 1-second runs, one round: a smoke test
"""
from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx

from api.devserver import SERVE, running_server
from api.domain.predictions.schemas import PredictionSubmit
from benchmarks.bench_api import execute_admin_sql

TITLE = "REST hot paths vs bare Litestar references (wrk, 2 threads, 32 connections); leaderboard over 100k scores"
CONNECTIONS = 32
THREADS = 2
DURATION_S = 6
ROUNDS = 2
WARMUP_S = 2
LEADERBOARD_SCORES = 100_000
BARE_QUESTION_ID = "q" * 32
SQLITE_PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", "PRAGMA busy_timeout=30000")


# ------------------------------------------------------------------------------ bare references
def _bare_routes(insert: Any, fetch_question: Any) -> list[Any]:
    """The two bare handlers, given `insert(question_id, data)` and `fetch_question(id) -> dict | None`."""
    from litestar import get, post
    from litestar.exceptions import NotFoundException

    @post("/v1/questions/{question_id:str}/predictions")
    async def submit(question_id: str, data: PredictionSubmit) -> dict[str, Any]:
        row_id = await insert(question_id, data)
        return {"id": row_id, "question_id": question_id, "probability": data.probability}

    @get("/v1/questions/{question_id:str}")
    async def read(question_id: str) -> dict[str, Any]:
        row = await fetch_question(question_id)
        if row is None:
            raise NotFoundException()
        return row

    return [submit, read]


_BARE_SCHEMA = ("CREATE TABLE IF NOT EXISTS bare_predictions (id VARCHAR(32) PRIMARY KEY, question_id VARCHAR(32), "
                "created_at TIMESTAMP, kind VARCHAR(16), probability DOUBLE PRECISION)",
                "CREATE TABLE IF NOT EXISTS bare_questions (id VARCHAR(32) PRIMARY KEY, title TEXT, state VARCHAR(16), "
                "closes_at TIMESTAMP)")
_BARE_INSERT = "INSERT INTO bare_predictions (id, question_id, created_at, kind, probability) VALUES ({})"
_BARE_SELECT = "SELECT id, title, state, closes_at FROM bare_questions WHERE id = {}"


def _question_dict(row: Any) -> dict[str, Any]:
    return {"id": row[0], "title": row[1], "state": row[2], "closes_at": str(row[3])}


def bare_sqlite_app() -> Any:
    """The SQLite reference: one aiosqlite connection (file `BARE_SQLITE_PATH`), WAL, synchronous=NORMAL."""
    import aiosqlite
    from litestar import Litestar

    path = os.environ["BARE_SQLITE_PATH"]
    box: dict[str, Any] = {}

    async def startup() -> None:
        connection = await aiosqlite.connect(path)
        for pragma in SQLITE_PRAGMAS:
            await connection.execute(pragma)
        for ddl in _BARE_SCHEMA:
            await connection.execute(ddl)
        await connection.execute("INSERT OR IGNORE INTO bare_questions VALUES (?, 'bench', 'open', ?)",
                                 (BARE_QUESTION_ID, datetime.now(timezone.utc).replace(tzinfo=None)))
        await connection.commit()
        box["db"], box["lock"] = connection, asyncio.Lock()

    async def insert(question_id: str, data: Any) -> str:
        row_id = uuid.uuid4().hex
        async with box["lock"]:
            await box["db"].execute(_BARE_INSERT.format("?, ?, ?, ?, ?"), (
                row_id, question_id, datetime.now(timezone.utc).replace(tzinfo=None), "probability", data.probability))
            await box["db"].commit()
        return row_id

    async def fetch_question(question_id: str) -> dict[str, Any] | None:
        async with box["db"].execute(_BARE_SELECT.format("?"), (question_id,)) as cursor:
            row = await cursor.fetchone()
        return None if row is None else _question_dict(row)

    async def shutdown() -> None:
        await box["db"].close()

    return Litestar(_bare_routes(insert, fetch_question), on_startup=[startup], on_shutdown=[shutdown])


def bare_postgres_app() -> Any:
    """The PostgreSQL reference: an asyncpg pool of 32 on `BARE_PG_DSN`, schema `BARE_PG_SCHEMA`."""
    import asyncpg
    from litestar import Litestar

    box: dict[str, Any] = {}

    async def startup() -> None:
        pool = await asyncpg.create_pool(os.environ["BARE_PG_DSN"], min_size=CONNECTIONS, max_size=CONNECTIONS,
                                         server_settings={"search_path": os.environ["BARE_PG_SCHEMA"]})
        async with pool.acquire() as connection:
            for ddl in _BARE_SCHEMA:
                await connection.execute(ddl)
            await connection.execute("INSERT INTO bare_questions VALUES ($1, 'bench', 'open', $2) ON CONFLICT DO NOTHING",
                                     BARE_QUESTION_ID, datetime.now(timezone.utc).replace(tzinfo=None))
        box["pool"] = pool

    async def insert(question_id: str, data: Any) -> str:
        row_id = uuid.uuid4().hex
        await box["pool"].execute(_BARE_INSERT.format("$1, $2, $3, $4, $5"), row_id, question_id,
                                  datetime.now(timezone.utc).replace(tzinfo=None), "probability", data.probability)
        return row_id

    async def fetch_question(question_id: str) -> dict[str, Any] | None:
        row = await box["pool"].fetchrow(_BARE_SELECT.format("$1"), question_id)
        return None if row is None else _question_dict(row)

    async def shutdown() -> None:
        await box["pool"].close()

    return Litestar(_bare_routes(insert, fetch_question), on_startup=[startup], on_shutdown=[shutdown])


# ------------------------------------------------------------------------------------------- wrk
def ensure_wrk() -> str:
    """The path of wrk, installed with apt-get first if missing (as root); RuntimeError otherwise."""
    path = shutil.which("wrk")
    if path is None and hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=False, capture_output=True)
        path = shutil.which("wrk")
    if path is None:
        raise RuntimeError("this benchmark needs wrk: install it with `sudo apt-get install -y wrk`")
    return path


_LUA = """
local keys = {keys}
local n = 0
request = function()
  n = n + 1
  local headers = {{["Content-Type"] = "application/json"}}
  if #keys > 0 then headers["Authorization"] = "Bearer " .. keys[(n % #keys) + 1] end
  local body = nil
  if "{method}" == "POST" then body = string.format('{{"probability": %.3f}}', 0.001 + (n % 997) / 1000) end
  return wrk.format("{method}", "{path}", headers, body)
end
"""


def _lua_script(method: str, path: str, keys: list[str], directory: str) -> str:
    script = Path(directory) / f"wrk-{uuid.uuid4().hex[:8]}.lua"
    lua_keys = "{" + ", ".join(json.dumps(k) for k in keys) + "}"
    script.write_text(_LUA.format(keys=lua_keys, method=method, path=path))
    return str(script)


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def parse_wrk(output: str) -> dict[str, float]:
    """req/s, p50 and p99 (ms) and the count of non-2xx/3xx replies and socket errors from `wrk --latency`."""
    def latency(percent: str) -> float:
        match = re.search(rf"^\s*{percent}%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.MULTILINE)
        return round(float(match.group(1)) * _UNITS_MS[match.group(2)], 2) if match else float("nan")

    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    socket_errors = re.search(r"Socket errors: (.*)", output)
    errors = int(bad.group(1)) if bad else 0
    if socket_errors:
        errors += sum(int(n) for n in re.findall(r"\d+", socket_errors.group(1)))
    return {"req_per_s": float(rate.group(1)) if rate else 0.0, "p50_ms": latency("50"), "p99_ms": latency("99"),
            "errors": errors}


def run_wrk(wrk: str, base: str, method: str, path: str, keys: list[str], seconds: float, tmp: str) -> dict[str, float]:
    """One wrk run of `seconds` against `base + path`, rotating the bearer `keys` (none: no header)."""
    script = _lua_script(method, path, keys, tmp)
    command = [wrk, f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{max(1, round(seconds))}s", "--latency", "--timeout", "10s",
               "-s", script, base + path]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=True)
    return parse_wrk(done.stdout)


# --------------------------------------------------------------------------------- project set-up
def _admin_key(env: dict[str, str]) -> str:
    done = subprocess.run([sys.executable, "-m", "api.cli", "admin", "create-participant", "--handle", "benchadmin",
                           "--display-name", "Bench", "--role", "admin"], env=env, check=True, capture_output=True,
                          text=True)
    return done.stdout.strip().splitlines()[-1]


def _setup_project(base: str, admin_key: str, n_keys: int = CONNECTIONS) -> tuple[str, list[str]]:
    """An open binary question and `n_keys` participants' keys on the running project server."""
    with httpx.Client(base_url=base, timeout=60) as http:
        closes = (datetime.now(timezone.utc) + timedelta(days=1)).isoformat()
        reply = http.post("/v1/questions", headers={"Authorization": f"Bearer {admin_key}"},
                          json={"kind": "binary", "title": "bench", "closes_at": closes})
        reply.raise_for_status()
        keys = [http.post("/v1/participants", json={"handle": f"bench{w}-{uuid.uuid4().hex[:6]}",
                                                    "display_name": "b"}).json()["api_key"] for w in range(n_keys)]
    return reply.json()["id"], keys


def project_env(url: str, schema: str | None) -> dict[str, str]:
    """The project server's environment for database `url` (and PostgreSQL `schema`)."""
    # The writes limit far above what a run sends (the middleware still runs and counts): at the
    # default 120/minute per key, 32 keys would be refused (429) after a few seconds of load.
    env = {**os.environ, "TURNSIGNAL_DATABASE_URL": url, "TURNSIGNAL_DB_POOL_SIZE": str(CONNECTIONS),
           "TURNSIGNAL_REVEAL_POLL_SECONDS": "2", "TURNSIGNAL_RATE_WRITES": "10000000/minute"}
    if schema:
        env["TURNSIGNAL_DATABASE_SCHEMA"] = schema
    return env


@contextmanager
def pg_schema(url: str) -> Iterator[str]:
    """A fresh PostgreSQL schema on `url`, dropped on exit."""
    schema = f"ts_bench_{uuid.uuid4().hex[:10]}"
    asyncio.run(execute_admin_sql(url, f'CREATE SCHEMA "{schema}"'))
    try:
        yield schema
    finally:
        asyncio.run(execute_admin_sql(url, f'DROP SCHEMA "{schema}" CASCADE'))


@contextmanager
def database_servers(database: str, tmp: str, pg_url: str | None) -> Iterator[dict[str, Any]]:
    """The project server and its bare reference on one database, with the project's question and keys."""
    bare_args = ("uvicorn", f"benchmarks.bench_api_load:bare_{'sqlite' if database == 'sqlite' else 'postgres'}_app",
                 "--factory", "--log-level", "warning", "--no-access-log")
    with ExitStack() as stack:
        if database == "sqlite":
            url, schema = f"sqlite+aiosqlite:///{tmp}/project.db", None
            bare_env = {**os.environ, "BARE_SQLITE_PATH": f"{tmp}/bare.db"}
        else:
            assert pg_url is not None
            url = pg_url
            schema = stack.enter_context(pg_schema(pg_url))
            bare_env = {**os.environ, "BARE_PG_DSN": pg_url.replace("postgresql+asyncpg://", "postgresql://"),
                        "BARE_PG_SCHEMA": schema}
        env = project_env(url, schema)
        admin_key = _admin_key(env)
        project = stack.enter_context(running_server(env, args=SERVE))
        bare = stack.enter_context(running_server(bare_env, args=bare_args))
        question_id, keys = _setup_project(project, admin_key)
        yield {"project": project, "bare": bare, "question_id": question_id, "keys": keys, "admin_key": admin_key,
               "url": url, "schema": schema}


# ------------------------------------------------------------------------------------------ cases
CASES = (("submit prediction (POST)", "POST", "/v1/questions/{}/predictions"),
         ("read question (GET)", "GET", "/v1/questions/{}"))


def _median(runs: list[dict[str, float]], key: str) -> float:
    return round(statistics.median(r[key] for r in runs), 2)


def _api_rows(database: str, servers: dict[str, Any], wrk: str, seconds: float, rounds: int, tmp: str) -> list[dict[str, Any]]:
    """Alternate project and bare runs of each case `rounds` times; one row per case (medians)."""
    rows = []
    for case, method, template in CASES:
        project_runs: list[dict[str, float]] = []
        bare_runs: list[dict[str, float]] = []
        # Not measured: each server opens its pooled connections, prepares its statements and fills
        # its key cache first (the bare PostgreSQL pool connects at start-up, the project's on demand).
        run_wrk(wrk, servers["bare"], method, template.format(BARE_QUESTION_ID), [], WARMUP_S, tmp)
        run_wrk(wrk, servers["project"], method, template.format(servers["question_id"]), servers["keys"], WARMUP_S, tmp)
        for _ in range(rounds):
            bare_runs.append(run_wrk(wrk, servers["bare"], method, template.format(BARE_QUESTION_ID), [], seconds, tmp))
            project_runs.append(run_wrk(wrk, servers["project"], method, template.format(servers["question_id"]),
                                        servers["keys"], seconds, tmp))
        project_rate, bare_rate = _median(project_runs, "req_per_s"), _median(bare_runs, "req_per_s")
        rows.append({"case": case, "database": database, "req_per_s": project_rate, "bare_req_per_s": bare_rate,
                     "ratio": round(project_rate / bare_rate, 2) if bare_rate else None,
                     "p50_ms": _median(project_runs, "p50_ms"), "p99_ms": _median(project_runs, "p99_ms"),
                     "bare_p50_ms": _median(bare_runs, "p50_ms"), "bare_p99_ms": _median(bare_runs, "p99_ms"),
                     "errors": int(sum(r["errors"] for r in project_runs + bare_runs))})
    return rows


def _leaderboard_row(database: str, servers: dict[str, Any], n_scores: int) -> dict[str, Any]:
    """Seed `n_scores` current scores, then time one GET /v1/leaderboard (after one warm-up call)."""
    from benchmarks.leaderboard_seed import seed_scores

    asyncio.run(seed_scores(servers["url"], servers["schema"], n_scores))
    headers = {"Authorization": f"Bearer {servers['admin_key']}"}
    with httpx.Client(base_url=servers["project"], timeout=120, headers=headers) as http:
        http.get("/v1/leaderboard").raise_for_status()
        start = time.perf_counter()
        reply = http.get("/v1/leaderboard")
        seconds = time.perf_counter() - start
        reply.raise_for_status()
    board = reply.json()
    return {"case": f"leaderboard, {n_scores:,} resolved predictions", "database": database,
            "seconds": round(seconds, 3), "errors": 0, "participants": len(board["ranked"]) + len(board["unranked"])}


def run(quick: bool = False, postgres: bool = True) -> list[dict[str, Any]]:
    """Every row: both cases and the leaderboard on SQLite, then on PostgreSQL when configured (and
    `postgres`). `quick`: 1-second runs, one round, 2,000 scores (a smoke test, not a measurement)."""
    wrk = ensure_wrk()
    seconds, rounds, n_scores = (1, 1, 2_000) if quick else (DURATION_S, ROUNDS, LEADERBOARD_SCORES)
    pg_url = os.environ.get("TURNSIGNAL_TEST_POSTGRES_URL") if postgres else None
    rows: list[dict[str, Any]] = []
    for database in ("sqlite", "postgresql") if pg_url else ("sqlite",):
        with tempfile.TemporaryDirectory() as tmp, database_servers(database, tmp, pg_url) as servers:
            rows += _api_rows(database, servers, wrk, seconds, rounds, tmp)
            rows.append(_leaderboard_row(database, servers, n_scores))
    return rows


def main(argv: list[str]) -> int:
    """`--quick`: 1-second runs, one round, a 2,000-score leaderboard; prints the rows as JSON lines."""
    for row in run(quick="--quick" in argv):
        print(json.dumps(row))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
