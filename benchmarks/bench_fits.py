"""Fits through the service (issue 5): time from POST /v1/fits to done for the OLMo ladder slice
(30 runs x 13 tasks, len_norm/acc, 2 chains x 1000 draws) on a real `turnsignal serve --with-worker`
process on SQLite, then emergence and predict endpoint latency on the finished fit (p50/p99)."""
from __future__ import annotations

import statistics
import time
from pathlib import Path

import httpx

TITLE = "Fits via the service: POST /v1/fits -> done (OLMo slice), emergence/predict latency"
DATA = Path(__file__).resolve().parents[1] / "examples" / "data" / "olmo_ladder.csv"


def _latency(client: httpx.Client, path: str, params: dict, n: int = 50) -> tuple[float, float]:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        client.get(path, params=params).raise_for_status()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[int(0.99 * (len(times) - 1))]


def run() -> list[dict]:
    import importlib.util

    spec = importlib.util.spec_from_file_location("e2e_model", Path(__file__).resolve().parents[1] / "examples" / "e2e_model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    own_server = module.own_server

    rows: list[dict] = []
    with own_server() as (base_url, admin_key):
        client = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {admin_key}"}, timeout=600)
        dataset = client.post("/v1/datasets", files={"file": ("olmo.csv", DATA.read_bytes())},
                              data={"name": "olmo", "visibility": "public"}).json()
        start = time.perf_counter()
        fit = client.post("/v1/fits", json={"dataset_id": dataset["id"], "success_metric": ["len_norm", "acc"]}).json()
        accepted = time.perf_counter() - start
        while fit["state"] not in ("done", "failed", "cancelled"):
            time.sleep(0.5)
            fit = client.get(f"/v1/fits/{fit['id']}").json()
        total = time.perf_counter() - start
        d = fit.get("diagnostics") or {}
        rows.append({"measure": "POST /v1/fits reply", "value": f"{accepted * 1000:.0f} ms", "note": "job queued"})
        rows.append({"measure": "POST -> done (OLMo slice)", "value": f"{total:.1f} s",
                     "note": f"{fit['state']}; compile {d.get('compile_seconds', 0):.1f} s, sampling {d.get('sampling_seconds', 0):.1f} s"})
        if fit["state"] == "done":
            first = time.perf_counter()
            client.get(f"/v1/fits/{fit['id']}/predict", params={"task": "arc_easy", "params": 1.3e9, "tokens": 1e11}).raise_for_status()
            rows.append({"measure": "first predict (loads NetCDF)", "value": f"{(time.perf_counter() - first) * 1000:.0f} ms", "note": "cold"})
            for name, path, params in (
                ("emergence (stored table)", f"/v1/fits/{fit['id']}/emergence", {}),
                ("emergence success_at=0.6", f"/v1/fits/{fit['id']}/emergence", {"success_at": 0.6}),
                ("predict one target", f"/v1/fits/{fit['id']}/predict", {"task": "arc_easy", "params": 1.3e9, "tokens": 1e11}),
            ):
                p50, p99 = _latency(client, path, params)
                rows.append({"measure": name, "value": f"p50 {p50:.1f} ms", "note": f"p99 {p99:.1f} ms"})
    return rows
