"""A fit's page in a real Chromium, on a real (tiny) fit run by `serve --with-worker`: the state,
the emergence table, a per-task emergence chart that loads, and the predict form's quantiles."""
from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.api.test_datasets import csv_bytes, small_slice
from tests.web.conftest import Site, serve_site, shot

pytestmark = pytest.mark.slow
TASKS = ["arc_easy", "piqa"]


@pytest.fixture(scope="module")
def fit_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with serve_site(tmp_path_factory.mktemp("webfit"), with_worker=True) as shared:
        yield shared


def _done_fit(site: Site) -> str:
    content = csv_bytes(small_slice(TASKS, max_params=8e8))
    reply = httpx.post(site.base + "/v1/datasets", files={"file": ("t.csv", content)}, timeout=60,
                       data={"name": "olmo slice", "visibility": "public"}, headers=site.alice.headers)
    assert reply.status_code == 201, reply.text
    fit = site.api(site.alice, "POST", "/v1/fits", {
        "dataset_id": reply.json()["id"], "tasks": TASKS, "smooth_metric": "bpb", "success_metric": ["len_norm", "acc"],
        "draws": 150, "tune": 150, "chains": 2, "seed": 1})
    deadline = time.monotonic() + 600
    while (state := site.api(site.alice, "GET", f"/v1/fits/{fit['id']}")["state"]) not in {"done", "failed"}:
        assert time.monotonic() < deadline, "the fit did not finish in 10 minutes"
        time.sleep(1)
    assert state == "done"
    return fit["id"]


def test_a_fit_page_shows_the_emergence_table_a_chart_and_predictions(fit_site: Site) -> None:
    fit_id = _done_fit(fit_site)
    with fit_site.browse(fit_site.bob) as page:
        page.goto("/fits")
        page.click(f"a:has-text('{fit_id}')")
        assert "done" in page.inner_text("#fit-state")
        assert {"arc_easy", "piqa"} <= set(page.inner_text("#emergence").split())
        chart = page.locator("img[alt^='Emergence of arc_easy']")
        chart.scroll_into_view_if_needed()
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=chart.element_handle(), timeout=90_000)
        page.fill("#params", "7e9")
        page.fill("#tokens", "2e12")
        page.click("button:has-text('Predict')")
        assert "5%:" in page.inner_text("#predicted")
        page.wait_for_function("() => [...document.images].every(img => img.complete && img.naturalWidth > 0)",
                               timeout=90_000)
        shot(page, "fit")
