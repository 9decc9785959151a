"""Browser tests: one real server (`api.devserver.running_server`, SQLite file) and one headless
Debian Chromium (Playwright, `executable_path`, nothing downloaded) per test module.

`site` gives the base URL, an admin and two participants (created in the database the server
migrated), an `api(actor, method, path, json)` helper for setting up through /v1, and a `browse(actor)`
context manager yielding a signed-in page (signed in through the sign-in page once per actor; later
contexts start with that session's cookies). Screenshots go to tests/web/artifacts/ (not committed).
"""
from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.devserver import SERVE, running_server
from api.settings import Settings
from tests.api.conftest import Actor, create_actor, db

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).parent / "artifacts"


@dataclass
class Site:
    base: str
    admin: Actor
    alice: Actor
    bob: Actor
    browser: Any
    signed_in: dict[str, Any] = field(default_factory=dict)  # handle -> cookies of a signed-in context

    def api(self, actor: Actor, method: str, path: str, json: Any = None, idem: bool = False) -> Any:
        """Call /v1 as `actor`; asserts a 2xx reply and returns its JSON."""
        headers = dict(actor.headers) | ({"Idempotency-Key": uuid.uuid4().hex} if idem else {})
        reply = httpx.request(method, self.base + path, json=json, headers=headers, timeout=30)
        assert reply.status_code < 300, reply.text
        return reply.json()

    @contextmanager
    def browse(self, actor: Actor | None, width: int = 1000) -> Iterator[Any]:
        """A fresh browser context (own cookies) signed in as `actor` (None: signed out)."""
        state = self.signed_in.get(actor.handle) if actor is not None else None
        context = self.browser.new_context(viewport={"width": width, "height": 900}, base_url=self.base,
                                           storage_state=state)
        page = context.new_page()
        page.set_default_timeout(15_000)
        try:
            if actor is not None and state is None:  # sign in through the page once per actor
                page.goto("/signin")
                page.fill("#api_key", actor.key)
                page.click("button:has-text('Sign in')")
                page.wait_for_url("**/questions")
                self.signed_in[actor.handle] = context.storage_state()
            yield page
        finally:
            context.close()


def shot(page: Any, name: str) -> None:
    """Keep a full-page PNG of `page` as a test artefact."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def _people(settings: Settings) -> tuple[Actor, Actor, Actor]:
    async with db(settings) as session:
        return (await create_actor(session, "root", role="admin"), await create_actor(session, "alice"),
                await create_actor(session, "bob"))


@contextmanager
def serve_site(tmp: Path, with_worker: bool = False) -> Iterator[Site]:
    """A server (with a fit worker if asked) on a fresh SQLite file, its three actors and a browser."""
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (make install installs it)")
    from playwright.sync_api import sync_playwright

    url = f"sqlite+aiosqlite:///{tmp / 'ts.db'}"
    env = {**os.environ, "TURNSIGNAL_DATABASE_URL": url, "TURNSIGNAL_DATA_DIR": str(tmp / "data"),
           "TURNSIGNAL_SESSION_SECRET": "web-tests", "TURNSIGNAL_LEADERBOARD_MIN_QUESTIONS": "1",
           "TURNSIGNAL_REVEAL_POLL_SECONDS": "0.5", "TURNSIGNAL_ACCESS_LOG": "false"}
    args = (*SERVE, "--with-worker") if with_worker else SERVE
    with running_server(env, args=args) as base:
        admin, alice, bob = asyncio.run(_people(Settings(database_url=url, run_migrations=False)))
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            try:
                yield Site(base, admin, alice, bob, browser)
            finally:
                browser.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """One server and browser shared by a test module."""
    with serve_site(tmp_path_factory.mktemp("web")) as shared:
        yield shared
