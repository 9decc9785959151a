"""The service's logging: `logging_config(settings)` and the one-line-per-request access log.

Libraries (Alembic's plugin set-up and migrations, procrastinate, SQLAlchemy) log at WARNING and
above only, so start-up is quiet; the service's own loggers (`turnsignal.*`) log at
`settings.log_level` (TURNSIGNAL_LOG_LEVEL; DEBUG also lets the libraries' debug logs through).
With `settings.access_log` (TURNSIGNAL_ACCESS_LOG) every HTTP request logs one line on the
`turnsignal.access` logger when its response has been sent:

    GET /v1/me 200 3.1 ms

(method, path without the query string, status, milliseconds from the request's arrival to the
last body chunk). Requests that match no route (404, 405) are logged too: `wrap_access_log` wraps
the app's whole ASGI handler, not a route's middleware stack.
"""
from __future__ import annotations

import logging
import time
from typing import Any

from litestar.logging.config import LoggingConfig
from litestar.types import ASGIApp, Message, Receive, Scope, Send

ACCESS_LOGGER = "turnsignal.access"
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def check_level(level: str) -> str:
    """`level` upper-cased if it is a logging level name; ValueError naming the choices otherwise."""
    name = level.strip().upper()
    if name not in LEVELS:
        raise ValueError(f"log level must be one of {', '.join(LEVELS)}, not {level!r}")
    return name


def logging_config(log_level: str, access_log: bool) -> LoggingConfig:
    """Litestar's logging set-up: root (libraries) at WARNING, `turnsignal.*` at `log_level`, the
    access logger at INFO when `access_log` (else WARNING, so it is silent). Records go to stderr:
    through Litestar's queue listener thread, except the access log's, written directly."""
    level = check_level(log_level)
    return LoggingConfig(
        formatters={"standard": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
        root={"handlers": ["queue_listener"], "level": "DEBUG" if level == "DEBUG" else "WARNING"},
        loggers={
            "turnsignal": {"level": level, "propagate": True},
            # straight to the stderr handler, in the request's thread: one line per request through
            # the queue would wake the listener thread (a thread switch) for every request
            ACCESS_LOGGER: {"level": "INFO" if access_log else "WARNING", "handlers": ["console"], "propagate": False},
            "litestar": {"level": level, "handlers": ["queue_listener"], "propagate": False},
        },
    )


def wrap_access_log(app: ASGIApp) -> ASGIApp:
    """`app` with one INFO line on `turnsignal.access` per HTTP request (see the module docstring)."""
    log = logging.getLogger(ACCESS_LOGGER)

    async def logged(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        start = time.perf_counter()
        status: list[Any] = [500]  # what the client sees if the app fails before starting a response

        async def send_and_note(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await app(scope, receive, send_and_note)
        finally:
            if log.isEnabledFor(logging.INFO):
                elapsed_ms = (time.perf_counter() - start) * 1000.0
                # `log.info` without its search of the stack for the caller's file and line (the
                # line's format does not show them): the same record, handled the same way
                log.handle(log.makeRecord(ACCESS_LOGGER, logging.INFO, __file__, 0, "%s %s %d %.1f ms",
                                          (scope["method"], scope["path"], status[0], elapsed_ms), None))

    return logged
