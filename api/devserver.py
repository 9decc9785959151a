"""A real server in a subprocess, for examples, benchmarks and tests: `running_server()` starts
`python -m api.cli serve` (or any `python -m <module> ...` that takes `--host/--port`, e.g. uvicorn)
on a free 127.0.0.1 port, waits until it answers HTTP, yields its base URL and stops it on exit
(`server_process()` does the same and also yields the process, for a caller that signals it).

    with running_server(env={**os.environ, "TURNSIGNAL_DATABASE_URL": url}) as base_url:
        httpx.get(base_url + "/v1/me")                       # 401: it answers

Abuse limits are off in the server unless `env` sets them (`TURNSIGNAL_RATE_*`,
`TURNSIGNAL_DAILY_GRANT_CAP`): benchmarks and end-to-end runs send far more than a person would.

Standard library and httpx only (never imported by the app itself, and imports nothing of models/).
If the process exits before answering, or does not answer within `timeout`, a RuntimeError says so
with the end of its stderr.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
ABUSE_LIMITS_OFF = {**{f"TURNSIGNAL_RATE_{rule}": "off" for rule in ("REGISTRATION", "WRITES", "PLOTS")},
                    "TURNSIGNAL_DAILY_GRANT_CAP": str(10**9)}
SERVE = ("api.cli", "serve")
"""`turnsignal serve` (add "--with-worker" for a fit worker too)."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now (the OS picks it)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _tail(stream, limit: int = 2000) -> str:
    if stream is None:
        return "(its stderr was not captured)"
    stream.seek(0)
    text = stream.read().decode(errors="replace").strip()
    return text[-limit:] or "(nothing on stderr)"


def wait_until_answering(url: str, process: subprocess.Popen, timeout: float, stderr=None) -> None:
    """Poll `url` until the server sends any HTTP response; RuntimeError if `process` exits first or
    `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with code {process.returncode} before answering: {_tail(stderr)}")
        try:
            httpx.get(url, timeout=2.0)
            return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not answer {url} within {timeout:g} s: {_tail(stderr)}") from None
            time.sleep(0.05)


@contextmanager
def server_process(env: Mapping[str, str] | None = None, port: int | None = None, *, args: Sequence[str] = SERVE,
                   host: str = "127.0.0.1", ready_path: str = "/schema/openapi.json", timeout: float = 120.0,
                   quiet: bool = True, cwd: str | Path = ROOT,
                   stop_timeout: float = 20.0) -> Iterator[tuple[subprocess.Popen, str]]:
    """Run `python -m <args> --host <host> --port <port>` (default `turnsignal serve`) with `env`
    (default: this process's environment) and yield (its process, its base URL) once it answers
    `ready_path`: for a caller that signals the server itself; others use `running_server`.

    `port`: default a free one. `timeout`: seconds to wait for the first answer (start-up includes
    migrations; it is slow on a loaded 2-core machine). `quiet`: capture the server's stderr (shown
    only in a start-up error) instead of letting it through. On exit the server gets SIGTERM, then
    SIGKILL after `stop_timeout` seconds; it runs in its own session, and whatever it started that is
    still running then (e.g. the fit worker of `serve --with-worker`) gets SIGTERM too."""
    port = free_port(host) if port is None else port
    command = [sys.executable, "-m", *args, "--host", host, "--port", str(port)]
    with tempfile.TemporaryFile() if quiet else _no_file() as stderr:
        process = subprocess.Popen(command, env={**ABUSE_LIMITS_OFF, **(os.environ if env is None else env)}, cwd=cwd,
                                   stdout=subprocess.DEVNULL if quiet else None, stderr=stderr,
                                   start_new_session=True)
        try:
            base_url = f"http://{host}:{port}"
            wait_until_answering(base_url + ready_path, process, timeout, stderr)
            yield process, base_url
        finally:
            stop(process, stop_timeout)


@contextmanager
def running_server(env: Mapping[str, str] | None = None, port: int | None = None, **options: Any) -> Iterator[str]:
    """`server_process(env, port, **options)` yielding only the base URL: the usual way to start a server."""
    with server_process(env, port, **options) as (_, base_url):
        yield base_url


def stop(process: subprocess.Popen, timeout: float = 20.0) -> None:
    """SIGTERM `process` (SIGKILL after `timeout` s), then SIGTERM what is left of its process group
    (it leads one when started with `start_new_session=True`)."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if hasattr(os, "killpg"):
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):  # nothing left (the usual case)
            pass


@contextmanager
def _no_file() -> Iterator[None]:
    yield None
