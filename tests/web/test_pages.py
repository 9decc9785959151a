"""The web pages in a real Chromium: sign-in and cookies, CSRF, a binary forecast, blinding before
and after resolution (with the community aggregate), the numeric form's error, a bet between two
participants, a market trade, and an admin revealing a sealed result."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import httpx

from tests.web.conftest import Site, shot


def _question(site: Site, title: str, kind: str = "binary", **extra) -> dict:
    closes = (datetime.now(timezone.utc) + timedelta(days=7)).isoformat()
    body = {"kind": kind, "title": title, "closes_at": closes, "description": f"About {title}."} | extra
    return site.api(site.admin, "POST", "/v1/questions", body)


def test_sign_in_sets_httponly_samesite_cookies_and_a_wrong_key_is_refused(site: Site) -> None:
    with site.browse(None, width=390) as page:  # a phone's width
        page.goto("/signin")
        page.fill("#api_key", "ts_wrong")
        page.click("button:has-text('Sign in')")
        assert page.locator(".error").inner_text() == "invalid API key"
        page.fill("#api_key", site.alice.key)
        page.click("button:has-text('Sign in')")
        page.wait_for_url("**/questions")
        assert "@alice" in page.inner_text("nav")
        cookies = {c["name"]: c for c in page.context.cookies()}
        for name in ("ts_session", "ts_csrf"):
            assert cookies[name]["httpOnly"] and cookies[name]["sameSite"] == "Lax"
        shot(page, "questions-phone")
        page.click("button:has-text('Sign out')")
        page.goto("/register")
        page.fill("#handle", "carol")
        page.fill("#display_name", "Carol")
        page.click("button:has-text('Register')")
        key = page.inner_text("#new-key")
        assert key.startswith("ts_") and httpx.get(site.base + "/v1/me", headers={"Authorization": f"Bearer {key}"}).json()["handle"] == "carol"
        page.goto("/register")
        page.fill("#handle", "carol")
        page.fill("#display_name", "Carol again")
        page.click("button:has-text('Register')")
        assert page.inner_text("#handle-error") == "handle 'carol' is already taken"
        assert page.input_value("#display_name") == "Carol again"  # nothing typed is lost
        page.click("button:has-text('Sign out')")
        page.goto("/questions")
        assert "/signin" in page.url


def test_a_form_post_without_the_csrf_token_is_refused(site: Site) -> None:
    with httpx.Client(base_url=site.base) as client:
        client.get("/signin")  # gets the ts_csrf cookie, but the post carries no token
        reply = client.post("/signin", data={"api_key": site.alice.key})
        assert reply.status_code == 403
        assert "ts_session" not in reply.cookies
        assert client.get("/v1/me", headers=site.alice.headers).status_code == 200  # /v1 needs no CSRF token


def test_binary_forecast_blinding_and_the_community_aggregate(site: Site) -> None:
    question = _question(site, "Will the 70B model pass 60% on ARC?")
    url = f"/questions/{question['id']}"
    with site.browse(site.alice) as page:
        page.goto(url)
        page.fill("#probability", "0.7")
        assert page.input_value("#probability-slider") == "0.7"  # the slider follows the number
        page.click("button:has-text('Submit forecast')")
        assert "Forecast saved (version 1)" in page.inner_text(".flash")
        assert "70.0%" in page.inner_text("#own-h + table")
        shot(page, "question-binary")
    with site.browse(site.bob) as page:
        page.goto(url)
        page.fill("#probability", "0.2")
        page.click("button:has-text('Submit forecast')")
        assert "@alice" not in page.content() and "70.0%" not in page.content()
        assert page.locator("#blinded").is_visible()
        reply = httpx.get(site.base + f"/v1/questions/{question['id']}/aggregate", headers=site.bob.headers)
        assert reply.status_code == 409  # the aggregate is blinded in the API too
        site.api(site.admin, "POST", f"/v1/questions/{question['id']}/resolution", {"outcome": 1})
        page.goto(url)
        everyone = page.inner_text("#everyone")
        assert "@alice" in everyone and "70.0%" in everyone and "@bob" in everyone
        assert "median 45.0%" in page.inner_text("#community")
        shot(page, "question-resolved")
    aggregate = site.api(site.bob, "GET", f"/v1/questions/{question['id']}/aggregate")
    assert aggregate["n_forecasts"] == 2 and abs(aggregate["median"] - 0.45) < 1e-9


def test_numeric_form_shows_the_apis_error_and_keeps_the_input(site: Site) -> None:
    question = _question(site, "Params of the first model above 50% on GSM8K (B)?", "numeric",
                         lower=1, upper=1000, unit="B", scale="log")
    with site.browse(site.alice) as page:
        page.goto(f"/questions/{question['id']}")
        assert page.locator("#cdf-preview polyline").count() == 1  # the live CDF preview is drawn
        page.fill("#q05", "30")
        page.fill("#q50", "20")
        page.fill("#q95", "400")
        page.click("button:has-text('Submit forecast')")
        assert page.inner_text("#quantiles-error") == "quantile values must be strictly increasing"
        assert [page.input_value(f"#q{n}") for n in ("05", "50", "95")] == ["30", "20", "400"]
        shot(page, "question-numeric-error")
        page.fill("#q50", "70")
        page.click("button:has-text('Submit forecast')")
        assert "Forecast saved" in page.inner_text(".flash")


def _balance(page) -> float:
    page.goto("/money")
    return float(page.inner_text("#balance").replace(",", ""))


def test_a_bet_offered_by_one_and_accepted_by_another_moves_both_balances(site: Site) -> None:
    question = _question(site, "Will the 7B model beat 40% on MMLU?")
    with site.browse(site.alice) as alice, site.browse(site.bob) as bob:
        alice_before, bob_before = _balance(alice), _balance(bob)
        alice.goto(f"/bets?question_id={question['id']}")
        alice.select_option("#claim", "yes")
        alice.fill("#stake", "30")
        alice.fill("#taker_stake", "10")
        alice.click("button:has-text('Offer')")
        assert "Bet offered" in alice.inner_text(".flash")
        assert "odds 3:1" in alice.inner_text("#bets")
        bob.goto("/bets")
        shot(bob, "bets")
        bob.click("button:has-text('Accept (risk 10')")
        assert "Bet accepted" in bob.inner_text(".flash")
        assert _balance(alice) == alice_before - 30 and _balance(bob) == bob_before - 10
        shot(bob, "money")


def test_a_market_trade_shows_its_quote_and_bound_then_moves_the_price(site: Site) -> None:
    question = _question(site, "Will a 1B model pass 30% on HellaSwag?")
    market = site.api(site.admin, "POST", "/v1/markets", {"question_id": question["id"], "b": 100_000_000}, idem=True)
    with site.browse(site.bob) as page:
        before = _balance(page)
        page.goto(f"/markets/{market['id']}")
        page.select_option("#side", "buy")
        page.select_option("#outcome", "1")
        page.fill("#shares", "10")
        page.click("button:has-text('Quote')")
        quote = float(page.inner_text("#quote strong"))
        assert 5 < quote < 10 and float(page.input_value("#bound")) == quote  # max_cost shown before confirming
        page.click("button:has-text('Confirm buy')")
        assert "Trade done: you paid" in page.inner_text(".flash")
        assert "50.0%" not in page.inner_text("#prices")
        shot(page, "market")
        assert abs(_balance(page) - (before - quote)) < 1e-6


def test_an_admin_reveals_a_sealed_result_and_the_question_resolves_with_scores(site: Site) -> None:
    link = {"family": "pythia", "model": "pythia-12b", "task": "lambada", "metric": "acc", "threshold": 0.6}
    question = _question(site, "Will pythia-12b reach 60% on LAMBADA?", link=link)
    with site.browse(site.alice) as page:
        page.goto(f"/questions/{question['id']}")
        assert "Sealed" in page.inner_text("#result-status")
        page.fill("#probability", "0.8")
        page.click("button:has-text('Submit forecast')")
    with site.browse(site.admin) as page:
        page.goto("/admin")
        page.fill("#source", "lab report")
        page.fill("#rows", "family,model,params,tokens,task,metric,value\npythia,pythia-12b,12e9,300e9,lambada,acc,0.71")
        page.fill("#chance", "0")
        page.click("button:has-text('Upload sealed')")
        assert "sealed" in page.inner_text(".flash")
        shot(page, "admin")
        page.click("#results button:has-text('Reveal now')")
        assert "1 question(s) resolved" in page.inner_text(".flash")
        page.goto(f"/questions/{question['id']}")
        assert "Revealed: outcome 1.0" in page.inner_text("#result-status")
        assert page.inner_text("#everyone tbody td:nth-child(4)") != ""
        page.goto("/admin")
        page.select_option("#participant_id", label="@bob")
        page.fill("#amount", "25")
        page.click("button:has-text('Grant')")
        assert "Credits granted" in page.inner_text(".flash")
        assert page.inner_text("#audit").startswith("All invariants hold")
        page.fill("#title", "Will a 30B model pass 80% on BoolQ?")
        page.click("button:has-text('Create question')")
        assert page.inner_text("h1") == "Will a 30B model pass 80% on BoolQ?" and "open" in page.inner_text(".meta")
        page.goto("/leaderboard?community=true")
        board = page.inner_text("#leaderboard")
        assert "@alice" in board and "Community aggregate" in board
        shot(page, "leaderboard")
        page.goto(f"/participants/{site.alice.id}")
        assert page.locator("img[alt^='Reliability diagram']").evaluate("img => img.naturalWidth") > 0
        shot(page, "participant")


def test_a_double_post_of_one_form_stores_one_forecast_and_errors_are_pages(site: Site) -> None:
    url = f"/questions/{_question(site, 'Will a 3B model pass 50% on PIQA?')['id']}"
    with site.browse(site.alice) as page:
        page.goto(url)
        page.fill("#probability", "0.4")
        statuses = page.evaluate("""async () => {
            const form = document.querySelector("form.forecast");
            const post = () => fetch(form.action, {method: "POST", body: new URLSearchParams(new FormData(form))});
            return (await Promise.all([post(), post()])).map(r => r.status); }""")
        assert statuses == [200, 200]  # both followed the redirect to the question
        page.goto(url)
        assert page.locator("#own-h + table tbody tr").count() == 1
        reply = page.goto("/questions/no-such-question")
        assert reply.status == 404 and page.inner_text(".error") == "question not found"


def test_commit_reveal_with_a_salt_made_in_the_browser(site: Site) -> None:
    question = _question(site, "Will a 13B model pass 70% on BoolQ?")
    with site.browse(site.bob) as page:
        page.on("dialog", lambda dialog: dialog.accept())
        page.goto(f"/questions/{question['id']}")
        page.click("summary:has-text('Commit now')")
        page.fill("#commit-probability", "0.35")
        with page.expect_download() as download:
            page.click("button:has-text('Commit')")
        salt = download.value.path().read_text().split("\n")[0].removeprefix("salt=")
        page.wait_for_selector(".flash")
        assert "Commitment stored" in page.inner_text(".flash") and len(salt) == 48
        page.fill("form.open-commit input[name=salt]", salt)
        page.fill("form.open-commit input[name=open_probability]", "0.35")
        page.click("form.open-commit button")
        assert "Commitment opened" in page.inner_text(".flash")
        assert "35.0%" in page.inner_text("#own-h + table")
