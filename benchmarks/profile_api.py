"""Where a request's time goes: py-spy samples the project server while wrk loads one hot path.

    python -m benchmarks.profile_api sqlite post      # or: postgresql get, ... (PostgreSQL needs
                                                     #     TURNSIGNAL_TEST_POSTGRES_URL)

Starts the same servers as `bench_api_load` (the bare one idles), records the project server's
main thread and its driver threads for `SECONDS` with `py-spy record --format raw` while wrk runs,
and prints the share of samples whose stack passes through each part of the request path
(inclusive: a sample in SQLAlchemy called from auth counts for both) and the leaf library of each
sample (exclusive). The raw stacks are kept in `--out` (default a temporary file) for a flame graph
(e.g. speedscope). py-spy is a dev dependency; sampling another process needs root or ptrace rights.
"""
from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from pathlib import Path

import httpx

from benchmarks.bench_api_load import CASES, database_servers, ensure_wrk, run_wrk

SECONDS = 10

# (label, regex over one frame "function (file:line)"): the parts of the request path, inclusive
PARTS = (
    ("auth (api/auth.py)", r"\(api/auth\.py"),
    ("dependency injection (Litestar resolve_dependencies)", r"resolve_dependencies"),
    ("session open/close (provide_db_session)", r"provide_db_session"),
    ("rate-limit checks (Litestar RateLimitMiddleware's own work)",
     r"RateLimitMiddleware\.(should_check_request|retrieve_cached_history|set_cached_history|cache_key_from_request|create_response_headers)"),
    ("idempotency / transaction (api/idempotency.py, api/db)", r"\(api/idempotency\.py|transaction \(api/db"),
    ("service (api/domain/*/service.py)", r"\(api/domain/\w+/service\.py"),
    ("one-statement paths (api/db/direct.py)", r"\(api/db/direct\.py"),
    ("SQL statement execution (SQLAlchemy execute)", r"execute \(sqlalchemy/"),
    ("commit", r"commit \(sqlalchemy/"),
    ("response encoding (to_out, pydantic dump, msgspec)", r"to_out|model_dump|msgspec|serialization|encode_json"),
    ("response sending (ASGIResponse, socket write)", r"ASGIResponse\.__call__"),
    ("request body parsing / validation", r"parse_values_from_connection_kwargs|_extract_data|decode_json|validate_python"),
    ("access log line (logging)", r"Logger\.info|\(logging/"),
    ("HTTP parsing (h11)", r"\(h11/"),
)
# (label, regex over a path): the library a sample's leaf frame is in, exclusive, first match wins
LIBRARIES = (
    ("project (api/)", r"\(api/"), ("SQLAlchemy", r"\(sqlalchemy/"), ("aiosqlite / sqlite3", r"aiosqlite|sqlite3"),
    ("asyncpg", r"asyncpg"), ("pydantic", r"pydantic"), ("msgspec", r"msgspec"), ("litestar", r"\(litestar/"),
    ("uvicorn / h11", r"\(uvicorn/|\(h11/"), ("logging", r"\(logging/"), ("asyncio", r"\(asyncio/"),
    ("threading / queue", r"\(threading\.py|\(queue\.py"),
)


def parse_raw(text: str) -> list[tuple[list[str], int]]:
    """(frames root-first, count) per line of py-spy's raw (collapsed) output."""
    samples = []
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            samples.append((stack.split(";"), int(count)))
    return samples


# A sample whose leaf frame is one of these waits in C (py-spy's idle detection misses them when
# sampling without pausing the process): the event loop's epoll, an idle thread-pool worker, an
# aiosqlite thread waiting for its next call. They are counted apart, not as work.
IDLE = re.compile(r"^select \(selectors\.py|^_worker \(concurrent/futures/thread\.py:81\)|"
                  r"^_connection_worker_thread \(aiosqlite/core\.py:59\)")


def breakdown(samples: list[tuple[list[str], int]]) -> tuple[int, float, dict[str, float], dict[str, float]]:
    """(busy samples, idle share, inclusive share per part, exclusive share per leaf library); shares
    in % of the busy samples (those not waiting: `IDLE`)."""
    idle = sum(count for frames, count in samples if IDLE.search(frames[-1]))
    samples = [(frames, count) for frames, count in samples if not IDLE.search(frames[-1])]
    total = sum(count for _, count in samples) or 1
    parts: Counter[str] = Counter()
    libraries: Counter[str] = Counter()
    for frames, count in samples:
        for label, pattern in PARTS:
            if any(re.search(pattern, frame) for frame in frames):
                parts[label] += count
        leaf = frames[-1]
        libraries[next((label for label, pattern in LIBRARIES if re.search(pattern, leaf)), "other (C, stdlib)")] += count
    share = lambda counter: {k: round(100.0 * v / total, 1) for k, v in counter.most_common()}  # noqa: E731
    return total, round(100.0 * idle / ((total + idle) or 1), 1), share(parts), share(libraries)


def _server_pid(port: int) -> int:
    """The pid of the process listening on 127.0.0.1:`port` (the uvicorn server under `serve`)."""
    done = subprocess.run(["ss", "-ltnpH", f"sport = :{port}"], capture_output=True, text=True, check=True)
    return int(re.search(r"pid=(\d+)", done.stdout).group(1))  # type: ignore[union-attr]


def profile(database: str, case: str, out: Path, pg_url: str | None) -> str:
    """Record the project server under wrk load of `case` ("post" or "get"); the report as text."""
    wrk = ensure_wrk()
    _, method, template = CASES[0 if case == "post" else 1]
    with tempfile.TemporaryDirectory() as tmp, database_servers(database, tmp, pg_url) as servers:
        path = template.format(servers["question_id"])
        run_wrk(wrk, servers["project"], method, path, servers["keys"], 2, tmp)  # warm up
        pid = _server_pid(httpx.URL(servers["project"]).port or 80)
        load = threading.Thread(target=run_wrk, args=(wrk, servers["project"], method, path, servers["keys"],
                                                      SECONDS + 2, tmp))
        load.start()
        subprocess.run([str(Path(sys.executable).with_name("py-spy")), "record", "--pid", str(pid), "--duration", str(SECONDS), "--format", "raw",
                       "--rate", "200", "--output", str(out), "--nonblocking"], check=True, capture_output=True)
        load.join()
    total, idle, parts, libraries = breakdown(parse_raw(out.read_text()))
    lines = [f"{database} {method} {template}: {total} busy samples, {idle}% more idle (raw stacks: {out})",
             "part of the request path (inclusive % of busy samples):"]
    lines += [f"  {share:5.1f}  {label}" for label, share in parts.items()]
    lines += ["leaf library (exclusive %):"] + [f"  {share:5.1f}  {label}" for label, share in libraries.items()]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    import os

    database, case = (argv + ["sqlite", "post"])[:2] if len(argv) < 2 else argv[:2]
    out = Path(argv[2]) if len(argv) > 2 else Path(tempfile.mkstemp(suffix=".txt", prefix=f"pyspy-{database}-{case}-")[1])
    print(profile(database, case, out, os.environ.get("TURNSIGNAL_TEST_POSTGRES_URL")))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
