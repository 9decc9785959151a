"""REST service benchmarks (issue 3), against a real uvicorn server process on 127.0.0.1.

Rows: a bare Litestar endpoint that only validates a body, loaded by an httpx client at 32
concurrent clients (bounded by a request count and a time limit, so it always stops by itself);
and vectorised scoring + leaderboard recomputation for 100,000 resolved predictions. The project's
own hot paths (submit a prediction, read a question) against bare references, loaded by wrk, are
`benchmarks/bench_api_load.py`.
"""
from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import numpy as np
from pydantic import BaseModel

from api.devserver import running_server

TITLE = "REST service: a bare validating endpoint at 32 concurrent clients (httpx); scoring 100k predictions"
CONCURRENCY = 32
REQUESTS = 2_000
TIME_LIMIT_S = 10.0


class BareBody(BaseModel):
    """The reference body: one validated float."""

    probability: float


def bare_app() -> Any:
    """A Litestar app whose one endpoint only validates a prediction-like body (the reference)."""
    from litestar import Litestar, post

    @post("/validate")
    async def validate(data: BareBody) -> dict[str, float]:
        return {"probability": data.probability}

    return Litestar([validate])


async def _load(base: str, make_request: Any, n_requests: int = REQUESTS) -> dict[str, float]:
    """Run `n_requests` (or until the time limit) over CONCURRENCY workers; latency stats in ms."""
    latencies: list[float] = []
    errors = 0
    counter = iter(range(n_requests))
    deadline = time.perf_counter() + TIME_LIMIT_S
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as http:
        async def worker(worker_id: int) -> None:
            nonlocal errors
            for i in counter:
                if time.perf_counter() > deadline:
                    return
                start = time.perf_counter()
                reply = await make_request(http, worker_id, i)
                latencies.append((time.perf_counter() - start) * 1000)
                errors += reply.status_code >= 300
        start = time.perf_counter()
        await asyncio.gather(*(worker(w) for w in range(CONCURRENCY)))
        wall = time.perf_counter() - start
    lat = np.array(latencies)
    return {"requests": len(lat), "errors": errors, "req_per_s": round(len(lat) / wall, 1),
            "p50_ms": round(float(np.percentile(lat, 50)), 2), "p99_ms": round(float(np.percentile(lat, 99)), 2)}


def _bare_row() -> dict[str, Any]:
    args = ("uvicorn", "benchmarks.bench_api:bare_app", "--factory", "--log-level", "warning")
    with running_server(args=args) as base:
        stats = asyncio.run(_load(base, lambda http, w, i: http.post("/validate", json={"probability": 0.5})))
    return {"case": "bare Litestar: validate a body", "database": "-", **stats}


async def execute_admin_sql(url: str, sql: str) -> None:
    """Run one statement (e.g. CREATE/DROP SCHEMA) on PostgreSQL outside the app's pool."""
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _scoring_row(n: int = 100_000, n_questions: int = 1_000) -> dict[str, Any]:
    """Score n predictions (half binary, half numeric: quantile sets of 3 and 5 quantiles and grid
    CDFs, as stored payload dicts) and rank 500 participants. The inputs (probabilities, payload
    dicts, outcomes) are generated before the clock starts; knot building, scoring and ranking are
    timed."""
    import pandas as pd

    from api.domain.scoring.service import NumericSpec, score_binary, score_numeric_payloads
    from forecast.scoring import grid_edges  # noqa: F401  (warm import)

    rng = np.random.default_rng(0)
    half = n // 2
    participants = rng.integers(0, 500, n)
    questions = rng.integers(0, n_questions, n)
    p = rng.uniform(0.001, 0.999, half)
    binary_outcomes = (rng.uniform(size=half) < p).astype(float)
    specs = [NumericSpec(0.0, 1.0, "linear"), NumericSpec(1.0, 1e4, "log")]
    medians = rng.uniform(0.2, 0.8, half)
    payloads: list[dict[str, Any]] = []
    numeric_specs: list[NumericSpec] = []
    for i, m in enumerate(medians):
        spec = specs[i % 2]
        form = i % 5
        if form < 3:
            levels, values = [0.05, 0.5, 0.95], [m - 0.15, m, m + 0.15]
        elif form == 3:
            levels, values = [0.05, 0.25, 0.5, 0.75, 0.95], [m - 0.15, m - 0.05, m, m + 0.05, m + 0.15]
        else:
            grid = np.linspace(0.0, 1.0, 21)
            payloads.append({"cdf": np.clip((grid - m + 0.3) / 0.6, 0.0, 1.0).tolist()})
            numeric_specs.append(spec)
            continue
        if spec.scale == "log":
            values = [10 ** (4 * v) for v in values]
        payloads.append({"quantiles": {"levels": levels, "values": values}})
        numeric_specs.append(spec)
    numeric_outcomes = np.array([10 ** (4 * u) if s.scale == "log" else u
                                 for s, u in zip(numeric_specs, rng.uniform(0.05, 0.95, half))])

    start = time.perf_counter()
    binary = score_binary(p, binary_outcomes)
    numeric = score_numeric_payloads(numeric_outcomes, numeric_specs, payloads)
    frame = pd.DataFrame({"participant": participants, "question": questions,
                          "log_score": np.concatenate([binary["log_score"], numeric["log_score"]])})
    board = frame.groupby("participant")["log_score"].agg(["mean", "count"]).sort_values("mean", ascending=False)
    board["rank"] = np.arange(1, len(board) + 1)
    seconds = time.perf_counter() - start
    return {"case": f"score + leaderboard, {n:,} resolved predictions", "database": "- (in memory)",
            "requests": n, "errors": 0, "req_per_s": round(n / seconds), "p50_ms": None, "p99_ms": None,
            "seconds": round(seconds, 3)}


def run() -> list[dict[str, Any]]:
    return [_bare_row(), _scoring_row()]
