"""GET /v1/participants/{id}/plots/reliability.{svg,png}: the participant's handle in the title, ECE
and Brier from its resolved forecasts in the legend, the PIT panel only once numeric forecasts are
scored; 404 for an unknown participant or plot name."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

pytestmark = pytest.mark.anyio

LINK = {"family": "olmo", "model": "olmo-70b", "task": "arc_easy", "metric": "acc"}
ROWS = [{**LINK, "params": 7.0e10, "tokens": 2.0e12, "value": 0.81, "chance": 0.25}]


def later(**delta: float) -> str:
    return (datetime.now(timezone.utc) + timedelta(**delta)).isoformat()


def svg_texts(content: bytes) -> str:
    """Every text matplotlib drew (one XML comment per text), joined."""
    return " | ".join(t.strip() for t in re.findall(r"<!--(.*?)-->", content.decode(), flags=re.S))


async def _plot(client, participant_id: str, headers: dict[str, str]) -> str:
    reply = await client.get(f"/v1/participants/{participant_id}/plots/reliability.svg", headers=headers)
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("image/svg+xml"), reply.text
    return svg_texts(reply.content)


async def test_reliability_plot_names_the_handle_and_shows_the_scores(client, make_participant) -> None:
    admin, alice = await make_participant("root", role="admin"), await make_participant("alice")
    before = await _plot(client, alice.id, admin.headers)
    assert "@alice: 0 binary, 0 numeric forecasts resolved" in before and "PIT" not in before and "ECE" not in before
    binary = (await client.post("/v1/questions", headers=admin.headers, json={
        "kind": "binary", "title": "70B >= 0.8 on arc_easy?", "closes_at": later(days=1),
        "link": {**LINK, "threshold": 0.8}})).json()
    numeric = (await client.post("/v1/questions", headers=admin.headers, json={
        "kind": "numeric", "title": "acc of 70B on arc_easy", "closes_at": later(days=1), "lower": 0.0, "upper": 1.0,
        "unit": "accuracy", "link": LINK})).json()
    await client.post(f"/v1/questions/{binary['id']}/predictions", headers=alice.headers, json={"probability": 0.9})
    await client.post(f"/v1/questions/{numeric['id']}/predictions", headers=alice.headers,
                      json={"quantiles": {"levels": [0.05, 0.5, 0.95], "values": [0.6, 0.8, 0.9]}})
    result = (await client.post("/v1/results", headers=admin.headers,
                                json={"source": "lab-x", "reveal_at": later(days=30), "rows": ROWS})).json()
    assert (await client.post(f"/v1/results/{result['id']}/reveal", headers=admin.headers)).status_code == 200
    after = await _plot(client, alice.id, admin.headers)
    # one binary forecast of 0.9 that came true: ECE 0.1, Brier 0.01
    assert "@alice: 1 binary, 1 numeric forecasts resolved" in after and alice.id not in after
    assert "ECE = 0.100" in after and "Brier = 0.010" in after and "n=1" in after, after
    assert "PIT histogram of numeric forecasts" in after and "uniform (calibrated)" in after
    png = await client.get(f"/v1/participants/{alice.id}/plots/calibration.png", headers=admin.headers)
    assert png.status_code == 200 and png.content[:8] == b"\x89PNG\r\n\x1a\n"


async def test_unknown_participant_or_plot_is_404(client, make_participant) -> None:
    alice = await make_participant("alice")
    assert (await client.get("/v1/participants/nobody/plots/reliability.png", headers=alice.headers)).status_code == 404
    assert (await client.get(f"/v1/participants/{alice.id}/plots/other.png", headers=alice.headers)).status_code == 404
