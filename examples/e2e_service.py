"""End-to-end tour of the REST service through the typed client (issue 3 acceptance).

Registers an admin and two researchers, opens a numeric question linked to a sealed large-model
result, has both researchers submit blinded forecasts, shows neither can see the other's forecast
nor the sealed result, reveals, and prints scores, leaderboard and calibration.

    .venv/bin/python examples/e2e_service.py                       # starts its own server (temp SQLite)
    .venv/bin/python examples/e2e_service.py --base-url http://127.0.0.1:8000 --admin-key ts_...
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

from api.client import ApiError, Client
from api.devserver import running_server


@contextmanager
def own_server() -> Iterator[tuple[str, str]]:
    """Start `turnsignal serve` on a temp SQLite file and a free port; yield (base_url, admin_key)."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "TURNSIGNAL_DATABASE_URL": f"sqlite+aiosqlite:///{tmp}/turnsignal.db"}
        admin_key = subprocess.run(
            [sys.executable, "-m", "api.cli", "admin", "create-participant", "--handle", "admin",
             "--display-name", "Admin", "--role", "admin"], env=env, check=True, capture_output=True, text=True,
        ).stdout.strip().splitlines()[-1]
        with running_server(env) as base_url:
            yield base_url, admin_key


def run(base_url: str, admin_key: str) -> None:
    tag = uuid.uuid4().hex[:6]
    admin = Client(base_url, admin_key)
    anon = Client(base_url)
    keys = {}
    for handle in (f"ada_{tag}", f"grace_{tag}"):
        keys[handle] = anon.register(handle, handle.split("_")[0].title())["api_key"]
    ada, grace = (Client(base_url, k) for k in keys.values())
    ada_id, grace_id = ada.me()["id"], grace.me()["id"]
    print(f"registered researchers {list(keys)} (keys shown once, stored hashed)")

    closes = (datetime.now(timezone.utc) + timedelta(days=7)).isoformat()
    link = {"family": "olmo", "model": f"olmo-70b-{tag}", "task": "hellaswag", "metric": "len_norm"}
    question = admin.create_question({
        "kind": "numeric", "title": "HellaSwag len_norm accuracy of the 70B model", "closes_at": closes,
        "lower": 0.25, "upper": 1.0, "unit": "accuracy", "scale": "linear", "link": link,
        "resolution_criteria": "the len_norm value in the lab's revealed eval table"})
    print(f"question {question['id']}: {question['title']} [{question['state']}]")

    ada.submit_prediction(question["id"], {"quantiles": {"levels": [0.05, 0.5, 0.95], "values": [0.70, 0.80, 0.88]}},
                          idempotency_key="ada-1")
    grace.submit_prediction(question["id"], {"quantiles": {"levels": [0.05, 0.25, 0.5, 0.75, 0.95],
                                                          "values": [0.45, 0.55, 0.62, 0.68, 0.75]}})
    rows = [{**link, "params": 7e10, "tokens": 4e12, "value": 0.83, "chance": 0.25}]
    sealed = admin.upload_result("lab-release", (datetime.now(timezone.utc) + timedelta(days=30)).isoformat(), rows)
    print(f"admin uploaded sealed result {sealed['id']} (reveal_at in 30 days)")

    print(f"ada sees {len(ada.predictions(question['id']))} prediction(s) (only her own); "
          f"question shows n_forecasters={ada.question(question['id'])['n_forecasters']}")
    for who, client in (("ada", ada), ("grace", grace)):
        try:
            client.result(sealed["id"])
        except ApiError as error:
            print(f"{who} asking for the sealed result -> {error.status} {error.message!r}")
    try:
        grace.request("GET", f"/v1/predictions/{ada.predictions(question['id'])[0]['id']}")
    except ApiError as error:
        print(f"grace asking for ada's prediction -> {error.status} {error.message!r}")

    # Issue 4: a bet between the two researchers and an LMSR market, both settled by the reveal.
    micro = 1_000_000  # amounts are integer micro-credits; shares integer micro-shares
    bet = ada.request("POST", "/v1/bets", headers={"Idempotency-Key": f"bet-{tag}"}, json={
        "question_id": question["id"], "proposition": {"kind": "compare", "op": ">=", "threshold": 0.75},
        "side": "for", "stake": 30 * micro, "taker_stake": 10 * micro, "expires_at": closes, "counterparty_id": grace_id})
    grace.request("POST", f"/v1/bets/{bet['id']}/accept", headers={"Idempotency-Key": f"accept-{tag}"})
    print("ada bets 30 credits against grace's 10 that the value is >= 0.75 (3:1); grace accepts (stakes escrowed)")
    market = admin.request("POST", "/v1/markets", headers={"Idempotency-Key": f"market-{tag}"},
                           json={"question_id": question["id"], "b": 50 * micro})
    edges = market["bucket_edges"]
    bucket = lambda v: max(i for i in range(len(edges) - 1) if edges[i] <= v or i == 0)  # noqa: E731
    for who, client, guess in (("ada", ada, 0.80), ("grace", grace, 0.62)):
        trade = client.request("POST", f"/v1/markets/{market['id']}/trades", headers={"Idempotency-Key": f"t-{who}-{tag}"},
                               json={"side": "buy", "outcome": bucket(guess), "shares": 20 * micro, "max_cost": 20 * micro})
        print(f"{who} buys 20 shares of bucket {market['outcome_labels'][bucket(guess)]} for {trade['amount'] / micro:.6f} "
              f"credits; price now {trade['prices_after'][bucket(guess)]:.3f}")

    report = admin.reveal(sealed["id"])
    print(f"revealed: resolved questions {report['resolved_question_ids']}, outcome "
          f"{ada.question(question['id'])['outcome']}")
    for score in admin.scores(question["id"]):
        who = "ada" if score["participant_id"] == ada_id else "grace"
        print(f"  {who:5s} CRPS={score['crps']:.4f} log(bucket)={score['log_score']:.3f} PIT={score['pit']:.3f} "
              f"in 90% interval={score['covered_90']}")
    board = admin.leaderboard("crps", min_questions=1)
    print("leaderboard (normalized CRPS, lower is better):")
    for row in board["ranked"]:
        print(f"  #{row['rank']} {row['handle']:14s} {row['score']:.4f} over {row['n_questions']} question(s)")
    for who, pid in (("ada", ada_id), ("grace", grace_id)):
        numeric = admin.calibration(pid)["numeric"]
        print(f"calibration {who}: coverage50={numeric['coverage_50']} coverage90={numeric['coverage_90']} "
              f"PIT histogram={numeric['pit_histogram']}")
    settled = ada.request("GET", f"/v1/bets/{bet['id']}")
    print(f"bet settled by the reveal: status={settled['status']} offerer (ada) won={settled['offerer_won']}")
    after = admin.request("GET", f"/v1/markets/{market['id']}")
    print(f"market settled: winning bucket {after['outcome_labels'][after['winning_outcome']]} pays 1 credit per share")
    for who, client in (("ada", ada), ("grace", grace), ("admin", admin)):
        print(f"  final balance {who:5s} {client.request('GET', '/v1/me/balance')['credits']} credits")
    audit = admin.request("GET", "/v1/admin/ledger/audit")
    print(f"ledger audit: ok={audit['ok']} violations={audit['violations']} transactions={audit['transactions']} "
          f"minted={audit['minted'] / micro:.6f} held={audit['held'] / micro:.6f} credits")
    for client in (admin, anon, ada, grace):
        client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-url", help="use a running server instead of starting one")
    parser.add_argument("--admin-key", default=os.environ.get("TURNSIGNAL_ADMIN_KEY"), help="admin API key for --base-url")
    args = parser.parse_args()
    if args.base_url:
        if not args.admin_key:
            parser.error("--base-url needs --admin-key (or TURNSIGNAL_ADMIN_KEY)")
        run(args.base_url, args.admin_key)
        return
    with own_server() as (base_url, admin_key):
        run(base_url, admin_key)


if __name__ == "__main__":
    main()
