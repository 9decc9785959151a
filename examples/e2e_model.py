"""The model in the loop, end to end (issue 5 acceptance), against a real server + fit worker.

Uploads the OLMo-2 ladder slice (examples/data/olmo_ladder.csv) WITHOUT the held-back run
(default 1B-5xC: every training run is <= 760M parameters), asks for a fit (run by the worker
process, never in the request), polls it, prints the emergence scale of every task, opens a
question about the held-back run, lets the model bot forecast it, reveals the real result and
prints the leaderboard with the bot on it.

    .venv/bin/python examples/e2e_model.py                 # starts `turnsignal serve --with-worker` on a temp SQLite
    .venv/bin/python examples/e2e_model.py --base-url http://127.0.0.1:8000 --admin-key ts_...
"""
from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd

from api.client import Client
from api.devserver import SERVE, running_server

DATA = Path(__file__).resolve().parent / "data" / "olmo_ladder.csv"
FAMILY = "OLMo-2 (peteish) ladder"


@contextmanager
def own_server() -> Iterator[tuple[str, str]]:
    """`turnsignal serve --with-worker` on a temp SQLite file and data dir; yield (base_url, admin_key)."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "TURNSIGNAL_DATABASE_URL": f"sqlite+aiosqlite:///{tmp}/turnsignal.db",
               "TURNSIGNAL_DATA_DIR": f"{tmp}/data", "TURNSIGNAL_REVEAL_POLL_SECONDS": "1"}
        admin_key = subprocess.run(
            [sys.executable, "-m", "api.cli", "admin", "create-participant", "--handle", "admin",
             "--display-name", "Admin", "--role", "admin"], env=env, check=True, capture_output=True, text=True,
        ).stdout.strip()
        # the server's and worker's logs go to this terminal; stopping serve stops its worker too
        with running_server(env, args=(*SERVE, "--with-worker"), quiet=False) as base_url:
            yield base_url, admin_key


def run(base_url: str, admin_key: str, held_back: str, draws: int) -> None:
    admin = Client(base_url, admin_key)
    table = pd.read_csv(DATA)
    held = table[table["model"] == held_back]
    train = table[(table["params"] < held["params"].min()) & (table["model"] != held_back)]
    print(f"training on {train['model'].nunique()} runs (<= {train['params'].max() / 1e6:.0f}M params), "
          f"holding back {held_back} ({held['params'].iloc[0] / 1e9:.2f}B params)")
    dataset = admin.request("POST", "/v1/datasets", files={"file": ("olmo_train.csv", train.to_csv(index=False).encode())},
                            data={"name": "OLMo-2 ladder <= 760M", "visibility": "public"})
    print(f"dataset {dataset['id']} sha256 {dataset['sha256'][:12]}... ({dataset['n_rows']} rows, {len(dataset['tasks'])} tasks)")

    params, tokens = float(held["params"].iloc[0]), float(held["tokens"].iloc[0])
    task = "arc_easy"
    real = float(held[(held["task"] == task) & (held["metric"] == "len_norm")]["value"].iloc[0])
    now = datetime.now(timezone.utc)
    question = admin.create_question({
        "kind": "binary", "title": f"Will {held_back} reach 65% len_norm on {task}?",
        "opens_at": (now - timedelta(minutes=1)).isoformat(), "closes_at": (now + timedelta(days=7)).isoformat(),
        "link": {"family": FAMILY, "model": held_back, "task": task, "metric": "len_norm", "threshold": 0.65}})
    human = Client(base_url, Client(base_url).register("ada", "Ada (human)")["api_key"])
    human.submit_prediction(question["id"], {"probability": 0.5})
    sealed = admin.upload_result("held-back run", (now + timedelta(days=30)).isoformat(),
                                 held.astype(object).where(held.notna(), None).to_dict(orient="records"))

    started = time.perf_counter()
    fit = admin.request("POST", "/v1/fits", json={
        "dataset_id": dataset["id"], "smooth_metric": "bpb", "success_metric": ["len_norm", "acc"], "draws": draws,
        "tune": draws, "chains": 2, "seed": 0, "targets": [{"model": held_back, "params": params, "tokens": tokens}]})
    print(f"fit {fit['id']} {fit['state']} (returned in {time.perf_counter() - started:.2f} s)")
    while fit["state"] not in ("done", "failed", "cancelled"):
        time.sleep(2)
        fit = admin.request("GET", f"/v1/fits/{fit['id']}")
        print(f"  {fit['state']:8s} {fit['progress']:.2f} {fit['stage']}")
    if fit["state"] != "done":
        raise SystemExit(f"fit {fit['state']}: {fit['error']}")
    d = fit["diagnostics"]
    print(f"fit done in {time.perf_counter() - started:.1f} s: max R-hat {d['rhat_max']:.3f}, min ESS "
          f"{d['ess_bulk_min']:.0f}, {d['divergences']} divergences; warnings: {d['warnings'] or 'none'}")

    emergence = admin.request("GET", f"/v1/fits/{fit['id']}/emergence", params={"level": 0.5})
    print("\nemergence scale (success halfway from chance to 1), log10 training FLOPs:")
    print(f"  {'task':22s} {'target':>6s} {'median':>7s} {'q05':>7s} {'q95':>7s} {'P(beyond)':>9s}")
    fmt = lambda v: "   >rng" if v is None else f"{v:7.2f}"  # noqa: E731
    for row in emergence["rows"]:
        print(f"  {row['task']:22s} {row['target_success']:6.3f} {fmt(row['log10_flops_median'])} "
              f"{fmt(row['log10_flops_q05'])} {fmt(row['log10_flops_q95'])} {row['p_beyond_range']:9.2f}")
    pred = admin.request("GET", f"/v1/fits/{fit['id']}/predict", params={"task": task, "params": params, "tokens": tokens})[0]
    print(f"\npredicted {task} len_norm of {held_back}: median {pred['median']:.3f} (90%: {pred['q05']:.3f}-{pred['q95']:.3f})")

    for _ in range(30):  # the bot forecasts within a worker poll
        if admin.question(question["id"]).get("n_forecasters", 0) >= 2:
            break
        time.sleep(1)
    print(f"forecasters on the question: {admin.question(question['id']).get('n_forecasters')}")
    report = admin.reveal(sealed["id"])
    print(f"revealed: real {task} len_norm of {held_back} = {real:.3f}; resolved {len(report['resolved_question_ids'])} question(s)")
    for score in admin.scores(question["id"]):
        print(f"  {score['participant_id'][:8]}  p={score['probability']:.3f}  log score {score['log_score']:.3f}  brier {score['brier']:.3f}")
    board = admin.leaderboard("log_score", min_questions=1)
    print("\nleaderboard (mean log score):")
    for row in board["ranked"] + board["unranked"]:
        print(f"  {row['handle']:20s} {'bot ' if row['is_bot'] else 'human'} {row['score']:8.3f}  ({row['n_questions']} question(s))")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url")
    parser.add_argument("--admin-key")
    parser.add_argument("--held-back", default="1B-5xC")
    parser.add_argument("--draws", type=int, default=500)
    args = parser.parse_args()
    if args.base_url:
        run(args.base_url, args.admin_key, args.held_back, args.draws)
        return
    with own_server() as (base_url, admin_key):
        run(base_url, admin_key, args.held_back, args.draws)


if __name__ == "__main__":
    main()
