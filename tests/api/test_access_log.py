"""Logging of the service (api.access_log): start-up (migrations included) logs nothing below WARNING
from the libraries; each request logs exactly one `turnsignal.access` line with its method, path,
status and milliseconds, also for paths no route matches; TURNSIGNAL_ACCESS_LOG=false turns it off;
TURNSIGNAL_LOG_LEVEL is checked."""
from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

import pytest
from litestar.testing import AsyncTestClient

from api.access_log import ACCESS_LOGGER
from api.app import create_app
from api.settings import Settings

pytestmark = pytest.mark.anyio

LINE = re.compile(r"^(?P<method>[A-Z]+) (?P<path>/\S*) (?P<status>\d{3}) (?P<ms>\d+\.\d) ms$")


class Records(logging.Handler):
    """Keeps every record it is handed."""

    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def recording(logger: str = "") -> Iterator[list[logging.LogRecord]]:
    """The records reaching `logger`'s handlers (root by default) while the block runs. Attach after
    `create_app`: the app's logging set-up replaces the root logger's handlers."""
    handler = Records()
    target = logging.getLogger(logger)
    target.addHandler(handler)
    try:
        yield handler.records
    finally:
        target.removeHandler(handler)


async def test_start_up_logs_nothing_below_warning(settings: Settings) -> None:
    app = create_app(settings)
    with recording() as records:
        async with AsyncTestClient(app=app) as client:  # runs the migrations
            await client.get("/v1/me")
    chatter = [f"{r.name}: {r.getMessage()}" for r in records if r.levelno < logging.WARNING and r.name != ACCESS_LOGGER]
    assert not chatter, chatter


@pytest.mark.parametrize("method, path, status", [("GET", "/v1/me", 401), ("POST", "/v1/participants", 201),
                                                  ("GET", "/no/such/route", 404), ("DELETE", "/schema/openapi.json", 405)])
async def test_one_request_logs_exactly_one_line(client, method: str, path: str, status: int) -> None:
    body = {"handle": "alice", "display_name": "Alice"} if method == "POST" else None
    with recording(ACCESS_LOGGER) as records:
        reply = await client.request(method, path, json=body, params={"q": "not logged"})
    assert reply.status_code == status, reply.text
    assert len(records) == 1, [r.getMessage() for r in records]
    record = records[0]
    assert record.levelno == logging.INFO and record.name == ACCESS_LOGGER
    fields = LINE.match(record.getMessage())
    assert fields, record.getMessage()
    assert (fields["method"], fields["path"], int(fields["status"])) == (method, path, status)
    assert 0.0 <= float(fields["ms"]) < 60_000


async def test_access_log_can_be_turned_off(settings: Settings, monkeypatch) -> None:
    monkeypatch.setenv("TURNSIGNAL_ACCESS_LOG", "false")
    monkeypatch.setenv("TURNSIGNAL_LOG_LEVEL", "warning")
    from_env = Settings.from_env()
    assert (from_env.access_log, from_env.log_level) == (False, "warning")
    app = create_app(replace(settings, access_log=False, log_level="warning"))
    with recording(ACCESS_LOGGER) as records:
        async with AsyncTestClient(app=app) as client:
            assert (await client.get("/v1/me")).status_code == 401
    assert records == []


async def test_an_unknown_log_level_fails_start_up(settings: Settings) -> None:
    with pytest.raises(ValueError, match="log level must be one of DEBUG, INFO"):
        create_app(replace(settings, log_level="chatty"))
