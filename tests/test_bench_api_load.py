"""benchmarks.bench_api_load: wrk's report is read right, and the quick mode runs end to end on
SQLite (real servers, real wrk; skipped where wrk is not installed; about 25 s, so under `make
test-slow`). No timing is asserted."""
from __future__ import annotations

import shutil

import pytest

from benchmarks import bench_api_load

WRK_OUTPUT = """Running 1s test @ http://127.0.0.1:8000/v1/questions/x
  2 threads and 32 connections
  Latency Distribution
     50%    2.50ms
     75%    3.10ms
     90%    4.00ms
     99%    1.20s
  1000 requests in 1.00s, 200.00KB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:   1000.50
"""


def test_parse_wrk_reads_rate_latencies_and_errors() -> None:
    assert bench_api_load.parse_wrk(WRK_OUTPUT) == {"req_per_s": 1000.5, "p50_ms": 2.5, "p99_ms": 1200.0, "errors": 7}


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (apt-get install wrk)")
def test_quick_mode_gives_every_sqlite_row_without_errors() -> None:
    rows = bench_api_load.run(quick=True, postgres=False)
    assert [(r["case"], r["database"]) for r in rows] == [
        ("submit prediction (POST)", "sqlite"), ("read question (GET)", "sqlite"),
        ("leaderboard, 2,000 resolved predictions", "sqlite")]
    assert all(r["errors"] == 0 for r in rows), rows
    assert all(r["req_per_s"] > 0 and r["bare_req_per_s"] > 0 for r in rows[:2]), rows
    assert rows[2]["participants"] > 0
